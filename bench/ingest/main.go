// Command ingest benchmarks ingest over HTTP against its baseline, raw pgx
// CopyFrom of the same rows into the same table, measured in the same run
// (DESIGN §8: Arrow ≥ 0.8 × baseline, JSON ≥ 0.6 ×).
//
// It builds ./cmd/gridmetrics, creates two fresh databases on the server
// (scripts/pg.sh test unless --database-url is given), serves one with the
// built binary and migrates the other for the baseline. It generates the
// rows of N simulated meters once — an energy register and the power and
// voltage gauges every 1–10 s, in time order, ending a little before now —
// and cuts them into requests. Then each run inserts every row anew into an
// emptied table:
//
//	baseline  pgx CopyFrom of each request's rows, C connections at once
//	json      POST /v1/readings, application/json, C clients at once
//	arrow     POST /v1/readings, Arrow IPC stream, C clients at once
//
// Request bodies are encoded before the clock starts. Rates count from the
// first send to the last acknowledgement. The last line of output holds the
// figures as key=value pairs; p50_ms and p99_ms are the ack latencies of
// the Arrow run(s), rss_mb the server's peak resident memory (VmHWM).
//
// Run it with make bench-ingest, or go run ./bench/ingest -h.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/schema"
)

// config is the command line.
type config struct {
	databaseURL string
	sources     int
	clients     int
	rows        int
	batch       int
	runs        int
	serverArgs  string
	profileDir  string
	keep        bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg config
	flag.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL server to create the benchmark databases on (default: the test cluster of scripts/pg.sh test)")
	flag.IntVar(&cfg.sources, "sources", 1000, "simulated meters (N)")
	flag.IntVar(&cfg.clients, "clients", 8, "concurrent HTTP clients, and baseline connections (C)")
	flag.IntVar(&cfg.rows, "rows", 2_000_000, "rows each run inserts")
	flag.IntVar(&cfg.batch, "batch", 5000, "rows per request (and per baseline COPY)")
	flag.IntVar(&cfg.runs, "runs", 3, "repetitions of baseline, JSON and Arrow; the rates reported are medians, the ratios medians of each run's ratio to its baseline")
	flag.StringVar(&cfg.serverArgs, "server-args", "", "extra flags for gridmetrics serve, space-separated (e.g. \"--ingest-writers 4\")")
	flag.StringVar(&cfg.profileDir, "profile-dir", "", "write CPU profiles of the server during the JSON and Arrow runs, and its allocations, to this folder")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the benchmark databases")
	flag.Parse()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-ingest:", err)
		os.Exit(1)
	}
}

func (c config) validate() error {
	switch {
	case c.sources < 1 || c.clients < 1 || c.batch < 1 || c.runs < 1:
		return errors.New("-sources, -clients, -batch and -runs must be positive")
	case c.rows < c.batch:
		return errors.New("-rows must be at least -batch")
	}
	return nil
}

