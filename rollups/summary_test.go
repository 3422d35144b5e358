package rollups

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomSeries makes n samples with irregular spacing, long gaps and
// counter resets.
func randomSeries(rng *rand.Rand, n int, start int64) (times []int64, values []float64) {
	t, v := start, rng.Float64()*1000
	for range n {
		switch rng.IntN(20) {
		case 0:
			t += int64(rng.IntN(3*3600)) * 1e6 // a gap of up to 3 h
		default:
			t += int64(1+rng.IntN(60)) * 1e6
		}
		switch rng.IntN(50) {
		case 0:
			v = rng.Float64() * 10 // a reset
		default:
			v += rng.Float64() * 5
		}
		times = append(times, t)
		values = append(values, v)
	}
	return times, values
}

func fold(times []int64, values []float64) Summary {
	var s Summary
	for i := range times {
		s = s.Append(Point(times[i], values[i]))
	}
	return s
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func sameSummary(a, b Summary) bool {
	return a.N == b.N && near(a.Sum, b.Sum) && a.Min == b.Min && a.Max == b.Max &&
		a.FirstTime == b.FirstTime && a.FirstValue == b.FirstValue && a.LastTime == b.LastTime &&
		a.LastValue == b.LastValue && near(a.Integral, b.Integral) && near(a.Increase, b.Increase) && a.Resets == b.Resets &&
		a.MaxGap == b.MaxGap
}

// TestAppendIsExact: folding the samples one by one equals folding chunks
// and appending the chunks, for any chunking.
func TestAppendIsExact(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		times, values := randomSeries(rng, 1+rng.IntN(300), 1_700_000_000_000_000)
		whole := fold(times, values)
		var merged Summary
		for i := 0; i < len(times); {
			j := min(len(times), i+1+rng.IntN(40))
			merged = merged.Append(fold(times[i:j], values[i:j]))
			i = j
		}
		if !sameSummary(whole, merged) {
			t.Fatalf("round %d: whole %+v\nmerged %+v", round, whole, merged)
		}
	}
}

func TestSummaryByHand(t *testing.T) {
	t.Parallel()
	const s = int64(1e6)
	// A counter 100 → 160 → reset to 10 → 30, one sample a minute.
	got := fold([]int64{0, 60 * s, 120 * s, 180 * s}, []float64{100, 160, 10, 30})
	want := Summary{N: 4, Sum: 300, Min: 10, Max: 160, FirstTime: 0, FirstValue: 100, LastTime: 180 * s, LastValue: 30,
		Integral: (100+160)/2*60 + (160+10)/2*60 + (10+30)/2*60, Increase: 60 + 10 + 20, Resets: 1, MaxGap: 60 * s}
	if !sameSummary(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if e := (Summary{}).Append(Summary{}); !e.Empty() {
		t.Fatalf("empty append: %+v", e)
	}
}
