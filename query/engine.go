package query

import (
	"fmt"
	"math"

	"github.com/gridmetrics/gridmetrics/rollups"
)

// Quality says how much of a bucket's energy (or integral) was measured
// rather than inferred. From best to worst:
//
//   - complete: the samples cover the whole bucket without a long gap; the
//     register at each edge is interpolated between close samples.
//   - interpolated: a long gap crosses one of the bucket's edges, so the
//     value at that edge was interpolated across the gap.
//   - gap: a long gap lies inside the bucket (both its samples in it) or
//     covers the whole bucket (no sample in it at all).
//   - partial: there is no sample at or before the bucket's start, or none
//     at or after its end: only part of the bucket is measured.
//
// A gap is long when two consecutive samples are further apart than the
// gap threshold (Config.GapThreshold, 15 minutes by default).
type Quality string

// The qualities, best first.
const (
	Complete     Quality = "complete"
	Interpolated Quality = "interpolated"
	Gap          Quality = "gap"
	Partial      Quality = "partial"
)

var qualityRank = map[Quality]int{Complete: 0, Interpolated: 1, Gap: 2, Partial: 3}

// worse returns the worse of two qualities; "" counts as no information.
func worse(a, b Quality) Quality {
	if a == "" || qualityRank[b] > qualityRank[a] {
		return b
	}
	return a
}

// Bucket is everything the engine computes for one output bucket. Times
// are microseconds since the Unix epoch; Start and End are the bucket's
// part inside the requested range.
//
// The statistics of the samples (N, Sum, Min, Max, First…, Last…) count
// the samples with Start ≤ time < End. Integral (value·seconds) and
// Increase (counter growth) also count the stretches between consecutive
// samples, linear, split at the bucket's edges by linear interpolation;
// so the integrals and increases of adjacent buckets add up to those of
// their union, and energy over [a, b) is the interpolated register at b
// minus that at a, counter restarts included. A restart (a decrease) in a
// stretch means the counter started again from 0, so that stretch's
// increase is the new value, spread linearly over the stretch.
type Bucket struct {
	Start, End int64

	N          int64
	Sum        float64
	Min, Max   float64
	FirstTime  int64
	FirstValue float64
	LastTime   int64
	LastValue  float64

	Integral float64
	Increase float64
	// Covered is the time (µs) of the bucket between the series' first and
	// last sample: where Integral is defined.
	Covered int64
	// Long is the time (µs) of the bucket inside stretches longer than the
	// gap threshold.
	Long int64
	// MaxFrom and MaxTo bound the first piece holding Max: one sample's
	// time when the bucket was computed from raw readings, a tier
	// bucket's first and last sample otherwise.
	MaxFrom, MaxTo int64

	Quality Quality
}

// Avg is the mean of the samples; ok is false when there is none.
func (b Bucket) Avg() (avg float64, ok bool) {
	if b.N == 0 {
		return 0, false
	}
	return b.Sum / float64(b.N), true
}

// TWA is the time-weighted average: the integral over the covered part of
// the bucket divided by its duration. A bucket without samples has none
// (even though the line between its neighbours crosses it); a bucket whose
// only sample is the series' only sample has that sample's value.
func (b Bucket) TWA() (twa float64, ok bool) {
	switch {
	case b.N == 0:
		return 0, false
	case b.Covered == 0:
		return b.Avg()
	}
	return b.Integral / (float64(b.Covered) / 1e6), true
}

// Engine folds the pieces of one series — raw samples (rollups.Point) and
// tier rows (their rollups.Summary) in time order — into output buckets.
// Each piece must lie inside one bucket or entirely outside the range: a
// tier whose buckets align with the output buckets guarantees it (see
// Plan). Pieces before the range and after it (the neighbour samples) only
// give the stretches that cross the range's ends.
//
// Because a tier row carries its first and last samples, the stretch
// between two pieces is the same whether the pieces are single samples or
// tier rows, so the result does not depend on which tiers answered.
type Engine struct {
	edges []int64
	gap   int64
	emit  func(Bucket) error

	i   int // the bucket being filled
	cur Bucket
	// flags of the current bucket's quality
	longInside, longAcross bool

	started    bool // a piece was seen
	firstT     int64
	prevT      int64
	prevV      float64
	closed     bool
	emitFailed error
}

// NewEngine returns an engine over the buckets' edges; emit receives each
// bucket once no later piece can change it. gapThreshold is in µs.
func NewEngine(b Buckets, gapThreshold int64, emit func(Bucket) error) *Engine {
	e := &Engine{edges: b.Edges, gap: gapThreshold, emit: emit}
	e.reset()
	return e
}

func (e *Engine) reset() {
	e.cur = Bucket{Start: e.edges[e.i], End: e.edges[e.i+1]}
	e.longInside, e.longAcross = false, false
}

func (e *Engine) last() int64 { return e.edges[len(e.edges)-1] }

