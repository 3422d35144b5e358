package query

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/rollups"
)

const (
	sec = int64(1e6)
	mn  = 60 * sec
	hr  = 60 * mn
)

// t0 is a UTC midnight, the origin of the hand-computed cases.
var t0 = time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC).UnixMicro()

func points(pairs ...float64) []rollups.Summary {
	var out []rollups.Summary
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, rollups.Point(t0+int64(pairs[i]*float64(mn)), pairs[i+1]))
	}
	return out
}

// hourly is a grid of n one-hour UTC buckets from t0.
func hourly(n int) Buckets {
	g, err := mustStep("1h").Grid(time.UnixMicro(t0), time.UnixMicro(t0+int64(n)*hr), time.UTC, 0)
	if err != nil {
		panic(err)
	}
	return g
}

func mustStep(name string) Step {
	s, ok := ParseStep(name)
	if !ok {
		panic(name)
	}
	return s
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestCounterResetMidBucket: a register read every 10 minutes over two
// hours restarts from 0 in the middle of the first hour.
//
//	min  0     10    20    30  40  50  60  70   80   90   100  110  120
//	Wh   1000  1050  1100  30  50  70  90  120  150  180  210  240  270
//
// Hour 0: 1000→1100 is +100; 1100→30 is a decrease, so the counter
// restarted and that stretch adds the new value, 30; 30→90 is +60: 190 Wh.
// Hour 1: 90→270 is +180 Wh; the sample at 120 closes it exactly. The two
// add up to 370 Wh, the whole range's energy.
func TestCounterResetMidBucket(t *testing.T) {
	t.Parallel()
	got := runEngine(t, hourly(2), points(0, 1000, 10, 1050, 20, 1100, 30, 30, 40, 50, 50, 70, 60, 90, 70, 120, 80, 150, 90, 180, 100, 210, 110, 240, 120, 270))
	near(t, "hour 0", got[0].Increase, 190)
	near(t, "hour 1", got[1].Increase, 180)
	if got[0].Quality != Complete || got[1].Quality != Complete {
		t.Errorf("qualities %s, %s; want complete twice", got[0].Quality, got[1].Quality)
	}
	// The same data as 15-minute tier rows: the same answer.
	tier, _ := rollups.TierByName("15m")
	var rows []rollups.Summary
	var last int64 = -1
	for _, p := range points(0, 1000, 10, 1050, 20, 1100, 30, 30, 40, 50, 50, 70, 60, 90, 70, 120, 80, 150, 90, 180, 100, 210, 110, 240, 120, 270) {
		b := tier.Floor(time.UnixMicro(p.FirstTime)).UnixMicro()
		if b == last {
			rows[len(rows)-1] = rows[len(rows)-1].Append(p)
		} else {
			rows = append(rows, p)
		}
		last = b
	}
	fromTier := runEngine(t, hourly(2), rows)
	near(t, "hour 0 from 15m", fromTier[0].Increase, 190)
	near(t, "hour 1 from 15m", fromTier[1].Increase, 180)
}

// TestResetInsideStraddlingStretch: the counter restarts in a stretch that
// crosses an edge; the new value is spread linearly over the stretch.
//
//	min  -10  50   70  120
//	Wh   490  500  40  100
//
// Hour 0: the stretch -10→50 adds 10 Wh over 60 minutes, of which the 50
// inside the hour give 8.33 Wh; the stretch 50→70 restarted, so it adds
// 40 Wh spread over its 20 minutes: 20 Wh before 01:00. Hour 1: the other
// 20 Wh, then 40→100 adds 60: 80 Wh.
func TestResetInsideStraddlingStretch(t *testing.T) {
	t.Parallel()
	got := runEngine(t, hourly(2), points(-10, 490, 50, 500, 70, 40, 120, 100))
	near(t, "hour 0", got[0].Increase, 10*50.0/60+20)
	near(t, "hour 1", got[1].Increase, 20+60)
}

// TestOneHourGap: power every 10 minutes at 1000 W until 01:00, then
// silence until 02:10, then 1700 W every 10 minutes until 04:00. Hourly
// buckets:
//
//	00:00 samples throughout, a sample on its end edge: complete.
//	01:00 its only sample is the one at 01:00; the 70-minute gap covers
//	      the rest of it: gap.
//	02:00 its start edge lies in the gap, interpolated across it:
//	      interpolated.
//	03:00 samples throughout, and the last one on its end edge: complete.
//
// Across the gap power is interpolated from 1000 W (01:00) to 1700 W
// (02:10), 10 W a minute: 1600 W at 02:00. Hour 01:00 integrates
// (1000+1600)/2 W over 1 h = 1300 Wh; hour 02:00 gets (1600+1700)/2 W
// over 10 min = 275 Wh plus 1700 W over 50 min = 1416.67 Wh. Of hour
// 01:00 all 60 minutes lie in the gap, of hour 02:00 the first 10.
func TestOneHourGap(t *testing.T) {
	t.Parallel()
	var ps []float64
	for m := 0.0; m <= 60; m += 10 {
		ps = append(ps, m, 1000)
	}
	for m := 130.0; m <= 240; m += 10 {
		ps = append(ps, m, 1700)
	}
	got := runEngine(t, hourly(4), points(ps...))
	want := []Quality{Complete, Gap, Interpolated, Complete}
	for i, q := range want {
		if got[i].Quality != q {
			t.Errorf("bucket %d: quality %s, want %s", i, got[i].Quality, q)
		}
	}
	near(t, "01:00 energy Wh", got[1].Integral/3600, 1300)
	near(t, "02:00 energy Wh", got[2].Integral/3600, 275+1700*50.0/60)
	near(t, "01:00 long µs", float64(got[1].Long), float64(hr))
	near(t, "02:00 long µs", float64(got[2].Long), float64(10*mn))

	// As one bucket, the gap lies inside it.
	whole := runEngine(t, Whole(time.UnixMicro(t0), time.UnixMicro(t0+4*hr), time.UTC), points(ps...))
	if whole[0].Quality != Gap {
		t.Errorf("the whole range holds the gap: quality %s, want gap", whole[0].Quality)
	}
}

// TestGapCoveringWholeBucket: samples every 5 minutes except from 00:50
// to 02:20: no sample at all in 01:00–02:00, so that hour is a gap and
// its neighbours are interpolated at the edge the gap crosses.
func TestGapCoveringWholeBucket(t *testing.T) {
	t.Parallel()
	var ps []float64
	for m := 0.0; m <= 180; m += 5 {
		if m <= 50 || m >= 140 {
			ps = append(ps, m, 5)
		}
	}
	got := runEngine(t, hourly(3), points(ps...))
	want := []Quality{Interpolated, Gap, Interpolated}
	for i, q := range want {
		if got[i].Quality != q {
			t.Errorf("bucket %d: quality %s, want %s", i, got[i].Quality, q)
		}
	}
	if got[1].N != 0 {
		t.Errorf("bucket 1 has %d samples", got[1].N)
	}
	if _, ok := got[1].TWA(); ok {
		t.Error("an empty bucket has a twa")
	}
}

// TestPartialEdges: samples every 10 minutes from 00:30 to 01:30 leave
// nothing before the first hour's start or after the second's end: both
// are partial. With samples just outside the range (the neighbours the
// planner reads) both are complete.
func TestPartialEdges(t *testing.T) {
	t.Parallel()
	got := runEngine(t, hourly(2), points(30, 1, 40, 2, 50, 3, 60, 4, 70, 5, 80, 6, 90, 7))
	if got[0].Quality != Partial || got[1].Quality != Partial {
		t.Fatalf("qualities %s %s, want partial twice", got[0].Quality, got[1].Quality)
	}
	var ps []float64
	for m := -5.0; m <= 125; m += 10 {
		ps = append(ps, m, m)
	}
	got = runEngine(t, hourly(2), points(ps...))
	if got[0].Quality != Complete || got[1].Quality != Complete {
		t.Fatalf("qualities %s %s, want complete twice", got[0].Quality, got[1].Quality)
	}
}

// TestDSTDayTotals: a register growing by exactly 1 kWh an hour, read
// every 15 minutes, over local days in Europe/London. Spring forward
// (2025-03-30) has 23 hours: 23 kWh; fall back (2025-10-26) has 25: 25 kWh;
// the days around them 24.
func TestDSTDayTotals(t *testing.T) {
	t.Parallel()
	london, _ := time.LoadLocation("Europe/London")
	for _, tc := range []struct {
		name string
		day  time.Time
		want []float64
	}{
		{"spring forward", time.Date(2025, 3, 29, 0, 0, 0, 0, london), []float64{24, 23, 24}},
		{"fall back", time.Date(2025, 10, 25, 0, 0, 0, 0, london), []float64{24, 25, 24}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := tc.day, tc.day.AddDate(0, 0, 3)
			var ps []rollups.Summary
			for at := from.Add(-time.Hour); !at.After(to.Add(time.Hour)); at = at.Add(15 * time.Minute) {
				ps = append(ps, rollups.Point(at.UnixMicro(), 1000*at.Sub(from).Hours()+5e6))
			}
			g, err := mustStep("1d").Grid(from, to, london, 0)
			if err != nil {
				t.Fatal(err)
			}
			got := runEngine(t, g, ps)
			for i, w := range tc.want {
				near(t, g.Start(i).Format(time.DateOnly)+" kWh", kWh(got[i], MethodCounter), w)
				if hours := g.End(i).Sub(g.Start(i)).Hours(); hours != w {
					t.Errorf("%s lasts %v h", g.Start(i).Format(time.DateOnly), hours)
				}
				if got[i].Quality != Complete {
					t.Errorf("%s: %s", g.Start(i).Format(time.DateOnly), got[i].Quality)
				}
			}
		})
	}
}

