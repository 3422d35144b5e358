package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// TestCDRsFromSitesEndToEnd: a session at a described site, on a described
// connector, is served a valid CDR (checkOCPI validates every CDR served)
// located at the site; a session at a bare site is priced, names its
// cdr_problems and its CDR is refused with 409 CDR_INCOMPLETE until the
// site and connector are described and the session repriced.
func TestCDRsFromSitesEndToEnd(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Hour)
	expect(t, "create site", e.admin.do("POST", "/v1/sites", `{"id":"mitte","name":"Depot Mitte","address":"Invalidenstraße 117",
		"city":"Berlin","postal_code":"10115","country":"DEU","coordinates":{"latitude":"52.530350","longitude":"13.384250"},
		"time_zone":"Europe/Berlin","ocpi_location_id":"LOC-MITTE"}`), 201, "")
	expect(t, "create charger", e.admin.do("POST", "/v1/sources", `{"external_id":"CB-M","kind":"charger","site_id":"mitte",
		"connector":{"standard":"IEC_62196_T2","format":"SOCKET","power_type":"AC_3_PHASE","max_voltage":400,"max_amperage":32}}`), 201, "")
	expect(t, "create connector", e.admin.do("POST", "/v1/sources", `{"external_id":"CB-M/1","kind":"connector","parent":"CB-M",
		"connector":{"format":"CABLE"}}`), 201, "")
	expect(t, "create bare charger", e.admin.do("POST", "/v1/sources", `{"external_id":"CB-B","kind":"charger","site_id":"bare"}`), 201, "")
	r := e.admin.do("POST", "/v1/sources", `{"external_id":"CB-B/1","kind":"connector","parent":"CB-B"}`)
	expect(t, "create bare connector", r, 201, "")
	bareConnector := r.data()["id"].(string)
	tariffID := e.assignTariff("", "CB-M")
	e.assignTariff(tariffID, "CB-B")

	// One hour, 10 kWh: 3.00 + 1.00 = 4.00 excl. VAT.
	session := func(connector string) string {
		t.Helper()
		r := e.ingester.do("POST", "/v1/sessions", fmt.Sprintf(`{"source":%q,"external_id":"tx-%s","id_tag":"RFID-1","start_time":%q,"meter_start":1000}`,
			connector, connector, rfc(t0)))
		expect(t, "start on "+connector, r, 201, "")
		id := r.data()["id"].(string)
		expect(t, "stop on "+connector, e.ingester.do("POST", "/v1/sessions/"+id+"/stop",
			fmt.Sprintf(`{"stop_time":%q,"meter_stop":11000}`, rfc(t0.Add(time.Hour)))), 200, "")
		return id
	}
	described, bare := session("CB-M/1"), session("CB-B/1")
	if d := e.waitPriced(described, "4.00"); d["cdr_problems"] != nil {
		t.Fatalf("cdr_problems of a described site: %v", d["cdr_problems"])
	}
	r = e.billing.do("GET", "/v1/sessions/"+described+"/cdr", "")
	expect(t, "CDR of a described site", r, 200, "")
	loc := r.data()["cdr_location"].(map[string]any)
	for k, want := range map[string]string{"id": "LOC-MITTE", "name": "Depot Mitte", "address": "Invalidenstraße 117", "city": "Berlin",
		"postal_code": "10115", "country": "DEU", "evse_uid": "CB-M/1", "connector_id": "1",
		"connector_standard": "IEC_62196_T2", "connector_format": "CABLE", "connector_power_type": "AC_3_PHASE"} {
		if loc[k] != want {
			t.Errorf("cdr_location.%s = %v, want %s", k, loc[k], want)
		}
	}
	if lu, _ := dig(r.Body, "data", "tariffs").([]any)[0].(map[string]any)["last_updated"].(string); lu != "2020-01-01T00:00:00Z" {
		t.Errorf("the tariff's last_updated: %q", lu)
	}

	d := e.waitPriced(bare, "4.00")
	problems, _ := d["cdr_problems"].([]any)
	for _, want := range []string{
		"cdr_location.address: missing; set the address of the site bare (PATCH /v1/sites/bare)",
		"cdr_location.country: missing; set the country of the site bare (PATCH /v1/sites/bare)",
		"cdr_location.connector_standard: missing; set connector.standard on the connector CB-B/1 or its charge box (PATCH /v1/sources/" + bareConnector + ")",
	} {
		if !slices.Contains(problems, any(want)) {
			t.Errorf("cdr_problems lack %q: %v", want, problems)
		}
	}
	r = e.billing.do("GET", "/v1/sessions/"+bare+"/cdr", "")
	expect(t, "CDR of a bare site", r, 409, "CDR_INCOMPLETE")
	if got := dig(r.Body, "error", "details", "problems"); fmt.Sprint(got) != fmt.Sprint(problems) ||
		!strings.Contains(dig(r.Body, "error", "message").(string), "/v1/sessions/"+bare+"/reprice") {
		t.Errorf("refusal: %v", r.Body)
	}
	// The list leaves cdr_problems to the single session.
	list := e.billing.do("GET", "/v1/sessions?status=priced", "")
	for _, s := range list.Body["data"].([]any) {
		if _, ok := s.(map[string]any)["cdr_problems"]; ok {
			t.Errorf("a listed session has cdr_problems: %v", s)
		}
	}

	// Described, then repriced: a new, valid CDR.
	expect(t, "describe the site", e.admin.do("PATCH", "/v1/sites/bare", `{"address":"Am Hafen 2","city":"Hamburg","country":"DEU",
		"coordinates":{"latitude":"53.541650","longitude":"9.984100"}}`), 200, "")
	expect(t, "describe the charger", e.admin.do("PATCH", "/v1/sources/CB-B", `{"connector":{"standard":"IEC_62196_T2_COMBO",
		"format":"CABLE","power_type":"DC"}}`), 200, "")
	r = e.billing.do("POST", "/v1/sessions/"+bare+"/reprice", "")
	expect(t, "reprice", r, 200, "")
	if r.data()["cdr_problems"] != nil {
		t.Fatalf("cdr_problems after describing: %v", r.data()["cdr_problems"])
	}
	r = e.billing.do("GET", "/v1/sessions/"+bare+"/cdr", "")
	expect(t, "CDR once described", r, 200, "")
	if r.data()["id"] != bare+"-2" || dig(r.Body, "data", "cdr_location", "city") != "Hamburg" {
		t.Errorf("CDR once described: %v", r.Body)
	}
}

