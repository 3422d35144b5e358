package main

import (
	"context"
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
