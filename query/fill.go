package query

import (
	"math"
	"strings"
	"time"
)

// Agg is an aggregate a downsampled query may ask for.
type Agg string

// The aggregates. twa is the time-weighted average (see Bucket.TWA).
const (
	AggAvg   Agg = "avg"
	AggMin   Agg = "min"
	AggMax   Agg = "max"
	AggSum   Agg = "sum"
	AggCount Agg = "count"
	AggFirst Agg = "first"
	AggLast  Agg = "last"
	AggTWA   Agg = "twa"
)

// Aggs lists every aggregate in the order they are documented.
var Aggs = []Agg{AggAvg, AggMin, AggMax, AggSum, AggCount, AggFirst, AggLast, AggTWA}

func aggNames() string {
	s := make([]string, len(Aggs))
	for i, a := range Aggs {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

// value returns the aggregate of a bucket; ok is false for an empty bucket
// (count is then 0, and ok true).
func (a Agg) value(b Bucket) (v float64, ok bool) {
	switch a {
	case AggCount:
		return float64(b.N), true
	case AggTWA:
		return b.TWA()
	case AggAvg:
		return b.Avg()
	}
	if b.N == 0 {
		return 0, false
	}
	switch a {
	case AggMin:
		return b.Min, true
	case AggMax:
		return b.Max, true
	case AggSum:
		return b.Sum, true
	case AggFirst:
		return b.FirstValue, true
	case AggLast:
		return b.LastValue, true
	}
	return 0, false
}

// Fill says what a downsampled query answers for a bucket without samples.
type Fill string

// The fill policies:
//   - none: leave the bucket out;
//   - null: answer it with null values (count 0);
//   - previous: repeat the values of the last bucket with samples (null
//     before the first one);
//   - linear: interpolate each value linearly, in time between the bucket
//     starts, from the buckets with samples before and after it (null at
//     the ends of the range, where one of them is missing).
//
// Fill never changes count, which stays 0; it applies to the other
// aggregates, twa included.
const (
	FillNone     Fill = "none"
	FillNull     Fill = "null"
	FillPrevious Fill = "previous"
	FillLinear   Fill = "linear"
)

// Fills lists the fill policies.
var Fills = []Fill{FillNone, FillNull, FillPrevious, FillLinear}

// Row is one output row of a downsampled query: the nominal bucket start
// and one value per requested aggregate, Valid[i] false for null.
type Row struct {
	Time   time.Time
	Values []float64
	Valid  []bool
}

// filler turns buckets into rows with the requested aggregates, applying
// the fill policy. Linear fill holds the empty buckets between two
// buckets with samples, at most the number of buckets of the request.
type filler struct {
	aggs []Agg
	fill Fill
	emit func(Row) error

	prev    *Row  // the last row with samples
	pending []Row // empty rows waiting for the next row with samples (linear)
}

func newFiller(aggs []Agg, fill Fill, emit func(Row) error) *filler {
	return &filler{aggs: aggs, fill: fill, emit: emit}
}

func (f *filler) push(start time.Time, b Bucket) error {
	r := Row{Time: start, Values: make([]float64, len(f.aggs)), Valid: make([]bool, len(f.aggs))}
	for i, a := range f.aggs {
		v, ok := a.value(b)
		if ok && !math.IsInf(v, 0) && !math.IsNaN(v) {
			r.Values[i], r.Valid[i] = v, true
		}
	}
	if b.N > 0 {
		if f.fill == FillLinear {
			if err := f.flushLinear(&r); err != nil {
				return err
			}
		}
		f.prev = &r
		return f.emit(r)
	}
	switch f.fill {
	case FillNone:
		return nil
	case FillPrevious:
		if f.prev != nil {
			for i, a := range f.aggs {
				if a != AggCount {
					r.Values[i], r.Valid[i] = f.prev.Values[i], f.prev.Valid[i]
				}
			}
		}
	case FillLinear:
		f.pending = append(f.pending, r)
		return nil
	}
	return f.emit(r)
}

// flushLinear emits the pending empty rows interpolated between f.prev and
// next (nil at the end of the range: they stay null).
func (f *filler) flushLinear(next *Row) error {
	for _, r := range f.pending {
		if f.prev != nil && next != nil {
			span := float64(next.Time.Sub(f.prev.Time))
			w := float64(r.Time.Sub(f.prev.Time)) / span
			for i, a := range f.aggs {
				if a != AggCount && f.prev.Valid[i] && next.Valid[i] {
					r.Values[i], r.Valid[i] = f.prev.Values[i]+(next.Values[i]-f.prev.Values[i])*w, true
				}
			}
		}
		if err := f.emit(r); err != nil {
			return err
		}
	}
	f.pending = f.pending[:0]
	return nil
}

func (f *filler) close() error {
	if f.fill == FillLinear {
		return f.flushLinear(nil)
	}
	return nil
}
