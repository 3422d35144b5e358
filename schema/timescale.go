package schema

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// enableBackend creates the timescaledb extension when the mode and the
// server allow it, and reports the backend in use.
func enableBackend(ctx context.Context, conn *pgx.Conn, mode TimescaleMode) (Backend, error) {
	if mode == TimescaleOff {
		return BackendPostgreSQL, nil
	}
	var installed, available bool
	err := conn.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'),
		EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')`).Scan(&installed, &available)
	if err != nil {
		return "", fmt.Errorf("detect timescaledb: %w", err)
	}
	switch {
	case installed:
		return BackendTimescaleDB, nil
	case !available && mode == TimescaleOn:
		return "", fmt.Errorf("timescaledb is required but not installed on the server")
	case !available:
		return BackendPostgreSQL, nil
	}
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS timescaledb"); err != nil {
		if mode == TimescaleOn {
			return "", fmt.Errorf("create extension timescaledb: %w", err)
		}
		// Installed but not loadable (missing shared_preload_libraries, or
		// no privilege): run on plain PostgreSQL rather than not at all.
		return BackendPostgreSQL, nil
	}
	return BackendTimescaleDB, nil
}

// rollupChunks is the chunk span of each rollup hypertable: a few hundred
// thousand rows per chunk for a fleet of thousands of series.
var rollupChunks = map[string]time.Duration{
	"rollup_15m": 7 * 24 * time.Hour, "rollup_1h": 30 * 24 * time.Hour, "rollup_1d": 365 * 24 * time.Hour,
}

// applyTimescale makes readings, the rollup tiers and the availability
// changes hypertables and brings their compression and retention policies
// in line with the options. Each step is idempotent.
func applyTimescale(ctx context.Context, conn *pgx.Conn, opts Options) error {
	if err := hypertable(ctx, conn, "readings", "time", opts.ChunkInterval); err != nil {
		return err
	}
	for table, chunk := range rollupChunks {
		if err := hypertable(ctx, conn, table, "bucket", chunk); err != nil {
			return err
		}
	}
	// State changes are few per connector and day: a month per chunk.
	if err := hypertable(ctx, conn, "availability_changes", "time", 30*24*time.Hour); err != nil {
		return err
	}
	if opts.CompressAfter > 0 {
		if _, err := conn.Exec(ctx, `ALTER TABLE readings SET (timescaledb.compress,
			timescaledb.compress_segmentby = 'source_id, metric', timescaledb.compress_orderby = 'time')`); err != nil {
			return fmt.Errorf("enable compression: %w", err)
		}
	}
	if err := setPolicy(ctx, conn, "readings", "policy_compression", "compress_after", "add_compression_policy", "remove_compression_policy", opts.CompressAfter); err != nil {
		return err
	}
	if err := setPolicy(ctx, conn, "readings", "policy_retention", "drop_after", "add_retention_policy", "remove_retention_policy", opts.RawRetention); err != nil {
		return err
	}
	return setPolicy(ctx, conn, "rollup_15m", "policy_retention", "drop_after", "add_retention_policy", "remove_retention_policy", opts.Rollup15mRetention)
}

func hypertable(ctx context.Context, conn *pgx.Conn, table, column string, chunk time.Duration) error {
	_, err := conn.Exec(ctx, `SELECT create_hypertable($1::regclass, by_range($2, $3::interval),
		if_not_exists => true, migrate_data => true)`, table, column, chunk)
	if err != nil {
		return fmt.Errorf("make %s a hypertable: %w", table, err)
	}
	return nil
}

// setPolicy replaces a table's policy whose interval differs from want, and
// removes it when want is negative. A replaced policy that was paused
// (alter_job … scheduled => false, as test databases have theirs) stays
// paused.
func setPolicy(ctx context.Context, conn *pgx.Conn, table, proc, key, add, remove string, want time.Duration) error {
	// same is NULL when there is no such policy.
	var same *bool
	scheduled := true
	err := conn.QueryRow(ctx, `SELECT (config->>$2)::interval = $3::interval, scheduled FROM timescaledb_information.jobs
		WHERE proc_name = $1 AND hypertable_name = $4 AND hypertable_schema = current_schema()`,
		proc, key, want, table).Scan(&same, &scheduled)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read %s: %w", proc, err)
	}
	if same != nil && *same && want > 0 {
		return nil
	}
	if same != nil {
		if _, err := conn.Exec(ctx, "SELECT "+remove+"($1::regclass, if_exists => true)", table); err != nil {
			return fmt.Errorf("%s: %w", remove, err)
		}
	}
	if want > 0 {
		var id int32
		if err := conn.QueryRow(ctx, "SELECT "+add+"($1::regclass, $2::interval)", table, want).Scan(&id); err != nil {
			return fmt.Errorf("%s: %w", add, err)
		}
		if !scheduled {
			if _, err := conn.Exec(ctx, "SELECT alter_job($1, scheduled => false)", id); err != nil {
				return fmt.Errorf("keep %s on %s paused: %w", proc, table, err)
			}
		}
	}
	return nil
}

