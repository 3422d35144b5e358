package dbtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	tern "github.com/jackc/tern/v2/migrate"

	"github.com/gridmetrics/gridmetrics/schema"
)

// Migrator returns a connection on a fresh database (or schema) with no
// tables and a migrator over the embedded migrations, for tests of one
// migration: migrate to the version before it, store data of that age,
// then migrate on and check what became of it.
func Migrator(t testing.TB) (*pgx.Conn, *tern.Migrator) {
	t.Helper()
	if SchemaIsolation() {
		// tern resets search_path after each migration, so a migration
		// stepped through here would escape the test's schema. Every other
		// test still migrates its schema through every migration.
		t.Skip("a migration test needs a database of its own; this backend gives each test a schema")
	}
	ctx := context.Background()
	conn, err := NewEmpty(t).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	m, err := tern.NewMigrator(ctx, conn.Conn(), "migration_test_version")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadMigrations(schema.MigrationFiles()); err != nil {
		t.Fatal(err)
	}
	return conn.Conn(), m
}
