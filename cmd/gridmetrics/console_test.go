package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/console"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// consoleSeen is what test/console/console.mjs saw in the browser.
type consoleSeen struct {
	Requests []string `json:"requests"`
	Problems []string `json:"problems"`

	BadKeyError  string `json:"badKeyError"`
	DBDownError  string `json:"dbDownError"`
	DBDownAnswer struct {
		Status int `json:"status"`
		Body   struct {
			Error struct{ Code, Message string } `json:"error"`
		} `json:"body"`
	} `json:"dbDownAnswer"`
	Sources []string `json:"sources"`
	Sites   []string `json:"sites"`
	Live    struct {
		Value float64 `json:"value"`
	} `json:"live"`
	Energy struct {
		Source struct {
			First, Daily, UTC seenEnergy
		} `json:"source"`
		Site seenEnergy `json:"site"`
		Gap  seenEnergy `json:"gap"`
	} `json:"energy"`
	Cost struct {
		URL     string `json:"url"`
		Buckets []struct {
			Start, Total string
		} `json:"buckets"`
		Lines int `json:"lines"`
	} `json:"cost"`
	Session struct {
		Listed    int            `json:"listed"`
		ID        string         `json:"id"`
		CDR       map[string]any `json:"cdr"`
		Signature string         `json:"signature"`
		Lines     int            `json:"lines"`
	} `json:"session"`
	RollupTiers            []string `json:"rollupTiers"`
	StorageAfterSignOut    int      `json:"storageAfterSignOut"`
	TabsAfterSignOut       int      `json:"tabsAfterSignOut"`
	RollupsWithoutAdmin    string   `json:"rollupsWithoutAdmin"`
	SessionsWithoutBilling string   `json:"sessionsWithoutBilling"`
	Docs                   struct {
		OpenAPIStatus int    `json:"openapiStatus"`
		Title         string `json:"title"`
		SpecTitle     string `json:"specTitle"`
		Operations    int    `json:"operations"`
		Server        string `json:"server"`
		Error         string `json:"error"`
	} `json:"docs"`
}

// seenEnergy is one energy request of the page and the table it drew.
type seenEnergy struct {
	URL  string `json:"url"`
	Rows []struct {
		Start, KWh, Quality string
	} `json:"rows"`
	Canvas int `json:"canvas"`
}

// chromium returns Debian's chromium. Without it the test fails in CI
// (make test installs it) and is skipped elsewhere.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: make test installs it (scripts/chromium.sh install)")
	}
	t.Skip("chromium is not installed: scripts/chromium.sh install (make test runs it) brings Debian's package")
	return ""
}

// requireBuiltConsole fails in CI, and skips elsewhere, when the binary
// embeds no console build (go test without make).
func requireBuiltConsole(t *testing.T) {
	t.Helper()
	if _, err := fs.Stat(console.Built(), "index.html"); err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the console is not built: make test builds it (make console) before the Go tests")
	}
	t.Skip("the console is not built: run make console, then the test again")
}

