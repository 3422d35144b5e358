package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/rollups"
)

// supplyTOU is a supply tariff in Berlin: ENERGY 0.40/kWh 08:00–20:00 and
// 0.25/kWh otherwise, STANDING 0.60 a day, DEMAND 5.00 per kW of the
// month's peak quarter hour; 19 % VAT on everything.
const supplyTOU = `{"country_code":"DE","party_id":"GMX","id":"sup-1","currency":"EUR","start_date_time":"2026-01-01T00:00:00Z",
  "elements":[
    {"price_components":[{"type":"ENERGY","price":0.40,"vat":19,"step_size":0}],"restrictions":{"start_time":"08:00","end_time":"20:00"}},
    {"price_components":[{"type":"ENERGY","price":0.25,"vat":19,"step_size":0}]},
    {"price_components":[{"type":"STANDING","price":0.60,"vat":19,"step_size":0}]},
    {"price_components":[{"type":"DEMAND","price":5.00,"vat":19,"step_size":0}]}],
  "gridmetrics":{"kind":"supply","timezone":"Europe/Berlin"}}`

// supplyFlat is another supply tariff: ENERGY 0.30/kWh, STANDING 1.00 a day.
const supplyFlat = `{"country_code":"DE","party_id":"GMX","id":"sup-2","currency":"EUR","start_date_time":"2026-01-01T00:00:00Z",
  "elements":[
    {"price_components":[{"type":"ENERGY","price":0.30,"vat":19,"step_size":0}]},
    {"price_components":[{"type":"STANDING","price":1.00,"vat":19,"step_size":0}]}],
  "gridmetrics":{"kind":"supply","timezone":"Europe/Berlin"}}`

// supplyDynamic takes its energy price from the EPEX-DE price feed plus
// 0.10/kWh.
const supplyDynamic = `{"country_code":"DE","party_id":"GMX","id":"dyn-1","currency":"EUR","start_date_time":"2026-01-01T00:00:00Z",
  "elements":[{"price_components":[{"type":"ENERGY","price":0,"vat":19,"step_size":0,
    "gridmetrics":{"price_feed":"EPEX-DE","multiplier":1,"markup":0.10}}]}],
  "gridmetrics":{"kind":"supply","timezone":"Europe/Berlin"}}`

