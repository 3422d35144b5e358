package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/availability"
)

// TestAvailability drives connector availability through the real server:
// StatusNotifications over HTTP in both OCPP editions (auto-registering
// the connectors), a connection outage recorded the way the OCPP-J
// endpoint records it, and the answers per connector and per site.
func TestAvailability(t *testing.T) {
	t.Parallel()
	e, dbURL := newSessionEnvURL(t)
	r := e.admin.do("POST", "/v1/sources", `{"external_id":"CB-AV","kind":"charger","site_id":"depot-av","timezone":"Europe/Berlin"}`)
	expect(t, "register the charge box", r, 201, "")

	status := func(body string) response {
		t.Helper()
		return e.ingester.do("POST", "/v1/ocpp/CB-AV/status-notification", body)
	}
	r = status(`{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"2025-03-30T06:00:00Z"}`)
	expect(t, "1.6 Charging", r, 200, "")
	rec, _ := r.data()["recorded"].(map[string]any)
	if _, ok := r.data()["ocpp"].(map[string]any); !ok || rec["source"] != "CB-AV/1" || rec["state"] != "Charging" {
		t.Fatalf("answer %v, want the empty StatusNotification.conf and the recorded state of CB-AV/1", r.Body)
	}
	// Out of order: the state before it arrives after it.
	expect(t, "1.6 Available, late", status(`{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"2025-03-29T12:00:00Z"}`), 200, "")
	expect(t, "1.6 Available again", status(`{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"2025-03-30T08:00:00Z"}`), 200, "")
	expect(t, "1.6 Available, resent", status(`{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"2025-03-30T08:00:00Z"}`), 200, "")
	expect(t, "2.0.1 Faulted", status(`{"timestamp":"2025-03-30T00:00:00+01:00","connectorStatus":"Faulted","evseId":2,"connectorId":1}`), 200, "")

	// The charge box goes offline for three hours: what the OCPP-J
	// endpoint records on a disconnect and a reconnect.
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var tenant, box int64
	if err := pool.QueryRow(context.Background(), `SELECT tenant_id, id FROM sources WHERE external_id = 'CB-AV'`).Scan(&tenant, &box); err != nil {
		t.Fatal(err)
	}
	st := availability.NewStore(pool)
	for _, c := range []struct{ state, at string }{{availability.Offline, "2025-03-30T10:00:00Z"}, {availability.Online, "2025-03-30T13:00:00Z"}} {
		if err := st.Record(context.Background(), tenant, box, c.state, mustParse(t, c.at)); err != nil {
			t.Fatal(err)
		}
	}

	c1 := sourceID(t, e, "CB-AV/1")
	rng := "from=2025-03-29T23:00:00Z&to=2025-03-31T22:00:00Z&bucket=1d&tz=Europe/Berlin"
	r = e.reader.do("GET", "/v1/sources/"+c1+"/availability?"+rng, "")
	expect(t, "availability of CB-AV/1", r, 200, "")
	days := rows(t, r)
	if len(days) != 2 {
		t.Fatalf("%d buckets, want 2 days: %v", len(days), r.Body)
	}
	// 30 March in Berlin: 23 hours; Available 7 h, Charging 2 h, Available
	// 2 h, offline 3 h, Available 9 h.
	d := days[0]
	secs := d["seconds"].(map[string]any)
	if d["time"] != "2025-03-30T00:00:00+01:00" || secs["Available"] != 18*3600.0 || secs["Charging"] != 7200.0 ||
		d["offline_seconds"] != 3*3600.0 || d["unknown_seconds"] != 3*3600.0 || d["availability_pct"] != 100.0 {
		t.Fatalf("30 March: %v", d)
	}
	meta := r.Body["meta"].(map[string]any)
	if meta["tz"] != "Europe/Berlin" || meta["changes"] != 4.0 || meta["request_id"] == "" {
		t.Fatalf("meta %v", meta)
	}

	r = e.reader.do("GET", "/v1/sites/depot-av/availability?"+rng, "")
	expect(t, "availability of the site", r, 200, "")
	site := rows(t, r)
	// 31 March: connector 1 available, EVSE 2 faulted, all day.
	if s := site[1]; s["available_seconds"] != 24*3600.0 || s["availability_pct"] != 50.0 {
		t.Fatalf("site, 31 March: %v", s)
	}
	if conns := r.Body["meta"].(map[string]any)["connectors"].([]any); len(conns) != 2 {
		t.Fatalf("site connectors %v, want 2", conns)
	}

	// Refused: each with its code, nothing stored.
	for _, c := range []struct {
		name   string
		res    response
		status int
		code   string
		part   string
	}{
		{"unknown state", status(`{"connectorId":1,"errorCode":"NoError","status":"Broken"}`), 400, "VALIDATION_ERROR", `status: "Broken"`},
		{"connection state over HTTP", status(`{"connectorId":1,"status":"Offline"}`), 400, "VALIDATION_ERROR", "is not a status"},
		{"malformed", status(`{"connectorId":1,"status":`), 400, "VALIDATION_ERROR", "not a JSON object"},
		{"over the OCPP body limit once inflated", gzipPost(t, e.ingester, "/v1/ocpp/CB-AV/status-notification",
			`{"connectorId":1,"status":"Available","info":"`+strings.Repeat("x", 2<<20)+`"}`), 413, "PAYLOAD_TOO_LARGE", ""},
		{"future", status(`{"connectorId":1,"status":"Available","timestamp":"2999-01-01T00:00:00Z"}`), 400, "VALIDATION_ERROR", "in the future"},
		{"bad charge box", e.ingester.do("POST", "/v1/ocpp/"+strings.Repeat("B", 101)+"/status-notification", `{"connectorId":1,"status":"Available"}`), 400, "VALIDATION_ERROR", "chargeBoxId"},
		{"a tenant that does not auto-register", e.stranger.do("POST", "/v1/ocpp/CB-AV/status-notification", `{"connectorId":1,"status":"Available"}`), 400, "VALIDATION_ERROR", "not registered"},
		{"read scope cannot record", e.reader.do("POST", "/v1/ocpp/CB-AV/status-notification", `{"connectorId":1,"status":"Available"}`), 403, "FORBIDDEN", ""},
		{"too many buckets", e.reader.do("GET", "/v1/sources/"+c1+"/availability?from=2025-01-01T00:00:00Z&to=2025-01-06T00:00:00Z&bucket=15m", ""), 400, "VALIDATION_ERROR", "400 buckets"},
		{"no range", e.reader.do("GET", "/v1/sources/"+c1+"/availability", ""), 400, "VALIDATION_ERROR", "from: is required"},
		{"unknown parameter", e.reader.do("GET", "/v1/sources/"+c1+"/availability?"+rng+"&tier=raw", ""), 400, "VALIDATION_ERROR", "unknown parameter"},
		{"bad zone", e.reader.do("GET", "/v1/sources/"+c1+"/availability?from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z&tz=CET", ""), 400, "VALIDATION_ERROR", "tz"},
		{"another tenant's source", e.stranger.do("GET", "/v1/sources/"+c1+"/availability?"+rng, ""), 404, "NOT_FOUND", ""},
		{"another tenant's site", e.stranger.do("GET", "/v1/sites/depot-av/availability?"+rng, ""), 404, "NOT_FOUND", ""},
	} {
		expect(t, c.name, c.res, c.status, c.code)
		if msg, _ := c.res.Body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, c.part) {
			t.Errorf("%s: message %q, want it to contain %q", c.name, msg, c.part)
		}
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM availability_changes`).Scan(&n); err != nil || n != 6 {
		t.Fatalf("%d changes stored (err %v), want 6", n, err)
	}
}

// gzipPost posts a gzipped JSON body: small on the wire, so the server
// reads it whole and the limit applies to what it inflates to.
func gzipPost(t *testing.T, c client, path, body string) response {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(body)); err != nil || zw.Close() != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", c.base+path, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	out := response{Status: res.StatusCode, Header: res.Header}
	if err := json.NewDecoder(res.Body).Decode(&out.Body); err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return out
}

func mustParse(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sourceID finds a source's public id by its external id.
func sourceID(t *testing.T, e sessionEnv, external string) string {
	t.Helper()
	r := e.admin.do("GET", "/v1/sources?external_id="+url.QueryEscape(external), "")
	expect(t, "find "+external, r, 200, "")
	list, _ := r.Body["data"].([]any)
	if len(list) != 1 {
		t.Fatalf("%d sources named %s: %v", len(list), external, r.Body)
	}
	return fmt.Sprint(list[0].(map[string]any)["id"])
}

func rows(t *testing.T, r response) []map[string]any {
	t.Helper()
	list, _ := r.Body["data"].([]any)
	out := make([]map[string]any, len(list))
	for i, x := range list {
		out[i] = x.(map[string]any)
	}
	return out
}
