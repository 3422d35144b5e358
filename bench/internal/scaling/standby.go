package scaling

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
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/internal/pgpair"
	"github.com/gridmetrics/gridmetrics/rollups"
)

// StandbyConfig is the history, the queries and the live ingest of
// MeasureStandby.
type StandbyConfig struct {
	// Sources is meters with history (default 20).
	Sources int
	// Days is days of 1-minute history per meter, at least 2 (default 7).
	Days int
	// Iterations is timed requests per query and server (default 100).
	Iterations int
	// Writers is clients posting live readings meanwhile (default 2).
	Writers int
	// Batch is rows per live ingest request (default 1000).
	Batch int
	// Progress receives a line per phase; nil: os.Stderr.
	Progress io.Writer
}

// DefaultStandbyConfig is the configuration of make bench-standby.
func DefaultStandbyConfig() StandbyConfig {
	return StandbyConfig{Sources: 20, Days: 7, Iterations: 100, Writers: 2, Batch: 1000}
}

// Flags registers the configuration's flags on fs, each name after
// prefix, with the configuration's values as defaults.
func (c *StandbyConfig) Flags(fs *flag.FlagSet, prefix string) {
	fs.IntVar(&c.Sources, prefix+"sources", c.Sources, "meters with history")
	fs.IntVar(&c.Days, prefix+"days", c.Days, "days of 1-minute history per meter")
	fs.IntVar(&c.Iterations, prefix+"iterations", c.Iterations, "timed requests per query and server")
	fs.IntVar(&c.Writers, prefix+"writers", c.Writers, "clients posting live readings meanwhile")
	fs.IntVar(&c.Batch, prefix+"batch", c.Batch, "rows per live ingest request")
}

// StandbyResult is what MeasureStandby measured.
type StandbyResult struct {
	// PrimaryP50 and PrimaryP99 are the query latencies of the server
	// reading the primary; StandbyP50 and StandbyP99 of the server reading
	// the standby, its answers from the standby only.
	PrimaryP50, PrimaryP99, StandbyP50, StandbyP99 time.Duration
	// Queries is the timed queries per server; Fallbacks those of them
	// the standby's server answered from the primary.
	Queries, Fallbacks int
	// IngestRowsS is the live ingest's rows per second meanwhile.
	IngestRowsS float64
	// WALBytesPerRow is the primary's WAL written while the history was
	// ingested over HTTP, per row: what each standby replays, and what a
	// primary ships to each, per reading.
	WALBytesPerRow float64
}