// TestDemoCDRsAreValid: every CDR of the demo's priced sessions is served
// (none is refused as incomplete) and valid OCPI 2.2.1 (checkOCPI).
func TestDemoCDRsAreValid(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	envFile := t.TempDir() + "/demo.env"
	cli(t, dbURL, "demo", "--env-file", envFile)
	m := startServer(t, dbURL, "--rollup-jobs=false", "--rate-limit", "0")
	c := client{t, "http://" + m.Addr(), readEnvValue(envFile, "GRIDMETRICS_API_KEY")}
	served, path := 0, "/v1/sessions?status=priced&limit=100"
	for {
		r := c.do("GET", path, "")
		expect(t, "priced sessions", r, 200, "")
		for _, s := range r.Body["data"].([]any) {
			id := s.(map[string]any)["id"].(string)
			expect(t, "CDR of "+id, c.do("GET", "/v1/sessions/"+id+"/cdr", ""), 200, "")
			served++
		}
		next, _ := dig(r.Body, "pagination", "next_cursor").(string)
		if more, _ := dig(r.Body, "pagination", "has_more").(bool); !more || next == "" {
			break
		}
		path = "/v1/sessions?status=priced&limit=100&cursor=" + next
	}
	if served == 0 {
		t.Fatal("the demo has no priced session")
	}
}