// Add folds the next piece in. Pieces must come in time order without
// overlap.
func (e *Engine) Add(p rollups.Summary) error {
	if e.emitFailed != nil {
		return e.emitFailed
	}
	if p.Empty() {
		return nil
	}
	if e.started && p.FirstTime <= e.prevT {
		return fmt.Errorf("query engine: piece at %d does not follow the previous one at %d", p.FirstTime, e.prevT)
	}
	if e.started {
		if err := e.stretch(e.prevT, e.prevV, p.FirstTime, p.FirstValue); err != nil {
			return err
		}
	} else {
		e.started = true
		e.firstT = p.FirstTime
	}
	switch t := p.FirstTime; {
	case t < e.edges[0]:
		if p.LastTime >= e.edges[0] {
			return fmt.Errorf("query engine: piece [%d, %d] straddles the range start %d", t, p.LastTime, e.edges[0])
		}
	case t < e.last():
		if err := e.advance(t); err != nil {
			return err
		}
		if p.LastTime >= e.cur.End {
			return fmt.Errorf("query engine: piece [%d, %d] straddles the bucket edge %d", t, p.LastTime, e.cur.End)
		}
		e.merge(p)
	}
	e.prevT, e.prevV = p.LastTime, p.LastValue
	return nil
}

// advance emits the buckets that end at or before t: a sample at or after
// their end exists (the one at t).
func (e *Engine) advance(t int64) error {
	for e.i < len(e.edges)-2 && e.edges[e.i+1] <= t {
		if err := e.flush(true); err != nil {
			return err
		}
		e.i++
		e.reset()
	}
	return nil
}

func (e *Engine) flush(sampleAfter bool) error {
	b := e.cur
	switch {
	case !e.started || e.firstT > b.Start || !sampleAfter:
		b.Quality = Partial
	case e.longInside:
		b.Quality = Gap
	case e.longAcross:
		b.Quality = Interpolated
	default:
		b.Quality = Complete
	}
	if err := e.emit(b); err != nil {
		e.emitFailed = err
		return err
	}
	return nil
}

// merge adds a piece that lies inside the current bucket.
func (e *Engine) merge(p rollups.Summary) {
	c := &e.cur
	if c.N == 0 {
		c.Min, c.Max = p.Min, p.Max
		c.FirstTime, c.FirstValue = p.FirstTime, p.FirstValue
		c.MaxFrom, c.MaxTo = p.FirstTime, p.LastTime
	} else {
		c.Min = math.Min(c.Min, p.Min)
		if p.Max > c.Max {
			c.Max = p.Max
			c.MaxFrom, c.MaxTo = p.FirstTime, p.LastTime
		}
	}
	c.N += p.N
	c.Sum += p.Sum
	c.LastTime, c.LastValue = p.LastTime, p.LastValue
	c.Integral += p.Integral
	c.Increase += p.Increase
	c.Covered += p.LastTime - p.FirstTime
	if p.MaxGap > e.gap {
		// A long gap inside a tier row: the same flag the raw samples
		// would have raised (Long, the time in such gaps, is not known
		// from a row; stats read tiers no wider than the threshold).
		e.longInside = true
	}
}

// stretch accounts for the line between consecutive samples (t0, v0) and
// (t1, v1), split over the buckets it crosses.
func (e *Engine) stretch(t0 int64, v0 float64, t1 int64, v1 float64) error {
	lo, hi := max(t0, e.edges[0]), min(t1, e.last())
	if lo >= hi {
		return nil
	}
	dt := float64(t1 - t0)
	inc := v1 - v0
	if v1 < v0 {
		inc = v1 // the counter restarted from 0
	}
	long := t1-t0 > e.gap
	// at returns the interpolated value and the cumulative increase at x,
	// exact at the ends so that a stretch inside one bucket adds exactly
	// what rollups.Gap adds for it inside a tier row.
	at := func(x int64) (v, cum float64) {
		switch x {
		case t0:
			return v0, 0
		case t1:
			return v1, inc
		}
		f := float64(x-t0) / dt
		return v0 + (v1-v0)*f, inc * f
	}
	for a := lo; a < hi; {
		if err := e.advance(a); err != nil {
			return err
		}
		b := min(hi, e.cur.End)
		va, ca := at(a)
		vb, cb := at(b)
		c := &e.cur
		if a == t0 && b == t1 {
			c.Integral += (v0 + v1) / 2 * float64(t1-t0) / 1e6 // as rollups.Gap
		} else {
			c.Integral += (va + vb) / 2 * float64(b-a) / 1e6
		}
		c.Increase += cb - ca
		c.Covered += b - a
		if long {
			c.Long += b - a
			inside := t0 >= c.Start && t1 <= c.End
			whole := t0 <= c.Start && t1 >= c.End
			if inside || whole {
				e.longInside = true
			} else {
				e.longAcross = true
			}
		}
		a = b
	}
	return nil
}

// Close emits the buckets not emitted yet. Those after the last sample
// are partial.
func (e *Engine) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	if e.emitFailed != nil {
		return e.emitFailed
	}
	for {
		if err := e.flush(e.started && e.prevT >= e.cur.End); err != nil {
			return err
		}
		if e.i == len(e.edges)-2 {
			return nil
		}
		e.i++
		e.reset()
	}
}
