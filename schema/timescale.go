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

// applyTimescale makes readings a hypertable and brings its compression and
// retention policies in line with the options. Each step is idempotent.
func applyTimescale(ctx context.Context, conn *pgx.Conn, opts Options) error {
	if _, err := conn.Exec(ctx, `SELECT create_hypertable('readings', by_range('time', $1::interval),
		if_not_exists => true, migrate_data => true)`, opts.ChunkInterval); err != nil {
		return fmt.Errorf("create hypertable: %w", err)
	}
	if opts.CompressAfter > 0 {
		if _, err := conn.Exec(ctx, `ALTER TABLE readings SET (timescaledb.compress,
			timescaledb.compress_segmentby = 'source_id, metric', timescaledb.compress_orderby = 'time')`); err != nil {
			return fmt.Errorf("enable compression: %w", err)
		}
	}
	if err := setPolicy(ctx, conn, "policy_compression", "compress_after", "add_compression_policy", "remove_compression_policy", opts.CompressAfter); err != nil {
		return err
	}
	return setPolicy(ctx, conn, "policy_retention", "drop_after", "add_retention_policy", "remove_retention_policy", opts.RawRetention)
}

// setPolicy replaces a readings policy whose interval differs from want, and
// removes it when want is negative.
func setPolicy(ctx context.Context, conn *pgx.Conn, proc, key, add, remove string, want time.Duration) error {
	// same is NULL when there is no such policy.
	var same *bool
	err := conn.QueryRow(ctx, `SELECT (config->>$2)::interval = $3::interval FROM timescaledb_information.jobs
		WHERE proc_name = $1 AND hypertable_name = 'readings' AND hypertable_schema = current_schema()`,
		proc, key, want).Scan(&same)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read %s: %w", proc, err)
	}
	if same != nil && *same && want > 0 {
		return nil
	}
	if same != nil {
		if _, err := conn.Exec(ctx, "SELECT "+remove+"('readings', if_exists => true)"); err != nil {
			return fmt.Errorf("%s: %w", remove, err)
		}
	}
	if want > 0 {
		if _, err := conn.Exec(ctx, "SELECT "+add+"('readings', $1::interval)", want); err != nil {
			return fmt.Errorf("%s: %w", add, err)
		}
	}
	return nil
}
