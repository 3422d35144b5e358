package tariffs

import (
	"sync"
)

// VersionKey names one stored version of a tariff: the tariff's internal id
// and the version number. A stored version never changes (an update is a
// new version), so what a key names never goes stale.
type VersionKey struct {
	TariffID int64
	Version  int
}

// Cache keeps parsed, validated (compiled) tariff versions by VersionKey,
// so that pricing many sessions on one tariff reads and parses it once. It
// holds at most its size in versions: when full, an arbitrary one is
// dropped to make room (a dropped version is read again when next used).
// The tariffs it returns are shared: callers must not change them. It is
// safe for concurrent use; the zero value is not usable, use NewCache.
type Cache struct {
	mu   sync.Mutex
	max  int
	byID map[VersionKey]*Tariff
}

// DefaultCacheSize is the size NewCache uses for a size ≤ 0: enough for
// every tariff version a busy operator prices with, a few MB at most.
const DefaultCacheSize = 4096

// NewCache returns an empty cache of at most size versions (DefaultCacheSize
// when size ≤ 0).
func NewCache(size int) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Cache{max: size, byID: make(map[VersionKey]*Tariff)}
}

// get returns the cached version, if any.
func (c *Cache) get(k VersionKey) (*Tariff, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.byID[k]
	return t, ok
}

// put keeps t as version k, dropping an arbitrary version when full.
func (c *Cache) put(k VersionKey, t *Tariff) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[k]; !ok && len(c.byID) >= c.max {
		for old := range c.byID {
			delete(c.byID, old)
			break
		}
	}
	c.byID[k] = t
}

// Len is the number of versions held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID)
}
