// Command billing benchmarks billing end to end: sessions priced per second
// from stored readings by the real server's pricing worker, and the billing
// export's rows per second in NDJSON and Arrow against its baseline, a
// plain COPY (SELECT …) TO STDOUT of the same rows measured in the same run
// (DESIGN §8).
//
// It creates a fresh database (on scripts/pg.sh test unless -db is given),
// migrates it with schema.Migrate, and fills it:
//
//   - a tenant with a billing key;
//   - C chargers CB-0001… in Europe/Berlin, ten to a site, each with one
//     connector CB-…/1 (sources.Store);
//   - a time-of-use charging tariff — a flat fee, day and night energy
//     prices, parking by the minute — assigned to every connector
//     (tariffs.Store);
//   - each session's readings, energy_import (whole Wh) and power_import
//     (W) every -interval from the sample before its start to the sample
//     after its stop, copied with binary COPY: N sessions of 30 to 180
//     minutes over D days, session k on connector k mod C in its own slot
//     so a connector's sessions never overlap; most charge at about their
//     rating, taper off, then stay parked a while;
//   - the sessions, started and stopped through the sessions service
//     (Service.Start and Service.Stop, what POST /v1/sessions and
//     /v1/sessions/{id}/stop call), with the meter start and stop the
//     charger would report: N completed sessions waiting to be priced.
//
// Then it builds ./cmd/gridmetrics and serves the database (rollup jobs
// off). The server's pricing worker takes the completed sessions at start:
// sessions_priced_s is N over the time from starting the server to no
// session being left completed (polled). Every session must be priced.
//
// Then the pure engine on the same sessions, in this process: every priced
// session's stored CDR (its charging periods) and the tariff version it was
// priced with are read and parsed first, then CDR.Reprice — the engine call
// the worker makes once it has built a session's periods — prices them all
// on as many goroutines as the machine has cores, three times; each total
// must equal the stored one. pricing_efficiency is sessions_priced_s over
// the median engine rate: the share of the engine's speed the service
// keeps end to end, with reading readings, building periods, rendering the
// CDR and writing the result all counted on its side.
//
// Then, -runs times, after an untimed round: the baseline, a COPY of the
// export's own statement (same columns, joins, filter and order) to
// io.Discard through pgconn.CopyTo, in text format; and GET
// /v1/sessions/export?from&to&format=ndjson and format=arrow over the whole
// range with the billing key, each read to its end (NDJSON lines counted,
// the Arrow stream read with ipc.Reader), timed from the request to the
// last byte. Every read must return the N sessions. Rates are medians of
// the runs, ratios medians of each run's export rate over the baseline
// measured just before it.
//
// Then the export's memory: -memory-rows synthetic priced sessions (copies
// of the priced ones, inserted by SQL before the range) are exported in
// NDJSON and in Arrow, a tenth of them and then all, and the server's peak
// resident memory (VmHWM, reset through /proc/<pid>/clear_refs before each
// export) is read after each: export_peak_rss_mb is the larger peak of the
// full exports. The last line of output holds the figures as key=value
// pairs.
//
// Run it with make bench-billing, or go run ./bench/billing -h.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/schema"
	"github.com/gridmetrics/gridmetrics/sessions"
)

// config is the command line.
type config struct {
	databaseURL string
	sessions    int
	connectors  int
	days        int
	interval    time.Duration
	writers     int
	runs        int
	profileDir  string
	keep        bool
	memoryRows  int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg config
	flag.StringVar(&cfg.databaseURL, "db", "", "PostgreSQL server to create the benchmark database on (default: the test cluster of scripts/pg.sh test)")
	flag.IntVar(&cfg.sessions, "sessions", 100_000, "charging sessions to price and export (N)")
	flag.IntVar(&cfg.connectors, "connectors", 1000, "chargers, one connector each (C)")
	flag.IntVar(&cfg.days, "days", 30, "days the sessions are spread over, ending a little before now (D)")
	flag.DurationVar(&cfg.interval, "interval", time.Minute, "spacing of the readings (1m to 15m)")
	flag.IntVar(&cfg.writers, "writers", 8, "goroutines starting and stopping the sessions")
	flag.IntVar(&cfg.runs, "runs", 5, "timed rounds of baseline, NDJSON and Arrow (the figures are their medians)")
	flag.StringVar(&cfg.profileDir, "profile-dir", "", "write CPU profiles of the server while it prices and exports to this folder")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the benchmark database (its name is printed)")
	flag.IntVar(&cfg.memoryRows, "memory-rows", 1_000_000, "synthetic priced sessions to export while measuring the server's peak memory (0: skip)")
	flag.Parse()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-billing:", err)
		os.Exit(1)
	}
}

