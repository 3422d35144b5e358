package tariffs

import (
	"fmt"
	"slices"
	"time"

	"github.com/govalues/decimal"
)

// MeterUsage is a meter's energy per settlement interval: the usage shape of
// supply and export tariffs, built from the rollups.
type MeterUsage struct {
	// Interval is the settlement interval: 15, 30 or 60 minutes.
	Interval time.Duration
	// Intervals in time order, each starting on an interval boundary of the
	// local day. A missing interval is no energy; STANDING still counts
	// every day between the first interval and the last, since supply is a
	// contract, not a reading.
	Intervals []IntervalEnergy
	// Breaks, optional and in time order, are instants at which every line
	// ends even where the same price goes on, so that the lines of a result
	// can be grouped into days or months exactly. Only breaks that are
	// interval starts (and, for STANDING, local midnights) take effect.
	Breaks []time.Time
}

// IntervalEnergy is the energy of one settlement interval [Start,
// Start+Interval).
type IntervalEnergy struct {
	Start     time.Time
	ImportKWh decimal.Decimal
	ExportKWh decimal.Decimal
}

// MaxMeterSpan bounds the time PriceMeter prices in one call: a year of
// settlement intervals and a little more, enough for an annual bill.
const MaxMeterSpan = 400 * 24 * time.Hour

// PriceMeter prices a meter's usage with a supply or export tariff.
//
//   - ENERGY prices imported kWh (supply) or credits exported kWh (export,
//     negative amounts), per piece of each interval: intervals are cut at
//     local-time edges and where the running energy of the billing period
//     crosses a min_kwh/max_kwh threshold, so block rates apply to the kWh
//     beyond the threshold exactly. min_power/max_power read the interval's
//     average power. A dynamic component's unit price is the feed price in
//     force at the piece's start × multiplier + markup, within floor and
//     cap; a missing feed price stops the pricing (ErrNoPrice).
//   - STANDING is charged once per local calendar day from the first
//     interval's day to the last's; a 23- or 25-hour DST day is one day.
//   - DEMAND is charged per billing period on the peak of the average
//     import power over the demand windows (15, 30 or 60 minutes, aligned
//     to the local day), separately for each DEMAND element, each window
//     taken by the first DEMAND element whose restrictions hold at its start.
//   - step_size is applied once per billing period to the ENERGY total (Wh)
//     and to each DEMAND peak (W), like OCPI's once per session.
func PriceMeter(t *Tariff, u MeterUsage, feed PriceFeed) (Result, error) {
	p, err := t.planFor(KindSupply)
	if err != nil {
		return Result{}, err
	}
	mp := meterPricer{p: p, feed: feed, tariffID: t.ID, breaks: u.Breaks}
	return mp.price(u)
}

type meterPricer struct {
	p        *plan
	feed     PriceFeed
	tariffID string
	c        calc
	ls       lineSet
	cut      cutter
	bp       billing
	from, to time.Time // the usage
	breaks   []time.Time
}

// breakAt reports whether t is one of the breaks at or after *next (an
// index into mp.breaks), moving *next past the breaks before t.
func (mp *meterPricer) breakAt(t time.Time, next *int) bool {
	for *next < len(mp.breaks) && mp.breaks[*next].Before(t) {
		*next++
	}
	return *next < len(mp.breaks) && mp.breaks[*next].Equal(t)
}

// billing is the state of one billing period.
type billing struct {
	start, end time.Time
	kwh        decimal.Decimal // energy so far, for block rates
	firstLine  int
	win        time.Time // current demand window
	winKWh     decimal.Decimal
	peaks      []peak
}

