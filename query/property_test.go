package query

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/rollups"
)

// sample is one raw reading (µs, value).
type sample struct {
	t int64
	v float64
}

// genSeries makes a random series starting at start (µs): irregular
// spacing, occasional gaps of up to 3 hours, and — for counters — a
// growing register with resets; gauges wander between 0 and 10 kW.
// Duplicated times occur (a resend with a corrected value); dedupe keeps
// the last, as ingest does.
func genSeries(rng *rand.Rand, start, end int64, counter bool) []sample {
	var out []sample
	t, v := start+int64(rng.IntN(600))*1e6, rng.Float64()*5000
	for t < end {
		out = append(out, sample{t, v})
		if rng.IntN(40) == 0 && len(out) > 0 {
			out = append(out, sample{t, v + rng.Float64()}) // duplicate time, later value wins
		}
		switch rng.IntN(60) {
		case 0:
			t += int64(15*60+rng.IntN(3*3600)) * 1e6 // a long gap
		default:
			t += int64(1+rng.IntN(300))*1e6 + int64(rng.IntN(1000)) // irregular, sub-second too
		}
		if counter {
			switch rng.IntN(150) {
			case 0:
				v = rng.Float64() * 10 // a reset
			default:
				v += rng.Float64() * 50
			}
		} else {
			v = math.Max(0, math.Min(10000, v+(rng.Float64()-0.5)*800))
		}
	}
	return out
}

// dedupe sorts by time and keeps the last value given for each time.
func dedupe(in []sample) []sample {
	s := slices.Clone(in)
	sort.SliceStable(s, func(i, j int) bool { return s[i].t < s[j].t })
	out := s[:0]
	for _, x := range s {
		if n := len(out); n > 0 && out[n-1].t == x.t {
			out[n-1] = x
			continue
		}
		out = append(out, x)
	}
	return out
}

// tierRow is a tier bucket built in Go the way the rollups package builds
// it: the samples grouped by tier.Floor and folded with Append.
type tierRow struct {
	bucket int64
	sum    rollups.Summary
}

func buildTier(t rollups.Tier, raw []sample, until int64) []tierRow {
	var out []tierRow
	for _, s := range raw {
		b := t.Floor(time.UnixMicro(s.t)).UnixMicro()
		if b >= until {
			break
		}
		if n := len(out); n > 0 && out[n-1].bucket == b {
			out[n-1].sum = out[n-1].sum.Append(rollups.Point(s.t, s.v))
			continue
		}
		out = append(out, tierRow{b, rollups.Point(s.t, s.v)})
	}
	return out
}

// memSeries is a series with its raw samples and tier rows in memory,
// read the way Service.run reads the database.
type memSeries struct {
	raw   []sample
	tiers map[string][]tierRow
}

func (m memSeries) pieces(plan []Segment, from, to int64) []rollups.Summary {
	var out []rollups.Summary
	i := m.search(from)
	if i > 0 {
		out = append(out, rollups.Point(m.raw[i-1].t, m.raw[i-1].v))
	}
	for _, seg := range plan {
		if seg.Tier == nil {
			for _, s := range m.raw[m.search(seg.From):m.search(seg.To)] {
				out = append(out, rollups.Point(s.t, s.v))
			}
			continue
		}
		rows := m.tiers[seg.Tier.Name]
		k := sort.Search(len(rows), func(i int) bool { return rows[i].bucket >= seg.From })
		for ; k < len(rows) && rows[k].bucket < seg.To; k++ {
			out = append(out, rows[k].sum)
		}
	}
	j := m.search(to)
	if j < len(m.raw) {
		out = append(out, rollups.Point(m.raw[j].t, m.raw[j].v))
	}
	return out
}

// search returns the index of the first sample at or after t.
func (m memSeries) search(t int64) int {
	return sort.Search(len(m.raw), func(i int) bool { return m.raw[i].t >= t })
}

