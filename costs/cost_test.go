package costs

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/query"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// costTariff is a supply tariff in Amsterdam: ENERGY 0.30/kWh 07:00–23:00
// and 0.20/kWh otherwise, STANDING 0.50 a day, DEMAND 4.00 per kW of the
// month's peak quarter hour; 21 % VAT on everything.
func costTariff(t testing.TB) *tariffs.Tariff {
	t.Helper()
	return supplyTariff(t, "supply", `[
	  {"price_components":[{"type":"ENERGY","price":0.30,"vat":21,"step_size":0}],"restrictions":{"start_time":"07:00","end_time":"23:00"}},
	  {"price_components":[{"type":"ENERGY","price":0.20,"vat":21,"step_size":0}]},
	  {"price_components":[{"type":"STANDING","price":0.50,"vat":21,"step_size":0}]},
	  {"price_components":[{"type":"DEMAND","price":4.00,"vat":21,"step_size":0}]}]`)
}

// costRows builds the energy engine's rows for 4–5 March 2024 (Monday and
// Tuesday) in Amsterdam: 1 kWh per quarter hour on the 4th (4 kW), 0.5 on
// the 5th (2 kW) except 2 kWh at 18:00 (8 kW, the month's peak).
func costRows(t testing.TB) []query.EnergyRow {
	t.Helper()
	var rows []query.EnergyRow
	end := local(t, amsterdam, "2024-03-06 00:00")
	for at, i := local(t, amsterdam, "2024-03-04 00:00"), 0; at.Before(end); at, i = at.Add(SettlementInterval), i+1 {
		kwh := 0.5
		switch {
		case i < 96:
			kwh = 1
		case at.In(mustLoc(t, amsterdam)).Format("15:04") == "18:00":
			kwh = 2
		}
		rows = append(rows, query.EnergyRow{Time: at.UTC(), End: at.Add(SettlementInterval).UTC(), ImportKWh: &kwh, Quality: query.Complete})
	}
	return rows
}

