package tariffs

import (
	"slices"
	"time"

	"github.com/govalues/decimal"
)

// dim indexes the priced dimensions in compiled form.
type dim int8

const (
	dEnergy dim = iota
	dFlat
	dTime
	dParking
	dStanding
	dDemand
	numDims
)

var dimOf = map[Component]dim{
	Energy: dEnergy, Flat: dFlat, Time: dTime, ParkingTime: dParking, Standing: dStanding, Demand: dDemand,
}

// plan is a validated tariff compiled for pricing: restrictions parsed into
// numbers, and for each dimension the elements that price it, in tariff
// order, so that "the first element with a component for that dimension
// whose restrictions hold" is a short scan.
type plan struct {
	kind     Kind
	currency string
	loc      *time.Location // nil: no time zone given
	// needsLocal: some restriction reads local time, date or weekday, so
	// pieces must be cut at local midnights, window edges and DST changes.
	needsLocal bool
	elems      []celem
	// Candidate elements per dimension for a charging session (elements
	// without a reservation restriction), a reservation, and a reservation
	// that expired (RESERVATION_EXPIRES elements first, then RESERVATION
	// ones: OCPI says the expiry element prices the time of an expired
	// reservation whatever the order).
	session, reserved, expired [numDims][]int32
	clockEdges                 []int32           // seconds of day where some window opens or closes, and 0
	durEdges                   []time.Duration   // min/max_duration thresholds
	kwhEdges                   []decimal.Decimal // min/max_kwh thresholds
	minPrice, maxPrice         *Price
	dynamic                    bool // some component takes its price from a feed
	billing                    BillingPeriod
	demandWindow               time.Duration
	validFrom, validTo         time.Time
}

// celem is one compiled element.
type celem struct {
	comp        [numDims]int8   // index of the element's component per dimension, -1 for none
	price       [numDims]cprice // the component pricing each dimension
	cond        cond
	reservation bool // it prices reservations only
}

// cprice is a compiled price component, copied out of the tariff so pricing
// never reads the (mutable) Tariff again.
type cprice struct {
	price   decimal.Decimal
	vat     decimal.NullDecimal
	step    int64
	dynamic *DynamicPrice
}

// cond is compiled TariffRestrictions.
type cond struct {
	any                  bool  // some restriction is set; otherwise the element always applies
	window               bool  // start_time and/or end_time set
	from, to             int32 // window [from, to) in seconds of day; to may be 86400; from > to wraps past midnight
	dateFrom, dateTo     int32 // yyyymmdd, 0 when unset; dateTo exclusive
	days                 uint8 // bit per time.Weekday; 0 = every day
	minKWh, maxKWh       decimal.NullDecimal
	minCur, maxCur       decimal.NullDecimal
	minPow, maxPow       decimal.NullDecimal
	minDur, maxDur       time.Duration
	hasMinDur, hasMaxDur bool
}