func run(ctx context.Context, cfg config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	setup, cleanup, err := benchutil.Prepare(ctx, "ingest", cfg.databaseURL, cfg.profileDir)
	defer cleanup()
	if err != nil {
		return err
	}
	bin, tmp, profiling := setup.Binary, setup.Dir, cfg.profileDir != ""
	cfg.databaseURL = setup.DatabaseURL

	// Two fresh databases: one the service writes, one the baseline.
	suffix := fmt.Sprintf("%s_%d", time.Now().Format("20060102_150405"), os.Getpid())
	serviceDB, baselineDB := "bench_ingest_"+suffix, "bench_ingest_"+suffix+"_baseline"
	for _, name := range []string{serviceDB, baselineDB} {
		if err := benchutil.AdminExec(ctx, cfg.databaseURL, "CREATE DATABASE "+name); err != nil {
			return fmt.Errorf("create database %s: %w", name, err)
		}
		if !cfg.keep {
			defer func() {
				if err := benchutil.AdminExec(context.Background(), cfg.databaseURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
					fmt.Fprintf(os.Stderr, "bench-ingest: drop %s: %v\n", name, err)
				}
			}()
		}
	}
	serviceURL, baselineURL := benchutil.WithDatabase(cfg.databaseURL, serviceDB), benchutil.WithDatabase(cfg.databaseURL, baselineDB)

	basePool, err := benchutil.OpenPool(ctx, baselineURL, cfg.clients)
	if err != nil {
		return err
	}
	defer basePool.Close()
	if _, err := schema.Migrate(ctx, basePool, schema.Options{}); err != nil {
		return fmt.Errorf("migrate the baseline database: %w", err)
	}
	var metricIDs [len(benchMetrics)]int16
	for i, m := range benchMetrics {
		if err := basePool.QueryRow(ctx, "SELECT id FROM metrics WHERE name = $1", m.name).Scan(&metricIDs[i]); err != nil {
			return fmt.Errorf("metric %s: %w", m.name, err)
		}
	}

	// The service database: migrated by the CLI, a tenant that registers
	// sources on first sight, an ingest key.
	out, err := benchutil.CLI(ctx, bin, "tenant", "create", "--name", "bench", "--auto-register", "--database-url", serviceURL)
	if err != nil {
		return err
	}
	i := strings.LastIndex(out, "ten_")
	if i < 0 {
		return fmt.Errorf("tenant create printed no tenant id: %q", out)
	}
	key, err := benchutil.CLI(ctx, bin, "apikey", "create", "--tenant", strings.TrimSpace(out[i:]), "--scopes", "ingest", "--database-url", serviceURL)
	if err != nil {
		return err
	}
	key = strings.TrimSpace(key)
	servicePool, err := benchutil.OpenPool(ctx, serviceURL, 2)
	if err != nil {
		return err
	}
	defer servicePool.Close()

	began := time.Now()
	d := generate(cfg.sources, cfg.rows, cfg.batch, 1)
	from, to := d.span()
	jsonBodies := d.jsonBodies()
	arrowBodies, err := d.arrowBodies()
	if err != nil {
		return err
	}
	sizes := make([]int, d.requestCount())
	for i := range sizes {
		sizes[i] = len(d.request(i))
	}
	fmt.Printf("data: %d rows of %d meters (energy_import, power_import, voltage every 1–10 s) from %s to %s; %d requests of ≤ %d rows: JSON %.1f MB, Arrow %.1f MB (generated and encoded in %.1f s)\n",
		len(d.rows), cfg.sources, from.Format(time.RFC3339), to.Format(time.RFC3339), len(sizes), cfg.batch,
		float64(totalBytes(jsonBodies))/1e6, float64(totalBytes(arrowBodies))/1e6, time.Since(began).Seconds())

	largest := 0
	for _, b := range slices.Concat(jsonBodies, arrowBodies) {
		largest = max(largest, len(b))
	}
	serverArgs := []string{"--body-limit", fmt.Sprint(max(16<<20, 2*largest))}
	serverArgs = append(serverArgs, strings.Fields(cfg.serverArgs)...)
	srv, err := benchutil.StartServer(ctx, bin, serviceURL, tmp, profiling, serverArgs)
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Printf("server: gridmetrics serve %s (pid %d)\n", strings.Join(serverArgs, " "), srv.Cmd.Process.Pid)

	// Register the meters and warm the server's caches with rows outside
	// the measured range; they are removed with the rest before each run.
	if _, err := postAll(ctx, srv.Base, key, ingest.MediaJSON, warmupBodies(d), warmupSizes(d), 1); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}

	var baseline, viaJSON, viaArrow []runResult
	for r := range cfg.runs {
		res, err := measure(ctx, "baseline", basePool, srv, "", 0, func() (runResult, error) {
			return copyAll(ctx, basePool, d, &metricIDs, cfg.clients)
		})
		if err != nil {
			return err
		}
		baseline = append(baseline, res)
		for _, format := range []struct {
			name, mediaType string
			bodies          [][]byte
			results         *[]runResult
		}{
			{"json", ingest.MediaJSON, jsonBodies, &viaJSON},
			{"arrow", ingest.MediaArrow, arrowBodies, &viaArrow},
		} {
			profile := ""
			if profiling && r == 0 {
				profile = filepath.Join(cfg.profileDir, format.name+".cpu.pprof")
			}
			res, err := measure(ctx, format.name, servicePool, srv, profile, baseline[len(baseline)-1].rowsPerSecond(), func() (runResult, error) {
				return postAll(ctx, srv.Base, key, format.mediaType, format.bodies, sizes, cfg.clients)
			})
			if err != nil {
				return err
			}
			*format.results = append(*format.results, res)
		}
	}
	if profiling {
		if err := srv.Fetch("/debug/pprof/allocs", filepath.Join(cfg.profileDir, "allocs.pprof")); err != nil {
			return err
		}
		fmt.Printf("profiles in %s: go tool pprof -top %s\n", cfg.profileDir, filepath.Join(cfg.profileDir, "arrow.cpu.pprof"))
	}

	rss, err := benchutil.PeakRSS(srv.Cmd.Process.Pid)
	if err != nil {
		return err
	}
	baseRate, jsonRate, arrowRate := benchutil.Median(rates(baseline)), benchutil.Median(rates(viaJSON)), benchutil.Median(rates(viaArrow))
	// Each run is compared with the baseline measured just before it, so a
	// machine busy with other work for a while skews one pair, not all.
	jsonRatio, arrowRatio := benchutil.Median(ratios(viaJSON, baseline)), benchutil.Median(ratios(viaArrow, baseline))
	var arrowLatencies []time.Duration
	for _, r := range viaArrow {
		arrowLatencies = append(arrowLatencies, r.latencies...)
	}
	slices.Sort(arrowLatencies)
	p50, p99 := benchutil.Percentile(arrowLatencies, 0.50), benchutil.Percentile(arrowLatencies, 0.99)
	fmt.Printf("server peak RSS (VmHWM): %.0f MiB\n", float64(rss)/(1<<20))
	fmt.Printf("result: baseline %.0f rows/s, JSON %.0f rows/s (%.2f ×, target ≥ 0.6), Arrow %.0f rows/s (%.2f ×, target ≥ 0.8); Arrow ack p50 %.1f ms, p99 %.1f ms\n",
		baseRate, jsonRate, jsonRatio, arrowRate, arrowRatio, benchutil.Ms(p50), benchutil.Ms(p99))
	fmt.Printf("baseline_rows_s=%.0f json_rows_s=%.0f arrow_rows_s=%.0f json_ratio=%.2f arrow_ratio=%.2f p50_ms=%.1f p99_ms=%.1f rss_mb=%.0f rows=%d clients=%d\n",
		baseRate, jsonRate, arrowRate, jsonRatio, arrowRatio, benchutil.Ms(p50), benchutil.Ms(p99), float64(rss)/(1<<20), len(d.rows), cfg.clients)
	return nil
}

