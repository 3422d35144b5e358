package query

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/rollups"
)

// store runs the SQL of queries. Every read of one request happens in one
// read-only REPEATABLE READ transaction (a reader): the watermarks, the
// tier rows and the raw readings it combines come from one snapshot, so a
// refresh or an ingest committing meanwhile cannot make a piece appear
// twice or not at all. On a streaming standby this is also what keeps an
// answer right: the watermarks are the standby's, as replayed with the rows
// they describe, never the primary's (package standby).
type store struct{ db DB }

// DB is the database queries read: a pool, or a standby.Router that sends
// each snapshot to a streaming standby or to the primary.
type DB interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// reader is one request's snapshot.
type reader struct{ tx pgx.Tx }

func (s store) begin(ctx context.Context) (reader, error) {
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return reader{}, fmt.Errorf("begin query: %w", err)
	}
	return reader{tx: tx}, nil
}

// close ends the snapshot; it never fails the request.
func (r reader) close() { _ = r.tx.Rollback(context.Background()) }

const (
	sqlWatermarks   = `SELECT tier, watermark FROM rollup_watermarks`
	sqlInvalidation = `SELECT earliest FROM rollup_invalidations WHERE source_id = $1 AND metric = $2`
	// The unique index (source_id, metric, time) serves every query below.
	sqlBefore    = `SELECT time, value FROM readings WHERE source_id = $1 AND metric = $2 AND time < $3 ORDER BY time DESC LIMIT 1`
	sqlAtOrAfter = `SELECT time, value FROM readings WHERE source_id = $1 AND metric = $2 AND time >= $3 ORDER BY time LIMIT 1`
	sqlRaw       = `SELECT time, value FROM readings WHERE source_id = $1 AND metric = $2 AND time >= $3 AND time < $4 ORDER BY time`
	// sqlPageEnd finds the last row of a page (OFFSET limit-1) and whether
	// one more follows it.
	sqlPageEnd = `SELECT time FROM readings WHERE source_id = $1 AND metric = $2 AND time >= $3 AND time < $4 ORDER BY time OFFSET $5 LIMIT 2`
	sqlTier    = `SELECT bucket, n, sum, min, max, first_time, first_value, last_time, last_value, integral, increase, resets, max_gap
		FROM %s WHERE source_id = $1 AND metric = $2 AND bucket >= $3 AND bucket < $4 ORDER BY bucket`
	sqlPeakTime = `SELECT time FROM readings WHERE source_id = $1 AND metric = $2 AND time >= $3 AND time <= $4 AND value = $5 ORDER BY time LIMIT 1`
	sqlLatest   = `SELECT s.public_id, l.metric, l.time, l.value FROM latest_readings l JOIN sources s ON s.id = l.source_id
		WHERE s.tenant_id = $1 AND s.id = ANY($2) AND ($3::smallint[] IS NULL OR l.metric = ANY($3)) ORDER BY s.public_id, l.metric`
	// A site's members: its sources that are not children of another of
	// its sources, or every source of one kind.
	sqlSiteSources = `SELECT s.id, s.public_id, s.kind, s.timezone FROM sources s
		WHERE s.tenant_id = $1 AND s.site_id = $2 AND s.kind <> 'price_feed'
		AND ($3::text IS NULL AND NOT EXISTS (SELECT 1 FROM sources p WHERE p.id = s.parent_id AND p.site_id = s.site_id AND p.tenant_id = s.tenant_id)
		     OR s.kind = $3)
		ORDER BY s.public_id`
	sqlSiteExists = `SELECT EXISTS (SELECT 1 FROM sources WHERE tenant_id = $1 AND site_id = $2)`
)

// tierStates returns, for a series, how far each tier may be used: its
// watermark, or the floor of the series' earliest late row waiting to be
// re-aggregated when that comes first. A tier without a watermark yet is
// left out.
func (r reader) tierStates(ctx context.Context, s rollups.Series) ([]TierState, error) {
	rows, err := r.tx.Query(ctx, sqlWatermarks)
	if err != nil {
		return nil, fmt.Errorf("read watermarks: %w", err)
	}
	marks := map[string]time.Time{}
	var name string
	var wm time.Time
	if _, err := pgx.ForEachRow(rows, []any{&name, &wm}, func() error {
		marks[name] = wm
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read watermarks: %w", err)
	}
	var earliest time.Time
	err = r.tx.QueryRow(ctx, sqlInvalidation, s.SourceID, s.Metric).Scan(&earliest)
	late := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("read invalidations: %w", err)
	}
	var out []TierState
	for _, t := range rollups.Tiers {
		wm, ok := marks[t.Name]
		if !ok {
			continue
		}
		if late && earliest.Before(wm) {
			wm = earliest
		}
		out = append(out, TierState{Tier: t, Until: wm.UTC()})
	}
	return out, nil
}

// neighbour returns the last sample before t (before) or the first at or
// after it; ok is false when there is none.
func (r reader) neighbour(ctx context.Context, s rollups.Series, t int64, before bool) (p rollups.Summary, ok bool, err error) {
	sql := sqlAtOrAfter
	if before {
		sql = sqlBefore
	}
	var at time.Time
	var v float64
	err = r.tx.QueryRow(ctx, sql, s.SourceID, s.Metric, time.UnixMicro(t)).Scan(&at, &v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return p, false, nil
	case err != nil:
		return p, false, fmt.Errorf("read neighbour of %d: %w", t, err)
	}
	return rollups.Point(at.UnixMicro(), v), true, nil
}

