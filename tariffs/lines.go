package tariffs

import (
	"time"

	"github.com/govalues/decimal"
)

// lineKind indexes the open (still growing) line of each kind.
type lineKind int8

const (
	kEnergy lineKind = iota
	kTime
	kParking
	kFlat
	kResTime
	kResFlat
	kStanding
	kDemand
	kExport // ENERGY of an export tariff: a credit
	numKinds
)

var kindComponent = [numKinds]Component{Energy, Time, ParkingTime, Flat, ReservationTime, ReservationFlat, Standing, Demand, Energy}
var kindDim = [numKinds]dim{dEnergy, dTime, dParking, dFlat, dTime, dFlat, dStanding, dDemand, dEnergy}

// acc is a line being built; qty is in base units: kWh, seconds, sessions,
// days or kW.
type acc struct {
	kind     lineKind
	elem     int32
	from, to time.Time
	qty      decimal.Decimal
	step     decimal.Decimal
	unit     decimal.Decimal // unit price; per hour for time kinds
	peakAt   time.Time
}

// lineSet accumulates lines in time order, growing the open line of a kind
// while the same element keeps pricing it at the same unit price without a
// gap, so that cutting usage at more boundaries yields the same lines.
type lineSet struct {
	accs []acc
	open [numKinds]int
}

// closeAll ends every open line: what comes next starts new lines (a new
// billing period).
func (ls *lineSet) closeAll() {
	for i := range ls.open {
		ls.open[i] = -1
	}
}

// add bills qty of kind k by element elem over [from, to) at unit price
// unit, growing the open line of that kind when it continues it.
func (ls *lineSet) add(c *calc, k lineKind, elem int32, from, to time.Time, qty, unit decimal.Decimal) {
	if o := ls.open[k]; o >= 0 {
		a := &ls.accs[o]
		if a.elem == elem && a.to.Equal(from) && a.unit.Cmp(unit) == 0 {
			a.qty = c.add(a.qty, qty)
			a.to = to
			return
		}
	}
	ls.accs = append(ls.accs, acc{kind: k, elem: elem, from: from, to: to, qty: qty, unit: unit})
	ls.open[k] = len(ls.accs) - 1
}

// last returns the index of the last line of kind k at or after index
// from, or -1.
func (ls *lineSet) last(from int, k lineKind) int {
	for i := len(ls.accs) - 1; i >= from; i-- {
		if ls.accs[i].kind == k {
			return i
		}
	}
	return -1
}

// roundStep applies step_size once to the total of one kind of line from
// index from on: the total is rounded up to a multiple of the step size of
// the component that priced the last line, and what rounding adds is billed
// on that last line at its price (OCPI CDR module, "step_size"). perUnit
// converts a step into the line's base unit (1 for seconds, 1000 for Wh→kWh
// and W→kW).
func (ls *lineSet) roundStep(c *calc, p *plan, from int, k lineKind, perUnit decimal.Decimal) {
	last := ls.last(from, k)
	if last < 0 {
		return
	}
	a := &ls.accs[last]
	step := p.elems[a.elem].price[kindDim[k]].step
	if step <= 0 {
		return
	}
	total := zero
	for i := from; i < len(ls.accs); i++ {
		if ls.accs[i].kind == k {
			total = c.add(total, ls.accs[i].qty)
		}
	}
	size := c.quo(decInt(step), perUnit)
	extra := c.sub(c.ceilTo(total, size), total)
	if extra.IsPos() {
		a.qty = c.add(a.qty, extra)
		a.step = c.add(a.step, extra)
	}
}

// has reports whether a line of kind k exists from index from on.
func (ls *lineSet) has(from int, k lineKind) bool { return ls.last(from, k) >= 0 }
