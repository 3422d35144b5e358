package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/rollups"
	"github.com/gridmetrics/gridmetrics/schema"
	"github.com/gridmetrics/gridmetrics/sources"
)

// The dataset's fixed parts.
const (
	tenantName = "bench-query"
	siteID     = "bench-site"
	siteSize   = 100 // the first sources are the site's
	timezone   = "Europe/Berlin"
	// datasetVersion names the generator; a kept database made by another
	// version is generated anew.
	datasetVersion = "gridmetrics bench-query dataset v1"
	// copyConns is the number of connections the rows are copied on.
	copyConns = 2
)

// dataset describes a generated database, as recorded in its comment.
type dataset struct {
	Sources, Days int
	End           time.Time // exclusive; a UTC midnight
	Rows          int64
	GenerateS     float64 // seconds to copy the rows
	VacuumS       float64 // seconds of VACUUM ANALYZE
	RollupsS      float64 // seconds to build the tiers
}

func (d dataset) start() time.Time { return d.End.AddDate(0, 0, -d.Days) }

// comment is the database comment that marks a complete dataset.
func (d dataset) comment() string {
	return fmt.Sprintf("%s: sources=%d days=%d end=%s rows=%d generate_s=%.1f vacuum_s=%.1f rollups_s=%.1f",
		datasetVersion, d.Sources, d.Days, d.End.Format(time.RFC3339), d.Rows, d.GenerateS, d.VacuumS, d.RollupsS)
}

func parseComment(c string) (dataset, bool) {
	rest, ok := strings.CutPrefix(c, datasetVersion+": ")
	if !ok {
		return dataset{}, false
	}
	var d dataset
	var end string
	_, err := fmt.Sscanf(rest, "sources=%d days=%d end=%s rows=%d generate_s=%g vacuum_s=%g rollups_s=%g",
		&d.Sources, &d.Days, &end, &d.Rows, &d.GenerateS, &d.VacuumS, &d.RollupsS)
	if err != nil {
		return dataset{}, false
	}
	if d.End, err = time.Parse(time.RFC3339, end); err != nil {
		return dataset{}, false
	}
	return d, true
}

// keptDatabase is the name a kept dataset lives under.
func keptDatabase(sources, days int) string { return fmt.Sprintf("bench_query_%ds_%dd", sources, days) }

// reusable returns the kept dataset in database name when it exists and
// is complete and of the wanted size.
func reusable(ctx context.Context, serverURL, name string, sources, days int) (dataset, bool, error) {
	conn, err := pgx.Connect(ctx, benchutil.WithDatabase(serverURL, "postgres"))
	if err != nil {
		return dataset{}, false, err
	}
	defer conn.Close(context.Background())
	var c *string
	err = conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, name).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && c == nil {
		return dataset{}, false, nil
	}
	if err != nil {
		return dataset{}, false, err
	}
	d, ok := parseComment(*c)
	return d, ok && d.Sources == sources && d.Days == days, nil
}

