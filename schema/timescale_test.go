package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/schema"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// timescalePool returns a migrated test database on TimescaleDB, or skips.
func timescalePool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := dbtest.New(t)
	st, err := schema.ReadStatus(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if st.Backend != schema.BackendTimescaleDB {
		t.Skip("needs TimescaleDB (scripts/test-timescale.sh)")
	}
	return pool
}

// jobsByProc returns the jobs keyed by "proc on hypertable".
func jobsByProc(t *testing.T, pool *pgxpool.Pool) map[string]schema.Job {
	t.Helper()
	jobs, err := schema.ReadJobs(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]schema.Job{}
	for _, j := range jobs {
		out[j.Proc+" on "+j.Hypertable] = j
	}
	return out
}

// TestTestDatabasesLeavePoliciesUnscheduled: every test database carries
// the policies, but TimescaleDB's scheduler never runs them behind a
// test's back (test data is older than the retention).
func TestTestDatabasesLeavePoliciesUnscheduled(t *testing.T) {
	t.Parallel()
	pool := timescalePool(t)
	jobs := jobsByProc(t, pool)
	for _, want := range []string{"policy_compression on readings", "policy_retention on readings", "policy_retention on rollup_15m"} {
		j, ok := jobs[want]
		if !ok {
			t.Errorf("no %s among %v", want, jobs)
			continue
		}
		if j.Scheduled {
			t.Errorf("%s (job %d) is scheduled in a test database", want, j.ID)
		}
	}
	if len(jobs) != 3 {
		t.Errorf("%d jobs, want 3: %v", len(jobs), jobs)
	}
}

// TestPoliciesRunOnDemand runs each policy with run_job and checks what it
// did: retention drops readings past 90 days and 15-minute rollups past two
// years, compression compresses readings chunks past 7 days.
func TestPoliciesRunOnDemand(t *testing.T) {
	t.Parallel()
	pool := timescalePool(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Hour)
	for _, age := range []time.Duration{200 * 24 * time.Hour, 30 * 24 * time.Hour, 24 * time.Hour} {
		if _, err := pool.Exec(ctx, `INSERT INTO readings (time, source_id, metric, value) VALUES ($1, 1, 1, 1)`, now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	for _, age := range []time.Duration{3 * 365 * 24 * time.Hour, 24 * time.Hour} {
		if _, err := pool.Exec(ctx, `INSERT INTO rollup_15m (bucket, source_id, metric, n, sum, min, max, first_time, first_value,
				last_time, last_value, integral, increase, resets, max_gap) VALUES ($1, 1, 1, 1, 1, 1, 1, $1, 1, $1, 1, 0, 0, 0, 0)`, now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	count := func(sql string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	jobs := jobsByProc(t, pool)
	run := func(name string) {
		t.Helper()
		j, ok := jobs[name]
		if !ok {
			t.Fatalf("no %s", name)
		}
		if err := schema.RunJob(ctx, pool, j.ID); err != nil {
			t.Fatal(err)
		}
	}

	run("policy_retention on readings")
	if n := count(`SELECT count(*) FROM readings`); n != 2 {
		t.Errorf("after readings retention: %d readings, want the 2 younger than 90 days", n)
	}
	run("policy_compression on readings")
	if n := count(`SELECT count(*) FROM timescaledb_information.chunks
		WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings' AND is_compressed`); n != 1 {
		t.Errorf("after compression: %d compressed chunks, want 1 (the 30-day-old one)", n)
	}
	if n := count(`SELECT count(*) FROM readings`); n != 2 {
		t.Errorf("after compression: %d readings, want 2", n)
	}
	run("policy_retention on rollup_15m")
	if n := count(`SELECT count(*) FROM rollup_15m`); n != 1 {
		t.Errorf("after rollup retention: %d rows, want the 1 younger than two years", n)
	}
	// Running a job by hand leaves it unscheduled.
	for name, j := range jobsByProc(t, pool) {
		if j.Scheduled {
			t.Errorf("%s is scheduled after run_job", name)
		}
	}
}

// TestReadJobsOnPostgreSQL: without TimescaleDB there are no jobs and no
// error.
func TestReadJobsOnPostgreSQL(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	st, err := schema.ReadStatus(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if st.Backend != schema.BackendPostgreSQL {
		t.Skip("runs on plain PostgreSQL")
	}
	jobs, err := schema.ReadJobs(context.Background(), pool)
	if err != nil || jobs != nil {
		t.Fatalf("jobs %v, err %v; want none", jobs, err)
	}
}

// TestChangedPolicyStaysPaused: a server started with other retention
// settings replaces the policies; one that was paused stays paused, so a
// test database's scheduler still leaves its data alone.
func TestChangedPolicyStaysPaused(t *testing.T) {
	t.Parallel()
	pool := timescalePool(t)
	before := jobsByProc(t, pool)
	opts := dbtest.Options
	opts.RawRetention = 24 * time.Hour
	if _, err := schema.Migrate(context.Background(), pool, opts); err != nil {
		t.Fatal(err)
	}
	after := jobsByProc(t, pool)
	j := after["policy_retention on readings"]
	if j.ID == before["policy_retention on readings"].ID || j.Scheduled {
		t.Errorf("readings retention: job %d (was %d), scheduled %v; want a new, paused job", j.ID, before["policy_retention on readings"].ID, j.Scheduled)
	}
	if len(after) != 3 {
		t.Errorf("%d jobs after the change: %v", len(after), after)
	}
}