// TestCostEndToEnd ingests two days of two Berlin meters — registers that
// grow 100 Wh every 5 minutes (1.2 kWh an hour, 0.3 kWh a quarter hour)
// with a 6 kW quarter hour at 18:00 on the second day — builds the rollup
// tiers, stores and assigns supply tariffs, and prices them per day and
// per month against figures worked out by hand.
func TestCostEndToEnd(t *testing.T) {
	t.Parallel()
	// Fixed dates long past: the raw retention that would refuse them is off.
	e := newIngestEnv(t, "--rollup-jobs=false", "--raw-retention=-1h")
	c := client{t, e.base, e.key}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	m1 := e.createSourceJSON(`{"external_id":"M-1","kind":"meter","site_id":"depot","timezone":"Europe/Berlin"}`)
	m2 := e.createSourceJSON(`{"external_id":"M-2","kind":"meter","site_id":"depot","timezone":"Europe/Berlin"}`)
	e.createSourceJSON(`{"external_id":"EPEX-DE","kind":"price_feed","timezone":"Europe/Berlin"}`)

	// Monday 2 and Tuesday 3 March 2026 (CET, +01:00).
	day1, day2, end := time.Date(2026, 3, 2, 0, 0, 0, 0, berlin), time.Date(2026, 3, 3, 0, 0, 0, 0, berlin), time.Date(2026, 3, 4, 0, 0, 0, 0, berlin)
	spike := time.Date(2026, 3, 3, 18, 0, 0, 0, berlin)
	var times []time.Time
	var register []float64
	reg := 50_000.0
	for at := day1; !at.After(end); at = at.Add(5 * time.Minute) {
		switch {
		case at.Equal(day1):
		case at.After(spike) && !at.After(spike.Add(15*time.Minute)):
			reg += 500 // 18:00–18:15: 1.5 kWh in the quarter hour, 6 kW
		default:
			reg += 100
		}
		times, register = append(times, at), append(register, reg)
	}
	for _, m := range []string{"M-1", "M-2"} {
		accepted(t, e.post("/v1/readings", "application/json", "", seriesBody(m, "energy_import", "Wh", times, register)), len(times))
	}
	// Hourly prices for the first day: 0.00 at midnight, 0.01 more each hour.
	var pt []time.Time
	var pv []float64
	for h := 0; h < 24; h++ {
		pt, pv = append(pt, day1.Add(time.Duration(h)*time.Hour)), append(pv, float64(h)/100)
	}
	accepted(t, e.post("/v1/readings", "application/json", "", seriesBody("EPEX-DE", "price", "EUR/kWh", pt, pv)), len(pt))

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

	create := func(doc string) string {
		t.Helper()
		r := c.do("POST", "/v1/tariffs", doc)
		expect(t, "create tariff", r, 201, "")
		return r.data()["id"].(string)
	}
	tou, flat, dyn := create(supplyTOU), create(supplyFlat), create(supplyDynamic)
	// M-1: the time-of-use tariff all along. M-2: the same until noon on
	// the 3rd (11:00Z), the flat tariff from then on.
	expect(t, "assign M-1", c.do("POST", "/v1/tariffs/"+tou+"/assignments", `{"source_id":"M-1","valid_from":"2026-03-01T00:00:00Z"}`), 201, "")
	expect(t, "assign M-2", c.do("POST", "/v1/tariffs/"+tou+"/assignments",
		`{"source_id":"M-2","valid_from":"2026-03-01T00:00:00Z","valid_to":"2026-03-03T11:00:00Z"}`), 201, "")
	expect(t, "switch M-2", c.do("POST", "/v1/tariffs/"+flat+"/assignments", `{"source_id":"M-2","valid_from":"2026-03-03T11:00:00Z"}`), 201, "")

	from, to := day1.Format(time.RFC3339), end.Format(time.RFC3339)
	get := func(t *testing.T, path string) map[string]any {
		t.Helper()
		r := c.do("GET", path, "")
		expect(t, "GET "+path, r, 200, "")
		return r.data()
	}
	bucket := func(d map[string]any, i int) any { return d["buckets"].([]any)[i] }

	t.Run("one tariff by day and by month", func(t *testing.T) {
		// 2 March: 28.8 kWh; 08–20 is 14.4 kWh × 0.40 = 5.76, the rest
		// 14.4 × 0.25 = 3.60; STANDING 0.60: 9.96, × 1.19 = 11.8524 → 11.85.
		// 3 March: 28.8 + 1.2 (the 18:00 quarter hour has 1.5 kWh, not 0.3)
		// = 30 kWh; 15.6 × 0.40 = 6.24 + 3.60; STANDING 0.60; DEMAND on
		// the month's peak, 6 kW at 18:00, × 5.00 = 30.00: 40.44, × 1.19 =
		// 48.1236 → 48.12.
		// Both: 50.40, × 1.19 = 59.976 → 59.98 (rounded once, not 11.85 +
		// 48.12).
		d := get(t, "/v1/sources/"+m1+"/cost"+q("from", from, "to", to, "bucket", "day"))
		if d["source"] != m1 || d["currency"] != "EUR" || d["tz"] != "Europe/Berlin" || d["bucket"] != "day" || len(d["buckets"].([]any)) != 2 {
			t.Fatalf("cost %v", d)
		}
		days := []struct{ kwh, energy, standing, demand, excl, incl, invoice string }{
			{"28.8", "9.36", "0.60", "0", "9.96", "11.8524", "11.85"},
			{"30", "9.84", "0.60", "30.00", "40.44", "48.1236", "48.12"},
		}
		for i, w := range days {
			b := bucket(d, i)
			what := fmt.Sprintf("day %d", i+1)
			wantDecimal(t, what+" import_kwh", dig(b, "import_kwh"), w.kwh)
			wantDecimal(t, what+" energy", dig(b, "totals", "energy", "excl_vat"), w.energy)
			wantDecimal(t, what+" standing", dig(b, "totals", "standing", "excl_vat"), w.standing)
			wantDecimal(t, what+" demand", dig(b, "totals", "demand", "excl_vat"), w.demand)
			wantDecimal(t, what+" total excl", dig(b, "totals", "total", "excl_vat"), w.excl)
			wantDecimal(t, what+" total incl", dig(b, "totals", "total", "incl_vat"), w.incl)
			wantDecimal(t, what+" invoice incl", dig(b, "invoice_totals", "total", "incl_vat"), w.invoice)
			if dig(b, "quality") != "complete" {
				t.Errorf("%s quality %v", what, dig(b, "quality"))
			}
		}
		if dig(bucket(d, 1), "start") != "2026-03-03T00:00:00+01:00" {
			t.Errorf("day 2 starts %v", dig(bucket(d, 1), "start"))
		}
		// The 3rd: DEMAND, then ENERGY 00–08, STANDING, ENERGY 08–20 and
		// 20–24, each naming its tariff.
		lines := dig(bucket(d, 1), "lines").([]any)
		var comps []string
		for _, l := range lines {
			comps = append(comps, fmt.Sprint(dig(l, "component")))
			if dig(l, "tariff_id") != tou || dig(l, "version") != 1.0 || dig(l, "kind") != "supply" {
				t.Errorf("line %v", l)
			}
		}
		if strings.Join(comps, ",") != "DEMAND,ENERGY,STANDING,ENERGY,ENERGY" {
			t.Errorf("lines of the 3rd: %v", comps)
		}
		if dig(lines[0], "peak_at") != "2026-03-03T17:00:00Z" {
			t.Errorf("peak at %v", dig(lines[0], "peak_at"))
		}
		wantDecimal(t, "range total excl", dig(d, "totals", "total", "excl_vat"), "50.40")
		wantDecimal(t, "range total incl", dig(d, "totals", "total", "incl_vat"), "59.976")
		wantDecimal(t, "range invoice incl", dig(d, "invoice_totals", "total", "incl_vat"), "59.98")
		wantDecimal(t, "range kWh", dig(d, "import_kwh"), "58.8")
		if tiers := fmt.Sprint(d["tiers"]); !strings.Contains(tiers, "15m") {
			t.Errorf("tiers %s, want the 15-minute rollups", tiers)
		}
		if tl := d["tariffs"].([]any); len(tl) != 1 || dig(tl[0], "tariff_id") != tou || len(d["unpriced"].([]any)) != 0 {
			t.Errorf("tariffs %v, unpriced %v", d["tariffs"], d["unpriced"])
		}

		m := get(t, "/v1/sources/"+m1+"/cost"+q("from", from, "to", to, "bucket", "month"))
		if len(m["buckets"].([]any)) != 1 || dig(bucket(m, 0), "start") != "2026-03-01T00:00:00+01:00" || dig(bucket(m, 0), "end") != "2026-04-01T00:00:00+02:00" {
			t.Fatalf("month buckets %v", m["buckets"])
		}
		wantDecimal(t, "month total incl", dig(bucket(m, 0), "totals", "total", "incl_vat"), "59.976")
		wantDecimal(t, "month invoice incl", dig(bucket(m, 0), "invoice_totals", "total", "incl_vat"), "59.98")
	})

	t.Run("a range spanning an assignment change", func(t *testing.T) {
		// The time-of-use tariff until 12:00 on the 3rd: the 2nd as above,
		// 9.96, and DEMAND on that stretch's own peak, 1.2 kW × 5.00 = 6.00,
		// first reached at midnight on the 2nd: 15.96 → 18.9924 → 18.99.
		// The 3rd: 00–08 9.6 kWh × 0.25 = 2.40, 08–12 4.8 kWh × 0.40 = 1.92,
		// its STANDING 0.60 (the day started under this tariff); then the
		// flat tariff: 14.4 + 1.2 kWh × 0.30 = 4.68 and no STANDING that
		// day: 9.60 → 11.424 → 11.42. Both: 25.56 → 30.4164 → 30.42.
		d := get(t, "/v1/sources/"+m2+"/cost"+q("from", from, "to", to, "bucket", "day"))
		for i, w := range []struct{ excl, incl, invoice string }{{"15.96", "18.9924", "18.99"}, {"9.60", "11.424", "11.42"}} {
			wantDecimal(t, fmt.Sprintf("day %d excl", i+1), dig(bucket(d, i), "totals", "total", "excl_vat"), w.excl)
			wantDecimal(t, fmt.Sprintf("day %d incl", i+1), dig(bucket(d, i), "totals", "total", "incl_vat"), w.incl)
			wantDecimal(t, fmt.Sprintf("day %d invoice", i+1), dig(bucket(d, i), "invoice_totals", "total", "incl_vat"), w.invoice)
		}
		wantDecimal(t, "day 2 standing", dig(bucket(d, 1), "totals", "standing", "excl_vat"), "0.60")
		wantDecimal(t, "range invoice", dig(d, "invoice_totals", "total", "incl_vat"), "30.42")
		tl := d["tariffs"].([]any)
		if len(tl) != 2 || dig(tl[0], "tariff_id") != tou || dig(tl[0], "to") != "2026-03-03T11:00:00Z" || dig(tl[1], "tariff_id") != flat || dig(tl[1], "from") != "2026-03-03T11:00:00Z" {
			t.Fatalf("tariffs %v", tl)
		}
		// The flat tariff's lines on the 3rd name it.
		var flatLines int
		for _, l := range dig(bucket(d, 1), "lines").([]any) {
			if dig(l, "tariff_id") == flat {
				flatLines++
				wantDecimal(t, "flat energy", dig(l, "excl_vat"), "4.68")
			}
		}
		if flatLines != 1 {
			t.Errorf("%d lines of the flat tariff", flatLines)
		}
	})

	t.Run("the site", func(t *testing.T) {
		// M-1 and M-2: 9.96 + 15.96 = 25.92 and 40.44 + 9.60 = 50.04;
		// 75.96 × 1.19 = 90.3924 → 90.39.
		d := get(t, "/v1/sites/depot/cost"+q("from", from, "to", to, "bucket", "day", "breakdown", "true"))
		wantDecimal(t, "site day 1", dig(bucket(d, 0), "totals", "total", "excl_vat"), "25.92")
		wantDecimal(t, "site day 2", dig(bucket(d, 1), "totals", "total", "excl_vat"), "50.04")
		wantDecimal(t, "site invoice", dig(d, "invoice_totals", "total", "incl_vat"), "90.39")
		wantDecimal(t, "site kWh day 2", dig(bucket(d, 1), "import_kwh"), "60")
		parts := dig(bucket(d, 1), "sources").([]any)
		if len(parts) != 2 || dig(parts[0], "source") == dig(parts[1], "source") || len(d["sources"].([]any)) != 2 {
			t.Fatalf("breakdown %v", parts)
		}
		for _, p := range parts {
			want := map[any]string{m1: "40.44", m2: "9.60"}[dig(p, "source")]
			wantDecimal(t, fmt.Sprint("day 2 of ", dig(p, "source")), dig(p, "totals", "total", "excl_vat"), want)
		}
		for _, l := range dig(bucket(d, 0), "lines").([]any) {
			if s := dig(l, "source"); s != m1 && s != m2 {
				t.Errorf("site line without its source: %v", l)
			}
		}
		plain := get(t, "/v1/sites/depot/cost"+q("from", from, "to", to))
		if dig(bucket(plain, 0), "sources") != nil {
			t.Errorf("breakdown without asking: %v", bucket(plain, 0))
		}
		wantDecimal(t, "site by month", dig(bucket(plain, 0), "totals", "total", "excl_vat"), "75.96")
	})

	t.Run("a dynamic tariff backed by a price feed", func(t *testing.T) {
		// The 2nd at hour h: 1.2 kWh × (0.01·h + 0.10); Σh = 276, so
		// 1.2 × (2.76 + 2.40) = 6.192, × 1.19 = 7.36848 → 7.37.
		d := get(t, "/v1/sources/"+m1+"/cost"+q("from", from, "to", day2.Format(time.RFC3339), "tariff_id", dyn, "bucket", "day"))
		wantDecimal(t, "dynamic excl", dig(d, "totals", "total", "excl_vat"), "6.192")
		wantDecimal(t, "dynamic incl", dig(d, "totals", "total", "incl_vat"), "7.36848")
		wantDecimal(t, "dynamic invoice", dig(d, "invoice_totals", "total", "incl_vat"), "7.37")
		if lines := dig(bucket(d, 0), "lines").([]any); len(lines) != 24 || dig(lines[5], "unit_price") != "0.15" {
			t.Errorf("%d lines, the sixth at %v", len(lines), dig(lines[5], "unit_price"))
		}
		if tl := d["tariffs"].([]any); len(tl) != 1 || dig(tl[0], "assignment_id") != nil {
			t.Errorf("tariffs %v", tl)
		}

		// The feed has no price for the 3rd: a 409 naming the interval.
		r := c.do("GET", "/v1/sources/"+m1+"/cost"+q("from", from, "to", to, "tariff_id", dyn), "")
		expect(t, "missing feed price", r, 409, "CONFLICT")
		msg := dig(r.Body, "error", "message").(string)
		if !strings.Contains(msg, `price feed "EPEX-DE" has no price for the settlement interval [2026-03-02T23:00:00Z, 2026-03-02T23:15:00Z)`) ||
			dig(r.Body, "error", "details", "interval_start") != "2026-03-02T23:00:00Z" {
			t.Errorf("missing price: %v", r.Body)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		charging := create(withStart(ocpiExample(t, "tariff_1_simple_2hour.json"), "2026-01-01T00:00:00Z"))
		cb := e.createSourceJSON(`{"external_id":"CB-1","kind":"charger","timezone":"Europe/Berlin"}`)
		expect(t, "assign charging", c.do("POST", "/v1/tariffs/"+charging+"/assignments", `{"source_id":"CB-1","valid_from":"2026-01-01T00:00:00Z"}`), 201, "")
		r := c.do("GET", "/v1/sources/"+cb+"/cost"+q("from", from, "to", to), "")
		expect(t, "only a charging tariff", r, 409, "CONFLICT")
		if msg := dig(r.Body, "error", "message").(string); !strings.Contains(msg, "only a charging tariff") || !strings.Contains(msg, charging) {
			t.Errorf("charging: %s", msg)
		}
		expect(t, "tariff_id of a charging tariff", c.do("GET", "/v1/sources/"+m1+"/cost"+q("from", from, "to", to, "tariff_id", charging), ""), 409, "CONFLICT")
		expect(t, "unknown tariff", c.do("GET", "/v1/sources/"+m1+"/cost"+q("from", from, "to", to, "tariff_id", "tar_nope"), ""), 404, "NOT_FOUND")
		expect(t, "unknown source", c.do("GET", "/v1/sources/src_nope/cost"+q("from", from, "to", to), ""), 404, "NOT_FOUND")
		expect(t, "unknown site", c.do("GET", "/v1/sites/nowhere/cost"+q("from", from, "to", to), ""), 404, "NOT_FOUND")
		for _, bad := range []struct{ name, query, want string }{
			{"to before from", q("from", to, "to", from), "to: must be after from"},
			{"off the quarter hour", q("from", "2026-03-02T00:05:00Z", "to", to), "from: must be on a quarter hour"},
			{"over 400 days", q("from", "2025-01-01T00:00:00Z", "to", to), "at most 400 days"},
			{"a week", q("from", from, "to", to, "bucket", "week"), "bucket:"},
			{"an unknown parameter", q("from", from, "to", to, "breakdown", "true"), "breakdown: unknown parameter"},
		} {
			r := c.do("GET", "/v1/sources/"+m1+"/cost"+bad.query, "")
			expect(t, bad.name, r, 400, "VALIDATION_ERROR")
			if msg := dig(r.Body, "error", "message").(string); !strings.Contains(msg, bad.want) {
				t.Errorf("%s: %s, want %q", bad.name, msg, bad.want)
			}
		}

		billing := client{t, e.base, strings.TrimSpace(cli(t, e.dbURL, "apikey", "create", "--tenant", e.tenant, "--scopes", "billing"))}
		expect(t, "billing scope", billing.do("GET", "/v1/sources/"+m1+"/cost"+q("from", from, "to", to), ""), 200, "")
		ingester := client{t, e.base, strings.TrimSpace(cli(t, e.dbURL, "apikey", "create", "--tenant", e.tenant, "--scopes", "ingest"))}
		expect(t, "ingest scope", ingester.do("GET", "/v1/sources/"+m1+"/cost"+q("from", from, "to", to), ""), 403, "FORBIDDEN")

		other := tenantID(t, cli(t, e.dbURL, "tenant", "create", "--name", "other"))
		intruder := client{t, e.base, strings.TrimSpace(cli(t, e.dbURL, "apikey", "create", "--tenant", other, "--scopes", "read,billing"))}
		expect(t, "another tenant's source", intruder.do("GET", "/v1/sources/"+m1+"/cost"+q("from", from, "to", to), ""), 404, "NOT_FOUND")
		expect(t, "another tenant's site", intruder.do("GET", "/v1/sites/depot/cost"+q("from", from, "to", to), ""), 404, "NOT_FOUND")
	})
}