// generate fills a fresh, migrated database: the tenant, the sources, the
// readings, the tiers. It prints its progress and records the dataset in
// the database's comment last, so an interrupted run is not reused.
func generate(ctx context.Context, pool *pgxpool.Pool, bin, dbURL, dbName string, d dataset) (dataset, error) {
	if _, err := schema.Migrate(ctx, pool, schema.Options{}); err != nil {
		return d, fmt.Errorf("migrate: %w", err)
	}
	out, err := benchutil.CLI(ctx, bin, "tenant", "create", "--name", tenantName, "--database-url", dbURL)
	if err != nil {
		return d, err
	}
	i := strings.LastIndex(out, "ten_")
	if i < 0 {
		return d, fmt.Errorf("tenant create printed no tenant id: %q", out)
	}
	tenant, err := auth.NewStore(pool).TenantByPublicID(ctx, strings.TrimSpace(out[i:]))
	if err != nil {
		return d, fmt.Errorf("find tenant: %w", err)
	}
	meters, err := createSources(ctx, pool, tenant.ID, d.Sources)
	if err != nil {
		return d, err
	}
	var energy, power int16
	if err := pool.QueryRow(ctx, `SELECT (SELECT id FROM metrics WHERE name = 'energy_import'), (SELECT id FROM metrics WHERE name = 'power_import')`).Scan(&energy, &power); err != nil {
		return d, fmt.Errorf("metric ids: %w", err)
	}

	began := time.Now()
	if d.Rows, err = copyReadings(ctx, pool, meters, d, energy, power); err != nil {
		return d, err
	}
	d.GenerateS = time.Since(began).Seconds()
	if want := int64(d.Sources) * int64(d.Days) * 1440 * 2; d.Rows != want {
		return d, fmt.Errorf("copied %d rows, want %d", d.Rows, want)
	}
	fmt.Printf("generate: %d rows in %.1f s (%.0f rows/s, pgx CopyFrom on %d connections)\n", d.Rows, d.GenerateS, float64(d.Rows)/d.GenerateS, copyConns)
	if err := writeLatest(ctx, pool, meters, d, energy, power); err != nil {
		return d, err
	}

	began = time.Now()
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) readings"); err != nil {
		return d, fmt.Errorf("vacuum readings: %w", err)
	}
	d.VacuumS = time.Since(began).Seconds()
	fmt.Printf("generate: VACUUM (ANALYZE) readings in %.1f s\n", d.VacuumS)

	began = time.Now()
	if err := buildRollups(ctx, pool, d.End); err != nil {
		return d, err
	}
	d.RollupsS = time.Since(began).Seconds()
	fmt.Printf("generate: rollup tiers built in %.1f s\n", d.RollupsS)

	_, err = pool.Exec(ctx, "COMMENT ON DATABASE "+pgx.Identifier{dbName}.Sanitize()+" IS "+quote(d.comment()))
	return d, err
}

// quote is a SQL string literal (COMMENT takes no parameters).
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// createSources registers the chargers: CB-0001…, the first siteSize in
// the site.
func createSources(ctx context.Context, pool *pgxpool.Pool, tenantID int64, n int) ([]meter, error) {
	st := sources.NewStore(pool)
	meters := make([]meter, n)
	site := siteID
	for i := range meters {
		ns := sources.NewSource{ExternalID: fmt.Sprintf("CB-%04d", i+1), Kind: sources.KindCharger, Name: fmt.Sprintf("Charger %d", i+1), Timezone: timezone}
		if i < siteSize {
			ns.SiteID = &site
		}
		s, err := st.Create(ctx, tenantID, ns)
		if err != nil {
			return nil, fmt.Errorf("create source %s: %w", ns.ExternalID, err)
		}
		meters[i] = newMeter(s.ID, i)
	}
	return meters, nil
}

// copyReadings copies every row in time order, one hour at a time: each
// connection copies its half of the meters, and the next hour starts when
// both are done. Rows therefore lie in the table in time order, as
// ingest leaves them, which the BRIN index on time (the rollup refresh)
// depends on.
func copyReadings(ctx context.Context, pool *pgxpool.Pool, meters []meter, d dataset, energy, power int16) (int64, error) {
	conns := make([]*pgxpool.Conn, copyConns)
	batches := make([]*copyBatch, copyConns)
	for i := range conns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return 0, err
		}
		defer c.Release()
		conns[i] = c
		lo, hi := len(meters)*i/copyConns, len(meters)*(i+1)/copyConns
		batches[i] = newCopyBatch(meters[lo:hi], energy, power)
	}
	start := d.start().UnixMicro()
	hours := d.Days * 24
	began := time.Now()
	var total int64
	for h := range hours {
		var wg sync.WaitGroup
		errs := make([]error, copyConns)
		for i, b := range batches {
			b.reset(start+int64(h)*3600e6, 60)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := conns[i].CopyFrom(ctx, pgx.Identifier{"readings"}, readingsColumns, b); err != nil {
					errs[i] = fmt.Errorf("copy hour %d: %w", h, err)
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return 0, err
		}
		if (h+1)%(5*24) == 0 || h+1 == hours {
			total = 0
			for _, b := range batches {
				total += b.rows
			}
			el := time.Since(began).Seconds()
			fmt.Printf("generate: day %d/%d, %d rows, %.0f rows/s\n", (h+1)/24, d.Days, total, float64(total)/el)
		}
	}
	return total, nil
}

