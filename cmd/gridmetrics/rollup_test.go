package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRollupJobsRun starts the server with second-long cron schedules and
// waits for ingested readings to reach every tier.
func TestRollupJobsRun(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t, "--rollup-spec-15m", "@every 1s", "--rollup-spec-1h", "@every 1s", "--rollup-spec-1d", "@every 1s",
		"--rollup-invalidation-spec", "@every 1s")
	e.createSource("M-1", "meter")
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-48 * time.Hour)
	var rows []string
	for i := range 96 {
		rows = append(rows, fmt.Sprintf(`{"source":"M-1","metric":"energy_import","time":%q,"value":%d}`,
			day.Add(time.Duration(i)*30*time.Minute).Format(time.RFC3339), 1000+i*10))
	}
	accepted(t, e.post("/v1/readings", "application/json", "", []byte(`{"readings":[`+strings.Join(rows, ",")+`]}`)), 96)

	deadline := time.Now().Add(20 * time.Second)
	for {
		var n15, n1d int
		err := e.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM rollup_15m), (SELECT count(*) FROM rollup_1d)`).Scan(&n15, &n1d)
		if err != nil {
			t.Fatal(err)
		}
		if n15 == 96 && n1d == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %d rows in rollup_15m (want 96), %d in rollup_1d (want 2)", n15, n1d)
		}
		time.Sleep(200 * time.Millisecond)
	}

	st := client{t, e.base, e.key}.do("GET", "/v1/rollups/status", "")
	expect(t, "status", st, 200, "")
	tiers, _ := st.data()["tiers"].([]any)
	if len(tiers) != 3 || tiers[0].(map[string]any)["watermark"] == nil {
		t.Fatalf("status: %v", st.Body)
	}

	readKey := strings.TrimSpace(cli(t, e.dbURL, "apikey", "create", "--tenant", e.tenant, "--scopes", "read"))
	expect(t, "status without admin", client{t, e.base, readKey}.do("GET", "/v1/rollups/status", ""), 403, "FORBIDDEN")

	// A backfill over the range rebuilds it and says how much it wrote.
	out := cli(t, e.dbURL, "rollup", "backfill", "--from", day.Format("2006-01-02"), "--to", day.Add(48*time.Hour).Format(time.RFC3339))
	if !strings.Contains(out, "rollups rebuilt") {
		t.Fatalf("backfill: %q", out)
	}
	if err := run(context.Background(), []string{"rollup", "backfill", "--from", "soon", "--to", "later", "--database-url", e.dbURL}, io.Discard, io.Discard); err == nil {
		t.Fatal("backfill with bad times succeeded")
	}
}

// TestRollupStatusIsTenantScoped: the rollup status shows a tenant's admin
// its own late data only, never another tenant's, and a failed run as a
// fact without the error's text. /readyz carries TimescaleDB's jobs as a
// fact of their own when the backend has them.
func TestRollupStatusIsTenantScoped(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t, "--rollup-jobs=false")
	e.createSource("M-1", "meter")
	other := tenantID(t, cli(t, e.dbURL, "tenant", "create", "--name", "other"))
	otherKey := strings.TrimSpace(cli(t, e.dbURL, "apikey", "create", "--tenant", other, "--scopes", "read,admin"))
	expect(t, "other's source", client{t, e.base, otherKey}.do("POST", "/v1/sources", `{"external_id":"O-1","kind":"meter"}`), 201, "")

	ctx := context.Background()
	late := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for _, inv := range []struct {
		source string
		metric int
		at     time.Time
	}{{"M-1", 1, late}, {"O-1", 1, late.Add(-time.Hour)}, {"O-1", 2, late}} {
		if _, err := e.pool.Exec(ctx, `INSERT INTO rollup_invalidations (source_id, metric, earliest)
			SELECT id, $2, $3 FROM sources WHERE external_id = $1`, inv.source, inv.metric, inv.at); err != nil {
			t.Fatal(err)
		}
	}
	const secret = `ERROR: permission denied for table other_tenant_data (SQLSTATE 42501)`
	if _, err := e.pool.Exec(ctx, `INSERT INTO rollup_watermarks (tier, watermark, last_run_at, last_duration_s, last_error)
		VALUES ('1d', $1, $1, 1, $2)`, late, secret); err != nil {
		t.Fatal(err)
	}

	mine := client{t, e.base, e.key}.do("GET", "/v1/rollups/status", "")
	expect(t, "status", mine, 200, "")
	if n := mine.data()["pending_invalidations"]; n != 1.0 {
		t.Errorf("acme sees %v pending invalidations, want its 1: %v", n, mine.Body)
	}
	theirs := client{t, e.base, otherKey}.do("GET", "/v1/rollups/status", "")
	expect(t, "other's status", theirs, 200, "")
	if n, at := theirs.data()["pending_invalidations"], theirs.data()["oldest_invalidation"]; n != 2.0 || at != "2026-01-04T23:00:00Z" {
		t.Errorf("other sees %v pending from %v, want 2 from 2026-01-04T23:00:00Z", n, at)
	}
	for _, r := range []response{mine, theirs} {
		b, _ := json.Marshal(r.Body)
		if strings.Contains(string(b), "other_tenant_data") || strings.Contains(string(b), "SQLSTATE") {
			t.Errorf("status shows the error's text: %s", b)
		}
		tiers, _ := r.data()["tiers"].([]any)
		if len(tiers) != 3 || tiers[2].(map[string]any)["last_status"] != "failed" {
			t.Errorf("tiers: %s", b)
		}
	}

	ready := client{t, e.base, ""}.do("GET", "/readyz", "")
	expect(t, "readyz", ready, 200, "")
	jobs, ok := ready.data()["timescaledb_jobs"].(map[string]any)
	if ready.data()["backend"] == "timescaledb" {
		if !ok || jobs["status"] == nil {
			t.Errorf("readyz without the jobs fact: %v", ready.Body)
		}
	} else if ok {
		t.Errorf("readyz on PostgreSQL has a jobs fact: %v", jobs)
	}
}
