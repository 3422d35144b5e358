package tariffs

import (
	"time"

	"github.com/govalues/decimal"
)

// Result is an itemised price: one line per stretch of usage priced by one
// price component, and the totals by dimension — exact, rounded for an OCPI
// CDR (4 decimal places) and rounded for an invoice (the currency's minor
// unit), all half-up.
//
// Each rounded total is rounded from its exact value, not summed from rounded
// lines, so the rounded parts may not add up to the rounded total by a unit
// of the last place; that is the usual invoice rule (round once, at the end).
type Result struct {
	Currency string    `json:"currency"`
	Lines    []Line    `json:"lines"`
	Totals   Totals    `json:"totals"`         // exact
	CDR      Totals    `json:"cdr_totals"`     // rounded to CDRScale places
	Invoice  Totals    `json:"invoice_totals"` // rounded to the currency's minor unit
	VAT      []VATLine `json:"vat"`            // VAT by rate, exact; adjustments excluded
	Usage    Usage     `json:"usage"`
}

// Line is one priced stretch: a component of one element over a contiguous
// period. Volume × UnitPrice = ExclVAT (up to the 19th digit for hours).
type Line struct {
	Component    Component       `json:"component"`
	ElementIndex int             `json:"element_index"` // index in tariff.elements; -1 for MIN_PRICE/MAX_PRICE
	PeriodStart  time.Time       `json:"period_start"`
	PeriodEnd    time.Time       `json:"period_end"`
	Volume       decimal.Decimal `json:"volume"`
	// StepVolume is the part of Volume added by step_size rounding.
	StepVolume decimal.Decimal     `json:"step_volume"`
	Unit       Unit                `json:"unit"`
	UnitPrice  decimal.Decimal     `json:"unit_price"` // excl. VAT; negative for an export credit
	ExclVAT    decimal.Decimal     `json:"excl_vat"`
	InclVAT    decimal.Decimal     `json:"incl_vat"`
	VATRate    decimal.NullDecimal `json:"vat_rate"` // null: no VAT applies (not the same as 0 %)
	// PeakAt is the start of the demand window that set a DEMAND line's peak.
	PeakAt time.Time `json:"peak_at,omitzero"`
}

// Unit is the unit of a line's volume.
type Unit string

// The line units.
const (
	UnitKWh     Unit = "kWh"
	UnitHour    Unit = "h"
	UnitSession Unit = "session"
	UnitDay     Unit = "day"
	UnitKW      Unit = "kW"
)

// Totals are the amounts by dimension. The names follow the OCPI CDR total_*
// fields where OCPI has one: Fixed is total_fixed_cost (FLAT of the session),
// Energy total_energy_cost, Time total_time_cost (charging time), Parking
// total_parking_cost, Reservation total_reservation_cost (reservation time
// and fees), Total total_cost. Adjustment is what min_price/max_price added
// (positive) or removed (negative); it is in Total but in no dimension.
type Totals struct {
	Fixed       Amount `json:"fixed"`
	Energy      Amount `json:"energy"`
	Time        Amount `json:"time"`
	Parking     Amount `json:"parking"`
	Reservation Amount `json:"reservation"`
	Standing    Amount `json:"standing"`
	Demand      Amount `json:"demand"`
	Export      Amount `json:"export"` // credits for exported energy: negative
	Adjustment  Amount `json:"adjustment"`
	Total       Amount `json:"total"`
}

// Round returns the totals rounded half-up to scale decimal places, each
// from its exact value.
func (t Totals) Round(scale int) Totals {
	return Totals{
		Fixed: t.Fixed.Round(scale), Energy: t.Energy.Round(scale), Time: t.Time.Round(scale),
		Parking: t.Parking.Round(scale), Reservation: t.Reservation.Round(scale),
		Standing: t.Standing.Round(scale), Demand: t.Demand.Round(scale), Export: t.Export.Round(scale),
		Adjustment: t.Adjustment.Round(scale), Total: t.Total.Round(scale),
	}
}

// VATLine is the VAT of all lines at one rate. Rate is null for the lines
// whose component has no vat: OCPI's "no VAT applicable", kept apart from 0 %.
type VATLine struct {
	Rate    decimal.NullDecimal `json:"rate"`
	ExclVAT decimal.Decimal     `json:"excl_vat"`
	VAT     decimal.Decimal     `json:"vat"`
}

// Usage is what was measured, priced or not, in the units of the OCPI CDR:
// kWh and hours.
type Usage struct {
	EnergyKWh      decimal.Decimal `json:"energy_kwh"`     // session: total_energy
	ChargingHours  decimal.Decimal `json:"charging_hours"` // session: time charging
	ParkingHours   decimal.Decimal `json:"parking_hours"`  // session: total_parking_time
	SessionHours   decimal.Decimal `json:"session_hours"`  // session: total_time (charging + parking)
	ReservationHrs decimal.Decimal `json:"reservation_hours"`
	ImportKWh      decimal.Decimal `json:"import_kwh"` // meter
	ExportKWh      decimal.Decimal `json:"export_kwh"` // meter
	Days           int             `json:"days"`       // meter: local days of STANDING
	BillingPeriods int             `json:"billing_periods"`
}

