package tariffs

import (
	"slices"
	"sync"
	"time"
)

// localEdges appends to dst, in order, every instant in (from, to) at which a
// local-time restriction of the plan can change its verdict: each local
// midnight, each instant the wall clock reaches a window's start_time or
// end_time, and each UTC-offset change.
//
// A wall-clock time is found by trying the offsets in force around it and
// keeping the instants that read back as that wall time: on a fall-back day a
// time that occurs twice yields both instants, on a spring-forward day a time
// that does not occur yields none — and then the offset change itself, where
// the wall clock jumps over it, is the edge. So a 23- or 25-hour day has
// exactly the edges its clock shows.
func (p *plan) localEdges(dst []time.Time, from, to time.Time) []time.Time {
	if !p.needsLocal || p.loc == nil || !from.Before(to) {
		return dst
	}
	loc := p.loc
	start := len(dst)
	y, m, d := from.In(loc).Date()
	ey, em, ed := to.In(loc).Date()
	last := civil(ey, em, ed)
	for day := civil(y, m, d); day <= last; {
		wall := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()
		for _, sod := range p.clockEdges {
			w := wall + int64(sod)
			var prev int64 = 1 << 62
			// Probes beyond the widest offsets (−12 h to +14 h) see the
			// offsets on both sides of a change around the wall time.
			for _, probe := range [2]int64{w - 14*3600, w + 14*3600} {
				_, off := time.Unix(probe, 0).In(loc).Zone()
				inst := w - int64(off)
				if inst == prev {
					continue
				}
				prev = inst
				t := time.Unix(inst, 0).UTC()
				if !t.After(from) || !t.Before(to) {
					continue
				}
				lt := t.In(loc)
				ly, lm, ld := lt.Date()
				h, mi, s := lt.Clock()
				if ly == y && lm == m && ld == d && int32(h*3600+mi*60+s) == sod {
					dst = append(dst, t)
				}
			}
		}
		next := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
		y, m, d = next.Date()
		day = civil(y, m, d)
	}
	for t := from; ; {
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			break
		}
		if end.After(from) {
			dst = append(dst, end.UTC())
		}
		t = end
	}
	added := dst[start:]
	slices.SortFunc(added, func(a, b time.Time) int { return a.Compare(b) })
	added = slices.CompactFunc(added, func(a, b time.Time) bool { return a.Equal(b) })
	return dst[:start+len(added)]
}

func civil(y int, m time.Month, d int) int { return y*10000 + int(m)*100 + d }

// zones caches time.LoadLocation, which reads the zone database each time:
// every parsed tariff names a zone, and there are few distinct ones.
var zones sync.Map // name → *time.Location

func loadLocation(name string) (*time.Location, error) {
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}
