// Package schema owns the database schema: embedded, versioned migrations,
// detection of the backend (TimescaleDB or plain PostgreSQL) and the
// TimescaleDB policies that depend on settings.
package schema

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// versionTable records the applied migration version. It is unqualified on
// purpose: it lives in the first schema of the search path, like the rest.
const versionTable = "gridmetrics_schema_version"

// migrateLockKey serialises migrations and policy changes across processes
// ("gridmetr" in ASCII).
const migrateLockKey = 0x677269646d657472

// Backend is the storage engine behind the readings table.
type Backend string

// The backends Gridmetrics runs on.
const (
	BackendTimescaleDB Backend = "timescaledb"
	BackendPostgreSQL  Backend = "postgresql"
)

// TimescaleMode says whether to use TimescaleDB.
type TimescaleMode string

// TimescaleDB modes: use it when it is installed (auto), require it (on),
// or never use it (off).
const (
	TimescaleAuto TimescaleMode = "auto"
	TimescaleOn   TimescaleMode = "on"
	TimescaleOff  TimescaleMode = "off"
)

// Options configures migration and the TimescaleDB policies.
type Options struct {
	// Timescale selects the backend; default TimescaleAuto.
	Timescale TimescaleMode
	// ChunkInterval is the time span of one readings chunk; default 1 day.
	ChunkInterval time.Duration
	// CompressAfter compresses readings chunks older than this; default 7
	// days; negative disables compression.
	CompressAfter time.Duration
	// RawRetention drops readings older than this; default 90 days;
	// negative keeps them forever.
	RawRetention time.Duration
	// Rollup15mRetention drops 15-minute rollups older than this; default
	// two years; negative keeps them forever. Hourly and daily rollups are
	// kept forever.
	Rollup15mRetention time.Duration
}

// WithDefaults returns the options with zero fields set to their defaults.
func (o Options) WithDefaults() Options {
	if o.Timescale == "" {
		o.Timescale = TimescaleAuto
	}
	if o.ChunkInterval == 0 {
		o.ChunkInterval = 24 * time.Hour
	}
	if o.CompressAfter == 0 {
		o.CompressAfter = 7 * 24 * time.Hour
	}
	if o.RawRetention == 0 {
		o.RawRetention = 90 * 24 * time.Hour
	}
	if o.Rollup15mRetention == 0 {
		o.Rollup15mRetention = 730 * 24 * time.Hour
	}
	return o
}

func (o Options) validate() error {
	switch o.Timescale {
	case TimescaleAuto, TimescaleOn, TimescaleOff:
	default:
		return fmt.Errorf("timescaledb mode %q: want auto, on or off", o.Timescale)
	}
	if o.ChunkInterval < time.Hour {
		return fmt.Errorf("chunk interval %s: must be at least 1h", o.ChunkInterval)
	}
	return nil
}

// Result tells what Migrate left behind.
type Result struct {
	Backend Backend
	Version int32
}

// Migrate brings the schema to the latest version and applies the backend's
// policies. It is safe to run again and from several processes at once: a
// PostgreSQL advisory lock lets one process work while the others wait.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts Options) (Result, error) {
	opts = opts.WithDefaults()
	if err := opts.validate(); err != nil {
		return Result{}, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLockKey)); err != nil {
		return Result{}, fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		// A fresh context: the unlock must happen even when ctx is done.
		_, _ = conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", int64(migrateLockKey))
	}()

	backend, err := enableBackend(ctx, conn.Conn(), opts.Timescale)
	if err != nil {
		return Result{}, err
	}
	m, err := migrateInPlace(ctx, conn.Conn())
	if err != nil {
		return Result{}, err
	}
	if backend == BackendTimescaleDB {
		if err := applyTimescale(ctx, conn.Conn(), opts); err != nil {
			return Result{}, fmt.Errorf("timescaledb policies: %w", err)
		}
	}
	v, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("read schema version: %w", err)
	}
	return Result{Backend: backend, Version: v}, nil
}

// migrateInPlace runs the migrations into the connection's current schema.
// tern runs "RESET ALL" after each migration, which would drop a search_path
// set on the session (rather than at connect time); so the version table is
// qualified, each migration starts with the caller's search_path, and the
// path is restored at the end.
func migrateInPlace(ctx context.Context, conn *pgx.Conn) (*migrate.Migrator, error) {
	var path string
	var current *string
	if err := conn.QueryRow(ctx, "SELECT current_setting('search_path'), current_schema()").Scan(&path, &current); err != nil {
		return nil, fmt.Errorf("read search_path: %w", err)
	}
	if current == nil {
		return nil, fmt.Errorf("no schema of search_path %q exists", path)
	}
	table := pgx.Identifier{*current, versionTable}.Sanitize()
	m, err := migrate.NewMigrator(ctx, conn, table)
	if err != nil {
		return nil, fmt.Errorf("prepare migrator: %w", err)
	}
	if err := m.LoadMigrations(mustSub()); err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	var setErr error
	m.OnStart = func(int32, string, string, string) {
		// Local to the migration's transaction.
		if _, err := conn.Exec(ctx, "SELECT set_config('search_path', $1, true)", path); err != nil {
			setErr = errors.Join(setErr, err)
		}
	}
	err = m.Migrate(ctx)
	if _, resetErr := conn.Exec(ctx, "SELECT set_config('search_path', $1, false)", path); resetErr != nil {
		err = errors.Join(err, resetErr)
	}
	if err = errors.Join(err, setErr); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return m, nil
}

// LatestVersion is the version the embedded migrations lead to.
func LatestVersion() int32 {
	names, err := migrate.FindMigrations(mustSub())
	if err != nil {
		panic(err)
	}
	return int32(len(names))
}

func mustSub() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

// Status is the state of a database's schema.
type Status struct {
	Backend Backend `json:"backend"`
	Version int32   `json:"schema_version"`
	Latest  int32   `json:"schema_latest"`
}

// ErrNotMigrated means the database's schema is behind the binary's.
var ErrNotMigrated = errors.New("schema is not migrated to the latest version")

// ReadStatus reports the backend and schema version of the database. It
// returns ErrNotMigrated (with the status) when migrations are pending.
func ReadStatus(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (Status, error) {
	st := Status{Backend: BackendPostgreSQL, Latest: LatestVersion()}
	var ext *string
	err := q.QueryRow(ctx, `SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),
		(SELECT count(*) FROM pg_class WHERE relname = $1 AND pg_table_is_visible(oid))`, versionTable).
		Scan(&ext, new(int))
	if err != nil {
		return st, fmt.Errorf("read backend: %w", err)
	}
	if ext != nil {
		st.Backend = BackendTimescaleDB
	}
	if err := q.QueryRow(ctx, "SELECT version FROM "+versionTable).Scan(&st.Version); err != nil {
		return st, ErrNotMigrated
	}
	if st.Version != st.Latest {
		return st, ErrNotMigrated
	}
	return st, nil
}

// MigrationFiles returns the embedded migrations, for tests that key
// caches on their content.
func MigrationFiles() fs.FS { return mustSub() }
