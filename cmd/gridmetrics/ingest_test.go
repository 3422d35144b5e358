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
	dbURL := dbtest.NewURL(t)
	tenant := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme"))
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
	req, err := http.NewRequest("POST", e.base+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
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
	r := e.post("/v1/readings", "application/json", "", []byte(body))
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
	e := newIngestEnv(t)
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
