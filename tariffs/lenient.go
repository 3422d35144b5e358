package tariffs

import (
	"strings"

	"github.com/govalues/decimal"
)

// ParseCDRLenient reads a CDR the way a pricer for reconciliation must:
// it refuses only what pricing needs, and keeps every other problem
// ParseCDR would refuse as a warning (Warnings lists them). Roaming partners
// send CDRs without country_code, party_id, cdr_token or cdr_location, and
// those still have a price.
//
// Pricing needs valid JSON; start_date_time and end_date_time; currency;
// charging_periods, each with its start_date_time, its dimensions (type and
// volume) and tariff_id when it has one; credit when present (it negates
// total_cost); and the tariffs the CDR carries, checked in full as any
// tariff is.
func ParseCDRLenient(data []byte) (*CDR, error) {
	ps := problems{warnIf: notNeededForPricing, warnings: &problems{}}
	c, err := parseCDR(data, &ps)
	if err != nil {
		return nil, err
	}
	c.read = ps.warnings
	return c, nil
}

// notNeededForPricing reports whether a problem at path leaves the CDR
// priceable (see ParseCDRLenient).
func notNeededForPricing(path string) bool {
	switch path {
	case "", "start_date_time", "end_date_time", "currency", "credit", "tariffs", "charging_periods":
		return false
	}
	if strings.HasPrefix(path, "tariffs[") {
		return false
	}
	rest, ok := cutIndex(path, "charging_periods")
	if !ok {
		return true
	}
	switch rest {
	case "", ".start_date_time", ".tariff_id", ".dimensions":
		return false
	}
	if rest, ok = cutIndex(rest, ".dimensions"); !ok {
		return true
	}
	return rest != "" && rest != ".type" && rest != ".volume"
}

// cutIndex cuts name[n] from the front of path.
func cutIndex(path, name string) (string, bool) {
	rest, ok := strings.CutPrefix(path, name+"[")
	if !ok {
		return "", false
	}
	i := strings.IndexByte(rest, ']')
	if i <= 0 || strings.Trim(rest[:i], "0123456789") != "" {
		return "", false
	}
	return rest[i+1:], true
}

// ReadWarnings lists the problems ParseCDRLenient let pass (none for a CDR
// read by ParseCDR): at most MaxProblems, then one counting the rest.
func (c *CDR) ReadWarnings() []Problem {
	var ps problems
	c.replayRead(&ps)
	return ps.listed("warnings")
}

// Warnings lists what is wrong with the CDR without stopping its pricing:
// the problems ParseCDRLenient let pass, then every disagreement of its
// volumes with its timestamps and totals — priced by the rule in the
// package documentation ("Volumes and timestamps") — at most MaxProblems,
// then one counting the rest. r is the result of repricing c.
func (c *CDR) Warnings(r Result) []Problem {
	var ps problems
	c.replayRead(&ps)
	c.checkVolumes(&ps, r.Usage)
	return ps.listed("warnings")
}

func (c *CDR) replayRead(ps *problems) {
	if c.read == nil {
		return
	}
	for _, p := range c.read.list {
		ps.add(p.Path, "%s", p.Message)
	}
	ps.more += c.read.more
}

// stated reports whether the CDR's field at path was read without a
// problem: a total that was missing or unreadable is not compared.
func (c *CDR) stated(path string) bool {
	return c.read == nil || !c.read.reported(path)
}

// volumeSlack is the rounding allowed each written value compared: half a
// unit of the third decimal place, to which OCPI's examples write hours and
// kWh. Two sides disagree when they differ by more than the slack of all
// the written values on them.
var volumeSlack = decimal.MustNew(5, 4)

