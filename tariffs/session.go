package tariffs

import (
	"time"

	"github.com/govalues/decimal"
)

// Session is a charging session to price: OCPI charging periods, each
// running from its StartDateTime to the next one's, the last to End.
type Session struct {
	// Start is when the charging session started; zero means the first
	// period's start. min_duration and max_duration count from here.
	Start time.Time
	// End is when the session ended; zero means the last period's start plus
	// its TIME and PARKING_TIME volumes.
	End             time.Time
	ChargingPeriods []ChargingPeriod
	// Reservation, when set, is priced with the tariff's reservation
	// elements before the session.
	Reservation *SessionReservation
}

// ChargingPeriod is OCPI's ChargingPeriod.
type ChargingPeriod struct {
	StartDateTime time.Time
	Dimensions    []CdrDimension
	// TariffID, when any period of a session sets it, says which periods the
	// tariff prices: periods naming another tariff are an error, periods
	// naming none are free ("no Tariff is relevant during this period").
	TariffID string
}

// CdrDimension is OCPI's CdrDimension: a volume measured in a period.
type CdrDimension struct {
	Type   DimensionType
	Volume decimal.Decimal
}

// DimensionType is OCPI's CdrDimensionType.
type DimensionType string

// The CDR dimension types. Volumes are in kWh, hours, A, kW or percent.
const (
	DimCurrent         DimensionType = "CURRENT"
	DimEnergy          DimensionType = "ENERGY"
	DimEnergyExport    DimensionType = "ENERGY_EXPORT"
	DimEnergyImport    DimensionType = "ENERGY_IMPORT"
	DimMaxCurrent      DimensionType = "MAX_CURRENT"
	DimMinCurrent      DimensionType = "MIN_CURRENT"
	DimMaxPower        DimensionType = "MAX_POWER"
	DimMinPower        DimensionType = "MIN_POWER"
	DimParkingTime     DimensionType = "PARKING_TIME"
	DimPower           DimensionType = "POWER"
	DimReservationTime DimensionType = "RESERVATION_TIME"
	DimStateOfCharge   DimensionType = "STATE_OF_CHARGE"
	DimTime            DimensionType = "TIME"
)

var dimensionTypes = map[DimensionType]bool{
	DimCurrent: true, DimEnergy: true, DimEnergyExport: true, DimEnergyImport: true,
	DimMaxCurrent: true, DimMinCurrent: true, DimMaxPower: true, DimMinPower: true,
	DimParkingTime: true, DimPower: true, DimReservationTime: true, DimStateOfCharge: true, DimTime: true,
}

// SessionReservation is a reservation before a session: from Start until
// End (the session start, or the expiry). Expired means the reservation ran
// out without a session; then RESERVATION_EXPIRES elements apply as well.
type SessionReservation struct {
	Start, End time.Time
	Expired    bool
}

// MaxSessionSpan bounds the length of a session or reservation that
// PriceSession accepts. Pricing cost grows with the number of local days a
// session spans; a CDR claiming years is a data error, not a session.
const MaxSessionSpan = 60 * 24 * time.Hour

// PriceSession prices a charging session with a charging tariff.
//
// Time is measured by the clock: a period lasts from its start to the next
// period's (the last to End), and its TIME and PARKING_TIME volumes say how
// that time divides between charging and parking, not how long it is. So
// durations are exact to the nanosecond, whatever rounding the volumes in
// hours carry.
//
// Each charging period is cut into pieces wherever the element pricing a
// dimension can change — local midnights, time-window edges and UTC-offset
// changes, min/max_duration thresholds, and the instants the session's
// energy crosses a min/max_kwh threshold (energy flows linearly within a
// period) — and every piece is priced by the first element, per dimension,
// whose restrictions hold at its start. A period with TIME and PARKING_TIME
// is charging first, then parking, in the ratio of the two volumes.
func PriceSession(t *Tariff, s Session) (Result, error) {
	p, err := t.planFor(KindCharging)
	if err != nil {
		return Result{}, err
	}
	sp := sessionPricer{p: p, tariffID: t.ID}
	return sp.price(s)
}

type sessionPricer struct {
	p        *plan
	tariffID string
	c        calc
	ls       lineSet
	cut      cutter
	usage    struct{ energy, charging, parking, reservation decimal.Decimal }
}