func runEngine(t *testing.T, g Buckets, pieces []rollups.Summary) []Bucket {
	t.Helper()
	var out []Bucket
	e := NewEngine(g, (15 * time.Minute).Microseconds(), func(b Bucket) error {
		out = append(out, b)
		return nil
	})
	for _, p := range pieces {
		if err := e.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if len(out) != g.Len() {
		t.Fatalf("engine emitted %d buckets for a grid of %d", len(out), g.Len())
	}
	return out
}

func close9(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// sameBucket compares two answers for one bucket; withQuality also
// compares what depends on seeing every long gap.
func sameBucket(a, b Bucket, withQuality bool) error {
	switch {
	case a.Start != b.Start || a.End != b.End:
		return fmt.Errorf("span [%d,%d) vs [%d,%d)", a.Start, a.End, b.Start, b.End)
	case a.N != b.N || !close9(a.Sum, b.Sum):
		return fmt.Errorf("n/sum %d/%v vs %d/%v", a.N, a.Sum, b.N, b.Sum)
	case a.N > 0 && (a.Min != b.Min || a.Max != b.Max || a.FirstTime != b.FirstTime || a.FirstValue != b.FirstValue ||
		a.LastTime != b.LastTime || a.LastValue != b.LastValue):
		return fmt.Errorf("min/max/first/last %+v vs %+v", a, b)
	case !close9(a.Integral, b.Integral):
		return fmt.Errorf("integral %v vs %v", a.Integral, b.Integral)
	case !close9(a.Increase, b.Increase):
		return fmt.Errorf("increase %v vs %v", a.Increase, b.Increase)
	case a.Covered != b.Covered:
		return fmt.Errorf("covered %d vs %d", a.Covered, b.Covered)
	}
	ta, oka := a.TWA()
	tb, okb := b.TWA()
	if oka != okb || !close9(ta, tb) {
		return fmt.Errorf("twa %v/%v vs %v/%v", ta, oka, tb, okb)
	}
	aa, _ := a.Avg()
	ab, _ := b.Avg()
	if !close9(aa, ab) {
		return fmt.Errorf("avg %v vs %v", aa, ab)
	}
	if withQuality && (a.Long != b.Long || a.Quality != b.Quality) {
		return fmt.Errorf("long/quality %d/%s vs %d/%s", a.Long, a.Quality, b.Long, b.Quality)
	}
	return nil
}

// oracle computes buckets straight from the samples, differently from the
// engine: statistics by filtering, integral and counter energy as
// differences of cumulative functions (the interpolated register at b
// minus at a).
type oracle struct {
	s      []sample
	cumInt []float64 // integral from the first sample to sample i, value·s
	cumInc []float64 // counter increase from the first sample to sample i
}

func newOracle(s []sample) oracle {
	o := oracle{s: s, cumInt: make([]float64, len(s)), cumInc: make([]float64, len(s))}
	for i := 1; i < len(s); i++ {
		a, b := s[i-1], s[i]
		o.cumInt[i] = o.cumInt[i-1] + (a.v+b.v)/2*float64(b.t-a.t)/1e6
		inc := b.v - a.v
		if b.v < a.v {
			inc = b.v
		}
		o.cumInc[i] = o.cumInc[i-1] + inc
	}
	return o
}

// at returns the cumulative integral and increase at t, clamped to the
// samples' span.
func (o oracle) at(t int64) (integral, increase float64) {
	n := len(o.s)
	if t <= o.s[0].t {
		return 0, 0
	}
	if t >= o.s[n-1].t {
		return o.cumInt[n-1], o.cumInc[n-1]
	}
	j := sort.Search(n, func(i int) bool { return o.s[i].t >= t })
	if o.s[j].t == t {
		return o.cumInt[j], o.cumInc[j]
	}
	a, b := o.s[j-1], o.s[j]
	f := float64(t-a.t) / float64(b.t-a.t)
	v := a.v + (b.v-a.v)*f
	inc := b.v - a.v
	if b.v < a.v {
		inc = b.v
	}
	return o.cumInt[j-1] + (a.v+v)/2*float64(t-a.t)/1e6, o.cumInc[j-1] + inc*f
}

func (o oracle) check(g Buckets, got []Bucket) error {
	for i, b := range got {
		lo, hi := g.Edges[i], g.Edges[i+1]
		var n int64
		var sum float64
		mn, mx := math.Inf(1), math.Inf(-1)
		k := sort.Search(len(o.s), func(i int) bool { return o.s[i].t >= lo })
		for _, s := range o.s[k:] {
			if s.t >= hi {
				break
			}
			n++
			sum += s.v
			mn, mx = math.Min(mn, s.v), math.Max(mx, s.v)
		}
		i0, c0 := o.at(lo)
		i1, c1 := o.at(hi)
		// Differences of large cumulative sums lose a little precision.
		tol := func(x, y, scale float64) bool {
			return math.Abs(x-y) <= 1e-9*math.Max(1, math.Max(math.Abs(x), math.Abs(scale)))
		}
		switch {
		case n != b.N || !close9(sum, b.Sum):
			return fmt.Errorf("bucket %d: n/sum %d/%v, oracle %d/%v", i, b.N, b.Sum, n, sum)
		case n > 0 && (mn != b.Min || mx != b.Max):
			return fmt.Errorf("bucket %d: min/max %v/%v, oracle %v/%v", i, b.Min, b.Max, mn, mx)
		case !tol(b.Integral, i1-i0, i1):
			return fmt.Errorf("bucket %d: integral %v, oracle %v", i, b.Integral, i1-i0)
		case !tol(b.Increase, c1-c0, c1):
			return fmt.Errorf("bucket %d: increase %v, oracle %v", i, b.Increase, c1-c0)
		}
	}
	return nil
}

var propertyZones = []string{"UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"}

// propertyStarts put the data across DST changes and month ends: New York
// springs forward on 2025-03-09, London on 2025-03-30 and falls back on
// 2025-10-26, New York falls back on 2025-11-02.
var propertyStarts = []time.Time{
	time.Date(2025, 3, 7, 5, 0, 0, 0, time.UTC),
	time.Date(2025, 3, 28, 20, 0, 0, 0, time.UTC),
	time.Date(2025, 10, 24, 13, 0, 0, 0, time.UTC),
	time.Date(2025, 10, 30, 2, 0, 0, 0, time.UTC),
	time.Date(2025, 1, 30, 0, 0, 0, 0, time.UTC),
}

// TestPropertyTiersAgreeWithRaw is the property test of DESIGN.md §5:
// for random series (irregular spacing, long gaps, counter resets,
// duplicates, late rows written after the tiers were built), every
// bucket's count, sum, min, max, first, last, avg, twa, integral and
// counter energy agree whether the planner reads raw samples only or the
// tiers, over random ranges, every bucket size and five zones across DST
// changes; both agree with an independent oracle; and with tiers no wider
// than the gap threshold (as energy uses them) the quality flags agree too.
func TestPropertyTiersAgreeWithRaw(t *testing.T) {
	t.Parallel()
	seeds := 40
	if testing.Short() {
		seeds = 6
	}
	used := map[string]int{}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b9))
		base := propertyStarts[seed%len(propertyStarts)]
		start, end := base.UnixMicro(), base.Add(5*24*time.Hour).UnixMicro()
		counter := seed%2 == 0
		early := dedupe(genSeries(rng, start, end, counter))

		// Tiers built up to random watermarks (each at most the one below),
		// then late rows — new times and corrections of old ones — arrive
		// behind the watermarks and wait in the invalidation log.
		wm := map[string]int64{}
		limit := end + 24*3600*1e6
		for _, tier := range rollups.Tiers {
			w := tier.Width.Microseconds()
			limit = floorTo(start+rng.Int64N(limit-start+1), w)
			wm[tier.Name] = limit
		}
		var late []sample
		if seed%3 != 0 && wm["15m"] > start {
			for range 1 + rng.IntN(15) {
				at := start + rng.Int64N(wm["15m"]-start+1)
				if rng.IntN(2) == 0 && len(early) > 0 {
					at = early[rng.IntN(len(early))].t // a correction
				}
				late = append(late, sample{at, rng.Float64() * 8000})
			}
		}
		m := memSeries{raw: dedupe(append(slices.Clone(early), late...)), tiers: map[string][]tierRow{}}
		var states []TierState
		for _, tier := range rollups.Tiers {
			m.tiers[tier.Name] = buildTier(tier, early, wm[tier.Name])
			until := wm[tier.Name]
			for _, l := range late {
				until = min(until, l.t)
			}
			states = append(states, TierState{Tier: tier, Until: time.UnixMicro(until)})
		}
		o := newOracle(m.raw)

		for _, zone := range propertyZones {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range Steps {
				for r := range 3 {
					span := end - start
					if step.Name == "1m" {
						span = 24 * 3600 * 1e6
					}
					from := start - 3600*1e6 + rng.Int64N(end-start)
					if r == 0 {
						from = time.UnixMicro(start).In(loc).Truncate(time.Hour).UnixMicro() // often aligned
					}
					to := from + 1 + rng.Int64N(span)
					g, err := step.Grid(time.UnixMicro(from), time.UnixMicro(to), loc, 0)
					if err != nil {
						t.Fatal(err)
					}
					name := fmt.Sprintf("seed %d %s %s [%s, %s)", seed, zone, step.Name,
						time.UnixMicro(from).In(loc).Format(time.RFC3339), time.UnixMicro(to).In(loc).Format(time.RFC3339))

					rawPlan := Plan(g, nil, 0)
					want := runEngine(t, g, m.pieces(rawPlan, from, to))
					if err := o.check(g, want); err != nil {
						t.Fatalf("%s: raw vs oracle: %v", name, err)
					}
					var total float64
					for _, b := range want {
						total += b.Increase
					}
					_, c0 := o.at(from)
					_, c1 := o.at(to)
					if !close9(total, c1-c0) {
						t.Fatalf("%s: buckets add up to %v, the whole range to %v", name, total, c1-c0)
					}
					for _, cap := range []time.Duration{0, 15 * time.Minute} {
						plan := Plan(g, states, cap)
						for _, n := range Tiers(plan) {
							used[n]++
						}
						got := runEngine(t, g, m.pieces(plan, from, to))
						for i := range want {
							if err := sameBucket(got[i], want[i], cap > 0); err != nil {
								t.Fatalf("%s: plan %v (cap %s), bucket %d: %v", name, Tiers(plan), cap, i, err)
							}
							// Rows carry their longest gap: the quality flag
							// agrees from any tier.
							if got[i].Quality != want[i].Quality {
								t.Fatalf("%s: plan %v (cap %s), bucket %d: quality %s, want %s", name, Tiers(plan), cap, i, got[i].Quality, want[i].Quality)
							}
						}
					}
				}
			}
		}
	}
	for _, tier := range []string{"15m", "1h", "1d", "raw"} {
		if used[tier] == 0 {
			t.Errorf("no plan used the %s tier: the test proves nothing about it (%v)", tier, used)
		}
	}
	t.Logf("plans using each source: %v", used)
}
