package schema_test

import (
	"context"
	"testing"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// TestTariffLastUpdatedMigration migrates a database whose tariff versions
// lack last_updated: each gets its creation time, to the millisecond in
// UTC; a document's own is kept; versions stored afterwards get theirs the
// same way.
func TestTariffLastUpdatedMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, m := dbtest.Migrator(t)
	if err := m.MigrateTo(ctx, 13); err != nil {
		t.Fatalf("migrate to 13: %v", err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO tenants (public_id, name) VALUES ('ten_a', 'A')`)
	exec(`INSERT INTO tariffs (public_id, tenant_id, country_code, party_id, external_id, kind)
		SELECT 'tar_1', id, 'DE', 'ALL', 'T1', 'charging' FROM tenants`)
	exec(`INSERT INTO tariff_versions (tariff_id, version, document, valid_from, created_at)
		SELECT id, v.n, v.doc::jsonb, '2026-01-01T00:00:00Z', v.created::timestamptz FROM tariffs, (VALUES
			(1, '{"id":"T1"}', '2026-03-04T05:06:07.123456+02:00'),
			(2, '{"id":"T1","last_updated":"2025-01-01T00:00:00Z"}', '2026-03-05T00:00:00Z')
		) v (n, doc, created)`)
	if err := m.MigrateTo(ctx, 14); err != nil {
		t.Fatalf("migrate to 14: %v", err)
	}
	exec(`INSERT INTO tariff_versions (tariff_id, version, document, valid_from, created_at)
		SELECT id, 3, '{"id":"T1"}', '2026-01-01T00:00:00Z', '2026-03-06T01:02:03.000999Z' FROM tariffs`)

	want := map[int]string{1: "2026-03-04T03:06:07.123Z", 2: "2025-01-01T00:00:00Z", 3: "2026-03-06T01:02:03.000Z"}
	rows, err := conn.Query(ctx, `SELECT version, document ->> 'last_updated' FROM tariff_versions ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var version int
		var got *string
		if err := rows.Scan(&version, &got); err != nil {
			t.Fatal(err)
		}
		n++
		if got == nil || *got != want[version] {
			t.Errorf("version %d: last_updated %v, want %s", version, got, want[version])
		}
	}
	if err := rows.Err(); err != nil || n != 3 {
		t.Fatalf("%d versions (err %v), want 3", n, err)
	}
}
