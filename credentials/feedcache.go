package credentials

import (
	"context"
	"sync"
	"time"
)

// feedCacheTTL bounds how stale a cached feed list may be. Changes made
// through this Service invalidate at once; the TTL covers changes made by
// other nodes sharing the database.
const feedCacheTTL = 2 * time.Second

// feedCache keeps each account's feeds for a short while: every closed
// upload looks its feed up, and a customer pushing many small files must not
// pay a database query per file. It is safe for concurrent use.
type feedCache struct {
	mu      sync.Mutex
	entries map[string]feedCacheEntry
}

type feedCacheEntry struct {
	feeds   []Feed
	fetched time.Time
}

// get returns the account's feeds from the cache, or loads them with load.
func (c *feedCache) get(ctx context.Context, account string, now time.Time, load func(context.Context, string) ([]Feed, error)) ([]Feed, error) {
	c.mu.Lock()
	e, ok := c.entries[account]
	c.mu.Unlock()
	if ok && now.Sub(e.fetched) < feedCacheTTL {
		return e.feeds, nil
	}
	feeds, err := load(ctx, account)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) > 10000 {
		c.entries = map[string]feedCacheEntry{}
	}
	c.entries[account] = feedCacheEntry{feeds: feeds, fetched: now}
	c.mu.Unlock()
	return feeds, nil
}

// forget drops the account's cached feeds after a change.
func (c *feedCache) forget(account string) {
	c.mu.Lock()
	delete(c.entries, account)
	c.mu.Unlock()
}
