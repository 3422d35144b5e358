// Package credcache remembers credentials that were verified, so that a
// repeated check costs a hash and a map lookup instead of a database round
// trip or a slow key derivation. Entries are keyed by SHA-256 of what the
// client presented, so a wrong secret hashes elsewhere and takes the full
// check. Failures are never stored.
//
// Each entry belongs to an owner (the credential it proves: an API key's
// public id, a charge box): one entry per owner, dropped at once by Forget
// when the credential changes. The TTL is the backstop for a change
// notification missed while a listener reconnects.
package credcache

import (
	"sync"
	"sync/atomic"
	"time"
)

// Cache maps a presented credential's hash to what its check returned.
type Cache[V any] struct {
	ttl   time.Duration // an entry is fresh this long after verification
	grace time.Duration // and then usable this much longer while the authority fails
	size  int           // most entries held

	mu      sync.RWMutex
	entries map[[32]byte]entry[V]
	byOwner map[string][32]byte // owner → its entry

	// gen changes on every Forget and Flush. A check that started before
	// a change does not store its result, so a revocation that commits
	// while a check is in flight cannot be undone by the check's answer.
	gen atomic.Uint64
}

type entry[V any] struct {
	owner    string
	v        V
	verified time.Time
}

// New returns a cache holding at most size entries, fresh for ttl and
// usable ttl+grace after verification.
func New[V any](ttl, grace time.Duration, size int) *Cache[V] {
	c := &Cache[V]{ttl: ttl, grace: grace, size: max(size, 1)}
	c.Flush()
	return c
}

// Get returns the value cached for a hash and whether it is still fresh; a
// stale entry is returned (fresh false) while within the grace.
func (c *Cache[V]) Get(hash [32]byte, now time.Time) (v V, fresh, ok bool) {
	c.mu.RLock()
	e, ok := c.entries[hash]
	c.mu.RUnlock()
	if !ok {
		return v, false, false
	}
	age := now.Sub(e.verified)
	if age > c.ttl+c.grace {
		return v, false, false
	}
	return e.v, age <= c.ttl, true
}

// Generation is read before a check and handed to Put.
func (c *Cache[V]) Generation() uint64 { return c.gen.Load() }

// Put stores a verified credential unless the cache changed since gen. It
// replaces the owner's previous entry. When full it drops expired entries,
// and then arbitrary ones: the cache must not grow with the number of
// credentials an attacker can make.
func (c *Cache[V]) Put(hash [32]byte, owner string, v V, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if old, ok := c.byOwner[owner]; ok && old != hash {
		c.deleteLocked(old, c.entries[old])
	}
	if _, ok := c.entries[hash]; !ok && len(c.entries) >= c.size {
		c.evictLocked(now)
	}
	c.entries[hash] = entry[V]{owner: owner, v: v, verified: now}
	c.byOwner[owner] = hash
}

func (c *Cache[V]) evictLocked(now time.Time) {
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

func (c *Cache[V]) deleteLocked(h [32]byte, e entry[V]) {
	delete(c.entries, h)
	if c.byOwner[e.owner] == h {
		delete(c.byOwner, e.owner)
	}
}

// Forget drops the entry of an owner.
func (c *Cache[V]) Forget(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	if h, ok := c.byOwner[owner]; ok {
		delete(c.entries, h)
		delete(c.byOwner, owner)
	}
}

// Flush drops every entry.
func (c *Cache[V]) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	c.entries = map[[32]byte]entry[V]{}
	c.byOwner = map[string][32]byte{}
}

// Len is the number of entries.
func (c *Cache[V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
