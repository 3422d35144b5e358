package rollups

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// retentionColumn is the time column of each table retention applies to.
var retentionColumn = map[string]string{
	"readings": "time", "rollup_15m": "bucket", "rollup_1h": "bucket", "rollup_1d": "bucket",
}

// EnforceRetention deletes rows past each table's retention, in bounded
// batches so no transaction grows large and ingest is never blocked for
// long. TimescaleDB drops whole chunks with its own policies instead. It
// returns the number of rows deleted.
func (r *Runner) EnforceRetention(ctx context.Context) (int64, error) {
	var total int64
	err := r.exclusive(ctx, "retention", func(ctx context.Context, conn *pgxpool.Conn) error {
		for table, keep := range r.cfg.Retention {
			col, ok := retentionColumn[table]
			if !ok || keep <= 0 {
				continue
			}
			cutoff := r.Now().Add(-keep)
			for {
				// By the unique key rather than ctid, which hypertables lack.
				tag, err := conn.Exec(ctx, fmt.Sprintf(`DELETE FROM %[1]s WHERE %[2]s < $1 AND (source_id, metric, %[2]s) IN
					(SELECT source_id, metric, %[2]s FROM %[1]s WHERE %[2]s < $1 LIMIT $2)`, table, col), cutoff, r.cfg.DeleteBatch)
				if err != nil {
					return fmt.Errorf("retention of %s: %w", table, err)
				}
				total += tag.RowsAffected()
				if tag.RowsAffected() < int64(r.cfg.DeleteBatch) {
					break
				}
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return total, err
}

// RetentionCutoff is the oldest time a table keeps, or the zero time when
// it keeps everything.
func (r *Runner) RetentionCutoff(table string) time.Time {
	if keep := r.cfg.Retention[table]; keep > 0 {
		return r.Now().Add(-keep)
	}
	return time.Time{}
}
