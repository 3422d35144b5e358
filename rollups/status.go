package rollups

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/schema"
)

// TierStatus is the state of one tier. Tiers are shared by all tenants; what
// is shown of them says nothing about any tenant's data.
type TierStatus struct {
	Tier      string     `json:"tier"`
	Watermark *time.Time `json:"watermark"`
	// LagSeconds is how far the watermark is behind now; null before the
	// first refresh.
	LagSeconds    *float64   `json:"lag_seconds"`
	LastRunAt     *time.Time `json:"last_run_at"`
	LastDurationS *float64   `json:"last_duration_seconds"`
	// LastStatus is "succeeded" or "failed"; null before the first run.
	LastStatus *string `json:"last_status"`
	// LastError says the last run failed, in words safe for any caller:
	// the error itself (the server's text) is in the service log.
	LastError *string `json:"last_error"`
}

// Status is what GET /v1/rollups/status reports to a tenant's admin.
type Status struct {
	Tiers []TierStatus `json:"tiers"`
	// PendingInvalidations counts the caller's series whose late data
	// waits to be re-aggregated; OldestInvalidation is the oldest such
	// time. Other tenants' series are not counted.
	PendingInvalidations int64      `json:"pending_invalidations"`
	OldestInvalidation   *time.Time `json:"oldest_invalidation"`
	// TimescaleDBJobs are TimescaleDB's compression and retention jobs and
	// the scheduler's record of their runs; absent on plain PostgreSQL.
	TimescaleDBJobs []schema.Job `json:"timescaledb_jobs,omitempty"`
}

// Outcomes of a tier's last run.
const (
	runSucceeded = "succeeded"
	runFailed    = "failed"
)

// failedRun is what a failed run shows instead of its error.
const failedRun = "the last run failed; the error is in the service log"

// ReadStatus reports every tier's watermark and last run, the tenant's late
// data waiting to be re-aggregated, and TimescaleDB's jobs.
func ReadStatus(ctx context.Context, pool *pgxpool.Pool, tenantID int64, now time.Time) (Status, error) {
	st := Status{Tiers: make([]TierStatus, 0, len(Tiers))}
	for _, t := range Tiers {
		ts := TierStatus{Tier: t.Name}
		var failed *bool
		err := pool.QueryRow(ctx, `SELECT watermark, last_run_at, last_duration_s, last_error IS NOT NULL
			FROM rollup_watermarks WHERE tier = $1`, t.Name).Scan(&ts.Watermark, &ts.LastRunAt, &ts.LastDurationS, &failed)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return st, fmt.Errorf("read status of %s: %w", t.Name, err)
		}
		if ts.Watermark != nil {
			lag := now.Sub(*ts.Watermark).Seconds()
			ts.LagSeconds = &lag
		}
		if ts.LastRunAt != nil && failed != nil {
			s := runSucceeded
			if *failed {
				s = runFailed
				msg := failedRun
				ts.LastError = &msg
			}
			ts.LastStatus = &s
		}
		st.Tiers = append(st.Tiers, ts)
	}
	err := pool.QueryRow(ctx, `SELECT count(*), min(i.earliest) FROM rollup_invalidations i
		JOIN sources s ON s.id = i.source_id WHERE s.tenant_id = $1`, tenantID).Scan(&st.PendingInvalidations, &st.OldestInvalidation)
	if err != nil {
		return st, fmt.Errorf("read invalidations: %w", err)
	}
	if st.TimescaleDBJobs, err = schema.ReadJobs(ctx, pool); err != nil {
		return st, err
	}
	return st, nil
}
