package availability

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
)

// Store records and reads state changes (table availability_changes).
type Store struct {
	db *pgxpool.Pool
	// MaxSkew is how far ahead of the server's clock a change may be;
	// default DefaultMaxSkew. Set it before the first Record.
	MaxSkew time.Duration
}

// NewStore returns a store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// The insert goes through the source's row: a source of another tenant,
// or none, inserts nothing. A change sent again (same source, kind and
// time) replaces the stored one, so a resent StatusNotification is
// harmless and a corrected one wins.
const sqlRecord = `INSERT INTO availability_changes (time, tenant_id, source_id, kind, state)
	SELECT $1, tenant_id, id, $4, $5 FROM sources WHERE id = $3 AND tenant_id = $2
	ON CONFLICT (source_id, kind, time) DO UPDATE SET state = EXCLUDED.state`

// Record stores that the tenant's source (internal id) entered state at
// at: an OCPP StatusNotification status (1.6 or 2.0.1) of a connector, or
// a charge box's connection state, Online or Offline. Changes may arrive
// in any order; they form a series ordered by time. An unknown state, a
// missing time, one before 2000 or too far in the future is a
// VALIDATION_ERROR; a source that is not the tenant's is NOT_FOUND.
func (s *Store) Record(ctx context.Context, tenantID, sourceID int64, state string, at time.Time) error {
	kind, err := KindOf(state)
	if err != nil {
		return err
	}
	skew := s.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if err := validateTime("time", at, time.Now(), skew); err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, sqlRecord, at.UTC().Truncate(time.Microsecond), tenantID, sourceID, string(kind), state)
	if err != nil {
		return fmt.Errorf("record state of source %d: %w", sourceID, err)
	}
	if tag.RowsAffected() == 0 {
		return api.NotFound("source", strconv.FormatInt(sourceID, 10))
	}
	return nil
}

// sqlBefore reads, per series, the last change before $3: the state each
// series is in at the start of the range. One index probe per series,
// however long its history.
const sqlBefore = `SELECT c.time, c.source_id, c.kind, c.state
	FROM unnest($1::bigint[], $2::text[]) AS s(id, kind)
	CROSS JOIN LATERAL (SELECT time, source_id, kind, state FROM availability_changes
		WHERE source_id = s.id AND kind = s.kind AND time < $3
		ORDER BY time DESC LIMIT 1) c
	ORDER BY c.time, c.source_id, c.kind`

// sqlPage reads the next page of changes in [$3, $4) after the key
// ($5, $6, $7), in the order a Fold takes them: the connector's statuses
// and connection ($1), and its charge box's connection ($2, may be null).
// Each series is its own range scan of the (source_id, kind, time) index,
// merged in time order, so a page reads about a page of rows however many
// follow it; one scan with OR would read and sort the rest of the range
// for every page.
const sqlPage = `SELECT time, source_id, kind, state FROM (
		(SELECT time, source_id, kind, state FROM availability_changes
			WHERE source_id = $1 AND kind = 'status' AND time >= $5 AND time >= $3 AND time < $4
				AND (time, source_id, kind) > ($5, $6, $7)
			ORDER BY time LIMIT $8)
		UNION ALL
		(SELECT time, source_id, kind, state FROM availability_changes
			WHERE source_id = $1 AND kind = 'connection' AND time >= $5 AND time >= $3 AND time < $4
				AND (time, source_id, kind) > ($5, $6, $7)
			ORDER BY time LIMIT $8)
		UNION ALL
		(SELECT time, source_id, kind, state FROM availability_changes
			WHERE source_id = $2 AND kind = 'connection' AND time >= $5 AND time >= $3 AND time < $4
				AND (time, source_id, kind) > ($5, $6, $7)
			ORDER BY time LIMIT $8)
	) c
	ORDER BY time, source_id, kind LIMIT $8`

// ErrTooManyChanges is returned by Changes when the range holds more
// changes than the caller's limit.
type ErrTooManyChanges struct{ Limit int }

func (e ErrTooManyChanges) Error() string {
	return fmt.Sprintf("more than %d state changes", e.Limit)
}

// Reader reads state changes and sites within one snapshot (Store.Read).
type Reader struct{ tx pgx.Tx }

