package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/govalues/decimal"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// sessionEnv is a running server with a tenant and keys of several scopes.
type sessionEnv struct {
	t                                          *testing.T
	base                                       string
	admin, reader, billing, ingester, stranger client
}

// twoTenants creates tenant acme, which registers OCPP charge boxes and
// connectors on first sight, and tenant other on a fresh database, and
// starts a server on it without a rate limit (the tests' pulls outrun the
// default). key creates an API key of a tenant.
func twoTenants(t *testing.T, serverArgs ...string) (m *Main, dbURL, acme, other string, key func(tenant, scopes string) string) {
	t.Helper()
	dbURL = dbtest.NewURL(t)
	acme = tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme", "--auto-register"))
	other = tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "other"))
	key = func(tenant, scopes string) string {
		return strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", tenant, "--scopes", scopes))
	}
	m = startServer(t, dbURL, append([]string{"--rate-limit", "0"}, serverArgs...)...)
	return m, dbURL, acme, other, key
}

func newSessionEnv(t *testing.T, serverArgs ...string) sessionEnv {
	t.Helper()
	env, _ := newSessionEnvURL(t, serverArgs...)
	return env
}

// newSessionEnvURL is newSessionEnv that also gives the database's URL.
func newSessionEnvURL(t *testing.T, serverArgs ...string) (sessionEnv, string) {
	t.Helper()
	m, dbURL, acme, other, key := twoTenants(t, serverArgs...)
	base := "http://" + m.Addr()
	return sessionEnv{t: t, base: base,
		admin: client{t, base, key(acme, "ingest,read,billing,admin")}, reader: client{t, base, key(acme, "read")},
		billing: client{t, base, key(acme, "billing")}, ingester: client{t, base, key(acme, "ingest")},
		stranger: client{t, base, key(other, "ingest,read,billing,admin")}}, dbURL
}

// evTariff bills 0.30/kWh, 1.00 per hour charging and 5.00 per hour
// parking, each with 19 % VAT, from 2020.
const evTariff = `{"country_code":"DE","party_id":"GMX","id":"ev-standard","currency":"EUR","type":"REGULAR",
	"elements":[{"price_components":[
		{"type":"ENERGY","price":0.30,"vat":19,"step_size":1},
		{"type":"TIME","price":1.00,"vat":19,"step_size":1},
		{"type":"PARKING_TIME","price":5.00,"vat":19,"step_size":1}]}],
	"start_date_time":"2020-01-01T00:00:00Z","last_updated":"2020-01-01T00:00:00Z",
	"gridmetrics":{"timezone":"Europe/Berlin"}}`

// assignTariff creates evTariff (once) and assigns it to a source from 2020.
func (e sessionEnv) assignTariff(tariffID, source string) string {
	e.t.Helper()
	if tariffID == "" {
		r := e.admin.do("POST", "/v1/tariffs", evTariff)
		expect(e.t, "create tariff", r, 201, "")
		tariffID = r.data()["id"].(string)
	}
	r := e.admin.do("POST", "/v1/tariffs/"+tariffID+"/assignments", fmt.Sprintf(`{"source_id":%q,"valid_from":"2020-01-01T00:00:00Z"}`, source))
	expect(e.t, "assign tariff to "+source, r, 201, "")
	return tariffID
}

// charger registers a charge box with the location its CDRs need.
func (e sessionEnv) charger(box string) {
	e.t.Helper()
	r := e.admin.do("POST", "/v1/sources", fmt.Sprintf(`{"external_id":%q,"kind":"charger","site_id":"depot-1","timezone":"Europe/Berlin",
		"metadata":{"location_id":"LOC-1","address":"Hauptstr. 1","city":"Berlin","postal_code":"10115","country":"DEU",
		"latitude":"52.520000","longitude":"13.405000","connector_standard":"IEC_62196_T2","connector_format":"SOCKET",
		"connector_power_type":"AC_3_PHASE"}}`, box))
	expect(e.t, "create charger "+box, r, 201, "")
}

