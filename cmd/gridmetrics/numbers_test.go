package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/rollups"
)

// TestAnswersCarryNoFloatNoise stores readings whose float arithmetic
// leaves binary noise — a register read in kWh with 0.1 and 0.2 kWh steps
// (1013.6 kWh, then 1013.7, 1013.9, …; stored ×1000 in Wh), a charger's
// 4.03 kW (4030.0000000000005 W once converted) — and checks that every
// query route answers the decimal figures, to the documented precision,
// in JSON, CSV and Arrow: from raw readings, then from the rollup tiers.
func TestAnswersCarryNoFloatNoise(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t, "--rollup-jobs=false", "--raw-retention=-1h")
	meter := e.createSourceJSON(`{"external_id":"M-N","kind":"meter","site_id":"yard","timezone":"UTC"}`)
	charger := e.createSourceJSON(`{"external_id":"CB-N","kind":"charger","site_id":"yard","timezone":"UTC"}`)

	day := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	var times []time.Time
	var register []float64 // kWh
	var wh []string        // the same, as stored: Wh
	tenths := int64(10136)
	for i := 0; i <= 96; i++ {
		if i > 0 {
			tenths += 1 + int64(i+1)%2 // +0.1, +0.2, …: 0.6 kWh an hour
		}
		times, register = append(times, day.Add(time.Duration(i)*15*time.Minute)), append(register, float64(tenths)/10)
		wh = append(wh, strconv.FormatInt(tenths*100, 10))
	}
	accepted(t, e.post("/v1/readings", "application/json", "", seriesBody("M-N", "energy_import", "kWh", times, register)), len(times))
	var ct []time.Time
	var cp []float64
	for at := day; !at.After(day.Add(24 * time.Hour)); at = at.Add(time.Minute) {
		ct, cp = append(ct, at), append(cp, 4.03) // kW
	}
	accepted(t, e.post("/v1/readings", "application/json", "", seriesBody("CB-N", "power_import", "kW", ct, cp)), len(ct))

	from, to := day.Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339)
	hourly := q("from", from, "to", to, "bucket", "1h")
	check := func(t *testing.T) {
		e := e.with(t)
		// Energy per hour and the day's total, per source and for the site.
		for _, c := range []struct{ path, hour, total string }{
			{"/v1/sources/" + meter + "/energy" + hourly, "0.6", "14.4"},
			{"/v1/sources/" + charger + "/energy" + hourly, "4.03", "96.72"},
			{"/v1/sites/yard/energy" + hourly, "4.63", "111.12"},
		} {
			doc := exactJSON(t, mustBody(e, c.path))
			rows := doc["data"].([]any)
			if len(rows) != 24 {
				t.Fatalf("%s: %d rows", c.path, len(rows))
			}
			for i, r := range rows {
				if got := r.(map[string]any)["import_kwh"]; got != json.Number(c.hour) {
					t.Fatalf("%s: hour %d import_kwh %v, want %s", c.path, i, got, c.hour)
				}
			}
			if got := doc["meta"].(map[string]any)["total_import_kwh"]; got != json.Number(c.total) {
				t.Errorf("%s: total_import_kwh %v, want %s", c.path, got, c.total)
			}
			table := e.formatsAgree(c.path) // CSV and Arrow say what JSON says
			_, _, csvBody := e.get(c.path, "text/csv")
			for i, l := range csvLines(t, csvBody)[1:] {
				if l[2] != c.hour {
					t.Fatalf("%s as CSV: hour %d import_kwh %s, want %s", c.path, i, l[2], c.hour)
				}
			}
			if len(table.rows) != 24 {
				t.Fatalf("%s: %d rows in every format", c.path, len(table.rows))
			}
		}

		// The site's breakdown: each member's part, in JSON and long CSV.
		doc := exactJSON(t, mustBody(e, "/v1/sites/yard/energy"+hourly+"&breakdown=true"))
		for _, r := range doc["data"].([]any) {
			for _, s := range r.(map[string]any)["sources"].([]any) {
				part := s.(map[string]any)
				want := map[any]json.Number{meter: "0.6", charger: "4.03"}[part["source"]]
				if part["import_kwh"] != want {
					t.Fatalf("site part %v, want import_kwh %s", part, want)
				}
			}
		}
		_, _, csvBody := e.get("/v1/sites/yard/energy"+hourly+"&breakdown=true", "text/csv")
		for _, l := range csvLines(t, csvBody)[1:] {
			if want := map[string]string{meter: "0.6", charger: "4.03"}[l[0]]; l[3] != want {
				t.Fatalf("site breakdown as CSV: %v, want import_kwh %s", l, want)
			}
		}

		// Statistics: kWh to the mWh, W to the mW.
		for _, c := range []struct {
			source string
			want   map[string]any
		}{
			{meter, map[string]any{"energy_kwh": json.Number("14.4"), "average_power_w": json.Number("600"), "peak_power_w": nil}},
			{charger, map[string]any{"energy_kwh": json.Number("96.72"), "average_power_w": json.Number("4030"), "peak_power_w": json.Number("4030"),
				"load_factor": json.Number("1"), "completeness": json.Number("1")}},
		} {
			d := exactJSON(t, mustBody(e, "/v1/sources/"+c.source+"/stats"+q("from", from, "to", to)))["data"].(map[string]any)
			for k, want := range c.want {
				if d[k] != want {
					t.Errorf("stats of %s: %s %v, want %v", c.source, k, d[k], want)
				}
			}
		}

		// Downsampled power and the raw readings, in their units.
		path := "/v1/sources/" + charger + "/readings" + q("metric", "power_import", "from", from, "to", to, "bucket", "1h", "agg", "avg,max,twa,first")
		for _, r := range exactJSON(t, mustBody(e, path))["data"].([]any) {
			for _, agg := range []string{"avg", "max", "twa", "first"} {
				if v := r.(map[string]any)[agg]; v != json.Number("4030") {
					t.Fatalf("%s of an hour %v, want 4030", agg, v)
				}
			}
		}
		e.formatsAgree(path)
		path = "/v1/sources/" + charger + "/readings" + q("metric", "power_import", "from", from, "to", to, "limit", "10")
		for _, r := range exactJSON(t, mustBody(e, path))["data"].([]any) {
			if v := r.(map[string]any)["value"]; v != json.Number("4030") {
				t.Fatalf("power reading %v W, want 4030", v)
			}
		}
		e.formatsAgree(path)
		path = "/v1/sources/" + meter + "/readings" + q("metric", "energy_import", "from", from, "to", to)
		for i, r := range exactJSON(t, mustBody(e, path))["data"].([]any) {
			if v, want := r.(map[string]any)["value"], json.Number(wh[i]); v != want {
				t.Fatalf("reading %d: %v Wh, want %s", i, v, want)
			}
		}
		e.formatsAgree(path)
	}

	t.Run("raw readings", check)

	runner := rollups.NewRunner(e.pool, rollups.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), rollups.NewMetrics(nil))
	runner.Now = func() time.Time { return day.Add(72 * time.Hour) }
	for _, tier := range rollups.Tiers {
		if err := runner.Refresh(context.Background(), tier); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runner.ApplyInvalidations(context.Background()); err != nil { // ingest's late-data records
		t.Fatal(err)
	}
	t.Run("rollup tiers", func(t *testing.T) {
		_, h, _ := e.with(t).get("/v1/sources/"+meter+"/energy"+hourly, "")
		if !strings.Contains(h.Get("X-Gridmetrics-Tiers"), "1h") {
			t.Fatalf("tiers %q: the hourly tier did not answer", h.Get("X-Gridmetrics-Tiers"))
		}
		check(t)
	})

	t.Run("latest", func(t *testing.T) {
		d := exactJSON(t, mustBody(e.with(t), "/v1/readings/latest"+q("source", meter+","+charger)))
		for _, x := range d["data"].([]any) {
			m := x.(map[string]any)
			if want := map[string]json.Number{"energy_import": "1028000", "power_import": "4030"}[m["metric"].(string)]; m["value"] != want {
				t.Errorf("latest %v, want value %s", m, want)
			}
		}
	})
}

// exactJSON decodes an answer keeping each number's text.
func exactJSON(t *testing.T, body []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return doc
}

// csvLines splits a CSV answer into its lines' fields, numbers as sent.
func csvLines(t *testing.T, body []byte) [][]string {
	t.Helper()
	lines, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(lines) == 0 {
		t.Fatalf("csv: %v: %s", err, body)
	}
	return lines
}
