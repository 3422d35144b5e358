package rollups

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gridmetrics/gridmetrics/schema"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// TestStatusIsTenantScoped: a tenant's admin sees its own late data only,
// and a failed run as a fact, never the error's text.
func TestStatusIsTenantScoped(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	ctx := context.Background()
	// Two tenants with a source each; tenant 2 has three series waiting
	// to be re-aggregated, tenant 1 one.
	var tenants [2]int64
	var srcs [2]int64
	for i := range 2 {
		name := []string{"a", "b"}[i]
		if err := pool.QueryRow(ctx, `INSERT INTO tenants (public_id, name) VALUES ($1, $1) RETURNING id`, "ten_"+name).Scan(&tenants[i]); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, `INSERT INTO sources (public_id, tenant_id, external_id, kind) VALUES ($1, $2, $1, 'meter') RETURNING id`,
			"src_"+name, tenants[i]).Scan(&srcs[i]); err != nil {
			t.Fatal(err)
		}
	}
	early := now.Add(-48 * time.Hour)
	for _, inv := range []struct {
		src    int64
		metric int
		at     time.Time
	}{{srcs[0], 1, now.Add(-time.Hour)}, {srcs[1], 1, early}, {srcs[1], 2, now}, {srcs[1], 3, now}} {
		if _, err := pool.Exec(ctx, `INSERT INTO rollup_invalidations (source_id, metric, earliest) VALUES ($1, $2, $3)`, inv.src, inv.metric, inv.at); err != nil {
			t.Fatal(err)
		}
	}
	// A refresh that failed with the server's text, and one that ran well.
	const secret = `ERROR: relation "tenant_b_secret" does not exist (SQLSTATE 42P01)`
	if _, err := pool.Exec(ctx, `INSERT INTO rollup_watermarks (tier, watermark, last_run_at, last_duration_s, last_error)
		VALUES ('15m', $1, $1, 0.5, $2), ('1h', $1, $1, 0.1, NULL)`, now.Add(-time.Hour), secret); err != nil {
		t.Fatal(err)
	}

	st, err := ReadStatus(ctx, pool, tenants[0], now)
	if err != nil {
		t.Fatal(err)
	}
	if st.PendingInvalidations != 1 || st.OldestInvalidation == nil || !st.OldestInvalidation.Equal(now.Add(-time.Hour)) {
		t.Errorf("tenant a: %d pending from %v, want its 1 from %s", st.PendingInvalidations, st.OldestInvalidation, now.Add(-time.Hour))
	}
	b, _ := json.Marshal(st)
	if strings.Contains(string(b), "tenant_b_secret") || strings.Contains(string(b), "SQLSTATE") {
		t.Errorf("status shows the error's text: %s", b)
	}
	if s := st.Tiers[0]; s.LastStatus == nil || *s.LastStatus != "failed" || s.LastError == nil || *s.LastError != failedRun {
		t.Errorf("15m: %s", b)
	}
	if s := st.Tiers[1]; s.LastStatus == nil || *s.LastStatus != "succeeded" || s.LastError != nil {
		t.Errorf("1h: %s", b)
	}
	if s := st.Tiers[2]; s.LastStatus != nil || s.Watermark != nil {
		t.Errorf("1d never ran: %s", b)
	}

	st, err = ReadStatus(ctx, pool, tenants[1], now)
	if err != nil {
		t.Fatal(err)
	}
	if st.PendingInvalidations != 3 || st.OldestInvalidation == nil || !st.OldestInvalidation.Equal(early) {
		t.Errorf("tenant b: %d pending from %v, want 3 from %s", st.PendingInvalidations, st.OldestInvalidation, early)
	}
	st, err = ReadStatus(ctx, pool, tenants[1]+100, now)
	if err != nil || st.PendingInvalidations != 0 || st.OldestInvalidation != nil {
		t.Errorf("a tenant without sources: %+v %v", st, err)
	}
}

func ptr[T any](v T) *T { return &v }

// fakeJobs are the three policies: retention ran well, compression's last
// run failed (the last two in a row, three in all), the 15-minute retention
// never ran.
func fakeJobs() []schema.Job {
	ran := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	return []schema.Job{
		{ID: 1000, Proc: "policy_compression", Hypertable: "readings", Scheduled: true,
			LastRunAt: &ran, LastStatus: ptr("Failed"), TotalRuns: ptr(int64(5)), Failures: ptr(int64(3)), ConsecutiveFailures: ptr(int64(2))},
		{ID: 1001, Proc: "policy_retention", Hypertable: "readings", Scheduled: true,
			LastRunAt: &ran, LastStatus: ptr("Success"), TotalRuns: ptr(int64(5)), Failures: ptr(int64(0)), ConsecutiveFailures: ptr(int64(0))},
		{ID: 1002, Proc: "policy_retention", Hypertable: "rollup_15m", Scheduled: false},
	}
}

