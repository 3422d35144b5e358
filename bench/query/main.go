// Command query benchmarks dashboard queries served from the rollup tiers
// against the same answers computed from raw readings, measured in the
// same run (DESIGN §8: 30 days hourly from rollups ≥ 20 × faster than
// from raw readings, the answers equal).
//
// It generates a dataset once: N chargers (-sources, 500) in Europe/Berlin,
// the first 100 in site "bench-site", each with a power_import gauge (W)
// and the energy_import register (Wh) that integrates it, one sample a
// minute for D days (-days, 30) ending at the last UTC midnight — 2·N·D·1440
// rows, 43.2 M by default — copied with pgx CopyFrom on two connections in
// time order, then VACUUM ANALYZE, then the 15m, 1h and 1d tiers built by
// rollups.Runner.Refresh with the clock just after the data's end. With
// -keep the database is kept under a name given by its size and reused by
// the next run with -keep; without it, a fresh database is dropped at the
// end.
//
// Then it builds ./cmd/gridmetrics, serves the database with the rollup
// jobs off, and times three queries over HTTP, each as planned (from the
// tiers) and with tier=raw (the raw-only plan: the SQL the planner uses
// when there are no rollups), alternating, after a warm-up:
//
//	energy_1h    GET /v1/sources/{id}/energy, 30 days, bucket=1h
//	site_energy  GET /v1/sites/bench-site/energy, 30 days, bucket=1h (100 sources)
//	power_15m    GET /v1/sources/{id}/readings?metric=power_import&agg=avg,max, 7 days, bucket=15m
//
// Every raw answer must equal the planned one (numbers to a relative
// 1e-9 or one step of their rounding grid; the request id and the tiers
// aside), or the run fails. The ratio
// of a case is the raw p50 latency over the planned p50. The last line of
// output holds the figures as key=value pairs.
//
// Run it with make bench-query, or go run ./bench/query -h.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
)

// config is the command line.
type config struct {
	databaseURL string
	sources     int
	days        int
	iterations  int
	warmup      int
	keep        bool
	cases       string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg config
	flag.StringVar(&cfg.databaseURL, "db", "", "PostgreSQL server to create the benchmark database on (default: the test cluster of scripts/pg.sh test)")
	flag.IntVar(&cfg.sources, "sources", 500, "chargers; the first 100 form the site")
	flag.IntVar(&cfg.days, "days", 30, "days of 1-minute readings, ending at the last UTC midnight (at least 30: the energy cases ask for 30 days)")
	flag.IntVar(&cfg.iterations, "iterations", 30, "timed requests per case and variant (planned, raw)")
	flag.IntVar(&cfg.warmup, "warmup", 2, "untimed requests per case and variant first")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the generated database, and reuse one kept by an earlier run of the same size")
	flag.StringVar(&cfg.cases, "cases", "energy_1h,site_energy,power_15m", "the cases to run, comma-separated")
	flag.Parse()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-query:", err)
		os.Exit(1)
	}
}

func (c config) validate() error {
	switch {
	case c.sources < 1 || c.iterations < 1 || c.warmup < 0:
		return errors.New("-sources and -iterations must be positive, -warmup not negative")
	case c.days < 30:
		return errors.New("-days must be at least 30")
	}
	for _, name := range strings.Split(c.cases, ",") {
		if !slices.Contains(caseNames, name) {
			return fmt.Errorf("-cases: %q is not a case (%s)", name, strings.Join(caseNames, ", "))
		}
	}
	return nil
}

func run(ctx context.Context, cfg config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	setup, cleanup, err := benchutil.Prepare(ctx, "query", cfg.databaseURL, "")
	defer cleanup()
	if err != nil {
		return err
	}
	bin, tmp := setup.Binary, setup.Dir
	cfg.databaseURL = setup.DatabaseURL

	d, dbName, err := prepare(ctx, cfg, bin)
	if dbName != "" && !cfg.keep {
		defer func() {
			if err := benchutil.AdminExec(context.Background(), cfg.databaseURL, "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)"); err != nil {
				fmt.Fprintf(os.Stderr, "bench-query: drop %s: %v\n", dbName, err)
			}
		}()
	}
	if err != nil {
		return err
	}
	dbURL := benchutil.WithDatabase(cfg.databaseURL, dbName)

	results, err := measure(ctx, cfg, d, bin, dbURL, tmp)
	if err != nil {
		return err
	}

	line := []string{fmt.Sprintf("rows=%d sources=%d days=%d iterations=%d generate_s=%.1f rollups_s=%.1f",
		d.Rows, d.Sources, d.Days, cfg.iterations, d.GenerateS, d.RollupsS)}
	var below []string
	for _, r := range results {
		line = append(line, r.keyValues())
		if r.ratio() < targetRatio {
			below = append(below, fmt.Sprintf("%s %.1f ×", r.name, r.ratio()))
		}
	}
	if len(below) == 0 {
		fmt.Printf("result: every case is at least %d × faster from rollups than from raw readings\n", targetRatio)
	} else {
		fmt.Printf("result: below the target of %d × (DESIGN §8): %s\n", targetRatio, strings.Join(below, ", "))
	}
	fmt.Println(strings.Join(line, " "))
	return nil
}

// targetRatio is DESIGN §8's: rollups ≥ 20 × faster than raw readings.
const targetRatio = 20

// prepare returns a database holding the dataset: a kept one when -keep
// finds one, else a freshly generated one. The name comes back with an
// error too once the database exists, so that it can be dropped.
func prepare(ctx context.Context, cfg config, bin string) (dataset, string, error) {
	name := fmt.Sprintf("bench_query_%s_%d", time.Now().Format("20060102_150405"), os.Getpid())
	if cfg.keep {
		name = keptDatabase(cfg.sources, cfg.days)
		d, ok, err := reusable(ctx, cfg.databaseURL, name, cfg.sources, cfg.days)
		if err != nil {
			return d, "", err
		}
		if ok {
			fmt.Printf("dataset: reusing database %s: %d rows of %d sources × %d days at 1-minute spacing (energy_import, power_import), %s to %s; it took %.1f s to copy, %.1f s to vacuum, %.1f s to roll up\n",
				name, d.Rows, d.Sources, d.Days, d.start().Format(time.RFC3339), d.End.Format(time.RFC3339), d.GenerateS, d.VacuumS, d.RollupsS)
			return d, name, nil
		}
		// Absent, or left incomplete by an interrupted run.
		if err := benchutil.AdminExec(ctx, cfg.databaseURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return d, "", fmt.Errorf("drop %s: %w", name, err)
		}
	}
	if err := benchutil.AdminExec(ctx, cfg.databaseURL, "CREATE DATABASE "+name); err != nil {
		return dataset{}, "", fmt.Errorf("create database %s: %w", name, err)
	}
	d := dataset{Sources: cfg.sources, Days: cfg.days, End: time.Now().UTC().Truncate(24 * time.Hour)}
	fmt.Printf("dataset: generating %d rows into database %s: %d sources × %d days at 1-minute spacing × 2 metrics (energy_import, power_import), %s to %s\n",
		int64(d.Sources)*int64(d.Days)*1440*2, name, d.Sources, d.Days, d.start().Format(time.RFC3339), d.End.Format(time.RFC3339))
	dbURL := benchutil.WithDatabase(cfg.databaseURL, name)
	pool, err := benchutil.OpenPool(ctx, dbURL, copyConns+2)
	if err != nil {
		return d, name, err
	}
	defer pool.Close()
	d, err = generate(ctx, pool, bin, dbURL, name, d)
	return d, name, err
}
