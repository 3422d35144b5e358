package tariffs

import (
	"slices"
	"sort"
	"time"

	"github.com/govalues/decimal"
)

// cutter cuts a stretch of usage into pieces within which no restriction
// can change its verdict, so each piece is priced by the restrictions at its
// start. Cutting more finely than needed changes nothing: neighbouring
// pieces priced alike merge back into one line (lineSet.add).
type cutter struct {
	p     *plan
	local []time.Time // local-time edges over the whole usage, in order
	pts   []point     // scratch, reused
}

// point is a cut: its instant, and the energy (kWh) and time (s) of the
// stretch up to it. exact marks a min/max_kwh threshold, whose energy is the
// threshold itself rather than an interpolation.
type point struct {
	t     time.Time
	e, q  decimal.Decimal
	exact bool
}

// reset prepares the cutter for usage in [from, to).
func (ct *cutter) reset(p *plan, from, to time.Time) {
	ct.p = p
	ct.local = p.localEdges(ct.local[:0], from, to)
}

// cut returns the cuts of [from, to), a stretch in which energy kWh flow at
// a constant rate after kwhBefore kWh: its ends, local-time edges, the
// min/max_duration thresholds counted from origin, and the instants the
// running energy reaches a min/max_kwh threshold. The slice is reused by
// the next call.
func (ct *cutter) cut(c *calc, from, to, origin time.Time, energy, kwhBefore decimal.Decimal) []point {
	p := ct.p
	span := int64(to.Sub(from))
	pts := append(ct.pts[:0], point{t: from, e: zero, q: zero, exact: true})
	i := sort.Search(len(ct.local), func(i int) bool { return ct.local[i].After(from) })
	for ; i < len(ct.local) && ct.local[i].Before(to); i++ {
		pts = append(pts, point{t: ct.local[i]})
	}
	for _, d := range p.durEdges {
		if t := origin.Add(d); t.After(from) && t.Before(to) {
			pts = append(pts, point{t: t})
		}
	}
	if energy.IsPos() {
		for _, k := range p.kwhEdges {
			rel := c.sub(k, kwhBefore)
			if !rel.IsPos() || rel.Cmp(energy) >= 0 {
				continue
			}
			// Energy flows linearly through the stretch: the threshold is
			// crossed at the same fraction of its time.
			ns, _, _ := c.mul(c.quo(rel, energy), decInt(span)).Round(0).Int64(0)
			pts = append(pts, point{t: from.Add(time.Duration(ns)), e: rel, exact: true})
		}
	}
	pts = append(pts, point{t: to, e: energy, q: nanosToSeconds(span), exact: true})
	pts = settle(c, pts, from, energy, span)
	ct.pts = pts
	return pts
}

// settle orders the cuts, drops duplicates, and fills in each cut's energy
// and seconds so far. Interpolated energies are kept between the exact ones
// around them, so no piece gets negative energy from rounding a threshold's
// instant to the nanosecond.
func settle(c *calc, pts []point, from time.Time, energy decimal.Decimal, span int64) []point {
	if len(pts) > 2 {
		slices.SortStableFunc(pts, func(a, b point) int {
			if x := a.t.Compare(b.t); x != 0 {
				return x
			}
			if a.exact && b.exact {
				return a.e.Cmp(b.e)
			}
			return 0
		})
	}
	out := pts[:0]
	for i, pt := range pts {
		if !pt.exact {
			if len(out) > 0 && out[len(out)-1].t.Equal(pt.t) {
				continue
			}
			if i+1 < len(pts) && pts[i+1].exact && pts[i+1].t.Equal(pt.t) {
				continue
			}
		}
		out = append(out, pt)
	}
	last := len(out) - 1
	for i := 1; i < last; i++ {
		pt := &out[i]
		off := int64(pt.t.Sub(from))
		pt.q = nanosToSeconds(off)
		if !pt.exact {
			pt.e = c.share(energy, off, span)
			if pt.e.Cmp(out[i-1].e) < 0 {
				pt.e = out[i-1].e
			}
		}
	}
	for i := last - 1; i > 0; i-- {
		if pt := &out[i]; !pt.exact && pt.e.Cmp(out[i+1].e) > 0 {
			pt.e = out[i+1].e
		}
	}
	return out
}