// waitPriced polls a session until it is priced with the given total
// (excluding VAT), and returns it.
func (e sessionEnv) waitPriced(id, totalExcl string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := e.billing.do("GET", "/v1/sessions/"+id, "")
		expect(e.t, "get session", r, 200, "")
		d := r.data()
		if d["status"] == "priced" && d["total_excl_vat"] == totalExcl {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("session %s is %v (total %v, failure %v), want priced at %s", id, d["status"], d["total_excl_vat"], d["failure_reason"], totalExcl)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// TestSessionsEndToEnd drives charging sessions through the real server:
// an OCPP 1.6 and an OCPP 2.0.1 transaction and an API session without
// readings, priced by the worker with a tariff assigned through the API
// and checked against amounts worked out by hand; then the billing pull,
// the CDR and the export in every format.
func TestSessionsEndToEnd(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Hour)
	e.charger("CB-16")
	e.charger("CS-201")
	tariffID := e.assignTariff("", "CB-16") // assigned to the charge boxes: their connectors inherit it
	e.assignTariff(tariffID, "CS-201")

	// OCPP 1.6: StartTransaction, MeterValues, StopTransaction with
	// transactionData. 11 kW from meter start 1000 Wh to 12000 Wh in the
	// first hour, then 0 W for an hour: 11 kWh × 0.30 = 3.30, 1 h charging
	// = 1.00, 1 h parking = 5.00; 9.30 excl. VAT, × 1.19 = 11.067 → 11.07.
	start := fmt.Sprintf(`{"connectorId":1,"idTag":"04A1B2C3","meterStart":1000,"timestamp":%q}`, rfc(t0))
	r := e.ingester.do("POST", "/v1/ocpp/CB-16/start-transaction", start)
	expect(t, "start transaction", r, 200, "")
	txID := dig(r.Body, "data", "ocpp", "transactionId").(float64)
	id16 := dig(r.Body, "data", "session", "id").(string)
	if dig(r.Body, "data", "ocpp", "idTagInfo", "status") != "Accepted" || dig(r.Body, "data", "session", "status") != "active" {
		t.Fatalf("start transaction: %v", r.Body)
	}
	again := e.ingester.do("POST", "/v1/ocpp/CB-16/start-transaction", start)
	if dig(again.Body, "data", "ocpp", "transactionId") != txID {
		t.Fatalf("a repeated StartTransaction got transaction %v, the first %v", dig(again.Body, "data", "ocpp", "transactionId"), txID)
	}
	mv := fmt.Sprintf(`{"connectorId":1,"transactionId":%d,"meterValue":[
		{"timestamp":%q,"sampledValue":[{"value":"6.5","unit":"kWh"},{"value":"11","measurand":"Power.Active.Import","unit":"kW"},
			{"value":"16","measurand":"Current.Import","unit":"A"}]},
		{"timestamp":%q,"sampledValue":[{"value":"12000"},{"value":"0","measurand":"Power.Active.Import"}]}]}`,
		int64(txID), rfc(t0.Add(30*time.Minute)), rfc(t0.Add(time.Hour)))
	expect(t, "meter values", e.ingester.do("POST", "/v1/ocpp/CB-16/meter-values", mv), 200, "")

	// An estimate while it runs.
	est := e.billing.do("GET", "/v1/sessions/"+id16, "")
	if dig(est.Body, "data", "estimate", "currency") != "EUR" || dig(est.Body, "data", "estimate", "total_excl_vat") == nil {
		t.Fatalf("running estimate: %v", est.Body)
	}

	stop := fmt.Sprintf(`{"transactionId":%d,"idTag":"04A1B2C3","meterStop":12000,"timestamp":%q,"reason":"EVDisconnected",
		"transactionData":[{"timestamp":%q,"sampledValue":[{"value":"12000"},{"value":"0","measurand":"Power.Active.Import"}]}]}`,
		int64(txID), rfc(t0.Add(2*time.Hour)), rfc(t0.Add(90*time.Minute)))
	r = e.ingester.do("POST", "/v1/ocpp/CB-16/stop-transaction", stop)
	expect(t, "stop transaction", r, 200, "")
	if dig(r.Body, "data", "readings", "accepted") != 2.0 || dig(r.Body, "data", "ocpp", "idTagInfo", "status") != "Accepted" {
		t.Fatalf("stop transaction: %v", r.Body)
	}
	expect(t, "repeated stop", e.ingester.do("POST", "/v1/ocpp/CB-16/stop-transaction", stop), 200, "")
	expect(t, "stop of an unknown transaction", e.ingester.do("POST", "/v1/ocpp/CB-16/stop-transaction",
		fmt.Sprintf(`{"transactionId":%d,"meterStop":1,"timestamp":%q}`, int64(txID)+1000, rfc(t0))), 404, "NOT_FOUND")
	s16 := e.waitPriced(id16, "9.30")
	if s16["total_incl_vat"] != "11.07" || s16["energy_kwh"] != "11" || s16["parking_hours"] != "1" || s16["charging_hours"] != "1" ||
		s16["source_external_id"] != "CB-16/1" || s16["site_id"] != "depot-1" || s16["stop_reason"] != "EVDisconnected" ||
		!strings.HasPrefix(s16["tariff"].(string), tariffID+"@") {
		t.Fatalf("OCPP 1.6 session: %v", s16)
	}
	lines, _ := dig(s16, "price", "lines").([]any)
	if len(lines) != 3 {
		t.Fatalf("itemised price: %v", s16["price"])
	}

	// OCPP 2.0.1: Started, Updated, Ended, and a charging-state change that
	// arrives after the Ended (queued offline). 11 kWh in the first hour,
	// then SuspendedEV for half an hour: 3.30 + 1.00 + 2.50 = 6.80, × 1.19 =
	// 8.092 → 8.09.
	ev := func(seq int, typ string, at time.Duration, state, extra, meter string) string {
		return fmt.Sprintf(`{"eventType":%q,"timestamp":%q,"triggerReason":"MeterValuePeriodic","seqNo":%d,
			"transactionInfo":{"transactionId":"d4e5-f6"%s}%s,"meterValue":[{"timestamp":%q,"sampledValue":[%s]}]}`,
			typ, rfc(t0.Add(at)), seq, state, extra, rfc(t0.Add(at)), meter)
	}
	started := ev(0, "Started", 0, `,"chargingState":"Charging"`, `,"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"EMAID-1","type":"eMAID"}`,
		`{"value":2000,"context":"Transaction.Begin"}`)
	updated := ev(1, "Updated", 30*time.Minute, "", "",
		`{"value":7.5,"unitOfMeasure":{"unit":"kWh"}},{"value":11000,"measurand":"Power.Active.Import","unitOfMeasure":{"unit":"W"}}`)
	suspended := ev(2, "Updated", time.Hour, `,"chargingState":"SuspendedEV"`, `,"offline":true`, `{"value":13000}`)
	ended := ev(3, "Ended", 90*time.Minute, `,"chargingState":"EVConnected","stoppedReason":"EVDisconnected"`, "",
		`{"value":13000,"context":"Transaction.End"}`)
	var id201 string
	for _, body := range []string{started, updated, ended} {
		r := e.ingester.do("POST", "/v1/ocpp/CS-201/transaction-event", body)
		expect(t, "transaction event", r, 200, "")
		id201 = dig(r.Body, "data", "session", "id").(string)
	}
	if dig(e.ingester.do("POST", "/v1/ocpp/CS-201/transaction-event", started).Body, "data", "ocpp", "idTokenInfo", "status") != "Accepted" {
		t.Fatal("no idTokenInfo for an event with an idToken")
	}
	// Priced at once as an hour and a half of charging (3.30 + 1.50)…
	e.waitPriced(id201, "4.80")
	// …and again once the late event says the EV was suspended from 12:00.
	r = e.ingester.do("POST", "/v1/ocpp/CS-201/transaction-event", suspended)
	expect(t, "late event", r, 200, "")
	s201 := e.waitPriced(id201, "6.80")
	if s201["total_incl_vat"] != "8.09" || s201["id_tag"] != "EMAID-1" || s201["meter_start"] != 2000.0 || s201["meter_stop"] != 13000.0 {
		t.Fatalf("OCPP 2.0.1 session: %v", s201)
	}
	version := s201["version"]
	for _, body := range []string{ended, suspended, updated} {
		expect(t, "repeated event", e.ingester.do("POST", "/v1/ocpp/CS-201/transaction-event", body), 200, "")
	}
	if v := e.billing.do("GET", "/v1/sessions/"+id201, "").data()["version"]; v != version {
		t.Fatalf("repeated events made version %v of %v", v, version)
	}

	// An API session on a connector with no readings at all: meter start
	// and stop only. 7 kWh × 0.30 + 1 h × 1.00 = 3.10, × 1.19 = 3.689 → 3.69.
	expect(t, "connector", e.admin.do("POST", "/v1/sources", `{"external_id":"CB-16/2","kind":"connector","parent":"CB-16"}`), 201, "")
	r = e.ingester.do("POST", "/v1/sessions", fmt.Sprintf(`{"source":"CB-16/2","external_id":"api-1","id_tag":"CARD-9","start_time":%q,"meter_start":0}`, rfc(t0.Add(10*time.Minute))))
	expect(t, "start session", r, 201, "")
	idAPI := r.data()["id"].(string)
	expect(t, "start again", e.ingester.do("POST", "/v1/sessions", fmt.Sprintf(`{"source":"CB-16/2","external_id":"api-1","id_tag":"CARD-9","start_time":%q,"meter_start":0}`, rfc(t0.Add(10*time.Minute)))), 200, "")
	expect(t, "start with another tag", e.ingester.do("POST", "/v1/sessions", fmt.Sprintf(`{"source":"CB-16/2","external_id":"api-1","id_tag":"X","start_time":%q}`, rfc(t0))), 409, "CONFLICT")
	expect(t, "unknown field", e.ingester.do("POST", "/v1/sessions", `{"source":"CB-16/2","colour":"red"}`), 400, "VALIDATION_ERROR")
	stopBody := fmt.Sprintf(`{"stop_time":%q,"meter_stop":7000,"reason":"Local"}`, rfc(t0.Add(70*time.Minute)))
	expect(t, "stop session", e.ingester.do("POST", "/v1/sessions/"+idAPI+"/stop", stopBody), 200, "")
	expect(t, "stop again", e.ingester.do("POST", "/v1/sessions/"+idAPI+"/stop", stopBody), 200, "")
	sAPI := e.waitPriced(idAPI, "3.10")
	if sAPI["total_incl_vat"] != "3.69" || sAPI["energy_kwh"] != "7" {
		t.Fatalf("API session: %v", sAPI)
	}

	// The CDR is OCPI 2.2.1 and prices the same when a peer reprices it.
	r = e.billing.do("GET", "/v1/sessions/"+id16+"/cdr", "")
	expect(t, "cdr", r, 200, "")
	raw, _ := json.Marshal(r.Body["data"])
	cdr, err := tariffs.ParseCDR(raw)
	if err != nil {
		t.Fatalf("CDR: %v\n%s", err, raw)
	}
	if cdr.SessionID != id16 || cdr.CdrLocation.ID != "LOC-1" || cdr.CdrToken.UID != "04A1B2C3" || len(cdr.ChargingPeriods) != 2 ||
		cdr.TotalCost.ExclVAT.Cmp(decimal.MustParse("9.30")) != 0 {
		t.Fatalf("CDR: %s", raw)
	}

	// Scopes and tenants.
	expect(t, "pull with read scope", e.reader.do("GET", "/v1/sessions", ""), 403, "FORBIDDEN")
	denied := e.ingester.do("POST", "/v1/sessions/"+id16+"/reprice", "")
	expect(t, "reprice with ingest scope", denied, 403, "FORBIDDEN")
	// Routes open to one of several scopes say so as every other route
	// does (auth.RequireAny).
	if msg, _ := dig(denied.Body, "error", "message").(string); msg != `this credential lacks the "billing" or "admin" scope` ||
		denied.Header.Get("WWW-Authenticate") != `Bearer realm="gridmetrics", error="insufficient_scope", scope="billing"` {
		t.Fatalf("reprice with ingest scope: %q, %v", denied.Header.Get("WWW-Authenticate"), denied.Body)
	}
	expect(t, "start with billing scope", e.billing.do("POST", "/v1/sessions", `{}`), 403, "FORBIDDEN")
	expect(t, "other tenant", e.stranger.do("GET", "/v1/sessions/"+id16, ""), 404, "NOT_FOUND")
	expect(t, "other tenant cdr", e.stranger.do("GET", "/v1/sessions/"+id16+"/cdr", ""), 404, "NOT_FOUND")
	if list := e.stranger.do("GET", "/v1/sessions", ""); len(list.Body["data"].([]any)) != 0 {
		t.Fatalf("another tenant pulls %v", list.Body["data"])
	}
	r = e.billing.do("POST", "/v1/sessions/"+id16+"/reprice", "")
	expect(t, "reprice", r, 200, "")
	if r.data()["version"] != s16["version"] {
		t.Fatalf("a reprice with the same tariff made a new version: %v, was %v", r.data()["version"], s16["version"])
	}

	// The billing pull: pages of two, then the filters.
	var pulled []string
	cursor := ""
	for {
		r := e.billing.do("GET", "/v1/sessions?status=priced&limit=2&cursor="+cursor, "")
		expect(t, "pull", r, 200, "")
		for _, x := range r.Body["data"].([]any) {
			pulled = append(pulled, x.(map[string]any)["id"].(string))
		}
		cursor = dig(r.Body, "pagination", "next_cursor").(string)
		if dig(r.Body, "pagination", "has_more") != true {
			break
		}
	}
	slices.Sort(pulled)
	want := []string{id16, id201, idAPI}
	slices.Sort(want)
	if !slices.Equal(pulled, want) {
		t.Fatalf("pulled %v, want %v", pulled, want)
	}
	if r := e.billing.do("GET", "/v1/sessions?status=priced&cursor="+cursor, ""); len(r.Body["data"].([]any)) != 0 {
		t.Fatalf("the pull's last cursor serves again: %v", r.Body["data"])
	}
	expect(t, "cursor with other filters", e.billing.do("GET", "/v1/sessions?cursor="+cursor, ""), 400, "VALIDATION_ERROR")
	expect(t, "bad status", e.billing.do("GET", "/v1/sessions?status=done", ""), 400, "VALIDATION_ERROR")
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"source=CB-16/1", 1}, {"site_id=depot-1", 3}, {"site_id=elsewhere", 0}, {"status=active", 0},
		{"from=" + rfc(t0.Add(5*time.Minute)), 1}, {"to=" + rfc(t0.Add(5*time.Minute)), 2},
		{"updated_since=" + rfc(time.Now().Add(time.Hour)), 0},
	} {
		r := e.billing.do("GET", "/v1/sessions?"+tc.query, "")
		expect(t, tc.query, r, 200, "")
		if got := len(r.Body["data"].([]any)); got != tc.want {
			t.Errorf("%s: %d sessions, want %d", tc.query, got, tc.want)
		}
	}

	// The export in every format holds what the JSON pull says.
	list := e.billing.do("GET", "/v1/sessions?status=priced", "")
	jsonRows := map[string]map[string]string{}
	var cols []string
	for _, x := range list.Body["data"].([]any) {
		m := x.(map[string]any)
		if cols == nil {
			for k := range m {
				cols = append(cols, k)
			}
		}
		jsonRows[m["id"].(string)] = canonRow(t, m)
	}
	period := "from=" + rfc(t0.Add(-time.Hour)) + "&to=" + rfc(time.Now().Add(time.Hour))
	for _, format := range []string{"ndjson", "csv", "arrow"} {
		status, ctype, body := e.export(period + "&format=" + format)
		if status != 200 {
			t.Fatalf("export %s: %d %s", format, status, body)
		}
		var rows map[string]map[string]string
		switch format {
		case "ndjson":
			rows = ndjsonRows(t, body)
		case "csv":
			rows = csvRows(t, body)
		case "arrow":
			rows = arrowRows(t, body)
		}
		if len(rows) != len(jsonRows) {
			t.Fatalf("export %s (%s): %d rows, want %d", format, ctype, len(rows), len(jsonRows))
		}
		for id, want := range jsonRows {
			got := rows[id]
			for _, c := range cols {
				if got[c] != want[c] {
					t.Errorf("export %s: session %s %s = %q, the JSON pull says %q", format, id, c, got[c], want[c])
				}
			}
			if len(got) != len(want) {
				t.Errorf("export %s: %d columns, the JSON has %d", format, len(got), len(want))
			}
		}
	}
	if status, _, _ := e.export("format=arrow"); status != 400 {
		t.Fatalf("export without a range: %d", status)
	}
	if status, _, body := e.export("from=" + rfc(t0.Add(-48*time.Hour)) + "&to=" + rfc(t0.Add(-24*time.Hour)) + "&format=arrow"); status != 200 || len(arrowRows(t, body)) != 0 {
		t.Fatalf("an empty Arrow export: %d", status)
	}
}

