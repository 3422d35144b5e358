package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/gridmetrics/gridmetrics/rollups"
)

// get fetches a path with an Accept header (may be empty).
func (e ingestEnv) get(path, accept string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	return res.StatusCode, res.Header, body
}

// getJSON fetches a path and decodes the envelope, failing unless 200.
func (e ingestEnv) getJSON(path string) map[string]any {
	e.t.Helper()
	status, _, body := e.get(path, "")
	if status != 200 {
		e.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		e.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return doc
}

// table is a decoded answer: column names and rows of strings (times in
// RFC 3339 UTC, numbers as Go formats them, "" for null), so that JSON,
// CSV and Arrow answers can be compared directly.
type table struct {
	cols []string
	rows [][]string
}

func canonTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "bad time " + s
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func canonNumber(s string) string {
	if s == "" {
		return ""
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func canon(col, v string) string {
	switch {
	case col == "time" || col == "end":
		return canonTime(v)
	case col == "quality" || col == "source":
		return v
	}
	return canonNumber(v)
}

func jsonTable(t *testing.T, body []byte, cols []string) table {
	t.Helper()
	var doc struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := table{cols: cols}
	for _, r := range doc.Data {
		var row []string
		for _, c := range cols {
			switch v := r[c].(type) {
			case nil:
				row = append(row, "")
			case float64:
				row = append(row, canon(c, strconv.FormatFloat(v, 'g', -1, 64)))
			case string:
				row = append(row, canon(c, v))
			default:
				t.Fatalf("column %s: %T", c, v)
			}
		}
		out.rows = append(out.rows, row)
	}
	return out
}

func csvTable(t *testing.T, body []byte) table {
	t.Helper()
	lines, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(lines) == 0 {
		t.Fatalf("csv: %v: %s", err, body)
	}
	out := table{cols: lines[0]}
	for _, l := range lines[1:] {
		row := make([]string, len(l))
		for i, v := range l {
			row[i] = canon(out.cols[i], v)
		}
		out.rows = append(out.rows, row)
	}
	return out
}

func arrowTable(t *testing.T, body []byte) table {
	t.Helper()
	rd, err := ipc.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("arrow: %v", err)
	}
	defer rd.Release()
	var out table
	for _, f := range rd.Schema().Fields() {
		out.cols = append(out.cols, f.Name)
	}
	for rd.Next() {
		rec := rd.Record()
		for r := 0; r < int(rec.NumRows()); r++ {
			row := make([]string, rec.NumCols())
			for c := 0; c < int(rec.NumCols()); c++ {
				col := rec.Column(c)
				if col.IsNull(r) {
					continue
				}
				switch a := col.(type) {
				case *array.Timestamp:
					row[c] = time.UnixMicro(int64(a.Value(r))).UTC().Format(time.RFC3339Nano)
				case *array.Float64:
					row[c] = strconv.FormatFloat(a.Value(r), 'g', -1, 64)
				case *array.Int64:
					row[c] = strconv.FormatInt(a.Value(r), 10)
				case *array.String:
					row[c] = a.Value(r)
				default:
					t.Fatalf("arrow column %s: %T", out.cols[c], col)
				}
			}
			out.rows = append(out.rows, row)
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// formatsAgree fetches path as JSON, CSV (by Accept) and Arrow (by
// format=) and asserts the three tables are equal; it returns the table.
func (e ingestEnv) formatsAgree(path string) table {
	e.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	status, h, body := e.get(path, "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		e.t.Fatalf("GET %s: %d %s: %s", path, status, h.Get("Content-Type"), body)
	}
	status, h, csvBody := e.get(path, "text/csv")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
		e.t.Fatalf("GET %s as CSV: %d %s: %s", path, status, h.Get("Content-Type"), csvBody)
	}
	c := csvTable(e.t, csvBody)
	status, h, arrowBody := e.get(path+sep+"format=arrow", "")
	if status != 200 || h.Get("Content-Type") != "application/vnd.apache.arrow.stream" {
		e.t.Fatalf("GET %s as Arrow: %d %s: %s", path, status, h.Get("Content-Type"), arrowBody)
	}
	a := arrowTable(e.t, arrowBody)
	j := jsonTable(e.t, body, c.cols)
	if fmt.Sprint(a.cols) != fmt.Sprint(c.cols) {
		e.t.Fatalf("%s: arrow columns %v, csv %v", path, a.cols, c.cols)
	}
	if fmt.Sprint(j.rows) != fmt.Sprint(c.rows) || fmt.Sprint(a.rows) != fmt.Sprint(c.rows) {
		e.t.Fatalf("%s: formats disagree\njson  %v\ncsv   %v\narrow %v", path, head(j.rows), head(c.rows), head(a.rows))
	}
	return j
}

func head(rows [][]string) [][]string { return rows[:min(len(rows), 5)] }

func (e ingestEnv) createSourceJSON(body string) string {
	e.t.Helper()
	r := client{e.t, e.base, e.key}.do("POST", "/v1/sources", body)
	expect(e.t, "create source", r, 201, "")
	return r.data()["id"].(string)
}

// seriesBody is a compact-series ingest body of one source's metric.
func seriesBody(source, metric, unit string, times []time.Time, values []float64) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"series":[{"source":%q,"metric":%q,"unit":%q,"points":[`, source, metric, unit)
	for i := range times {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `[%q,%g]`, times[i].Format(time.RFC3339), values[i])
	}
	b.WriteString("]}]}")
	return []byte(b.String())
}

func q(params ...string) string {
	v := url.Values{}
	for i := 0; i < len(params); i += 2 {
		v.Set(params[i], params[i+1])
	}
	return "?" + v.Encode()
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return f
}

func closeTo(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestQueryEndToEnd ingests four days of a London meter over HTTP — a
// register that grows 100 Wh every 5 minutes (1.2 kWh an hour) and
// restarts once, power at 1.2 kW with one 5 kW spike — across the fall
// back of 2025-10-26, builds the rollup tiers, and queries it.
func TestQueryEndToEnd(t *testing.T) {
	t.Parallel()
	// The test builds the tiers itself, with a fixed clock: the server's own
	// rollup jobs (real clock, retention) stay off, and so does the raw
	// retention that would refuse readings of fixed dates long past.
	e := newIngestEnv(t, "--rollup-jobs=false", "--raw-retention=-1h")
	london, _ := time.LoadLocation("Europe/London")
	meter := e.createSourceJSON(`{"external_id":"M-1","kind":"meter","site_id":"depot","timezone":"Europe/London"}`)
	charger := e.createSourceJSON(`{"external_id":"CB-1","kind":"charger","site_id":"depot","timezone":"Europe/London"}`)

	start, end := time.Date(2025, 10, 24, 0, 0, 0, 0, london), time.Date(2025, 10, 28, 0, 0, 0, 0, london)
	reset := time.Date(2025, 10, 27, 12, 0, 0, 0, london)
	spike := time.Date(2025, 10, 25, 18, 30, 0, 0, london)
	var times []time.Time
	var register, power []float64
	reg := 10_000.0
	for at := start; !at.After(end); at = at.Add(5 * time.Minute) {
		switch {
		case at.Equal(start):
		case at.Equal(reset):
			reg = 50 // the counter restarted: +50 Wh in this stretch, not +100
		default:
			reg += 100
		}
		p := 1200.0
		if at.Equal(spike) {
			p = 5000
		}
		times, register, power = append(times, at), append(register, reg), append(power, p)
	}
	accepted(t, e.post("/v1/readings", "application/json", "", seriesBody("M-1", "energy_import", "Wh", times, register)), len(times))
	accepted(t, e.post("/v1/readings", "application/json", "", seriesBody("M-1", "power_import", "kW", times, divide(power, 1000))), len(times))
	// The charger reports 3 kW every minute while charging, 10:00–12:00 on the 25th.
	var ct []time.Time
	var cp []float64
	for at := time.Date(2025, 10, 25, 10, 0, 0, 0, london); !at.After(time.Date(2025, 10, 25, 12, 0, 0, 0, london)); at = at.Add(time.Minute) {
		ct, cp = append(ct, at), append(cp, 3000)
	}
	accepted(t, e.post("/v1/readings", "application/json", "", seriesBody("CB-1", "power_import", "W", ct, cp)), len(ct))

	// Build the tiers as the rollup jobs would, a day after the data, and
	// re-aggregate the late-data records that ingest wrote for it.
	runner := rollups.NewRunner(e.pool, rollups.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), rollups.NewMetrics(nil))
	runner.Now = func() time.Time { return end.Add(24 * time.Hour) }
	for _, tier := range rollups.Tiers {
		if err := runner.Refresh(context.Background(), tier); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runner.ApplyInvalidations(context.Background()); err != nil {
		t.Fatal(err)
	}

	from, to := start.Format(time.RFC3339), end.Format(time.RFC3339)

	t.Run("energy per local day", func(t *testing.T) {
		e := e.with(t)
		// 24 h × 1.2 kWh = 28.8; the fall-back day has 25 h: 30; the last
		// day loses 50 Wh to the restart: 28.75. All measured edge to edge.
		path := "/v1/sources/" + meter + "/energy" + q("from", from, "to", to, "bucket", "1d", "tz", "Europe/London")
		got := e.formatsAgree(path)
		want := []float64{28.8, 28.8, 30, 28.75}
		if len(got.rows) != 4 {
			t.Fatalf("rows %v", got.rows)
		}
		for i, w := range want {
			if v := num(t, got.rows[i][2]); !closeTo(v, w) || got.rows[i][4] != "complete" || got.rows[i][3] != "" {
				t.Errorf("day %d: %v", i, got.rows[i])
			}
		}
		if got.rows[2][0] != "2025-10-25T23:00:00Z" || got.rows[2][1] != "2025-10-27T00:00:00Z" {
			t.Errorf("the fall-back day runs %s to %s", got.rows[2][0], got.rows[2][1])
		}
		doc := e.getJSON(path)
		meta := doc["meta"].(map[string]any)
		if meta["import_method"] != "counter" || meta["export_method"] != "none" || !closeTo(meta["total_import_kwh"].(float64), 116.35) ||
			!strings.Contains(fmt.Sprint(meta["tiers"]), "1h") || meta["request_id"] == "" {
			t.Fatalf("meta %v", meta)
		}
		raw := jsonTable(t, mustBody(e, path+"&tier=raw"), got.cols)
		if fmt.Sprint(raw.rows) != fmt.Sprint(got.rows) {
			t.Fatalf("raw-only answer differs:\n%v\n%v", raw.rows, got.rows)
		}
	})

	t.Run("downsampled hourly from the tiers", func(t *testing.T) {
		e := e.with(t)
		path := "/v1/sources/" + meter + "/readings" + q("metric", "power_import", "from", from, "to", to, "bucket", "1h",
			"tz", "Europe/London", "agg", "avg,max,count,twa")
		got := e.formatsAgree(path)
		if len(got.rows) != 4*24+1 || fmt.Sprint(got.cols) != "[time avg max count twa]" {
			t.Fatalf("%d rows, columns %v", len(got.rows), got.cols)
		}
		for _, r := range got.rows {
			if r[3] != "12" {
				t.Fatalf("hour %v: count %s, want 12", r[0], r[3])
			}
		}
		_, h, _ := e.get(path, "")
		if h.Get("X-Gridmetrics-Tiers") != "1h,raw" && h.Get("X-Gridmetrics-Tiers") != "1h" {
			t.Errorf("tiers %q, want the hourly tier", h.Get("X-Gridmetrics-Tiers"))
		}
		raw := jsonTable(t, mustBody(e, path+"&tier=raw"), got.cols)
		for i := range raw.rows {
			for j := 1; j < len(raw.cols); j++ {
				if !closeTo(num(t, raw.rows[i][j]), num(t, got.rows[i][j])) {
					t.Fatalf("row %d %s: raw %s, tiers %s", i, raw.cols[j], raw.rows[i][j], got.rows[i][j])
				}
			}
		}
		// Daily in UTC uses the daily tier.
		_, h, _ = e.get("/v1/sources/"+meter+"/readings"+q("metric", "power_import", "from", "2025-10-24T00:00:00Z", "to", "2025-10-27T00:00:00Z",
			"bucket", "1d", "tz", "UTC", "agg", "max"), "")
		if h.Get("X-Gridmetrics-Tiers") != "1d" {
			t.Errorf("daily UTC tiers %q, want 1d", h.Get("X-Gridmetrics-Tiers"))
		}
	})

	t.Run("raw readings with a cursor", func(t *testing.T) {
		e := e.with(t)
		base := "/v1/sources/" + meter + "/readings" + q("metric", "energy_import", "from", from, "to", to, "limit", "500")
		first := e.formatsAgree(base)
		if len(first.rows) != 500 {
			t.Fatalf("first page %d rows", len(first.rows))
		}
		var all [][]string
		path := base
		for pages := 0; ; pages++ {
			doc := e.getJSON(path)
			page := jsonTable(t, mustBody(e, path), []string{"time", "value"})
			all = append(all, page.rows...)
			_, h, _ := e.get(path, "text/csv")
			p := doc["pagination"].(map[string]any)
			next, _ := p["next_cursor"].(string)
			if h.Get("X-Next-Cursor") != next || p["limit"].(float64) != 500 {
				t.Fatalf("page %d: pagination %v, header cursor %q", pages, p, h.Get("X-Next-Cursor"))
			}
			if next == "" {
				break
			}
			path = base + "&cursor=" + url.QueryEscape(next)
		}
		// The range is [from, to): the sample at `to` is not in it.
		if len(all) != len(times)-1 || all[0][0] != canonTime(from) || num(t, all[len(all)-1][1]) != register[len(register)-2] {
			t.Fatalf("paged %d readings, want %d", len(all), len(times)-1)
		}
	})

	t.Run("stats", func(t *testing.T) {
		e := e.with(t)
		doc := e.getJSON("/v1/sources/" + meter + "/stats" + q("from", from, "to", to))
		d := doc["data"].(map[string]any)
		peakAt, _ := time.Parse(time.RFC3339, d["peak_time"].(string))
		if d["peak_power_w"].(float64) != 5000 || !peakAt.Equal(spike) || !closeTo(d["energy_kwh"].(float64), 116.35) ||
			d["energy_method"] != "counter" || d["sample_count"].(float64) != float64(2*(len(times)-1)) || d["completeness"].(float64) != 1 {
			t.Fatalf("stats %v", d)
		}
		// 116.35 kWh over 97 h is 1199.4845… W on average (answered to the
		// mW); over a 5 kW peak, 0.2398969… (to 1e-6).
		if d["average_power_w"].(float64) != 1199.485 || d["load_factor"].(float64) != 0.239897 {
			t.Fatalf("average %v, load factor %v", d["average_power_w"], d["load_factor"])
		}
	})

	t.Run("site energy", func(t *testing.T) {
		e := e.with(t)
		path := "/v1/sites/depot/energy" + q("from", from, "to", to, "bucket", "1d", "breakdown", "true")
		doc := e.getJSON(path)
		rows := doc["data"].([]any)
		day2 := rows[1].(map[string]any)
		// The meter's 28.8 kWh and the charger's 3 kW for 2 h.
		if len(rows) != 4 || !closeTo(day2["import_kwh"].(float64), 28.8+6) || len(day2["sources"].([]any)) != 2 {
			t.Fatalf("site rows %v", rows)
		}
		if meta := doc["meta"].(map[string]any); meta["tz"] != "Europe/London" || len(meta["sources"].([]any)) != 2 {
			t.Fatalf("site meta %v", meta)
		}
		// Without breakdown all formats carry the totals; with it, JSON nests
		// each source in its bucket while CSV and Arrow go long: a row per
		// bucket and source.
		totals := e.formatsAgree("/v1/sites/depot/energy" + q("from", from, "to", to, "bucket", "1d"))
		if len(totals.rows) != 4 || !closeTo(num(t, totals.rows[1][2]), 34.8) {
			t.Fatalf("site totals %v", totals.rows)
		}
		_, _, csvBody := e.get(path, "text/csv")
		_, _, arrowBody := e.get(path+"&format=arrow", "")
		long, longArrow := csvTable(t, csvBody), arrowTable(t, arrowBody)
		if len(long.rows) != 8 || fmt.Sprint(long.cols) != "[source time end import_kwh export_kwh quality]" || fmt.Sprint(long.rows) != fmt.Sprint(longArrow.rows) {
			t.Fatalf("breakdown as CSV: %v %v\nas Arrow: %v", long.cols, long.rows, longArrow.rows)
		}
	})

	t.Run("latest", func(t *testing.T) {
		e := e.with(t)
		doc := e.getJSON("/v1/readings/latest" + q("source", meter+","+charger, "metric", "power_import"))
		list := doc["data"].([]any)
		if len(list) != 2 {
			t.Fatalf("latest %v", list)
		}
		for _, x := range list {
			m := x.(map[string]any)
			at, _ := time.Parse(time.RFC3339, m["time"].(string))
			if m["source"] == meter && (!at.Equal(end) || m["value"].(float64) != 1200 || m["unit"] != "W") {
				t.Fatalf("meter latest %v", m)
			}
		}
	})

	t.Run("validation", func(t *testing.T) {
		e := e.with(t)
		readings := "/v1/sources/" + meter + "/readings"
		tests := []struct {
			name, path, want string
		}{
			{"from after to", readings + q("metric", "power_import", "from", to, "to", from), "to: must be after from"},
			{"from missing", readings + q("metric", "power_import", "to", to), "from: is required"},
			{"bad time", readings + q("metric", "power_import", "from", "yesterday", "to", to), "RFC 3339"},
			{"unknown metric", readings + q("metric", "happiness", "from", from, "to", to), `metric: "happiness" is not in the catalogue`},
			{"unknown bucket", readings + q("metric", "power_import", "from", from, "to", to, "bucket", "2h"), `bucket: "2h" is not a bucket`},
			{"unknown zone", readings + q("metric", "power_import", "from", from, "to", to, "bucket", "1h", "tz", "Mars/Olympus"), "tz:"},
			{"abbreviated zone", readings + q("metric", "power_import", "from", from, "to", to, "bucket", "1h", "tz", "CET"), "IANA"},
			{"unknown agg", readings + q("metric", "power_import", "from", from, "to", to, "bucket", "1h", "agg", "median"), `agg: "median"`},
			{"unknown fill", readings + q("metric", "power_import", "from", from, "to", to, "bucket", "1h", "fill", "zero"), "fill:"},
			{"too many points", readings + q("metric", "power_import", "from", from, "to", "2025-11-24T00:00:00Z", "bucket", "1m"), "use a coarser bucket"},
			{"limit over the maximum", readings + q("metric", "power_import", "from", from, "to", to, "limit", "20000"), "next_cursor"},
			{"bad cursor", readings + q("metric", "power_import", "from", from, "to", to, "cursor", "nonsense!"), "cursor: malformed"},
			{"cursor of another series", readings + q("metric", "power_import", "from", from, "to", to, "cursor", "eyJzIjoic3JjX3giLCJtIjoicG93ZXJfaW1wb3J0IiwidCI6MX0"), "another series"},
			{"unknown parameter", readings + q("metric", "power_import", "from", from, "to", to, "bukket", "1h"), "bukket: unknown parameter"},
			{"unknown format", readings + q("metric", "power_import", "from", from, "to", to, "format", "xml"), "format:"},
			{"tier other than raw", readings + q("metric", "power_import", "from", from, "to", to, "tier", "1h"), "tier:"},
			{"energy too many buckets", "/v1/sources/" + meter + "/energy" + q("from", from, "to", "2026-10-24T00:00:00Z", "bucket", "1m"), "coarser bucket"},
			{"stats as csv", "/v1/sources/" + meter + "/stats" + q("from", from, "to", to, "format", "csv"), "JSON only"},
			{"latest without source", "/v1/readings/latest", "source: is required"},
		}
		for _, tt := range tests {
			status, _, body := e.get(tt.path, "")
			var doc struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			_ = json.Unmarshal(body, &doc)
			if status != 400 || doc.Error.Code != "VALIDATION_ERROR" || !strings.Contains(doc.Error.Message, tt.want) {
				t.Errorf("%s: %d %s, want 400 mentioning %q", tt.name, status, body, tt.want)
			}
		}
	})

	t.Run("another tenant sees nothing", func(t *testing.T) {
		e := e.with(t)
		other := tenantID(t, cli(t, e.dbURL, "tenant", "create", "--name", "other"))
		key := strings.TrimSpace(cli(t, e.dbURL, "apikey", "create", "--tenant", other, "--scopes", "read"))
		intruder := client{t, e.base, key}
		for _, path := range []string{
			"/v1/sources/" + meter + "/readings" + q("metric", "power_import", "from", from, "to", to),
			"/v1/sources/" + meter + "/readings" + q("metric", "power_import", "from", from, "to", to, "bucket", "1h"),
			"/v1/sources/" + meter + "/energy" + q("from", from, "to", to),
			"/v1/sources/" + meter + "/stats" + q("from", from, "to", to),
			"/v1/sites/depot/energy" + q("from", from, "to", to),
			"/v1/readings/latest" + q("source", meter),
		} {
			expect(t, path, intruder.do("GET", path, ""), 404, "NOT_FOUND")
		}
	})
}

// with returns the environment reporting to another test (a subtest).
func (e ingestEnv) with(t *testing.T) ingestEnv {
	e.t = t
	return e
}

func divide(v []float64, by float64) []float64 {
	out := make([]float64, len(v))
	for i := range v {
		out[i] = v[i] / by
	}
	return out
}

func mustBody(e ingestEnv, path string) []byte {
	e.t.Helper()
	status, _, body := e.get(path, "")
	if status != 200 {
		e.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	return body
}