// compile builds the plan of a tariff that passed check.
func compile(t *Tariff) *plan {
	p := &plan{
		kind:      t.kind(),
		currency:  t.Currency,
		billing:   BillingMonth,
		validFrom: t.StartDateTime,
		validTo:   t.EndDateTime,
	}
	if t.MinPrice != nil {
		mp := *t.MinPrice
		p.minPrice = &mp
	}
	if t.MaxPrice != nil {
		mp := *t.MaxPrice
		p.maxPrice = &mp
	}
	p.demandWindow = 15 * time.Minute
	if x := t.Extension; x != nil {
		if x.TimeZone != "" {
			p.loc, _ = loadLocation(x.TimeZone)
		}
		if x.BillingPeriod != "" {
			p.billing = x.BillingPeriod
		}
		if x.DemandWindow != 0 {
			p.demandWindow = time.Duration(x.DemandWindow) * time.Second
		}
	}
	clock := []int32{0}
	for i, e := range t.Elements {
		ce := celem{}
		for d := range ce.comp {
			ce.comp[d] = -1
		}
		for j, c := range e.PriceComponents {
			if d, ok := dimOf[c.Type]; ok && ce.comp[d] < 0 {
				ce.comp[d] = int8(j)
				ce.price[d] = cprice{price: c.Price, vat: c.VAT, step: c.StepSize}
				if c.Dynamic != nil {
					dyn := *c.Dynamic
					ce.price[d].dynamic = &dyn
					p.dynamic = true
				}
			}
		}
		var resv ReservationRestriction
		if r := e.Restrictions; r != nil {
			ce.cond = compileCond(r)
			resv = r.Reservation
			ce.reservation = resv != ""
			if ce.cond.window {
				clock = append(clock, ce.cond.from, ce.cond.to%86400)
			}
			if ce.cond.window || ce.cond.dateFrom != 0 || ce.cond.dateTo != 0 || ce.cond.days != 0 {
				p.needsLocal = true
			}
			if ce.cond.hasMinDur {
				p.durEdges = append(p.durEdges, ce.cond.minDur)
			}
			if ce.cond.hasMaxDur {
				p.durEdges = append(p.durEdges, ce.cond.maxDur)
			}
			for _, k := range []decimal.NullDecimal{ce.cond.minKWh, ce.cond.maxKWh} {
				if k.Valid {
					p.kwhEdges = append(p.kwhEdges, k.Decimal)
				}
			}
		}
		p.elems = append(p.elems, ce)
		for d := dim(0); d < numDims; d++ {
			if ce.comp[d] < 0 {
				continue
			}
			switch resv {
			case "":
				p.session[d] = append(p.session[d], int32(i))
			case Reserved:
				p.reserved[d] = append(p.reserved[d], int32(i))
			}
		}
	}
	for d := dim(0); d < numDims; d++ {
		for i, e := range t.Elements {
			if e.Restrictions != nil && e.Restrictions.Reservation == ReservationExpires && p.elems[i].comp[d] >= 0 {
				p.expired[d] = append(p.expired[d], int32(i))
			}
		}
		p.expired[d] = append(p.expired[d], p.reserved[d]...)
	}
	if p.kind != KindCharging {
		p.needsLocal = true // billing periods and STANDING days are local
	}
	slices.Sort(clock)
	p.clockEdges = slices.Compact(clock)
	slices.Sort(p.durEdges)
	p.durEdges = slices.Compact(p.durEdges)
	slices.SortFunc(p.kwhEdges, func(a, b decimal.Decimal) int { return a.Cmp(b) })
	p.kwhEdges = slices.CompactFunc(p.kwhEdges, func(a, b decimal.Decimal) bool { return a.Cmp(b) == 0 })
	return p
}

func compileCond(r *Restrictions) cond {
	var c cond
	st, stOK := parseClock(r.StartTime)
	et, etOK := parseClock(r.EndTime)
	if stOK || etOK {
		c.window = true
		c.from, c.to = 0, 86400
		if stOK {
			c.from = st
		}
		if etOK && et != 0 { // "00:00" as end_time is the end of the day
			c.to = et
		}
	}
	c.dateFrom, _ = parseDate(r.StartDate)
	c.dateTo, _ = parseDate(r.EndDate)
	for _, d := range r.DayOfWeek {
		if wd, ok := weekdayOf[d]; ok {
			c.days |= 1 << wd
		}
	}
	c.minKWh, c.maxKWh = r.MinKWh, r.MaxKWh
	c.minCur, c.maxCur = r.MinCurrent, r.MaxCurrent
	c.minPow, c.maxPow = r.MinPower, r.MaxPower
	if r.MinDuration != nil {
		c.hasMinDur, c.minDur = true, time.Duration(*r.MinDuration)*time.Second
	}
	if r.MaxDuration != nil {
		c.hasMaxDur, c.maxDur = true, time.Duration(*r.MaxDuration)*time.Second
	}
	c.any = c.window || c.dateFrom != 0 || c.dateTo != 0 || c.days != 0 ||
		c.minKWh.Valid || c.maxKWh.Valid || c.minCur.Valid || c.maxCur.Valid ||
		c.minPow.Valid || c.maxPow.Valid || c.hasMinDur || c.hasMaxDur
	return c
}

// planFor returns the compiled tariff, checking it can price usage of kind.
func (t *Tariff) planFor(kind Kind) (*plan, error) {
	if t == nil {
		return nil, &ValidationError{Problems: []Problem{{Message: "no tariff"}}}
	}
	p, err := t.compiled()
	if err != nil {
		return nil, err
	}
	switch {
	case kind == KindCharging && p.kind != KindCharging:
		return nil, errorf(ErrNotApplicable, "tariff %s is a %s tariff; it prices meters, not charging sessions", t.ID, p.kind)
	case kind != KindCharging && p.kind == KindCharging:
		return nil, errorf(ErrNotApplicable, "tariff %s is a charging tariff; it prices sessions, not meters", t.ID)
	}
	if p.needsLocal && p.loc == nil {
		return nil, errorf(ErrNotApplicable, "tariff %s has local-time restrictions but no time zone (gridmetrics.timezone)", t.ID)
	}
	return p, nil
}
