package query

import (
	"slices"
	"time"

	"github.com/gridmetrics/gridmetrics/rollups"
)

// TierState is what the planner knows of one tier for one series: the rows
// of buckets that start before Until are computed and current. Until is
// the tier's watermark, or earlier when the series has late data the
// rollups have not re-aggregated yet (rollup_invalidations).
type TierState struct {
	Tier  rollups.Tier
	Until time.Time
}

// Segment is a part [From, To) (µs) of a request's range read from one
// place: a tier, or raw readings when Tier is nil.
type Segment struct {
	Tier     *rollups.Tier
	From, To int64
}

// Name is the tier's name or "raw".
func (s Segment) Name() string {
	if s.Tier == nil {
		return "raw"
	}
	return s.Tier.Name
}

// aligned reports whether every interior edge of the grid is a boundary of
// the tier's UTC buckets, so that no tier bucket straddles an output
// bucket. Checking the edges themselves rather than the zone's offsets
// keeps the rule exact: 1h aligns with every whole-hour offset (and not
// with +05:30), 15m with every offset in use since 2000, and 1d with daily
// buckets only where local midnight is UTC midnight (UTC, or London in
// winter). The range's own ends need not align: Plan reads the ragged
// ends from finer tiers or raw readings.
func aligned(t rollups.Tier, b Buckets) bool {
	w := t.Width.Microseconds()
	for _, e := range b.Edges[1 : len(b.Edges)-1] {
		if e%w != 0 {
			return false
		}
	}
	return true
}

// Plan splits the range of b into segments, in time order, each read from
// the coarsest usable tier: one whose buckets align with the output
// buckets (aligned), no wider than maxWidth (0: any), and only for its
// buckets before its Until; what no tier covers — the ragged ends of the
// range, the time after the watermarks — is read from finer tiers, and
// at last from raw readings. With no tiers it returns one raw segment,
// the plan of a query that ignores rollups.
func Plan(b Buckets, tiers []TierState, maxWidth time.Duration) []Segment {
	var usable []TierState
	for _, ts := range tiers {
		if aligned(ts.Tier, b) && (maxWidth <= 0 || ts.Tier.Width <= maxWidth) {
			usable = append(usable, ts)
		}
	}
	slices.SortFunc(usable, func(x, y TierState) int { return int(y.Tier.Width - x.Tier.Width) })
	var out []Segment
	add := func(s Segment) {
		if n := len(out); n > 0 && s.Tier == nil && out[n-1].Tier == nil && out[n-1].To == s.From {
			out[n-1].To = s.To
			return
		}
		out = append(out, s)
	}
	var cover func(lo, hi int64, tiers []TierState)
	cover = func(lo, hi int64, tiers []TierState) {
		if lo >= hi {
			return
		}
		if len(tiers) == 0 {
			add(Segment{From: lo, To: hi})
			return
		}
		ts := tiers[0]
		w := ts.Tier.Width.Microseconds()
		a := ceilTo(lo, w)
		z := min(floorTo(hi, w), floorTo(ts.Until.UnixMicro(), w))
		if a >= z {
			cover(lo, hi, tiers[1:])
			return
		}
		cover(lo, a, tiers[1:])
		tier := ts.Tier
		add(Segment{Tier: &tier, From: a, To: z})
		cover(z, hi, tiers[1:])
	}
	cover(b.Edges[0], b.Edges[len(b.Edges)-1], usable)
	return out
}

// Tiers names the sources of a plan, coarsest first, "raw" last.
func Tiers(plan []Segment) []string {
	used := map[string]bool{}
	for _, s := range plan {
		used[s.Name()] = true
	}
	return tierNames(used)
}

// tierNames orders a set of source names as Tiers does.
func tierNames(used map[string]bool) []string {
	names := []string{}
	for i := len(rollups.Tiers) - 1; i >= 0; i-- {
		if used[rollups.Tiers[i].Name] {
			names = append(names, rollups.Tiers[i].Name)
		}
	}
	if used["raw"] {
		names = append(names, "raw")
	}
	return names
}

func floorTo(t, w int64) int64 {
	r := t % w
	if r < 0 {
		r += w
	}
	return t - r
}

func ceilTo(t, w int64) int64 {
	f := floorTo(t, w)
	if f == t {
		return t
	}
	return f + w
}