func (c config) validate() error {
	switch {
	case c.sessions < 1 || c.connectors < 1 || c.days < 1 || c.writers < 1 || c.runs < 1 || c.memoryRows < 0:
		return errors.New("-sessions, -connectors, -days, -writers and -runs must be positive")
	case c.interval < time.Minute || c.interval > 15*time.Minute || time.Hour%c.interval != 0:
		return errors.New("-interval must divide an hour, from 1m to 15m")
	}
	return nil
}

func run(ctx context.Context, cfg config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	end := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	begin := end.AddDate(0, 0, -cfg.days)
	l, err := newLayout(cfg.sessions, cfg.connectors, begin, end, cfg.interval)
	if err != nil {
		return err
	}
	setup, cleanup, err := benchutil.Prepare(ctx, "billing", cfg.databaseURL, cfg.profileDir)
	defer cleanup()
	if err != nil {
		return err
	}
	bin, tmp, profiling := setup.Binary, setup.Dir, cfg.profileDir != ""
	cfg.databaseURL = setup.DatabaseURL

	name := fmt.Sprintf("bench_billing_%s_%d", time.Now().Format("20060102_150405"), os.Getpid())
	if err := benchutil.AdminExec(ctx, cfg.databaseURL, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	if cfg.keep {
		fmt.Printf("database: %s (kept)\n", name)
	} else {
		defer func() {
			if err := benchutil.AdminExec(context.Background(), cfg.databaseURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				fmt.Fprintf(os.Stderr, "bench-billing: drop %s: %v\n", name, err)
			}
		}()
	}
	dbURL := benchutil.WithDatabase(cfg.databaseURL, name)
	pool, err := benchutil.OpenPool(ctx, dbURL, cfg.writers+2)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := schema.Migrate(ctx, pool, schema.Options{}); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	// The tenant, its chargers and tariff.
	began := time.Now()
	tenantID, key, err := tenant(ctx, pool)
	if err != nil {
		return err
	}
	ids, err := createSources(ctx, pool, tenantID, l.connectors)
	if err != nil {
		return err
	}
	tariffID, err := createTariff(ctx, pool, tenantID, begin.AddDate(0, 0, -1), l.connectors)
	if err != nil {
		return err
	}
	fmt.Printf("setup: tenant, %d chargers with a connector each, tariff %s assigned to each connector (%.1f s)\n",
		l.connectors, tariffID, time.Since(began).Seconds())

	// The readings.
	var energy, power int16
	if err := pool.QueryRow(ctx, `SELECT (SELECT id FROM metrics WHERE name = 'energy_import'), (SELECT id FROM metrics WHERE name = 'power_import')`).
		Scan(&energy, &power); err != nil {
		return fmt.Errorf("metric ids: %w", err)
	}
	began = time.Now()
	plans, rows, err := loadReadings(ctx, pool, l, ids, energy, power, 2)
	if err != nil {
		return err
	}
	copied := time.Since(began)
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE readings"); err != nil {
		return err
	}
	fmt.Printf("readings: %d rows (energy_import, power_import every %s) for %d sessions of 30–180 min on %d connectors from %s to %s, binary COPY on 2 connections in %.1f s (%.0f rows/s), vacuumed in %.1f s more\n",
		rows, cfg.interval, l.sessions, l.connectors, begin.Format(time.RFC3339), end.Format(time.RFC3339),
		copied.Seconds(), float64(rows)/copied.Seconds(), (time.Since(began) - copied).Seconds())

	// The sessions, completed.
	began = time.Now()
	if err := createSessions(ctx, pool, tenantID, plans, cfg.writers, func(done int) {
		fmt.Printf("sessions: %d started and stopped (%.0f/s)\n", done, float64(done)/time.Since(began).Seconds())
	}); err != nil {
		return err
	}
	created := time.Since(began)
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE sessions"); err != nil {
		return err
	}
	fmt.Printf("sessions: %d completed through sessions.Service Start and Stop from %d goroutines in %.1f s (%.0f sessions/s)\n",
		l.sessions, cfg.writers, created.Seconds(), float64(l.sessions)/created.Seconds())

	// Pricing: the server's worker takes them as it starts.
	serverArgs := []string{"--rollup-jobs=false"}
	before := cpuNow(ctx, pool, 0)
	began = time.Now()
	srv, err := benchutil.StartServer(ctx, bin, dbURL, tmp, profiling, serverArgs)
	if err != nil {
		return err
	}
	defer srv.Stop()
	ready := time.Since(began)
	if profiling {
		if err := srv.StartCPUProfile(); err != nil {
			return err
		}
	}
	fmt.Printf("server: gridmetrics serve %v (pid %d), ready in %.2f s; pricing…\n", serverArgs, srv.Cmd.Process.Pid, ready.Seconds())
	done, err := waitPriced(ctx, pool, tenantID, 100*time.Millisecond, func(left int) {
		fmt.Printf("pricing: %d left after %.0f s\n", left, time.Since(began).Seconds())
	})
	if err != nil {
		return err
	}
	pricing := done.Sub(began)
	pricingCPU := cpuNow(ctx, pool, srv.Cmd.Process.Pid).sub(before)
	if profiling {
		if err := srv.StopCPUProfile(filepath.Join(cfg.profileDir, "pricing.cpu.pprof")); err != nil {
			return err
		}
	}
	counts, err := statusCounts(ctx, pool, tenantID)
	if err != nil {
		return err
	}
	if counts[sessions.StatusPriced] != l.sessions {
		return fmt.Errorf("after pricing: %v; want %d priced%s", counts, l.sessions, failureReasons(ctx, pool, tenantID))
	}
	var firstPriced, lastPriced time.Time
	var energyKWh, total float64
	if err := pool.QueryRow(ctx, `SELECT min(priced_at), max(priced_at), sum(energy_kwh)::float8, sum(total_incl_vat)::float8
		FROM sessions WHERE tenant_id = $1`, tenantID).Scan(&firstPriced, &lastPriced, &energyKWh, &total); err != nil {
		return err
	}
	pricedRate := float64(l.sessions) / pricing.Seconds()
	fmt.Printf("pricing: %d sessions priced in %.1f s from server start = %.0f sessions/s (first to last priced_at %.1f s = %.0f/s); %.0f kWh, EUR %.2f incl. VAT\n",
		l.sessions, pricing.Seconds(), pricedRate, lastPriced.Sub(firstPriced).Seconds(),
		float64(l.sessions)/lastPriced.Sub(firstPriced).Seconds(), energyKWh, total)
	fmt.Printf("pricing: %s; per session: server %.2f ms, postgres %.2f ms of CPU\n", pricingCPU,
		benchutil.Ms(pricingCPU.server)/float64(l.sessions), benchutil.Ms(pricingCPU.db)/float64(l.sessions))
	warnBusy("pricing", pricingCPU, pricing)

	// The pure engine on the same sessions, on as many goroutines as the
	// server had cores.
	priced, err := loadPriced(ctx, pool, tenantID)
	if err != nil {
		return err
	}
	var engineRates []float64
	for range 3 {
		r, err := engineRate(priced, runtime.NumCPU())
		if err != nil {
			return err
		}
		engineRates = append(engineRates, r)
	}
	engine := benchutil.Median(engineRates)
	efficiency := pricedRate / engine
	fmt.Printf("engine: CDR.Reprice of the %d sessions' stored charging periods with their tariff version on %d goroutines: %.0f sessions/s (median of 3); pricing_efficiency %.3f\n",
		len(priced), runtime.NumCPU(), engine, efficiency)

	// The export and its baseline. Pricing left a dead version of every
	// session behind; vacuum as autovacuum would before a billing run.
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE sessions"); err != nil {
		return err
	}
	// The exports are read as a billing client would, in large reads.
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true, ReadBufferSize: 256 << 10}, Timeout: 30 * time.Minute}
	text, binary := baselineQuery(tenantID, begin, end, false), baselineQuery(tenantID, begin, end, true)
	type step struct {
		name   string
		read   func() (transfer, error)
		result *[]transfer
	}
	var baseline, binaryCopy, ndjson, arrow []transfer
	steps := []step{
		{"baseline", func() (transfer, error) { return copyOut(ctx, pool, text) }, &baseline},
		{"binary", func() (transfer, error) { return copyOut(ctx, pool, binary) }, &binaryCopy},
		{"ndjson", func() (transfer, error) { return export(ctx, hc, srv.Base, key, begin, end, sessions.FormatNDJSON) }, &ndjson},
		{"arrow", func() (transfer, error) { return export(ctx, hc, srv.Base, key, begin, end, sessions.FormatArrow) }, &arrow},
	}
	for r := -1; r < cfg.runs; r++ {
		for _, s := range steps {
			profile := ""
			if profiling && r == 0 && (s.name == "ndjson" || s.name == "arrow") {
				profile = filepath.Join(cfg.profileDir, "export-"+s.name+".cpu.pprof")
				if err := srv.StartCPUProfile(); err != nil {
					return err
				}
			}
			before := cpuNow(ctx, pool, srv.Cmd.Process.Pid)
			t, err := s.read()
			if err != nil {
				return err
			}
			t.cpu = cpuNow(ctx, pool, srv.Cmd.Process.Pid).sub(before)
			if profile != "" {
				if err := srv.StopCPUProfile(profile); err != nil {
					return err
				}
			}
			if t.rows != int64(l.sessions) {
				return fmt.Errorf("%s: %d rows, want %d", s.name, t.rows, l.sessions)
			}
			if r < 0 {
				continue // the warm-up round
			}
			*s.result = append(*s.result, t)
			ratio := "       "
			if s.name != "baseline" {
				ratio = fmt.Sprintf("%.2f × ", t.rowsPerSecond()/baseline[len(baseline)-1].rowsPerSecond())
			}
			fmt.Printf("%-8s %8.0f rows/s %s %d rows, %.1f MB in %.2f s; %s\n", s.name, t.rowsPerSecond(), ratio, t.rows,
				float64(t.bytes)/1e6, t.elapsed.Seconds(), t.cpu)
			warnBusy(s.name, t.cpu, t.elapsed)
		}
	}
	peakRSS := 0.0
	if cfg.memoryRows > 0 {
		if peakRSS, err = measureExportMemory(ctx, pool, hc, srv, tenantID, key, cfg.memoryRows, begin); err != nil {
			return err
		}
	}
	if profiling {
		fmt.Printf("profiles in %s: go tool pprof -top %s\n", cfg.profileDir, filepath.Join(cfg.profileDir, "pricing.cpu.pprof"))
	}

	baseRate, binaryRate := benchutil.Median(rates(baseline)), benchutil.Median(rates(binaryCopy))
	ndjsonRate, arrowRate := benchutil.Median(rates(ndjson)), benchutil.Median(rates(arrow))
	ndjsonRatio, arrowRatio := benchutil.Median(ratios(ndjson, baseline)), benchutil.Median(ratios(arrow, baseline))
	fmt.Printf("result: %.0f sessions priced/s; export NDJSON %.0f rows/s (%.2f × COPY), Arrow %.0f rows/s (%.2f × COPY); COPY text %.0f rows/s, binary %.0f rows/s\n",
		pricedRate, ndjsonRate, ndjsonRatio, arrowRate, arrowRatio, baseRate, binaryRate)
	fmt.Printf("sessions=%d sessions_priced_s=%.0f pricing_efficiency=%.3f export_ndjson_rows_s=%.0f export_arrow_rows_s=%.0f baseline_copy_rows_s=%.0f ndjson_ratio=%.2f arrow_ratio=%.2f export_peak_rss_mb=%.0f\n",
		l.sessions, pricedRate, efficiency, ndjsonRate, arrowRate, baseRate, ndjsonRatio, arrowRatio, peakRSS)
	return nil
}

