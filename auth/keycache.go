package auth

import (
	"time"

	"github.com/gridmetrics/gridmetrics/credcache"
)

// DefaultKeyCacheSize is the size of the API-key cache when Config leaves
// it zero.
const DefaultKeyCacheSize = 10_000

// keyCache remembers API keys the database verified, so that a request
// costs a hash and a map lookup instead of a round trip. It is keyed by
// SHA-256 of the whole presented key: a key with the right prefix and a
// wrong secret hashes elsewhere and goes to the database, which refuses it.
// Each entry's owner is the key's public id (key_…).
//
// Revocations reach it at once through forget (called in process and from
// KeyChangesChannel); the TTL is the backstop for a notification missed
// while the listener reconnects.
type keyCache struct{ c *credcache.Cache[Principal] }

func newKeyCache(ttl, grace time.Duration, size int) *keyCache {
	return &keyCache{c: credcache.New[Principal](ttl, grace, size)}
}

// get returns the principal cached for a key hash and whether it is still
// fresh; a stale entry is returned (fresh false) while within the grace.
func (k *keyCache) get(hash [32]byte, now time.Time) (p Principal, fresh, ok bool) {
	return k.c.Get(hash, now)
}

// generation is read before a database lookup and handed to put.
func (k *keyCache) generation() uint64 { return k.c.Generation() }

// put stores a verified key unless the cache changed since gen.
func (k *keyCache) put(hash [32]byte, p Principal, now time.Time, gen uint64) {
	k.c.Put(hash, p.CredentialID, p, now, gen)
}

// forget drops the entry of a key, by its public id (key_…).
func (k *keyCache) forget(credential string) { k.c.Forget(credential) }

// flush drops every entry.
func (k *keyCache) flush() { k.c.Flush() }

// count is the number of entries, for tests.
func (k *keyCache) count() int { return k.c.Len() }