// TestPowerOnlyMeter: a meter with power readings alone. Power 2 kW from
// 00:00, rising linearly to 4 kW at 00:30, then 4 kW until 01:30, read
// every 5 minutes. Energy is the integral: hour 0 is 30 min at a mean
// of 3 kW (1.5 kWh) plus 30 min at 4 kW (2 kWh) = 3.5 kWh; hour 1 is 4 kW
// until 01:30 then nothing more (partial): 2 kWh over the covered part,
// and its time-weighted average is 4 kW.
func TestPowerOnlyMeter(t *testing.T) {
	t.Parallel()
	var ps []float64
	for m := 0.0; m <= 90; m += 5 {
		ps = append(ps, m, math.Min(4000, 2000+m/30*2000))
	}
	got := runEngine(t, hourly(2), points(ps...))
	near(t, "hour 0 kWh", kWh(got[0], MethodPower), 3.5)
	near(t, "hour 1 kWh", kWh(got[1], MethodPower), 2)
	if twa, _ := got[1].TWA(); math.Abs(twa-4000) > 1e-9 {
		t.Errorf("hour 1 twa %v, want 4000", twa)
	}
	// avg counts samples: hour 0 has 2000, 2333.33, …, 3666.67 (6) and 4000 ×6.
	if avg, _ := got[0].Avg(); math.Abs(avg-(2000+2333.333333333333+2666.6666666666665+3000+3333.333333333333+3666.6666666666665+4000*6)/12) > 1e-6 {
		t.Errorf("hour 0 avg %v", avg)
	}
	if got[0].Quality != Complete || got[1].Quality != Partial {
		t.Errorf("qualities %s %s", got[0].Quality, got[1].Quality)
	}
	st := statsOf(time.UnixMicro(t0), time.UnixMicro(t0+2*hr), wholeOf(t, ps), Bucket{})
	if st.EnergyMethod != MethodPower || *st.PeakPowerW != 4000 || st.SampleCount != 19 {
		t.Fatalf("stats %+v", st)
	}
	near(t, "stats energy", *st.EnergyKWh, 5.5)
	near(t, "average power (5.5 kWh / 2 h)", *st.AveragePowerW, 2750)
	near(t, "load factor", *st.LoadFactor, 2750.0/4000)
	near(t, "completeness (90 of 120 minutes)", st.Completeness, 0.75)
}

