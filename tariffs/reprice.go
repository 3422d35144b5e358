package tariffs

import (
	"fmt"
	"slices"

	"github.com/govalues/decimal"
)

// Session returns the charging session the CDR describes. Charging periods
// with a RESERVATION_TIME dimension are the reservation: it runs from the
// first of them to the first period without one (or to end_date_time), and
// it expired when no period without one follows — OCPI has no other field
// saying a reservation was never used. The session runs from its first
// period to end_date_time.
func (c *CDR) Session() Session {
	s := Session{End: c.EndDateTime}
	var resv *SessionReservation
	for _, p := range c.ChargingPeriods {
		reserved := slices.ContainsFunc(p.Dimensions, func(d CdrDimension) bool { return d.Type == DimReservationTime })
		switch {
		case reserved && len(s.ChargingPeriods) == 0:
			if resv == nil {
				resv = &SessionReservation{Start: p.StartDateTime}
			}
		default:
			if resv != nil && resv.End.IsZero() {
				resv.End = p.StartDateTime
			}
			s.ChargingPeriods = append(s.ChargingPeriods, p)
		}
	}
	if resv != nil && resv.End.IsZero() {
		resv.End, resv.Expired = c.EndDateTime, true
	}
	s.Reservation = resv
	if len(s.ChargingPeriods) > 0 {
		s.Start = s.ChargingPeriods[0].StartDateTime
	} else {
		s.Start, s.End = c.EndDateTime, c.EndDateTime
	}
	return s
}

// Reprice prices the CDR's session with t and returns a copy of the CDR with
// the total_* fields recomputed (amounts rounded to CDRScale places) and
// tariffs set to [t], together with the itemised Result. To check a received
// CDR, reprice it with its own tariff (c.Tariffs[0]) and compare.
//
// total_energy, total_time and total_parking_time are recomputed from the
// charging periods when these carry the dimensions for them; a CDR whose
// periods have no ENERGY keeps its stated total_energy.
func (c *CDR) Reprice(t *Tariff) (*CDR, Result, error) {
	if t == nil {
		return nil, Result{}, fmt.Errorf("reprice cdr %s: no tariff", c.ID)
	}
	if t.Currency != c.Currency {
		return nil, Result{}, errorf(ErrNotApplicable, "reprice cdr %s: tariff %s is in %s, the CDR in %s", c.ID, t.ID, t.Currency, c.Currency)
	}
	r, err := PriceSession(t, c.Session())
	if err != nil {
		return nil, Result{}, fmt.Errorf("reprice cdr %s: %w", c.ID, err)
	}
	out := *c
	out.Tariffs = []*Tariff{t}
	n := minorUnits[c.Currency]
	has := func(comps ...Component) bool {
		return slices.ContainsFunc(r.Lines, func(l Line) bool { return slices.Contains(comps, l.Component) })
	}
	money := func(a Amount) *Price {
		return &Price{ExclVAT: a.ExclVAT.Trim(n), InclVAT: decimal.NullDecimal{Decimal: a.InclVAT.Trim(n), Valid: true}}
	}
	optional := func(ok bool, a Amount) *Price {
		if !ok {
			return nil
		}
		return money(a)
	}
	out.TotalCost = *money(r.CDR.Total)
	if c.Credit != nil && *c.Credit {
		// A credit CDR carries the negated total_cost of the CDR it credits
		// and nothing else negated (OCPI CDR module, "Credit CDRs").
		out.TotalCost = Price{ExclVAT: out.TotalCost.ExclVAT.Neg(), InclVAT: decimal.NullDecimal{Decimal: out.TotalCost.InclVAT.Decimal.Neg(), Valid: true}}
	}
	out.TotalFixedCost = optional(has(Flat), r.CDR.Fixed)
	out.TotalEnergyCost = optional(has(Energy), r.CDR.Energy)
	out.TotalTimeCost = optional(has(Time), r.CDR.Time)
	out.TotalParkingCost = optional(has(ParkingTime), r.CDR.Parking)
	out.TotalReservationCost = optional(has(ReservationTime, ReservationFlat), r.CDR.Reservation)
	if c.energyVolumes() > 0 {
		out.TotalEnergy = RoundHalfUp(r.Usage.EnergyKWh, CDRScale).Trim(0)
	}
	out.TotalTime = RoundHalfUp(r.Usage.SessionHours, CDRScale).Trim(0)
	if r.Usage.ParkingHours.IsPos() || c.TotalParkingTime.Valid {
		out.TotalParkingTime = decimal.NullDecimal{Decimal: RoundHalfUp(r.Usage.ParkingHours, CDRScale).Trim(0), Valid: true}
	}
	return &out, r, nil
}

// OwnTariff returns the tariff the CDR's sender priced it with, to reprice
// the CDR as received: the one of its tariffs that its charging periods name
// (tariff_id), else its only tariff. A CDR without tariffs, with several and
// no period naming one, or naming one it does not carry is a
// *ValidationError.
func (c *CDR) OwnTariff() (*Tariff, error) {
	var ps problems
	for i, p := range c.ChargingPeriods {
		if p.TariffID == "" {
			continue
		}
		for _, t := range c.Tariffs {
			if t.ID == p.TariffID {
				return t, nil
			}
		}
		ps.add(field(index("charging_periods", i), "tariff_id"), "%q is none of the CDR's tariffs", p.TariffID)
		return nil, ps.err()
	}
	switch len(c.Tariffs) {
	case 0:
		ps.add("tariffs", "the CDR carries no tariff to price it with")
	case 1:
		return c.Tariffs[0], nil
	default:
		ps.add("tariffs", "the CDR carries %d tariffs and no charging period names one", len(c.Tariffs))
	}
	return nil, ps.err()
}
