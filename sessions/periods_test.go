package sessions

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/tariffs"
)

// testTariff parses a charging tariff with the given elements (JSON) read
// in zone.
func testTariff(t testing.TB, zone, elements string) *tariffs.Tariff {
	t.Helper()
	tf, err := tariffs.ParseTariff([]byte(fmt.Sprintf(`{"country_code":"DE","party_id":"GMX","id":"t-test","currency":"EUR",
		"elements":%s,"last_updated":"2024-01-01T00:00:00Z","gridmetrics":{"timezone":%q}}`, elements, zone)))
	if err != nil {
		t.Fatalf("tariff: %v", err)
	}
	return tf
}

func at(t testing.TB, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
	if err != nil {
		v, err = time.ParseInLocation("2006-01-02 15:04", s, loc)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

func samples(t testing.TB, zone string, pairs ...any) []Sample {
	t.Helper()
	var out []Sample
	for i := 0; i+1 < len(pairs); i += 2 {
		v := pairs[i+1]
		var f float64
		switch x := v.(type) {
		case int:
			f = float64(x)
		case float64:
			f = x
		}
		out = append(out, Sample{at(t, zone, pairs[i].(string)), f})
	}
	return out
}

func ptr(f float64) *float64 { return &f }

// describe renders periods as "HH:MM ENERGY=… TIME=…; …" in UTC, for
// comparison with a want string.
func describe(ps []tariffs.ChargingPeriod) string {
	var parts []string
	for _, p := range ps {
		s := p.StartDateTime.UTC().Format("01-02T15:04:05")
		for _, d := range p.Dimensions {
			s += fmt.Sprintf(" %s=%s", d.Type, d.Volume)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func mustPrice(t testing.TB, tf *tariffs.Tariff, in PeriodInput) (Periods, tariffs.Result) {
	t.Helper()
	ps, err := BuildPeriods(in)
	if err != nil {
		t.Fatalf("BuildPeriods: %v", err)
	}
	r, err := tariffs.PriceSession(tf, tariffs.Session{Start: in.Start, End: in.End, ChargingPeriods: ps.Periods})
	if err != nil {
		t.Fatalf("PriceSession: %v\nperiods: %s", err, describe(ps.Periods))
	}
	return ps, r
}

func wantTotal(t testing.TB, r tariffs.Result, excl string) {
	t.Helper()
	if r.Totals.Total.ExclVAT.Cmp(decimal.MustParse(excl)) != 0 {
		var lines []string
		for _, l := range r.Lines {
			lines = append(lines, fmt.Sprintf("%s e%d %s..%s %s × %s = %s", l.Component, l.ElementIndex,
				l.PeriodStart.Format(time.RFC3339), l.PeriodEnd.Format(time.RFC3339), l.Volume, l.UnitPrice, l.ExclVAT))
		}
		t.Errorf("total %s, want %s\n%s", r.Totals.Total.ExclVAT, excl, strings.Join(lines, "\n"))
	}
}

const berlin = "Europe/Berlin"

func TestPeriodsNoReadings(t *testing.T) {
	t.Parallel()
	// Meter start 1000 Wh, stop 21000 Wh, two hours, nothing in between:
	// one period of 20 kWh and 2 h. ENERGY 0.30 → 6.00, TIME 1.00/h → 2.00.
	tf := testTariff(t, "UTC", `[{"price_components":[{"type":"ENERGY","price":0.30,"step_size":1},{"type":"TIME","price":1.00,"step_size":60}]}]`)
	start := at(t, "UTC", "2024-03-04 10:00")
	in := PeriodInput{Start: start, End: start.Add(2 * time.Hour), MeterStart: ptr(1000), MeterStop: ptr(21000), ParkingThreshold: 100}
	ps, r := mustPrice(t, tf, in)
	if got, want := describe(ps.Periods), "03-04T10:00:00 ENERGY=20 TIME=2"; got != want {
		t.Errorf("periods %q, want %q", got, want)
	}
	if ps.Basis != BasisMeter {
		t.Errorf("basis %s, want %s", ps.Basis, BasisMeter)
	}
	wantTotal(t, r, "8.00")
}

func TestPeriodsAcrossMidnight(t *testing.T) {
	t.Parallel()
	// Weekend energy is cheaper: Friday 23:00 to Saturday 01:00 in Berlin.
	// The register reads 0 at 23:00, 10000 at 23:50, 11000 at 00:10 and
	// 15000 at 01:00: at midnight it is interpolated to 10500. Friday:
	// 10.5 kWh × 0.35 = 3.675; Saturday: 4.5 kWh × 0.25 = 1.125. Total 4.80
	// (one period split in proportion to time would say 7.5 + 7.5 kWh: 4.50).
	tf := testTariff(t, berlin, `[
		{"price_components":[{"type":"ENERGY","price":0.25,"step_size":1}],"restrictions":{"day_of_week":["SATURDAY","SUNDAY"]}},
		{"price_components":[{"type":"ENERGY","price":0.35,"step_size":1}]}]`)
	loc, _ := time.LoadLocation(berlin)
	in := PeriodInput{
		Start: at(t, berlin, "2024-03-01 23:00"), End: at(t, berlin, "2024-03-02 01:00"),
		Readings: Readings{Energy: samples(t, berlin, "2024-03-01 23:00", 0, "2024-03-01 23:50", 10000,
			"2024-03-02 00:10", 11000, "2024-03-02 01:00", 15000)},
		Tariff: tf, Location: loc, ParkingThreshold: 100,
	}
	ps, r := mustPrice(t, tf, in)
	// Power is the register's slope: 12 kW, then 3 kW, then 4.8 kW.
	want := "03-01T22:00:00 ENERGY=10.5 TIME=1 MAX_POWER=12; 03-01T23:00:00 ENERGY=4.5 TIME=1 MAX_POWER=4.8"
	if got := describe(ps.Periods); got != want {
		t.Errorf("periods\n%s\nwant\n%s", got, want)
	}
	wantTotal(t, r, "4.80")
}

func TestPeriodsAcrossDST(t *testing.T) {
	t.Parallel()
	loc, _ := time.LoadLocation(berlin)
	t.Run("spring forward", func(t *testing.T) {
		// 2024-03-31 02:00 CET jumps to 03:00 CEST. Night energy from 02:30
		// (a wall time that does not occur that day: it takes effect at the
		// jump, 01:00 UTC). 00:00 CET to 04:00 CEST is three hours at 6 kW:
		// two before the jump at 0.30 (12 kWh: 3.60), one after at 0.10
		// (6 kWh: 0.60); TIME 1.00/h × 3 h. Total 7.20.
		tf := testTariff(t, berlin, `[
			{"price_components":[{"type":"ENERGY","price":0.10,"step_size":1}],"restrictions":{"start_time":"02:30","end_time":"07:00"}},
			{"price_components":[{"type":"ENERGY","price":0.30,"step_size":1},{"type":"TIME","price":1.00,"step_size":1}]}]`)
		start, end := at(t, berlin, "2024-03-31 00:00"), at(t, berlin, "2024-03-31 04:00")
		if end.Sub(start) != 3*time.Hour {
			t.Fatalf("the night lasts %s", end.Sub(start))
		}
		in := PeriodInput{Start: start, End: end, Tariff: tf, Location: loc, ParkingThreshold: 100,
			Readings: Readings{Energy: []Sample{{start, 0}, {end, 18000}}}}
		ps, r := mustPrice(t, tf, in)
		if got, want := describe(ps.Periods), "03-30T23:00:00 ENERGY=12 TIME=2 MAX_POWER=6; 03-31T01:00:00 ENERGY=6 TIME=1 MAX_POWER=6"; got != want {
			t.Errorf("periods\n%s\nwant\n%s", got, want)
		}
		wantTotal(t, r, "7.20")
	})
	t.Run("fall back", func(t *testing.T) {
		// 2024-10-27 03:00 CEST falls back to 02:00 CET, so 02:30–03:00 local
		// happens twice: 00:30–01:00 UTC and 01:30–02:00 UTC. TIME costs
		// 5.00/h then, 1.00/h otherwise. 01:00 CEST to 04:00 CET is four
		// hours: one at 5.00 and three at 1.00 = 8.00.
		tf := testTariff(t, berlin, `[
			{"price_components":[{"type":"TIME","price":5.00,"step_size":1}],"restrictions":{"start_time":"02:30","end_time":"03:00"}},
			{"price_components":[{"type":"TIME","price":1.00,"step_size":1}]}]`)
		start, end := at(t, berlin, "2024-10-27 01:00"), at(t, berlin, "2024-10-27 04:00")
		if end.Sub(start) != 4*time.Hour {
			t.Fatalf("the night lasts %s", end.Sub(start))
		}
		in := PeriodInput{Start: start, End: end, Tariff: tf, Location: loc, MeterStart: ptr(0), MeterStop: ptr(8000), ParkingThreshold: 100}
		ps, r := mustPrice(t, tf, in)
		want := "10-26T23:00:00 ENERGY=3 TIME=1.5; 10-27T00:30:00 ENERGY=1 TIME=0.5; 10-27T01:00:00 ENERGY=1 TIME=0.5; " +
			"10-27T01:30:00 ENERGY=1 TIME=0.5; 10-27T02:00:00 ENERGY=2 TIME=1"
		if got := describe(ps.Periods); got != want {
			t.Errorf("periods\n%s\nwant\n%s", got, want)
		}
		wantTotal(t, r, "8.00")
	})
}

// parkingTariff bills energy, charging time and parking time.
const parkingTariff = `[{"price_components":[{"type":"ENERGY","price":0.30,"step_size":1},
	{"type":"TIME","price":1.00,"step_size":1},{"type":"PARKING_TIME","price":5.00,"step_size":1}]}]`

func TestPeriodsEndingWithAnHourOfParking(t *testing.T) {
	t.Parallel()
	// 11 kW for an hour, then an hour at 0 W: 11 kWh × 0.30 = 3.30,
	// 1 h × 1.00, 1 h parking × 5.00. Total 9.30.
	tf := testTariff(t, "UTC", parkingTariff)
	start := at(t, "UTC", "2024-03-04 10:00")
	energy := samples(t, "UTC", "2024-03-04 10:00", 0, "2024-03-04 10:30", 5500, "2024-03-04 11:00", 11000,
		"2024-03-04 11:30", 11000, "2024-03-04 12:00", 11000)
	tests := []struct {
		name   string
		in     PeriodInput
		parkAt string // UTC parking start of ParkingFrom, "" for none
	}{
		{"power readings", PeriodInput{Readings: Readings{Energy: energy,
			Power: samples(t, "UTC", "2024-03-04 10:00", 11000, "2024-03-04 10:30", 11000, "2024-03-04 11:00", 40,
				"2024-03-04 11:30", 0, "2024-03-04 12:00", 0)}}, "11:00"},
		{"register slope", PeriodInput{Readings: Readings{Energy: energy}}, "11:00"},
		{"charging states", PeriodInput{Readings: Readings{Energy: energy},
			States: []StateChange{{start, "Charging"}, {start.Add(30 * time.Minute), "SuspendedEVSE"}, {start.Add(time.Hour), "SuspendedEV"}}}, ""},
		{"power readings, meter values only", PeriodInput{MeterStart: ptr(500), MeterStop: ptr(11500),
			Readings: Readings{Power: samples(t, "UTC", "2024-03-04 10:00", 11000, "2024-03-04 10:30", 11000,
				"2024-03-04 11:00", 0, "2024-03-04 12:00", 0)}}, "11:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Start, in.End, in.Tariff, in.ParkingThreshold = start, start.Add(2*time.Hour), tf, 100
			ps, r := mustPrice(t, tf, in)
			wantTotal(t, r, "9.30")
			if r.Usage.ParkingHours.Cmp(decimal.MustParse("1")) != 0 || r.Usage.EnergyKWh.Cmp(decimal.MustParse("11")) != 0 {
				t.Errorf("usage %+v, want 11 kWh and 1 h parking\n%s", r.Usage, describe(ps.Periods))
			}
			got := ""
			if ps.ParkingFrom != nil {
				got = ps.ParkingFrom.Format("15:04")
			}
			if got != tc.parkAt {
				t.Errorf("parking from %q, want %q", got, tc.parkAt)
			}
		})
	}
}

func TestPeriodsPowerAndCurrentBounds(t *testing.T) {
	t.Parallel()
	// Above 11 kW energy costs 0.50, else 0.30; current from 32 A costs
	// 2.00/h of time, else nothing. 22 kW and 32 A for half an hour
	// (11 kWh: 5.50, 0.5 h: 1.00), then 7 kW and 16 A (3.5 kWh: 1.05).
	// Total 7.55 — one period would have priced it all at the average
	// power, 14.5 kW: 14.5 kWh × 0.50 + 1 h × 2.00 = 9.25.
	tf := testTariff(t, "UTC", `[
		{"price_components":[{"type":"ENERGY","price":0.50,"step_size":1}],"restrictions":{"min_power":11}},
		{"price_components":[{"type":"TIME","price":2.00,"step_size":1}],"restrictions":{"min_current":32}},
		{"price_components":[{"type":"ENERGY","price":0.30,"step_size":1}]}]`)
	start := at(t, "UTC", "2024-03-04 10:00")
	in := PeriodInput{Start: start, End: start.Add(time.Hour), Tariff: tf, ParkingThreshold: 100,
		Readings: Readings{
			Energy:  samples(t, "UTC", "2024-03-04 10:00", 0, "2024-03-04 10:30", 11000, "2024-03-04 11:00", 14500),
			Power:   samples(t, "UTC", "2024-03-04 10:00", 22000, "2024-03-04 10:15", 21900, "2024-03-04 10:30", 7000, "2024-03-04 10:45", 7000),
			Current: samples(t, "UTC", "2024-03-04 10:00", 32, "2024-03-04 10:30", 16),
		}}
	ps, r := mustPrice(t, tf, in)
	want := "03-04T10:00:00 ENERGY=11 TIME=0.5 MAX_POWER=22 MAX_CURRENT=32; 03-04T10:30:00 ENERGY=3.5 TIME=0.5 MAX_POWER=7 MAX_CURRENT=16"
	if got := describe(ps.Periods); got != want {
		t.Errorf("periods\n%s\nwant\n%s", got, want)
	}
	wantTotal(t, r, "7.55")
}

func TestPeriodsInterpolatedEdgesAndKWhBounds(t *testing.T) {
	t.Parallel()
	// The first 5 kWh cost 0.20, the rest 0.40. 12 kW throughout, read
	// before and after the session: the register is interpolated at 10:00
	// (2000) and 11:00 (14000), and the 5 kWh are reached at 10:25 (7000).
	// 5 kWh × 0.20 + 7 kWh × 0.40 = 3.80.
	tf := testTariff(t, "UTC", `[
		{"price_components":[{"type":"ENERGY","price":0.20,"step_size":1}],"restrictions":{"max_kwh":5}},
		{"price_components":[{"type":"ENERGY","price":0.40,"step_size":1}]}]`)
	start := at(t, "UTC", "2024-03-04 10:00")
	in := PeriodInput{Start: start, End: start.Add(time.Hour), Tariff: tf, ParkingThreshold: 100,
		Readings: Readings{Energy: samples(t, "UTC", "2024-03-04 09:50", 0, "2024-03-04 10:10", 4000,
			"2024-03-04 10:40", 10000, "2024-03-04 11:10", 16000)}}
	ps, r := mustPrice(t, tf, in)
	want := "03-04T10:00:00 ENERGY=5 TIME=0.416667 MAX_POWER=12; 03-04T10:25:00 ENERGY=7 TIME=0.583333 MAX_POWER=12"
	if got := describe(ps.Periods); got != want {
		t.Errorf("periods\n%s\nwant\n%s", got, want)
	}
	wantTotal(t, r, "3.80")
}

func TestPeriodsPowerIntegral(t *testing.T) {
	t.Parallel()
	// No register, no meter values: 8 kW rising linearly to 12 kW over the
	// hour is 10 kWh.
	start := at(t, "UTC", "2024-03-04 10:00")
	ps, err := BuildPeriods(PeriodInput{Start: start, End: start.Add(time.Hour), ParkingThreshold: 100,
		Readings: Readings{Power: []Sample{{start, 8000}, {start.Add(time.Hour), 12000}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(ps.Periods), "03-04T10:00:00 ENERGY=10 TIME=1 MAX_POWER=8"; got != want || ps.Basis != BasisPower {
		t.Errorf("periods %q (%s), want %q (power)", got, ps.Basis, want)
	}
}

func TestPeriodsErrors(t *testing.T) {
	t.Parallel()
	start := at(t, "UTC", "2024-03-04 10:00")
	for _, tc := range []struct {
		name string
		in   PeriodInput
		want string
	}{
		{"ends before it starts", PeriodInput{Start: start, End: start.Add(-time.Second)}, "before it starts"},
		{"meter stop below start", PeriodInput{Start: start, End: start.Add(time.Hour), MeterStart: ptr(10), MeterStop: ptr(5)}, "below meter start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildPeriods(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFoldOutOfOrderEvents(t *testing.T) {
	t.Parallel()
	t0 := at(t, "UTC", "2024-03-04 10:00")
	started := Event{SeqNo: 0, Type: "Started", Time: t0, ChargingState: "Charging", IDToken: "TAG", EVSE: 1, MeterBegin: ptr(100)}
	updated := Event{SeqNo: 1, Type: "Updated", Time: t0.Add(time.Hour), ChargingState: "SuspendedEV"}
	ended := Event{SeqNo: 2, Type: "Ended", Time: t0.Add(2 * time.Hour), StoppedReason: "EVDisconnected", MeterEnd: ptr(11100)}
	want := fold([]Event{started, updated, ended})
	for _, order := range [][]Event{{ended, updated, started}, {updated, ended, started}, {ended, started, updated}} {
		got := fold(order)
		if !got.start.Equal(want.start) || !got.stop.Equal(*want.stop) || *got.meterStart != 100 || *got.meterStop != 11100 ||
			got.idTag != "TAG" || got.evse != 1 || got.stopReason != "EVDisconnected" || len(got.states) != 2 || got.states[1].State != "SuspendedEV" {
			t.Errorf("fold(%v) = %+v, want %+v", order, got, want)
		}
	}
	// Before the Started event arrives, the earliest known event starts it.
	if got := fold([]Event{ended, updated}); !got.start.Equal(updated.Time) || !got.ended {
		t.Errorf("without Started: %+v", got)
	}
}

func TestPeriodsMeterValuesCompleteTheRegister(t *testing.T) {
	t.Parallel()
	start := at(t, "UTC", "2024-03-04 10:10")
	end := start.Add(30 * time.Minute)
	before := samples(t, "UTC", "2024-03-04 09:00", 12000)
	for _, tc := range []struct {
		name                  string
		meterStart, meterStop *float64
		energy                []Sample
		want                  string
	}{
		// The last reading is an hour old: meter start and stop are the
		// register at the edges, not an interpolation towards that reading.
		{"stale reading before", ptr(12000), ptr(19000), before, "ENERGY=7"},
		// A meter start that cannot be the register (below the reading
		// before it) is ignored: the register is interpolated between the
		// reading and the meter stop, 16 900 Wh at the start.
		{"inconsistent meter start", ptr(12), ptr(19000), before, "ENERGY=2.1"},
		{"readings at the edges win", ptr(0), ptr(99999), samples(t, "UTC", "2024-03-04 10:10", 1000, "2024-03-04 10:40", 3000), "ENERGY=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := BuildPeriods(PeriodInput{Start: start, End: end, MeterStart: tc.meterStart, MeterStop: tc.meterStop,
				Readings: Readings{Energy: tc.energy}, ParkingThreshold: 100})
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(ps.Periods); !strings.Contains(got, " "+tc.want+" ") || ps.Basis != BasisRegister {
				t.Errorf("periods %q (%s), want %s from the register", got, ps.Basis, tc.want)
			}
		})
	}
}

// sortedSamples returns samples already in order as they are, and sorts a
// copy of any others: both ways give what sorting a copy gives.
func TestSortedSamplesInOrderOrNot(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 13))
	base := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	sortCopy := func(s []Sample) []Sample { // the slow path, by hand
		var out []Sample
		for _, x := range s {
			if !math.IsNaN(x.Value) && !math.IsInf(x.Value, 0) {
				out = append(out, Sample{x.Time.UTC(), x.Value})
			}
		}
		slices.SortStableFunc(out, func(a, b Sample) int { return a.Time.Compare(b.Time) })
		var dedup []Sample
		for _, x := range out {
			if n := len(dedup); n > 0 && dedup[n-1].Time.Equal(x.Time) {
				dedup[n-1] = x
				continue
			}
			dedup = append(dedup, x)
		}
		return dedup
	}
	for range 2000 {
		s := make([]Sample, rnd.IntN(8))
		at := base
		for i := range s {
			at = at.Add(time.Duration(rnd.IntN(3)) * time.Minute) // sometimes repeated
			s[i] = Sample{Time: at, Value: float64(rnd.IntN(100))}
			switch rnd.IntN(20) {
			case 0:
				s[i].Value = math.NaN()
			case 1:
				s[i].Value = math.Inf(1)
			case 2:
				s[i].Time = s[i].Time.In(berlin)
			case 3:
				s[i].Time = base.Add(-time.Hour) // out of order
			}
		}
		in := slices.Clone(s)
		got, want := sortedSamples(s), sortCopy(s)
		if !slices.EqualFunc(s, in, func(a, b Sample) bool {
			return a.Time == b.Time && math.Float64bits(a.Value) == math.Float64bits(b.Value)
		}) {
			t.Fatalf("sortedSamples(%v) changed its input", in)
		}
		if len(got) != len(want) {
			t.Fatalf("sortedSamples(%v) = %v, want %v", in, got, want)
		}
		for i := range got {
			if !got[i].Time.Equal(want[i].Time) || got[i].Time.Location() != time.UTC || got[i].Value != want[i].Value {
				t.Fatalf("sortedSamples(%v) = %v, want %v", in, got, want)
			}
		}
		if len(got) > 0 && &got[0] == &s[0] && cap(got) != len(got) {
			t.Fatalf("sortedSamples(%v) leaves room to append into its input", in)
		}
	}
}