func (e sessionEnv) export(query string) (int, string, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.base+"/v1/sessions/export?"+query, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.billing.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Content-Type"), body
}

// decimalColumns are compared by value: JSON, CSV and Arrow write them at
// different scales.
var decimalColumns = map[string]bool{"energy_kwh": true, "charging_hours": true, "parking_hours": true, "total_excl_vat": true, "total_incl_vat": true}

// canonCell renders one exported value so that the formats compare: times
// in RFC 3339 UTC, decimals by value, numbers in Go's shortest form, null as
// "".
func canonCell(t *testing.T, col string, v any) string {
	t.Helper()
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		if decimalColumns[col] && x != "" {
			d, err := decimal.Parse(x)
			if err != nil {
				t.Fatalf("%s: %q is not a decimal", col, x)
			}
			return d.Trim(0).String()
		}
		if strings.HasSuffix(col, "_at") || strings.HasSuffix(col, "_time") {
			if ts, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return ts.UTC().Format(time.RFC3339Nano)
			}
		}
		return x
	}
	t.Fatalf("%s: unexpected %T", col, v)
	return ""
}

func canonRow(t *testing.T, m map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range m {
		out[k] = canonCell(t, k, v)
	}
	return out
}

func ndjsonRows(t *testing.T, body []byte) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("ndjson line %q: %v", sc.Text(), err)
		}
		out[m["id"].(string)] = canonRow(t, m)
	}
	return out
}

