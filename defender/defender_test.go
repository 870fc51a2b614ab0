package defender

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// clock is a manual clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestDefender(t *testing.T, mutate func(*Config)) (*Defender, *clock) {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	d, err := New(cfg, nil)
	require.NoError(t, err)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	d.now = c.now
	return d, c
}

// step is one action on a defender followed by checks.
type step struct {
	advance time.Duration // move the clock first
	do      string        // fail | fails (n times) | success | lift | unlock | none
	n       int           // for fails; each from a distinct address when spread
	spread  bool          // fails from n distinct addresses (10.9.x.y)
	addr    string
	user    string
	result  bool // return value of fail, lift, unlock
	banned  bool // Banned(addr) afterwards
	locked  bool // AccountLocked(user) afterwards, when user is set
}

func TestDefenderRules(t *testing.T) {
	const a, b = "192.0.2.1", "198.51.100.7"
	tests := []struct {
		name   string
		mutate func(*Config)
		steps  []step
	}{
		{
			name: "failures below the limit do not ban",
			steps: []step{
				{do: "fails", n: 9, addr: a, user: "acme"},
			},
		},
		{
			name: "the limit bans for the ban period",
			steps: []step{
				{do: "fails", n: 9, addr: a, user: "acme"},
				{do: "fail", addr: a, user: "acme", result: true, banned: true},
				{do: "none", addr: b},
				{advance: 14 * time.Minute, do: "none", addr: a, banned: true},
				{advance: time.Minute, do: "none", addr: a},
			},
		},
		{
			name: "failures older than the window are forgotten",
			steps: []step{
				{do: "fails", n: 9, addr: a, user: "acme"},
				{advance: 5 * time.Minute, do: "fail", addr: a, user: "acme"},
				{do: "fails", n: 8, addr: a, user: "acme"},
				{do: "fail", addr: a, user: "acme", result: true, banned: true},
			},
		},
		{
			name: "a ban doubles on repeat up to the maximum",
			mutate: func(c *Config) {
				c.MaxBan = 40 * time.Minute
			},
			steps: []step{
				{do: "fails", n: 10, addr: a, banned: true},
				{advance: 15 * time.Minute, do: "none", addr: a},
				{do: "fails", n: 10, addr: a, banned: true},
				{advance: 29 * time.Minute, do: "none", addr: a, banned: true},
				{advance: time.Minute, do: "none", addr: a},
				{do: "fails", n: 10, addr: a, banned: true},
				{advance: 39 * time.Minute, do: "none", addr: a, banned: true},
				{advance: time.Minute, do: "none", addr: a},
			},
		},
		{
			name: "a long quiet period resets the growth",
			mutate: func(c *Config) {
				c.MaxBan = time.Hour
			},
			steps: []step{
				{do: "fails", n: 10, addr: a, banned: true},
				{advance: 15 * time.Minute, do: "fails", n: 10, addr: a, banned: true},
				{advance: 30*time.Minute + time.Hour + time.Second, do: "fails", n: 10, addr: a, banned: true},
				{advance: 15 * time.Minute, do: "none", addr: a},
			},
		},
		{
			name: "a honeypot user name bans at once, in any case",
			steps: []step{
				{do: "fail", addr: a, user: "ROOT", result: true, banned: true},
				{do: "fail", addr: b, user: "ubuntu", result: true, banned: true},
				{do: "fail", addr: "203.0.113.9", user: "acme"},
			},
		},
		{
			name:   "configured honeypot names replace the defaults",
			mutate: func(c *Config) { c.HoneypotUsers = []string{"trap"} },
			steps: []step{
				{do: "fail", addr: a, user: "root"},
				{do: "fail", addr: a, user: "trap", result: true, banned: true},
			},
		},
		{
			name:   "an allow-listed address is never banned but its failures lock accounts",
			mutate: func(c *Config) { c.AllowList = []string{"192.0.2.0/24", "198.51.100.7"} },
			steps: []step{
				{do: "fail", addr: a, user: "root"},
				{do: "fails", n: 19, addr: b, user: "acme"},
				{do: "fail", addr: b, user: "acme", locked: true},
			},
		},
		{
			name: "failures spread over many addresses lock the account",
			steps: []step{
				{do: "fails", n: 19, spread: true, user: "acme"},
				{do: "none", user: "acme"},
				{do: "fail", addr: a, user: "acme", locked: true},
				{do: "none", user: "other"},
				{advance: 5*time.Minute - time.Second, do: "none", user: "acme", locked: true},
				{advance: time.Second, do: "none", user: "acme"},
			},
		},
		{
			name: "a lockout doubles on repeat and while the attack goes on",
			steps: []step{
				{do: "fails", n: 20, spread: true, user: "acme", locked: true},
				{advance: time.Minute, do: "fails", n: 20, spread: true, user: "acme", locked: true},
				// The second lockout runs 10 minutes from its start.
				{advance: 10*time.Minute - time.Second, do: "none", user: "acme", locked: true},
				{advance: time.Second, do: "none", user: "acme"},
			},
		},
		{
			name: "a success forgives the address's failures but not the account's",
			mutate: func(c *Config) {
				c.AccountMaxFailures = 12
			},
			steps: []step{
				{do: "fails", n: 9, addr: a, user: "acme"},
				{do: "success", addr: a, user: "acme"},
				{do: "fail", addr: a, user: "acme"},
				{do: "fails", n: 2, addr: b, user: "acme", locked: true},
			},
		},
		{
			name: "lift ends a ban and its growth",
			steps: []step{
				{do: "lift", addr: a},
				{do: "fails", n: 10, addr: a, banned: true},
				{do: "lift", addr: a, result: true},
				{do: "lift", addr: a},
				{do: "fails", n: 10, addr: a, banned: true},
				{advance: 15 * time.Minute, do: "none", addr: a},
			},
		},
		{
			name: "unlock ends a lockout",
			steps: []step{
				{do: "unlock", user: "acme"},
				{do: "fails", n: 20, spread: true, user: "acme", locked: true},
				{do: "unlock", user: "acme", result: true},
				{do: "unlock", user: "acme"},
			},
		},
		{
			name: "IPv6 addresses are banned by /64",
			steps: []step{
				{do: "fails", n: 5, addr: "2001:db8:1:2::1"},
				{do: "fails", n: 5, addr: "2001:db8:1:2:ffff::9", banned: true},
				{do: "none", addr: "2001:db8:1:2::77", banned: true},
				{do: "none", addr: "2001:db8:1:3::1"},
				{do: "lift", addr: "2001:db8:1:2::abc", result: true},
			},
		},
		{
			name:   "ipv6_prefix 128 tracks single IPv6 addresses",
			mutate: func(c *Config) { c.IPv6Prefix = 128 },
			steps: []step{
				{do: "fails", n: 5, addr: "2001:db8::1"},
				{do: "fails", n: 5, addr: "2001:db8::2"},
				{do: "fails", n: 5, addr: "2001:db8::1", banned: true},
			},
		},
		{
			name: "an IPv4-mapped address is the IPv4 address",
			steps: []step{
				{do: "fails", n: 10, addr: "::ffff:192.0.2.1", banned: true},
				{do: "none", addr: a, banned: true},
			},
		},
		{
			name:   "disabled, nothing is ever banned or locked",
			mutate: func(c *Config) { c.Enabled = false },
			steps: []step{
				{do: "fails", n: 30, addr: a, user: "acme"},
				{do: "fail", addr: a, user: "root"},
			},
		},
		{
			name:   "the least recently seen addresses are forgotten beyond the cap",
			mutate: func(c *Config) { c.MaxTracked = 2 },
			steps: []step{
				{do: "fails", n: 10, addr: a, banned: true},
				{do: "fail", addr: b},
				{do: "fail", addr: "203.0.113.9"},
				{do: "none", addr: a},
			},
		},
		{
			name: "names too long to be accounts are not tracked",
			steps: []step{
				{do: "fails", n: 20, spread: true, user: strings.Repeat("x", 65)},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, c := newTestDefender(t, tc.mutate)
			spreadN := 0
			for i, s := range tc.steps {
				c.advance(s.advance)
				var addr netip.Addr
				if s.addr != "" {
					addr = netip.MustParseAddr(s.addr)
				}
				var got bool
				switch s.do {
				case "fail":
					got = d.Failure(addr, s.user)
				case "fails":
					for range s.n {
						from := addr
						if s.spread {
							spreadN++
							from = netip.AddrFrom4([4]byte{10, 9, byte(spreadN >> 8), byte(spreadN)})
						}
						got = d.Failure(from, s.user)
					}
					got = false // only the checks below matter
				case "success":
					d.Success(addr, s.user)
				case "lift":
					got = d.Lift(addr)
				case "unlock":
					got = d.Unlock(s.user)
				case "none":
				default:
					t.Fatalf("step %d: unknown action %q", i, s.do)
				}
				require.Equal(t, s.result, got, "step %d (%s): result", i, s.do)
				if addr.IsValid() {
					require.Equal(t, s.banned, d.Banned(addr), "step %d (%s): Banned(%s)", i, s.do, addr)
				}
				if s.user != "" {
					require.Equal(t, s.locked, d.AccountLocked(s.user), "step %d (%s): AccountLocked(%s)", i, s.do, s.user)
				}
			}
		})
	}
}