// failureReasons lists the commonest reasons sessions failed, for the error.
func failureReasons(ctx context.Context, pool *pgxpool.Pool, tenantID int64) string {
	rows, err := pool.Query(ctx, `SELECT failure_reason, count(*) FROM sessions WHERE tenant_id = $1 AND status = 'failed'
		GROUP BY 1 ORDER BY 2 DESC LIMIT 3`, tenantID)
	if err != nil {
		return ""
	}
	defer rows.Close()
	out := ""
	for rows.Next() {
		var reason string
		var n int
		if rows.Scan(&reason, &n) == nil {
			out += fmt.Sprintf("\n  %d failed: %s", n, reason)
		}
	}
	return out
}

// warnBusy says when other processes took more than a tenth of the machine
// during a timed phase: its figures are then not comparable.
func warnBusy(name string, c cpu, elapsed time.Duration) {
	budget := elapsed.Seconds() * float64(runtime.NumCPU())
	if others := c.others().Seconds(); others > 0.1*budget {
		fmt.Printf("%-8s warning: other processes used %.0f %% of the machine meanwhile; its figures are not comparable\n", "", 100*others/budget)
	}
}

func rates(ts []transfer) []float64 {
	out := make([]float64, len(ts))
	for i, t := range ts {
		out[i] = t.rowsPerSecond()
	}
	return out
}

func ratios(ts, baseline []transfer) []float64 {
	out := make([]float64, len(ts))
	for i, t := range ts {
		out[i] = t.rowsPerSecond() / baseline[i].rowsPerSecond()
	}
	return out
}