func csvRows(t *testing.T, body []byte) map[string]map[string]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("csv: %v\n%s", err, body)
	}
	out := map[string]map[string]string{}
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, col := range recs[0] {
			v := any(rec[i])
			if rec[i] == "" {
				v = nil
			}
			row[col] = canonCell(t, col, v)
		}
		out[row["id"]] = row
	}
	return out
}

func arrowRows(t *testing.T, body []byte) map[string]map[string]string {
	t.Helper()
	rd, err := ipc.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("arrow: %v", err)
	}
	defer rd.Release()
	out := map[string]map[string]string{}
	for rd.Next() {
		rec := rd.Record()
		for r := 0; r < int(rec.NumRows()); r++ {
			row := map[string]string{}
			for c := 0; c < int(rec.NumCols()); c++ {
				name := rec.ColumnName(c)
				col := rec.Column(c)
				if col.IsNull(r) {
					row[name] = ""
					continue
				}
				var v any
				switch a := col.(type) {
				case *array.Timestamp:
					v = time.UnixMicro(int64(a.Value(r))).UTC().Format(time.RFC3339Nano)
				case *array.Float64:
					v = a.Value(r)
				case *array.Int64:
					v = float64(a.Value(r))
				case *array.String:
					v = a.Value(r)
				case *array.Decimal128:
					v = a.Value(r).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
				default:
					t.Fatalf("arrow column %s: %T", name, col)
				}
				row[name] = canonCell(t, name, v)
			}
			out[row["id"]] = row
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSessionsPullUnderConcurrentWrites pages through GET /v1/sessions
// while other clients start, stop and reprice sessions over HTTP, and
// checks that every session is pulled at its final version, none twice
// within a pull. (The store test of the sessions package does the same
// with more pressure.)
func TestSessionsPullUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	e.charger("CB-1")
	expect(t, "connector", e.admin.do("POST", "/v1/sources", `{"external_id":"CB-1/1","kind":"connector","parent":"CB-1"}`), 201, "")
	e.assignTariff("", "CB-1")
	t0 := time.Now().UTC().Truncate(time.Second).Add(-48 * time.Hour)

	const n = 30
	done := make(chan error, 2)
	go func() {
		for i := range n {
			at := t0.Add(time.Duration(i) * time.Hour)
			r := e.ingester.do("POST", "/v1/sessions", fmt.Sprintf(`{"source":"CB-1/1","external_id":"s%d","start_time":%q,"meter_start":0}`, i, rfc(at)))
			if r.Status != 201 {
				done <- fmt.Errorf("start: %v", r.Body)
				return
			}
			id := r.data()["id"].(string)
			r = e.ingester.do("POST", "/v1/sessions/"+id+"/stop", fmt.Sprintf(`{"stop_time":%q,"meter_stop":%d}`, rfc(at.Add(30*time.Minute)), 1000*(i+1)))
			if r.Status != 200 {
				done <- fmt.Errorf("stop: %v", r.Body)
				return
			}
		}
		done <- nil
	}()
	go func() {
		for range 3 * n {
			r := e.billing.do("GET", "/v1/sessions?status=priced&limit=1000", "")
			items, _ := r.Body["data"].([]any)
			if len(items) > 0 {
				id := items[len(items)/2].(map[string]any)["id"].(string)
				if r := e.billing.do("POST", "/v1/sessions/"+id+"/reprice", ""); r.Status != 200 && r.Status != 409 {
					done <- fmt.Errorf("reprice: %v", r.Body)
					return
				}
			}
		}
		done <- nil
	}()

	last := map[string]float64{}
	resume := ""
	pull := func() {
		cursor, seen := resume, map[string]bool{}
		for {
			r := e.billing.do("GET", "/v1/sessions?limit=4&cursor="+cursor, "")
			expect(t, "pull", r, 200, "")
			for _, x := range r.Body["data"].([]any) {
				m := x.(map[string]any)
				id, v := m["id"].(string), m["version"].(float64)
				if seen[id] {
					t.Fatalf("session %s twice in one pull", id)
				}
				if v <= last[id] {
					t.Fatalf("session %s at version %v after %v", id, v, last[id])
				}
				seen[id], last[id] = true, v
			}
			cursor = dig(r.Body, "pagination", "next_cursor").(string)
			if dig(r.Body, "pagination", "has_more") != true {
				resume = cursor
				return
			}
		}
	}
	for finished := 0; finished < 2; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished++
		default:
		}
		pull()
	}
	// Wait for the worker, then pull what is left.
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := e.billing.do("GET", "/v1/sessions?status=completed", "")
		if len(r.Body["data"].([]any)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sessions left unpriced")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pull()
	final := map[string]float64{}
	cursor := ""
	for {
		r := e.billing.do("GET", "/v1/sessions?limit=1000&cursor="+cursor, "")
		for _, x := range r.Body["data"].([]any) {
			m := x.(map[string]any)
			final[m["id"].(string)] = m["version"].(float64)
		}
		cursor = dig(r.Body, "pagination", "next_cursor").(string)
		if dig(r.Body, "pagination", "has_more") != true {
			break
		}
	}
	if len(final) != n || len(last) != n {
		t.Fatalf("%d sessions in the database, %d pulled, want %d", len(final), len(last), n)
	}
	for id, v := range final {
		if last[id] != v {
			t.Errorf("session %s is at version %v; the pulls last saw %v", id, v, last[id])
		}
	}
}

