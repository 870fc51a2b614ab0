package credentials

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/sync/semaphore"
)

// Config configures a Service.
type Config struct {
	// Argon2 sets the cost of password hashes. Stored hashes carry their own
	// parameters, so raising it later only affects new hashes.
	Argon2 Argon2Params `yaml:"argon2" koanf:"argon2"`
	// HomeDir is the folder under which each account's SFTP tree lives
	// (HomeDir/<account>). Creating an account or a feed creates its folder.
	HomeDir string `yaml:"-" koanf:"-"`
	// MaxConcurrentHashes bounds concurrent argon2id verifications, and so
	// the memory a flood of password logins can take (each costs Argon2.Memory).
	MaxConcurrentHashes int `yaml:"max_concurrent_hashes" koanf:"max_concurrent_hashes"`
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	if err := c.Argon2.Validate(); err != nil {
		return fmt.Errorf("credentials.argon2: %w", err)
	}
	if c.MaxConcurrentHashes < 1 || c.MaxConcurrentHashes > 1024 {
		return fmt.Errorf("credentials.max_concurrent_hashes: must be between 1 and 1024 (got %d)", c.MaxConcurrentHashes)
	}
	if c.HomeDir == "" {
		return errors.New("credentials: HomeDir is required")
	}
	return nil
}

// Service implements the rules around accounts, credentials and feeds on top
// of a Store: validation, hashing, sealing, authentication of admins and the
// audit trail. It is safe for concurrent use; every method blocks on the
// database.
type Service struct {
	cfg    Config
	store  *Store
	vault  *Vault
	logger *slog.Logger
	now    func() time.Time
	// hashes bounds concurrent argon2id verifications.
	hashes *semaphore.Weighted
	// feeds caches each account's feeds for FeedFor.
	feeds feedCache
	// keys caches unlocked decryption keys for DecryptionKeys.
	keys keyCache
	// dummyHash is verified for unknown users so that they cost as much
	// as known ones.
	dummyHash string
}

// NewService returns a Service that keeps its state in st and seals secrets
// with vault.
func NewService(cfg Config, st *Store, vault *Vault, logger *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil || vault == nil {
		return nil, errors.New("credentials: a store and a vault are required")
	}
	if err := os.MkdirAll(cfg.HomeDir, 0o750); err != nil {
		return nil, fmt.Errorf("create home folder %q: %w", cfg.HomeDir, err)
	}
	return &Service{
		cfg:       cfg,
		store:     st,
		vault:     vault,
		logger:    logger.With("component", "credentials"),
		now:       func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		hashes:    semaphore.NewWeighted(int64(cfg.MaxConcurrentHashes)),
		dummyHash: DummyHash(cfg.Argon2),
	}, nil
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

func newID() string { return ulid.MustNew(ulid.Now(), rand.Reader).String() }

// CreateAccount validates a and saves it as a new account, creating its
// folder under the home directory.
func (s *Service) CreateAccount(ctx context.Context, a Account) (Account, error) {
	if err := CheckAccountName("name", a.Name); err != nil {
		return Account{}, err
	}
	if err := normaliseAccount(&a); err != nil {
		return Account{}, err
	}
	a.CreatedAt = s.now()
	a.UpdatedAt = a.CreatedAt
	if err := s.store.CreateAccount(ctx, a); err != nil {
		return Account{}, err
	}
	if err := os.MkdirAll(filepath.Join(s.cfg.HomeDir, a.Name), 0o750); err != nil {
		return Account{}, fmt.Errorf("create home folder of account %q: %w", a.Name, err)
	}
	return a, nil
}

// normaliseAccount checks the limits and address ranges of a and stores the
// ranges in canonical form.
func normaliseAccount(a *Account) error {
	for field, v := range map[string]int64{"quota_bytes": a.QuotaBytes, "quota_files": a.QuotaFiles, "max_file_size": a.MaxFileSize} {
		if v < 0 {
			return invalid(field, "must be 0 (unlimited) or positive")
		}
	}
	cidrs := make([]string, 0, len(a.AllowedCIDRs))
	for i, c := range a.AllowedCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			addr, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return invalid(fmt.Sprintf("allowed_cidrs[%d]", i), "%q is not an IP address or CIDR range", c)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		cidrs = append(cidrs, p.Masked().String())
	}
	a.AllowedCIDRs = cidrs
	return nil
}

// Account returns the named account.
func (s *Service) Account(ctx context.Context, name string) (Account, error) {
	return s.store.Account(ctx, name)
}

// Accounts returns one page of accounts, ordered by name, and the cursor of
// the next page ("" after the last).
func (s *Service) Accounts(ctx context.Context, p Page) ([]Account, string, error) {
	return s.store.Accounts(ctx, p)
}

// UpdateAccount applies p to the named account. Account names never change.
func (s *Service) UpdateAccount(ctx context.Context, name string, p AccountPatch) (Account, error) {
	a, err := s.store.Account(ctx, name)
	if err != nil {
		return Account{}, err
	}
	if p.Name != nil && *p.Name != a.Name {
		return Account{}, conflict("account names cannot be changed once saved")
	}
	setIf(&a.QuotaBytes, p.QuotaBytes)
	setIf(&a.QuotaFiles, p.QuotaFiles)
	setIf(&a.MaxFileSize, p.MaxFileSize)
	setIf(&a.AllowedCIDRs, p.AllowedCIDRs)
	setIf(&a.Disabled, p.Disabled)
	setIf(&a.RequireKeyAndPassword, p.RequireKeyAndPassword)
	if err := normaliseAccount(&a); err != nil {
		return Account{}, err
	}
	a.UpdatedAt = s.now()
	if err := s.store.UpdateAccount(ctx, a); err != nil {
		return Account{}, err
	}
	return a, nil
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// DeleteAccount deletes the named account with its credentials and feeds.
// Files already received stay on disk.
func (s *Service) DeleteAccount(ctx context.Context, name string) error {
	defer s.feeds.forget(name)
	defer s.keys.forgetAccount(name)
	return s.store.DeleteAccount(ctx, name)
}

// RecordAudit appends e to the audit trail, giving it an id and a time when
// it has none.
func (s *Service) RecordAudit(ctx context.Context, e AuditEvent) error {
	if e.ID == "" {
		e.ID = newID()
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	return s.store.AppendAudit(ctx, e)
}

// Audit returns one page of audit events, newest first.
func (s *Service) Audit(ctx context.Context, f AuditFilter, p Page) ([]AuditEvent, string, error) {
	return s.store.Audit(ctx, f, p)
}
