// Command ingestlog measures the durable ingest log against direct ingest,
// in one run on one machine: rows per second through the write pipeline
// alone, and through a three-node NATS cluster (R3 stream) with a consumer
// feeding the same pipeline; then, at a paced rate, the lag from a
// message's storing in the stream to the commit of its rows (the time
// until queryable).
//
// It creates a fresh database on the server (scripts/pg.sh test unless
// --database-url is given) and starts its own cluster (ingestlog/natstest,
// nats-server from scripts/nats.sh install). It ends with one line of
// key=value pairs:
//
//	direct_rows_s=… log_rows_s=… log_ratio=… log_ack_p50_ms=… log_ack_p99_ms=… log_lag_p50_ms=… log_lag_p99_ms=…
package main

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

type config struct {
	databaseURL string
	rows        int
	batch       int
	clients     int
	rate        int
	paced       time.Duration
	keep        bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL server to create the benchmark database on (default: the test cluster of scripts/pg.sh test)")
	flag.IntVar(&cfg.rows, "rows", 200_000, "rows each throughput phase writes")
	flag.IntVar(&cfg.batch, "batch", 500, "rows per submission (one request)")
	flag.IntVar(&cfg.clients, "clients", 8, "submissions in flight at once")
	flag.IntVar(&cfg.rate, "rate", 100, "submissions per second of the paced lag phase")
	flag.DurationVar(&cfg.paced, "lag-duration", 5*time.Second, "length of the paced lag phase")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the benchmark database")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "ingestlog bench:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	ctx := context.Background()
	root, err := benchutil.RepoRoot()
	if err != nil {
		return err
	}
	server := cfg.databaseURL
	if server == "" {
		if server, err = benchutil.TestClusterURL(ctx, root); err != nil {
			return err
		}
	}
	dbURL, drop, err := benchutil.FreshDatabase(ctx, server, "ingestlog", cfg.keep)
	if err != nil {
		return err
	}
	defer drop()
	pool, err := benchutil.OpenPool(ctx, dbURL, 6)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := schema.Migrate(ctx, pool, schema.Options{}); err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// Direct: the front ends' path without the log.
	direct := ingest.NewPipeline(pool, ingest.PipelineConfig{}, quiet, ingest.NewMetrics(nil), nil)
	directRate, _, err := throughput(direct, cfg, 1, nil)
	if err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	if err := direct.Close(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "direct: %.0f rows/s\n", directRate)

	dir, err := os.MkdirTemp("", "bench-ingestlog-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cluster, err := natstest.Launch(dir, 3)
	if err != nil {
		return err
	}
	defer cluster.Close()
	l, err := ingestlog.Open(ctx, ingestlog.Config{URLs: cluster.URLs(), Replicas: 3}, quiet, ingestlog.NewMetrics(nil))
	if err != nil {
		return err
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
		return err
	}
	// With the log: from the first submission until every row is committed.
	written := int64(cfg.rows / cfg.clients / cfg.batch * cfg.clients * cfg.batch)
	logRate, _, err := throughput(l, cfg, 1_000_000, func() bool { return committed.Load() >= written })
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	fmt.Fprintf(os.Stderr, "log: %.0f rows/s (acknowledged and committed)\n", logRate)

	// Paced: the lag of a log that keeps up.
	recordLag.Store(true)
	acks, err := paced(l, cfg, 2_000_000)
	if err != nil {
		return fmt.Errorf("paced: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	recordLag.Store(false)
	closeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := l.Close(closeCtx); err != nil {
		return err
	}
	if err := writer.Close(closeCtx); err != nil {
		return err
	}
	// Each throughput phase writes whole submissions of every client.
	if err := checkRows(ctx, pool, 2*written); err != nil {
		return err
	}
	lagMu.Lock()
	slices.Sort(lags)
	lagMu.Unlock()
	slices.Sort(acks)
	fmt.Printf("direct_rows_s=%.0f log_rows_s=%.0f log_ratio=%.2f log_ack_p50_ms=%.2f log_ack_p99_ms=%.2f log_lag_p50_ms=%.2f log_lag_p99_ms=%.2f\n",
		directRate, logRate, logRate/directRate,
		benchutil.Ms(benchutil.Percentile(acks, 0.5)), benchutil.Ms(benchutil.Percentile(acks, 0.99)),
		benchutil.Ms(benchutil.Percentile(lags, 0.5)), benchutil.Ms(benchutil.Percentile(lags, 0.99)))
	return nil
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

// throughput writes cfg.rows through s from cfg.clients clients and returns
// rows per second until done reports every row written (nil: until every
// submission is answered).
func throughput(s ingest.Submitter, cfg config, base int64, done func() bool) (float64, time.Duration, error) {
	per := cfg.rows / cfg.clients / cfg.batch
	if per == 0 {
		return 0, 0, fmt.Errorf("%d rows are fewer than %d clients × %d rows", cfg.rows, cfg.clients, cfg.batch)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, cfg.clients)
	for c := range cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := submitWait(s, submission(base, c, i, cfg.batch)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	if done != nil {
		deadline := time.Now().Add(5 * time.Minute)
		for !done() {
			if time.Now().After(deadline) {
				return 0, 0, fmt.Errorf("rows not all written within 5 minutes")
			}
			time.Sleep(time.Millisecond)
		}
	}
	took := time.Since(start)
	return float64(per*cfg.clients*cfg.batch) / took.Seconds(), took, nil
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

// paced submits cfg.rate submissions a second for cfg.paced, waiting for
// none, and returns each one's time to acknowledgement.
func paced(s ingest.Submitter, cfg config, base int64) ([]time.Duration, error) {
	tick := time.NewTicker(time.Second / time.Duration(cfg.rate))
	defer tick.Stop()
	var mu sync.Mutex
	var acks []time.Duration
	var wg sync.WaitGroup
	var failed atomic.Value
	end := time.Now().Add(cfg.paced)
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
