package tariffs

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"
)

func supplyTariff(t testing.TB, kind, elements string, ext ...string) *Tariff {
	t.Helper()
	x := ""
	for _, e := range ext {
		x += "," + e
	}
	return mustTariff(t, `{"country_code":"NL","party_id":"GMX","id":"sup","currency":"EUR","elements":`+elements+
		`,"gridmetrics":{"kind":"`+kind+`","timezone":"`+amsterdam+`"`+x+`}}`)
}

// intervals returns settlement intervals from one local time to another,
// each with the import (and export) energy given by f.
func intervals(t testing.TB, from, to string, ivl time.Duration, f func(i int, at time.Time) (imp, exp string)) MeterUsage {
	t.Helper()
	u := MeterUsage{Interval: ivl}
	end := local(t, amsterdam, to)
	for at, i := local(t, amsterdam, from), 0; at.Before(end); at, i = at.Add(ivl), i+1 {
		imp, exp := f(i, at)
		u.Intervals = append(u.Intervals, IntervalEnergy{Start: at, ImportKWh: dec(imp), ExportKWh: dec(exp)})
	}
	return u
}

func flat(imp string) func(int, time.Time) (string, string) {
	return func(int, time.Time) (string, string) { return imp, "0" }
}

func priceMeter(t testing.TB, tf *Tariff, u MeterUsage, feed PriceFeed) Result {
	t.Helper()
	r, err := PriceMeter(tf, u, feed)
	if err != nil {
		t.Fatalf("PriceMeter: %v", err)
	}
	return r
}

// TestBlockRatesAcrossMonths: 0.30 for the first 100 kWh of each month,
// 0.20 beyond; the count restarts on the 1st (local time).
func TestBlockRatesAcrossMonths(t *testing.T) {
	t.Parallel()
	tf := supplyTariff(t, "supply", `[
	  {"price_components":[{"type":"ENERGY","price":0.30,"vat":21,"step_size":1}],"restrictions":{"max_kwh":100}},
	  {"price_components":[{"type":"ENERGY","price":0.20,"vat":21,"step_size":1}]},
	  {"price_components":[{"type":"STANDING","price":0.50,"vat":21,"step_size":0}]}]`)
	// 31 January: 96 × 1.3 = 124.8 kWh; 1 February: 96 × 0.5 = 48 kWh.
	u := intervals(t, "2024-01-31 00:00", "2024-02-02 00:00", 15*time.Minute, func(i int, _ time.Time) (string, string) {
		if i < 96 {
			return "1.3", "0"
		}
		return "0.5", "0"
	})
	r := priceMeter(t, tf, u, nil)
	// January: the 100 kWh threshold falls inside the 77th interval (98.8
	// kWh before it): 100 × 0.30 + 24.8 × 0.20 = 30 + 4.96 = 34.96.
	// February starts again below 100: 48 × 0.30 = 14.40.
	// STANDING: 2 days × 0.50 = 1.00. Total 50.36, incl 21 %: 60.9356.
	wantAmount(t, "energy", r.Totals.Energy, "49.36", "59.7256")
	wantAmount(t, "standing", r.Totals.Standing, "1.00", "1.21")
	wantAmount(t, "total", r.Totals.Total, "50.36", "60.9356")
	wantAmount(t, "invoice", r.Invoice.Total, "50.36", "60.94")
	if got := energyLines(r); got != "0:100,1:24.8,0:48" {
		t.Errorf("ENERGY lines = %s", got)
		dumpLines(t, r)
	}
	if r.Usage.BillingPeriods != 2 || r.Usage.Days != 2 {
		t.Errorf("usage = %+v", r.Usage)
	}
}

