package tariffs

import (
	"slices"
	"time"

	"github.com/govalues/decimal"
)

// ClockChanges returns, in time order, the instants in (from, to) at which
// the element pricing a charging session that starts at from can change by
// the clock alone: each local midnight and each instant the wall clock of
// loc reaches a start_time or end_time (when some session element reads
// local time, dates or weekdays), each UTC-offset change of loc then, and
// from plus each min/max_duration. loc is the zone the restrictions are
// read in — for an OCPI tariff, its Location's; nil is UTC. Reservation
// elements are left out: they do not price the session.
func (t *Tariff) ClockChanges(from, to time.Time, loc *time.Location) ([]time.Time, error) {
	p, err := t.compiled()
	if err != nil {
		return nil, err
	}
	if loc == nil {
		loc = time.UTC
	}
	local := plan{loc: loc, clockEdges: []int32{0}}
	var out []time.Time
	for _, e := range p.elems {
		c := e.cond
		if e.reservation {
			continue
		}
		if c.window {
			local.clockEdges = append(local.clockEdges, c.from, c.to%86400)
		}
		local.needsLocal = local.needsLocal || c.window || c.dateFrom != 0 || c.dateTo != 0 || c.days != 0
		for _, d := range [2]time.Duration{c.minDur, c.maxDur} {
			if at := from.Add(d); d > 0 && at.Before(to) {
				out = append(out, at.UTC())
			}
		}
	}
	slices.Sort(local.clockEdges)
	local.clockEdges = slices.Compact(local.clockEdges)
	out = local.localEdges(out, from, to)
	slices.SortFunc(out, time.Time.Compare)
	return slices.CompactFunc(out, time.Time.Equal), nil
}

// UsageBounds are the restriction values at which the price of a charging
// session can change with its usage, from its session elements
// (reservation elements left out), each list in the tariff's order.
type UsageBounds struct {
	KWh     []decimal.Decimal // min_kwh, max_kwh: the session's energy so far
	PowerKW []decimal.Decimal // min_power, max_power
	Current []decimal.Decimal // min_current, max_current, A
}

// UsageBounds returns the tariff's usage bounds.
func (t *Tariff) UsageBounds() (UsageBounds, error) {
	p, err := t.compiled()
	if err != nil {
		return UsageBounds{}, err
	}
	var b UsageBounds
	add := func(dst *[]decimal.Decimal, bounds ...decimal.NullDecimal) {
		for _, d := range bounds {
			if d.Valid {
				*dst = append(*dst, d.Decimal)
			}
		}
	}
	for _, e := range p.elems {
		if !e.reservation {
			add(&b.KWh, e.cond.minKWh, e.cond.maxKWh)
			add(&b.PowerKW, e.cond.minPow, e.cond.maxPow)
			add(&b.Current, e.cond.minCur, e.cond.maxCur)
		}
	}
	return b, nil
}

// compiled returns the tariff's plan, validating the tariff first if it
// has not been.
func (t *Tariff) compiled() (*plan, error) {
	if t.plan == nil {
		if err := t.Validate(); err != nil {
			return nil, err
		}
	}
	return t.plan, nil
}
