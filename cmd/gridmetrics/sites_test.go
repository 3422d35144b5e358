package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

const fullSite = `{"id":"depot-1","name":"Depot","address":"Wolfener Straße 36","city":"Berlin","postal_code":"12681",
	"state":"Berlin","country":"DEU","coordinates":{"latitude":"52.538110","longitude":"13.548260"},
	"time_zone":"Europe/Berlin","operator":{"name":"Demo Charging","website":"https://charging.example.com"},
	"ocpi_location_id":"LOC-1"}`

// TestSites: the sites resource end to end — create, read, list, change,
// rename (the sources follow), delete (refused while sources stand at the
// site), scopes and tenants; and a source naming a new site creates it.
func TestSites(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	acme := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme"))
	other := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "other"))
	adminKey := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", acme, "--scopes", "read,admin", "--name", "ops"))
	readKey := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", acme, "--scopes", "read"))
	otherKey := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", other, "--scopes", "read,admin"))
	m := startServer(t, dbURL)
	base := "http://" + m.Addr()
	admin, reader, intruder := client{t, base, adminKey}, client{t, base, readKey}, client{t, base, otherKey}

	created := admin.do("POST", "/v1/sites", fullSite)
	expect(t, "create", created, 201, "")
	if created.Header.Get("Location") != "/v1/sites/depot-1" {
		t.Fatalf("Location %q", created.Header.Get("Location"))
	}
	got := reader.do("GET", "/v1/sites/depot-1", "")
	expect(t, "get", got, 200, "")
	d := got.data()
	coords, _ := d["coordinates"].(map[string]any)
	op, _ := d["operator"].(map[string]any)
	if d["address"] != "Wolfener Straße 36" || d["postal_code"] != "12681" || d["country"] != "DEU" || d["time_zone"] != "Europe/Berlin" ||
		coords["latitude"] != "52.538110" || op["website"] != "https://charging.example.com" || d["ocpi_location_id"] != "LOC-1" {
		t.Fatalf("get: %v", d)
	}
	expect(t, "duplicate", admin.do("POST", "/v1/sites", `{"id":"depot-1"}`), 409, "CONFLICT")
	expect(t, "read-only create", reader.do("POST", "/v1/sites", `{"id":"x"}`), 403, "FORBIDDEN")
	expect(t, "read-only patch", reader.do("PATCH", "/v1/sites/depot-1", `{"name":"x"}`), 403, "FORBIDDEN")
	expect(t, "read-only delete", reader.do("DELETE", "/v1/sites/depot-1", ""), 403, "FORBIDDEN")
	expect(t, "other tenant get", intruder.do("GET", "/v1/sites/depot-1", ""), 404, "NOT_FOUND")
	expect(t, "other tenant patch", intruder.do("PATCH", "/v1/sites/depot-1", `{"name":"x"}`), 404, "NOT_FOUND")
	expect(t, "other tenant delete", intruder.do("DELETE", "/v1/sites/depot-1", ""), 404, "NOT_FOUND")

	// A source naming a site nobody created makes a bare one.
	expect(t, "source at a new site", admin.do("POST", "/v1/sources",
		`{"external_id":"M-1","kind":"meter","site_id":"yard/north","timezone":"Europe/Paris"}`), 201, "")
	bare := reader.do("GET", "/v1/sites/yard%2Fnorth", "")
	expect(t, "bare site", bare, 200, "")
	if b := bare.data(); b["id"] != "yard/north" || b["time_zone"] != "Europe/Paris" || b["address"] != nil || b["coordinates"] != nil || b["operator"] != nil {
		t.Fatalf("bare site: %v", b)
	}
	expect(t, "create the bare site again", admin.do("POST", "/v1/sites", `{"id":"yard/north"}`), 409, "CONFLICT")

	list := reader.do("GET", "/v1/sites?limit=1&page=2", "")
	expect(t, "list", list, 200, "")
	items, _ := list.Body["data"].([]any)
	if p, _ := list.Body["pagination"].(map[string]any); len(items) != 1 || p["total"] != float64(2) || items[0].(map[string]any)["id"] != "yard/north" {
		t.Fatalf("list: %v", list.Body)
	}

	patched := admin.do("PATCH", "/v1/sites/yard%2Fnorth", `{"id":"yard-north","address":"Rue de Rivoli 1","city":"Paris","country":"FRA","operator":{"name":"Op"}}`)
	expect(t, "patch", patched, 200, "")
	if p := patched.data(); p["id"] != "yard-north" || p["country"] != "FRA" || p["time_zone"] != "Europe/Paris" || p["postal_code"] != nil {
		t.Fatalf("patch: %v", p)
	}
	moved := reader.do("GET", "/v1/sources/M-1", "")
	if moved.data()["site_id"] != "yard-north" {
		t.Fatalf("the source of a renamed site: %v", moved.Body)
	}
	cleared := admin.do("PATCH", "/v1/sites/yard-north", `{"address":null,"operator":null}`)
	expect(t, "clear", cleared, 200, "")
	if c := cleared.data(); c["address"] != nil || c["operator"] != nil || c["city"] != "Paris" {
		t.Fatalf("clear: %v", c)
	}
	expect(t, "rename onto another site", admin.do("PATCH", "/v1/sites/yard-north", `{"id":"depot-1"}`), 409, "CONFLICT")

	inUse := admin.do("DELETE", "/v1/sites/yard-north", "")
	expect(t, "delete a site in use", inUse, 409, "CONFLICT")
	if det, _ := inUse.Body["error"].(map[string]any)["details"].(map[string]any); det["sources"] != float64(1) {
		t.Fatalf("delete a site in use: %v", inUse.Body)
	}
	expect(t, "delete", admin.do("DELETE", "/v1/sites/depot-1", ""), 204, "")
	expect(t, "get deleted", reader.do("GET", "/v1/sites/depot-1", ""), 404, "NOT_FOUND")
	expect(t, "delete again", admin.do("DELETE", "/v1/sites/depot-1", ""), 404, "NOT_FOUND")
}