// TestConsoleInChromium drives the built-in console and the API reference
// in chromium against the demo: a wrong key's error, sign-in, the site's
// sources and latest values refreshing by themselves, the energy chart of
// a source and of the site with the bucket and zone pickers, a gap, cost
// lines, a session's CDR, rollup status, what a read-only key is told,
// sign-out, and /docs. What the page showed is compared with the API's
// answers to the same requests; no URL the page requested holds the key.
// Screenshots go to the test's artifact folder (go test -artifacts).
func TestConsoleInChromium(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	requireBuiltConsole(t)
	dir := nodeHarness(t, "console", "playwright-core")

	dbURL := dbtest.NewURL(t)
	envFile := t.TempDir() + "/demo.env"
	cli(t, dbURL, "demo", "--env-file", envFile)
	key := readEnvValue(envFile, "GRIDMETRICS_API_KEY")
	readKey := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", readEnvValue(envFile, "GRIDMETRICS_TENANT_ID"), "--scopes", "read"))
	m := startServer(t, dbURL, "--rollup-jobs=false", "--rate-limit", "0")
	base := "http://" + m.Addr()
	c := client{t, base, key}
	grid := c.do("GET", "/v1/sources?external_id=GRID-1", "").Body["data"].([]any)[0].(map[string]any)["id"].(string)

	// A meter without a site whose readings stop for 45 minutes.
	gap := c.do("POST", "/v1/sources", `{"external_id":"GAP-1","kind":"meter","timezone":"UTC"}`)
	expect(t, "create GAP-1", gap, 201, "")
	day := time.Now().UTC().AddDate(0, 0, -2).Truncate(24 * time.Hour)
	var points []string
	for i := 0; i <= 150; i++ {
		if i > 45 && i < 90 {
			continue
		}
		points = append(points, fmt.Sprintf(`[%q,%d]`, day.Add(10*time.Hour+time.Duration(i)*time.Minute).Format(time.RFC3339), 1000+100*i))
	}
	ingest := c.do("POST", "/v1/readings", `{"series":[{"source":"GAP-1","metric":"energy_import","unit":"Wh","points":[`+strings.Join(points, ",")+`]}]}`)
	expect(t, "ingest GAP-1", ingest, 200, "")

	out := t.ArtifactDir()
	seen := runConsole(t, dir, browser, "tour",
		"CONSOLE_URL="+base, "CONSOLE_KEY="+key, "CONSOLE_READ_KEY="+readKey,
		"CONSOLE_GRID="+grid, "CONSOLE_SITE="+demoSite, "CONSOLE_GAP_SOURCE="+gap.data()["id"].(string),
		"CONSOLE_GAP_FROM="+day.Add(10*time.Hour).Format("2006-01-02T15:04"),
		"CONSOLE_GAP_TO="+day.Add(12*time.Hour+30*time.Minute).Format("2006-01-02T15:04"),
		"CONSOLE_OUT="+out)

	if len(seen.Problems) > 0 {
		t.Errorf("script or console errors in the page (a Content-Security-Policy violation is one):\n%s", strings.Join(seen.Problems, "\n"))
	}

	// The API's own message for a wrong key.
	bad := client{t, base, "gm_000000000000_" + strings.Repeat("0", 40)}.do("GET", "/v1/sources", "")
	msg, _ := bad.Body["error"].(map[string]any)["message"].(string)
	if msg == "" || !strings.Contains(seen.BadKeyError, msg) || !strings.Contains(seen.BadKeyError, "UNAUTHORIZED") {
		t.Errorf("a wrong key shows %q, want the API's %q", seen.BadKeyError, msg)
	}

	// The site's sources (GRID-1, PLUG-1, chargers and connectors); the
	// reading ingested meanwhile appeared.
	if len(seen.Sources) != 2+2*demoChargers || !slices.Contains(seen.Sources, "GRID-1") || !slices.Contains(seen.Sources, "CB-0001/1") || !slices.Contains(seen.Sites, demoSite) {
		t.Errorf("sources %v of sites %v", seen.Sources, seen.Sites)
	}
	latest := c.do("GET", "/v1/readings/latest?source=GRID-1&metric=power_import", "").Body["data"].([]any)
	if v := latest[0].(map[string]any)["value"]; seen.Live.Value != 4242.4 || v != 4242.4 {
		t.Errorf("the live value: the page saw %v, the API has %v", seen.Live.Value, v)
	}

	// Each chart shows what the API answers to the request it made.
	charts := []struct {
		name     string
		seen     seenEnergy
		path     string
		bucket   string
		tz       string
		wantFlag string // a quality some bucket must show
	}{
		{"source", seen.Energy.Source.First, "/v1/sources/" + grid + "/energy", "1h", "", ""},
		{"source per day", seen.Energy.Source.Daily, "/v1/sources/" + grid + "/energy", "1d", "", ""},
		{"source per UTC day", seen.Energy.Source.UTC, "/v1/sources/" + grid + "/energy", "1d", "UTC", ""},
		{"site", seen.Energy.Site, "/v1/sites/" + demoSite + "/energy", "1d", "UTC", ""},
		{"gap", seen.Energy.Gap, "/v1/sources/" + gap.data()["id"].(string) + "/energy", "15m", "UTC", "gap"},
	}
	for _, ch := range charts {
		u, err := url.Parse(ch.seen.URL)
		if err != nil || u.Path != ch.path || u.Query().Get("bucket") != ch.bucket || u.Query().Get("tz") != ch.tz {
			t.Errorf("%s chart: requested %q, want %s with bucket=%s tz=%q", ch.name, ch.seen.URL, ch.path, ch.bucket, ch.tz)
			continue
		}
		if ch.seen.Canvas != 1 || len(ch.seen.Rows) == 0 {
			t.Errorf("%s chart: %d canvases, %d rows", ch.name, ch.seen.Canvas, len(ch.seen.Rows))
		}
		api := c.do("GET", u.RequestURI(), "")
		expect(t, ch.name+" energy", api, 200, "")
		buckets, _ := api.Body["data"].([]any)
		if len(buckets) != len(ch.seen.Rows) {
			t.Errorf("%s chart: %d rows shown, the API has %d buckets", ch.name, len(ch.seen.Rows), len(buckets))
			continue
		}
		flagged := false
		for i, b := range buckets {
			b := b.(map[string]any)
			row := ch.seen.Rows[i]
			if row.Start != b["time"] || row.Quality != b["quality"] || !sameNumber(row.KWh, b["import_kwh"]) {
				t.Errorf("%s chart row %d: shows %+v, the API has %v", ch.name, i, row, b)
			}
			flagged = flagged || row.Quality == ch.wantFlag
		}
		if ch.wantFlag != "" && !flagged {
			t.Errorf("%s chart: no bucket shows %q: %+v", ch.name, ch.wantFlag, ch.seen.Rows)
		}
	}

	// Cost per day, as the API prices it, with its lines.
	if u, err := url.Parse(seen.Cost.URL); err != nil || u.Path != "/v1/sources/"+grid+"/cost" || u.Query().Get("bucket") != "day" {
		t.Errorf("cost requested %q", seen.Cost.URL)
	} else {
		api := c.do("GET", u.RequestURI(), "")
		expect(t, "cost", api, 200, "")
		buckets, _ := api.data()["buckets"].([]any)
		if len(buckets) == 0 || len(buckets) != len(seen.Cost.Buckets) || seen.Cost.Lines == 0 {
			t.Errorf("cost: %d buckets and %d lines shown, the API has %d buckets", len(seen.Cost.Buckets), seen.Cost.Lines, len(buckets))
		}
		for i := 0; i < len(buckets) && i < len(seen.Cost.Buckets); i++ {
			b := buckets[i].(map[string]any)
			total := b["invoice_totals"].(map[string]any)["total"].(map[string]any)["incl_vat"]
			if seen.Cost.Buckets[i].Start != b["start"] || seen.Cost.Buckets[i].Total != total {
				t.Errorf("cost bucket %d: shows %+v, the API has %v %v", i, seen.Cost.Buckets[i], b["start"], total)
			}
		}
	}

	// A session, its CDR and signature state.
	if seen.Session.Listed == 0 || seen.Session.Lines == 0 {
		t.Errorf("sessions: %d listed, %d price lines", seen.Session.Listed, seen.Session.Lines)
	}
	cdr := c.do("GET", "/v1/sessions/"+seen.Session.ID+"/cdr", "")
	expect(t, "cdr", cdr, 200, "")
	if !reflect.DeepEqual(seen.Session.CDR, cdr.data()) {
		t.Errorf("the CDR shown differs from the API's:\n%v\n%v", seen.Session.CDR, cdr.data())
	}
	if st := c.do("GET", "/v1/sessions/"+seen.Session.ID, "").data()["signature_state"]; seen.Session.Signature != st {
		t.Errorf("signature state shown %q, the API has %v", seen.Session.Signature, st)
	}

	if !reflect.DeepEqual(seen.RollupTiers, []string{"15m", "1h", "1d"}) {
		t.Errorf("rollup tiers %v", seen.RollupTiers)
	}
	if !strings.Contains(seen.RollupsWithoutAdmin, "admin scope") || !strings.Contains(seen.SessionsWithoutBilling, `lacks the "billing" scope`) {
		t.Errorf("a read-only key is told %q and %q", seen.RollupsWithoutAdmin, seen.SessionsWithoutBilling)
	}
	if seen.StorageAfterSignOut != 0 || seen.TabsAfterSignOut != 0 {
		t.Errorf("after signing out: %d items in sessionStorage, %d tabs", seen.StorageAfterSignOut, seen.TabsAfterSignOut)
	}

	// The reference renders the OpenAPI document (or says it cannot load it).
	spec := c.do("GET", "/v1/openapi.json", "")
	switch {
	case seen.Docs.OpenAPIStatus != spec.Status:
		t.Errorf("/v1/openapi.json: %d to the page, %d to the test", seen.Docs.OpenAPIStatus, spec.Status)
	case spec.Status == 200:
		title, _ := spec.Body["info"].(map[string]any)["title"].(string)
		if title == "" || seen.Docs.SpecTitle != title || !strings.HasPrefix(seen.Docs.Title, title) || seen.Docs.Operations == 0 || seen.Docs.Server != base {
			t.Errorf("/docs shows %q with %d operations, trying them out on %q; the document's title is %q", seen.Docs.Title, seen.Docs.Operations, seen.Docs.Server, title)
		}
	case !strings.Contains(seen.Docs.Error, fmt.Sprintf("HTTP %d", spec.Status)):
		t.Errorf("/docs without a document shows %q", seen.Docs.Error)
	}

	// The key is in no URL the pages requested or showed in the address
	// bar, and the pages talk to this server only.
	if len(seen.Requests) < 10 {
		t.Errorf("only %d requests recorded", len(seen.Requests))
	}
	for _, r := range seen.Requests {
		if r == "about:blank" {
			continue
		}
		for _, k := range []string{key, readKey, url.QueryEscape(key), key[len(key)-16:]} {
			if strings.Contains(r, k) {
				t.Errorf("the page requested %q, which holds the key", r)
			}
		}
		if !strings.HasPrefix(r, base+"/") {
			t.Errorf("the page requested %q, another origin", r)
		}
	}
}