// MeasureStandby measures dashboard queries answered by the primary
// against the same queries answered by a streaming standby, while ingest
// runs on the primary.
//
// It starts a private primary and a pg_basebackup standby of it
// (internal/pgpair), builds ./cmd/gridmetrics and serves the primary's
// database twice: one server reads the primary only, the other has
// read-database-url set to the standby. History is ingested over HTTP —
// cfg.Sources meters, a power_import gauge and an energy_import register,
// one sample a minute for cfg.Days days ending at the last UTC midnight —
// and the rollup tiers are built. Then cfg.Writers clients post live
// readings of other meters (cfg.Batch rows a request) through the
// primary's server while one client times the same queries, alternating
// between the two servers:
//
//	energy_1h   GET /v1/sources/{id}/energy, the whole history, bucket=1h
//	power_15m   GET /v1/sources/{id}/readings?metric=power_import&agg=avg,max, the last day, bucket=15m
//
// Each standby answer must say X-Gridmetrics-Database: standby to count as
// the standby's (fallbacks to the primary are counted apart). Both
// databases share this machine's cores, so the figures show what the
// standby's extra hop and replay cost, not the offload a standby on its
// own machine gives.
func MeasureStandby(ctx context.Context, cfg StandbyConfig) (StandbyResult, error) {
	var r StandbyResult
	if cfg.Sources < 1 || cfg.Days < 2 || cfg.Iterations < 1 || cfg.Writers < 0 || cfg.Batch < 1 {
		return r, errors.New("sources, iterations and batch must be positive, days at least 2, writers not negative")
	}
	say := func(format string, args ...any) { progress(cfg.Progress, "standby: "+format, args...) }
	root, err := benchutil.RepoRoot()
	if err != nil {
		return r, err
	}
	dir, err := os.MkdirTemp("", "bench-standby")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	say("building ./cmd/gridmetrics")
	bin, err := benchutil.BuildServer(ctx, root, dir, false)
	if err != nil {
		return r, err
	}
	say("starting a primary and a streaming standby")
	pair, err := pgpair.Start(ctx, "bench-standby")
	if err != nil {
		return r, err
	}
	defer pair.Close()
	if err := pair.CreateDatabase(ctx, "gm", ""); err != nil {
		return r, err
	}
	primaryURL, standbyURL := pair.Primary.Database("gm"), pair.Standby.Database("gm")
	if _, err := benchutil.CLI(ctx, bin, "migrate", "--database-url", primaryURL); err != nil {
		return r, err
	}
	_, key, err := benchutil.Tenant(ctx, bin, primaryURL, "ingest,read")
	if err != nil {
		return r, err
	}
	common := []string{"--rollup-jobs=false"}
	onPrimary, err := benchutil.StartServer(ctx, bin, primaryURL, subdir(dir, "primary"), false, common)
	if err != nil {
		return r, err
	}
	defer onPrimary.Stop()
	onStandby, err := benchutil.StartServer(ctx, bin, primaryURL, subdir(dir, "standby"), false,
		append(common, "--read-database-url", standbyURL))
	if err != nil {
		return r, err
	}
	defer onStandby.Stop()
	c := client{http: &http.Client{Timeout: time.Minute}, key: key}

	end := time.Now().UTC().Truncate(24 * time.Hour)
	start := end.Add(-time.Duration(cfg.Days) * 24 * time.Hour)
	historyRows := cfg.Sources * cfg.Days * 1440 * 2
	say("ingesting %d meters × %d days of 1-minute readings (%d rows)", cfg.Sources, cfg.Days, historyRows)
	walBefore, err := walPosition(ctx, primaryURL)
	if err != nil {
		return r, err
	}
	for s := range cfg.Sources {
		for day := start; day.Before(end); day = day.Add(24 * time.Hour) {
			if err := c.post(ctx, onPrimary.Base, history(fmt.Sprintf("M-%d", s), day, s)); err != nil {
				return r, err
			}
		}
	}
	walAfter, err := walPosition(ctx, primaryURL)
	if err != nil {
		return r, err
	}
	r.WALBytesPerRow = float64(walAfter-walBefore) / float64(historyRows)
	say("building the rollup tiers")
	if err := buildTiers(ctx, primaryURL, end.Add(24*time.Hour)); err != nil {
		return r, err
	}
	if err := pair.WaitReplayed(ctx); err != nil {
		return r, err
	}

	// Live ingest through the primary's server until the queries are done.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var rows atomic.Int64
	var loadErr error
	var loadOnce sync.Once
	var load sync.WaitGroup
	for w := range cfg.Writers {
		load.Add(1)
		go func() {
			defer load.Done()
			for n := 0; loadCtx.Err() == nil; n++ {
				if err := c.post(loadCtx, onPrimary.Base, live(w, n, cfg.Batch)); err != nil {
					if loadCtx.Err() == nil {
						loadOnce.Do(func() { loadErr = err })
					}
					return
				}
				rows.Add(int64(cfg.Batch))
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
	say("timing %d queries on each server while %d clients ingest", 2*cfg.Iterations, cfg.Writers)
	var primaryTimes, standbyTimes []time.Duration
	const warmup = 3
	for i := range cfg.Iterations + warmup {
		for _, path := range queries(rand.IntN(cfg.Sources)) {
			d, _, err := c.get(ctx, onPrimary.Base, path)
			if err != nil {
				return r, err
			}
			ds, db, err := c.get(ctx, onStandby.Base, path)
			if err != nil {
				return r, err
			}
			if i < warmup {
				continue
			}
			primaryTimes = append(primaryTimes, d)
			if db == "standby" {
				standbyTimes = append(standbyTimes, ds)
			} else {
				r.Fallbacks++
			}
		}
	}
	elapsed := time.Since(loadStart)
	stopLoad()
	load.Wait()
	if loadErr != nil {
		return r, fmt.Errorf("live ingest: %w", loadErr)
	}
	if len(standbyTimes) == 0 {
		return r, errors.New("the standby served no query")
	}
	slices.Sort(primaryTimes)
	slices.Sort(standbyTimes)
	p := benchutil.Percentile
	r.PrimaryP50, r.PrimaryP99 = p(primaryTimes, 0.5), p(primaryTimes, 0.99)
	r.StandbyP50, r.StandbyP99 = p(standbyTimes, 0.5), p(standbyTimes, 0.99)
	r.Queries = len(primaryTimes)
	r.IngestRowsS = float64(rows.Load()) / elapsed.Seconds()
	return r, nil
}

// buildTiers refreshes every rollup tier with the clock at now.
func buildTiers(ctx context.Context, dbURL string, now time.Time) error {
	pool, err := benchutil.OpenPool(ctx, dbURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	runner := rollups.NewRunner(pool, rollups.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), rollups.NewMetrics(nil))
	runner.Now = func() time.Time { return now }
	for _, tier := range rollups.Tiers {
		if err := runner.Refresh(ctx, tier); err != nil {
			return err
		}
	}
	return nil
}

// walPosition is the primary's WAL insert position, in bytes.
func walPosition(ctx context.Context, dbURL string) (int64, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var pos int64
	err = conn.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn`).Scan(&pos)
	return pos, err
}

func subdir(dir, name string) string {
	d := filepath.Join(dir, name)
	_ = os.MkdirAll(d, 0o755)
	return d
}

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
