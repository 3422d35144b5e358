// Command standby measures dashboard queries answered by the primary
// against the same queries answered by a streaming standby, while ingest
// runs on the primary.
//
// It starts a private primary and a pg_basebackup standby of it
// (internal/pgpair), builds ./cmd/gridmetrics and serves the primary's
// database twice: one server reads the primary only, the other has
// read-database-url set to the standby. History is ingested over HTTP —
// -sources meters, a power_import gauge and an energy_import register, one
// sample a minute for -days days ending at the last UTC midnight — and the
// rollup tiers are built. Then -writers clients post live readings of
// other meters (-batch rows a request) through the primary's server while
// one client times the same queries, alternating between the two servers:
//
//	energy_1h   GET /v1/sources/{id}/energy, the whole history, bucket=1h
//	power_15m   GET /v1/sources/{id}/readings?metric=power_import&agg=avg,max, the last day, bucket=15m
//
// Each standby answer must say X-Gridmetrics-Database: standby to count as
// the standby's (fallbacks to the primary are counted apart). Both
// databases share this machine's cores, so the figures show what the
// standby's extra hop and replay cost, not the offload a standby on its
// own machine gives. The last line holds the figures as key=value pairs.
//
// Run it with go run ./bench/standby (-h for the flags).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/internal/pgpair"
	"github.com/gridmetrics/gridmetrics/rollups"
)

type config struct {
	sources    int
	days       int
	iterations int
	writers    int
	batch      int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg config
	flag.IntVar(&cfg.sources, "sources", 20, "meters with history")
	flag.IntVar(&cfg.days, "days", 7, "days of 1-minute history per meter")
	flag.IntVar(&cfg.iterations, "iterations", 100, "timed requests per query and server")
	flag.IntVar(&cfg.writers, "writers", 2, "clients posting live readings meanwhile")
	flag.IntVar(&cfg.batch, "batch", 1000, "rows per live ingest request")
	flag.Parse()
	if cfg.sources < 1 || cfg.days < 2 || cfg.iterations < 1 || cfg.writers < 0 || cfg.batch < 1 {
		fmt.Fprintln(os.Stderr, "bench-standby: sources, iterations and batch must be positive, days at least 2, writers not negative")
		os.Exit(2)
	}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-standby:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	root, err := benchutil.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-standby")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	say("building ./cmd/gridmetrics")
	bin, err := benchutil.BuildServer(ctx, root, dir, false)
	if err != nil {
		return err
	}
	say("starting a primary and a streaming standby")
	pair, err := pgpair.Start(ctx, "bench-standby")
	if err != nil {
		return err
	}
	defer pair.Close()
	if err := pair.CreateDatabase(ctx, "gm", ""); err != nil {
		return err
	}
	primaryURL, standbyURL := pair.Primary.Database("gm"), pair.Standby.Database("gm")
	if _, err := benchutil.CLI(ctx, bin, "migrate", "--database-url", primaryURL); err != nil {
		return err
	}
	_, key, err := benchutil.Tenant(ctx, bin, primaryURL, "ingest,read")
	if err != nil {
		return err
	}
	common := []string{"--rollup-jobs=false"}
	onPrimary, err := benchutil.StartServer(ctx, bin, primaryURL, subdir(dir, "primary"), false, common)
	if err != nil {
		return err
	}
	defer onPrimary.Stop()
	onStandby, err := benchutil.StartServer(ctx, bin, primaryURL, subdir(dir, "standby"), false,
		append(common, "--read-database-url", standbyURL))
	if err != nil {
		return err
	}
	defer onStandby.Stop()
	c := client{http: &http.Client{Timeout: time.Minute}, key: key}

	end := time.Now().UTC().Truncate(24 * time.Hour)
	start := end.Add(-time.Duration(cfg.days) * 24 * time.Hour)
	say(fmt.Sprintf("ingesting %d meters × %d days of 1-minute readings (%d rows)", cfg.sources, cfg.days, cfg.sources*cfg.days*1440*2))
	for s := range cfg.sources {
		for day := start; day.Before(end); day = day.Add(24 * time.Hour) {
			if err := c.post(ctx, onPrimary.Base, history(fmt.Sprintf("M-%d", s), day, s)); err != nil {
				return err
			}
		}
	}
	say("building the rollup tiers")
	pool, err := benchutil.OpenPool(ctx, primaryURL, 2)
	if err != nil {
		return err
	}
	runner := rollups.NewRunner(pool, rollups.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), rollups.NewMetrics(nil))
	runner.Now = func() time.Time { return end.Add(24 * time.Hour) }
	for _, tier := range rollups.Tiers {
		if err := runner.Refresh(ctx, tier); err != nil {
			pool.Close()
			return err
		}
	}
	pool.Close()
	if err := pair.WaitReplayed(ctx); err != nil {
		return err
	}

	// Live ingest through the primary's server until the queries are done.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var rows atomic.Int64
	var loadErr error
	var loadOnce sync.Once
	var load sync.WaitGroup
	for w := range cfg.writers {
		load.Add(1)
		go func() {
			defer load.Done()
			for n := 0; loadCtx.Err() == nil; n++ {
				if err := c.post(loadCtx, onPrimary.Base, live(w, n, cfg.batch)); err != nil {
					if loadCtx.Err() == nil {
						loadOnce.Do(func() { loadErr = err })
					}
					return
				}
				rows.Add(int64(cfg.batch))
			}
		}()
	}
	loadStart := time.Now()

	queries := func(s int) []string {
		src := fmt.Sprintf("M-%d", s)
		return []string{
			"/v1/sources/" + src + "/energy?" + url.Values{"from": {start.Format(time.RFC3339)}, "to": {end.Format(time.RFC3339)}, "bucket": {"1h"}}.Encode(),
			"/v1/sources/" + src + "/readings?" + url.Values{"metric": {"power_import"}, "agg": {"avg,max"}, "bucket": {"15m"},
				"from": {end.Add(-24 * time.Hour).Format(time.RFC3339)}, "to": {end.Format(time.RFC3339)}}.Encode(),
		}
	}
	var primaryTimes, standbyTimes []time.Duration
	fallbacks := 0
	const warmup = 3
	for i := range cfg.iterations + warmup {
		for _, path := range queries(rand.IntN(cfg.sources)) {
			d, _, err := c.get(ctx, onPrimary.Base, path)
			if err != nil {
				stopLoad()
				return err
			}
			ds, db, err := c.get(ctx, onStandby.Base, path)
			if err != nil {
				stopLoad()
				return err
			}
			if i < warmup {
				continue
			}
			primaryTimes = append(primaryTimes, d)
			if db == "standby" {
				standbyTimes = append(standbyTimes, ds)
			} else {
				fallbacks++
			}
		}
	}
	elapsed := time.Since(loadStart)
	stopLoad()
	load.Wait()
	if loadErr != nil {
		return fmt.Errorf("live ingest: %w", loadErr)
	}
	if len(standbyTimes) == 0 {
		return errors.New("the standby served no query")
	}
	slices.Sort(primaryTimes)
	slices.Sort(standbyTimes)
	p := benchutil.Percentile
	fmt.Printf("primary_query_p50_ms=%.2f primary_query_p99_ms=%.2f standby_query_p50_ms=%.2f standby_query_p99_ms=%.2f queries=%d standby_fallbacks=%d ingest_rows_s=%.0f\n",
		benchutil.Ms(p(primaryTimes, 0.5)), benchutil.Ms(p(primaryTimes, 0.99)),
		benchutil.Ms(p(standbyTimes, 0.5)), benchutil.Ms(p(standbyTimes, 0.99)),
		len(primaryTimes), fallbacks, float64(rows.Load())/elapsed.Seconds())
	return nil
}

