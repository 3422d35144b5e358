// Package rollups precomputes mergeable summaries of every series in
// fixed UTC buckets (15 minutes, 1 hour, 1 day), keeps them current with
// cron jobs, and re-aggregates buckets that late data touched.
package rollups

import "math"

// Summary is the mergeable digest of one series over a span of time: enough
// to answer count, sum, min, max, first, last, the time integral and the
// counter increase of any union of adjacent spans exactly, as if computed
// from the raw samples, and the longest stretch without samples in it (so
// a coarse row still tells whether data is missing inside it).
//
// Times are microseconds since the Unix epoch. Integral is value·seconds,
// linear between consecutive samples, from the first to the last sample of
// the span. Increase is the counter's growth over the same samples, where a
// decrease means the counter restarted from zero (Resets counts those).
type Summary struct {
	N          int64
	Sum        float64
	Min        float64
	Max        float64
	FirstTime  int64
	FirstValue float64
	LastTime   int64
	LastValue  float64
	Integral   float64
	Increase   float64
	Resets     int64
	// MaxGap is the longest time (µs) between consecutive samples of the span.
	MaxGap int64
}

// Point returns the summary of a single sample.
func Point(t int64, v float64) Summary {
	return Summary{N: 1, Sum: v, Min: v, Max: v, FirstTime: t, FirstValue: v, LastTime: t, LastValue: v}
}

// Empty reports whether the summary holds no sample.
func (s Summary) Empty() bool { return s.N == 0 }

// Append merges b, which must start after s ends, onto s. The stretch
// between s's last sample and b's first is accounted for from those two
// samples alone, which is what makes merging exact.
func (s Summary) Append(b Summary) Summary {
	switch {
	case b.Empty():
		return s
	case s.Empty():
		return b
	}
	gapIntegral, gapIncrease, reset := Gap(s.LastTime, s.LastValue, b.FirstTime, b.FirstValue)
	out := Summary{
		N:          s.N + b.N,
		Sum:        s.Sum + b.Sum,
		Min:        math.Min(s.Min, b.Min),
		Max:        math.Max(s.Max, b.Max),
		FirstTime:  s.FirstTime,
		FirstValue: s.FirstValue,
		LastTime:   b.LastTime,
		LastValue:  b.LastValue,
		Integral:   s.Integral + gapIntegral + b.Integral,
		Increase:   s.Increase + gapIncrease + b.Increase,
		Resets:     s.Resets + b.Resets,
		MaxGap:     max(s.MaxGap, b.MaxGap, b.FirstTime-s.LastTime),
	}
	if reset {
		out.Resets++
	}
	return out
}

// Gap returns the integral (value·seconds, linear) and the counter increase
// between two consecutive samples, and whether the counter restarted.
func Gap(t0 int64, v0 float64, t1 int64, v1 float64) (integral, increase float64, reset bool) {
	integral = (v0 + v1) / 2 * float64(t1-t0) / 1e6
	if v1 >= v0 {
		return integral, v1 - v0, false
	}
	return integral, v1, true
}
