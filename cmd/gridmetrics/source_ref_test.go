package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// TestSourceRefsEverywhere: every route and query parameter that names a
// source answers the same for its public id, its external id and (in a
// path) its external id percent-encoded; another tenant's external id is
// NOT_FOUND naming the reference as given.
func TestSourceRefsEverywhere(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	envFile := filepath.Join(t.TempDir(), "demo.env")
	cli(t, dbURL, "demo", "--env-file", envFile)
	key := readEnvValue(envFile, "GRIDMETRICS_API_KEY")
	other := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "other"))
	otherKey := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", other, "--scopes", "ingest,read,billing,admin", "--name", "ops"))
	m := startServer(t, dbURL, "--rollup-jobs=false")
	base := "http://" + m.Addr()
	c := client{t, base, key}

	const conn, box, grid = "CB-0003/1", "CB-0003", "GRID-1"
	ids := map[string]string{}
	for _, ext := range []string{conn, box, grid} {
		ids[ext] = sourcePublicID(t, c, ext)
	}
	loc, _ := time.LoadLocation(demoZone)
	y, mo, d := time.Now().In(loc).AddDate(0, 0, -3).Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, loc)
	span := "from=" + day.UTC().Format(time.RFC3339) + "&to=" + day.AddDate(0, 0, 2).UTC().Format(time.RFC3339)
	pub, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&pub.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	// {path} is the reference in a path segment, {query} in a query
	// parameter.
	tests := []struct {
		name, method, route, body string
		source                    string // external id
		want                      int
		nonEmpty                  bool // data holds at least one item
	}{
		{name: "source", method: "GET", route: "/v1/sources/{path}", source: conn, want: 200},
		{name: "patch", method: "PATCH", route: "/v1/sources/{path}", body: `{"name":"Bay 3"}`, source: conn, want: 200},
		{name: "raw readings", method: "GET", route: "/v1/sources/{path}/readings?metric=power_import&limit=10&" + span, source: conn, want: 200, nonEmpty: true},
		{name: "downsampled readings", method: "GET", route: "/v1/sources/{path}/readings?metric=power_import&bucket=1h&" + span, source: conn, want: 200, nonEmpty: true},
		{name: "readings as CSV", method: "GET", route: "/v1/sources/{path}/readings?metric=power_import&bucket=1d&format=csv&" + span, source: conn, want: 200},
		{name: "energy", method: "GET", route: "/v1/sources/{path}/energy?bucket=1d&" + span, source: conn, want: 200, nonEmpty: true},
		{name: "stats", method: "GET", route: "/v1/sources/{path}/stats?" + span, source: conn, want: 200},
		{name: "availability", method: "GET", route: "/v1/sources/{path}/availability?bucket=1d&" + span, source: conn, want: 200, nonEmpty: true},
		{name: "connector cost", method: "GET", route: "/v1/sources/{path}/cost?bucket=day&" + span, source: conn, want: 409},
		{name: "grid cost", method: "GET", route: "/v1/sources/{path}/cost?bucket=day&" + span, source: grid, want: 200},
		{name: "set OCMF key", method: "PUT", route: "/v1/sources/{path}/ocmf-public-key", body: fmt.Sprintf(`{"public_key":%q}`, hex.EncodeToString(der)), source: conn, want: 204},
		{name: "OCMF key", method: "GET", route: "/v1/sources/{path}/ocmf-public-key", source: conn, want: 200},
		{name: "OCPP password", method: "PUT", route: "/v1/sources/{path}/ocpp-password", body: `{"password":"a-long-enough-secret"}`, source: box, want: 204},
		{name: "latest readings", method: "GET", route: "/v1/readings/latest?metric=power_import&source={query}", source: conn, want: 200, nonEmpty: true},
		{name: "sessions filter", method: "GET", route: "/v1/sessions?limit=500&source={query}", source: conn, want: 200, nonEmpty: true},
		{name: "sessions export", method: "GET", route: "/v1/sessions/export?format=csv&from=2026-01-01T00:00:00Z&to=2099-01-01T00:00:00Z&source={query}", source: conn, want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refs := []struct{ path, query string }{
				{ids[tt.source], ids[tt.source]},
				{tt.source, tt.source}, // a slash in a path is another segment: see the encoded form
				{url.PathEscape(tt.source), url.QueryEscape(tt.source)},
			}
			if strings.Contains(tt.source, "/") && strings.Contains(tt.route, "{path}") {
				refs = append(refs[:1], refs[2])
			}
			var first string
			for i, ref := range refs {
				route := strings.NewReplacer("{path}", ref.path, "{query}", ref.query).Replace(tt.route)
				status, body := rawDo(t, base, key, tt.method, route, tt.body)
				if status != tt.want {
					t.Fatalf("%s %s: status %d, want %d; %s", tt.method, route, status, tt.want, body)
				}
				got := comparable(body)
				if i == 0 {
					first = got
					if tt.nonEmpty && !hasData(body) {
						t.Fatalf("%s %s: no data in %s", tt.method, route, body)
					}
				} else if got != first {
					t.Errorf("%s %s answers\n%s\nwhile the public id answers\n%s", tt.method, route, got, first)
				}
			}

			// Another tenant does not reach the source by its external id.
			ref := url.PathEscape(tt.source)
			if strings.Contains(tt.route, "{query}") {
				ref = url.QueryEscape(tt.source)
			}
			route := strings.NewReplacer("{path}", ref, "{query}", ref).Replace(tt.route)
			status, body := rawDo(t, base, otherKey, tt.method, route, tt.body)
			if tt.name == "sessions filter" || tt.name == "sessions export" {
				// A filter that names no source of the tenant matches nothing.
				if status != 200 || hasData(body) {
					t.Errorf("another tenant's %s %s: %d %s, want nothing", tt.method, route, status, body)
				}
				return
			}
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			_ = json.Unmarshal(body, &e)
			if want := fmt.Sprintf("source %q not found", tt.source); status != 404 || e.Error.Code != "NOT_FOUND" || e.Error.Message != want {
				t.Errorf("another tenant's %s %s: %d %s, want 404 %q", tt.method, route, status, body, want)
			}
		})
	}

	t.Run("delete by encoded external id", func(t *testing.T) {
		expect(t, "create", c.do("POST", "/v1/sources", `{"external_id":"TMP-1/2","kind":"meter"}`), 201, "")
		expect(t, "delete", c.do("DELETE", "/v1/sources/TMP-1%2F2", ""), 204, "")
		expect(t, "get after delete", c.do("GET", "/v1/sources/TMP-1%2F2", ""), 404, "NOT_FOUND")
	})

	t.Run("public id first", func(t *testing.T) {
		// A source whose external id is the connector's public id does not
		// take the connector's name; it is reached by its own public id.
		r := c.do("POST", "/v1/sources", fmt.Sprintf(`{"external_id":%q,"kind":"meter"}`, ids[conn]))
		expect(t, "create the look-alike", r, 201, "")
		lookalike := r.data()["id"].(string)
		if got := c.do("GET", "/v1/sources/"+ids[conn], "").data()["external_id"]; got != conn {
			t.Errorf("GET /v1/sources/%s is %v, want the connector %s", ids[conn], got, conn)
		}
		if got := c.do("GET", "/v1/sources/"+lookalike, "").data()["external_id"]; got != ids[conn] {
			t.Errorf("GET /v1/sources/%s is %v, want the look-alike", lookalike, got)
		}
	})

	t.Run("bad percent-encoding", func(t *testing.T) {
		// Go's client refuses to send such a path; a hand-written request does.
		conn, err := net.Dial("tcp", m.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /v1/sources/CB%%ZZ HTTP/1.1\r\nHost: gridmetrics\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", key)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 400 || !strings.Contains(string(body), "VALIDATION_ERROR") {
			t.Errorf("GET /v1/sources/CB%%ZZ: %d %s, want 400 VALIDATION_ERROR", res.StatusCode, body)
		}
	})
}

// rawDo sends a request and returns the status and the body as sent.
func rawDo(t *testing.T, base, key, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, raw
}

// comparable is a body without what differs between two identical
// requests: the request id, and the time a patch was applied.
func comparable(body []byte) string {
	var v map[string]any
	if json.Unmarshal(body, &v) != nil {
		return string(body)
	}
	if meta, ok := v["meta"].(map[string]any); ok {
		delete(meta, "request_id")
	}
	if data, ok := v["data"].(map[string]any); ok {
		delete(data, "updated_at")
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// hasData reports whether a JSON body's data is a non-empty list, or a
// CSV body has a row below its header.
func hasData(body []byte) bool {
	var v struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &v) != nil {
		return strings.Count(strings.TrimSpace(string(body)), "\n") > 0
	}
	var list []any
	return json.Unmarshal(v.Data, &list) == nil && len(list) > 0
}