// raw streams the raw samples of [from, to) (µs) in time order.
func (r reader) raw(ctx context.Context, s rollups.Series, from, to int64, f func(t int64, v float64) error) error {
	rows, err := r.tx.Query(ctx, sqlRaw, s.SourceID, s.Metric, time.UnixMicro(from), time.UnixMicro(to))
	if err != nil {
		return fmt.Errorf("read readings: %w", err)
	}
	var at time.Time
	var v float64
	if _, err := pgx.ForEachRow(rows, []any{&at, &v}, func() error { return f(at.UnixMicro(), v) }); err != nil {
		return fmt.Errorf("read readings: %w", err)
	}
	return nil
}

// tier streams a tier's rows of buckets in [from, to) (µs) in time order.
func (r reader) tier(ctx context.Context, t rollups.Tier, s rollups.Series, from, to int64, f func(rollups.Summary) error) error {
	// Planned per call: a reused generic plan may scan the bucket index
	// across every series instead of the primary key of this one.
	rows, err := r.tx.Query(ctx, fmt.Sprintf(sqlTier, pgx.Identifier{t.Table}.Sanitize()), pgx.QueryExecModeCacheDescribe,
		s.SourceID, s.Metric, time.UnixMicro(from), time.UnixMicro(to))
	if err != nil {
		return fmt.Errorf("read %s: %w", t.Table, err)
	}
	var sum rollups.Summary
	var bucket, first, last time.Time
	dest := []any{&bucket, &sum.N, &sum.Sum, &sum.Min, &sum.Max, &first, &sum.FirstValue, &last, &sum.LastValue, &sum.Integral, &sum.Increase, &sum.Resets, &sum.MaxGap}
	if _, err := pgx.ForEachRow(rows, dest, func() error {
		sum.FirstTime, sum.LastTime = first.UnixMicro(), last.UnixMicro()
		return f(sum)
	}); err != nil {
		return fmt.Errorf("read %s: %w", t.Table, err)
	}
	return nil
}

// pageEnd returns the time of the limit-th sample of [from, to) and
// whether another follows it; ok is false when there are fewer than limit.
func (r reader) pageEnd(ctx context.Context, s rollups.Series, from, to int64, limit int) (last int64, more, ok bool, err error) {
	rows, err := r.tx.Query(ctx, sqlPageEnd, s.SourceID, s.Metric, time.UnixMicro(from), time.UnixMicro(to), limit-1)
	if err != nil {
		return 0, false, false, fmt.Errorf("read page end: %w", err)
	}
	times, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return 0, false, false, fmt.Errorf("read page end: %w", err)
	}
	if len(times) == 0 {
		return 0, false, false, nil
	}
	return times[0].UnixMicro(), len(times) == 2, true, nil
}

// peakTime finds the first raw sample in [from, to] (µs) whose value is v;
// ok is false when raw readings no longer hold it.
func (r reader) peakTime(ctx context.Context, s rollups.Series, from, to int64, v float64) (int64, bool, error) {
	var at time.Time
	err := r.tx.QueryRow(ctx, sqlPeakTime, s.SourceID, s.Metric, time.UnixMicro(from), time.UnixMicro(to), v).Scan(&at)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("find peak time: %w", err)
	}
	return at.UnixMicro(), true, nil
}

// siteSource is a member of a site.
type siteSource struct {
	ID       int64
	PublicID string
	Kind     string
	Timezone string
}

// siteSources lists a site's members (see sqlSiteSources); found is false
// when the tenant has no source in that site at all.
func (r reader) siteSources(ctx context.Context, tenantID int64, siteID, kind string) (list []siteSource, found bool, err error) {
	var kindArg *string
	if kind != "" {
		kindArg = &kind
	}
	rows, err := r.tx.Query(ctx, sqlSiteSources, tenantID, siteID, kindArg)
	if err != nil {
		return nil, false, fmt.Errorf("list site sources: %w", err)
	}
	list, err = pgx.CollectRows(rows, pgx.RowToStructByPos[siteSource])
	if err != nil {
		return nil, false, fmt.Errorf("list site sources: %w", err)
	}
	if len(list) > 0 {
		return list, true, nil
	}
	err = r.tx.QueryRow(ctx, sqlSiteExists, tenantID, siteID).Scan(&found)
	if err != nil {
		return nil, false, fmt.Errorf("find site: %w", err)
	}
	return nil, found, nil
}

// LatestReading is the newest reading of one series.
type LatestReading struct {
	Source string    `json:"source"`
	Metric string    `json:"metric"`
	Unit   string    `json:"unit"`
	Time   time.Time `json:"time"`
	Value  float64   `json:"value"`
}

// latest reads latest_readings of the sources, optionally of some metrics
// only (nil: all).
func (s store) latest(ctx context.Context, tenantID int64, ids []int64, metrics []int16, f func(source string, metric int16, t time.Time, v float64)) error {
	rows, err := s.db.Query(ctx, sqlLatest, tenantID, ids, metrics)
	if err != nil {
		return fmt.Errorf("read latest readings: %w", err)
	}
	var pub string
	var m int16
	var at time.Time
	var v float64
	if _, err := pgx.ForEachRow(rows, []any{&pub, &m, &at, &v}, func() error {
		f(pub, m, at, v)
		return nil
	}); err != nil {
		return fmt.Errorf("read latest readings: %w", err)
	}
	return nil
}
