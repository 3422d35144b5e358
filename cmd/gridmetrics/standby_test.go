package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/internal/pgpair"
	"github.com/gridmetrics/gridmetrics/rollups"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// standbyEnv is one database on a primary with a streaming standby, and two
// servers on it: onPrimary reads the primary only; onStandby has
// read-database-url set to the standby.
type standbyEnv struct {
	pair                 *pgpair.Pair
	onPrimary, onStandby ingestEnv
	// refresh builds the rollup tiers as the jobs would at now.
	refresh func(t *testing.T, now time.Time)
}

// answer is a read's data, tiers and the database that served it.
type answer struct {
	data     string // the envelope's data, re-encoded
	tiers    string
	database string
}

func (e ingestEnv) answer(path string) answer {
	e.t.Helper()
	status, h, body := e.get(path, "")
	if status != 200 {
		e.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var doc struct {
		Data any `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	data, _ := json.Marshal(doc.Data)
	return answer{data: string(data), tiers: h.Get("X-Gridmetrics-Tiers"), database: h.Get(HeaderDatabase)}
}

// until asks path of e until the answer comes from db, for at most 20 s,
// and returns it.
func (e ingestEnv) until(db, path string) answer {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		a := e.answer(path)
		if a.database == db {
			return a
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("GET %s: after 20 s still served by the %q, want the %s", path, a.database, db)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newStandbyEnv(t *testing.T) standbyEnv {
	t.Helper()
	if testing.Short() || dbtest.SchemaIsolation() {
		t.Skip("starts a primary and a standby of its own")
	}
	pair := pgpair.StartForTest(t)
	ctx := context.Background()
	if err := pair.CreateDatabase(ctx, "gm", ""); err != nil {
		t.Fatal(err)
	}
	primaryURL, standbyURL := pair.Primary.Database("gm"), pair.Standby.Database("gm")
	cli(t, primaryURL, "migrate")
	tenant := tenantID(t, cli(t, primaryURL, "tenant", "create", "--name", "acme"))
	key := strings.TrimSpace(cli(t, primaryURL, "apikey", "create", "--tenant", tenant, "--scopes", "ingest,read,billing,admin"))
	pool, err := pgxpool.New(ctx, primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	// The tiers are built by the test at a fixed clock, as in
	// TestQueryEndToEnd: the jobs and raw retention stay off.
	args := []string{"--rollup-jobs=false", "--raw-retention=-1h", "--rate-limit", "0"}
	env := func(m *Main) ingestEnv {
		return ingestEnv{t: t, base: "http://" + m.Addr(), key: key, tenant: tenant, pool: pool, dbURL: primaryURL}
	}
	e := standbyEnv{pair: pair,
		onPrimary: env(startServer(t, primaryURL, args...)),
		onStandby: env(startServer(t, primaryURL, append(args, "--read-database-url", standbyURL, "--read-max-lag", "1s")...)),
		refresh: func(t *testing.T, now time.Time) {
			runner := rollups.NewRunner(pool, rollups.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), rollups.NewMetrics(nil))
			runner.Now = func() time.Time { return now }
			for _, tier := range rollups.Tiers {
				if err := runner.Refresh(context.Background(), tier); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := runner.ApplyInvalidations(context.Background()); err != nil {
				t.Fatal(err)
			}
		}}
	return e
}

// meterDay ingests a day of a meter's register (every 5 minutes, 100 Wh
// each) and power through the server that reads the primary.
func (e standbyEnv) meterDay(t *testing.T, day time.Time, register float64) {
	t.Helper()
	var times []time.Time
	var reg, power []float64
	for at := day; at.Before(day.Add(24 * time.Hour)); at = at.Add(5 * time.Minute) {
		times, reg, power = append(times, at), append(reg, register), append(power, 1.2)
		register += 100
	}
	accepted(t, e.onPrimary.post("/v1/readings", "application/json", "", seriesBody("M-1", "energy_import", "Wh", times, reg)), len(times))
	accepted(t, e.onPrimary.post("/v1/readings", "application/json", "", seriesBody("M-1", "power_import", "kW", times, power)), len(times))
}

// TestReadsFromStandby runs the service with read-database-url pointing at
// a streaming standby: its answers equal the primary's, it never answers
// with data the standby has not replayed once that is older than
// read-max-lag, the billing pull falls back to the primary for a cursor
// the standby has not replayed, and a standby that goes down leaves the
// primary answering.
func TestReadsFromStandby(t *testing.T) {
	t.Parallel()
	e := newStandbyEnv(t)
	ctx := context.Background()
	e.onPrimary.createSourceJSON(`{"external_id":"M-1","kind":"meter","timezone":"UTC"}`)
	day1 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	e.meterDay(t, day1, 1000)
	e.meterDay(t, day1.Add(24*time.Hour), 1000+288*100)
	e.refresh(t, day1.Add(72*time.Hour))
	if err := e.pair.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	from, to := day1.Format(time.RFC3339), day1.Add(4*24*time.Hour).Format(time.RFC3339)
	energy := "/v1/sources/M-1/energy" + q("from", from, "to", to, "bucket", "1d")
	paths := []string{
		energy,
		"/v1/sources/M-1/readings" + q("metric", "power_import", "from", from, "to", to, "bucket", "1h", "agg", "avg,max"),
		"/v1/sources/M-1/stats" + q("from", from, "to", to),
		"/v1/readings/latest" + q("source", "M-1"),
	}

	t.Run("answers equal the primary's", func(t *testing.T) {
		for _, path := range paths {
			got := e.onStandby.with(t).until("standby", path)
			want := e.onPrimary.with(t).answer(path)
			if got.data != want.data || got.tiers != want.tiers {
				t.Errorf("GET %s\nstandby: %s (tiers %s)\nprimary: %s (tiers %s)", path, got.data, got.tiers, want.data, want.tiers)
			}
			if want.database != "" {
				t.Errorf("GET %s: the server without a standby says %s=%s", path, HeaderDatabase, want.database)
			}
		}
		if a := e.onStandby.with(t).answer(energy); a.tiers == "" || a.tiers == "raw" {
			t.Errorf("energy read from tiers %q: want rollups", a.tiers)
		}
	})

	t.Run("replay paused: never data past replay, then the primary", func(t *testing.T) {
		before := e.onStandby.with(t).until("standby", energy)
		if err := e.pair.PauseReplay(ctx); err != nil {
			t.Fatal(err)
		}
		defer e.pair.ResumeReplay(ctx)
		// A third day, and the tiers and watermarks moved over it, on the
		// primary only.
		e.meterDay(t, day1.Add(48*time.Hour), 1000+2*288*100)
		e.refresh(t, day1.Add(96*time.Hour))
		now := e.onPrimary.with(t).answer(energy)
		if now.data == before.data {
			t.Fatal("the third day changed nothing on the primary")
		}
		// While the standby is within read-max-lag it may answer, with what
		// it replayed; past it the primary answers.
		deadline := time.Now().Add(20 * time.Second)
		for {
			a := e.onStandby.with(t).answer(energy)
			if a.database == "standby" {
				if a.data != before.data {
					t.Fatalf("the paused standby answered %s, not what it had replayed: %s", a.data, before.data)
				}
			} else {
				if a.database != "primary" || a.data != now.data {
					t.Fatalf("served by %q: %s, want the primary's %s", a.database, a.data, now.data)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("after 20 s of paused replay the standby still answers")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := e.pair.ResumeReplay(ctx); err != nil {
			t.Fatal(err)
		}
		if a := e.onStandby.with(t).until("standby", energy); a.data != now.data {
			t.Fatalf("the standby caught up answers %s, want %s", a.data, now.data)
		}
	})

	t.Run("billing pull and export", func(t *testing.T) {
		admin := func(env ingestEnv) client { return client{t, env.base, env.key} }
		e.onPrimary.createSourceJSON(`{"external_id":"CB-1/1","kind":"connector","timezone":"UTC"}`)
		start := func(ext string, at time.Time) {
			t.Helper()
			r := admin(e.onPrimary).do("POST", "/v1/sessions", fmt.Sprintf(`{"source":"CB-1/1","external_id":%q,"start_time":%q,"meter_start":0}`, ext, at.Format(time.RFC3339)))
			expect(t, "start "+ext, r, 201, "")
		}
		pull := func(env ingestEnv, cursor string) (ids []string, next, db string) {
			t.Helper()
			path := "/v1/sessions?limit=100"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			status, h, body := env.with(t).get(path, "")
			if status != 200 {
				t.Fatalf("GET %s: %d %s", path, status, body)
			}
			var doc struct {
				Data       []struct{ ID string }
				Pagination struct {
					NextCursor string `json:"next_cursor"`
				}
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			for _, s := range doc.Data {
				ids = append(ids, s.ID)
			}
			return ids, doc.Pagination.NextCursor, h.Get(HeaderDatabase)
		}
		start("s1", day1.Add(time.Hour))
		if err := e.pair.WaitReplayed(ctx); err != nil {
			t.Fatal(err)
		}
		e.onStandby.with(t).until("standby", energy)
		ids, c1, db := pull(e.onStandby, "")
		if len(ids) != 1 || db != "standby" {
			t.Fatalf("first pull: %v from the %q, want one session from the standby", ids, db)
		}
		if err := e.pair.PauseReplay(ctx); err != nil {
			t.Fatal(err)
		}
		defer e.pair.ResumeReplay(ctx)
		start("s2", day1.Add(2*time.Hour))
		// A client served s2 by a replica that reads the primary, asking
		// next a replica whose standby has not replayed s2: the primary
		// answers, with nothing newer.
		ids, c2, _ := pull(e.onPrimary, c1)
		if len(ids) != 1 {
			t.Fatalf("pull from the primary: %v, want s2", ids)
		}
		if ids, _, db := pull(e.onStandby, c2); len(ids) != 0 || db != "primary" {
			t.Fatalf("pull past the standby's replay: %v from the %q, want nothing from the primary", ids, db)
		}
		status, h, body := e.onStandby.with(t).get("/v1/sessions/export"+q("from", from, "to", to), "")
		if status != 200 || h.Get(HeaderDatabase) == "" {
			t.Fatalf("export: %d, %s=%q: %s", status, HeaderDatabase, h.Get(HeaderDatabase), body)
		}
		if err := e.pair.ResumeReplay(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.pair.WaitReplayed(ctx); err != nil {
			t.Fatal(err)
		}
		e.onStandby.with(t).until("standby", energy)
		if ids, _, db := pull(e.onStandby, c2); len(ids) != 0 || db != "standby" {
			t.Fatalf("pull after replay: %v from the %q, want nothing from the standby", ids, db)
		}
		status, h, _ = e.onStandby.with(t).get("/v1/sessions/export"+q("from", from, "to", to, "format", "csv"), "")
		if status != 200 || h.Get(HeaderDatabase) != "standby" {
			t.Fatalf("export: %d from the %q, want the standby", status, h.Get(HeaderDatabase))
		}
	})

	t.Run("metrics", func(t *testing.T) {
		res, err := http.Get(e.onStandby.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, want := range []string{"\ngridmetrics_standby_up 1\n", "\ngridmetrics_standby_lag_seconds ", "\ngridmetrics_standby_replay_lag_bytes ",
			"\ngridmetrics_standby_last_replay_timestamp_seconds ", `gridmetrics_standby_reads_total{database="standby"}`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
			}
		}
	})

	t.Run("standby down: the primary answers", func(t *testing.T) {
		want := e.onPrimary.with(t).answer(energy)
		if err := e.pair.CrashStandby(ctx); err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			a := e.onStandby.with(t).answer(path)
			if path == energy && (a.database != "primary" || a.data != want.data) {
				t.Fatalf("with the standby down: %s from the %q, want %s from the primary", a.data, a.database, want.data)
			}
		}
		r := client{t, e.onStandby.base, ""}.do("GET", "/readyz", "")
		expect(t, "readyz with the standby down", r, 200, "")
		if fact, _ := r.data()["standby"].(map[string]any); fact == nil || fact["serving"] != false {
			t.Fatalf("readyz: %v", r.Body)
		}
		if err := e.pair.StartStandby(ctx); err != nil {
			t.Fatal(err)
		}
		if a := e.onStandby.with(t).until("standby", energy); a.data != want.data {
			t.Fatalf("after the restart: %s, want %s", a.data, want.data)
		}
	})
}

// TestStandbySettingsRefused: read-database-url and read-max-lag are
// checked at start, with errors that name them and never echo a password.
// It cannot run in parallel: it unsets variables.
func TestStandbySettingsRefused(t *testing.T) {
	serveFlags(t) // unsets the variables
	for _, c := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--read-max-lag", "-1s"}, "read-max-lag is -1s: must be at least 100ms"},
		{[]string{"--read-max-lag", "0s"}, "read-max-lag is 0s: must be at least 100ms"},
		{[]string{"--read-max-lag", "10ms"}, "read-max-lag is 10ms: must be at least 100ms"},
		{[]string{"--read-max-lag", "soon"}, `"soon" is not a duration`},
		{[]string{"--read-database-url", "postgres://gm:s3cret@127.0.0.1:notaport/x"}, "read-database-url: "},
		{[]string{"--read-database-url", "postgres://gm:s3cret@127.0.0.1:99999/x"}, "read-database-url: "},
		{[]string{"--read-database-url", "host=127.0.0.1 port=5432 sslmode=bogus password=s3cret"}, "read-database-url: "},
		{[]string{"--read-database-url", "postgres://127.0.0.1:1/x"}, "read-database-url is database-url"},
	} {
		t.Run(strings.Join(c.args, "="), func(t *testing.T) {
			err := run(context.Background(), append([]string{"serve", "--database-url", "postgres://127.0.0.1:1/x"}, c.args...), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want it to say %q", err, c.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}
