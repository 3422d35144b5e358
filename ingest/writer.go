package ingest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// batchWriter writes one batch at a time; it keeps its buffers between
// batches so the steady state allocates little, but lets them go after an
// outsized batch (see shrink).
type batchWriter struct {
	horizon   time.Duration
	batchRows int // the usual batch; buffers past keepFactor times it are let go
	points    []Point
	copyBuf   bytes.Buffer
	hook      func(where string, p Point) // see PipelineConfig.hook

	// Per series: the newest point, and the oldest when it is older than
	// the invalidation horizon.
	latest  seriesColumns
	invalid seriesColumns
}

type seriesColumns struct {
	sources []int64
	metrics []int16
	times   []time.Time
	values  []float64
}

func (c *seriesColumns) reset() {
	c.sources, c.metrics, c.times, c.values = c.sources[:0], c.metrics[:0], c.times[:0], c.values[:0]
}

func (c *seriesColumns) add(p Point) {
	c.sources = append(c.sources, p.SourceID)
	c.metrics = append(c.metrics, p.Metric)
	c.times = append(c.times, time.UnixMicro(p.Time).UTC())
	c.values = append(c.values, p.Value)
}

func newBatchWriter(horizon time.Duration, batchRows int) *batchWriter {
	return &batchWriter{horizon: horizon, batchRows: batchRows}
}

// keepFactor: buffers for up to this many usual batches are kept between
// batches. One request may hold a whole queue (25 batches by default);
// keeping its buffers would hold that memory for good, per writer.
const keepFactor = 2

// shrink lets go of buffers grown past keepFactor usual batches, so one
// outsized batch does not pin its memory.
func (w *batchWriter) shrink() {
	keep := keepFactor * max(w.batchRows, 1)
	if cap(w.points) > keep {
		w.points = nil
	}
	if w.copyBuf.Cap() > keep*rowBytes+32 {
		w.copyBuf = bytes.Buffer{}
	}
	for _, c := range []*seriesColumns{&w.latest, &w.invalid} {
		if cap(c.sources) > keep {
			*c = seriesColumns{}
		}
	}
}