func TestDynamicPrices(t *testing.T) {
	t.Parallel()
	tf := supplyTariff(t, "supply", `[{"price_components":[{"type":"ENERGY","price":0,"vat":21,"step_size":1,
	  "gridmetrics":{"price_feed":"epex-nl","multiplier":1.1,"markup":0.02,"floor":0,"cap":0.5}}]}]`)
	start := local(t, amsterdam, "2024-03-04 12:00")
	points := []PricePoint{
		{start, dec("0.10")}, {start.Add(15 * time.Minute), dec("-0.05")},
		{start.Add(30 * time.Minute), dec("0.60")}, {start.Add(45 * time.Minute), dec("0.20")},
	}
	feed := StaticFeed{"epex-nl": {Resolution: 15 * time.Minute, Points: points}}
	u := intervals(t, "2024-03-04 12:00", "2024-03-04 13:00", 15*time.Minute, flat("1"))
	r := priceMeter(t, tf, u, feed)
	// Unit prices: 0.10 × 1.1 + 0.02 = 0.13; −0.055 + 0.02 = −0.035 → floor
	// 0; 0.66 + 0.02 = 0.68 → cap 0.50; 0.22 + 0.02 = 0.24. 1 kWh each:
	// 0.87 excl, × 1.21 = 1.0527 incl.
	wantAmount(t, "total", r.Totals.Total, "0.87", "1.0527")
	if len(r.Lines) != 4 {
		t.Errorf("%d lines, want one per price", len(r.Lines))
		dumpLines(t, r)
	}
	// A missing price is an error, not a zero.
	missing := StaticFeed{"epex-nl": {Resolution: 15 * time.Minute, Points: []PricePoint{points[0], points[1], points[3]}}}
	_, err := PriceMeter(tf, u, missing)
	if !errors.Is(err, ErrNoPrice) || !strings.Contains(err.Error(), "2024-03-04T11:30:00Z") {
		t.Errorf("missing price: err = %v, want ErrNoPrice at 11:30Z", err)
	}
	if _, err := PriceMeter(tf, u, nil); !errors.Is(err, ErrNoPrice) {
		t.Errorf("no feed: err = %v, want ErrNoPrice", err)
	}
	// A 15-minute dynamic tariff over hourly prices: each interval takes
	// the hour's price.
	hourly := StaticFeed{"epex-nl": {Resolution: time.Hour, Points: []PricePoint{{start, dec("0.20")}}}}
	r = priceMeter(t, tf, u, hourly)
	// 4 × (0.22 + 0.02) = 0.96; one line, the price does not change.
	wantAmount(t, "hourly", r.Totals.Total, "0.96", "1.1616")
	if len(r.Lines) != 1 {
		t.Errorf("%d lines, want 1", len(r.Lines))
	}
}

func TestDemandCharges(t *testing.T) {
	t.Parallel()
	elements := `[
	  {"price_components":[{"type":"ENERGY","price":0.25,"step_size":1}]},
	  {"price_components":[{"type":"DEMAND","price":10,"step_size":0}],"restrictions":{"start_time":"17:00","end_time":"21:00","day_of_week":["MONDAY","TUESDAY","WEDNESDAY","THURSDAY","FRIDAY"]}},
	  {"price_components":[{"type":"DEMAND","price":4,"step_size":0}]}]`
	// Monday: 0.5 kWh per quarter hour (2 kW), 3 kWh 12:00–12:15 (12 kW),
	// 2 kWh 18:00–18:15 (8 kW). 94 × 0.5 + 3 + 2 = 52 kWh.
	u := intervals(t, "2024-03-04 00:00", "2024-03-05 00:00", 15*time.Minute, func(_ int, at time.Time) (string, string) {
		switch at.In(mustLoc(t, amsterdam)).Format("15:04") {
		case "12:00":
			return "3", "0"
		case "18:00":
			return "2", "0"
		}
		return "0.5", "0"
	})
	for _, tc := range []struct {
		name, window string
		total        string
		peaks        map[int]string // element → kW
	}{
		// 15-minute windows: on-peak (element 1) 8 kW × 10 = 80; the rest
		// (element 2) 12 kW × 4 = 48; energy 52 × 0.25 = 13: 141.
		{"15-minute window", `"demand_window":900`, "141", map[int]string{1: "8", 2: "12"}},
		// 30-minute windows: 12:00–12:30 (3 + 0.5) / 0.5 h = 7 kW × 4 = 28;
		// 18:00–18:30 2.5 / 0.5 = 5 kW × 10 = 50; 13 + 78 = 91.
		{"30-minute window", `"demand_window":1800`, "91", map[int]string{1: "5", 2: "7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := priceMeter(t, supplyTariff(t, "supply", elements, tc.window), u, nil)
			wantAmount(t, "total", r.Totals.Total, tc.total, tc.total)
			for _, l := range r.Lines {
				if l.Component != Demand {
					continue
				}
				if want, ok := tc.peaks[l.ElementIndex]; !ok || l.Volume.Cmp(dec(want)) != 0 {
					t.Errorf("DEMAND element %d peak %s kW, want %s", l.ElementIndex, l.Volume, want)
				}
				if l.PeakAt.IsZero() {
					t.Error("DEMAND line without PeakAt")
				}
			}
			if t.Failed() {
				dumpLines(t, r)
			}
		})
	}
	// step_size on a peak is in W: 12 kW at step 5000 W → 15 kW.
	stepped := supplyTariff(t, "supply", `[{"price_components":[{"type":"DEMAND","price":1,"step_size":5000}]}]`)
	r := priceMeter(t, stepped, u, nil)
	wantAmount(t, "stepped demand", r.Totals.Demand, "15", "15")
	// Hourly data cannot give a 15-minute peak.
	hourly := intervals(t, "2024-03-04 00:00", "2024-03-04 02:00", time.Hour, flat("1"))
	if _, err := PriceMeter(stepped, hourly, nil); err == nil {
		t.Error("hourly intervals with a 15-minute demand window: want an error")
	}
}

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestExportCredit(t *testing.T) {
	t.Parallel()
	tf := supplyTariff(t, "export", `[
	  {"price_components":[{"type":"ENERGY","price":0.08,"vat":21,"step_size":1}]},
	  {"price_components":[{"type":"STANDING","price":0.10,"vat":21,"step_size":0}]}]`)
	u := intervals(t, "2024-06-03 00:00", "2024-06-04 00:00", time.Hour, func(_ int, at time.Time) (string, string) {
		if h := at.In(mustLoc(t, amsterdam)).Hour(); h >= 10 && h < 15 {
			return "0.2", "1" // 5 h of 1 kWh exported
		}
		return "0.3", "0"
	})
	r := priceMeter(t, tf, u, nil)
	// 5 kWh × −0.08 = −0.40 excl, −0.484 incl; STANDING 0.10 / 0.121.
	// Imported energy is not priced by an export tariff.
	wantAmount(t, "export", r.Totals.Export, "-0.40", "-0.484")
	wantAmount(t, "energy", r.Totals.Energy, "0", "0")
	wantAmount(t, "total", r.Totals.Total, "-0.30", "-0.363")
	wantAmount(t, "invoice", r.Invoice.Total, "-0.30", "-0.36")
	wantDec(t, "exported", r.Usage.ExportKWh, "5")
	for _, l := range r.Lines {
		if l.Component == Energy && (!l.UnitPrice.IsNeg() || !l.ExclVAT.IsNeg()) {
			t.Errorf("export line %+v: want a negative unit price and amount", l)
		}
	}
}