func subdir(dir, name string) string {
	d := dir + "/" + name
	_ = os.MkdirAll(d, 0o755)
	return d
}

func say(msg string) { fmt.Fprintln(os.Stderr, "bench-standby:", msg) }

type client struct {
	http *http.Client
	key  string
}

func (c client) post(ctx context.Context, base, body string) error {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/readings", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /v1/readings: %d %s", res.StatusCode, b[:min(len(b), 300)])
	}
	return nil
}

// get times one query and says which database served it.
func (c client) get(ctx context.Context, base, path string) (time.Duration, string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	began := time.Now()
	res, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	took := time.Since(began)
	if err != nil {
		return 0, "", err
	}
	if res.StatusCode != http.StatusOK {
		return 0, "", fmt.Errorf("GET %s: %d %s", path, res.StatusCode, b[:min(len(b), 300)])
	}
	return took, res.Header.Get("X-Gridmetrics-Database"), nil
}

// history is one day of a meter: power around 1–11 kW each minute and the
// register that integrates it.
func history(source string, day time.Time, seed int) string {
	var power, energy strings.Builder
	register := float64(seed) * 1e6
	for m := range 1440 {
		at := day.Add(time.Duration(m) * time.Minute).Format(time.RFC3339)
		w := 1000 + float64((seed*7919+m*104729)%10000)
		register += w / 60
		if m > 0 {
			power.WriteByte(',')
			energy.WriteByte(',')
		}
		fmt.Fprintf(&power, `[%q,%g]`, at, w)
		fmt.Fprintf(&energy, `[%q,%.0f]`, at, register)
	}
	return fmt.Sprintf(`{"series":[{"source":%q,"metric":"power_import","unit":"W","points":[%s]},{"source":%q,"metric":"energy_import","unit":"Wh","points":[%s]}]}`,
		source, power.String(), source, energy.String())
}

// live is the n-th batch of writer w: rows of 100 live meters, a second
// apart per meter, in the last hours.
func live(w, n, rows int) string {
	const meters = 100
	base := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	var b strings.Builder
	b.WriteString(`{"readings":[`)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		at := base.Add(time.Duration(n*rows/meters+i/meters) * time.Second)
		fmt.Fprintf(&b, `{"source":"L-%d-%d","metric":"power_import","time":%q,"value":%d}`, w, i%meters, at.Format(time.RFC3339), 1000+i)
	}
	b.WriteString("]}")
	return b.String()
}