// collect gathers the submissions' points in key order, keeping only the
// last point of each (source, metric, time) in submission order, and
// encodes them for COPY. It returns the number of rows to write.
func (w *batchWriter) collect(subs []*submission) int {
	w.points = w.points[:0]
	for _, s := range subs {
		w.points = append(w.points, s.points...)
	}
	if w.hook != nil {
		for _, p := range w.points {
			w.hook("writer", p)
		}
	}
	// Arrival order breaks ties, so among equal keys the later one sorts
	// last (an unstable sort with a tie-breaker beats a stable sort).
	for i := range w.points {
		w.points[i].seq = int32(i)
	}
	slices.SortFunc(w.points, func(a, b Point) int {
		if c := cmp.Compare(a.SourceID, b.SourceID); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Metric, b.Metric); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Time, b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	kept := w.points[:0]
	for i, p := range w.points {
		if i+1 < len(w.points) && sameKey(p, w.points[i+1]) {
			continue // a later value for the same key wins
		}
		kept = append(kept, p)
	}
	w.points = kept

	cutoff := time.Now().Add(-w.horizon).UnixMicro()
	w.latest.reset()
	w.invalid.reset()
	for i, p := range w.points {
		if i == 0 || !sameSeries(p, w.points[i-1]) {
			if p.Time < cutoff {
				w.invalid.add(p)
			}
		}
		if i+1 == len(w.points) || !sameSeries(p, w.points[i+1]) {
			w.latest.add(p)
		}
	}
	w.encodeCopy()
	return len(w.points)
}

func sameSeries(a, b Point) bool { return a.SourceID == b.SourceID && a.Metric == b.Metric }
func sameKey(a, b Point) bool    { return sameSeries(a, b) && a.Time == b.Time }

// postgresEpochMicros is 2000-01-01 in Unix microseconds: binary COPY counts
// timestamps from there.
const postgresEpochMicros = 946_684_800_000_000

// rowBytes is one row in binary COPY: a field count, then length and value
// of time (8), source_id (8), metric (2) and value (8).
const rowBytes = 2 + 4 + 8 + 4 + 8 + 4 + 2 + 4 + 8

// encodeCopy writes the points in PostgreSQL's binary COPY format for
// (time, source_id, metric, value): no text formatting and no boxing of
// values into interfaces.
func (w *batchWriter) encodeCopy() {
	b := &w.copyBuf
	b.Reset()
	b.Grow(19 + len(w.points)*rowBytes + 2)
	b.WriteString("PGCOPY\n\xff\r\n\x00")
	var scratch [rowBytes]byte
	b.Write(scratch[:8]) // flags and header extension length: zero
	for _, p := range w.points {
		r := scratch[:0]
		r = binary.BigEndian.AppendUint16(r, 4)
		r = binary.BigEndian.AppendUint32(r, 8)
		r = binary.BigEndian.AppendUint64(r, uint64(p.Time-postgresEpochMicros))
		r = binary.BigEndian.AppendUint32(r, 8)
		r = binary.BigEndian.AppendUint64(r, uint64(p.SourceID))
		r = binary.BigEndian.AppendUint32(r, 2)
		r = binary.BigEndian.AppendUint16(r, uint16(p.Metric))
		r = binary.BigEndian.AppendUint32(r, 8)
		r = binary.BigEndian.AppendUint64(r, math.Float64bits(p.Value))
		b.Write(r)
	}
	b.Write([]byte{0xff, 0xff})
}

const (
	copyReadings = `COPY readings (time, source_id, metric, value) FROM STDIN (FORMAT binary)`
	copyStaging  = `COPY readings_staging (time, source_id, metric, value) FROM STDIN (FORMAT binary)`
	// The staging table lives as long as the connection and empties at
	// every commit.
	createStaging = `CREATE TEMP TABLE IF NOT EXISTS readings_staging
		(LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`
	mergeStaging = `INSERT INTO readings (time, source_id, metric, value)
		SELECT time, source_id, metric, value FROM readings_staging
		ON CONFLICT (source_id, metric, time) DO UPDATE SET value = EXCLUDED.value`
	// latest_readings only moves forward in time; a correction of the
	// newest reading (same time) replaces its value.
	upsertLatest = `INSERT INTO latest_readings (source_id, metric, time, value)
		SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::timestamptz[], $4::float8[])
		ON CONFLICT (source_id, metric) DO UPDATE SET time = EXCLUDED.time, value = EXCLUDED.value
		WHERE EXCLUDED.time >= latest_readings.time`
	upsertInvalidations = `INSERT INTO rollup_invalidations (source_id, metric, earliest)
		SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::timestamptz[])
		ON CONFLICT (source_id, metric) DO UPDATE
		SET earliest = EXCLUDED.earliest, updated_at = now()
		WHERE EXCLUDED.earliest < rollup_invalidations.earliest`
)

// write writes the collected batch in one transaction. The common case —
// fresh rows — is one COPY straight into readings; when the batch overlaps
// stored rows (a retry, a correction), the COPY fails on the unique index,
// is rolled back to a savepoint, and the batch is merged through a staging
// table instead. merged reports which path was taken.
func (w *batchWriter) write(ctx context.Context, pool *pgxpool.Pool) (merged bool, err error) {
	if len(w.points) == 0 {
		return false, nil
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		conn := tx.Conn().PgConn()
		if _, err := tx.Exec(ctx, "SAVEPOINT fresh"); err != nil {
			return err
		}
		_, err := conn.CopyFrom(ctx, bytes.NewReader(w.copyBuf.Bytes()), copyReadings)
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == "23505":
			merged = true
			if err := w.merge(ctx, tx); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT fresh"); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, upsertLatest, w.latest.sources, w.latest.metrics, w.latest.times, w.latest.values); err != nil {
			return err
		}
		if len(w.invalid.sources) > 0 {
			if _, err := tx.Exec(ctx, upsertInvalidations, w.invalid.sources, w.invalid.metrics, w.invalid.times); err != nil {
				return err
			}
		}
		return nil
	})
	return merged, err
}

func (w *batchWriter) merge(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT fresh"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, createStaging); err != nil {
		return err
	}
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(w.copyBuf.Bytes()), copyStaging); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, mergeStaging)
	return err
}

// retryable reports whether a failed batch may succeed if written again:
// lost connections, deadlocks, serialization failures, server restarts.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "40001", pgErr.Code == "40P01", pgErr.Code == "53300":
			return true
		case pgErr.Code[:2] == "08", pgErr.Code[:2] == "57":
			return true
		}
		return false
	}
	var netErr net.Error
	return pgconn.SafeToRetry(err) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded)
}
