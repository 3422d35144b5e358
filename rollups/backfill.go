package rollups

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Backfill rebuilds every tier over [from, to), finest first, up to each
// tier's watermark (the refresh jobs own what lies beyond). Each chunk is
// one transaction that also records the progress in rollup_backfills, so
// running the same backfill again resumes where it stopped. progress is
// called with the chunks done and the total after each chunk.
func (r *Runner) Backfill(ctx context.Context, from, to time.Time, progress func(done, total int)) error {
	if !from.Before(to) {
		return fmt.Errorf("backfill: from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	for {
		err := r.exclusive(ctx, rollupLock, func(ctx context.Context, conn *pgxpool.Conn) error {
			return r.backfill(ctx, conn, from, to, progress)
		})
		if !errors.Is(err, ErrBusy) {
			return err
		}
		// A refresh is running: wait for it, it is short.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

type backfillPlan struct {
	tier     Tier
	from, to time.Time // bucket-aligned span to rebuild
	resume   time.Time // where the previous run stopped
}

func (r *Runner) backfill(ctx context.Context, conn *pgxpool.Conn, from, to time.Time, progress func(done, total int)) error {
	var plans []backfillPlan
	total, done := 0, 0
	for _, t := range Tiers {
		wm, found, err := watermark(ctx, conn, t)
		if err != nil {
			return err
		}
		if !found {
			continue // never refreshed: its first refresh covers everything
		}
		p := backfillPlan{tier: t, from: t.Floor(from), to: t.Floor(to.Add(t.Width - time.Microsecond))}
		if wm.Before(p.to) {
			p.to = wm
		}
		if !p.from.Before(p.to) {
			continue
		}
		p.resume = p.from
		err = conn.QueryRow(ctx, `SELECT done_until FROM rollup_backfills WHERE range_from = $1 AND range_to = $2 AND tier = $3`,
			from, to, t.Name).Scan(&p.resume)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		chunks := chunkCount(p.from, p.to, t.chunk)
		total += chunks
		done += chunks - chunkCount(p.resume, p.to, t.chunk)
		plans = append(plans, p)
	}
	if progress != nil {
		progress(done, total)
	}
	for _, p := range plans {
		for at := p.resume; at.Before(p.to); {
			end := at.Add(p.tier.chunk)
			if end.After(p.to) {
				end = p.to
			}
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				n, err := rebuild(ctx, tx, p.tier, at, end, nil)
				if err != nil {
					return err
				}
				r.Buckets.Add(int64(n))
				_, err = tx.Exec(ctx, `INSERT INTO rollup_backfills (range_from, range_to, tier, done_until) VALUES ($1, $2, $3, $4)
					ON CONFLICT (range_from, range_to, tier) DO UPDATE SET done_until = EXCLUDED.done_until`, from, to, p.tier.Name, end)
				return err
			})
			if err != nil {
				return fmt.Errorf("backfill %s [%s, %s): %w", p.tier.Name, at.Format(time.RFC3339), end.Format(time.RFC3339), err)
			}
			at = end
			done++
			if progress != nil {
				progress(done, total)
			}
		}
	}
	return nil
}

func chunkCount(from, to time.Time, chunk time.Duration) int {
	if !from.Before(to) {
		return 0
	}
	return int((to.Sub(from) + chunk - 1) / chunk)
}
