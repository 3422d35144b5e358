package rollups

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridmetrics/gridmetrics/schema"
)

// TimescaleDB runs its compression and retention policies itself, outside
// this service; a run that fails is recorded only in its job stats. These
// make such failures visible: as gauges per job in /metrics and as a fact
// in /readyz and the rollup status.

// JobReader reads TimescaleDB's jobs (schema.ReadJobs on a pool).
type JobReader func(ctx context.Context) ([]schema.Job, error)

// JobsCollector exports TimescaleDB's job stats on each scrape.
type JobsCollector struct {
	read    JobReader
	log     *slog.Logger
	timeout time.Duration

	up, failing, failures, consecutive, lastRun, scheduled *prometheus.Desc
}

// NewJobsCollector returns a collector reading jobs with read, each scrape
// bounded by a two-second deadline.
func NewJobsCollector(read JobReader, log *slog.Logger) *JobsCollector {
	labels := []string{"job_id", "proc", "hypertable"}
	return &JobsCollector{
		read: read, log: log, timeout: 2 * time.Second,
		up: prometheus.NewDesc("gridmetrics_timescaledb_jobs_up",
			"1 when TimescaleDB's job stats could be read on this scrape, else 0.", nil, nil),
		failing: prometheus.NewDesc("gridmetrics_timescaledb_job_failing",
			"1 when the TimescaleDB job's last run failed, else 0.", labels, nil),
		failures: prometheus.NewDesc("gridmetrics_timescaledb_job_failures_total",
			"Failed runs of the TimescaleDB job, as its stats count them.", labels, nil),
		consecutive: prometheus.NewDesc("gridmetrics_timescaledb_job_consecutive_failures",
			"Failed runs of the TimescaleDB job since its last success; absent before its first run or when TimescaleDB does not expose the count.", labels, nil),
		lastRun: prometheus.NewDesc("gridmetrics_timescaledb_job_last_run_timestamp_seconds",
			"Start of the TimescaleDB job's last run (Unix time); absent before its first.", labels, nil),
		scheduled: prometheus.NewDesc("gridmetrics_timescaledb_job_scheduled",
			"1 when TimescaleDB's scheduler runs the job, 0 when it is paused.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *JobsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.failing, c.failures, c.consecutive, c.lastRun, c.scheduled} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A failed read shows as
// gridmetrics_timescaledb_jobs_up 0, never as a failed scrape.
func (c *JobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	jobs, err := c.read(ctx)
	if err != nil {
		c.log.Warn("read timescaledb job stats", "err", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, j := range jobs {
		l := []string{strconv.Itoa(int(j.ID)), j.Proc, j.Hypertable}
		ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, b2f(j.Failing()), l...)
		ch <- prometheus.MustNewConstMetric(c.scheduled, prometheus.GaugeValue, b2f(j.Scheduled), l...)
		var failures float64
		if j.Failures != nil {
			failures = float64(*j.Failures)
		}
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, failures, l...)
		if j.ConsecutiveFailures != nil {
			ch <- prometheus.MustNewConstMetric(c.consecutive, prometheus.GaugeValue, float64(*j.ConsecutiveFailures), l...)
		}
		if j.LastRunAt != nil {
			ch <- prometheus.MustNewConstMetric(c.lastRun, prometheus.GaugeValue, float64(j.LastRunAt.UnixNano())/1e9, l...)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// JobsFact summarises TimescaleDB's jobs for /readyz: "ok", "degraded" with
// the failing jobs when a last run failed, or "unknown" when they could not
// be read. A failing policy does not make the service unready — it serves
// reads and writes as before; only compression or retention lag — so the
// fact is for the operator, never a reason to answer 503.
func JobsFact(jobs []schema.Job, err error) map[string]any {
	if err != nil {
		return map[string]any{"status": "unknown", "detail": "the job stats could not be read; see the service log"}
	}
	failing := []map[string]any{}
	for _, j := range jobs {
		if !j.Failing() {
			continue
		}
		f := map[string]any{"job_id": j.ID, "proc": j.Proc, "hypertable": j.Hypertable, "last_run_started_at": j.LastRunAt}
		if j.Failures != nil {
			f["total_failures"] = *j.Failures
		}
		// Unknown (null) when TimescaleDB does not expose the count.
		f["consecutive_failures"] = j.ConsecutiveFailures
		failing = append(failing, f)
	}
	status := "ok"
	if len(failing) > 0 {
		status = "degraded"
	}
	return map[string]any{"status": status, "jobs": len(jobs), "failing": failing}
}
