package schema_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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

// TestReadJobsConsecutiveFailures: the failures since the last success,
// which job_stats does not show, come from the scheduler's bgw_job_stat.
// The harness runs no scheduler and CALL run_job records no stats, so the
// scheduler's record of three failures in a row (after two successes) is
// written by hand, as the scheduler would.
func TestReadJobsConsecutiveFailures(t *testing.T) {
	t.Parallel()
	pool := timescalePool(t)
	ctx := context.Background()
	j := jobsByProc(t, pool)["policy_retention on readings"]
	if j.ID == 0 {
		t.Fatal("no retention policy on readings")
	}
	if j.ConsecutiveFailures != nil || j.LastStatus != nil {
		t.Fatalf("before any run: consecutive %v, status %v; want both unknown", j.ConsecutiveFailures, j.LastStatus)
	}
	var table string
	if err := pool.QueryRow(ctx, `SELECT coalesce(to_regclass('_timescaledb_internal.bgw_job_stat'),
		to_regclass('_timescaledb_catalog.bgw_job_stat'))::text`).Scan(&table); err != nil {
		t.Skipf("no bgw_job_stat in this TimescaleDB: %v", err)
	}
	ran := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	_, err := pool.Exec(ctx, `INSERT INTO `+table+` (job_id, last_start, last_finish, next_start, last_successful_finish,
			last_run_success, total_runs, total_duration, total_duration_failures, total_successes, total_failures,
			total_crashes, consecutive_failures, consecutive_crashes)
		VALUES ($1, $2::timestamptz, $2::timestamptz + interval '1 second', $2::timestamptz + interval '1 day', $2::timestamptz - interval '3 days',
			false, 5, interval '5 seconds', interval '3 seconds', 2, 3, 0, 3, 0)`, j.ID, ran)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "42501" {
		t.Skipf("no privilege to write the scheduler's stats here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	j = jobsByProc(t, pool)["policy_retention on readings"]
	if !j.Failing() || j.Failures == nil || *j.Failures != 3 || j.ConsecutiveFailures == nil || *j.ConsecutiveFailures != 3 ||
		j.LastRunAt == nil || !j.LastRunAt.Equal(ran) {
		t.Errorf("after three failures: status %v, total %v, consecutive %v, last run %v", deref(j.LastStatus), deref(j.Failures), deref(j.ConsecutiveFailures), j.LastRunAt)
	}
	// A success resets the count, as the scheduler does.
	if _, err := pool.Exec(ctx, `UPDATE `+table+` SET last_run_success = true, consecutive_failures = 0,
		total_runs = 6, total_successes = 3 WHERE job_id = $1`, j.ID); err != nil {
		t.Fatal(err)
	}
	j = jobsByProc(t, pool)["policy_retention on readings"]
	if j.Failing() || j.ConsecutiveFailures == nil || *j.ConsecutiveFailures != 0 {
		t.Errorf("after a success: status %v, consecutive %v", deref(j.LastStatus), deref(j.ConsecutiveFailures))
	}
	// The other jobs have no stats yet: their count stays unknown.
	for name, other := range jobsByProc(t, pool) {
		if other.ID != j.ID && other.ConsecutiveFailures != nil {
			t.Errorf("%s never ran but has %d consecutive failures", name, *other.ConsecutiveFailures)
		}
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
