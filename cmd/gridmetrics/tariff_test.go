package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// The OCPI 2.2.1 specification's example objects used here are copied,
// unchanged, under testdata/ocpi.
func ocpiExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ocpi", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dig follows object members through a decoded JSON document.
func dig(v any, path ...string) any {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// wantDecimal checks a JSON value — an OCPI number or a decimal string of a
// result — against want, by value.
func wantDecimal(t *testing.T, what string, v any, want string) {
	t.Helper()
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		t.Fatalf("%s = %v (%T), want %s", what, v, v, want)
	}
	got, err := decimal.Parse(s)
	if err != nil || got.Cmp(decimal.MustParse(want)) != 0 {
		t.Errorf("%s = %s, want %s", what, s, want)
	}
}

// withStart adds a start_date_time to a tariff document.
func withStart(doc, start string) string {
	i := strings.LastIndex(doc, "}")
	return doc[:i] + fmt.Sprintf(`, "start_date_time": %q}`, start)
}

// TestTariffsEndToEnd drives the tariff API through the real server:
// versions, archive, assignments, pricing a CDR and quoting, with tenants
// kept apart and scopes enforced.
func TestTariffsEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	acme := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme"))
	other := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "other"))
	key := func(tenant, scopes string) string {
		return strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", tenant, "--scopes", scopes))
	}
	m := startServer(t, dbURL)
	base := "http://" + m.Addr()
	admin := client{t, base, key(acme, "read,admin")}
	reader := client{t, base, key(acme, "read")}
	billing := client{t, base, key(acme, "billing")}
	ingester := client{t, base, key(acme, "ingest")}
	intruder := client{t, base, key(other, "read,billing,admin")}

	tariff1 := ocpiExample(t, "tariff_1_simple_2hour.json") // OCPI id 12: TIME 2.00/h, 10 % VAT, step 60 s
	cdr := ocpiExample(t, "cdr_example.json")               // 21:39:09–23:37:32, TIME, tariff 12

	// Create, as the OCPI object itself.
	created := admin.do("POST", "/v1/tariffs", tariff1)
	expect(t, "create", created, 201, "")
	id, _ := created.data()["id"].(string)
	if !strings.HasPrefix(id, "tar_") || created.Header.Get("Location") != "/v1/tariffs/"+id {
		t.Fatalf("create: id %q, Location %q", id, created.Header.Get("Location"))
	}
	d := created.data()
	if d["external_id"] != "12" || d["kind"] != "charging" || d["version"] != 1.0 || dig(d, "tariff", "id") != "12" || d["archived_at"] != nil {
		t.Fatalf("created: %v", d)
	}
	expect(t, "duplicate", admin.do("POST", "/v1/tariffs", tariff1), 409, "CONFLICT")
	expect(t, "read-only create", reader.do("POST", "/v1/tariffs", tariff1), 403, "FORBIDDEN")
	expect(t, "billing get", billing.do("GET", "/v1/tariffs/"+id, ""), 200, "")
	expect(t, "ingest-only get", ingester.do("GET", "/v1/tariffs/"+id, ""), 403, "FORBIDDEN")

	// Every problem of an invalid tariff, each with its path.
	bad := admin.do("POST", "/v1/tariffs", `{"country_code":"DE","party_id":"ALL","id":"X","currency":"EUR","elements":[
		{"price_components":[{"type":"TIME","price":1,"step_size":0}],"restrictions":{"start_time":"25:00","day_of_week":["FUNDAY"]}}]}`)
	expect(t, "invalid tariff", bad, 400, "VALIDATION_ERROR")
	paths := map[string]bool{}
	for _, p := range dig(bad.Body, "error", "details", "problems").([]any) {
		paths[p.(map[string]any)["path"].(string)] = true
	}
	if !paths["elements[0].restrictions.start_time"] || !paths["elements[0].restrictions.day_of_week[0]"] {
		t.Fatalf("problems: %v", bad.Body)
	}

	// Pricing by id uses the version valid when the session started: the
	// first version is valid from its creation, so not for a 2015 CDR.
	byID := fmt.Sprintf(`{"tariff_id":%q,"cdr":%s}`, id, cdr)
	expect(t, "price a 2015 CDR with version 1", admin.do("POST", "/v1/pricing/cdr", byID), 409, "CONFLICT")

	// A new version that takes effect in 2015.
	put := admin.do("PUT", "/v1/tariffs/"+id, withStart(tariff1, "2015-01-01T00:00:00Z"))
	expect(t, "put", put, 200, "")
	if put.data()["version"] != 2.0 || put.data()["valid_from"] != "2015-01-01T00:00:00Z" {
		t.Fatalf("put: %v", put.Body)
	}
	expect(t, "put another OCPI id", admin.do("PUT", "/v1/tariffs/"+id, strings.Replace(tariff1, `"id": "12"`, `"id": "13"`, 1)), 400, "VALIDATION_ERROR")
	versions := reader.do("GET", "/v1/tariffs/"+id+"/versions", "")
	expect(t, "versions", versions, 200, "")
	if list, _ := versions.Body["data"].([]any); len(list) != 2 || dig(list[0], "version") != 1.0 || dig(list[1], "tariff", "start_date_time") != "2015-01-01T00:00:00Z" {
		t.Fatalf("versions: %v", versions.Body)
	}
	if dig(versions.Body, "pagination", "total") != 2.0 {
		t.Fatalf("versions pagination: %v", versions.Body["pagination"])
	}
	v1 := reader.do("GET", "/v1/tariffs/"+id+"/versions/1", "")
	expect(t, "version 1", v1, 200, "")
	if dig(v1.data(), "tariff", "start_date_time") != nil {
		t.Fatalf("version 1 changed: %v", v1.Body)
	}
	expect(t, "version 3", reader.do("GET", "/v1/tariffs/"+id+"/versions/3", ""), 404, "NOT_FOUND")
	if at := reader.do("GET", "/v1/tariffs/"+id+"?at=2015-06-29T22:00:00Z", ""); at.data()["version"] != 2.0 {
		t.Fatalf("valid in 2015: %v", at.Body)
	}

	// The specification's CDR repriced: 21:39:09 to 23:37:32 is 7103 s.
	// With its own tariff (step 300 s) that is 7200 s = 2 h × 2.00 =
	// 4.00, 4.40 with 10 % VAT, as the CDR says. With tariff_1 (step 60 s)
	// it is 7140 s = 1.98333… h × 2.00 = 3.96667 → 3.9667, × 1.1 =
	// 4.36333… → 4.3633. total_time is 7103 s = 1.9731 h either way;
	// total_energy (15.342) stays: the periods have no ENERGY.
	tests := []struct {
		name, body       string
		excl, incl       string
		invExcl, invIncl string
		version          any
	}{
		{"own tariff", fmt.Sprintf(`{"cdr":%s}`, cdr), "4.00", "4.40", "4.00", "4.40", nil},
		{"inline tariff", fmt.Sprintf(`{"tariff":%s,"cdr":%s}`, tariff1, cdr), "3.9667", "4.3633", "3.97", "4.36", nil},
		{"stored tariff", byID, "3.9667", "4.3633", "3.97", "4.36", 2.0},
		{"stored tariff, read in a zone", fmt.Sprintf(`{"tariff_id":%q,"cdr":%s,"timezone":"Europe/Brussels"}`, id, cdr), "3.9667", "4.3633", "3.97", "4.36", 2.0},
	}
	for _, tt := range tests {
		r := billing.do("POST", "/v1/pricing/cdr", tt.body)
		expect(t, "price with "+tt.name, r, 200, "")
		priced := r.data()["cdr"]
		wantDecimal(t, tt.name+": total_cost.excl_vat", dig(priced, "total_cost", "excl_vat"), tt.excl)
		wantDecimal(t, tt.name+": total_cost.incl_vat", dig(priced, "total_cost", "incl_vat"), tt.incl)
		wantDecimal(t, tt.name+": total_time_cost.excl_vat", dig(priced, "total_time_cost", "excl_vat"), tt.excl)
		wantDecimal(t, tt.name+": total_time", dig(priced, "total_time"), "1.9731")
		wantDecimal(t, tt.name+": total_energy", dig(priced, "total_energy"), "15.342")
		wantDecimal(t, tt.name+": invoice excl", dig(r.data(), "result", "invoice_totals", "total", "excl_vat"), tt.invExcl)
		wantDecimal(t, tt.name+": invoice incl", dig(r.data(), "result", "invoice_totals", "total", "incl_vat"), tt.invIncl)
		if lines, _ := dig(r.data(), "result", "lines").([]any); len(lines) != 1 || dig(lines[0], "component") != "TIME" {
			t.Errorf("%s: lines %v", tt.name, dig(r.data(), "result", "lines"))
		}
		if r.data()["version"] != tt.version {
			t.Errorf("%s: version %v, want %v", tt.name, r.data()["version"], tt.version)
		}
	}
	// Without strict only what pricing needs is refused: party_id is not.
	badCDR := admin.do("POST", "/v1/pricing/cdr", `{"cdr":{"country_code":"BE"}}`)
	expect(t, "invalid CDR", badCDR, 400, "VALIDATION_ERROR")
	if p := dig(badCDR.Body, "error", "details", "problems").([]any); dig(p[0], "path") != "cdr.start_date_time" {
		t.Fatalf("CDR problems are not prefixed with cdr.: %v", p)
	}
	badCDR = admin.do("POST", "/v1/pricing/cdr?strict=true", `{"cdr":{"country_code":"BE"}}`)
	expect(t, "invalid CDR, strict", badCDR, 400, "VALIDATION_ERROR")
	if p := dig(badCDR.Body, "error", "details", "problems").([]any); dig(p[0], "path") != "cdr.party_id" {
		t.Fatalf("CDR problems are not prefixed with cdr.: %v", p)
	}
	expect(t, "tariff and tariff_id", admin.do("POST", "/v1/pricing/cdr", fmt.Sprintf(`{"tariff":%s,"tariff_id":%q,"cdr":%s}`, tariff1, id, cdr)), 400, "VALIDATION_ERROR")
	expect(t, "bad zone", admin.do("POST", "/v1/pricing/cdr", fmt.Sprintf(`{"cdr":%s,"timezone":"Mars/Olympus"}`, cdr)), 400, "VALIDATION_ERROR")
	expect(t, "another tenant's tariff", intruder.do("POST", "/v1/pricing/cdr", byID), 404, "NOT_FOUND")
	expect(t, "pricing without scope", ingester.do("POST", "/v1/pricing/cdr", byID), 403, "FORBIDDEN")

	// Quotes: tariff_13 is TIME 3.00/h (10 %, step 60 s) and PARKING_TIME
	// 5.00/h (20 %, step 300 s). 90 min charging = 4.50 / 4.95; 17 min
	// parking is billed as 20 (charging before parking is not rounded) =
	// 1.6666… / 2.00; total 6.1666… → 6.17 / 6.95.
	q13 := admin.do("POST", "/v1/tariffs", ocpiExample(t, "tariff_13_simple_3hour_5parking.json"))
	expect(t, "create tariff_13", q13, 201, "")
	qid := q13.data()["id"].(string)
	start := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	quotes := []struct {
		name, body string
		excl, incl string
		time       string
		end        time.Time
	}{
		{"ISO duration", `"duration":"PT1H30M","energy_kwh":20,"parking_minutes":17`, "6.17", "6.95", "4.50", start.Add(107 * time.Minute)},
		{"Go duration", `"duration":"90m","energy_kwh":20,"parking_minutes":17`, "6.17", "6.95", "4.50", start.Add(107 * time.Minute)},
		{"minutes", `"duration_minutes":90,"energy_kwh":20,"parking_minutes":17`, "6.17", "6.95", "4.50", start.Add(107 * time.Minute)},
		// 22 kWh at 11 kW takes 2 h: 6.00 / 6.60, no parking.
		{"energy and power", `"energy_kwh":22,"max_power_kw":11`, "6.00", "6.60", "6.00", start.Add(2 * time.Hour)},
	}
	for _, q := range quotes {
		r := reader.do("POST", "/v1/tariffs/"+qid+"/quote", fmt.Sprintf(`{"start":%q,%s}`, start.Format(time.RFC3339), q.body))
		expect(t, "quote by "+q.name, r, 200, "")
		wantDecimal(t, q.name+": invoice excl", dig(r.data(), "invoice_totals", "total", "excl_vat"), q.excl)
		wantDecimal(t, q.name+": invoice incl", dig(r.data(), "invoice_totals", "total", "incl_vat"), q.incl)
		wantDecimal(t, q.name+": time", dig(r.data(), "totals", "time", "excl_vat"), q.time)
		if r.data()["tariff_id"] != qid || r.data()["version"] != 1.0 || r.data()["end"] != q.end.Format(time.RFC3339) {
			t.Errorf("%s: %v", q.name, r.Body)
		}
	}
	expect(t, "quote without duration", reader.do("POST", "/v1/tariffs/"+qid+"/quote", `{"energy_kwh":20}`), 400, "VALIDATION_ERROR")
	expect(t, "quote with a bad duration", reader.do("POST", "/v1/tariffs/"+qid+"/quote", `{"duration":"two hours"}`), 400, "VALIDATION_ERROR")
	expect(t, "quote before the tariff", reader.do("POST", "/v1/tariffs/"+qid+"/quote", `{"start":"2020-01-01T00:00:00Z","duration":"1h"}`), 409, "CONFLICT")
	expect(t, "another tenant's quote", intruder.do("POST", "/v1/tariffs/"+qid+"/quote", `{"duration":"1h"}`), 404, "NOT_FOUND")
	expect(t, "quote without scope", ingester.do("POST", "/v1/tariffs/"+qid+"/quote", `{"duration":"1h"}`), 403, "FORBIDDEN")

	// Assignments: no overlap per source and kind.
	expect(t, "create source", admin.do("POST", "/v1/sources", `{"external_id":"CB-1/1","kind":"connector"}`), 201, "")
	assigned := admin.do("POST", "/v1/tariffs/"+id+"/assignments", `{"source_id":"CB-1/1","valid_from":"2026-01-01T00:00:00Z","valid_to":"2026-02-01T00:00:00Z"}`)
	expect(t, "assign", assigned, 201, "")
	aid, _ := assigned.data()["id"].(string)
	if !strings.HasPrefix(aid, "tas_") || assigned.data()["kind"] != "charging" || !strings.HasPrefix(assigned.data()["source_id"].(string), "src_") {
		t.Fatalf("assigned: %v", assigned.Body)
	}
	overlap := admin.do("POST", "/v1/tariffs/"+qid+"/assignments", `{"source_id":"CB-1/1","valid_from":"2026-01-31T00:00:00Z"}`)
	expect(t, "overlapping assignment", overlap, 409, "CONFLICT")
	if dig(overlap.Body, "error", "details", "assignment") != aid {
		t.Fatalf("conflict does not name %s: %v", aid, overlap.Body)
	}
	expect(t, "adjacent assignment", admin.do("POST", "/v1/tariffs/"+qid+"/assignments", `{"source_id":"CB-1/1","valid_from":"2026-02-01T00:00:00Z"}`), 201, "")
	expect(t, "assignment ending before it starts", admin.do("POST", "/v1/tariffs/"+id+"/assignments",
		`{"source_id":"CB-1/1","valid_from":"2025-02-01T00:00:00Z","valid_to":"2025-01-01T00:00:00Z"}`), 400, "VALIDATION_ERROR")
	expect(t, "read-only assign", reader.do("POST", "/v1/tariffs/"+id+"/assignments", `{"source_id":"CB-1/1"}`), 403, "FORBIDDEN")
	expect(t, "another tenant assigns", intruder.do("POST", "/v1/tariffs/"+id+"/assignments", `{"source_id":"CB-1/1"}`), 404, "NOT_FOUND")
	expect(t, "extend into the next", admin.do("PATCH", "/v1/tariffs/"+id+"/assignments/"+aid, `{"valid_to":"2026-03-01T00:00:00Z"}`), 409, "CONFLICT")
	shortened := admin.do("PATCH", "/v1/tariffs/"+id+"/assignments/"+aid, `{"valid_to":"2026-01-15T00:00:00Z"}`)
	expect(t, "shorten", shortened, 200, "")
	if shortened.data()["valid_to"] != "2026-01-15T00:00:00Z" {
		t.Fatalf("shortened: %v", shortened.Body)
	}
	list := reader.do("GET", "/v1/tariffs/"+id+"/assignments", "")
	if items, _ := list.Body["data"].([]any); list.Status != 200 || len(items) != 1 {
		t.Fatalf("assignments: %v", list.Body)
	}
	expect(t, "delete assignment", admin.do("DELETE", "/v1/tariffs/"+id+"/assignments/"+aid, ""), 204, "")
	expect(t, "deleted assignment", admin.do("DELETE", "/v1/tariffs/"+id+"/assignments/"+aid, ""), 404, "NOT_FOUND")

	// Another tenant sees none of it.
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/tariffs/" + id, ""},
		{"PUT", "/v1/tariffs/" + id, tariff1},
		{"DELETE", "/v1/tariffs/" + id, ""},
		{"GET", "/v1/tariffs/" + id + "/versions", ""},
		{"GET", "/v1/tariffs/" + id + "/assignments", ""},
	} {
		expect(t, "another tenant "+r.method+" "+r.path, intruder.do(r.method, r.path, r.body), 404, "NOT_FOUND")
	}
	if l := intruder.do("GET", "/v1/tariffs", ""); dig(l.Body, "pagination", "total") != 0.0 {
		t.Fatalf("another tenant's list: %v", l.Body)
	}

	// DELETE archives: still readable and still prices its past sessions,
	// but no longer changes, is assigned or quoted.
	expect(t, "archive", admin.do("DELETE", "/v1/tariffs/"+qid, ""), 204, "")
	archived := reader.do("GET", "/v1/tariffs/"+qid, "")
	expect(t, "get archived", archived, 200, "")
	if archived.data()["archived_at"] == nil {
		t.Fatalf("archived: %v", archived.Body)
	}
	expect(t, "put archived", admin.do("PUT", "/v1/tariffs/"+qid, ocpiExample(t, "tariff_13_simple_3hour_5parking.json")), 409, "CONFLICT")
	expect(t, "assign archived", admin.do("POST", "/v1/tariffs/"+qid+"/assignments", `{"source_id":"CB-1/1","valid_from":"2030-01-01T00:00:00Z"}`), 409, "CONFLICT")
	expect(t, "quote archived", reader.do("POST", "/v1/tariffs/"+qid+"/quote", `{"duration":"1h"}`), 409, "CONFLICT")
	if l := reader.do("GET", "/v1/tariffs", ""); dig(l.Body, "pagination", "total") != 1.0 {
		t.Fatalf("list without archived: %v", l.Body)
	}
	if l := reader.do("GET", "/v1/tariffs?archived=true", ""); dig(l.Body, "pagination", "total") != 2.0 {
		t.Fatalf("list with archived: %v", l.Body)
	}
	expect(t, "archive the priced tariff", admin.do("DELETE", "/v1/tariffs/"+id, ""), 204, "")
	expect(t, "price with an archived tariff", billing.do("POST", "/v1/pricing/cdr", byID), 200, "")
}