// TestSitesHostile: every field has a limit, and malformed, oversized or
// unknown input is refused with a 4xx naming the field. Bodies past the
// routes' limit, declared or compressed, are sent by TestHostileInput over
// raw connections (bodyRoutes): the server answers 413 and closes while
// an HTTP client may still be writing, which it reports as a reset.
func TestSitesHostile(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	acme := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", acme, "--scopes", "read,admin", "--name", "ops"))
	m := startServer(t, dbURL)
	c := client{t, "http://" + m.Addr(), key}
	expect(t, "create", c.do("POST", "/v1/sites", `{"id":"s-1"}`), 201, "")

	field := func(r response) string {
		e, _ := r.Body["error"].(map[string]any)
		d, _ := e["details"].(map[string]any)
		s, _ := d["field"].(string)
		return s
	}
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"malformed", "POST", "/v1/sites", `{"id":`, 400, "VALIDATION_ERROR", ""},
		{"not an object", "POST", "/v1/sites", `["s-2"]`, 400, "VALIDATION_ERROR", ""},
		{"unknown field", "POST", "/v1/sites", `{"id":"s-2","evse":[]}`, 400, "VALIDATION_ERROR", "evse"},
		{"unknown field of the coordinates", "PATCH", "/v1/sites/s-1", `{"coordinates":{"latitude":"52.52000","longitude":"13.40000","altitude":"34"}}`, 400, "VALIDATION_ERROR", "altitude"},
		{"no id", "POST", "/v1/sites", `{"name":"x"}`, 400, "VALIDATION_ERROR", "id"},
		{"id too long", "POST", "/v1/sites", fmt.Sprintf(`{"id":%q}`, strings.Repeat("s", 201)), 400, "VALIDATION_ERROR", "id"},
		{"id with a control character", "POST", "/v1/sites", `{"id":"s\u0000"}`, 400, "VALIDATION_ERROR", "id"},
		{"alpha-2 country", "POST", "/v1/sites", `{"id":"s-2","country":"DE"}`, 400, "VALIDATION_ERROR", "country"},
		{"unassigned country", "POST", "/v1/sites", `{"id":"s-2","country":"QQQ"}`, 400, "VALIDATION_ERROR", "country"},
		{"country not a string", "POST", "/v1/sites", `{"id":"s-2","country":276}`, 400, "VALIDATION_ERROR", "country"},
		{"latitude of 4 decimals", "POST", "/v1/sites", `{"id":"s-2","coordinates":{"latitude":"52.5200","longitude":"13.404954"}}`, 400, "VALIDATION_ERROR", "coordinates.latitude"},
		{"latitude as a number", "POST", "/v1/sites", `{"id":"s-2","coordinates":{"latitude":52.520008,"longitude":"13.404954"}}`, 400, "VALIDATION_ERROR", "coordinates.latitude"},
		{"longitude past 180", "PATCH", "/v1/sites/s-1", `{"coordinates":{"latitude":"52.520008","longitude":"181.00000"}}`, 400, "VALIDATION_ERROR", "coordinates.longitude"},
		{"address past OCPI's 45", "POST", "/v1/sites", fmt.Sprintf(`{"id":"s-2","address":%q}`, strings.Repeat("a", 46)), 400, "VALIDATION_ERROR", "address"},
		{"empty city", "PATCH", "/v1/sites/s-1", `{"city":""}`, 400, "VALIDATION_ERROR", "city"},
		{"postal code past 10", "PATCH", "/v1/sites/s-1", `{"postal_code":"12345-67890"}`, 400, "VALIDATION_ERROR", "postal_code"},
		{"name past 255", "PATCH", "/v1/sites/s-1", fmt.Sprintf(`{"name":%q}`, strings.Repeat("n", 256)), 400, "VALIDATION_ERROR", "name"},
		{"null name", "PATCH", "/v1/sites/s-1", `{"name":null}`, 400, "VALIDATION_ERROR", "name"},
		{"null time zone", "PATCH", "/v1/sites/s-1", `{"time_zone":null}`, 400, "VALIDATION_ERROR", "time_zone"},
		{"abbreviated time zone", "POST", "/v1/sites", `{"id":"s-2","time_zone":"CEST"}`, 400, "VALIDATION_ERROR", "time_zone"},
		{"operator without a name", "POST", "/v1/sites", `{"id":"s-2","operator":{"website":"https://x.example"}}`, 400, "VALIDATION_ERROR", "operator.name"},
		{"operator website not a URL", "POST", "/v1/sites", `{"id":"s-2","operator":{"name":"x","website":"ftp://x.example"}}`, 400, "VALIDATION_ERROR", "operator.website"},
		{"location id past 36", "POST", "/v1/sites", fmt.Sprintf(`{"id":"s-2","ocpi_location_id":%q}`, strings.Repeat("L", 37)), 400, "VALIDATION_ERROR", "ocpi_location_id"},
		{"page too large", "GET", "/v1/sites?limit=1001", "", 400, "VALIDATION_ERROR", "limit"},
		{"page not a number", "GET", "/v1/sites?page=x", "", 400, "VALIDATION_ERROR", "page"},
	} {
		r := c.doInvalid(tt.method, tt.path, tt.body)
		expect(t, tt.name, r, tt.status, tt.code)
		if tt.field != "" && field(r) != tt.field {
			t.Errorf("%s: field %q, want %q (%v)", tt.name, field(r), tt.field, r.Body)
		}
	}
	if got := c.do("GET", "/v1/sites/s-1", "").data(); got["name"] != "" || got["city"] != nil || got["coordinates"] != nil {
		t.Fatalf("a refused change changed the site: %v", got)
	}
	if list := c.do("GET", "/v1/sites", ""); list.Body["pagination"].(map[string]any)["total"] != float64(1) {
		t.Fatalf("a refused create stored a site: %v", list.Body)
	}
}