// writeLatest fills latest_readings, as ingest would have.
func writeLatest(ctx context.Context, pool *pgxpool.Pool, meters []meter, d dataset, energy, power int16) error {
	last := d.End.Add(-time.Minute).UnixMicro()
	var ids []int64
	var metrics []int16
	var times []time.Time
	var values []float64
	for i := range meters {
		m := &meters[i]
		at := time.UnixMicro(last + m.offset)
		ids = append(ids, m.id, m.id)
		metrics = append(metrics, energy, power)
		times = append(times, at, at)
		values = append(values, m.reading(), m.power)
	}
	_, err := pool.Exec(ctx, `INSERT INTO latest_readings (source_id, metric, time, value)
		SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::timestamptz[], $4::float8[])`, ids, metrics, times, values)
	if err != nil {
		return fmt.Errorf("write latest_readings: %w", err)
	}
	return nil
}

// buildRollups refreshes every tier, finest first, with the clock just
// after the data's end, so each watermark reaches end.
func buildRollups(ctx context.Context, pool *pgxpool.Pool, end time.Time) error {
	cfg := rollups.Config{}.WithDefaults()
	r := rollups.NewRunner(pool, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), rollups.NewMetrics(nil))
	r.Now = func() time.Time { return end.Add(cfg.Lateness + time.Second) }
	for _, t := range rollups.Tiers {
		began := time.Now()
		before := r.Buckets.Load()
		if err := r.Refresh(ctx, t); err != nil {
			return fmt.Errorf("refresh %s: %w", t.Name, err)
		}
		if _, err := pool.Exec(ctx, "ANALYZE "+pgx.Identifier{t.Table}.Sanitize()); err != nil {
			return err
		}
		var wm time.Time
		if err := pool.QueryRow(ctx, `SELECT watermark FROM rollup_watermarks WHERE tier = $1`, t.Name).Scan(&wm); err != nil {
			return fmt.Errorf("watermark of %s: %w", t.Name, err)
		}
		if !wm.Equal(end) {
			return fmt.Errorf("tier %s: watermark %s after refresh, want %s", t.Name, wm.UTC().Format(time.RFC3339), end.Format(time.RFC3339))
		}
		fmt.Printf("generate: tier %-3s %8d buckets in %5.1f s\n", t.Name, r.Buckets.Load()-before, time.Since(began).Seconds())
	}
	return nil
}

// printSizes prints the tables' sizes, indexes included.
func printSizes(ctx context.Context, pool *pgxpool.Pool) error {
	tables := []string{"readings"}
	for _, t := range rollups.Tiers {
		tables = append(tables, t.Table)
	}
	for _, t := range tables {
		var rows float64
		var heap, total string
		err := pool.QueryRow(ctx, `SELECT c.reltuples, pg_size_pretty(pg_table_size(c.oid)), pg_size_pretty(pg_total_relation_size(c.oid))
			FROM pg_class c WHERE c.oid = $1::regclass`, t).Scan(&rows, &heap, &total)
		if err != nil {
			return fmt.Errorf("size of %s: %w", t, err)
		}
		fmt.Printf("table %-10s ≈ %10.0f rows, %8s, %8s with indexes\n", t, rows, heap, total)
	}
	return nil
}
