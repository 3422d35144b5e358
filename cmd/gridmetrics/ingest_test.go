package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// ingestEnv is a running server with a tenant, an all-scopes key and a
// pool on its database.
type ingestEnv struct {
	t      *testing.T
	base   string
	key    string
	tenant string
	pool   *pgxpool.Pool
	dbURL  string
}

func newIngestEnv(t *testing.T, serverArgs ...string) ingestEnv {
	t.Helper()
	return newEnvWithTenant(t, []string{"--name", "acme"}, serverArgs...)
}

// newAutoRegisterEnv is newIngestEnv with a tenant that registers unknown
// sources on first sight.
func newAutoRegisterEnv(t *testing.T, serverArgs ...string) ingestEnv {
	t.Helper()
	return newEnvWithTenant(t, []string{"--name", "fleet", "--auto-register"}, serverArgs...)
}

func newEnvWithTenant(t *testing.T, tenantArgs []string, serverArgs ...string) ingestEnv {
	t.Helper()
	dbURL := dbtest.NewURL(t)
	tenant := tenantID(t, cli(t, dbURL, append([]string{"tenant", "create"}, tenantArgs...)...))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", tenant, "--scopes", "ingest,read,admin"))
	m := startServer(t, dbURL, serverArgs...)
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return ingestEnv{t: t, base: "http://" + m.Addr(), key: key, tenant: tenant, pool: pool, dbURL: dbURL}
}

// post sends a body with a content type (and optional encoding) and
// returns the decoded answer.
func (e ingestEnv) post(path, contentType, encoding string, body []byte) response {
	e.t.Helper()
	return e.send(false, path, contentType, encoding, body)
}

// postInvalid sends rows the OpenAPI document calls invalid, which ingest
// takes and refuses one by one: the contract check validates the answer
// only.
func (e ingestEnv) postInvalid(path, contentType, encoding string, body []byte) response {
	e.t.Helper()
	return e.send(true, path, contentType, encoding, body)
}

func (e ingestEnv) send(invalid bool, path, contentType, encoding string, body []byte) response {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.base+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if invalid {
		req = invalidRequest(req)
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	out := response{Status: res.StatusCode, Header: res.Header}
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		e.t.Fatalf("POST %s: %d %s", path, res.StatusCode, raw)
	}
	return out
}

func (e ingestEnv) createSource(externalID, kind string) {
	e.t.Helper()
	r := client{e.t, e.base, e.key}.do("POST", "/v1/sources", fmt.Sprintf(`{"external_id":%q,"kind":%q}`, externalID, kind))
	expect(e.t, "create source "+externalID, r, 201, "")
}

