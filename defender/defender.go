package defender

import (
	"container/list"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defender tracks failed logins and decides which addresses are banned and
// which accounts are locked. It is safe for concurrent use; no method blocks
// on anything but a short internal lock. A nil *Defender is valid and does
// nothing: nothing is banned or locked.
type Defender struct {
	cfg       Config
	allow     []netip.Prefix
	honeypots map[string]bool
	logger    *slog.Logger
	metrics   *metrics
	now       func() time.Time // replaced by tests

	mu       sync.RWMutex
	hosts    map[netip.Addr]*list.Element // of *host
	hostLRU  *list.List                   // front: most recently seen
	accounts map[string]*list.Element     // of *account
	acctLRU  *list.List
}

// host is what the defender remembers about one address (or IPv6 prefix).
type host struct {
	addr        netip.Addr
	failures    int
	windowStart time.Time
	until       time.Time // banned until; zero if never banned
	bans        int       // bans so far, for the growing period
	reason      string
}

// account is what the defender remembers about one account name.
type account struct {
	name        string
	failures    int
	windowStart time.Time
	until       time.Time // locked until
	locks       int
}

// Ban describes a banned address.
type Ban struct {
	// Addr is the banned address; for IPv6, the first address of the banned
	// prefix (see Config.IPv6Prefix).
	Addr netip.Addr `json:"addr"`
	// Reason says why, in words for an admin: too many failures or a
	// honeypot user name.
	Reason string `json:"reason"`
	// Until is when the ban ends.
	Until time.Time `json:"until"`
	// Count is how many times the address has been banned, this ban included.
	Count int `json:"count"`
}

// Lockout describes a locked account.
type Lockout struct {
	Account string    `json:"account"`
	Until   time.Time `json:"until"`
	Count   int       `json:"count"` // lockouts so far, this one included
}

// New validates cfg and returns a Defender. A nil logger discards logs.
func New(cfg Config, logger *slog.Logger) (*Defender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	allow, err := parseAllowList(cfg.AllowList)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Defender{
		cfg:       cfg,
		allow:     allow,
		honeypots: make(map[string]bool, len(cfg.HoneypotUsers)),
		logger:    logger.With("component", "defender"),
		now:       time.Now,
		hosts:     make(map[netip.Addr]*list.Element),
		hostLRU:   list.New(),
		accounts:  make(map[string]*list.Element),
		acctLRU:   list.New(),
	}
	for _, u := range cfg.HoneypotUsers {
		d.honeypots[strings.ToLower(strings.TrimSpace(u))] = true
	}
	d.metrics = newMetrics(d)
	return d, nil
}

// maxAccountName bounds the account names tracked: longer names cannot be
// accounts, and an attacker must not fill memory with huge ones.
const maxAccountName = 64

func (d *Defender) active() bool { return d != nil && d.cfg.Enabled }

// key returns the address under which addr is tracked: unmapped, without
// zone, and masked to Config.IPv6Prefix for IPv6.
func (d *Defender) key(addr netip.Addr) netip.Addr {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() && d.cfg.IPv6Prefix < 128 {
		if p, err := addr.Prefix(d.cfg.IPv6Prefix); err == nil {
			return p.Addr()
		}
	}
	return addr
}

func (d *Defender) allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range d.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Honeypot reports whether user is one of the configured honeypot names.
func (d *Defender) Honeypot(user string) bool {
	return d.active() && d.honeypots[strings.ToLower(user)]
}

// Banned reports whether addr is banned now. Allow-listed addresses never are.
func (d *Defender) Banned(addr netip.Addr) bool {
	if !d.active() || !addr.IsValid() || d.allowed(addr) {
		return false
	}
	now := d.now()
	d.mu.RLock()
	defer d.mu.RUnlock()
	e, ok := d.hosts[d.key(addr)]
	return ok && e.Value.(*host).until.After(now)
}

// Failure records a failed login by user from addr and reports whether addr
// is banned afterwards: because this failure reached Config.MaxFailures, the
// user name is a honeypot, or it already was. It also counts the failure
// against the account name user, which may lock it.
func (d *Defender) Failure(addr netip.Addr, user string) (banned bool) {
	if !d.active() {
		return false
	}
	now := d.now()
	honeypot := d.Honeypot(user)
	d.mu.Lock()
	defer d.mu.Unlock()
	if user != "" && len(user) <= maxAccountName && !honeypot {
		d.accountFailure(user, now)
	}
	if !addr.IsValid() || d.allowed(addr) {
		return false
	}
	h := d.host(d.key(addr), now)
	if h.until.After(now) {
		return true
	}
	if honeypot {
		d.ban(h, banHoneypot, "honeypot user name "+strings.ToLower(user), now)
		return true
	}
	if now.Sub(h.windowStart) >= d.cfg.Window {
		h.failures, h.windowStart = 0, now
	}
	h.failures++
	if h.failures >= d.cfg.MaxFailures {
		d.ban(h, banFailures, "too many failed logins", now)
		return true
	}
	return false
}

// Success records a successful login by user from addr: the address's
// failures are forgiven (a customer who mistyped, then got it right). The
// account's failures are not, so that failures spread over many addresses
// still lock it while its owner logs in.
func (d *Defender) Success(addr netip.Addr, user string) {
	if !d.active() || !addr.IsValid() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.hosts[d.key(addr)]; ok {
		e.Value.(*host).failures = 0
	}
}

// AccountLocked reports whether the account user is locked now.
func (d *Defender) AccountLocked(user string) bool {
	if !d.active() {
		return false
	}
	now := d.now()
	d.mu.RLock()
	defer d.mu.RUnlock()
	e, ok := d.accounts[user]
	return ok && e.Value.(*account).until.After(now)
}

// Bans returns the current bans, the longest-lasting first.
func (d *Defender) Bans() []Ban {
	if !d.active() {
		return []Ban{}
	}
	now := d.now()
	d.mu.RLock()
	out := []Ban{}
	for e := d.hostLRU.Front(); e != nil; e = e.Next() {
		if h := e.Value.(*host); h.until.After(now) {
			out = append(out, Ban{Addr: h.addr, Reason: h.reason, Until: h.until, Count: h.bans})
		}
	}
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b Ban) int { return b.Until.Compare(a.Until) })
	return out
}

