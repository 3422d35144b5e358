package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gridmetrics/gridmetrics/recovery"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// newTestPipeline starts a pipeline on a fresh database and closes it at the
// end of the test.
func newTestPipeline(t *testing.T, pool *pgxpool.Pool, cfg PipelineConfig) *Pipeline {
	t.Helper()
	if dbtest.SchemaIsolation() {
		cfg.Writers = 1 // the harness has one connection
	}
	p := NewPipeline(pool, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(nil), nil)
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("close pipeline: %v", err)
		}
	})
	return p
}

func submitAndWait(t *testing.T, p *Pipeline, points ...Point) {
	t.Helper()
	done, err := p.Submit(points)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write: %v", err)
	}
}

type storedReading struct {
	source int64
	metric int16
	time   time.Time
	value  float64
}

func readAll(t *testing.T, pool *pgxpool.Pool, table string) []storedReading {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT source_id, metric, time, value FROM "+table+" ORDER BY 1, 2, 3")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedReading
	for rows.Next() {
		var r storedReading
		if err := rows.Scan(&r.source, &r.metric, &r.time, &r.value); err != nil {
			t.Fatal(err)
		}
		r.time = r.time.UTC()
		out = append(out, r)
	}
	return out
}

var t0 = time.Now().Add(-time.Minute).Truncate(time.Second).UTC()

func pt(source int64, metric int16, at time.Time, v float64) Point {
	return Point{SourceID: source, Metric: metric, Time: at.UnixMicro(), Value: v}
}

func TestPipelineWritesAndDeduplicates(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	p := newTestPipeline(t, pool, PipelineConfig{})

	// Within one batch the last value of a key wins.
	submitAndWait(t, p, pt(1, 3, t0, 10), pt(1, 3, t0.Add(time.Second), 11), pt(1, 3, t0, 12), pt(2, 1, t0, 5))
	want := []storedReading{{1, 3, t0, 12}, {1, 3, t0.Add(time.Second), 11}, {2, 1, t0, 5}}
	assertReadings(t, readAll(t, pool, "readings"), want)

	// A retry and a correction take the merge path and leave one row per key.
	submitAndWait(t, p, pt(1, 3, t0, 12), pt(1, 3, t0.Add(time.Second), 99), pt(1, 3, t0.Add(2*time.Second), 13))
	want = []storedReading{{1, 3, t0, 12}, {1, 3, t0.Add(time.Second), 99}, {1, 3, t0.Add(2 * time.Second), 13}, {2, 1, t0, 5}}
	assertReadings(t, readAll(t, pool, "readings"), want)
}

func TestPipelineLatestOnlyMovesForward(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	p := newTestPipeline(t, pool, PipelineConfig{})

	submitAndWait(t, p, pt(1, 3, t0, 1), pt(1, 3, t0.Add(2*time.Second), 2))
	submitAndWait(t, p, pt(1, 3, t0.Add(time.Second), 3)) // out of order: not newer
	assertReadings(t, readAll(t, pool, "latest_readings"), []storedReading{{1, 3, t0.Add(2 * time.Second), 2}})
	submitAndWait(t, p, pt(1, 3, t0.Add(2*time.Second), 4)) // a correction of the newest
	assertReadings(t, readAll(t, pool, "latest_readings"), []storedReading{{1, 3, t0.Add(2 * time.Second), 4}})
}

func TestPipelineRecordsLateData(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	p := newTestPipeline(t, pool, PipelineConfig{InvalidationHorizon: time.Hour})

	old := time.Now().Add(-3 * time.Hour).Truncate(time.Second).UTC()
	submitAndWait(t, p, pt(1, 1, old.Add(time.Minute), 1), pt(1, 1, old.Add(2*time.Minute), 2), pt(2, 1, t0, 3))
	submitAndWait(t, p, pt(1, 1, old, 0))
	var n int
	var earliest time.Time
	err := pool.QueryRow(context.Background(), "SELECT count(*), min(earliest) FROM rollup_invalidations").Scan(&n, &earliest)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || !earliest.Equal(old) {
		t.Fatalf("invalidations: %d rows, earliest %s; want 1 row from %s", n, earliest, old)
	}
}

func TestPipelineOverload(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	p := newTestPipeline(t, pool, PipelineConfig{QueueRows: 10, Linger: 200 * time.Millisecond})

	first, err := p.Submit(make([]Point, 8))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Submit(make([]Point, 5)); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("submit past the queue: err = %v, want ErrOverloaded", err)
	}
	if got := p.Queued(); got != 8 {
		t.Fatalf("queued %d rows, want 8: a refused submission must not count", got)
	}
	<-first
	if _, err := p.Submit(make([]Point, 5)); err != nil {
		t.Fatalf("submit after the queue drained: %v", err)
	}
}

func TestPipelineCloseDrains(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	cfg := PipelineConfig{Linger: 50 * time.Millisecond, BatchRows: 7}
	if dbtest.SchemaIsolation() {
		cfg.Writers = 1
	}
	p := NewPipeline(pool, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(nil), nil)

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		done, err := p.Submit([]Point{pt(1, 1, t0.Add(time.Duration(i)*time.Second), float64(i))})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs <- <-done }()
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a queued submission failed: %v", err)
		}
	}
	if n := len(readAll(t, pool, "readings")); n != 100 {
		t.Fatalf("%d readings after close, want 100", n)
	}
	if _, err := p.Submit([]Point{pt(1, 1, t0, 1)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit after close: %v, want ErrClosed", err)
	}
}