func TestBansAndLockouts(t *testing.T) {
	d, c := newTestDefender(t, nil)
	require.Empty(t, d.Bans())
	require.Empty(t, d.Lockouts())

	first := netip.MustParseAddr("192.0.2.1")
	second := netip.MustParseAddr("2001:db8:1:2::5")
	require.True(t, d.Failure(first, "admin"))
	c.advance(time.Minute)
	for range 10 {
		d.Failure(second, "acme")
	}
	for i := range 10 {
		d.Failure(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), "acme")
	}
	start := c.now()

	require.Equal(t, []Ban{
		{Addr: netip.MustParseAddr("2001:db8:1:2::"), Reason: "too many failed logins", Until: start.Add(15 * time.Minute), Count: 1},
		{Addr: first, Reason: "honeypot user name admin", Until: start.Add(14 * time.Minute), Count: 1},
	}, d.Bans())
	require.Equal(t, []Lockout{{Account: "acme", Until: start.Add(5 * time.Minute), Count: 1}}, d.Lockouts())

	c.advance(15 * time.Minute)
	require.Empty(t, d.Bans())
	require.Empty(t, d.Lockouts())
}

func TestNilDefender(t *testing.T) {
	var d *Defender
	addr := netip.MustParseAddr("192.0.2.1")
	require.False(t, d.Failure(addr, "root"))
	require.False(t, d.Banned(addr))
	require.False(t, d.AccountLocked("acme"))
	require.False(t, d.Honeypot("root"))
	require.False(t, d.Lift(addr))
	require.False(t, d.Unlock("acme"))
	require.Empty(t, d.Bans())
	require.Empty(t, d.Lockouts())
	d.Success(addr, "acme")
}