// phase is the charging session or the reservation before it: which
// elements may price it, where durations count from, which lines it makes.
type phase struct {
	cands              *[numDims][]int32
	origin             time.Time
	timeKind, flatKind lineKind
	flatDone           bool
	evaluated          bool
	flatFrom, flatTo   time.Time
}

// segment is the charging or the parking part of a period (or a whole
// reservation).
type segment struct {
	from, to  time.Time
	charging  bool
	energy    decimal.Decimal
	kwhBefore decimal.Decimal
	cur, pow  bounds
}

func (sp *sessionPricer) price(s Session) (Result, error) {
	p, c := sp.p, &sp.c
	var ps problems
	periods, start, end := sp.read(&ps, s)
	if r := s.Reservation; r != nil {
		if r.End.Before(r.Start) {
			ps.add("reservation.end", "%s is before reservation.start", formatDateTime(r.End))
		}
		if r.End.Sub(r.Start) > MaxSessionSpan {
			ps.add("reservation.end", "the reservation lasts longer than %s", MaxSessionSpan)
		}
		if len(periods) > 0 && r.End.After(start) {
			ps.add("reservation.end", "%s is after the session start %s", formatDateTime(r.End), formatDateTime(start))
		}
	}
	if err := ps.err(); err != nil {
		return Result{}, err
	}
	first := start
	if s.Reservation != nil {
		first = s.Reservation.Start.UTC()
	}
	at := start // the tariff valid when the session starts prices it
	if len(periods) == 0 {
		at = first
	}
	if !p.validFrom.IsZero() && at.Before(p.validFrom) {
		return Result{}, errorf(ErrNotApplicable, "tariff %s is valid from %s; the session starts %s", sp.tariffID, formatDateTime(p.validFrom), formatDateTime(at))
	}
	if !p.validTo.IsZero() && at.After(p.validTo) {
		return Result{}, errorf(ErrNotApplicable, "tariff %s is valid until %s; the session starts %s", sp.tariffID, formatDateTime(p.validTo), formatDateTime(at))
	}

	sp.ls.closeAll()
	sp.usage.energy, sp.usage.charging, sp.usage.parking, sp.usage.reservation = zero, zero, zero, zero
	if r := s.Reservation; r != nil {
		sp.reservation(r.Start.UTC(), r.End.UTC(), r.Expired)
	}
	sp.session(periods, start, end)

	// step_size, once per session: energy; parking if billed, else
	// charging time; reservation time on its own.
	sp.ls.roundStep(c, p, 0, kEnergy, thousand)
	if sp.ls.has(0, kParking) {
		sp.ls.roundStep(c, p, 0, kParking, one)
	} else {
		sp.ls.roundStep(c, p, 0, kTime, one)
	}
	sp.ls.roundStep(c, p, 0, kResTime, one)

	r := sp.ls.finish(c, p)
	sp.clamp(&r, first, end)
	r.Usage = Usage{
		EnergyKWh:      sp.usage.energy,
		ChargingHours:  c.quo(sp.usage.charging, secsPerHour),
		ParkingHours:   c.quo(sp.usage.parking, secsPerHour),
		SessionHours:   c.quo(c.add(sp.usage.charging, sp.usage.parking), secsPerHour),
		ReservationHrs: c.quo(sp.usage.reservation, secsPerHour),
	}
	r.round()
	if c.err != nil {
		return Result{}, c.err
	}
	return r, nil
}

// reservation prices the reservation [from, to) with the reservation
// elements: time as TIME, and its own FLAT.
func (sp *sessionPricer) reservation(from, to time.Time, expired bool) {
	p := sp.p
	ph := phase{cands: &p.reserved, origin: from, timeKind: kResTime, flatKind: kResFlat, flatFrom: from, flatTo: to}
	if expired {
		ph.cands = &p.expired
	}
	sp.cut.reset(p, from, to)
	sp.usage.reservation = nanosToSeconds(int64(to.Sub(from)))
	sp.run(&ph, segment{from: from, to: to, charging: true, kwhBefore: zero})
	sp.flatAtOrigin(&ph)
}