// TestStandingOnDSTMonths: STANDING is per local day; the 23- and 25-hour
// days are one day each.
func TestStandingOnDSTMonths(t *testing.T) {
	t.Parallel()
	tf := supplyTariff(t, "supply", `[
	  {"price_components":[{"type":"ENERGY","price":0.20,"step_size":1}]},
	  {"price_components":[{"type":"STANDING","price":0.50,"step_size":0}]}]`)
	for _, tc := range []struct {
		from, to  string
		intervals int
	}{
		{"2024-03-01 00:00", "2024-04-01 00:00", 31*96 - 4}, // spring forward: one 23-hour day
		{"2024-10-01 00:00", "2024-11-01 00:00", 31*96 + 4}, // fall back: one 25-hour day
	} {
		u := intervals(t, tc.from, tc.to, 15*time.Minute, flat("0.25"))
		if len(u.Intervals) != tc.intervals {
			t.Fatalf("%s: %d intervals, want %d", tc.from, len(u.Intervals), tc.intervals)
		}
		r := priceMeter(t, tf, u, nil)
		// 31 days × 0.50 = 15.50; energy 0.25 × n × 0.20.
		wantAmount(t, tc.from+" standing", r.Totals.Standing, "15.50", "15.50")
		if r.Usage.Days != 31 {
			t.Errorf("%s: %d days, want 31", tc.from, r.Usage.Days)
		}
		var c calc
		wantDec(t, tc.from+" energy", r.Totals.Energy.ExclVAT, c.mul(c.mul(decInt(int64(tc.intervals)), dec("0.25")), dec("0.20")).String())
	}
}

func TestMeterProblems(t *testing.T) {
	t.Parallel()
	tf := supplyTariff(t, "supply", `[{"price_components":[{"type":"ENERGY","price":0.2,"step_size":1}]}]`)
	at := local(t, amsterdam, "2024-03-04 10:00")
	for _, tc := range []struct {
		name string
		u    MeterUsage
		path string
	}{
		{"bad interval", MeterUsage{Interval: 10 * time.Minute}, "interval"},
		{"misaligned", MeterUsage{Interval: 15 * time.Minute, Intervals: []IntervalEnergy{{Start: at.Add(7 * time.Minute), ImportKWh: one}}}, "intervals[0].start"},
		{"overlap", MeterUsage{Interval: 15 * time.Minute, Intervals: []IntervalEnergy{{Start: at, ImportKWh: one}, {Start: at, ImportKWh: one}}}, "intervals[1].start"},
		{"span too long", MeterUsage{Interval: time.Hour, Intervals: []IntervalEnergy{{Start: at, ImportKWh: one}, {Start: at.Add(MaxMeterSpan + time.Hour), ImportKWh: one}}}, "intervals"},
		{"negative", MeterUsage{Interval: 15 * time.Minute, Intervals: []IntervalEnergy{{Start: at, ImportKWh: decimal.MustParse("-1")}}}, "intervals[0].import_kwh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PriceMeter(tf, tc.u, nil)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Problems[0].Path != tc.path {
				t.Errorf("err = %v, want a problem at %s", err, tc.path)
			}
		})
	}
	charging := mustTariff(t, tariffJSON(`[{"price_components":[{"type":"ENERGY","price":0.3,"step_size":1}]}]`))
	if _, err := PriceMeter(charging, MeterUsage{Interval: 15 * time.Minute}, nil); !errors.Is(err, ErrNotApplicable) {
		t.Errorf("charging tariff: err = %v, want ErrNotApplicable", err)
	}
}
