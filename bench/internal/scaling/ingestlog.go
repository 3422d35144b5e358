package scaling

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/ingestlog"
	"github.com/gridmetrics/gridmetrics/ingestlog/natstest"
	"github.com/gridmetrics/gridmetrics/schema"
)

// LogConfig is what MeasureLog writes, and where.
type LogConfig struct {
	// DatabaseURL is the PostgreSQL server the run's database is created
	// on; empty: the test cluster of scripts/pg.sh test.
	DatabaseURL string
	// Rows is what each throughput phase writes (default 200,000).
	Rows int
	// Batch is rows per submission, one request (default 500).
	Batch int
	// Clients is submissions in flight at once (default 8).
	Clients int
	// Rate is submissions per second of the paced lag phase (default 100),
	// each of 10 rows.
	Rate int
	// LagDuration is the length of the paced lag phase (default 5 s).
	LagDuration time.Duration
	// Keep keeps the run's database.
	Keep bool
	// Progress receives a line per phase; nil: os.Stderr.
	Progress io.Writer
}

// DefaultLogConfig is the configuration of make bench-ingestlog.
func DefaultLogConfig() LogConfig {
	return LogConfig{Rows: 200_000, Batch: 500, Clients: 8, Rate: 100, LagDuration: 5 * time.Second}
}

// Flags registers the configuration's flags on fs, each name after
// prefix, with the configuration's values as defaults.
func (c *LogConfig) Flags(fs *flag.FlagSet, prefix string) {
	fs.IntVar(&c.Rows, prefix+"rows", c.Rows, "rows each throughput phase writes (direct, then through the log)")
	fs.IntVar(&c.Batch, prefix+"batch", c.Batch, "rows per submission (one request)")
	fs.IntVar(&c.Clients, prefix+"clients", c.Clients, "submissions in flight at once")
	fs.IntVar(&c.Rate, prefix+"rate", c.Rate, "submissions per second of the paced lag phase")
	fs.DurationVar(&c.LagDuration, prefix+"lag-duration", c.LagDuration, "length of the paced lag phase")
}

// LogResult is what MeasureLog measured.
type LogResult struct {
	// DirectRowsS is rows per second acknowledged at commit, without the
	// log; LogRowsS through the log, from the first submission until every
	// row is committed.
	DirectRowsS, LogRowsS float64
	// AckP50 and AckP99 are the paced phase's times to acknowledgement by
	// the stream; LagP50 and LagP99 its times from a message's storing in
	// the stream to the commit of its rows (until queryable).
	AckP50, AckP99, LagP50, LagP99 time.Duration
}

