package schema_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/schema"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewEmpty(t)

	if _, err := schema.ReadStatus(ctx, pool); !errors.Is(err, schema.ErrNotMigrated) {
		t.Fatalf("status before migrating: err = %v, want ErrNotMigrated", err)
	}
	first, err := schema.Migrate(ctx, pool, dbtest.Options)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	second, err := schema.Migrate(ctx, pool, dbtest.Options)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if first != second || first.Version != schema.LatestVersion() {
		t.Fatalf("results %+v then %+v, want both at version %d", first, second, schema.LatestVersion())
	}
	st, err := schema.ReadStatus(ctx, pool)
	if err != nil {
		t.Fatalf("status after migrating: %v", err)
	}
	if st.Version != st.Latest || st.Backend != first.Backend {
		t.Fatalf("status %+v, want version %d on %s", st, st.Latest, first.Backend)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	if dbtest.SchemaIsolation() {
		t.Skip("the schema-isolated server takes one connection at a time")
	}
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewEmpty(t)

	// Separate pools stand for separate processes starting at once.
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := pgxpool.NewWithConfig(ctx, pool.Config().Copy())
			if err != nil {
				errs[i] = err
				return
			}
			defer p.Close()
			_, errs[i] = schema.Migrate(ctx, p, dbtest.Options)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
	var count int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM metrics").Scan(&count); err != nil || count == 0 {
		t.Fatalf("metrics catalogue: count %d, err %v", count, err)
	}
}

func TestBackend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	st, err := schema.ReadStatus(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if want := dbtest.ExpectedBackend(); want != "" && st.Backend != want {
		t.Fatalf("backend %s, want %s", st.Backend, want)
	}
	var hypertable bool
	err = pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&hypertable)
	if err != nil {
		t.Fatal(err)
	}
	if st.Backend == schema.BackendPostgreSQL {
		if hypertable {
			t.Fatal("backend reported as postgresql while timescaledb is installed")
		}
		return
	}
	checkHypertable(t, pool, 7*24*time.Hour, 90*24*time.Hour)
	var rollupTables int
	err = pool.QueryRow(ctx, `SELECT count(*) FROM timescaledb_information.hypertables
		WHERE hypertable_name IN ('rollup_15m', 'rollup_1h', 'rollup_1d') AND hypertable_schema = current_schema()`).Scan(&rollupTables)
	if err != nil || rollupTables != 3 {
		t.Fatalf("%d rollup tiers are hypertables (err %v), want 3", rollupTables, err)
	}
	var rollupRetention int
	err = pool.QueryRow(ctx, `SELECT count(*) FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'
		AND hypertable_name = 'rollup_15m' AND hypertable_schema = current_schema()
		AND (config->>'drop_after')::interval = interval '730 days'`).Scan(&rollupRetention)
	if err != nil || rollupRetention != 1 {
		t.Fatalf("rollup_15m retention policies: %d (err %v), want one of 730 days", rollupRetention, err)
	}

	// Changed settings replace the policies; a negative one removes it.
	opts := schema.Options{CompressAfter: 2 * 24 * time.Hour, RawRetention: -1}
	if _, err := schema.Migrate(ctx, pool, opts); err != nil {
		t.Fatal(err)
	}
	checkHypertable(t, pool, 2*24*time.Hour, 0)
}

// checkHypertable asserts readings is a compressed hypertable with the given
// policy intervals (0: no such policy).
func checkHypertable(t *testing.T, pool *pgxpool.Pool, compressAfter, retention time.Duration) {
	t.Helper()
	ctx := context.Background()
	var compressed bool
	err := pool.QueryRow(ctx, `SELECT compression_enabled FROM timescaledb_information.hypertables
		WHERE hypertable_name = 'readings' AND hypertable_schema = current_schema()`).Scan(&compressed)
	if err != nil {
		t.Fatalf("readings is not a hypertable: %v", err)
	}
	if !compressed {
		t.Error("readings hypertable has compression disabled")
	}
	for proc, want := range map[string]time.Duration{"policy_compression": compressAfter, "policy_retention": retention} {
		key := map[string]string{"policy_compression": "compress_after", "policy_retention": "drop_after"}[proc]
		var n int
		var same bool
		err := pool.QueryRow(ctx, `SELECT count(*), coalesce(bool_and((config->>$2)::interval = $3::interval), false)
			FROM timescaledb_information.jobs
			WHERE proc_name = $1 AND hypertable_name = 'readings' AND hypertable_schema = current_schema()`,
			proc, key, want).Scan(&n, &same)
		if err != nil {
			t.Fatalf("%s: %v", proc, err)
		}
		switch {
		case want == 0 && n != 0:
			t.Errorf("%s: %d jobs, want none", proc, n)
		case want != 0 && (n != 1 || !same):
			t.Errorf("%s: %d jobs (interval matches: %v), want one with %s", proc, n, same, want)
		}
	}
}