// Lift ends the ban of addr (or of its IPv6 prefix) and forgets its failures
// and earlier bans. It reports whether addr was banned.
func (d *Defender) Lift(addr netip.Addr) bool {
	if !d.active() || !addr.IsValid() {
		return false
	}
	now := d.now()
	k := d.key(addr)
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.hosts[k]
	if !ok {
		return false
	}
	h := e.Value.(*host)
	was := h.until.After(now)
	d.hostLRU.Remove(e)
	delete(d.hosts, k)
	if was {
		d.logger.Info("ban lifted", "addr", k.String())
	}
	return was
}

// Lockouts returns the accounts locked now, the longest-lasting first.
func (d *Defender) Lockouts() []Lockout {
	if !d.active() {
		return []Lockout{}
	}
	now := d.now()
	d.mu.RLock()
	out := []Lockout{}
	for e := d.acctLRU.Front(); e != nil; e = e.Next() {
		if a := e.Value.(*account); a.until.After(now) {
			out = append(out, Lockout{Account: a.name, Until: a.until, Count: a.locks})
		}
	}
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b Lockout) int { return b.Until.Compare(a.Until) })
	return out
}

// Unlock ends the lockout of the account user and forgets its failures. It
// reports whether the account was locked.
func (d *Defender) Unlock(user string) bool {
	if !d.active() {
		return false
	}
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.accounts[user]
	if !ok {
		return false
	}
	was := e.Value.(*account).until.After(now)
	d.acctLRU.Remove(e)
	delete(d.accounts, user)
	if was {
		d.logger.Info("account unlocked", "account", user)
	}
	return was
}

// host returns the entry of k, creating it and evicting the least recently
// seen entries beyond the cap. Called with d.mu held.
func (d *Defender) host(k netip.Addr, now time.Time) *host {
	if e, ok := d.hosts[k]; ok {
		d.hostLRU.MoveToFront(e)
		h := e.Value.(*host)
		if !h.until.IsZero() && now.Sub(h.until) > d.cfg.MaxBan {
			h.bans = 0 // quiet for long enough: the next ban starts short again
		}
		return h
	}
	for d.hostLRU.Len() >= d.cfg.MaxTracked {
		old := d.hostLRU.Back()
		delete(d.hosts, old.Value.(*host).addr)
		d.hostLRU.Remove(old)
	}
	h := &host{addr: k, windowStart: now}
	d.hosts[k] = d.hostLRU.PushFront(h)
	return h
}

// ban bans h for a period that doubles with each ban; kind is the reason's
// metric label. Called with d.mu held.
func (d *Defender) ban(h *host, kind, reason string, now time.Time) {
	d.metrics.bans.WithLabelValues(kind).Inc()
	h.bans++
	h.until = now.Add(grow(d.cfg.Ban, d.cfg.MaxBan, h.bans))
	h.failures, h.windowStart, h.reason = 0, now, reason
	d.logger.Warn("address banned", "addr", h.addr.String(), "reason", reason,
		"until", h.until, "count", h.bans)
}

// accountFailure counts a failure against the account name user and locks
// it when the window's count reaches the limit. Called with d.mu held.
func (d *Defender) accountFailure(user string, now time.Time) {
	var a *account
	if e, ok := d.accounts[user]; ok {
		d.acctLRU.MoveToFront(e)
		a = e.Value.(*account)
		if !a.until.IsZero() && now.Sub(a.until) > d.cfg.AccountMaxLockout {
			a.locks = 0
		}
	} else {
		for d.acctLRU.Len() >= d.cfg.MaxTracked {
			old := d.acctLRU.Back()
			delete(d.accounts, old.Value.(*account).name)
			d.acctLRU.Remove(old)
		}
		a = &account{name: user, windowStart: now}
		d.accounts[user] = d.acctLRU.PushFront(a)
	}
	if now.Sub(a.windowStart) >= d.cfg.Window {
		a.failures, a.windowStart = 0, now
	}
	a.failures++
	if a.failures < d.cfg.AccountMaxFailures {
		return
	}
	// Reaching the limit again while locked extends the lockout: the attack
	// goes on, so the back-off grows.
	a.locks++
	a.until = now.Add(grow(d.cfg.AccountLockout, d.cfg.AccountMaxLockout, a.locks))
	a.failures, a.windowStart = 0, now
	d.metrics.lockouts.Inc()
	d.logger.Warn("account locked", "account", user, "until", a.until, "count", a.locks)
}

// grow returns base doubled n-1 times, capped at limit.
func grow(base, limit time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