// With the database refusing connections, signing in shows the API's error
// instead of a blank page.
func TestConsoleShowsTheDatabaseDown(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	requireBuiltConsole(t)
	dir := nodeHarness(t, "console", "playwright-core")
	m, dbURL, acme, _, key := twoTenants(t)
	admin := key(acme, "admin,read")
	base := "http://" + m.Addr()
	c := client{t, base, admin}
	expect(t, "sources", c.do("GET", "/v1/sources", ""), 200, "")

	refuseConnections(t, dbURL)
	seen := runConsole(t, dir, browser, "db-down", "CONSOLE_URL="+base, "CONSOLE_KEY="+admin, "CONSOLE_OUT="+t.ArtifactDir())
	ans := seen.DBDownAnswer
	if ans.Status != 503 || ans.Body.Error.Code != "UNAVAILABLE" || ans.Body.Error.Message == "" {
		t.Fatalf("with the database down the page's sign-in got %+v", ans)
	}
	if !strings.Contains(seen.DBDownError, ans.Body.Error.Message) || !strings.Contains(seen.DBDownError, ans.Body.Error.Code) {
		t.Errorf("the console shows %q; the API answered %+v", seen.DBDownError, ans)
	}
	if len(seen.Problems) > 0 {
		t.Errorf("script errors in the page:\n%s", strings.Join(seen.Problems, "\n"))
	}
}

// refuseConnections makes the test database refuse new connections and
// ends the open ones, until the test ends.
func refuseConnections(t *testing.T, dbURL string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" ALLOW_CONNECTIONS true"); err != nil {
			t.Error(err)
		}
		conn.Close(ctx)
	})
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		t.Fatal(err)
	}
}

// runConsole runs a scenario of test/console/console.mjs with env and
// returns what it saw.
func runConsole(t *testing.T, dir, browser, scenario string, env ...string) consoleSeen {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "console.mjs", scenario)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "CHROMIUM="+browser), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node console.mjs: %v\n%s", err, stderr.String())
	}
	var seen consoleSeen
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &seen); err != nil {
		t.Fatalf("node console.mjs printed no JSON: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	return seen
}

// sameNumber reports whether a number the page kept as text is the API's.
func sameNumber(shown string, api any) bool {
	if api == nil {
		return shown == ""
	}
	var want float64
	switch v := api.(type) {
	case float64:
		want = v
	case string:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		want = f
	default:
		return false
	}
	got, err := strconv.ParseFloat(shown, 64)
	return err == nil && got == want
}