// TestPoisonSessionIsQuarantined: when pricing a session fails (here the
// database refuses the pricing's query: the readings table is away) the
// worker quarantines the session after session-max-pricing-attempts
// instead of retrying it forever, the session says why, and the reprice
// route revives it once the cause is gone.
func TestPoisonSessionIsQuarantined(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	acme := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", acme, "--scopes", "ingest,read,billing,admin"))
	m := startServer(t, dbURL, "--session-max-pricing-attempts", "1", "--session-poll-interval", "50ms")
	e := sessionEnv{t: t, base: "http://" + m.Addr()}
	e.admin = client{t, e.base, key}
	e.billing = e.admin
	e.charger("CB-Q")
	e.assignTariff("", "CB-Q")
	expect(t, "connector", e.admin.do("POST", "/v1/sources", `{"external_id":"CB-Q/1","kind":"connector","parent":"CB-Q"}`), 201, "")
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Hour)
	r := e.admin.do("POST", "/v1/sessions", fmt.Sprintf(`{"source":"CB-Q/1","external_id":"q-1","start_time":%q,"meter_start":0}`, rfc(t0)))
	expect(t, "start", r, 201, "")
	id := r.data()["id"].(string)

	db, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(context.Background(), `ALTER TABLE readings RENAME TO readings_away`); err != nil {
		t.Fatal(err)
	}
	expect(t, "stop", e.admin.do("POST", "/v1/sessions/"+id+"/stop", fmt.Sprintf(`{"stop_time":%q,"meter_stop":7000}`, rfc(t0.Add(time.Hour)))), 200, "")
	deadline := time.Now().Add(15 * time.Second)
	var s map[string]any
	for {
		s = e.admin.do("GET", "/v1/sessions/"+id, "").data()
		if s["status"] == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	reason, _ := s["failure_reason"].(string)
	if s["status"] != "failed" || !strings.HasPrefix(reason, "pricing failed 1 time: ") || strings.Contains(reason, "readings") {
		t.Fatalf("after a failed pricing: %v %q; want failed, the attempts, and not the database's text", s["status"], reason)
	}

	if _, err := db.Exec(context.Background(), `ALTER TABLE readings_away RENAME TO readings`); err != nil {
		t.Fatal(err)
	}
	r = e.admin.do("POST", "/v1/sessions/"+id+"/reprice", "")
	expect(t, "reprice", r, 200, "")
	// 7 kWh × 0.30 + 1 h × 1.00 = 3.10 excl. VAT.
	if r.data()["status"] != "priced" || r.data()["total_excl_vat"] != "3.10" || r.data()["failure_reason"] != nil {
		t.Fatalf("reprice of a quarantined session: %v", r.data())
	}
}

