package sources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/schema"
)

// Resolver turns the names ingest clients use for sources (external ids or
// public ids) into internal ids, through an in-memory cache. Renames and
// deletes reach it in-process through Store.OnChange and from other replicas
// through ChangesChannel; entries also expire after a while, a backstop for
// a notification missed while reconnecting.
type Resolver struct {
	// MaxAutoChildren bounds the children (connectors) of one parent (a
	// charge box) past which auto-registration refuses new ones; children
	// registered by hand count too, but are never refused. Zero means
	// DefaultMaxAutoChildren. Set it before the first Resolve.
	MaxAutoChildren int

	st  *Store
	ttl time.Duration

	mu      sync.RWMutex
	ids     map[refKey]cachedID
	refsOf  map[int64][]refKey
	autoReg map[int64]cachedFlag

	followers listeners
}

type refKey struct {
	tenantID int64
	ref      string
}

type cachedID struct {
	id      int64
	expires time.Time
}

type cachedFlag struct {
	on      bool
	expires time.Time
}

// maxCached bounds the cache; past it, it starts afresh.
const maxCached = 1 << 20

// NewResolver returns a resolver over st and subscribes it to st's changes.
func NewResolver(st *Store) *Resolver {
	r := &Resolver{st: st, ttl: 5 * time.Minute}
	r.Flush()
	st.OnChange(r.Forget)
	return r
}

// Flush empties the cache.
func (r *Resolver) Flush() {
	r.mu.Lock()
	r.ids = map[refKey]cachedID{}
	r.refsOf = map[int64][]refKey{}
	r.autoReg = map[int64]cachedFlag{}
	r.mu.Unlock()
	r.followers.tell(0)
}

// Forget drops every name cached for a source.
func (r *Resolver) Forget(sourceID int64) {
	r.mu.Lock()
	for _, k := range r.refsOf[sourceID] {
		delete(r.ids, k)
	}
	delete(r.refsOf, sourceID)
	r.mu.Unlock()
	r.followers.tell(sourceID)
}

// Follow registers f, called each time the resolver forgets a source
// (renamed, re-zoned or deleted, here or on another replica) with its id,
// or everything (after a lost notification) with 0: other caches of what
// sources are called or where they are follow the resolver's, which hears
// of every change.
func (r *Resolver) Follow(f func(sourceID int64)) { r.followers.add(f) }

// Register returns the sources to create for names that are not known, or
// nil to leave them unknown. It is consulted only for tenants with
// auto-registration on.
type Register func(missing []string) []NewSource

// DefaultMaxAutoChildren is the default of Resolver.MaxAutoChildren: OCPP
// charge boxes have one to a few dozen connectors, so 64 leaves room for
// the largest while a box that invents connector ids cannot fill the
// registry.
const DefaultMaxAutoChildren = 64

// ErrTooManyChildren refuses to auto-register a child (a connector) under a
// parent that already has MaxAutoChildren of them.
var ErrTooManyChildren = errors.New("too many children")

// Resolution is the outcome of resolving names: the ids of the known (or
// newly registered) ones, and the names auto-registration refused, each
// with its reason (an *api.Error, or one wrapping ErrTooManyChildren).
// Names in neither are unknown.
type Resolution struct {
	IDs     map[string]int64
	Refused map[string]error
}

// Resolve maps each name in refs to a source id. Names that are not known
// are created through register when it is non-nil and the tenant has
// auto-registration on; names that stay unknown or are refused are absent
// from the result.
func (r *Resolver) Resolve(ctx context.Context, tenantID int64, refs []string, register Register) (map[string]int64, error) {
	res, err := r.ResolveEach(ctx, tenantID, refs, register)
	return res.IDs, err
}

// ResolveEach is Resolve that also reports why auto-registration refused a
// name: one invalid name fails alone, not the names beside it. The error is
// for failures of the database.
func (r *Resolver) ResolveEach(ctx context.Context, tenantID int64, refs []string, register Register) (Resolution, error) {
	out := make(map[string]int64, len(refs))
	var missing []string
	now := time.Now()
	r.mu.RLock()
	for _, ref := range refs {
		if c, ok := r.ids[refKey{tenantID, ref}]; ok && now.Before(c.expires) {
			out[ref] = c.id
		} else {
			missing = append(missing, ref)
		}
	}
	r.mu.RUnlock()
	if len(missing) == 0 {
		return Resolution{IDs: out}, nil
	}
	found, err := LookupIDs(ctx, r.st.db, tenantID, missing)
	if err != nil {
		return Resolution{}, err
	}
	var unknown []string
	for _, ref := range missing {
		if _, ok := found[ref]; !ok {
			unknown = append(unknown, ref)
		}
	}
	var refused map[string]error
	if len(unknown) > 0 && register != nil {
		on, err := r.AutoRegister(ctx, tenantID)
		if err != nil {
			return Resolution{}, err
		}
		var news []NewSource
		if on {
			news = register(unknown)
		}
		if len(news) > 0 {
			created, failed, err := r.st.ensure(ctx, tenantID, news, r.maxAutoChildren())
			if err != nil {
				return Resolution{}, err
			}
			for ref, id := range created {
				found[ref] = id
			}
			refused = failed
		}
	}
	r.remember(tenantID, found, now)
	for ref, id := range found {
		out[ref] = id
	}
	return Resolution{IDs: out, Refused: refused}, nil
}

