// Package dbtest gives each test its own migrated database on a private
// PostgreSQL cluster that is started once per test run.
//
// By default every test gets a database cloned from a migrated template
// (fast, fully isolated, parallel-safe). With GRIDMETRICS_TEST_ISOLATION=schema
// every test gets its own schema instead, and tests run one at a time: that
// is how the suite runs against the single-connection TimescaleDB harness.
//
// Environment:
//
//	GRIDMETRICS_TEST_DATABASE_URL  server to use; when unset, scripts/pg.sh
//	                               starts (or reuses) the cluster in .data/pgtest
//	GRIDMETRICS_TEST_ISOLATION     database (default) or schema
//	GRIDMETRICS_TEST_BACKEND       when set, the backend tests must find
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/schema"
)

// SchemaIsolation reports whether tests are isolated by schema on a shared
// single-connection server rather than by database.
func SchemaIsolation() bool { return os.Getenv("GRIDMETRICS_TEST_ISOLATION") == "schema" }

// ExpectedBackend is the backend the run must find, or "" when any will do.
func ExpectedBackend() schema.Backend {
	return schema.Backend(os.Getenv("GRIDMETRICS_TEST_BACKEND"))
}

// Options are the migration options of test databases: the defaults.
var Options = schema.Options{}

// New returns a pool on a fresh, migrated database that is dropped when the
// test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	if SchemaIsolation() {
		return newSchema(t, true)
	}
	return openPool(t, cloneTemplate(t))
}

// NewURL returns the URL of a fresh, migrated database, for tests that start
// the service itself. It is dropped when the test ends.
func NewURL(t testing.TB) string {
	t.Helper()
	if SchemaIsolation() {
		t.Skip("needs its own database; the schema-isolated run covers stores only")
	}
	return cloneTemplate(t)
}

// NewEmpty returns a pool on a fresh database (or schema) with no tables, for
// tests of migration itself.
func NewEmpty(t testing.TB) *pgxpool.Pool {
	t.Helper()
	if SchemaIsolation() {
		return newSchema(t, false)
	}
	name := "t_" + randomHex()
	admin := adminConn(t)
	defer admin.Close(context.Background())
	if _, err := admin.Exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(t, name) })
	return openPool(t, withDatabase(serverURL(t), name))
}

var (
	serverOnce sync.Once
	serverAddr string
	serverErr  error
)

// serverURL is the URL of the test server, starting the private cluster on
// first use.
func serverURL(t testing.TB) string {
	t.Helper()
	serverOnce.Do(func() {
		if u := os.Getenv("GRIDMETRICS_TEST_DATABASE_URL"); u != "" {
			serverAddr = u
			return
		}
		root, err := repoRoot()
		if err != nil {
			serverErr = err
			return
		}
		cmd := exec.Command(filepath.Join(root, "scripts", "pg.sh"), "test")
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			serverErr = fmt.Errorf("start test cluster with scripts/pg.sh: %w", err)
			return
		}
		serverAddr = strings.TrimSpace(string(out))
	})
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	return serverAddr
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// withDatabase returns the server URL pointing at another database.
func withDatabase(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(fmt.Sprintf("dbtest: bad server URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

func adminConn(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), withDatabase(serverURL(t), "postgres"))
	if err != nil {
		t.Fatalf("connect to test server: %v", err)
	}
	return conn
}

func openPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// templateName depends on the migrations, so a changed migration gets a
// fresh template rather than a stale one.
func templateName() string {
	h := fnv.New64a()
	// What buildTemplate does besides migrating: a change to it needs a
	// fresh template too.
	h.Write([]byte("policies unscheduled"))
	_ = fs.WalkDir(schema.MigrationFiles(), ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(schema.MigrationFiles(), path)
			h.Write([]byte(path))
			h.Write(b)
		}
		return nil
	})
	return fmt.Sprintf("gm_template_%x", h.Sum64())
}

// templateLockKey serialises template creation across test processes.
const templateLockKey = 0x676d74706c

func cloneTemplate(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin := adminConn(t)
	defer admin.Close(ctx)
	tmpl := templateName()
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		t.Fatal(err)
	}
	var exists bool
	err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", tmpl).Scan(&exists)
	if err == nil && !exists {
		err = buildTemplate(ctx, admin, tmpl)
	}
	_, _ = admin.Exec(ctx, "SELECT pg_advisory_unlock($1)", templateLockKey)
	if err != nil {
		t.Fatalf("build template database: %v", err)
	}
	name := "t_" + randomHex()
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl)); err != nil {
		t.Fatalf("clone template: %v", err)
	}
	t.Cleanup(func() { dropDatabase(t, name) })
	return withDatabase(serverURL(t), name)
}

func buildTemplate(ctx context.Context, admin *pgx.Conn, tmpl string) error {
	building := tmpl + "_building"
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, withDatabase(serverAddr, building))
	if err != nil {
		return err
	}
	err = migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return err
	}
	// Rename only once complete, so a crash never leaves a half-built template.
	if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, tmpl)); err != nil {
		return err
	}
	_, err = admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s WITH is_template true", tmpl))
	return err
}

func dropDatabase(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, withDatabase(serverAddr, "postgres"))
	if err != nil {
		t.Logf("drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Logf("drop %s: %v", name, err)
	}
}

// migrate migrates a test database (or schema). On TimescaleDB it then
// unschedules the compression and retention policies: the tests' data is
// older than the retention, and a scheduler running the policies would
// drop readings in the middle of a test (and, on some versions, deadlock
// compression against retention). Tests of the policies run them with
// schema.RunJob.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	res, err := schema.Migrate(ctx, pool, Options)
	if err != nil || res.Backend != schema.BackendTimescaleDB {
		return err
	}
	_, err = schema.UnscheduleJobs(ctx, pool)
	return err
}

// serial holds the single connection of the schema-isolated server for one
// test at a time.
var serial sync.Mutex

func newSchema(t testing.TB, withTables bool) *pgxpool.Pool {
	t.Helper()
	serial.Lock()
	ctx := context.Background()
	name := "t_" + randomHex()
	cfg, err := pgxpool.ParseConfig(serverURL(t))
	if err != nil {
		serial.Unlock()
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	// The harness shares one session among its connections: named prepared
	// statements would outlive a connection and collide with the next.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		// Create the schema before naming it in search_path: the harness
		// does not re-resolve a path whose schema appeared later.
		_, err := c.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+name+"; SET search_path TO "+name+", public")
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil && withTables {
		err = migrate(ctx, pool)
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+name+" CASCADE")
		pool.Close()
		serial.Unlock()
	})
	if err != nil {
		t.Fatalf("prepare schema %s: %v", name, err)
	}
	return pool
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