func TestJobsCollector(t *testing.T) {
	t.Parallel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := NewJobsCollector(func(context.Context) ([]schema.Job, error) { return fakeJobs(), nil }, quiet)
	want := `
# HELP gridmetrics_timescaledb_job_consecutive_failures Failed runs of the TimescaleDB job since its last success; absent before its first run or when TimescaleDB does not expose the count.
# TYPE gridmetrics_timescaledb_job_consecutive_failures gauge
gridmetrics_timescaledb_job_consecutive_failures{hypertable="readings",job_id="1000",proc="policy_compression"} 2
gridmetrics_timescaledb_job_consecutive_failures{hypertable="readings",job_id="1001",proc="policy_retention"} 0
# HELP gridmetrics_timescaledb_job_failing 1 when the TimescaleDB job's last run failed, else 0.
# TYPE gridmetrics_timescaledb_job_failing gauge
gridmetrics_timescaledb_job_failing{hypertable="readings",job_id="1000",proc="policy_compression"} 1
gridmetrics_timescaledb_job_failing{hypertable="readings",job_id="1001",proc="policy_retention"} 0
gridmetrics_timescaledb_job_failing{hypertable="rollup_15m",job_id="1002",proc="policy_retention"} 0
# HELP gridmetrics_timescaledb_job_failures_total Failed runs of the TimescaleDB job, as its stats count them.
# TYPE gridmetrics_timescaledb_job_failures_total counter
gridmetrics_timescaledb_job_failures_total{hypertable="readings",job_id="1000",proc="policy_compression"} 3
gridmetrics_timescaledb_job_failures_total{hypertable="readings",job_id="1001",proc="policy_retention"} 0
gridmetrics_timescaledb_job_failures_total{hypertable="rollup_15m",job_id="1002",proc="policy_retention"} 0
# HELP gridmetrics_timescaledb_job_last_run_timestamp_seconds Start of the TimescaleDB job's last run (Unix time); absent before its first.
# TYPE gridmetrics_timescaledb_job_last_run_timestamp_seconds gauge
gridmetrics_timescaledb_job_last_run_timestamp_seconds{hypertable="readings",job_id="1000",proc="policy_compression"} 1.773144e+09
gridmetrics_timescaledb_job_last_run_timestamp_seconds{hypertable="readings",job_id="1001",proc="policy_retention"} 1.773144e+09
# HELP gridmetrics_timescaledb_job_scheduled 1 when TimescaleDB's scheduler runs the job, 0 when it is paused.
# TYPE gridmetrics_timescaledb_job_scheduled gauge
gridmetrics_timescaledb_job_scheduled{hypertable="readings",job_id="1000",proc="policy_compression"} 1
gridmetrics_timescaledb_job_scheduled{hypertable="readings",job_id="1001",proc="policy_retention"} 1
gridmetrics_timescaledb_job_scheduled{hypertable="rollup_15m",job_id="1002",proc="policy_retention"} 0
# HELP gridmetrics_timescaledb_jobs_up 1 when TimescaleDB's job stats could be read on this scrape, else 0.
# TYPE gridmetrics_timescaledb_jobs_up gauge
gridmetrics_timescaledb_jobs_up 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// A failed read is a gauge at 0, not a failed scrape.
	broken := NewJobsCollector(func(context.Context) ([]schema.Job, error) { return nil, errors.New("connection refused") }, quiet)
	if err := testutil.CollectAndCompare(broken, strings.NewReader(`
# HELP gridmetrics_timescaledb_jobs_up 1 when TimescaleDB's job stats could be read on this scrape, else 0.
# TYPE gridmetrics_timescaledb_jobs_up gauge
gridmetrics_timescaledb_jobs_up 0
`)); err != nil {
		t.Error(err)
	}
}

func TestJobsFact(t *testing.T) {
	t.Parallel()
	f := JobsFact(fakeJobs(), nil)
	b, _ := json.Marshal(f)
	if f["status"] != "degraded" || f["jobs"] != 3 ||
		!strings.Contains(string(b), `"failing":[{"consecutive_failures":2,"hypertable":"readings","job_id":1000,"last_run_started_at":"2026-03-10T12:00:00Z","proc":"policy_compression","total_failures":3}]`) {
		t.Errorf("fact %s", b)
	}
	if f := JobsFact(fakeJobs()[1:], nil); f["status"] != "ok" {
		t.Errorf("without a failing job: %v", f)
	}
	f = JobsFact(nil, errors.New(`dial tcp 10.0.0.7:5432: connection refused`))
	if b, _ := json.Marshal(f); f["status"] != "unknown" || strings.Contains(string(b), "10.0.0.7") {
		t.Errorf("unreadable: %s", b)
	}
}

// TestStatusJSONShowsJobStats: the admin status carries each job's
// consecutive failures, null where unknown.
func TestStatusJSONShowsJobStats(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(Status{Tiers: []TierStatus{}, TimescaleDBJobs: fakeJobs()})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"job_id":1000,"name":"","proc":"policy_compression","hypertable":"readings","scheduled":true,"job_status":null,"last_run_started_at":"2026-03-10T12:00:00Z","last_run_status":"Failed","last_successful_finish":null,"next_start":null,"total_runs":5,"total_failures":3,"consecutive_failures":2}`,
		`"job_id":1002,"name":"","proc":"policy_retention","hypertable":"rollup_15m","scheduled":false,"job_status":null,"last_run_started_at":null,"last_run_status":null,"last_successful_finish":null,"next_start":null,"total_runs":null,"total_failures":null,"consecutive_failures":null}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("status %s\nwithout %s", b, want)
		}
	}
}