// measure empties the readings tables of pool's database, checkpoints, runs
// one timed run, checks that every row arrived, and prints the run with its
// ratio to baseline (when non-zero) and the CPU spent on it by the server
// (or, for the baseline, by this process: pgx) and by PostgreSQL.
func measure(ctx context.Context, name string, pool *pgxpool.Pool, srv *benchutil.Server, profile string, baseline float64, timed func() (runResult, error)) (runResult, error) {
	if _, err := pool.Exec(ctx, "TRUNCATE readings, latest_readings, rollup_invalidations"); err != nil {
		return runResult{}, fmt.Errorf("%s: empty the tables: %w", name, err)
	}
	_, _ = pool.Exec(ctx, "CHECKPOINT") // superusers only; it keeps a checkpoint out of the run
	if profile != "" {
		if err := srv.StartCPUProfile(); err != nil {
			return runResult{}, err
		}
	}
	statsBefore, _ := readPipelineStats(srv.Base)
	serverBefore, _, _ := benchutil.CPUTime(srv.Cmd.Process.Pid)
	selfBefore, _, _ := benchutil.CPUTime(os.Getpid())
	pgBefore, allBefore := benchutil.PostgresCPU(), benchutil.MachineCPU()
	res, err := timed()
	serverCPU, _, _ := benchutil.CPUTime(srv.Cmd.Process.Pid)
	selfCPU, _, _ := benchutil.CPUTime(os.Getpid())
	pgCPU, allCPU := benchutil.PostgresCPU()-pgBefore, benchutil.MachineCPU()-allBefore
	serverCPU -= serverBefore
	selfCPU -= selfBefore
	statsAfter, _ := readPipelineStats(srv.Base)
	if profile != "" {
		if perr := srv.StopCPUProfile(profile); perr != nil && err == nil {
			err = perr
		}
	}
	if err != nil {
		return runResult{}, fmt.Errorf("%s: %w", name, err)
	}
	var stored int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM readings").Scan(&stored); err != nil {
		return runResult{}, err
	}
	if stored != res.rows {
		return runResult{}, fmt.Errorf("%s: %d rows in readings after the run, want %d", name, stored, res.rows)
	}
	ratio := "       "
	if baseline > 0 {
		ratio = fmt.Sprintf("%.2f × ", res.rowsPerSecond()/baseline)
	}
	retried := ""
	if res.retries > 0 {
		retried = fmt.Sprintf(", %d requests retried after 503", res.retries)
	}
	// Other processes on the machine: a run they slowed down is not
	// comparable with the others.
	others := max(0, (allCPU - serverCPU - selfCPU - pgCPU).Seconds())
	who := fmt.Sprintf("server %.1f, client %.1f", serverCPU.Seconds(), selfCPU.Seconds())
	if baseline == 0 {
		who = fmt.Sprintf("pgx %.1f", selfCPU.Seconds())
	}
	fmt.Printf("%-8s %8.0f rows/s %s %d rows in %.2f s; per request p50 %.1f ms, p99 %.1f ms; CPU s: %s, postgres %.1f, other processes %.1f%s\n",
		name, res.rowsPerSecond(), ratio, res.rows, res.elapsed.Seconds(), benchutil.Ms(benchutil.Percentile(res.latencies, 0.5)), benchutil.Ms(benchutil.Percentile(res.latencies, 0.99)),
		who, pgCPU.Seconds(), others, retried)
	if baseline > 0 {
		fmt.Printf("%-8s pipeline: %s\n", "", statsAfter.sub(statsBefore))
	}
	if budget := res.elapsed.Seconds() * float64(runtime.NumCPU()); others > 0.1*budget {
		fmt.Printf("%-8s warning: other processes used %.0f %% of the machine during this run; its figures are not comparable\n", "", 100*others/budget)
	}
	return res, nil
}

// warmupBodies register every meter with one voltage reading a day before
// the data.
func warmupBodies(d *dataset) [][]byte {
	w := &dataset{sources: d.sources, batch: d.batch}
	at := d.rows[0].time - int64(24*time.Hour/time.Microsecond)
	for s := range d.sources {
		w.rows = append(w.rows, reading{time: at, value: 230, source: int32(s), metric: 2})
	}
	return w.jsonBodies()
}

func warmupSizes(d *dataset) []int {
	var sizes []int
	for n := len(d.sources); n > 0; n -= d.batch {
		sizes = append(sizes, min(n, d.batch))
	}
	return sizes
}

func rates(runs []runResult) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = r.rowsPerSecond()
	}
	return out
}

func ratios(runs, baseline []runResult) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = r.rowsPerSecond() / baseline[i].rowsPerSecond()
	}
	return out
}
