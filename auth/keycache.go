package auth

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultKeyCacheSize is the size of the API-key cache when Config leaves
// it zero.
const DefaultKeyCacheSize = 10_000

// keyCache remembers API keys the database verified, so that a request
// costs a hash and a map lookup instead of a round trip. It is keyed by
// SHA-256 of the whole presented key: a key with the right prefix and a
// wrong secret hashes elsewhere and goes to the database, which refuses it.
// Failures are never cached, so an unknown key always reaches the database.
//
// Revocations reach it at once through forget (called in process and from
// KeyChangesChannel); the TTL is the backstop for a notification missed
// while the listener reconnects.
type keyCache struct {
	ttl   time.Duration // an entry is fresh this long after verification
	grace time.Duration // and then usable this much longer while the database fails
	size  int           // most entries held

	mu      sync.RWMutex
	entries map[[32]byte]cachedKey
	byCred  map[string][32]byte // credential (key public id) → its entry

	// gen changes on every forget and flush. A lookup that started before
	// a change does not store its result, so a revocation that commits
	// while a lookup is in flight cannot be undone by the lookup's answer.
	gen atomic.Uint64
}

type cachedKey struct {
	p        Principal
	verified time.Time
}

func newKeyCache(ttl, grace time.Duration, size int) *keyCache {
	c := &keyCache{ttl: ttl, grace: grace, size: size}
	c.flush()
	return c
}

// get returns the principal cached for a key hash and whether it is still
// fresh; a stale entry is returned (fresh false) while within the grace.
func (c *keyCache) get(hash [32]byte, now time.Time) (p Principal, fresh, ok bool) {
	c.mu.RLock()
	e, ok := c.entries[hash]
	c.mu.RUnlock()
	if !ok {
		return Principal{}, false, false
	}
	age := now.Sub(e.verified)
	if age > c.ttl+c.grace {
		return Principal{}, false, false
	}
	return e.p, age <= c.ttl, true
}

// generation is read before a database lookup and handed to put.
func (c *keyCache) generation() uint64 { return c.gen.Load() }

// put stores a verified key unless the cache changed since gen. When full it
// drops expired entries, and then arbitrary ones: the cache must not grow
// with the number of keys an attacker can make a tenant create.
func (c *keyCache) put(hash [32]byte, p Principal, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if _, ok := c.entries[hash]; !ok && len(c.entries) >= c.size {
		c.evictLocked(now)
	}
	if old, ok := c.byCred[p.CredentialID]; ok && old != hash {
		delete(c.entries, old)
	}
	c.entries[hash] = cachedKey{p: p, verified: now}
	c.byCred[p.CredentialID] = hash
}

func (c *keyCache) evictLocked(now time.Time) {
	for h, e := range c.entries {
		if now.Sub(e.verified) > c.ttl+c.grace {
			c.deleteLocked(h, e)
		}
	}
	for h, e := range c.entries {
		if len(c.entries) < c.size {
			break
		}
		c.deleteLocked(h, e)
	}
}

func (c *keyCache) deleteLocked(h [32]byte, e cachedKey) {
	delete(c.entries, h)
	if c.byCred[e.p.CredentialID] == h {
		delete(c.byCred, e.p.CredentialID)
	}
}

// forget drops the entry of a key, by its public id (key_…).
func (c *keyCache) forget(credential string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	if h, ok := c.byCred[credential]; ok {
		delete(c.entries, h)
		delete(c.byCred, credential)
	}
}

// flush drops every entry.
func (c *keyCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	c.entries = map[[32]byte]cachedKey{}
	c.byCred = map[string][32]byte{}
}

// count is the number of entries, for tests.
func (c *keyCache) count() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