// MeasureLog measures the durable ingest log against direct ingest, in
// one run: rows per second through the write pipeline alone, and through
// a three-node NATS cluster (R3 stream) with a consumer feeding the same
// pipeline; then, at a paced rate, the lag from a message's storing in the
// stream to the commit of its rows. It creates a fresh database and starts
// its own cluster (nats-server from scripts/nats.sh install).
func MeasureLog(ctx context.Context, cfg LogConfig) (LogResult, error) {
	var r LogResult
	if cfg.Clients < 1 || cfg.Batch < 1 || cfg.Rate < 1 || cfg.Rows/cfg.Clients/cfg.Batch == 0 {
		return r, fmt.Errorf("need at least one submission of %d rows per client, a positive rate and clients; got %d rows, %d clients, rate %d",
			cfg.Batch, cfg.Rows, cfg.Clients, cfg.Rate)
	}
	server := cfg.DatabaseURL
	if server == "" {
		root, err := benchutil.RepoRoot()
		if err != nil {
			return r, err
		}
		if server, err = benchutil.TestClusterURL(ctx, root); err != nil {
			return r, err
		}
	}
	dbURL, drop, err := benchutil.FreshDatabase(ctx, server, "ingestlog", cfg.Keep)
	if err != nil {
		return r, err
	}
	defer drop()
	pool, err := benchutil.OpenPool(ctx, dbURL, 6)
	if err != nil {
		return r, err
	}
	defer pool.Close()
	if _, err := schema.Migrate(ctx, pool, schema.Options{}); err != nil {
		return r, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// Direct: the front ends' path without the log.
	direct := ingest.NewPipeline(pool, ingest.PipelineConfig{}, quiet, ingest.NewMetrics(nil), nil)
	if r.DirectRowsS, err = throughput(direct, cfg, 1, nil); err != nil {
		return r, fmt.Errorf("direct: %w", err)
	}
	if err := direct.Close(ctx); err != nil {
		return r, err
	}
	progress(cfg.Progress, "direct: %.0f rows/s", r.DirectRowsS)

	dir, err := os.MkdirTemp("", "bench-ingestlog-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	cluster, err := natstest.Launch(dir, 3)
	if err != nil {
		return r, err
	}
	defer cluster.Close()
	l, err := ingestlog.Open(ctx, ingestlog.Config{URLs: cluster.URLs(), Replicas: 3}, quiet, ingestlog.NewMetrics(nil))
	if err != nil {
		return r, err
	}
	writer := ingest.NewPipeline(pool, ingest.PipelineConfig{}, quiet, ingest.NewMetrics(nil), nil)
	var committed atomic.Int64
	var lagMu sync.Mutex
	var lags []time.Duration
	recordLag := atomic.Bool{}
	if _, err := l.StartConsumer(writer, ingestlog.ConsumerOptions{OnCommit: func(stored time.Time, rows int) {
		if recordLag.Load() {
			lagMu.Lock()
			lags = append(lags, time.Since(stored))
			lagMu.Unlock()
		}
		committed.Add(int64(rows))
	}}); err != nil {
		return r, err
	}
	// With the log: from the first submission until every row is committed.
	written := int64(cfg.Rows / cfg.Clients / cfg.Batch * cfg.Clients * cfg.Batch)
	if r.LogRowsS, err = throughput(l, cfg, 1_000_000, func() bool { return committed.Load() >= written }); err != nil {
		return r, fmt.Errorf("log: %w", err)
	}
	progress(cfg.Progress, "log: %.0f rows/s (acknowledged and committed)", r.LogRowsS)

	// Paced: the lag of a log that keeps up.
	recordLag.Store(true)
	acks, err := paced(l, cfg, 2_000_000)
	if err != nil {
		return r, fmt.Errorf("paced: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	recordLag.Store(false)
	closeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := l.Close(closeCtx); err != nil {
		return r, err
	}
	if err := writer.Close(closeCtx); err != nil {
		return r, err
	}
	// Each throughput phase writes whole submissions of every client.
	if err := checkRows(ctx, pool, 2*written); err != nil {
		return r, err
	}
	lagMu.Lock()
	slices.Sort(lags)
	lagMu.Unlock()
	slices.Sort(acks)
	p := benchutil.Percentile
	r.AckP50, r.AckP99, r.LagP50, r.LagP99 = p(acks, 0.5), p(acks, 0.99), p(lags, 0.5), p(lags, 0.99)
	progress(cfg.Progress, "log lag until queryable: p50 %v, p99 %v", r.LagP50, r.LagP99)
	return r, nil
}

// submission is batch rows of source base+client, a second apart, unique
// across the run.
func submission(base int64, client, seq, batch int) []ingest.Point {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Hour).UnixMicro()
	out := make([]ingest.Point, batch)
	for i := range out {
		out[i] = ingest.Point{SourceID: base + int64(client), Metric: 1,
			Time: t0 + int64(seq*batch+i)*1000, Value: float64(i)}
	}
	return out
}

// throughput writes cfg.Rows through s from cfg.Clients clients and
// returns rows per second until done reports every row written (nil: until
// every submission is answered).
func throughput(s ingest.Submitter, cfg LogConfig, base int64, done func() bool) (float64, error) {
	per := cfg.Rows / cfg.Clients / cfg.Batch
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Clients)
	for c := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := submitWait(s, submission(base, c, i, cfg.Batch)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	if done != nil {
		deadline := time.Now().Add(5 * time.Minute)
		for !done() {
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("rows not all written within 5 minutes")
			}
			time.Sleep(time.Millisecond)
		}
	}
	return float64(per*cfg.Clients*cfg.Batch) / time.Since(start).Seconds(), nil
}

func submitWait(s ingest.Submitter, points []ingest.Point) error {
	for {
		done, err := s.Submit(points)
		if err == ingest.ErrOverloaded {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		return <-done
	}
}

// paced submits cfg.Rate submissions a second for cfg.LagDuration,
// waiting for none, and returns each one's time to acknowledgement.
func paced(s ingest.Submitter, cfg LogConfig, base int64) ([]time.Duration, error) {
	tick := time.NewTicker(time.Second / time.Duration(cfg.Rate))
	defer tick.Stop()
	var mu sync.Mutex
	var acks []time.Duration
	var wg sync.WaitGroup
	var failed atomic.Value
	end := time.Now().Add(cfg.LagDuration)
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			if err := submitWait(s, submission(base, 0, i, 10)); err != nil {
				failed.Store(err)
				return
			}
			mu.Lock()
			acks = append(acks, time.Since(began))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return nil, err
	}
	return acks, nil
}

// checkRows checks that the throughput phases left exactly their rows.
func checkRows(ctx context.Context, pool *pgxpool.Pool, want int64) error {
	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM readings WHERE source_id < 2000000`).Scan(&n); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%d rows stored by the throughput phases, want %d", n, want)
	}
	return nil
}
