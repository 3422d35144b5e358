package rollups

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// now is the fixed clock of these tests; data spans the three days before.
var now = time.Date(2026, 3, 10, 12, 7, 0, 0, time.UTC)

func newRunner(pool *pgxpool.Pool) *Runner {
	r := NewRunner(pool, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(nil))
	r.Now = func() time.Time { return now }
	return r
}

type sample struct {
	Series
	at time.Time
	v  float64
}

// insertRandom writes random series for a few sources and metrics.
func insertRandom(t *testing.T, pool *pgxpool.Pool, rng *rand.Rand, from, to time.Time, sources int) []sample {
	t.Helper()
	var out []sample
	for src := int64(1); src <= int64(sources); src++ {
		for _, metric := range []int16{1, 3} {
			times, values := randomSeries(rng, 2000, from.UnixMicro())
			for i := range times {
				at := time.UnixMicro(times[i]).UTC()
				if !at.Before(to) {
					break
				}
				out = append(out, sample{Series{src, metric}, at, values[i]})
			}
		}
	}
	insert(t, pool, out)
	return out
}

func insert(t *testing.T, pool *pgxpool.Pool, rows []sample) {
	t.Helper()
	_, err := pool.CopyFrom(context.Background(), pgx.Identifier{"readings"}, []string{"time", "source_id", "metric", "value"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			return []any{rows[i].at, rows[i].SourceID, rows[i].Metric, rows[i].v}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
}

// refreshAll refreshes every tier. A session cancelled mid-job holds its
// lock until the server notices the closed connection, so a busy lock is
// retried for a few seconds.
func refreshAll(t *testing.T, r *Runner) {
	t.Helper()
	for _, tier := range Tiers {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := r.Refresh(context.Background(), tier)
			if isBusy(err) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if err != nil {
				t.Fatalf("refresh %s: %v", tier.Name, err)
			}
			break
		}
	}
}

// checkTiers compares every tier row before its watermark with the summary
// of the raw samples in its bucket, and asserts nothing lies beyond it.
func checkTiers(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	for _, tier := range Tiers {
		wm, found, err := watermark(ctx, pool, tier)
		if err != nil || !found {
			t.Fatalf("watermark of %s: %v %v", tier.Name, found, err)
		}
		want := map[Series]map[time.Time]Summary{}
		err = ReadRaw(ctx, pool, time.Unix(0, 0), wm, nil, func(s Series, at time.Time, v float64) {
			if want[s] == nil {
				want[s] = map[time.Time]Summary{}
			}
			b := tier.Floor(at)
			want[s][b] = want[s][b].Append(Point(at.UnixMicro(), v))
		})
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		err = ReadTier(ctx, pool, tier, time.Unix(0, 0), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), nil, func(r Row) {
			got++
			if !r.Bucket.Before(wm) {
				t.Errorf("%s: bucket %s at or past the watermark %s", tier.Name, r.Bucket, wm)
			}
			if w := want[r.Series][r.Bucket]; !sameSummary(r.Summary, w) {
				t.Errorf("%s %v %s:\n got %+v\nwant %+v", tier.Name, r.Series, r.Bucket, r.Summary, w)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range want {
			n += len(m)
		}
		if got != n {
			t.Errorf("%s: %d rows, want %d", tier.Name, got, n)
		}
	}
}

func TestRefreshMatchesRaw(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	rng := rand.New(rand.NewPCG(3, 4))
	insertRandom(t, pool, rng, now.Add(-72*time.Hour), now, 3)
	r := newRunner(pool)
	refreshAll(t, r)
	checkTiers(t, pool)

	wm, _, _ := watermark(context.Background(), pool, Tiers[0])
	if want := Tiers[0].Floor(now.Add(-15 * time.Minute)); !wm.Equal(want) {
		t.Fatalf("15m watermark %s, want now - lateness floored: %s", wm, want)
	}
	written := r.Buckets.Load()
	refreshAll(t, r) // nothing new: nothing rewritten
	if r.Buckets.Load() != written {
		t.Fatalf("a second refresh rewrote %d buckets", r.Buckets.Load()-written)
	}
}

func TestLateDataIsReaggregated(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	rng := rand.New(rand.NewPCG(5, 6))
	insertRandom(t, pool, rng, now.Add(-72*time.Hour), now.Add(-48*time.Hour), 2)
	r := newRunner(pool)
	refreshAll(t, r)

	// Late rows, as ingest writes them: readings plus an invalidation.
	late := []sample{
		{Series{1, 1}, now.Add(-60*time.Hour + 30*time.Second), 5}, // a reset inside a bucket
		{Series{9, 3}, now.Add(-50 * time.Hour), 42},               // a series new to the tiers
	}
	insert(t, pool, late)
	for _, s := range late {
		if _, err := pool.Exec(context.Background(), `INSERT INTO rollup_invalidations (source_id, metric, earliest) VALUES ($1, $2, $3)`,
			s.SourceID, s.Metric, s.at); err != nil {
			t.Fatal(err)
		}
	}
	n, err := r.ApplyInvalidations(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("applied %d invalidations, err %v; want 2", n, err)
	}
	checkTiers(t, pool)
	var left int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM rollup_invalidations`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d invalidations left (err %v)", left, err)
	}
}

// TestThreeSchedulers runs three runners against one database at once:
// every bucket is computed exactly once.
func TestThreeSchedulers(t *testing.T) {
	if dbtest.SchemaIsolation() {
		t.Skip("the schema-isolated server takes one connection at a time")
	}
	t.Parallel()
	pool := dbtest.New(t)
	rng := rand.New(rand.NewPCG(7, 8))
	insertRandom(t, pool, rng, now.Add(-72*time.Hour), now, 2)
	runners := []*Runner{newRunner(pool), newRunner(pool), newRunner(pool)}
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				for _, tier := range Tiers {
					if err := r.Refresh(context.Background(), tier); err != nil && !isBusy(err) {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	refreshAll(t, runners[0]) // whatever a busy tick skipped
	var total int64
	for _, r := range runners {
		total += r.Buckets.Load()
	}
	var rows int64
	for _, tier := range Tiers {
		var n int64
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+tier.Table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		rows += n
	}
	if total != rows {
		t.Fatalf("the runners wrote %d buckets for %d tier rows: some bucket was computed twice", total, rows)
	}
	// The metric replicas are summed by: the spans the runners refreshed
	// add up to each watermark's advance from its start, the oldest data.
	var oldest time.Time
	if err := pool.QueryRow(context.Background(), "SELECT min(time) FROM readings").Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	for _, tier := range Tiers {
		wm, _, err := watermark(context.Background(), pool, tier)
		if err != nil {
			t.Fatal(err)
		}
		var spans float64
		for _, r := range runners {
			spans += testutil.ToFloat64(r.metrics.refreshed.WithLabelValues(tier.Name))
		}
		if want := wm.Sub(tier.Floor(oldest)).Seconds(); spans != want {
			t.Errorf("%s: the runners refreshed %v s in all, the watermark advanced %v s", tier.Name, spans, want)
		}
	}
	checkTiers(t, pool)
}

// TestCrashMidRefresh cancels a refresh part way: the tiers stay consistent
// with their watermarks, and the next run completes them.
func TestCrashMidRefresh(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	rng := rand.New(rand.NewPCG(9, 10))
	insertRandom(t, pool, rng, now.Add(-72*time.Hour), now, 4)
	r := newRunner(pool)
	for _, delay := range []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 60 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), delay)
		for _, tier := range Tiers {
			_ = r.Refresh(ctx, tier) // interrupted somewhere, or not at all
		}
		cancel()
		if _, found, _ := watermark(context.Background(), pool, Tiers[2]); found {
			checkTiers(t, pool)
		}
	}
	refreshAll(t, r)
	checkTiers(t, pool)
}

func TestRetention(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	old := []sample{}
	for i := range 25 {
		old = append(old, sample{Series{1, 1}, now.Add(-100*24*time.Hour + time.Duration(i)*time.Minute), float64(i)})
	}
	fresh := []sample{{Series{1, 1}, now.Add(-time.Hour), 1}}
	insert(t, pool, append(old, fresh...))
	r := NewRunner(pool, Config{DeleteBatch: 10}, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(nil))
	r.Now = func() time.Time { return now }
	n, err := r.EnforceRetention(context.Background())
	if err != nil || n != 25 {
		t.Fatalf("deleted %d rows (err %v), want the 25 older than 90 days", n, err)
	}
	var left int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM readings").Scan(&left); err != nil || left != 1 {
		t.Fatalf("%d rows left, want 1", left)
	}
}

func TestBackfillRebuildsAndResumes(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	rng := rand.New(rand.NewPCG(11, 12))
	insertRandom(t, pool, rng, now.Add(-72*time.Hour), now, 2)
	r := newRunner(pool)
	refreshAll(t, r)

	// Rows written behind the rollups' back (a bulk import without
	// invalidations): only a backfill repairs the tiers.
	insert(t, pool, []sample{{Series{1, 1}, now.Add(-70*time.Hour + time.Second), 1e6}})
	from, to := now.Add(-71*time.Hour), now.Add(-69*time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	var calls []int
	err := r.Backfill(ctx, from, to, func(done, total int) {
		calls = append(calls, done)
		if done == 1 {
			cancel() // stop after the first chunk
		}
	})
	if err == nil {
		t.Fatal("backfill ran on after its context was cancelled")
	}
	var resumedAt int
	if err := r.Backfill(context.Background(), from, to, func(done, total int) {
		if resumedAt == 0 {
			resumedAt = done
		}
	}); err != nil {
		t.Fatal(err)
	}
	if resumedAt < 1 {
		t.Fatalf("the second run started at %d chunks done, want it to resume after the first", resumedAt)
	}
	checkTiers(t, pool)
}
