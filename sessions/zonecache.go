package sessions

import (
	"sync"
	"time"

	"github.com/gridmetrics/gridmetrics/tariffs"
)

// zoneCacheSize bounds the tariffs kept read in a zone other than their
// own: one per (tariff version, zone) priced with, so a few thousand cover
// any operator.
const zoneCacheSize = 4096

// zoneKey is a tariff as its source returned it, read in a zone. A
// TariffSource's tariffs are shared and never changed (tariffs.Cache
// hands out the same pointer for a version), so the pointer names the
// version.
type zoneKey struct {
	t    *tariffs.Tariff
	zone string
}

type zoned struct {
	t   *tariffs.Tariff
	loc *time.Location
	err error
}

// zoneCache keeps inZone's answers, so a tariff is copied and compiled for
// a zone once rather than for every session. At most max are kept; when
// full an arbitrary one is dropped.
type zoneCache struct {
	mu  sync.Mutex
	max int
	m   map[zoneKey]zoned
}

func newZoneCache(max int) *zoneCache {
	return &zoneCache{max: max, m: make(map[zoneKey]zoned)}
}

// inZone is inZone(t, zone), remembered.
func (c *zoneCache) inZone(t *tariffs.Tariff, zone string) (*tariffs.Tariff, *time.Location, error) {
	k := zoneKey{t, zone}
	c.mu.Lock()
	z, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return z.t, z.loc, z.err
	}
	z.t, z.loc, z.err = inZone(t, zone)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = z
	return z.t, z.loc, z.err
}