// values returns the stored readings of a source's metric as time → value.
func (e ingestEnv) values(externalID, metric string) map[time.Time]float64 {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT r.time, r.value FROM readings r
		JOIN sources s ON s.id = r.source_id JOIN metrics m ON m.id = r.metric
		WHERE s.external_id = $1 AND m.name = $2`, externalID, metric)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[time.Time]float64{}
	for rows.Next() {
		var at time.Time
		var v float64
		if err := rows.Scan(&at, &v); err != nil {
			e.t.Fatal(err)
		}
		out[at.UTC()] = v
	}
	return out
}

func accepted(t *testing.T, r response, want int) {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status %d: %v", r.Status, r.Body)
	}
	if got, _ := r.data()["accepted"].(float64); int(got) != want {
		t.Fatalf("accepted %v, want %d: %v", r.data()["accepted"], want, r.Body)
	}
}

func rejectedCodes(r response) map[int]string {
	list, _ := r.data()["rejected"].([]any)
	if list == nil {
		if e, _ := r.Body["error"].(map[string]any); e != nil {
			d, _ := e["details"].(map[string]any)
			list, _ = d["rejected"].([]any)
		}
	}
	out := map[int]string{}
	for _, x := range list {
		m := x.(map[string]any)
		out[int(m["index"].(float64))] = m["code"].(string)
	}
	return out
}

var base = time.Now().Add(-time.Hour).Truncate(time.Second).UTC()

func ts(offset time.Duration) string { return base.Add(offset).Format(time.RFC3339) }

func TestIngestFormats(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	e.createSource("M-1", "meter")

	rows := fmt.Sprintf(`{"readings":[
		{"source":"M-1","metric":"energy_import","time":%q,"value":1.5,"unit":"kWh"},
		{"source":"M-1","metric":"power_import","time":%q,"value":7.2,"unit":"kW"}]}`, ts(0), ts(0))
	accepted(t, e.post("/v1/readings", "application/json", "", []byte(rows)), 2)

	series := fmt.Sprintf(`{"series":[{"source":"M-1","metric":"energy_import","unit":"Wh","points":[[%q,1600],[%q,1700]]}]}`, ts(time.Minute), ts(2*time.Minute))
	accepted(t, e.post("/v1/readings", "application/json; charset=utf-8", "", []byte(series)), 2)

	csv := fmt.Sprintf("source,metric,time,value,unit\nM-1,energy_import,%s,1800,Wh\nM-1,voltage,%s,231.5,\n", ts(3*time.Minute), ts(3*time.Minute))
	accepted(t, e.post("/v1/readings", "text/csv", "", []byte(csv)), 2)

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	fmt.Fprintf(zw, `{"readings":[{"source":"M-1","metric":"energy_import","time":%q,"value":1900}]}`, ts(4*time.Minute))
	zw.Close()
	accepted(t, e.post("/v1/readings", "application/json", "gzip", gz.Bytes()), 1)

	energy := e.values("M-1", "energy_import")
	want := map[time.Duration]float64{0: 1500, time.Minute: 1600, 2 * time.Minute: 1700, 3 * time.Minute: 1800, 4 * time.Minute: 1900}
	for off, v := range want {
		if got, ok := energy[base.Add(off)]; !ok || got != v {
			t.Errorf("energy at +%s: %v (stored %v), want %v Wh", off, got, ok, v)
		}
	}
	if p := e.values("M-1", "power_import")[base]; p != 7200 {
		t.Errorf("power %v W, want 7200 (kW normalised)", p)
	}

	var latest float64
	err := e.pool.QueryRow(context.Background(), `SELECT l.value FROM latest_readings l JOIN sources s ON s.id = l.source_id
		WHERE s.external_id = 'M-1' AND l.metric = 1`).Scan(&latest)
	if err != nil || latest != 1900 {
		t.Errorf("latest energy %v (err %v), want 1900", latest, err)
	}
}

func TestIngestRejections(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t, "--ingest-max-skew", "1m")
	e.createSource("M-1", "meter")

	body := fmt.Sprintf(`{"readings":[
		{"source":"M-1","metric":"energy_import","time":%q,"value":1},
		{"source":"nobody","metric":"energy_import","time":%q,"value":1},
		{"source":"M-1","metric":"happiness","time":%q,"value":1},
		{"source":"M-1","metric":"energy_import","time":%q,"value":1,"unit":"furlong"},
		{"source":"M-1","metric":"energy_import","time":"1999-12-31T23:59:59Z","value":1},
		{"source":"M-1","metric":"energy_import","time":%q,"value":1},
		{"source":"M-1","metric":"energy_import","time":"yesterday","value":1},
		{"source":"M-1","metric":"energy_import","time":%q,"value":"1"}]}`,
		ts(0), ts(0), ts(0), ts(0), time.Now().Add(time.Hour).Format(time.RFC3339), ts(0))
	r := e.postInvalid("/v1/readings", "application/json", "", []byte(body))
	accepted(t, r, 1)
	want := map[int]string{1: "UNKNOWN_SOURCE", 2: "UNKNOWN_METRIC", 3: "UNKNOWN_UNIT", 4: "TIME_TOO_OLD", 5: "TIME_IN_FUTURE", 6: "MALFORMED_ROW", 7: "MALFORMED_ROW"}
	if got := rejectedCodes(r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rejections %v, want %v", got, want)
	}

	csv := fmt.Sprintf("source,metric,time,value\nM-1,power_import,%s,NaN\nM-1,power_import,%s,+Inf\n", ts(0), ts(time.Second))
	r = e.post("/v1/readings", "text/csv", "", []byte(csv))
	expect(t, "all rows invalid", r, 400, "VALIDATION_ERROR")
	if got := rejectedCodes(r); got[0] != "INVALID_VALUE" || got[1] != "INVALID_VALUE" {
		t.Fatalf("rejections %v, want INVALID_VALUE twice", got)
	}

	expect(t, "no rows", e.post("/v1/readings", "application/json", "", []byte(`{"readings":[]}`)), 400, "VALIDATION_ERROR")
	expect(t, "not JSON", e.post("/v1/readings", "application/json", "", []byte(`{"readings":[`)), 400, "VALIDATION_ERROR")
	expect(t, "content type", e.post("/v1/readings", "application/xml", "", []byte(`<r/>`)), 400, "VALIDATION_ERROR")
	expect(t, "bad gzip", e.post("/v1/readings", "application/json", "gzip", []byte(`not gzip`)), 400, "VALIDATION_ERROR")
	expect(t, "encoding", e.post("/v1/readings", "application/json", "br", []byte(`{}`)), 400, "VALIDATION_ERROR")
}

func TestIngestBodyLimits(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t, "--body-limit", "4096")
	e.createSource("M-1", "meter")
	big := fmt.Sprintf(`{"readings":[%s{"source":"M-1","metric":"energy_import","time":%q,"value":1}]}`,
		strings.Repeat(" ", 5000), ts(0))
	expect(t, "body over the limit", e.post("/v1/readings", "application/json", "", []byte(big)), 413, "PAYLOAD_TOO_LARGE")

	var gz bytes.Buffer // small compressed, large decompressed
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(big))
	zw.Close()
	expect(t, "decompressed body over the limit", e.post("/v1/readings", "application/json", "gzip", gz.Bytes()), 413, "PAYLOAD_TOO_LARGE")
}

func TestIngestRetriesAndLateData(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t, "--ingest-invalidation-horizon", "30m")
	e.createSource("M-1", "meter")
	body := fmt.Sprintf(`{"readings":[{"source":"M-1","metric":"energy_import","time":%q,"value":10},
		{"source":"M-1","metric":"energy_import","time":%q,"value":20}]}`, ts(2*time.Minute), ts(3*time.Minute))
	for range 3 { // a client retrying the same request
		accepted(t, e.post("/v1/readings", "application/json", "", []byte(body)), 2)
	}
	// Out of order, and a correction of an earlier value.
	late := fmt.Sprintf(`{"readings":[{"source":"M-1","metric":"energy_import","time":%q,"value":5},
		{"source":"M-1","metric":"energy_import","time":%q,"value":21}]}`, ts(time.Minute), ts(3*time.Minute))
	accepted(t, e.post("/v1/readings", "application/json", "", []byte(late)), 2)

	got := e.values("M-1", "energy_import")
	if len(got) != 3 || got[base.Add(time.Minute)] != 5 || got[base.Add(2*time.Minute)] != 10 || got[base.Add(3*time.Minute)] != 21 {
		t.Fatalf("stored %v, want 3 rows: 5, 10, 21", got)
	}
	var earliest time.Time
	if err := e.pool.QueryRow(context.Background(), `SELECT earliest FROM rollup_invalidations`).Scan(&earliest); err != nil || !earliest.Equal(base.Add(time.Minute)) {
		t.Fatalf("invalidation from %v (err %v), want %v: readings an hour old are behind the 30m horizon", earliest, err, base.Add(time.Minute))
	}
}

func TestIngestFollowsSourceChanges(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	e.createSource("M-1", "meter")
	row := func(src string) []byte {
		return []byte(fmt.Sprintf(`{"readings":[{"source":%q,"metric":"power_import","time":%q,"value":1}]}`, src, ts(0)))
	}
	accepted(t, e.post("/v1/readings", "application/json", "", row("M-1")), 1)
	c := client{e.t, e.base, e.key}
	list := c.do("GET", "/v1/sources?external_id=M-1", "")
	id := list.Body["data"].([]any)[0].(map[string]any)["id"].(string)
	expect(t, "rename", c.do("PATCH", "/v1/sources/"+id, `{"external_id":"M-1b"}`), 200, "")

	r := e.post("/v1/readings", "application/json", "", row("M-1"))
	if codes := rejectedCodes(r); r.Status != 400 || codes[0] != "UNKNOWN_SOURCE" {
		t.Fatalf("old name after rename: %d %v", r.Status, r.Body)
	}
	accepted(t, e.post("/v1/readings", "application/json", "", row("M-1b")), 1)
	accepted(t, e.post("/v1/readings", "application/json", "", row(id)), 1)

	expect(t, "delete", c.do("DELETE", "/v1/sources/"+id, ""), 204, "")
	if r := e.post("/v1/readings", "application/json", "", row("M-1b")); rejectedCodes(r)[0] != "UNKNOWN_SOURCE" {
		t.Fatalf("deleted source: %d %v", r.Status, r.Body)
	}
}

func TestIngestAutoRegistration(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	tenant := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "fleet", "--auto-register"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", tenant, "--scopes", "ingest,read"))
	m := startServer(t, dbURL)
	e := ingestEnv{t: t, base: "http://" + m.Addr(), key: key}
	accepted(t, e.post("/v1/readings", "application/json", "", []byte(fmt.Sprintf(
		`{"readings":[{"source":"NEW-1","metric":"power_import","time":%q,"value":1}]}`, ts(0)))), 1)
	got := client{t, e.base, key}.do("GET", "/v1/sources?external_id=NEW-1", "")
	if list, _ := got.Body["data"].([]any); len(list) != 1 || list[0].(map[string]any)["kind"] != "meter" {
		t.Fatalf("auto-registered source: %v", got.Body)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	e.createSource("M-1", "meter")
	accepted(t, e.post("/v1/readings", "application/json", "", []byte(fmt.Sprintf(
		`{"readings":[{"source":"M-1","metric":"power_import","time":%q,"value":1},{"source":"x","metric":"power_import","time":%q,"value":1}]}`, ts(0), ts(0)))), 1)
	res, err := http.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{
		`gridmetrics_ingest_rows_total{reason="",result="accepted"} 1`,
		`gridmetrics_ingest_rows_total{reason="UNKNOWN_SOURCE",result="rejected"} 1`,
		"gridmetrics_ingest_batch_rows_bucket", "gridmetrics_ingest_commit_seconds_bucket",
		"gridmetrics_ingest_queue_rows", "gridmetrics_ingest_merge_conflicts_total", "go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestIngestOCPP(t *testing.T) {
	t.Parallel()
	e := newAutoRegisterEnv(t)
	at := base.Format(time.RFC3339)

	// OCPP 1.6 MeterValues.req: a transaction's begin sample, then a
	// periodic sample with per-phase current and no total.
	v16 := fmt.Sprintf(`{"connectorId":2,"transactionId":4711,"meterValue":[
		{"timestamp":%q,"sampledValue":[{"value":"1234.5","context":"Transaction.Begin","unit":"Wh"}]},
		{"timestamp":%q,"sampledValue":[
			{"value":"1.2345","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"kWh"},
			{"value":"11.04","measurand":"Power.Active.Import","unit":"kW"},
			{"value":"16.1","measurand":"Current.Import","phase":"L1","unit":"A"},
			{"value":"16.0","measurand":"Current.Import","phase":"L2","unit":"A"},
			{"value":"15.9","measurand":"Current.Import","phase":"L3","unit":"A"},
			{"value":"MIIB...","format":"SignedData","measurand":"Energy.Active.Import.Register"}]}]}`, at, ts(time.Minute))
	r := e.post("/v1/ocpp/CB-0042/meter-values", "application/json", "", []byte(v16))
	accepted(t, r, 6)
	if codes := rejectedCodes(r); codes[6] != "SIGNED_DATA" || len(codes) != 1 {
		t.Fatalf("rejections %v, want SIGNED_DATA for index 6", codes)
	}
	energy := e.values("CB-0042/2", "energy_import")
	if energy[base] != 1234.5 || energy[base.Add(time.Minute)] != 1234.5 {
		t.Fatalf("energy %v, want 1234.5 Wh twice (kWh normalised)", energy)
	}
	if p := e.values("CB-0042/2", "power_import")[base.Add(time.Minute)]; p != 11040 {
		t.Fatalf("power %v, want 11040 W", p)
	}
	if c := e.values("CB-0042/2", "current_import_l3")[base.Add(time.Minute)]; c != 15.9 {
		t.Fatalf("current L3 %v, want 15.9", c)
	}

	// OCPP 2.0.1 MeterValuesRequest on EVSE 1, with a unit multiplier.
	v201 := fmt.Sprintf(`{"evseId":1,"meterValue":[{"timestamp":%q,"sampledValue":[
		{"value":2.5,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh","multiplier":3}},
		{"value":80,"measurand":"SoC","location":"EV","unitOfMeasure":{"unit":"Percent"}}]}]}`, at)
	accepted(t, e.post("/v1/ocpp/CB-0042/meter-values", "application/json", "", []byte(v201)), 2)
	if v := e.values("CB-0042/1", "energy_import")[base]; v != 2500 {
		t.Fatalf("2.0.1 energy %v, want 2500 Wh", v)
	}

	// The charge box and its connectors were registered on first sight.
	c := client{t, e.base, e.key}
	box := c.do("GET", "/v1/sources?external_id=CB-0042", "")
	boxID := box.Body["data"].([]any)[0].(map[string]any)["id"]
	for _, conn := range []string{"CB-0042/1", "CB-0042/2"} {
		got := c.do("GET", "/v1/sources?external_id="+conn, "").Body["data"].([]any)
		if len(got) != 1 || got[0].(map[string]any)["kind"] != "connector" || got[0].(map[string]any)["parent"] != boxID {
			t.Fatalf("%s: %v, want a connector under %v", conn, got, boxID)
		}
	}
	expect(t, "not OCPP", e.post("/v1/ocpp/CB-0042/meter-values", "application/json", "", []byte(`{"meterValue":[]}`)), 400, "VALIDATION_ERROR")
}

// rejectedTotal reads rejected_total from an answer or from the details of
// its error.
func rejectedTotal(r response) int {
	if d := r.data(); d != nil {
		n, _ := d["rejected_total"].(float64)
		return int(n)
	}
	e, _ := r.Body["error"].(map[string]any)
	d, _ := e["details"].(map[string]any)
	n, _ := d["rejected_total"].(float64)
	return int(n)
}

// TestIngestBoundsRejections sends a body as large as ingest takes, every
// row of it invalid (half refused by the decoder, half by validation), and
// checks the answer lists a bounded number of them and counts all.
func TestIngestBoundsRejections(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	e.createSource("M-1", "meter")
	var body bytes.Buffer
	body.WriteString("source,metric,time,value\n")
	rows := 0
	for ; body.Len() < 16<<20-100; rows++ {
		if rows%2 == 0 {
			fmt.Fprintf(&body, "M-1,power_import,not-a-time,%d\n", rows)
		} else {
			fmt.Fprintf(&body, "nope,power_import,%s,%d\n", ts(time.Duration(rows)*time.Millisecond), rows)
		}
	}
	r := e.post("/v1/readings", "text/csv", "", body.Bytes())
	expect(t, "16 MiB of invalid rows", r, 400, "VALIDATION_ERROR")
	codes := rejectedCodes(r)
	if len(codes) != 1000 || rejectedTotal(r) != rows {
		t.Fatalf("%d rows rejected: %d listed, rejected_total %d; want 1000 listed and %d in all", rows, len(codes), rejectedTotal(r), rows)
	}
	if codes[0] != "MALFORMED_ROW" || codes[1] != "UNKNOWN_SOURCE" || codes[999] != "UNKNOWN_SOURCE" {
		t.Fatalf("the first rows listed: 0 %s, 1 %s, 999 %s; want the first 1000 by index", codes[0], codes[1], codes[999])
	}
	if !strings.Contains(fmt.Sprint(r.Body["error"]), fmt.Sprint(rows)) {
		t.Fatalf("the message does not count the rows: %v", r.Body["error"])
	}

	// With some rows valid the answer is a 200, bounded the same way.
	body.Reset()
	body.WriteString("source,metric,time,value\n")
	fmt.Fprintf(&body, "M-1,power_import,%s,1\n", ts(0))
	for i := range 5000 {
		fmt.Fprintf(&body, "M-1,power_import,%s,NaN\n", ts(time.Duration(i)*time.Millisecond))
	}
	r = e.post("/v1/readings", "text/csv", "", body.Bytes())
	accepted(t, r, 1)
	if n := len(r.data()["rejected"].([]any)); n != 1000 || rejectedTotal(r) != 5000 {
		t.Fatalf("%d listed, rejected_total %d; want 1000 and 5000", n, rejectedTotal(r))
	}
}

// TestIngestRefusesMoreRowsThanTheQueue checks that a request with more
// valid rows than the ingest queue holds is refused with a 413 naming the
// bound, on every route, rather than being turned away as overloaded for
// ever.
func TestIngestRefusesMoreRowsThanTheQueue(t *testing.T) {
	t.Parallel()
	e := newAutoRegisterEnv(t, "--ingest-queue-rows", "100")
	readings := func(valid, invalid int) []byte {
		var rows []string
		for i := range valid + invalid {
			v := "1"
			if i >= valid {
				v = "null"
			}
			rows = append(rows, fmt.Sprintf(`{"source":"M-1","metric":"power_import","time":%q,"value":%s}`, ts(time.Duration(i)*time.Second), v))
		}
		return []byte(`{"readings":[` + strings.Join(rows, ",") + `]}`)
	}
	r := e.post("/v1/readings", "application/json", "", readings(101, 0))
	expect(t, "101 rows for a queue of 100", r, 413, "PAYLOAD_TOO_LARGE")
	if msg := fmt.Sprint(r.Body["error"]); !strings.Contains(msg, "100") {
		t.Fatalf("the answer does not name the bound: %s", msg)
	}
	// Rejected rows do not count against it.
	accepted(t, e.postInvalid("/v1/readings", "application/json", "", readings(100, 50)), 100)

	var samples []string
	for i := range 101 {
		samples = append(samples, fmt.Sprintf(`{"value":"%d","measurand":"Energy.Active.Import.Register"}`, i))
	}
	var mvs []string
	for i, s := range samples {
		mvs = append(mvs, fmt.Sprintf(`{"timestamp":%q,"sampledValue":[%s]}`, ts(time.Duration(i)*time.Second), s))
	}
	ocpp := fmt.Sprintf(`{"connectorId":1,"meterValue":[%s]}`, strings.Join(mvs, ","))
	expect(t, "101 OCPP values for a queue of 100", e.post("/v1/ocpp/CB-1/meter-values", "application/json", "", []byte(ocpp)), 413, "PAYLOAD_TOO_LARGE")
}

// TestIngestKeepsRollupHistory: a reading older than the raw retention
// (a charger whose clock reset) is refused, so it cannot make the rollups
// re-aggregate buckets whose raw readings retention already deleted.
func TestIngestKeepsRollupHistory(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t, "--raw-retention", "24h", "--rollup-invalidation-spec", "@every 1s",
		"--rollup-spec-15m", "@every 1s", "--rollup-spec-1h", "@every 1s", "--rollup-spec-1d", "@every 1s")
	e.createSource("M-1", "meter")
	ctx := context.Background()
	old := time.Now().UTC().Truncate(24 * time.Hour).Add(-72 * time.Hour)
	_, err := e.pool.Exec(ctx, `INSERT INTO readings (time, source_id, metric, value)
		SELECT $1::timestamptz + i * interval '15 minutes', s.id, m.id, 1000 + i
		FROM generate_series(0, 95) i, sources s, metrics m WHERE s.external_id = 'M-1' AND m.name = 'energy_import'`, old)
	if err != nil {
		t.Fatal(err)
	}
	count := func() (rollups, raw, invalidations int) {
		t.Helper()
		err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM rollup_15m WHERE bucket < $1), (SELECT count(*) FROM readings WHERE time < $1),
			(SELECT count(*) FROM rollup_invalidations)`, old.Add(24*time.Hour)).Scan(&rollups, &raw, &invalidations)
		if err != nil {
			t.Fatal(err)
		}
		return rollups, raw, invalidations
	}
	// A backfill builds the rollups of the readings written behind the
	// jobs' back, once the jobs have refreshed each tier a first time.
	for deadline := time.Now().Add(20 * time.Second); ; {
		cli(t, e.dbURL, "rollup", "backfill", "--from", old.Format(time.RFC3339), "--to", old.Add(24*time.Hour).Format(time.RFC3339))
		n, _, _ := count()
		if n == 96 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows in rollup_15m after the backfill, want 96", n)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// Retention drops the raw readings (as its job would, here at once).
	if _, err := e.pool.Exec(ctx, `DELETE FROM readings WHERE time < $1`, time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}

	body := fmt.Sprintf(`{"readings":[
		{"source":"M-1","metric":"energy_import","time":"2001-01-01T00:00:00Z","value":1},
		{"source":"M-1","metric":"energy_import","time":%q,"value":1},
		{"source":"M-1","metric":"energy_import","time":%q,"value":5000}]}`, old.Add(time.Hour).Format(time.RFC3339), ts(0))
	r := e.post("/v1/readings", "application/json", "", []byte(body))
	accepted(t, r, 1)
	if codes := rejectedCodes(r); codes[0] != "TIME_TOO_OLD" || codes[1] != "TIME_TOO_OLD" || len(codes) != 2 {
		t.Fatalf("rejections %v, want TIME_TOO_OLD for rows 0 and 1", codes)
	}
	msg := r.data()["rejected"].([]any)[0].(map[string]any)["message"].(string)
	if !strings.Contains(msg, "raw retention of 1d") || !strings.Contains(msg, "before "+time.Now().UTC().Add(-24*time.Hour).Format("2006-01-02")) {
		t.Fatalf("message %q does not name the retention and its bound", msg)
	}

	// The invalidation job runs every second: give it a few runs.
	time.Sleep(3 * time.Second)
	if n, raw, inv := count(); n != 96 || raw != 0 || inv != 0 {
		t.Fatalf("%d rows in rollup_15m (want 96), %d old raw readings, %d invalidations pending", n, raw, inv)
	}
}

// TestIngestOCPPAutoRegistration checks that OCPP routes register charge
// boxes and connectors only for tenants that allow it, at most
// ocpp-max-connectors per box, and that a refused source fails only its
// own rows.
func TestIngestOCPPAutoRegistration(t *testing.T) {
	t.Parallel()
	mv := func(connector int) []byte {
		return []byte(fmt.Sprintf(`{"connectorId":%d,"meterValue":[{"timestamp":%q,"sampledValue":[{"value":"10"}]}]}`, connector, ts(0)))
	}
	sourcesNamed := func(e ingestEnv, externalID string) []any {
		list, _ := client{e.t, e.base, e.key}.do("GET", "/v1/sources?external_id="+externalID, "").Body["data"].([]any)
		return list
	}

	t.Run("off", func(t *testing.T) {
		t.Parallel()
		e := newIngestEnv(t)
		r := e.post("/v1/ocpp/CB-9/meter-values", "application/json", "", mv(1))
		expect(t, "unknown box", r, 400, "VALIDATION_ERROR")
		if codes := rejectedCodes(r); codes[0] != "UNKNOWN_SOURCE" {
			t.Fatalf("rejections %v, want UNKNOWN_SOURCE", codes)
		}
		if got := sourcesNamed(e, "CB-9"); len(got) != 0 {
			t.Fatalf("the box was registered for a tenant without auto-registration: %v", got)
		}
	})

	t.Run("connector cap", func(t *testing.T) {
		t.Parallel()
		e := newAutoRegisterEnv(t, "--ocpp-max-connectors", "2")
		accepted(t, e.post("/v1/ocpp/CB-1/meter-values", "application/json", "", mv(1)), 1)
		accepted(t, e.post("/v1/ocpp/CB-1/meter-values", "application/json", "", mv(2)), 1)
		r := e.post("/v1/ocpp/CB-1/meter-values", "application/json", "", mv(3))
		expect(t, "a third connector", r, 400, "VALIDATION_ERROR")
		if codes := rejectedCodes(r); codes[0] != "TOO_MANY_CONNECTORS" {
			t.Fatalf("rejections %v, want TOO_MANY_CONNECTORS", codes)
		}
		if got := sourcesNamed(e, "CB-1/3"); len(got) != 0 {
			t.Fatalf("the third connector was registered: %v", got)
		}
		// The box's own meter and the known connectors still take readings.
		accepted(t, e.post("/v1/ocpp/CB-1/meter-values", "application/json", "", mv(0)), 1)
		accepted(t, e.post("/v1/ocpp/CB-1/meter-values", "application/json", "", mv(2)), 1)
	})

	t.Run("one invalid source", func(t *testing.T) {
		t.Parallel()
		e := newAutoRegisterEnv(t)
		body := fmt.Sprintf(`{"readings":[
			{"source":"M-good","metric":"power_import","time":%q,"value":1},
			{"source":"M-\u0007bell","metric":"power_import","time":%q,"value":1},
			{"source":"M-also-good","metric":"power_import","time":%q,"value":1}]}`, ts(0), ts(0), ts(0))
		r := e.post("/v1/readings", "application/json", "", []byte(body))
		accepted(t, r, 2)
		if codes := rejectedCodes(r); codes[1] != "INVALID_SOURCE" || len(codes) != 1 {
			t.Fatalf("rejections %v, want INVALID_SOURCE for row 1 alone", codes)
		}
	})
}
