package tariffs

import (
	"strconv"
	"time"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/internal/jsontext"
)

// AppendJSON appends the result as encoding/json writes it from its field
// tags (decimals as numeric strings, times in RFC 3339 with nanoseconds),
// byte for byte — TestResultJSONAsEncodingJSON holds it to that — but
// without reflection: the pricing worker stores one per session, and
// encoding/json was a sixth of its CPU. It is not MarshalJSON, so that a
// struct embedding a Result (a quote) is still written field by field.
func (r *Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"currency":`...)
	b = jsontext.AppendString(b, r.Currency)
	b = append(b, `,"lines":`...)
	if r.Lines == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, l := range r.Lines {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendLine(b, &l)
		}
		b = append(b, ']')
	}
	b = appendTotals(append(b, `,"totals":`...), &r.Totals)
	b = appendTotals(append(b, `,"cdr_totals":`...), &r.CDR)
	b = appendTotals(append(b, `,"invoice_totals":`...), &r.Invoice)
	b = append(b, `,"vat":`...)
	if r.VAT == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, v := range r.VAT {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendNullDecimal(append(b, `{"rate":`...), v.Rate)
			b = appendDecimal(append(b, `,"excl_vat":`...), v.ExclVAT)
			b = appendDecimal(append(b, `,"vat":`...), v.VAT)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	u := &r.Usage
	b = appendDecimal(append(b, `,"usage":{"energy_kwh":`...), u.EnergyKWh)
	b = appendDecimal(append(b, `,"charging_hours":`...), u.ChargingHours)
	b = appendDecimal(append(b, `,"parking_hours":`...), u.ParkingHours)
	b = appendDecimal(append(b, `,"session_hours":`...), u.SessionHours)
	b = appendDecimal(append(b, `,"reservation_hours":`...), u.ReservationHrs)
	b = appendDecimal(append(b, `,"import_kwh":`...), u.ImportKWh)
	b = appendDecimal(append(b, `,"export_kwh":`...), u.ExportKWh)
	b = appendInt(append(b, `,"days":`...), u.Days)
	b = appendInt(append(b, `,"billing_periods":`...), u.BillingPeriods)
	return append(b, "}}"...)
}

func appendLine(b []byte, l *Line) []byte {
	b = append(b, `{"component":`...)
	b = jsontext.AppendString(b, string(l.Component))
	b = appendInt(append(b, `,"element_index":`...), l.ElementIndex)
	b = appendTime(append(b, `,"period_start":`...), l.PeriodStart)
	b = appendTime(append(b, `,"period_end":`...), l.PeriodEnd)
	b = appendDecimal(append(b, `,"volume":`...), l.Volume)
	b = appendDecimal(append(b, `,"step_volume":`...), l.StepVolume)
	b = append(b, `,"unit":`...)
	b = jsontext.AppendString(b, string(l.Unit))
	b = appendDecimal(append(b, `,"unit_price":`...), l.UnitPrice)
	b = appendDecimal(append(b, `,"excl_vat":`...), l.ExclVAT)
	b = appendDecimal(append(b, `,"incl_vat":`...), l.InclVAT)
	b = appendNullDecimal(append(b, `,"vat_rate":`...), l.VATRate)
	if !l.PeakAt.IsZero() {
		b = appendTime(append(b, `,"peak_at":`...), l.PeakAt)
	}
	return append(b, '}')
}

func appendTotals(b []byte, t *Totals) []byte {
	for _, a := range [...]struct {
		name string
		v    *Amount
	}{{`{"fixed":`, &t.Fixed}, {`,"energy":`, &t.Energy}, {`,"time":`, &t.Time}, {`,"parking":`, &t.Parking},
		{`,"reservation":`, &t.Reservation}, {`,"standing":`, &t.Standing}, {`,"demand":`, &t.Demand},
		{`,"export":`, &t.Export}, {`,"adjustment":`, &t.Adjustment}, {`,"total":`, &t.Total}} {
		b = appendDecimal(append(b, a.name+`{"excl_vat":`...), a.v.ExclVAT)
		b = appendDecimal(append(b, `,"incl_vat":`...), a.v.InclVAT)
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendDecimal(b []byte, d decimal.Decimal) []byte {
	b = append(b, '"')
	b, _ = d.AppendText(b) // never fails
	return append(b, '"')
}

func appendNullDecimal(b []byte, d decimal.NullDecimal) []byte {
	if !d.Valid {
		return append(b, "null"...)
	}
	return appendDecimal(b, d.Decimal)
}

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

// appendTime writes t as time.Time's MarshalJSON does. (That refuses a
// year outside 0–9999; no tariff or session reaches one.)
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