// TestSourceConnectors: a connector's attributes are taken on create, on
// a patch (field by field) and in a bulk registration, returned on reads,
// and checked against OCPI's enums and the limits.
func TestSourceConnectors(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	acme := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", acme, "--scopes", "read,admin", "--name", "ops"))
	m := startServer(t, dbURL)
	c := client{t, "http://" + m.Addr(), key}

	expect(t, "charger", c.do("POST", "/v1/sources", `{"external_id":"CB-1","kind":"charger","connector":{"power_type":"AC_3_PHASE","max_voltage":400}}`), 201, "")
	conn := c.do("POST", "/v1/sources", `{"external_id":"CB-1/1","kind":"connector","parent":"CB-1",
		"connector":{"standard":"IEC_62196_T2","format":"SOCKET","max_amperage":32,"max_electric_power":22000}}`)
	expect(t, "connector", conn, 201, "")
	attrs, _ := conn.data()["connector"].(map[string]any)
	if attrs["standard"] != "IEC_62196_T2" || attrs["max_amperage"] != float64(32) || attrs["power_type"] != nil {
		t.Fatalf("connector: %v", conn.data())
	}
	if meter := c.do("POST", "/v1/sources", `{"external_id":"M-1","kind":"meter"}`); meter.data()["connector"] != nil {
		t.Fatalf("a meter's connector: %v", meter.data())
	}
	patched := c.do("PATCH", "/v1/sources/CB-1%2F1", `{"connector":{"format":"CABLE","max_amperage":null}}`)
	expect(t, "patch", patched, 200, "")
	if a := patched.data()["connector"].(map[string]any); a["format"] != "CABLE" || a["max_amperage"] != nil || a["standard"] != "IEC_62196_T2" {
		t.Fatalf("patch: %v", a)
	}
	// The second item is outside the contract on purpose: rejected alone.
	results := bulkResults(t, "bulk", c.doInvalid("POST", "/v1/sources", bulkBody(t,
		map[string]any{"external_id": "CB-2", "kind": "charger", "connector": map[string]any{"power_type": "DC", "max_electric_power": 150000}},
		map[string]any{"external_id": "CB-3", "kind": "charger", "connector": map[string]any{"standard": "TYPE_2"}},
	)), 1, 0, 1)
	if a := resultSource(results[0])["connector"].(map[string]any); a["power_type"] != "DC" {
		t.Fatalf("bulk: %v", results[0])
	}

	for _, tt := range []struct{ name, method, path, body, field string }{
		{"unknown standard", "POST", "/v1/sources", `{"external_id":"X","kind":"connector","connector":{"standard":"Type 2"}}`, "connector.standard"},
		{"unknown format", "PATCH", "/v1/sources/CB-1", `{"connector":{"format":"PLUG"}}`, "connector.format"},
		{"unknown power type", "PATCH", "/v1/sources/CB-1", `{"connector":{"power_type":"AC"}}`, "connector.power_type"},
		{"voltage of 0", "PATCH", "/v1/sources/CB-1", `{"connector":{"max_voltage":0}}`, "connector.max_voltage"},
		{"power in mW", "PATCH", "/v1/sources/CB-1", `{"connector":{"max_electric_power":22000000000}}`, "connector.max_electric_power"},
		{"amperage not an integer", "PATCH", "/v1/sources/CB-1", `{"connector":{"max_amperage":32.5}}`, "connector.max_amperage"},
		{"unknown attribute", "PATCH", "/v1/sources/CB-1", `{"connector":{"phases":3}}`, "phases"},
		{"a meter's connector", "PATCH", "/v1/sources/M-1", `{"connector":{"standard":"CHADEMO"}}`, "connector"},
		{"a connector turned meter", "PATCH", "/v1/sources/CB-1%2F1", `{"kind":"meter"}`, "connector"},
	} {
		r := c.doInvalid(tt.method, tt.path, tt.body)
		expect(t, tt.name, r, 400, "VALIDATION_ERROR")
		if f := r.Body["error"].(map[string]any)["details"].(map[string]any)["field"]; f != tt.field {
			t.Errorf("%s: field %v, want %s", tt.name, f, tt.field)
		}
	}
	if a := c.do("GET", "/v1/sources/CB-1", "").data()["connector"].(map[string]any); a["max_voltage"] != float64(400) || a["format"] != nil {
		t.Fatalf("a refused patch changed the charger: %v", a)
	}
}
