package query

import (
	"errors"
	"strings"
	"time"
)

// Step is the size of the output buckets of a downsampled query. Sub-day
// steps (1m, 5m, 15m, 1h) have a fixed width and start where the local
// clock of the requested zone shows a multiple of the width (so 1h buckets
// in Asia/Kathmandu, +05:45, start at hh:15 UTC). Day, week and month
// steps start at local midnight — weeks on Monday, months on the 1st — so
// a DST day has 23 or 25 hours.
type Step struct {
	Name  string
	width time.Duration // fixed steps
	unit  calendarUnit  // calendar steps
}

type calendarUnit int

const (
	fixedWidth calendarUnit = iota
	day
	week
	month
)

// Steps lists the steps a request may ask for, finest first.
var Steps = []Step{
	{Name: "1m", width: time.Minute},
	{Name: "5m", width: 5 * time.Minute},
	{Name: "15m", width: 15 * time.Minute},
	{Name: "1h", width: time.Hour},
	{Name: "1d", unit: day},
	{Name: "1w", unit: week},
	{Name: "1mo", unit: month},
}

// ParseStep finds a step by name.
func ParseStep(name string) (Step, bool) {
	for _, s := range Steps {
		if s.Name == name {
			return s, true
		}
	}
	return Step{}, false
}

func stepNames() string {
	names := make([]string, len(Steps))
	for i, s := range Steps {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// Buckets is the output grid of a request over the half-open range
// [from, to): Edges[0] is from, Edges[len-1] is to, and bucket i covers
// [Edges[i], Edges[i+1]). The first and last buckets are clipped to the
// range; FirstStart and LastEnd are their unclipped bounds, so every
// bucket is labelled with the start of its whole (nominal) bucket. Times
// are microseconds since the Unix epoch, the unit of rollups.Summary.
type Buckets struct {
	Edges      []int64
	FirstStart int64
	LastEnd    int64
	Loc        *time.Location
}

// Len is the number of buckets.
func (b Buckets) Len() int { return len(b.Edges) - 1 }

// Start returns the nominal start of bucket i in the grid's zone.
func (b Buckets) Start(i int) time.Time {
	if i == 0 {
		return time.UnixMicro(b.FirstStart).In(b.Loc)
	}
	return time.UnixMicro(b.Edges[i]).In(b.Loc)
}

// End returns the nominal end of bucket i in the grid's zone.
func (b Buckets) End(i int) time.Time {
	if i == b.Len()-1 {
		return time.UnixMicro(b.LastEnd).In(b.Loc)
	}
	return time.UnixMicro(b.Edges[i+1]).In(b.Loc)
}

// errTooManyBuckets is returned by Grid when the range holds more buckets
// than allowed.
var errTooManyBuckets = errors.New("too many buckets")

// Whole returns a grid of one bucket: the whole range.
func Whole(from, to time.Time, loc *time.Location) Buckets {
	f, t := from.UnixMicro(), to.UnixMicro()
	return Buckets{Edges: []int64{f, t}, FirstStart: f, LastEnd: t, Loc: loc}
}

// Grid returns the buckets of step covering [from, to) in loc, or
// errTooManyBuckets when there would be more than limit of them (limit ≤ 0
// means no limit). from must be before to.
func (s Step) Grid(from, to time.Time, loc *time.Location, limit int) (Buckets, error) {
	f, t := from.UnixMicro(), to.UnixMicro()
	start := s.floor(f, loc)
	// floor is exact for regular offsets; around odd transitions make sure
	// start is the last boundary at or before from.
	for s.next(start, loc) <= f {
		start = s.next(start, loc)
	}
	b := Buckets{Edges: []int64{f}, FirstStart: start, Loc: loc}
	e := s.next(start, loc)
	for e < t {
		if limit > 0 && len(b.Edges) >= limit {
			return Buckets{}, errTooManyBuckets
		}
		b.Edges = append(b.Edges, e)
		e = s.next(e, loc)
	}
	b.Edges = append(b.Edges, t)
	b.LastEnd = e
	return b, nil
}

// floor returns the start of the bucket holding t (µs).
func (s Step) floor(t int64, loc *time.Location) int64 {
	if s.unit == fixedWidth {
		return floorLocal(t, s.width.Microseconds(), loc)
	}
	lt := time.UnixMicro(t).In(loc)
	y, m, d := lt.Date()
	switch s.unit {
	case week:
		d -= (int(lt.Weekday()) + 6) % 7 // back to Monday
	case month:
		d = 1
	}
	start := time.Date(y, m, d, 0, 0, 0, 0, loc).UnixMicro()
	if start > t {
		// A zone whose midnight did not exist that day may resolve it
		// after t; the bucket then started one unit earlier.
		start = s.calendarAdd(time.Date(y, m, d, 0, 0, 0, 0, loc), -1).UnixMicro()
	}
	return start
}

// next returns the bucket boundary after the boundary e (µs). For fixed
// widths it is the local-clock boundary at or before e+width, which is
// e+width unless the zone's offset changed by a non-multiple of the width
// in between; it is always after e.
func (s Step) next(e int64, loc *time.Location) int64 {
	if s.unit == fixedWidth {
		return floorLocal(e+s.width.Microseconds(), s.width.Microseconds(), loc)
	}
	return s.calendarAdd(time.UnixMicro(e).In(loc), 1).UnixMicro()
}

// calendarAdd moves a local midnight by n days, weeks or months, by
// calendar arithmetic in its zone (so across DST the result is again a
// local midnight).
func (s Step) calendarAdd(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	switch s.unit {
	case week:
		d += 7 * n
	case month:
		m += time.Month(n)
	default:
		d += n
	}
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// floorLocal returns the last instant at or before t (µs) at which the
// local clock of loc shows a multiple of width (µs).
func floorLocal(t, width int64, loc *time.Location) int64 {
	_, off := time.UnixMicro(t).In(loc).Zone()
	local := t + int64(off)*1e6
	r := local % width
	if r < 0 {
		r += width
	}
	return t - r
}