// TestSessionsRefuseUnregisterableConnector checks that a transaction on a
// connector that is not registered and that auto-registration may not
// create is a 400 naming the charge box, the connector and why, with the
// code the readings routes give its meter values; never a 500, and no
// session.
func TestSessionsRefuseUnregisterableConnector(t *testing.T) {
	t.Parallel()
	at := rfc(time.Now().Add(-time.Hour))
	startTx := func(connector int) string {
		return fmt.Sprintf(`{"connectorId":%d,"idTag":"TAG-1","meterStart":0,"timestamp":%q}`, connector, at)
	}
	txEvent := func(evse int) string {
		return fmt.Sprintf(`{"eventType":"Started","timestamp":%q,"triggerReason":"CablePluggedIn","seqNo":0,
			"transactionInfo":{"transactionId":"tx-%d"},"evse":{"id":%d}}`, at, evse, evse)
	}
	refused := func(t *testing.T, what string, r response, field, reason string, want ...string) {
		t.Helper()
		expect(t, what, r, 400, "VALIDATION_ERROR")
		details, _ := dig(r.Body, "error", "details").(map[string]any)
		if details["field"] != field || details["reason"] != reason {
			t.Fatalf("%s: details %v, want field %q and reason %q", what, details, field, reason)
		}
		msg, _ := dig(r.Body, "error", "message").(string)
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Fatalf("%s: message %q does not say %q", what, msg, w)
			}
		}
	}
	noSessions := func(t *testing.T, c client) {
		t.Helper()
		r := c.do("GET", "/v1/sessions", "")
		expect(t, "list sessions", r, 200, "")
		if list, _ := r.Body["data"].([]any); len(list) != 0 {
			t.Fatalf("sessions were created for refused connectors: %v", list)
		}
	}

	t.Run("tenant without auto-registration", func(t *testing.T) {
		t.Parallel()
		e := newSessionEnv(t)
		c := e.stranger // its tenant does not register sources on first sight
		refused(t, "start transaction", c.do("POST", "/v1/ocpp/CB-NEW/start-transaction", startTx(1)),
			"connectorId", "UNKNOWN_SOURCE", `connector 1 of charge box "CB-NEW"`, "does not register sources on first sight")
		refused(t, "transaction event", c.do("POST", "/v1/ocpp/CS-NEW/transaction-event", txEvent(2)),
			"evse.id", "UNKNOWN_SOURCE", `connector 2 of charge box "CS-NEW"`, "does not register sources on first sight")
		refused(t, "API session", c.do("POST", "/v1/sessions", fmt.Sprintf(`{"source":"CB-NEW/1","external_id":"api-1","start_time":%q}`, at)),
			"source", "UNKNOWN_SOURCE", `"CB-NEW/1"`)
		noSessions(t, c)
		// Registered by hand, the connector takes transactions.
		expect(t, "charger", c.do("POST", "/v1/sources", `{"external_id":"CB-NEW","kind":"charger"}`), 201, "")
		expect(t, "connector", c.do("POST", "/v1/sources", `{"external_id":"CB-NEW/1","kind":"connector","parent":"CB-NEW"}`), 201, "")
		expect(t, "start transaction on a registered connector", c.do("POST", "/v1/ocpp/CB-NEW/start-transaction", startTx(1)), 200, "")
	})

	t.Run("connector cap", func(t *testing.T) {
		t.Parallel()
		e := newSessionEnv(t, "--ocpp-max-connectors", "2")
		expect(t, "connector 1", e.ingester.do("POST", "/v1/ocpp/CB-1/start-transaction", startTx(1)), 200, "")
		expect(t, "connector 2", e.ingester.do("POST", "/v1/ocpp/CB-1/transaction-event", txEvent(2)), 200, "")
		r := e.ingester.do("POST", "/v1/ocpp/CB-1/start-transaction", startTx(3))
		refused(t, "start transaction on a third connector", r, "connectorId", "TOO_MANY_CONNECTORS",
			`connector 3 of charge box "CB-1"`, "per charge box, 2 (ocpp-max-connectors)")
		if got := dig(r.Body, "error", "details", "max_connectors"); got != 2.0 {
			t.Fatalf("details.max_connectors %v, want 2", got)
		}
		refused(t, "transaction event on a third connector", e.ingester.do("POST", "/v1/ocpp/CB-1/transaction-event", txEvent(3)),
			"evse.id", "TOO_MANY_CONNECTORS", `connector 3 of charge box "CB-1"`)
		list := e.billing.do("GET", "/v1/sessions", "")
		if n, _ := list.Body["data"].([]any); len(n) != 2 {
			t.Fatalf("%d sessions, want the two on registered connectors: %v", len(n), list.Body)
		}
		// The connectors within the cap still take transactions.
		expect(t, "connector 2 again", e.ingester.do("POST", "/v1/ocpp/CB-1/start-transaction", startTx(2)), 200, "")
	})
}