// finish turns the accumulated lines into a Result: amounts, VAT and totals.
func (ls *lineSet) finish(c *calc, p *plan) Result {
	r := Result{Currency: p.currency, Lines: make([]Line, 0, len(ls.accs))}
	for _, a := range ls.accs {
		pr := p.elems[a.elem].price[kindDim[a.kind]]
		l := Line{
			Component:    kindComponent[a.kind],
			ElementIndex: int(a.elem),
			PeriodStart:  a.from,
			PeriodEnd:    a.to,
			UnitPrice:    a.unit,
			VATRate:      pr.vat,
			PeakAt:       a.peakAt,
		}
		switch a.kind {
		case kTime, kParking, kResTime:
			l.Unit = UnitHour
			l.Volume = c.quo(a.qty, secsPerHour)
			l.StepVolume = c.quo(a.step, secsPerHour)
			l.ExclVAT = c.quo(c.mul(a.unit, a.qty), secsPerHour)
		default:
			l.Unit = unitOf(a.kind)
			l.Volume = a.qty
			l.StepVolume = a.step
			l.ExclVAT = c.mul(a.unit, a.qty)
		}
		l.InclVAT = withVAT(c, l.ExclVAT, pr.vat)
		r.Lines = append(r.Lines, l)
		r.addToTotals(c, a.kind, l)
		r.addVAT(c, l)
	}
	return r
}

func unitOf(k lineKind) Unit {
	switch k {
	case kEnergy, kExport:
		return UnitKWh
	case kFlat, kResFlat:
		return UnitSession
	case kStanding:
		return UnitDay
	case kDemand:
		return UnitKW
	}
	return UnitHour
}

// withVAT adds VAT at rate percent; no rate means no VAT.
func withVAT(c *calc, excl decimal.Decimal, rate decimal.NullDecimal) decimal.Decimal {
	if !rate.Valid || rate.Decimal.IsZero() {
		return excl
	}
	return c.add(excl, c.quo(c.mul(excl, rate.Decimal), hundred))
}

func (r *Result) addToTotals(c *calc, k lineKind, l Line) {
	a := Amount{ExclVAT: l.ExclVAT, InclVAT: l.InclVAT}
	t := &r.Totals
	switch k {
	case kFlat:
		t.Fixed = c.addAmount(t.Fixed, a)
	case kEnergy:
		t.Energy = c.addAmount(t.Energy, a)
	case kExport:
		t.Export = c.addAmount(t.Export, a)
	case kTime:
		t.Time = c.addAmount(t.Time, a)
	case kParking:
		t.Parking = c.addAmount(t.Parking, a)
	case kResTime, kResFlat:
		t.Reservation = c.addAmount(t.Reservation, a)
	case kStanding:
		t.Standing = c.addAmount(t.Standing, a)
	case kDemand:
		t.Demand = c.addAmount(t.Demand, a)
	}
	t.Total = c.addAmount(t.Total, a)
}

// Add returns the sum of two totals, dimension by dimension; an error when
// a sum exceeds the 19 digits of a decimal.
func (t Totals) Add(b Totals) (Totals, error) {
	var c calc
	s := Totals{
		Fixed: c.addAmount(t.Fixed, b.Fixed), Energy: c.addAmount(t.Energy, b.Energy), Time: c.addAmount(t.Time, b.Time),
		Parking: c.addAmount(t.Parking, b.Parking), Reservation: c.addAmount(t.Reservation, b.Reservation),
		Standing: c.addAmount(t.Standing, b.Standing), Demand: c.addAmount(t.Demand, b.Demand), Export: c.addAmount(t.Export, b.Export),
		Adjustment: c.addAmount(t.Adjustment, b.Adjustment), Total: c.addAmount(t.Total, b.Total),
	}
	return s, c.err
}

// AddVAT returns vat, VAT by rate, with the line's VAT added to its rate;
// an error when a sum exceeds the 19 digits of a decimal.
func AddVAT(vat []VATLine, l Line) ([]VATLine, error) {
	var c calc
	r := Result{VAT: vat}
	r.addVAT(&c, l)
	return r.VAT, c.err
}

func (r *Result) addVAT(c *calc, l Line) {
	for i := range r.VAT {
		v := &r.VAT[i]
		if v.Rate.Valid == l.VATRate.Valid && (!v.Rate.Valid || v.Rate.Decimal.Cmp(l.VATRate.Decimal) == 0) {
			v.ExclVAT = c.add(v.ExclVAT, l.ExclVAT)
			v.VAT = c.add(v.VAT, c.sub(l.InclVAT, l.ExclVAT))
			return
		}
	}
	r.VAT = append(r.VAT, VATLine{Rate: l.VATRate, ExclVAT: l.ExclVAT, VAT: c.sub(l.InclVAT, l.ExclVAT)})
}

// round fills the CDR and invoice totals from the exact ones.
func (r *Result) round() {
	r.CDR = r.Totals.Round(CDRScale)
	n, ok := minorUnits[r.Currency]
	if !ok {
		n = 2
	}
	r.Invoice = r.Totals.Round(n)
}
