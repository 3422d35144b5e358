package tariffs

import (
	"time"

	"github.com/govalues/decimal"
)

// moment is everything a restriction can read at one instant of the usage.
type moment struct {
	sod  int32        // local seconds since midnight (wall clock)
	date int32        // local date as yyyymmdd
	wday time.Weekday // local weekday
	kwh  decimal.Decimal
	dur  time.Duration // since the session (or reservation) start
	// Current (A, sum over phases) and power (kW) over the piece: the lowest
	// and highest values reached. Known is false when the usage says nothing,
	// and then a restriction on it does not hold.
	curKnown, powKnown bool
	curLo, curHi       decimal.Decimal
	powLo, powHi       decimal.Decimal
}

// setLocal fills the local-time fields from an instant.
func (m *moment) setLocal(t time.Time, loc *time.Location) {
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	y, mo, d := lt.Date()
	h, mi, s := lt.Clock()
	m.sod = int32(h*3600 + mi*60 + s)
	m.date = int32(y*10000 + int(mo)*100 + d)
	m.wday = lt.Weekday()
}

// holds reports whether every set restriction holds at m.
//
// Bounds follow the OCPI text: start_time, start_date, min_kwh, min_current,
// min_power and min_duration are inclusive; end_time, end_date, max_kwh,
// max_current, max_power and max_duration exclusive ("valid until", "less
// than", "shorter than"). min_current holds when the lowest current of the
// piece is at or above it, max_current when the highest is below it — the
// restriction must hold throughout the piece, which is what a CPO promises by
// starting a new charging period whenever it flips.
func (c *cond) holds(m *moment) bool {
	if !c.any {
		return true
	}
	if c.window {
		if c.from <= c.to {
			if m.sod < c.from || m.sod >= c.to {
				return false
			}
		} else if m.sod < c.from && m.sod >= c.to { // wraps past midnight
			return false
		}
	}
	if c.dateFrom != 0 && m.date < c.dateFrom {
		return false
	}
	if c.dateTo != 0 && m.date >= c.dateTo {
		return false
	}
	if c.days != 0 && c.days&(1<<m.wday) == 0 {
		return false
	}
	if c.minKWh.Valid && m.kwh.Cmp(c.minKWh.Decimal) < 0 {
		return false
	}
	if c.maxKWh.Valid && m.kwh.Cmp(c.maxKWh.Decimal) >= 0 {
		return false
	}
	if c.hasMinDur && m.dur < c.minDur {
		return false
	}
	if c.hasMaxDur && m.dur >= c.maxDur {
		return false
	}
	if c.minCur.Valid && (!m.curKnown || m.curLo.Cmp(c.minCur.Decimal) < 0) {
		return false
	}
	if c.maxCur.Valid && (!m.curKnown || m.curHi.Cmp(c.maxCur.Decimal) >= 0) {
		return false
	}
	if c.minPow.Valid && (!m.powKnown || m.powLo.Cmp(c.minPow.Decimal) < 0) {
		return false
	}
	if c.maxPow.Valid && (!m.powKnown || m.powHi.Cmp(c.maxPow.Decimal) >= 0) {
		return false
	}
	return true
}

// first returns the first element of candidates whose restrictions hold at m
// — the element that prices the dimension at that moment — or -1: nothing
// prices it, so it is free.
func (p *plan) first(candidates []int32, m *moment) int32 {
	for _, i := range candidates {
		if p.elems[i].cond.holds(m) {
			return i
		}
	}
	return -1
}
