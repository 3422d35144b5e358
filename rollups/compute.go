package rollups

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Series names one series: a source's metric.
type Series struct {
	SourceID int64
	Metric   int16
}

// Row is a tier's summary of one series in one bucket.
type Row struct {
	Series
	Bucket time.Time
	Summary
}

// rebuild recomputes the tier's buckets in [from, to) from the tier below
// (or raw readings), replacing what was there; with one series set, only
// that series. from and to must be bucket boundaries. It returns the
// number of buckets written.
func rebuild(ctx context.Context, tx pgx.Tx, t Tier, from, to time.Time, only *Series) (int, error) {
	if !from.Before(to) {
		return 0, nil
	}
	del := `DELETE FROM ` + t.Table + ` WHERE bucket >= $1 AND bucket < $2`
	args := []any{from, to}
	if only != nil {
		del += ` AND source_id = $3 AND metric = $4`
		args = append(args, only.SourceID, only.Metric)
	}
	if _, err := tx.Exec(ctx, del, args...); err != nil {
		return 0, fmt.Errorf("clear %s: %w", t.Table, err)
	}
	rows, err := summarize(ctx, tx, t, from, to, only)
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{t.Table}, rowColumns, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := rows[i]
		return []any{r.Bucket, r.SourceID, r.Metric, r.N, r.Sum, r.Min, r.Max,
			time.UnixMicro(r.FirstTime), r.FirstValue, time.UnixMicro(r.LastTime), r.LastValue,
			r.Integral, r.Increase, r.Resets, r.MaxGap}, nil
	}))
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", t.Table, err)
	}
	return len(rows), nil
}

var rowColumns = []string{"bucket", "source_id", "metric", "n", "sum", "min", "max",
	"first_time", "first_value", "last_time", "last_value", "integral", "increase", "resets", "max_gap"}

// summarize reads the samples (or finer rows) of [from, to) in series and
// time order and folds them into the tier's buckets.
func summarize(ctx context.Context, q querier, t Tier, from, to time.Time, only *Series) ([]Row, error) {
	var out []Row
	add := func(s Series, bucket time.Time, sum Summary) {
		if n := len(out); n > 0 && out[n-1].Series == s && out[n-1].Bucket.Equal(bucket) {
			out[n-1].Summary = out[n-1].Summary.Append(sum)
			return
		}
		out = append(out, Row{Series: s, Bucket: bucket, Summary: sum})
	}
	below, ok := t.Below()
	if !ok {
		err := ReadRaw(ctx, q, from, to, only, func(s Series, at time.Time, v float64) {
			add(s, t.Floor(at), Point(at.UnixMicro(), v))
		})
		return out, err
	}
	err := ReadTier(ctx, q, below, from, to, only, func(r Row) {
		add(r.Series, t.Floor(r.Bucket), r.Summary)
	})
	return out, err
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ReadRaw streams raw readings of [from, to) in series and time order.
func ReadRaw(ctx context.Context, q querier, from, to time.Time, only *Series, f func(Series, time.Time, float64)) error {
	sql := `SELECT source_id, metric, time, value FROM readings WHERE time >= $1 AND time < $2`
	args := []any{from, to}
	if only != nil {
		sql += ` AND source_id = $3 AND metric = $4`
		args = append(args, only.SourceID, only.Metric)
	}
	rows, err := q.Query(ctx, sql+` ORDER BY source_id, metric, time`, args...)
	if err != nil {
		return fmt.Errorf("read readings: %w", err)
	}
	defer rows.Close()
	var s Series
	var at time.Time
	var v float64
	_, err = pgx.ForEachRow(rows, []any{&s.SourceID, &s.Metric, &at, &v}, func() error {
		f(s, at, v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read readings: %w", err)
	}
	return nil
}

// ReadTier streams a tier's rows of [from, to) in series and bucket order.
func ReadTier(ctx context.Context, q querier, t Tier, from, to time.Time, only *Series, f func(Row)) error {
	sql := `SELECT ` + columnList + ` FROM ` + t.Table + ` WHERE bucket >= $1 AND bucket < $2`
	args := []any{from, to}
	if only != nil {
		sql += ` AND source_id = $3 AND metric = $4`
		args = append(args, only.SourceID, only.Metric)
	}
	rows, err := q.Query(ctx, sql+` ORDER BY source_id, metric, bucket`, args...)
	if err != nil {
		return fmt.Errorf("read %s: %w", t.Table, err)
	}
	defer rows.Close()
	var r Row
	var first, last time.Time
	_, err = pgx.ForEachRow(rows, []any{&r.Bucket, &r.SourceID, &r.Metric, &r.N, &r.Sum, &r.Min, &r.Max,
		&first, &r.FirstValue, &last, &r.LastValue, &r.Integral, &r.Increase, &r.Resets, &r.MaxGap}, func() error {
		r.FirstTime, r.LastTime = first.UnixMicro(), last.UnixMicro()
		r.Bucket = r.Bucket.UTC()
		f(r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", t.Table, err)
	}
	return nil
}

const columnList = `bucket, source_id, metric, n, sum, min, max, first_time, first_value, last_time, last_value, integral, increase, resets, max_gap`