func (mp *meterPricer) price(u MeterUsage) (Result, error) {
	p, c := mp.p, &mp.c
	if err := mp.check(u); err != nil {
		return Result{}, err
	}
	energyKind := kEnergy
	if p.kind == KindExport {
		energyKind = kExport
	}
	hasDemand := len(p.session[dDemand]) > 0
	ivl := u.Interval
	mp.ls.closeAll()
	if p.dynamic {
		// Each interval has its own price: about one line per interval.
		mp.ls.accs = make([]acc, 0, len(u.Intervals)+64)
	}
	var usage Usage
	usage.ImportKWh, usage.ExportKWh = zero, zero
	if len(u.Intervals) > 0 {
		mp.from = u.Intervals[0].Start.UTC()
		mp.to = u.Intervals[len(u.Intervals)-1].Start.UTC().Add(ivl)
		mp.cut.reset(p, mp.from, mp.to)
	}
	nextBreak := 0
	for _, iv := range u.Intervals {
		s := iv.Start.UTC()
		if mp.breakAt(s, &nextBreak) {
			mp.ls.closeAll()
		}
		if !s.Before(mp.bp.end) || s.Before(mp.bp.start) {
			if err := mp.closePeriod(); err != nil {
				return Result{}, err
			}
			mp.openPeriod(s)
			usage.BillingPeriods++
		}
		usage.ImportKWh = c.add(usage.ImportKWh, iv.ImportKWh)
		usage.ExportKWh = c.add(usage.ExportKWh, iv.ExportKWh)
		if hasDemand {
			w := mp.bp.start.Add(s.Sub(mp.bp.start) / p.demandWindow * p.demandWindow)
			if !w.Equal(mp.bp.win) {
				mp.closeWindow()
				mp.bp.win, mp.bp.winKWh = w, zero
			}
			mp.bp.winKWh = c.add(mp.bp.winKWh, iv.ImportKWh)
		}
		energy := iv.ImportKWh
		if p.kind == KindExport {
			energy = iv.ExportKWh
		}
		if err := mp.energy(energyKind, s, s.Add(ivl), energy); err != nil {
			return Result{}, err
		}
		mp.bp.kwh = c.add(mp.bp.kwh, energy)
	}
	if err := mp.closePeriod(); err != nil {
		return Result{}, err
	}
	usage.Days = mp.standing()
	// Lines of each kind are already in time order; order them all by
	// start, for reading.
	slices.SortStableFunc(mp.ls.accs, func(a, b acc) int { return a.from.Compare(b.from) })
	r := mp.ls.finish(c, p)
	r.Usage = usage
	r.round()
	if c.err != nil {
		return Result{}, c.err
	}
	return r, nil
}

// check validates the usage against the tariff, reporting every problem.
func (mp *meterPricer) check(u MeterUsage) error {
	p := mp.p
	var ps problems
	switch u.Interval {
	case 15 * time.Minute, 30 * time.Minute, time.Hour:
	default:
		ps.add("interval", "%s is not a settlement interval (15m, 30m, 1h)", u.Interval)
		return ps.err()
	}
	if len(p.session[dDemand]) > 0 && p.demandWindow%u.Interval != 0 {
		ps.add("interval", "%s intervals cannot give a %s demand window", u.Interval, p.demandWindow)
	}
	if n := len(u.Intervals); n > 0 && u.Intervals[n-1].Start.Sub(u.Intervals[0].Start) > MaxMeterSpan {
		ps.add("intervals", "the usage spans more than %s", MaxMeterSpan)
		return ps.err()
	}
	var prev, bs, be time.Time
	at := func(i int, f string) string { return field(index("intervals", i), f) } // built only for problems
	for i, iv := range u.Intervals {
		s := iv.Start.UTC()
		switch {
		case iv.Start.IsZero():
			ps.add(at(i, "start"), "is required")
			continue
		case i > 0 && s.Before(prev.Add(u.Interval)):
			ps.add(at(i, "start"), "%s overlaps the previous interval", formatDateTime(s))
		}
		if s.Before(bs) || !s.Before(be) {
			bs, be = p.billingBounds(s)
		}
		if s.Sub(bs)%u.Interval != 0 {
			ps.add(at(i, "start"), "%s is not on a %s boundary of the local day", s.In(p.loc).Format("2006-01-02 15:04:05"), u.Interval)
		}
		if iv.ImportKWh.IsNeg() {
			ps.add(at(i, "import_kwh"), "%s is negative", iv.ImportKWh)
		}
		if iv.ExportKWh.IsNeg() {
			ps.add(at(i, "export_kwh"), "%s is negative", iv.ExportKWh)
		}
		if !p.validFrom.IsZero() && s.Before(p.validFrom) || !p.validTo.IsZero() && s.After(p.validTo) {
			ps.add(at(i, "start"), "%s is outside the tariff's validity", formatDateTime(s))
		}
		prev = s
	}
	return ps.err()
}

