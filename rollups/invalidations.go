package rollups

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// invalidationBatch bounds the series re-aggregated per run.
const invalidationBatch = 500

// ApplyInvalidations re-aggregates, in every tier, the buckets of series
// that received late readings (ingest records them in
// rollup_invalidations), one series per transaction. The transaction first
// deletes the record: late data committed before that is read by the
// re-aggregation that follows, and late data committed after it records
// the series anew (its upsert waits on the deleted row's lock). It returns
// the number of series done.
func (r *Runner) ApplyInvalidations(ctx context.Context) (int, error) {
	start := time.Now()
	var done int
	err := r.exclusive(ctx, rollupLock, func(ctx context.Context, conn *pgxpool.Conn) error {
		var err error
		done, err = r.applyInvalidations(ctx, conn)
		return err
	})
	if !isBusy(err) {
		r.metrics.jobSeconds.WithLabelValues("invalidations").Observe(time.Since(start).Seconds())
	}
	return done, err
}

type invalidation struct {
	Series
	earliest time.Time
}

func (r *Runner) applyInvalidations(ctx context.Context, conn *pgxpool.Conn) (int, error) {
	rows, err := conn.Query(ctx, `SELECT source_id, metric FROM rollup_invalidations
		ORDER BY updated_at LIMIT $1`, invalidationBatch)
	if err != nil {
		return 0, fmt.Errorf("read invalidations: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (invalidation, error) {
		var inv invalidation
		err := row.Scan(&inv.SourceID, &inv.Metric)
		return inv, err
	})
	if err != nil {
		return 0, fmt.Errorf("read invalidations: %w", err)
	}
	for i, inv := range list {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			err := tx.QueryRow(ctx, `DELETE FROM rollup_invalidations WHERE source_id = $1 AND metric = $2 RETURNING earliest`,
				inv.SourceID, inv.Metric).Scan(&inv.earliest)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // done by another run meanwhile
			}
			if err != nil {
				return err
			}
			for _, t := range Tiers {
				wm, found, err := watermark(ctx, tx, t)
				if err != nil || !found {
					return err
				}
				n, err := rebuild(ctx, tx, t, t.Floor(inv.earliest), wm, &inv.Series)
				if err != nil {
					return err
				}
				r.Buckets.Add(int64(n))
				r.metrics.buckets.WithLabelValues(t.Name).Add(float64(n))
			}
			return nil
		})
		if err != nil {
			return i, fmt.Errorf("re-aggregate series %d/%d: %w", inv.SourceID, inv.Metric, err)
		}
	}
	return len(list), nil
}