// TestSessionsCountEveryRejectedMeterValue checks that the session routes
// list the first 1,000 refused meter values and count all of them in
// rejected_total, with and without valid values beside them, and for an
// event whose EVSE is not known yet.
func TestSessionsCountEveryRejectedMeterValue(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	const bad = 1500
	// meterValue is one meterValue at t0+at with bad refused sampledValues
	// (an unknown measurand) and, when good is not empty, that valid one
	// after them.
	meterValue := func(at time.Duration, good string) string {
		var b strings.Builder
		fmt.Fprintf(&b, `[{"timestamp":%q,"sampledValue":[`, rfc(t0.Add(at)))
		for i := range bad {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"value":1,"measurand":"No.Such.Measurand"}`)
		}
		if good != "" {
			b.WriteString("," + good)
		}
		b.WriteString(`]}]`)
		return b.String()
	}
	check := func(what string, r response, accepted float64) {
		t.Helper()
		expect(t, what, r, 200, "")
		list, _ := dig(r.Body, "data", "readings", "rejected").([]any)
		if len(list) != 1000 || dig(r.Body, "data", "readings", "rejected_total") != float64(bad) ||
			dig(r.Body, "data", "readings", "accepted") != accepted {
			t.Fatalf("%s: readings accepted %v, %d rejections listed, rejected_total %v; want %v, 1000 and %d",
				what, dig(r.Body, "data", "readings", "accepted"), len(list), dig(r.Body, "data", "readings", "rejected_total"), accepted, bad)
		}
		if last, _ := list[len(list)-1].(map[string]any); last["index"] != 999.0 {
			t.Fatalf("%s: the last listed rejection is %v, want index 999", what, last)
		}
	}
	event := func(seq int, typ string, at time.Duration, txID, evse, meter string) string {
		return fmt.Sprintf(`{"eventType":%q,"timestamp":%q,"triggerReason":"MeterValuePeriodic","seqNo":%d,
			"transactionInfo":{"transactionId":%q}%s,"meterValue":%s}`, typ, rfc(t0.Add(at)), seq, txID, evse, meter)
	}

	// OCPP 2.0.1: only refused values, then refused values beside a valid one.
	check("event without valid values", e.ingester.do("POST", "/v1/ocpp/CS-1/transaction-event",
		event(0, "Started", 0, "tx-1", `,"evse":{"id":1}`, meterValue(0, ""))), 0)
	check("event with a valid value", e.ingester.do("POST", "/v1/ocpp/CS-1/transaction-event",
		event(1, "Updated", time.Minute, "tx-1", "", meterValue(time.Minute, `{"value":1000}`))), 1)
	// An event ahead of the one naming its EVSE: its values wait.
	check("event before its EVSE is known", e.ingester.do("POST", "/v1/ocpp/CS-1/transaction-event",
		event(1, "Updated", time.Minute, "tx-2", "", meterValue(time.Minute, `{"value":1000}`))), 0)

	// OCPP 1.6: transactionData on the stop.
	r := e.ingester.do("POST", "/v1/ocpp/CB-1/start-transaction",
		fmt.Sprintf(`{"connectorId":1,"idTag":"TAG-1","meterStart":0,"timestamp":%q}`, rfc(t0)))
	expect(t, "start transaction", r, 200, "")
	txID := int64(dig(r.Body, "data", "ocpp", "transactionId").(float64))
	stop := func(data string) string {
		return fmt.Sprintf(`{"transactionId":%d,"meterStop":1000,"timestamp":%q,"transactionData":%s}`, txID, rfc(t0.Add(2*time.Minute)), data)
	}
	check("stop with a valid value", e.ingester.do("POST", "/v1/ocpp/CB-1/stop-transaction", stop(meterValue(time.Minute, `{"value":"1000"}`))), 1)
	r = e.ingester.do("POST", "/v1/ocpp/CB-1/start-transaction",
		fmt.Sprintf(`{"connectorId":2,"idTag":"TAG-1","meterStart":0,"timestamp":%q}`, rfc(t0)))
	expect(t, "start transaction", r, 200, "")
	txID = int64(dig(r.Body, "data", "ocpp", "transactionId").(float64))
	check("stop without valid values", e.ingester.do("POST", "/v1/ocpp/CB-1/stop-transaction", stop(meterValue(time.Minute, ""))), 0)
}
