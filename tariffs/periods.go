package tariffs

import (
	"time"

	"github.com/govalues/decimal"
)

// period is a charging period read for pricing.
type period struct {
	from, to         time.Time
	energy           decimal.Decimal // kWh
	timeVol, parkVol decimal.Decimal // TIME and PARKING_TIME volumes, hours
	hasTime, hasPark bool
	hasEnergy        bool
	priced           bool
	cur, pow         bounds
}

// bounds is the lowest and highest value of current or power in a period.
type bounds struct {
	known  bool
	lo, hi decimal.Decimal
}

// read checks the session and turns its periods into pricing form.
func (sp *sessionPricer) read(ps *problems, s Session) ([]period, time.Time, time.Time) {
	c := &sp.c
	start, end := s.Start.UTC(), s.End.UTC()
	if s.Start.IsZero() && len(s.ChargingPeriods) > 0 {
		start = s.ChargingPeriods[0].StartDateTime.UTC()
	}
	anyTariffID := false
	for _, cp := range s.ChargingPeriods {
		if cp.TariffID != "" {
			anyTariffID = true
		}
	}
	periods := make([]period, len(s.ChargingPeriods))
	// Paths are built only for problems: this loop runs for every session.
	at := func(i int, f string) string { return field(index("charging_periods", i), f) }
	dimAt := func(i, j int, f string) string {
		return field(index(at(i, "dimensions"), j), f)
	}
	for i, cp := range s.ChargingPeriods {
		pd := &periods[i]
		pd.from = cp.StartDateTime.UTC()
		pd.energy, pd.timeVol, pd.parkVol = zero, zero, zero
		switch {
		case cp.StartDateTime.IsZero():
			ps.add(at(i, "start_date_time"), "is required")
		case pd.from.Before(start):
			ps.add(at(i, "start_date_time"), "%s is before the session start %s", formatDateTime(pd.from), formatDateTime(start))
		case i > 0 && pd.from.Before(periods[i-1].from):
			ps.add(at(i, "start_date_time"), "%s is before the previous period's start", formatDateTime(pd.from))
		}
		pd.priced = !anyTariffID || cp.TariffID == sp.tariffID
		if anyTariffID && cp.TariffID != "" && cp.TariffID != sp.tariffID {
			ps.add(at(i, "tariff_id"), "%q is not the tariff being priced (%q)", cp.TariffID, sp.tariffID)
		}
		var energy, imp, tm, pk, cur, minCur, maxCur, pow, minPow, maxPow decimal.NullDecimal
		for j, d := range cp.Dimensions {
			v := decimal.NullDecimal{Decimal: d.Volume, Valid: true}
			switch d.Type {
			case DimEnergy, DimEnergyImport, DimTime, DimParkingTime, DimReservationTime:
				if d.Volume.IsNeg() {
					ps.add(dimAt(i, j, "volume"), "%s is negative (energy fed back is not priced by a charging tariff)", d.Volume)
					continue
				}
			case DimCurrent, DimMinCurrent, DimMaxCurrent, DimPower, DimMinPower, DimMaxPower,
				DimEnergyExport, DimStateOfCharge:
			default:
				ps.add(dimAt(i, j, "type"), "%q is not a CDR dimension type", d.Type)
				continue
			}
			switch d.Type {
			case DimEnergy:
				energy = v
			case DimEnergyImport:
				imp = v
			case DimTime:
				tm = v
			case DimParkingTime:
				pk = v
			case DimCurrent:
				cur = v
			case DimMinCurrent:
				minCur = v
			case DimMaxCurrent:
				maxCur = v
			case DimPower:
				pow = v
			case DimMinPower:
				minPow = v
			case DimMaxPower:
				maxPow = v
			}
		}
		if !energy.Valid {
			energy = imp
		}
		if energy.Valid {
			pd.energy, pd.hasEnergy = energy.Decimal, true
		}
		pd.hasTime, pd.hasPark = tm.Valid, pk.Valid
		if tm.Valid {
			pd.timeVol = tm.Decimal
		}
		if pk.Valid {
			pd.parkVol = pk.Decimal
		}
		pd.cur = boundsOf(minCur, cur, maxCur)
		pd.pow = boundsOf(minPow, pow, maxPow)
	}
	n := len(periods)
	for i := 0; i+1 < n; i++ {
		periods[i].to = periods[i+1].from
	}
	if n > 0 {
		last := &periods[n-1]
		if end.IsZero() {
			if !last.hasTime && !last.hasPark {
				ps.add("end", "is required when the last charging period has no TIME or PARKING_TIME")
			}
			end = last.from.Add(time.Duration(secondsToNanos(c.mul(c.add(last.timeVol, last.parkVol), secsPerHour))))
		}
		if end.Before(last.from) {
			ps.add("end", "%s is before the last charging period's start", formatDateTime(end))
		}
		last.to = end
	} else if end.IsZero() {
		end = start
	}
	if end.Before(start) {
		ps.add("end", "%s is before the start %s", formatDateTime(end), formatDateTime(start))
	}
	if end.Sub(start) > MaxSessionSpan {
		ps.add("end", "the session lasts %s, longer than %s", end.Sub(start).Round(time.Hour), MaxSessionSpan)
	}
	for i := range periods {
		pd := &periods[i]
		if !pd.hasTime && !pd.hasPark {
			// No time dimension: the period is charging when energy flowed,
			// parking otherwise, for its whole length.
			if pd.energy.IsPos() {
				pd.timeVol = one
			} else {
				pd.parkVol = one
			}
		}
		if !pd.pow.known && pd.hasEnergy {
			// No power dimension: the average power of the charging part.
			if secs := nanosToSeconds(int64(pd.cut(c).Sub(pd.from))); secs.IsPos() {
				avg := c.quo(c.mul(pd.energy, secsPerHour), secs)
				pd.pow = bounds{known: true, lo: avg, hi: avg}
			}
		}
	}
	return periods, start, end
}

// boundsOf reads a period's lowest and highest current or power from its
// MIN_, plain (average) and MAX_ dimensions, whichever are present.
func boundsOf(lo, avg, hi decimal.NullDecimal) bounds {
	var b bounds
	for _, v := range []decimal.NullDecimal{lo, avg, hi} {
		if v.Valid && !b.known {
			b.known, b.lo = true, v.Decimal
		}
	}
	for _, v := range []decimal.NullDecimal{hi, avg, lo} {
		if v.Valid {
			b.hi = v.Decimal
			break
		}
	}
	return b
}

// secondsToNanos converts decimal seconds to whole nanoseconds.
func secondsToNanos(s decimal.Decimal) int64 {
	ns, err := s.Mul(decimal.MustNew(1_000_000_000, 0))
	if err != nil {
		return 0
	}
	n, _, ok := ns.Round(0).Int64(0)
	if !ok {
		return 0
	}
	return n
}

// cut returns where a period's charging part ends and its parking part
// begins: charging first, in the ratio of the TIME and PARKING_TIME volumes.
func (pd *period) cut(c *calc) time.Time {
	tPos, pPos := pd.timeVol.IsPos(), pd.parkVol.IsPos()
	switch {
	case tPos && pPos:
		ratio := c.quo(pd.timeVol, c.add(pd.timeVol, pd.parkVol))
		ns, _, _ := c.mul(ratio, decInt(int64(pd.to.Sub(pd.from)))).Round(0).Int64(0)
		return pd.from.Add(time.Duration(ns))
	case tPos:
		return pd.to
	case pPos:
		return pd.from
	case pd.energy.IsPos():
		return pd.to
	}
	return pd.from
}
