package schema_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// TestSitesMigration migrates a database whose sources name sites freely
// (two tenants with the same site id among them) and checks that each
// (tenant, site id) becomes a site, that sources keep their site ids, and
// that a source naming a new site still registers.
func TestSitesMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, m := dbtest.Migrator(t)
	if err := m.MigrateTo(ctx, 12); err != nil {
		t.Fatalf("migrate to 12: %v", err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO tenants (public_id, name) VALUES ('ten_a', 'A'), ('ten_b', 'B')`)
	exec(`INSERT INTO sources (public_id, tenant_id, external_id, kind, site_id, timezone, created_at)
		SELECT v.public_id, t.id, v.external_id, 'meter', v.site_id, v.timezone, v.created_at::timestamptz
		FROM (VALUES
			('src_1', 'ten_a', 'M-1', 'depot-1', 'Europe/Berlin', '2026-01-02T00:00:00Z'),
			('src_2', 'ten_a', 'M-2', 'depot-1', 'Europe/Berlin', '2026-01-01T00:00:00Z'),
			('src_3', 'ten_a', 'M-3', 'yard', 'Europe/Berlin', '2026-01-01T00:00:00Z'),
			('src_4', 'ten_a', 'M-4', 'yard', 'Europe/Paris', '2026-01-01T00:00:00Z'),
			('src_5', 'ten_a', 'M-5', NULL, 'UTC', '2026-01-01T00:00:00Z'),
			('src_6', 'ten_b', 'M-1', 'depot-1', 'Europe/Vienna', '2026-03-01T00:00:00Z')
		) v (public_id, tenant, external_id, site_id, timezone, created_at)
		JOIN tenants t ON t.public_id = v.tenant`)
	if err := m.MigrateTo(ctx, 13); err != nil {
		t.Fatalf("migrate to 13: %v", err)
	}

	type site struct{ tenant, id, timezone, created string }
	read := func() []site {
		t.Helper()
		rows, err := conn.Query(ctx, `SELECT t.public_id, s.id, s.timezone, to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
			FROM sites s JOIN tenants t ON t.id = s.tenant_id ORDER BY 1, 2`)
		if err != nil {
			t.Fatal(err)
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (site, error) {
			var s site
			return s, r.Scan(&s.tenant, &s.id, &s.timezone, &s.created)
		})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	want := []site{
		{"ten_a", "depot-1", "Europe/Berlin", "2026-01-01"},
		{"ten_a", "yard", "UTC", "2026-01-01"}, // its sources disagree
		{"ten_b", "depot-1", "Europe/Vienna", "2026-03-01"},
	}
	if got := read(); !slices.Equal(got, want) {
		t.Fatalf("sites after migrating:\n got %v\nwant %v", got, want)
	}
	var named int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM sources WHERE site_id IS NOT NULL`).Scan(&named); err != nil || named != 5 {
		t.Fatalf("sources with a site: %d (err %v), want 5", named, err)
	}

	// A source naming a site nobody has yet creates it, with its zone.
	exec(`INSERT INTO sources (public_id, tenant_id, external_id, kind, site_id, timezone)
		SELECT 'src_7', id, 'M-7', 'meter', 'new-site', 'Europe/Madrid' FROM tenants WHERE public_id = 'ten_b'`)
	exec(`UPDATE sources SET site_id = 'moved' WHERE public_id = 'src_5'`)
	got := read()
	for _, w := range []site{{"ten_b", "new-site", "Europe/Madrid", ""}, {"ten_a", "moved", "UTC", ""}} {
		if !slices.ContainsFunc(got, func(s site) bool { return s.tenant == w.tenant && s.id == w.id && s.timezone == w.timezone }) {
			t.Errorf("no site %+v among %v", w, got)
		}
	}

	// Renaming a site carries over to its sources; a named site stays.
	exec(`UPDATE sites SET id = 'depot-9' WHERE id = 'depot-1' AND tenant_id = (SELECT id FROM tenants WHERE public_id = 'ten_a')`)
	var moved int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM sources WHERE site_id = 'depot-9'`).Scan(&moved); err != nil || moved != 2 {
		t.Fatalf("sources of the renamed site: %d (err %v), want 2", moved, err)
	}
	_, err := conn.Exec(ctx, `DELETE FROM sites WHERE id = 'yard'`)
	if pgErr := (*pgconn.PgError)(nil); !errors.As(err, &pgErr) || pgErr.Code != "23503" {
		t.Fatalf("deleting a site sources name: err %v, want a foreign key violation", err)
	}
	// A tenant goes with its sites and sources.
	exec(`DELETE FROM tenants WHERE public_id = 'ten_a'`)
	if got := read(); len(got) != 2 {
		t.Fatalf("sites after deleting a tenant: %v, want ten_b's two", got)
	}
}