// session prices the charging periods: each is its charging part, then its
// parking part.
func (sp *sessionPricer) session(periods []period, start, end time.Time) {
	p, c := sp.p, &sp.c
	ph := phase{cands: &p.session, origin: start, timeKind: kTime, flatKind: kFlat, flatFrom: start, flatTo: end}
	sp.cut.reset(p, start, end)
	kwh := zero
	priced := false
	idle := bounds{known: true, lo: zero, hi: zero}
	for i := range periods {
		pd := &periods[i]
		cut := pd.cut(c)
		charge := pd.timeVol.IsPos() || cut.After(pd.from) || (pd.energy.IsPos() && !pd.parkVol.IsPos())
		park := pd.parkVol.IsPos() || pd.to.After(cut)
		chargeE, parkE := pd.energy, zero
		if !charge {
			chargeE, parkE = zero, pd.energy
		}
		sp.usage.energy = c.add(sp.usage.energy, pd.energy)
		sp.usage.charging = c.add(sp.usage.charging, nanosToSeconds(int64(cut.Sub(pd.from))))
		sp.usage.parking = c.add(sp.usage.parking, nanosToSeconds(int64(pd.to.Sub(cut))))
		if pd.priced {
			priced = true
			if charge {
				sp.run(&ph, segment{from: pd.from, to: cut, charging: true, energy: chargeE, kwhBefore: kwh, cur: pd.cur, pow: pd.pow})
			}
			if park {
				// Parking draws no current; a period that is parking only may
				// still say otherwise in its dimensions.
				cur, pow := pd.cur, pd.pow
				if charge || !cur.known {
					cur = idle
				}
				if charge || !pow.known {
					pow = idle
				}
				sp.run(&ph, segment{from: cut, to: pd.to, energy: parkE, kwhBefore: c.add(kwh, chargeE), cur: cur, pow: pow})
			}
		}
		kwh = c.add(kwh, pd.energy)
	}
	if priced {
		sp.flatAtOrigin(&ph)
	}
}

// run prices one segment: it cuts it at every instant where the element of
// a dimension can change and prices each piece by the restrictions at its
// start.
func (sp *sessionPricer) run(ph *phase, sg segment) {
	p, c := sp.p, &sp.c
	pts := sp.cut.cut(c, sg.from, sg.to, ph.origin, sg.energy, sg.kwhBefore)
	for k := 0; k+1 < len(pts); k++ {
		x, y := &pts[k], &pts[k+1]
		de, dq := c.sub(y.e, x.e), c.sub(y.q, x.q)
		needFlat := !ph.flatDone && len(ph.cands[dFlat]) > 0
		if !de.IsPos() && !dq.IsPos() && !needFlat {
			continue
		}
		m := moment{
			kwh:      c.add(sg.kwhBefore, x.e),
			dur:      x.t.Sub(ph.origin),
			curKnown: sg.cur.known, curLo: sg.cur.lo, curHi: sg.cur.hi,
			powKnown: sg.pow.known, powLo: sg.pow.lo, powHi: sg.pow.hi,
		}
		if p.needsLocal {
			m.setLocal(x.t, p.loc)
		}
		ph.evaluated = true
		if needFlat {
			sp.flat(ph, &m)
		}
		if de.IsPos() {
			if w := p.first(ph.cands[dEnergy], &m); w >= 0 {
				sp.ls.add(c, kEnergy, w, x.t, y.t, de, p.elems[w].price[dEnergy].price)
			}
		}
		if dq.IsPos() {
			d, kind := dTime, ph.timeKind
			if !sg.charging {
				d, kind = dParking, kParking
			}
			if w := p.first(ph.cands[d], &m); w >= 0 {
				sp.ls.add(c, kind, w, x.t, y.t, dq, p.elems[w].price[d].price)
			}
		}
	}
}

// flat charges the phase's FLAT fee, once: the element pricing FLAT at the
// first moment any element does.
func (sp *sessionPricer) flat(ph *phase, m *moment) {
	p := sp.p
	if w := p.first(ph.cands[dFlat], m); w >= 0 {
		sp.ls.add(&sp.c, ph.flatKind, w, ph.flatFrom, ph.flatTo, one, p.elems[w].price[dFlat].price)
		ph.flatDone = true
	}
}

// flatAtOrigin charges FLAT for a phase that had no piece to look at (a
// session of no duration): restrictions are read at its start.
func (sp *sessionPricer) flatAtOrigin(ph *phase) {
	if ph.flatDone || ph.evaluated || len(ph.cands[dFlat]) == 0 {
		return
	}
	m := moment{kwh: zero, powKnown: true, curKnown: true}
	if sp.p.needsLocal {
		m.setLocal(ph.origin, sp.p.loc)
	}
	sp.flat(ph, &m)
}
