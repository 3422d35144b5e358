package mqtt

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lookupTTL is how long a tenant or time zone looked up is used before it
// is read again: a message costs no database round trip of its own, and a
// renamed or deleted tenant applies within it. A source's changed time zone
// applies at once (Subscriber.SourceChanged).
const lookupTTL = time.Minute

// maxLookups bounds each cache; past it, it starts afresh.
const maxLookups = 100_000

// lookupCache remembers answers of a lookup for lookupTTL.
type lookupCache[K comparable, V any] struct {
	mu      sync.Mutex
	entries map[K]lookupEntry[V]
}

type lookupEntry[V any] struct {
	v       V
	expires time.Time
}

func (c *lookupCache[K, V]) get(ctx context.Context, k K, now time.Time, load func(context.Context, K) (V, error)) (V, error) {
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.v, nil
	}
	v, err := load(ctx, k)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxLookups {
		c.entries = map[K]lookupEntry[V]{}
	}
	c.entries[k] = lookupEntry[V]{v: v, expires: now.Add(lookupTTL)}
	c.mu.Unlock()
	return v, nil
}

// flush forgets every answer.
func (c *lookupCache[K, V]) flush() {
	c.mu.Lock()
	c.entries = nil
	c.mu.Unlock()
}

// directory answers the two questions a message asks of the database
// before its rows can be written: which tenant its topic names, and the
// time zone of its device.
type directory struct {
	db      *pgxpool.Pool
	tenants lookupCache[string, int64] // public id → id; 0: no such tenant
	zones   lookupCache[deviceKey, *time.Location]
}

type deviceKey struct {
	tenantID int64
	device   string
}

// tenant returns the id of the tenant with public id publicID, or 0 when
// there is none.
func (d *directory) tenant(ctx context.Context, publicID string, now time.Time) (int64, error) {
	return d.tenants.get(ctx, publicID, now, func(ctx context.Context, publicID string) (int64, error) {
		var id int64
		err := d.db.QueryRow(ctx, `SELECT id FROM tenants WHERE public_id = $1`, publicID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil
		}
		return id, err
	})
}

// zone returns the time zone of the tenant's source named device: UTC for
// a source not registered yet (auto-registration creates it in UTC) or
// one whose zone this build does not know.
func (d *directory) zone(ctx context.Context, tenantID int64, device string, now time.Time) (*time.Location, error) {
	return d.zones.get(ctx, deviceKey{tenantID, device}, now, func(ctx context.Context, k deviceKey) (*time.Location, error) {
		var name string
		err := d.db.QueryRow(ctx, `SELECT timezone FROM sources WHERE tenant_id = $1 AND external_id = $2`, k.tenantID, k.device).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return time.UTC, nil
		}
		if err != nil {
			return nil, err
		}
		loc, err := time.LoadLocation(name)
		if err != nil {
			return time.UTC, nil
		}
		return loc, nil
	})
}