// billingBounds returns the billing period holding t: its local calendar
// month (or day).
func (p *plan) billingBounds(t time.Time) (time.Time, time.Time) {
	y, m, d := t.In(p.loc).Date()
	if p.billing == BillingDay {
		return time.Date(y, m, d, 0, 0, 0, 0, p.loc).UTC(), time.Date(y, m, d+1, 0, 0, 0, 0, p.loc).UTC()
	}
	return time.Date(y, m, 1, 0, 0, 0, 0, p.loc).UTC(), time.Date(y, m+1, 1, 0, 0, 0, 0, p.loc).UTC()
}

func (mp *meterPricer) openPeriod(t time.Time) {
	s, e := mp.p.billingBounds(t)
	mp.bp = billing{start: s, end: e, kwh: zero, firstLine: len(mp.ls.accs), peaks: mp.bp.peaks[:0]}
	mp.ls.closeAll()
}

// energy prices the energy of one interval.
func (mp *meterPricer) energy(kind lineKind, from, to time.Time, energy decimal.Decimal) error {
	p, c := mp.p, &mp.c
	if !energy.IsPos() {
		return nil
	}
	hours := c.quo(nanosToSeconds(int64(to.Sub(from))), secsPerHour)
	avg := c.quo(energy, hours)
	pts := mp.cut.cut(c, from, to, mp.bp.start, energy, mp.bp.kwh)
	for k := 0; k+1 < len(pts); k++ {
		x, y := &pts[k], &pts[k+1]
		de := c.sub(y.e, x.e)
		if !de.IsPos() {
			continue
		}
		m := moment{kwh: c.add(mp.bp.kwh, x.e), powKnown: true, powLo: avg, powHi: avg}
		m.setLocal(x.t, p.loc)
		w := p.first(p.session[dEnergy], &m)
		if w < 0 {
			continue
		}
		unit, err := mp.unitPrice(p.elems[w].price[dEnergy], x.t)
		if err != nil {
			return err
		}
		if kind == kExport {
			unit = unit.Neg()
		}
		mp.ls.add(c, kind, w, x.t, y.t, de, unit)
	}
	return nil
}

// unitPrice returns a component's price per kWh at t.
func (mp *meterPricer) unitPrice(cp cprice, t time.Time) (decimal.Decimal, error) {
	d := cp.dynamic
	if d == nil {
		return cp.price, nil
	}
	if mp.feed == nil {
		return zero, errorf(ErrNoPrice, "tariff %s has a dynamic price but no price feed was given", mp.tariffID)
	}
	fp, err := mp.feed.PriceAt(d.PriceFeed, t)
	if err != nil {
		return zero, fmt.Errorf("tariff %s at %s: %w", mp.tariffID, formatDateTime(t), err)
	}
	c := &mp.c
	if d.Multiplier.Valid {
		fp = c.mul(fp, d.Multiplier.Decimal)
	}
	if d.Markup.Valid {
		fp = c.add(fp, d.Markup.Decimal)
	}
	if d.Floor.Valid {
		fp = fp.Max(d.Floor.Decimal)
	}
	if d.Cap.Valid {
		fp = fp.Min(d.Cap.Decimal)
	}
	return fp, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