// TestTariffCommands runs `gridmetrics tariff validate` and `tariff price`,
// which need no database.
func TestTariffCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string { return writeTestFile(t, dir, name, content) }
	ex := func(name string) string { return filepath.Join("testdata", "ocpi", name) }
	gm := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), args, &out, &bytes.Buffer{})
		return out.String(), err
	}

	t.Run("validate", func(t *testing.T) {
		out, err := gm("tariff", "validate", ex("tariff_4_complex.json"))
		if err != nil || out != "valid\n" {
			t.Fatalf("valid tariff: %q, %v", out, err)
		}
		bad := write("bad.json", `{"country_code":"DEU","party_id":"ALL","id":"14","currency":"EUR","elements":[
			{"price_components":[{"type":"TIME","price":1.00,"step_size":60}],"restrictions":{"start_time":"25:00"}}],"bogus":1}`)
		out, err = gm("tariff", "validate", bad)
		want := "bogus: unknown field\n" +
			"country_code: \"DEU\" must be 2 characters\n" +
			"elements[0].restrictions.start_time: \"25:00\" is not a time (HH:MM, 00:00 to 23:59)\n"
		if out != want {
			t.Errorf("problems:\n%s\nwant\n%s", out, want)
		}
		if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "3 problems") {
			t.Errorf("err = %v, want a failure counting 3 problems (exit status 1)", err)
		}
		if _, err := gm("tariff", "validate"); !errors.Is(err, errUsage) {
			t.Errorf("no file: err = %v, want a usage error", err)
		}
		if _, err := gm("tariff", "validate", filepath.Join(dir, "missing.json")); err == nil {
			t.Error("missing file: no error")
		}
	})

	t.Run("price", func(t *testing.T) {
		tests := []struct {
			name       string
			args       []string
			excl, incl string
		}{
			// The CDR's own tariff: 2 h × 2.00 (7103 s rounded up to 300 s steps).
			{"own tariff", []string{"--cdr", ex("cdr_example.json")}, "4.00", "4.40"},
			// tariff_1: 7140 s (60 s steps) × 2.00/h.
			{"tariff file", []string{"--tariff", ex("tariff_1_simple_2hour.json"), "--cdr", ex("cdr_example.json")}, "3.9667", "4.3633"},
			{"with a zone", []string{"--tariff", ex("tariff_1_simple_2hour.json"), "--cdr", ex("cdr_example.json"), "--tz", "Europe/Brussels"}, "3.9667", "4.3633"},
		}
		for _, tt := range tests {
			out, err := gm(append([]string{"tariff", "price"}, tt.args...)...)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var cdr map[string]any
			if err := json.Unmarshal([]byte(out), &cdr); err != nil {
				t.Fatalf("%s: output is not JSON: %v\n%s", tt.name, err, out)
			}
			wantDecimal(t, tt.name+": total_cost.excl_vat", dig(cdr, "total_cost", "excl_vat"), tt.excl)
			wantDecimal(t, tt.name+": total_cost.incl_vat", dig(cdr, "total_cost", "incl_vat"), tt.incl)
			wantDecimal(t, tt.name+": total_time", dig(cdr, "total_time"), "1.9731")
			if dig(cdr, "id") != "12345" || dig(cdr, "cdr_location", "evse_uid") != "3256" {
				t.Errorf("%s: the rest of the CDR did not survive: %s", tt.name, out)
			}
		}

		// Money is written as OCPI numbers, never through float.
		out, _ := gm("tariff", "price", "--cdr", ex("cdr_example.json"))
		if !strings.Contains(out, `"excl_vat": 4.00`) {
			t.Errorf("total_cost not written as 4.00:\n%s", out)
		}

		noTariffs := write("no_tariffs.json", strings.Replace(ocpiExample(t, "cdr_example.json"), `"tariffs"`, `"x_tariffs"`, 1))
		usd := write("usd.json", strings.Replace(ocpiExample(t, "tariff_1_simple_2hour.json"), `"EUR"`, `"USD"`, 1))
		failures := []struct {
			name  string
			args  []string
			usage bool
			want  string
		}{
			{"no --cdr", nil, true, "--cdr is required"},
			{"bad zone", []string{"--cdr", ex("cdr_example.json"), "--tz", "Mars/Olympus"}, true, "not an IANA time zone"},
			{"invalid CDR", []string{"--strict", "--cdr", noTariffs}, false, "x_tariffs: unknown field"},
			{"CDR without tariffs", []string{"--cdr", noTariffs}, false, "is none of the CDR's tariffs"},
			{"another currency", []string{"--cdr", ex("cdr_example.json"), "--tariff", usd}, false, "USD"},
			{"stray argument", []string{"--cdr", ex("cdr_example.json"), "extra"}, true, "unexpected argument"},
		}
		for _, f := range failures {
			_, err := gm(append([]string{"tariff", "price"}, f.args...)...)
			if err == nil || errors.Is(err, errUsage) != f.usage || !strings.Contains(err.Error(), f.want) {
				t.Errorf("%s: err = %v, want it to mention %q (usage error: %v)", f.name, err, f.want, f.usage)
			}
		}
	})
}
