package credentials

import (
	"sync"
	"sync/atomic"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"golang.org/x/sync/singleflight"
)

// Bounds of the cache of unlocked decryption keys. Unlocking a key that
// GnuPG protected costs about a CPU second (its S2K function), which must
// not be paid per file; keeping unlocked keys in memory for ever, on the
// other hand, keeps secrets of idle accounts around. An entry leaves the
// cache keyCacheTTL after its last use; the cache holds at most keyCacheMax
// entries and drops the least recently used beyond that.
const (
	keyCacheTTL = 10 * time.Minute
	keyCacheMax = 1024
)

// keyCache keeps the unlocked entities of pgp-private-key credentials, by
// credential id. Each entry carries the version of the stored credential it
// was unlocked from (keyVersion): a lookup names the version it just read
// from the store, so a credential changed or resealed behind this process's
// back (another node, the offline CLI) is never served stale, and one deleted
// is never looked up again. Changes made through the Service also drop the
// entries at once (forget…), so that secrets do not linger.
//
// It is safe for concurrent use. A hit takes the read lock only; misses,
// invalidations and sweeps take the write lock briefly, never across an
// unlock. Concurrent misses for the same credential version unlock it once.
// The zero value is ready to use.
type keyCache struct {
	// ttl and maxEntries override keyCacheTTL and keyCacheMax when set (tests).
	ttl        time.Duration
	maxEntries int

	flights singleflight.Group
	// unlocks counts the unlocks run: the tests' measure of hits.
	unlocks atomic.Int64
	// swept is when expired entries were last dropped (unix nanoseconds).
	swept atomic.Int64

	mu sync.RWMutex
	// gen counts invalidations: an unlock started before one is not
	// stored, as it may have read what was just deleted.
	gen     uint64
	entries map[string]*keyEntry
}

// keyEntry is one unlocked credential.
type keyEntry struct {
	account, name string
	version       string
	entity        *openpgp.Entity // never handed out: callers get copies
	used          atomic.Int64    // last use, unix nanoseconds
}

func (c *keyCache) limits() (time.Duration, int) {
	ttl, maxEntries := keyCacheTTL, keyCacheMax
	if c.ttl > 0 {
		ttl = c.ttl
	}
	if c.maxEntries > 0 {
		maxEntries = c.maxEntries
	}
	return ttl, maxEntries
}

// generation returns the current invalidation count; pass it to put.
func (c *keyCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// get returns the cached entity of credential id at version, if it is there
// and was used within the TTL, and marks it used at now.
func (c *keyCache) get(id, version string, now time.Time) (*openpgp.Entity, bool) {
	ttl, _ := c.limits()
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if !ok || e.version != version || now.Sub(time.Unix(0, e.used.Load())) >= ttl {
		return nil, false
	}
	e.used.Store(now.UnixNano())
	return e.entity, true
}

// put stores an entity unlocked from credential id at version, unless the
// cache was invalidated since gen was read. It drops expired entries and,
// when full, the least recently used one.
func (c *keyCache) put(gen uint64, account, name, id, version string, entity *openpgp.Entity, now time.Time) {
	ttl, maxEntries := c.limits()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.entries == nil {
		c.entries = make(map[string]*keyEntry)
	}
	c.dropExpiredLocked(now, ttl)
	for len(c.entries) >= maxEntries {
		var (
			oldest   string
			oldestAt int64
		)
		for k, e := range c.entries {
			if at := e.used.Load(); oldest == "" || at < oldestAt {
				oldest, oldestAt = k, at
			}
		}
		delete(c.entries, oldest)
	}
	e := &keyEntry{account: account, name: name, version: version, entity: entity}
	e.used.Store(now.UnixNano())
	c.entries[id] = e
}

// sweep drops expired entries, at most every quarter TTL, so that the keys of
// accounts no longer used leave memory even when nothing new is cached.
func (c *keyCache) sweep(now time.Time) {
	ttl, _ := c.limits()
	if now.Sub(time.Unix(0, c.swept.Load())) < ttl/4 {
		return
	}
	c.swept.Store(now.UnixNano())
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropExpiredLocked(now, ttl)
}

func (c *keyCache) dropExpiredLocked(now time.Time, ttl time.Duration) {
	for k, e := range c.entries {
		if now.Sub(time.Unix(0, e.used.Load())) >= ttl {
			delete(c.entries, k)
		}
	}
}

// forgetCredential drops the named credential of account.
func (c *keyCache) forgetCredential(account, name string) {
	c.forget(func(e *keyEntry) bool { return e.account == account && e.name == name })
}

// forgetAccount drops every credential of account.
func (c *keyCache) forgetAccount(account string) {
	c.forget(func(e *keyEntry) bool { return e.account == account })
}

// forgetAll empties the cache.
func (c *keyCache) forgetAll() {
	c.forget(func(*keyEntry) bool { return true })
}

func (c *keyCache) forget(match func(*keyEntry) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if match(e) {
			delete(c.entries, k)
		}
	}
}

// len returns the number of entries (tests).
func (c *keyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