func wholeOf(t *testing.T, ps []float64) Bucket {
	t.Helper()
	return runEngine(t, Whole(time.UnixMicro(t0), time.UnixMicro(t0+2*hr), time.UTC), points(ps...))[0]
}

// TestStraddlingStretchSplit: one stretch from 00:50 (100) to 01:10 (300)
// split at 01:00, where the line is at 200: hour 0 integrates
// (100+200)/2 × 600 s = 90 000, hour 1 (200+300)/2 × 600 s = 150 000; the
// time-weighted averages over the 10 covered minutes are 150 and 250.
func TestStraddlingStretchSplit(t *testing.T) {
	t.Parallel()
	got := runEngine(t, hourly(2), points(50, 100, 70, 300))
	near(t, "hour 0", got[0].Integral, 90_000)
	near(t, "hour 1", got[1].Integral, 150_000)
	if got[0].Covered != 10*mn || got[1].Covered != 10*mn {
		t.Errorf("covered %d %d", got[0].Covered, got[1].Covered)
	}
	if a, _ := got[0].TWA(); a != 150 {
		t.Errorf("twa %v", a)
	}
	if a, _ := got[1].TWA(); a != 250 {
		t.Errorf("twa %v", a)
	}
}

func TestEngineRefusesMisalignedPieces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		pieces []rollups.Summary
		want   string
	}{
		{"straddles an edge", []rollups.Summary{rollups.Point(t0+50*mn, 1).Append(rollups.Point(t0+70*mn, 2))}, "straddles the bucket edge"},
		{"straddles the start", []rollups.Summary{rollups.Point(t0-mn, 1).Append(rollups.Point(t0+mn, 2))}, "straddles the range start"},
		{"out of order", []rollups.Summary{rollups.Point(t0+mn, 1), rollups.Point(t0+mn, 2)}, "does not follow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(hourly(2), 15*mn, func(Bucket) error { return nil })
			var err error
			for _, p := range tt.pieces {
				if err = e.Add(p); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEmptySeries(t *testing.T) {
	t.Parallel()
	got := runEngine(t, hourly(3), nil)
	for i, b := range got {
		if b.Quality != Partial || b.N != 0 || b.Integral != 0 {
			t.Errorf("bucket %d: %+v", i, b)
		}
	}
}