func assertReadings(t *testing.T, got, want []storedReading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range got {
		if got[i].source != want[i].source || got[i].metric != want[i].metric || !got[i].time.Equal(want[i].time) || got[i].value != want[i].value {
			t.Fatalf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestPipelineRefusesSubmissionLargerThanQueue(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	p := newTestPipeline(t, pool, PipelineConfig{QueueRows: 10})

	// Refused even with the queue empty: it could never be let in.
	if _, err := p.Submit(make([]Point, 11)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("submit of 11 rows to a queue of 10: err = %v, want ErrTooLarge", err)
	}
	if got := p.Queued(); got != 0 {
		t.Fatalf("queued %d rows after a refused submission, want 0", got)
	}
	points := make([]Point, 10)
	for i := range points {
		points[i] = pt(1, 1, t0.Add(time.Duration(i)*time.Second), float64(i))
	}
	submitAndWait(t, p, points...)
}

// TestPipelineSurvivesPanics checks that a panic while batching or writing
// fails the submissions of its batch alone, is counted, and leaves the
// pipeline working.
func TestPipelineSurvivesPanics(t *testing.T) {
	t.Parallel()
	const poison = 666.0
	for _, where := range []string{"batcher", "writer"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.New(t)
			cfg := PipelineConfig{hook: func(at string, p Point) {
				if at == where && p.Value == poison {
					panic("poison row")
				}
			}}
			p := newTestPipeline(t, pool, cfg)
			label := "ingest_" + where
			before := testutil.ToFloat64(recovery.Panics.WithLabelValues(label))

			done, err := p.Submit([]Point{pt(1, 1, t0, 1), pt(1, 1, t0.Add(time.Second), poison)})
			if err != nil {
				t.Fatal(err)
			}
			var pe *recovery.PanicError
			if err := <-done; !errors.As(err, &pe) || pe.Where != label {
				t.Fatalf("the poisoned submission got %v, want a *recovery.PanicError from %s", err, label)
			}
			if got := testutil.ToFloat64(recovery.Panics.WithLabelValues(label)) - before; got < 1 {
				t.Fatalf("%s panics counted: %v, want at least 1", label, got)
			}
			if got := p.Queued(); got != 0 {
				t.Fatalf("queued %d rows after the failed batch, want 0", got)
			}
			submitAndWait(t, p, pt(1, 1, t0.Add(2*time.Second), 2))
			assertReadings(t, readAll(t, pool, "readings"), []storedReading{{1, 1, t0.Add(2 * time.Second), 2}})
		})
	}
}

// TestBatchWriterShrinks checks that the buffers grown for an outsized
// batch are let go, and those of usual batches kept.
func TestBatchWriterShrinks(t *testing.T) {
	t.Parallel()
	w := newBatchWriter(time.Hour, 100)
	batch := func(n int) []*submission {
		points := make([]Point, n)
		for i := range points {
			points[i] = pt(int64(i), 1, t0, 1)
		}
		return []*submission{{points: points}}
	}
	w.collect(batch(100))
	w.shrink()
	if cap(w.points) < 100 || w.copyBuf.Cap() < 100*rowBytes {
		t.Fatalf("after a usual batch: capacities %d points, %d bytes; want them kept", cap(w.points), w.copyBuf.Cap())
	}
	w.collect(batch(10_000))
	w.shrink()
	if limit := keepFactor * 100; cap(w.points) > limit || w.copyBuf.Cap() > limit*rowBytes+32 ||
		cap(w.latest.sources) > limit || cap(w.latest.times) > limit {
		t.Fatalf("after a batch of 10 000: capacities %d points, %d bytes, %d latest; want at most %d rows' worth",
			cap(w.points), w.copyBuf.Cap(), cap(w.latest.sources), limit)
	}
	if n := w.collect(batch(50)); n != 50 {
		t.Fatalf("the writer collected %d rows after shrinking, want 50", n)
	}
}

// TestPipelineWriteTimeout checks that a write stuck without an error (here
// behind a lock that is never released) fails its attempt at the write
// timeout, so the requests in the batch are answered and the writer is free
// again, rather than waiting as long as the lock is held.
func TestPipelineWriteTimeout(t *testing.T) {
	if dbtest.SchemaIsolation() {
		t.Skip("needs a second connection to hold the lock; the harness has one")
	}
	t.Parallel()
	pool := dbtest.New(t)
	ctx := context.Background()
	locker, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Rollback(ctx)
	if _, err := locker.Exec(ctx, "LOCK TABLE readings IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	p := newTestPipeline(t, pool, PipelineConfig{WriteTimeout: 200 * time.Millisecond, Writers: 1})
	done, err := p.Submit([]Point{pt(1, 1, t0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("write behind a held lock: err = %v, want a deadline error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("write behind a held lock was not answered within 20s; the write timeout is 200ms")
	}
	// Released, the next write goes through.
	if err := locker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	submitAndWait(t, p, pt(1, 1, t0, 2))
}