func TestDefenderConcurrentUse(t *testing.T) {
	d, _ := newTestDefender(t, func(c *Config) { c.MaxTracked = 50 })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				addr := netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i)})
				d.Failure(addr, fmt.Sprintf("user%d", i%70))
				d.Banned(addr)
				d.AccountLocked("user1")
				if i%50 == 0 {
					d.Success(addr, "user1")
					d.Bans()
					d.Lockouts()
					d.Lift(addr)
				}
			}
		})
	}
	wg.Wait()
	d.mu.RLock()
	defer d.mu.RUnlock()
	require.LessOrEqual(t, len(d.hosts), 50)
	require.LessOrEqual(t, len(d.accounts), 50)
	require.Equal(t, len(d.hosts), d.hostLRU.Len())
	require.Equal(t, len(d.accounts), d.acctLRU.Len())
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "zero window", mutate: func(c *Config) { c.Window = 0 }, want: "defender.window: must be a positive duration"},
		{name: "negative ban", mutate: func(c *Config) { c.Ban = -time.Second }, want: "defender.ban: must be a positive duration"},
		{name: "max ban below ban", mutate: func(c *Config) { c.MaxBan = time.Minute }, want: "defender.max_ban: must be at least defender.ban"},
		{name: "max lockout below lockout", mutate: func(c *Config) { c.AccountMaxLockout = time.Second }, want: "defender.account_max_lockout:"},
		{name: "zero failures", mutate: func(c *Config) { c.MaxFailures = 0 }, want: "defender.max_failures: must be at least 1"},
		{name: "zero account failures", mutate: func(c *Config) { c.AccountMaxFailures = 0 }, want: "defender.account_max_failures:"},
		{name: "ipv6 prefix", mutate: func(c *Config) { c.IPv6Prefix = 129 }, want: "defender.ipv6_prefix:"},
		{name: "max tracked", mutate: func(c *Config) { c.MaxTracked = 0 }, want: "defender.max_tracked:"},
		{name: "empty honeypot", mutate: func(c *Config) { c.HoneypotUsers = []string{"root", " "} }, want: "defender.honeypot_users[1]: must not be empty"},
		{name: "bad allow list", mutate: func(c *Config) { c.AllowList = []string{"10.0.0.0/8", "nope"} }, want: `defender.allow_list[1]: "nope" is neither`},
		{name: "allow list address and block", mutate: func(c *Config) { c.AllowList = []string{"10.0.0.1", "2001:db8::/32"} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
			_, err = New(cfg, nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestDefenderMetrics(t *testing.T) {
	d, c := newTestDefender(t, func(c *Config) { c.MaxFailures = 2; c.AccountMaxFailures = 3 })
	reg := prometheus.NewRegistry()
	require.NoError(t, d.RegisterMetrics(reg))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
	bans := func(reason string) float64 { return testutil.ToFloat64(d.metrics.bans.WithLabelValues(reason)) }

	require.True(t, d.Failure(netip.MustParseAddr("192.0.2.1"), "root"))
	require.False(t, d.Failure(netip.MustParseAddr("192.0.2.2"), "acme"))
	require.True(t, d.Failure(netip.MustParseAddr("192.0.2.2"), "acme"))
	require.Equal(t, 1.0, bans(banHoneypot))
	require.Equal(t, 1.0, bans(banFailures))
	require.Equal(t, 2.0, testutil.ToFloat64(d.metrics.banned))
	require.Zero(t, testutil.ToFloat64(d.metrics.lockouts))
	d.Failure(netip.MustParseAddr("192.0.2.3"), "acme")
	require.True(t, d.AccountLocked("acme"))
	require.Equal(t, 1.0, testutil.ToFloat64(d.metrics.lockouts))

	require.True(t, d.Lift(netip.MustParseAddr("192.0.2.1")))
	require.Equal(t, 1.0, testutil.ToFloat64(d.metrics.banned), "a lifted ban is not counted")
	c.advance(d.cfg.Ban + time.Second)
	require.Zero(t, testutil.ToFloat64(d.metrics.banned), "an expired ban is not counted")
	require.Equal(t, 2.0, bans(banHoneypot)+bans(banFailures), "the total stays")

	n, err := testutil.GatherAndCount(reg, "sluice_defender_bans_total")
	require.NoError(t, err)
	require.Equal(t, 2, n, "one series per reason; never an address or a user name")

	var nilDefender *Defender
	require.NoError(t, nilDefender.RegisterMetrics(reg))
}
