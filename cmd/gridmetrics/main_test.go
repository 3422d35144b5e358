package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// cli runs a gridmetrics command against the database and returns stdout.
func cli(t *testing.T, dbURL string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args[:len(args):len(args)], "--database-url", dbURL)
	// Flags must precede positional arguments: put them after the command
	// words, before any trailing argument.
	if err := run(context.Background(), reorder(args), &out, &errOut); err != nil {
		t.Fatalf("gridmetrics %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// reorder moves a trailing positional argument (apikey revoke KEY) after
// the flags.
func reorder(args []string) []string {
	if len(args) > 3 && args[0] == "apikey" && args[1] == "revoke" {
		key := args[2]
		return append(append([]string{"apikey", "revoke"}, args[3:]...), key)
	}
	return args
}

// startServer runs the service on a free loopback port.
func startServer(t *testing.T, dbURL string, args ...string) *Main {
	t.Helper()
	var cfg Config
	_, err := parseFlags("serve", append([]string{"--database-url", dbURL, "--addr", "127.0.0.1:0", "--log-level", "warn"}, args...),
		io.Discard, func(b *binder) { cfg.bindDatabase(b); cfg.bindServer(b) })
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	m := &Main{Config: cfg, Log: cfg.logger(&logs)}
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	contract.watch(m.Addr())
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return m
}

type client struct {
	t    *testing.T
	base string
	key  string
}

type response struct {
	Status int
	Header http.Header
	Body   map[string]any
}

func (c client) do(method, path, body string) response {
	c.t.Helper()
	return c.send(method, path, body, false)
}

// doInvalid sends a request that is invalid on purpose: the contract
// check validates the answer only (see contract_test.go).
func (c client) doInvalid(method, path, body string) response {
	c.t.Helper()
	return c.send(method, path, body, true)
}

func (c client) send(method, path, body string, invalid bool) response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if invalid {
		req = invalidRequest(req)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out := response{Status: res.StatusCode, Header: res.Header}
	raw, _ := io.ReadAll(res.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			c.t.Fatalf("%s %s: body is not JSON: %s", method, path, raw)
		}
	}
	return out
}

func (r response) data() map[string]any {
	d, _ := r.Body["data"].(map[string]any)
	return d
}

func (r response) errorCode() string {
	e, _ := r.Body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func expect(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.errorCode() != code {
		t.Fatalf("%s: status %d code %q, want %d %q; body %v", what, r.Status, r.errorCode(), status, code, r.Body)
	}
}

func tenantID(t *testing.T, out string) string {
	t.Helper()
	i := strings.LastIndex(out, "ten_")
	if i < 0 {
		t.Fatalf("no tenant id in %q", out)
	}
	return strings.TrimSpace(out[i:])
}

// TestEndToEnd drives the acceptance path of the foundation: keys made with
// the command line, sources managed over HTTP, tenants kept apart.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	acme := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme"))
	other := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "other"))
	adminKey := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", acme, "--scopes", "ingest,read,billing,admin", "--name", "ops"))
	readKey := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", "acme", "--scopes", "read"))
	otherKey := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", other, "--scopes", "read,admin"))

	m := startServer(t, dbURL)
	base := "http://" + m.Addr()
	admin := client{t, base, adminKey}

	ready := client{t: t, base: base}.do("GET", "/readyz", "")
	if ready.Status != 200 || ready.data()["backend"] == nil || ready.data()["status"] != "ready" {
		t.Fatalf("readyz: %d %v", ready.Status, ready.Body)
	}

	created := admin.do("POST", "/v1/sources", `{"external_id":"CB-0042/1","kind":"connector","site_id":"depot-1","timezone":"Europe/Berlin"}`)
	expect(t, "create", created, 201, "")
	id, _ := created.data()["id"].(string)
	if !strings.HasPrefix(id, "src_") || created.Header.Get("Location") != "/v1/sources/"+id {
		t.Fatalf("create: id %q, Location %q", id, created.Header.Get("Location"))
	}
	expect(t, "duplicate", admin.do("POST", "/v1/sources", `{"external_id":"CB-0042/1","kind":"connector"}`), 409, "CONFLICT")

	list := admin.do("GET", "/v1/sources?site_id=depot-1", "")
	expect(t, "list", list, 200, "")
	if items, _ := list.Body["data"].([]any); len(items) != 1 {
		t.Fatalf("list: %v", list.Body)
	}
	expect(t, "get", admin.do("GET", "/v1/sources/"+id, ""), 200, "")

	patched := admin.do("PATCH", "/v1/sources/"+id, `{"name":"Bay 1","site_id":null}`)
	expect(t, "patch", patched, 200, "")
	if patched.data()["name"] != "Bay 1" || patched.data()["site_id"] != nil {
		t.Fatalf("patch: %v", patched.Body)
	}

	// Another tenant sees nothing; a read-only key reads but cannot write.
	intruder := client{t, base, otherKey}
	expect(t, "other tenant get", intruder.do("GET", "/v1/sources/"+id, ""), 404, "NOT_FOUND")
	expect(t, "other tenant patch", intruder.do("PATCH", "/v1/sources/"+id, `{"name":"x"}`), 404, "NOT_FOUND")
	expect(t, "other tenant delete", intruder.do("DELETE", "/v1/sources/"+id, ""), 404, "NOT_FOUND")
	reader := client{t, base, readKey}
	expect(t, "read-only get", reader.do("GET", "/v1/sources/"+id, ""), 200, "")
	expect(t, "read-only create", reader.do("POST", "/v1/sources", `{"external_id":"M-1","kind":"meter"}`), 403, "FORBIDDEN")

	expect(t, "delete", admin.do("DELETE", "/v1/sources/"+id, ""), 204, "")
	expect(t, "get deleted", admin.do("GET", "/v1/sources/"+id, ""), 404, "NOT_FOUND")

	// Revoking a key takes effect as soon as the server hears of it: the
	// command line is another process, whose revocation reaches the
	// server's key cache through a notification sent at commit.
	prefix := strings.Split(readKey, "_")[1]
	cli(t, dbURL, "apikey", "revoke", prefix, "--tenant", acme)
	for deadline := time.Now().Add(5 * time.Second); reader.do("GET", "/v1/sources", "").Status == 200 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	expect(t, "revoked key", reader.do("GET", "/v1/sources", ""), 401, "UNAUTHORIZED")
	if keys := cli(t, dbURL, "apikey", "list", "--tenant", acme); !strings.Contains(keys, "gm_"+prefix) || strings.Count(keys, "\n") != 3 {
		t.Fatalf("apikey list:\n%s", keys)
	}
	expect(t, "no credentials", client{t: t, base: base}.do("GET", "/v1/metrics", ""), 401, "UNAUTHORIZED")

	// A schema behind the binary makes the service unready.
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), "UPDATE gridmetrics_schema_version SET version = 0"); err != nil {
		t.Fatal(err)
	}
	unready := client{t: t, base: base}.do("GET", "/readyz", "")
	expect(t, "readyz behind", unready, 503, "UNAVAILABLE")
	if msg := unready.Body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "gridmetrics migrate") {
		t.Fatalf("readyz message %q does not say what to do", msg)
	}
}