// Read runs f in one read-only snapshot: every page of every connector of
// an answer sees the same changes, however many arrive meanwhile.
func (s *Store) Read(ctx context.Context, f func(Reader) error) error {
	return pgx.BeginTxFunc(ctx, s.db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return f(Reader{tx})
	})
}

// Changes is Reader.Changes in a snapshot of its own.
func (s *Store) Changes(ctx context.Context, sourceID int64, boxID *int64, from, to time.Time, page, limit int, f func(Change) error) (int, error) {
	var n int
	err := s.Read(ctx, func(r Reader) error {
		var err error
		n, err = r.Changes(ctx, sourceID, boxID, from, to, page, limit, f)
		return err
	})
	return n, err
}

// Changes calls f with the changes that decide a connector's state, in
// time order: its own statuses and connection changes, and the connection
// changes of its charge box boxID (nil: none). First comes each series'
// last change before from, then those in [from, to), read in pages of page
// rows, so a chatty connector never sits in memory whole. It reads at most
// limit changes in [from, to), returning ErrTooManyChanges past them, and
// returns how many it read.
func (r Reader) Changes(ctx context.Context, sourceID int64, boxID *int64, from, to time.Time, page, limit int, f func(Change) error) (int, error) {
	ids := []int64{sourceID, sourceID}
	kinds := []string{string(KindStatus), string(KindConnection)}
	if boxID != nil {
		ids, kinds = append(ids, *boxID), append(kinds, string(KindConnection))
	}
	if _, err := scan(ctx, r.tx, f, sqlBefore, ids, kinds, from); err != nil {
		return 0, err
	}
	n := 0
	key := Change{Time: from, SourceID: -1}
	for {
		var last Change
		got, err := scan(ctx, r.tx, func(c Change) error {
			if n++; n > limit {
				return ErrTooManyChanges{limit}
			}
			last = c
			return f(c)
		}, sqlPage, sourceID, boxID, from, to, key.Time, key.SourceID, string(key.Kind), page)
		if err != nil || got < page {
			return min(n, limit), err
		}
		key = last
	}
}

func scan(ctx context.Context, tx pgx.Tx, f func(Change) error, sql string, args ...any) (int, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("read state changes: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var c Change
		var kind string
		if err := rows.Scan(&c.Time, &c.SourceID, &kind, &c.State); err != nil {
			return n, fmt.Errorf("read state changes: %w", err)
		}
		c.Kind = Kind(kind)
		n++
		if err := f(c); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read state changes: %w", err)
	}
	return n, nil
}

// Member is a connector whose availability a site answer sums, with the
// charge box whose connection it shares.
type Member struct {
	ID       int64
	PublicID string
	ParentID *int64
	Timezone string
}

// sqlSiteConnectors lists a site's connectors: those in the site, and
// those whose charge box is (auto-registered connectors carry no site).
const sqlSiteConnectors = `SELECT c.id, c.public_id, c.parent_id, c.timezone FROM sources c
	LEFT JOIN sources p ON p.id = c.parent_id
	WHERE c.tenant_id = $1 AND c.kind = 'connector' AND (c.site_id = $2 OR p.site_id = $2)
	ORDER BY c.id LIMIT $3`

const sqlSiteExists = `SELECT EXISTS (SELECT 1 FROM sources WHERE tenant_id = $1 AND site_id = $2)`

// SiteConnectors lists up to limit connectors of a site; found is false
// when the tenant has no source in the site at all.
func (r Reader) SiteConnectors(ctx context.Context, tenantID int64, site string, limit int) (list []Member, found bool, err error) {
	rows, err := r.tx.Query(ctx, sqlSiteConnectors, tenantID, site, limit)
	if err != nil {
		return nil, false, fmt.Errorf("list site connectors: %w", err)
	}
	list, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Member])
	if err != nil {
		return nil, false, fmt.Errorf("list site connectors: %w", err)
	}
	if len(list) > 0 {
		return list, true, nil
	}
	if err := r.tx.QueryRow(ctx, sqlSiteExists, tenantID, site).Scan(&found); err != nil {
		return nil, false, fmt.Errorf("find site: %w", err)
	}
	return nil, found, nil
}
