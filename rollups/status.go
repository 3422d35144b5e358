package rollups

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TierStatus is the state of one tier.
type TierStatus struct {
	Tier      string     `json:"tier"`
	Watermark *time.Time `json:"watermark"`
	// LagSeconds is how far the watermark is behind now; null before the
	// first refresh.
	LagSeconds    *float64   `json:"lag_seconds"`
	LastRunAt     *time.Time `json:"last_run_at"`
	LastDurationS *float64   `json:"last_duration_seconds"`
	LastError     *string    `json:"last_error"`
}

// Status is what GET /v1/rollups/status reports.
type Status struct {
	Tiers                []TierStatus `json:"tiers"`
	PendingInvalidations int64        `json:"pending_invalidations"`
	OldestInvalidation   *time.Time   `json:"oldest_invalidation"`
}

// ReadStatus reports every tier's watermark and last run, and the late data
// waiting to be re-aggregated.
func ReadStatus(ctx context.Context, pool *pgxpool.Pool, now time.Time) (Status, error) {
	st := Status{Tiers: make([]TierStatus, 0, len(Tiers))}
	for _, t := range Tiers {
		ts := TierStatus{Tier: t.Name}
		err := pool.QueryRow(ctx, `SELECT watermark, last_run_at, last_duration_s, last_error
			FROM rollup_watermarks WHERE tier = $1`, t.Name).Scan(&ts.Watermark, &ts.LastRunAt, &ts.LastDurationS, &ts.LastError)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return st, fmt.Errorf("read status of %s: %w", t.Name, err)
		}
		if ts.Watermark != nil {
			lag := now.Sub(*ts.Watermark).Seconds()
			ts.LagSeconds = &lag
		}
		st.Tiers = append(st.Tiers, ts)
	}
	err := pool.QueryRow(ctx, `SELECT count(*), min(earliest) FROM rollup_invalidations`).Scan(&st.PendingInvalidations, &st.OldestInvalidation)
	if err != nil {
		return st, fmt.Errorf("read invalidations: %w", err)
	}
	return st, nil
}