// TestGracefulShutdown checks that Close waits for a request in flight and
// refuses new connections meanwhile.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	acme := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", acme, "--scopes", "admin"))

	var cfg Config
	if _, err := parseFlags("serve", []string{"--database-url", dbURL, "--addr", "127.0.0.1:0", "--log-level", "error"},
		io.Discard, func(b *binder) { cfg.bindDatabase(b); cfg.bindServer(b) }); err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, Log: cfg.logger(io.Discard)}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A slow client: headers and half the body now, the rest after Close
	// has begun.
	body := `{"external_id":"slow-meter","kind":"meter"}`
	conn, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/sources HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		key, len(body), body[:10])
	time.Sleep(100 * time.Millisecond) // let the server start reading it

	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a request was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	if c, err := net.DialTimeout("tcp", m.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted during shutdown")
	}

	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response of the request in flight: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("request in flight: status %d, want 201", res.StatusCode)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the last request finished")
	}
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	for range 2 {
		if out := cli(t, dbURL, "migrate"); !strings.HasPrefix(out, "schema at version ") {
			t.Fatalf("migrate: %q", out)
		}
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"migrate", "--bogus"}, "flag provided but not defined"},
		{"missing name", []string{"tenant", "create", "--database-url", dbURL}, "--name is required"},
		{"bad scope", []string{"apikey", "create", "--tenant", "x", "--scopes", "root", "--database-url", dbURL}, "unknown scope"},
		{"unknown tenant", []string{"apikey", "list", "--tenant", "nobody", "--database-url", dbURL}, `no tenant "nobody"`},
		{"bad duration", []string{"migrate", "--raw-retention", "soon", "--database-url", dbURL}, "not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Fatalf("unknown command: %v is not a usage error", err)
	}
}