// Job is one of TimescaleDB's background jobs on this schema's hypertables
// (the compression and retention policies) with the scheduler's record of
// its runs. The stats are nil until the scheduler has run the job.
type Job struct {
	ID          int32      `json:"job_id"`
	Name        string     `json:"name"`       // application_name, e.g. "Retention Policy [1002]"
	Proc        string     `json:"proc"`       // policy_retention, policy_compression, …
	Hypertable  string     `json:"hypertable"` // readings, rollup_15m, …
	Scheduled   bool       `json:"scheduled"`
	Status      *string    `json:"job_status"` // Scheduled, Running, Paused
	LastRunAt   *time.Time `json:"last_run_started_at"`
	LastStatus  *string    `json:"last_run_status"` // Success or Failed
	LastSuccess *time.Time `json:"last_successful_finish"`
	NextStart   *time.Time `json:"next_start"`
	TotalRuns   *int64     `json:"total_runs"`
	Failures    *int64     `json:"total_failures"`
	// ConsecutiveFailures counts the failed runs since the last success.
	// job_stats does not show it; it is read from TimescaleDB's catalog
	// table bgw_job_stat, and is null when that table cannot be read (a
	// version that moved or changed it, no privilege) or before the first
	// run.
	ConsecutiveFailures *int64 `json:"consecutive_failures"`
}

// Failing reports whether the job's last run failed.
func (j Job) Failing() bool { return j.LastStatus != nil && *j.LastStatus == "Failed" }

// ReadJobs returns the TimescaleDB jobs on the hypertables of the current
// schema with their stats, by id; none on plain PostgreSQL. Their error
// messages are left out on purpose: they are the server's text.
func ReadJobs(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}) ([]Job, error) {
	var installed bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&installed); err != nil {
		return nil, fmt.Errorf("detect timescaledb: %w", err)
	}
	if !installed {
		return nil, nil
	}
	consecutive := "NULL::bigint"
	from := `timescaledb_information.jobs j
		LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id`
	statTable, err := jobStatTable(ctx, q)
	if err != nil {
		return nil, err
	}
	if statTable != "" {
		consecutive = "c.consecutive_failures::bigint"
		from += " LEFT JOIN " + statTable + " c ON c.job_id = j.job_id"
	}
	rows, err := q.Query(ctx, `SELECT j.job_id, j.application_name, j.proc_name, j.hypertable_name, j.scheduled,
			s.job_status, s.last_run_started_at, s.last_run_status, s.last_successful_finish, s.next_start, s.total_runs, s.total_failures,
			`+consecutive+`
		FROM `+from+`
		WHERE j.hypertable_schema = current_schema()
		ORDER BY j.job_id`)
	if err != nil {
		return nil, fmt.Errorf("read timescaledb jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Job, error) {
		var j Job
		err := r.Scan(&j.ID, &j.Name, &j.Proc, &j.Hypertable, &j.Scheduled,
			&j.Status, &j.LastRunAt, &j.LastStatus, &j.LastSuccess, &j.NextStart, &j.TotalRuns, &j.Failures, &j.ConsecutiveFailures)
		return j, err
	})
	if err != nil {
		return nil, fmt.Errorf("read timescaledb jobs: %w", err)
	}
	return jobs, nil
}

// jobStatCandidates are where TimescaleDB versions keep bgw_job_stat, the
// table behind job_stats that also counts consecutive failures.
var jobStatCandidates = []string{"_timescaledb_internal.bgw_job_stat", "_timescaledb_catalog.bgw_job_stat"}

// jobStatTable returns the quoted name of the first readable bgw_job_stat
// table with a consecutive_failures column, or "" when there is none: a
// catalog table is no stable interface, so its absence only leaves the
// count unknown.
func jobStatTable(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (string, error) {
	var name *string
	err := q.QueryRow(ctx, `SELECT format('%I.%I', n.nspname, c.relname)
		FROM unnest($1::text[]) WITH ORDINALITY AS t(name, pos)
		JOIN pg_class c ON c.oid = to_regclass(t.name)
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE has_table_privilege(c.oid, 'SELECT')
		  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
			AND a.attname = 'consecutive_failures' AND NOT a.attisdropped)
		ORDER BY t.pos LIMIT 1`, jobStatCandidates).Scan(&name)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("find timescaledb job stat table: %w", err)
	case name == nil:
		return "", nil
	}
	return *name, nil
}

// UnscheduleJobs stops TimescaleDB's scheduler from running the jobs on the
// current schema's hypertables, and returns how many there are. Test
// databases use it: their data is older than the retention policies, which
// the scheduler would otherwise apply in the middle of a test. RunJob still
// runs them.
func UnscheduleJobs(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}) (int64, error) {
	tag, err := q.Exec(ctx, `SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs
		WHERE hypertable_schema = current_schema()`)
	if err != nil {
		return 0, fmt.Errorf("unschedule timescaledb jobs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// RunJob runs a TimescaleDB job now, in this session, scheduled or not.
func RunJob(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, id int32) error {
	if _, err := q.Exec(ctx, `CALL run_job($1)`, id); err != nil {
		return fmt.Errorf("run timescaledb job %d: %w", id, err)
	}
	return nil
}