func (r *Resolver) maxAutoChildren() int {
	if r.MaxAutoChildren <= 0 {
		return DefaultMaxAutoChildren
	}
	return r.MaxAutoChildren
}

func (r *Resolver) remember(tenantID int64, found map[string]int64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids)+len(found) > maxCached {
		r.ids = map[refKey]cachedID{}
		r.refsOf = map[int64][]refKey{}
	}
	for ref, id := range found {
		// The cache outlives the request: a reference may point into the
		// request's reused buffer (Fiber's route parameters do), so the
		// key gets its own copy.
		k := refKey{tenantID, strings.Clone(ref)}
		if _, ok := r.ids[k]; !ok {
			r.refsOf[id] = append(r.refsOf[id], k)
		}
		r.ids[k] = cachedID{id: id, expires: now.Add(r.ttl)}
	}
}

// AutoRegister reports whether the tenant registers unknown sources on
// first sight.
func (r *Resolver) AutoRegister(ctx context.Context, tenantID int64) (bool, error) {
	now := time.Now()
	r.mu.RLock()
	c, ok := r.autoReg[tenantID]
	r.mu.RUnlock()
	if ok && now.Before(c.expires) {
		return c.on, nil
	}
	var on bool
	if err := r.st.db.QueryRow(ctx, `SELECT auto_register FROM tenants WHERE id = $1`, tenantID).Scan(&on); err != nil {
		return false, fmt.Errorf("read tenant %d: %w", tenantID, err)
	}
	r.mu.Lock()
	r.autoReg[tenantID] = cachedFlag{on: on, expires: now.Add(time.Minute)}
	r.mu.Unlock()
	return on, nil
}

// Listen follows ChangesChannel until ctx ends, forgetting the sources
// that other replicas rename or delete. Each time it starts listening (again)
// the cache is flushed: changes made while the connection was lost were not
// heard.
func (r *Resolver) Listen(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	schema.Listen(ctx, pool, log, ChangesChannel, r.Flush, func(payload string) {
		if id, err := strconv.ParseInt(payload, 10, 64); err == nil {
			r.Forget(id)
		}
	})
}

// ensure creates the sources that do not exist yet, in order (so a parent
// listed before its child is found), and returns every one's id by external
// id. A source that cannot be created (invalid, its parent unknown, or its
// parent already at maxChildren) is in refused with the reason, and the
// others are still created; err is for failures of the database.
// Concurrent calls for the same source create it once. The child count is
// read before the insert, so concurrent registrations under one parent may
// pass the bound by as many as race each other.
func (st *Store) ensure(ctx context.Context, tenantID int64, news []NewSource, maxChildren int) (created map[string]int64, refused map[string]error, err error) {
	created = make(map[string]int64, len(news))
	refuse := func(n NewSource, err error) {
		if refused == nil {
			refused = make(map[string]error)
		}
		refused[n.ExternalID] = fmt.Errorf("register source %q: %w", n.ExternalID, err)
	}
	for _, n := range news {
		if err := n.validate(); err != nil {
			refuse(n, err)
			continue
		}
		var parentID *int64
		if n.Parent != nil {
			id, err := st.resolveParent(ctx, st.db, tenantID, *n.Parent)
			if isAPIError(err) {
				refuse(n, err)
				continue
			} else if err != nil {
				return nil, nil, fmt.Errorf("register source %q: %w", n.ExternalID, err)
			}
			var children int
			if err := st.db.QueryRow(ctx, `SELECT count(*) FROM sources WHERE parent_id = $1`, id).Scan(&children); err != nil {
				return nil, nil, fmt.Errorf("register source %q: %w", n.ExternalID, err)
			}
			if children >= maxChildren {
				refuse(n, fmt.Errorf("%w: %q already has %d, the most auto-registration creates under one source", ErrTooManyChildren, *n.Parent, children))
				continue
			}
			parentID = &id
		}
		var id int64
		err := st.db.QueryRow(ctx, `WITH ins AS (
				INSERT INTO sources (public_id, tenant_id, external_id, kind, name, site_id, timezone, parent_id, metadata)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
				ON CONFLICT (tenant_id, external_id) DO NOTHING RETURNING id)
			SELECT id FROM ins UNION ALL SELECT id FROM sources WHERE tenant_id = $2 AND external_id = $3 LIMIT 1`,
			auth.NewPublicID("src"), tenantID, n.ExternalID, n.Kind, n.Name, n.SiteID, n.Timezone, parentID, n.Metadata).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			// Inserted by a concurrent transaction not yet visible to this
			// statement's snapshot: read it again.
			err = st.db.QueryRow(ctx, `SELECT id FROM sources WHERE tenant_id = $1 AND external_id = $2`, tenantID, n.ExternalID).Scan(&id)
		}
		if err := interpretError(err, n.ExternalID); isAPIError(err) {
			refuse(n, err)
			continue
		} else if err != nil {
			return nil, nil, fmt.Errorf("register source %q: %w", n.ExternalID, err)
		}
		created[n.ExternalID] = id
	}
	return created, refused, nil
}

// isAPIError reports whether err is about the source itself (a validation,
// a conflict) rather than the database.
func isAPIError(err error) bool {
	var e *api.Error
	return errors.As(err, &e)
}