func TestDemoKeepsAWorkingKey(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	envFile := t.TempDir() + "/demo.env"
	out := cli(t, dbURL, "demo", "--env-file", envFile, "--url", "http://127.0.0.1:9999")
	first := readEnvValue(envFile, "GRIDMETRICS_API_KEY")
	if ten := readEnvValue(envFile, "GRIDMETRICS_TENANT_ID"); !strings.HasPrefix(ten, "ten_") ||
		!strings.Contains(out, "ws://127.0.0.1:9999/ocpp/"+ten+"/") {
		t.Fatalf("demo tenant %q and charger URL in:\n%s", ten, out)
	}
	if !strings.HasPrefix(first, "gm_") || readEnvValue(envFile, "GRIDMETRICS_URL") != "http://127.0.0.1:9999" {
		t.Fatalf("env file after the first run: key %q", first)
	}
	cli(t, dbURL, "demo", "--env-file", envFile)
	if again := readEnvValue(envFile, "GRIDMETRICS_API_KEY"); again != first {
		t.Fatalf("second run replaced a working key: %q then %q", first, again)
	}
	if tenants := cli(t, dbURL, "tenant", "list"); strings.Count(tenants, demoTenant) != 1 {
		t.Fatalf("tenant list:\n%s", tenants)
	}

	// The demo data answers a newcomer's first queries.
	m := startServer(t, dbURL, "--rollup-jobs=false")
	c := client{t, "http://" + m.Addr(), first}
	site := c.do("GET", "/v1/sources?site_id="+demoSite, "")
	if total, _ := site.Body["pagination"].(map[string]any)["total"].(float64); total != 2+2*demoChargers { // GRID-1, PLUG-1, chargers and connectors
		t.Fatalf("demo site: %v", site.Body)
	}
	loc, _ := time.LoadLocation(demoZone)
	y, mo, d := time.Now().In(loc).AddDate(0, 0, -2).Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, loc)
	span := "from=" + day.UTC().Format(time.RFC3339) + "&to=" + day.AddDate(0, 0, 1).UTC().Format(time.RFC3339)
	energy := c.do("GET", "/v1/sites/"+demoSite+"/energy?bucket=1d&"+span, "")
	expect(t, "demo site energy", energy, 200, "")
	grid := c.do("GET", "/v1/sources?external_id=GRID-1", "").Body["data"].([]any)[0].(map[string]any)["id"].(string)
	cost := c.do("GET", "/v1/sources/"+grid+"/cost?bucket=day&"+span, "")
	expect(t, "demo grid cost", cost, 200, "")
	tar := c.do("GET", "/v1/tariffs", "")
	if list, _ := tar.Body["data"].([]any); len(list) != 2 {
		t.Fatalf("demo tariffs: %v", tar.Body)
	}
	priced := c.do("GET", "/v1/sessions?status=priced&limit=500", "")
	expect(t, "demo sessions", priced, 200, "")
	list, _ := priced.Body["data"].([]any)
	if len(list) < 8*demoChargers {
		t.Fatalf("%d priced demo sessions, want most of two a day per charger", len(list))
	}
	failed := c.do("GET", "/v1/sessions?status=failed", "")
	if l, _ := failed.Body["data"].([]any); len(l) != 0 {
		t.Fatalf("failed demo sessions: %v", l)
	}
}

// TestConfigFromEnvironment cannot run in parallel: it sets variables.
func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv("GRIDMETRICS_ADDR", "127.0.0.1:7000")
	t.Setenv("GRIDMETRICS_RAW_RETENTION", "30d")
	t.Setenv("GRIDMETRICS_RATE_LIMIT", "2.5")
	var cfg Config
	bind := func(b *binder) { cfg.bindDatabase(b); cfg.bindServer(b) }
	if _, err := parseFlags("serve", []string{"--rate-limit", "7"}, io.Discard, bind); err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:7000" || cfg.RawRetention != 30*24*time.Hour || cfg.RateLimit != 7 || cfg.DatabaseURL != DefaultDatabaseURL {
		t.Fatalf("config %+v", cfg)
	}
	t.Setenv("GRIDMETRICS_DB_MAX_CONNS", "many")
	if _, err := parseFlags("serve", nil, io.Discard, bind); err == nil || !strings.Contains(err.Error(), "GRIDMETRICS_DB_MAX_CONNS") {
		t.Fatalf("bad environment value: err = %v", err)
	}
}