func costGridOf(t testing.TB, bucket, from, to string) costGrid {
	t.Helper()
	g, err := newCostGrid(bucket, local(t, amsterdam, from), local(t, amsterdam, to), mustLoc(t, amsterdam))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func priceLedger(t testing.TB, l *ledger, tf *tariffs.Tariff, rows []query.EnergyRow, from, to time.Time) {
	t.Helper()
	s := tariffs.AssignedVersion{From: from, To: to, TariffID: "tar_test", Version: 1, Tariff: tf}
	a, b := settleStretch(from, to)
	if err := l.price(s, tariffs.KindSupply, usageOf(rows, a, b), nil); err != nil {
		t.Fatal(err)
	}
}

func TestCostByDay(t *testing.T) {
	t.Parallel()
	tf, rows := costTariff(t), costRows(t)
	from, to := local(t, amsterdam, "2024-03-04 00:00"), local(t, amsterdam, "2024-03-06 00:00")
	g := costGridOf(t, BucketDay, "2024-03-04 00:00", "2024-03-06 00:00")
	l := newLedger(g, "src_m")
	l.addEnergy(rows)
	priceLedger(t, l, tf, rows, from, to)
	out := &Cost{Currency: "EUR"}
	if err := assemble(out, g, []*ledger{l}, false, false); err != nil {
		t.Fatal(err)
	}
	// 4 March: 96 kWh; 07–23 is 64 kWh × 0.30 = 19.20, the other 8 h 32 kWh
	// × 0.20 = 6.40; STANDING 0.50: 26.10, × 1.21 = 31.581 → 31.58.
	// 5 March: 95 × 0.5 + 2 = 49.5 kWh; 07–23 is 63 × 0.5 + 2 = 33.5 kWh ×
	// 0.30 = 10.05, the rest 16 kWh × 0.20 = 3.20; STANDING 0.50; DEMAND
	// on the month's peak, 8 kW at 18:00 on the 5th, × 4.00 = 32.00:
	// 45.75, × 1.21 = 55.3575 → 55.36.
	// The range: 71.85, × 1.21 = 86.9385 → 86.94.
	tests := []struct {
		day                 int
		kwh                 string
		energy, standing    string
		demand, total, incl string
		invoiceIncl         string
		lines               string
	}{
		{0, "96", "25.60", "0.50", "0", "26.10", "31.581", "31.58", "ENERGY e1 00:00–07:00, STANDING e2 00:00–00:00, ENERGY e0 07:00–23:00, ENERGY e1 23:00–00:00"},
		{1, "49.5", "13.25", "0.50", "32.00", "45.75", "55.3575", "55.36", "DEMAND e3 00:00–00:00, ENERGY e1 00:00–07:00, STANDING e2 00:00–00:00, ENERGY e0 07:00–23:00, ENERGY e1 23:00–00:00"},
	}
	if len(out.Buckets) != 2 {
		t.Fatalf("%d buckets", len(out.Buckets))
	}
	for _, tt := range tests {
		b := out.Buckets[tt.day]
		what := fmt.Sprintf("day %d", tt.day)
		wantDec(t, what+" kWh", b.ImportKWh, tt.kwh)
		wantDec(t, what+" energy", b.Totals.Energy.ExclVAT, tt.energy)
		wantDec(t, what+" standing", b.Totals.Standing.ExclVAT, tt.standing)
		wantDec(t, what+" demand", b.Totals.Demand.ExclVAT, tt.demand)
		wantAmount(t, what+" total", b.Totals.Total, tt.total, tt.incl)
		wantDec(t, what+" invoice incl", b.Invoice.Total.InclVAT, tt.invoiceIncl)
		if got := lineSummary(b.Lines); got != tt.lines {
			t.Errorf("%s lines:\n got %s\nwant %s", what, got, tt.lines)
		}
		for _, ln := range b.Lines {
			if ln.Component != tariffs.Demand && (ln.PeriodStart.Before(g.edges[tt.day]) || ln.PeriodEnd.After(g.edges[tt.day+1])) {
				t.Errorf("%s: line %s %s–%s crosses the bucket's edges", what, ln.Component, ln.PeriodStart, ln.PeriodEnd)
			}
		}
		if b.Quality != query.Complete {
			t.Errorf("%s quality %s", what, b.Quality)
		}
	}
	wantAmount(t, "range total", out.Totals.Total, "71.85", "86.9385")
	wantAmount(t, "range invoice", out.Invoice.Total, "71.85", "86.94")
	wantDec(t, "range kWh", out.ImportKWh, "145.5")
	if len(out.VAT) != 1 || out.VAT[0].VAT.Cmp(dec("15.0885")) != 0 {
		t.Errorf("VAT %+v, want 15.0885 at 21 %%", out.VAT)
	}

	// Grouping changes the lines, never the amounts: the same usage priced
	// without breaks costs the same.
	whole, err := tariffs.PriceMeter(tf, tariffs.MeterUsage{Interval: SettlementInterval, Intervals: usageOf(rows, from, to)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sameAmount(whole.Totals.Total, out.Totals.Total) {
		t.Errorf("priced whole: %+v, by day: %+v", whole.Totals.Total, out.Totals.Total)
	}

	// By month: one bucket with the same total.
	gm := costGridOf(t, BucketMonth, "2024-03-04 00:00", "2024-03-06 00:00")
	lm := newLedger(gm, "src_m")
	lm.addEnergy(rows)
	priceLedger(t, lm, tf, rows, from, to)
	month := &Cost{Currency: "EUR"}
	if err := assemble(month, gm, []*ledger{lm}, false, false); err != nil {
		t.Fatal(err)
	}
	if len(month.Buckets) != 1 || !month.Buckets[0].Start.Equal(local(t, amsterdam, "2024-03-01 00:00")) || !month.Buckets[0].End.Equal(local(t, amsterdam, "2024-04-01 00:00")) {
		t.Fatalf("month buckets %+v", month.Buckets)
	}
	wantAmount(t, "month total", month.Buckets[0].Totals.Total, "71.85", "86.9385")
}

func sameAmount(a, b tariffs.Amount) bool {
	return a.ExclVAT.Cmp(b.ExclVAT) == 0 && a.InclVAT.Cmp(b.InclVAT) == 0
}

func lineSummary(lines []CostLine) string {
	var parts []string
	for _, l := range lines {
		loc, _ := time.LoadLocation(amsterdam)
		parts = append(parts, fmt.Sprintf("%s e%d %s–%s", l.Component, l.ElementIndex, l.PeriodStart.In(loc).Format("15:04"), l.PeriodEnd.In(loc).Format("15:04")))
	}
	return strings.Join(parts, ", ")
}

// TestCostStandingOncePerDay: when the tariff changes at noon, the day's
// STANDING is charged by the stretch holding its midnight, so the stretches
// add up to the whole (block rates and demand aside, which restart).
func TestCostStandingOncePerDay(t *testing.T) {
	t.Parallel()
	tf := supplyTariff(t, "supply", `[
	  {"price_components":[{"type":"ENERGY","price":0.25,"vat":21,"step_size":0}]},
	  {"price_components":[{"type":"STANDING","price":0.50,"vat":21,"step_size":0}]}]`)
	rows := costRows(t)
	a, noon, b := local(t, amsterdam, "2024-03-04 00:00"), local(t, amsterdam, "2024-03-05 12:07:30"), local(t, amsterdam, "2024-03-06 00:00")
	g := costGridOf(t, BucketDay, "2024-03-04 00:00", "2024-03-06 00:00")
	split := newLedger(g, "src_m")
	priceLedger(t, split, tf, rows, a, noon)
	priceLedger(t, split, tf, rows, noon, b)
	whole := newLedger(g, "src_m")
	priceLedger(t, whole, tf, rows, a, b)
	for i := range g.starts {
		if !sameAmount(split.shares[i].Totals.Total, whole.shares[i].Totals.Total) {
			t.Errorf("day %d: split %+v, whole %+v", i, split.shares[i].Totals.Total, whole.shares[i].Totals.Total)
		}
	}
	// 145.5 kWh × 0.25 = 36.375 and two days of STANDING.
	total := split.shares[0].Totals.Total.ExclVAT
	total, _ = total.Add(split.shares[1].Totals.Total.ExclVAT)
	wantDec(t, "split total", total, "37.375")
	// The interval 12:00–12:15 started before the switch at 12:07:30: the
	// first stretch prices it, the second starts at 12:15.
	if got := split.lines[1][len(split.lines[1])-1]; !got.PeriodStart.Equal(local(t, amsterdam, "2024-03-05 12:15")) || got.Component != tariffs.Energy {
		t.Errorf("last line of the 5th: %s from %s", got.Component, got.PeriodStart)
	}
}

func TestVersionStretches(t *testing.T) {
	t.Parallel()
	tf := supplyTariff(t, "supply", `[{"price_components":[{"type":"ENERGY","price":0.25,"step_size":0}]}]`)
	ending := mustTariff(t, `{"country_code":"NL","party_id":"GMX","id":"sup","currency":"EUR","end_date_time":"2026-03-15T00:00:00Z",
	  "elements":[{"price_components":[{"type":"ENERGY","price":0.25,"step_size":0}]}],"gridmetrics":{"kind":"supply","timezone":"`+amsterdam+`"}}`)
	at := func(s string) time.Time { return ts(t, s+"T00:00:00Z") }
	v := func(n int, from string, tariff *tariffs.Tariff) tariffs.Version {
		return tariffs.Version{Version: n, ValidFrom: at(from), Tariff: tariff}
	}
	tests := []struct {
		name     string
		versions []tariffs.Version
		from, to string
		want     string
	}{
		{"one version", []tariffs.Version{v(1, "2026-01-01", tf)}, "2026-01-15", "2026-02-01", "v1 01-15..02-01"},
		{"before the first version", []tariffs.Version{v(1, "2026-01-20", tf)}, "2026-01-15", "2026-02-01", "v1 01-20..02-01"},
		{"a new version", []tariffs.Version{v(1, "2026-01-01", tf), v(2, "2026-01-20", tf)}, "2026-01-15", "2026-02-01", "v1 01-15..01-20, v2 01-20..02-01"},
		// Version 3, written later, corrects February on: version 2 never applies.
		{"a correction of the past", []tariffs.Version{v(1, "2026-01-01", tf), v(2, "2026-03-01", tf), v(3, "2026-02-01", tf)}, "2026-01-15", "2026-04-01", "v1 01-15..02-01, v3 02-01..04-01"},
		{"an end_date_time", []tariffs.Version{v(1, "2026-01-01", ending)}, "2026-03-01", "2026-04-01", "v1 03-01..03-15"},
		{"no version yet", []tariffs.Version{v(1, "2026-05-01", tf)}, "2026-03-01", "2026-04-01", ""},
	}
	for _, tt := range tests {
		var parts []string
		for _, s := range versionStretches("tar_x", tt.versions, at(tt.from), at(tt.to)) {
			parts = append(parts, fmt.Sprintf("v%d %s..%s", s.Version, s.From.Format("01-02"), s.To.Format("01-02")))
		}
		if got := strings.Join(parts, ", "); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestUncovered(t *testing.T) {
	t.Parallel()
	at := func(h int) time.Time { return time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC) }
	s := func(a, b int) tariffs.AssignedVersion { return tariffs.AssignedVersion{From: at(a), To: at(b)} }
	tests := []struct {
		name      string
		stretches []tariffs.AssignedVersion
		want      string
	}{
		{"all covered", []tariffs.AssignedVersion{s(0, 12), s(12, 24)}, ""},
		{"nothing", nil, "0-24"},
		{"gaps", []tariffs.AssignedVersion{s(2, 5), s(8, 20)}, "0-2 5-8 20-24"},
	}
	for _, tt := range tests {
		var parts []string
		for _, g := range uncovered(tt.stretches, at(0), at(24)) {
			parts = append(parts, fmt.Sprintf("%d-%d", g[0].Hour(), g[1].Sub(at(0))/time.Hour))
		}
		if got := strings.Join(parts, " "); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestFeedSeries(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	points := func(minutes ...int) []tariffs.PricePoint {
		var out []tariffs.PricePoint
		for _, m := range minutes {
			out = append(out, tariffs.PricePoint{Start: base.Add(time.Duration(m) * time.Minute), Price: dec("0.1")})
		}
		return out
	}
	tests := []struct {
		name   string
		points []tariffs.PricePoint
		want   time.Duration
	}{
		{"quarter hours with a gap", points(0, 15, 30, 60, 75), 15 * time.Minute},
		{"hourly", points(0, 60, 120, 180), time.Hour},
		{"a lone reading", points(0), time.Hour},
		{"a tie goes to the shorter", points(0, 15, 75), 15 * time.Minute},
		{"days", points(0, 1440, 2880), 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := feedSeries(tt.points).Resolution; got != tt.want {
			t.Errorf("%s: resolution %s, want %s", tt.name, got, tt.want)
		}
	}
	// The 45-minute gap of the quarter-hour series is a missing price.
	feed := tariffs.StaticFeed{"f": feedSeries(points(0, 15, 30, 60, 75))}
	if _, err := feed.PriceAt("f", base.Add(45*time.Minute)); err == nil {
		t.Error("a price in the gap")
	}
}

func TestCostRequestValidate(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time { return ts(t, s) }
	tests := []struct {
		name    string
		r       Request
		wantErr string
	}{
		{"ok", Request{From: at("2026-03-01T00:00:00Z"), To: at("2026-04-01T00:00:00Z"), Bucket: "day"}, ""},
		{"from missing", Request{To: at("2026-04-01T00:00:00Z")}, "from: is required"},
		{"from after to", Request{From: at("2026-04-01T00:00:00Z"), To: at("2026-03-01T00:00:00Z")}, "to: must be after from"},
		{"off the quarter hour", Request{From: at("2026-03-01T00:07:00Z"), To: at("2026-04-01T00:00:00Z")}, "from: must be on a quarter hour"},
		{"too long", Request{From: at("2025-01-01T00:00:00Z"), To: at("2026-04-01T00:00:00Z")}, "at most 400 days"},
		{"bad bucket", Request{From: at("2026-03-01T00:00:00Z"), To: at("2026-04-01T00:00:00Z"), Bucket: "week"}, `bucket: "week" is not a cost bucket`},
		{"bad zone", Request{From: at("2026-03-01T00:00:00Z"), To: at("2026-04-01T00:00:00Z"), TZ: "CET"}, "tz:"},
	}
	for _, tt := range tests {
		err := tt.r.validate()
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

// TestCostExport: an export tariff credits the exported energy, in the
// export totals, negative.
func TestCostExport(t *testing.T) {
	t.Parallel()
	tf := supplyTariff(t, "export", `[{"price_components":[{"type":"ENERGY","price":0.08,"vat":0,"step_size":0}]}]`)
	from, to := local(t, amsterdam, "2024-03-04 10:00"), local(t, amsterdam, "2024-03-04 12:00")
	var rows []query.EnergyRow
	for at := from; at.Before(to); at = at.Add(SettlementInterval) {
		imp, exp := 0.1, 0.75
		rows = append(rows, query.EnergyRow{Time: at, ImportKWh: &imp, ExportKWh: &exp, Quality: query.Complete})
	}
	g := costGridOf(t, BucketDay, "2024-03-04 10:00", "2024-03-04 12:00")
	l := newLedger(g, "src_pv")
	l.addEnergy(rows)
	s := tariffs.AssignedVersion{From: from, To: to, TariffID: "tar_exp", Version: 1, Tariff: tf}
	if err := l.price(s, tariffs.KindExport, usageOf(rows, from, to), nil); err != nil {
		t.Fatal(err)
	}
	out := &Cost{Currency: "EUR"}
	if err := assemble(out, g, []*ledger{l}, false, false); err != nil {
		t.Fatal(err)
	}
	// 8 × 0.75 = 6 kWh exported × 0.08 = 0.48 credited; the 0.8 kWh
	// imported is measured but no supply tariff prices it.
	wantAmount(t, "export", out.Totals.Export, "-0.48", "-0.48")
	wantAmount(t, "total", out.Totals.Total, "-0.48", "-0.48")
	wantDec(t, "import", out.ImportKWh, "0.8")
	wantDec(t, "export kWh", out.ExportKWh, "6")
	if b := out.Buckets[0]; len(b.Lines) != 1 || b.Lines[0].Kind != tariffs.KindExport || !b.Start.Equal(local(t, amsterdam, "2024-03-04 00:00")) {
		t.Errorf("bucket %+v", b)
	}
}

// TestKWhOfAgreesWithEnergyRoutes: the kWh a cost answer shows for the
// engine's float is the figure the energy routes show for it, ties
// (0.0078125 is 1/128, exact in binary) included.
func TestKWhOfAgreesWithEnergyRoutes(t *testing.T) {
	t.Parallel()
	for _, v := range []float64{0.0078125, 2.5000005, 1013.6287000000002, 11.121299999998882, 0.1 + 0.2, 28.8, 1e-7, 123456.1234565} {
		want := strconv.FormatFloat(query.Round(v, query.EnergyDecimals), 'f', -1, 64)
		if got := kWhOf(&v).String(); got != want {
			t.Errorf("kWhOf(%v) = %s, the energy routes show %s", v, got, want)
		}
	}
}