// checkVolumes reports each period whose TIME and PARKING_TIME volumes
// disagree with its length by the clock, and each of total_energy,
// total_time and total_parking_time that disagrees with what was priced (u).
func (c *CDR) checkVolumes(ps *problems, u Usage) {
	var k calc
	n := len(c.ChargingPeriods)
	for i, p := range c.ChargingPeriods {
		var tm, pk decimal.NullDecimal
		for _, d := range p.Dimensions {
			switch d.Type {
			case DimTime:
				tm = decimal.NullDecimal{Decimal: d.Volume, Valid: true}
			case DimParkingTime:
				pk = decimal.NullDecimal{Decimal: d.Volume, Valid: true}
			}
		}
		if !tm.Valid && !pk.Valid {
			continue
		}
		end, until := c.EndDateTime, "end_date_time"
		if i+1 < n {
			end, until = c.ChargingPeriods[i+1].StartDateTime, field(index("charging_periods", i+1), "start_date_time")
		}
		clock := k.quo(nanosToSeconds(int64(end.Sub(p.StartDateTime))), secsPerHour)
		var vol decimal.Decimal
		var what string
		written := 1
		switch {
		case tm.Valid && pk.Valid:
			vol, written = k.add(tm.Decimal, pk.Decimal), 2
			what = "TIME " + tm.Decimal.String() + " h + PARKING_TIME " + pk.Decimal.String() + " h = " + vol.String() + " h"
		case tm.Valid:
			vol, what = tm.Decimal, "TIME "+tm.Decimal.String()+" h"
		default:
			vol, what = pk.Decimal, "PARKING_TIME "+pk.Decimal.String()+" h"
		}
		if diff, ok := disagree(&k, vol, clock, written, "h"); ok {
			noun := "the volume is"
			if written == 2 {
				noun = "the volumes are"
			}
			ps.add(index("charging_periods", i), "%s, but its timestamps (start_date_time to %s) make %s h: %s %s; priced by the timestamps",
				what, until, shown(clock), noun, diff)
		}
	}
	if volumes := c.energyVolumes(); volumes > 0 && c.stated("total_energy") {
		if diff, ok := disagree(&k, c.TotalEnergy, u.EnergyKWh, volumes+1, "kWh"); ok {
			ps.add("total_energy", "%s kWh, but the charging periods' ENERGY volumes add up to %s kWh: total_energy is %s; priced by the volumes",
				c.TotalEnergy.String(), shown(u.EnergyKWh), diff)
		}
	}
	if len(c.ChargingPeriods) > 0 && c.stated("total_time") {
		if diff, ok := disagree(&k, c.TotalTime, u.SessionHours, 1, "h"); ok {
			ps.add("total_time", "%s h, but the session's charging periods last %s h by their timestamps (to end_date_time): total_time is %s; priced by the timestamps",
				c.TotalTime.String(), shown(u.SessionHours), diff)
		}
	}
	if c.TotalParkingTime.Valid && c.stated("total_parking_time") {
		if diff, ok := disagree(&k, c.TotalParkingTime.Decimal, u.ParkingHours, 1, "h"); ok {
			ps.add("total_parking_time", "%s h, but the periods' parking lasts %s h by their timestamps: total_parking_time is %s; priced by the timestamps",
				c.TotalParkingTime.Decimal.String(), shown(u.ParkingHours), diff)
		}
	}
}

// disagree compares a stated value, made of written values, with the one
// priced, and describes the difference: "0.25 h more" or "0.25 h less".
func disagree(k *calc, stated, priced decimal.Decimal, written int, unit string) (string, bool) {
	diff := k.sub(stated, priced)
	slack := k.mul(volumeSlack, decInt(int64(written)))
	if k.err != nil || diff.Abs().Cmp(slack) <= 0 {
		return "", false
	}
	if diff.IsNeg() {
		return shown(diff.Abs()) + " " + unit + " less", true
	}
	return shown(diff) + " " + unit + " more", true
}

// shown writes a computed quantity as a CDR does: at most CDRScale places.
func shown(d decimal.Decimal) string {
	return RoundHalfUp(d, CDRScale).Trim(0).String()
}

// energyVolumes counts the charging periods with an ENERGY (or
// ENERGY_IMPORT) volume: the energy that is priced, and that total_energy
// is recomputed from.
func (c *CDR) energyVolumes() int {
	n := 0
	for _, p := range c.ChargingPeriods {
		for _, d := range p.Dimensions {
			if d.Type == DimEnergy || d.Type == DimEnergyImport {
				n++
				break
			}
		}
	}
	return n
}
