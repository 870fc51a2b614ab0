package defender

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config configures a Defender. The zero value is not usable; start from
// DefaultConfig. Keys are named as they appear under `defender.` in the
// configuration file.
type Config struct {
	// Enabled turns the defender on (the default). When off, nothing is ever
	// banned or locked.
	Enabled bool `yaml:"enabled" koanf:"enabled"`
	// Window is the period over which failures are counted, both per
	// address and per account. It starts at the first failure.
	Window time.Duration `yaml:"window" koanf:"window"`
	// MaxFailures is the number of failed logins from one address within
	// Window that bans it.
	MaxFailures int `yaml:"max_failures" koanf:"max_failures"`
	// Ban is the length of an address's first ban. Each further ban of the
	// same address doubles it, up to MaxBan. An address whose last ban ended
	// more than MaxBan ago starts again at Ban.
	Ban time.Duration `yaml:"ban" koanf:"ban"`
	// MaxBan caps the length of a ban.
	MaxBan time.Duration `yaml:"max_ban" koanf:"max_ban"`
	// HoneypotUsers are user names no customer has; one login attempt with
	// any of them (compared case-insensitively) bans the address at once.
	// An account that really has such a name still logs in, but its first
	// failure bans the address.
	HoneypotUsers []string `yaml:"honeypot_users" koanf:"honeypot_users"`
	// AccountMaxFailures is the number of failed logins to one account name
	// within Window, from any number of addresses, that locks the account.
	AccountMaxFailures int `yaml:"account_max_failures" koanf:"account_max_failures"`
	// AccountLockout is the length of an account's first lockout; it doubles
	// with every repeat, up to AccountMaxLockout. Keep it short: an attacker
	// can lock a customer out on purpose.
	AccountLockout time.Duration `yaml:"account_lockout" koanf:"account_lockout"`
	// AccountMaxLockout caps the length of a lockout.
	AccountMaxLockout time.Duration `yaml:"account_max_lockout" koanf:"account_max_lockout"`
	// AllowList holds addresses and CIDR blocks that are never banned, such
	// as monitoring probes or a customer's fixed egress. Their failures still
	// count towards account lockouts.
	AllowList []string `yaml:"allow_list" koanf:"allow_list"`
	// IPv6Prefix is the prefix length under which IPv6 addresses are tracked
	// and banned together: 64 treats a whole /64 (what one host usually
	// holds) as one address; 128 tracks single addresses.
	IPv6Prefix int `yaml:"ipv6_prefix" koanf:"ipv6_prefix"`
	// MaxTracked caps the number of addresses, and separately of account
	// names, held in memory; beyond it the least recently seen are forgotten.
	MaxTracked int `yaml:"max_tracked" koanf:"max_tracked"`
}

// DefaultHoneypotUsers are the user names scanners try first and no Sluice
// customer is expected to have.
var DefaultHoneypotUsers = []string{
	"root", "admin", "administrator", "ubuntu", "debian", "centos", "ec2-user",
	"test", "testuser", "oracle", "pi", "postgres", "mysql", "user", "guest",
	"ftp", "ftpuser", "git", "nagios", "hadoop",
}

// DefaultConfig returns the built-in defaults: 10 failures in 5 minutes ban
// an address for 15 minutes (doubling up to 24 hours), 20 failures in 5
// minutes lock an account for 5 minutes (doubling up to 1 hour).
func DefaultConfig() Config {
	return Config{
		Enabled:            true,
		Window:             5 * time.Minute,
		MaxFailures:        10,
		Ban:                15 * time.Minute,
		MaxBan:             24 * time.Hour,
		HoneypotUsers:      append([]string(nil), DefaultHoneypotUsers...),
		AccountMaxFailures: 20,
		AccountLockout:     5 * time.Minute,
		AccountMaxLockout:  time.Hour,
		AllowList:          []string{},
		IPv6Prefix:         64,
		MaxTracked:         100_000,
	}
}

// Validate reports the first invalid field of c, naming its configuration
// key (for example "defender.window: ...").
func (c Config) Validate() error {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"defender.window", c.Window},
		{"defender.ban", c.Ban},
		{"defender.max_ban", c.MaxBan},
		{"defender.account_lockout", c.AccountLockout},
		{"defender.account_max_lockout", c.AccountMaxLockout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s: must be a positive duration, got %s", d.key, d.v)
		}
	}
	if c.MaxBan < c.Ban {
		return fmt.Errorf("defender.max_ban: must be at least defender.ban (%s), got %s", c.Ban, c.MaxBan)
	}
	if c.AccountMaxLockout < c.AccountLockout {
		return fmt.Errorf("defender.account_max_lockout: must be at least defender.account_lockout (%s), got %s",
			c.AccountLockout, c.AccountMaxLockout)
	}
	if c.MaxFailures < 1 {
		return fmt.Errorf("defender.max_failures: must be at least 1, got %d", c.MaxFailures)
	}
	if c.AccountMaxFailures < 1 {
		return fmt.Errorf("defender.account_max_failures: must be at least 1, got %d", c.AccountMaxFailures)
	}
	if c.IPv6Prefix < 32 || c.IPv6Prefix > 128 {
		return fmt.Errorf("defender.ipv6_prefix: must be between 32 and 128, got %d", c.IPv6Prefix)
	}
	if c.MaxTracked < 1 {
		return fmt.Errorf("defender.max_tracked: must be at least 1, got %d", c.MaxTracked)
	}
	for i, u := range c.HoneypotUsers {
		if strings.TrimSpace(u) == "" {
			return fmt.Errorf("defender.honeypot_users[%d]: must not be empty", i)
		}
	}
	if _, err := parseAllowList(c.AllowList); err != nil {
		return err
	}
	return nil
}

// parseAllowList parses addresses ("192.0.2.7") and CIDR blocks
// ("192.0.2.0/24") into prefixes.
func parseAllowList(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("defender.allow_list[%d]: %q is neither an address nor a CIDR block", i, s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
