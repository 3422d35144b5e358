package schema

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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

// applyTimescale makes readings and the rollup tiers hypertables and brings
// their compression and retention policies in line with the options. Each
// step is idempotent.
func applyTimescale(ctx context.Context, conn *pgx.Conn, opts Options) error {
	if err := hypertable(ctx, conn, "readings", "time", opts.ChunkInterval); err != nil {
		return err
	}
	for table, chunk := range rollupChunks {
		if err := hypertable(ctx, conn, table, "bucket", chunk); err != nil {
			return err
		}
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
// removes it when want is negative.
func setPolicy(ctx context.Context, conn *pgx.Conn, table, proc, key, add, remove string, want time.Duration) error {
	// same is NULL when there is no such policy.
	var same *bool
	err := conn.QueryRow(ctx, `SELECT (config->>$2)::interval = $3::interval FROM timescaledb_information.jobs
		WHERE proc_name = $1 AND hypertable_name = $4 AND hypertable_schema = current_schema()`,
		proc, key, want, table).Scan(&same)
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
		if _, err := conn.Exec(ctx, "SELECT "+add+"($1::regclass, $2::interval)", table, want); err != nil {
			return fmt.Errorf("%s: %w", add, err)
		}
	}
	return nil
}
