package tariffs

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/govalues/decimal"
)

// The property: cutting a session's charging periods at extra instants —
// with the energy of each period shared in proportion to time, as the
// engine assumes — never changes its price. step_size is applied once per
// session to the total of a dimension, so it does not break this either;
// the tariffs below use it.
//
// The equality is exact (every total and every line, digit for digit) when
// the tariff has no min/max_kwh threshold; with one, the instant a
// threshold is crossed is computed to the nanosecond from the period it
// falls in, so time-priced lines may move by a nanosecond's worth: the
// totals must then agree within 1e-9.

var propertyTariffs = []struct {
	name, json string
	kwh        bool // has min/max_kwh thresholds
}{
	{"time of use", `{"country_code":"NL","party_id":"GMX","id":"p1","currency":"EUR",
	  "elements":[
	   {"price_components":[{"type":"ENERGY","price":0.35,"vat":21,"step_size":1},{"type":"TIME","price":1.00,"vat":21,"step_size":60}],
	    "restrictions":{"start_time":"17:00","end_time":"21:00","day_of_week":["MONDAY","TUESDAY","WEDNESDAY","THURSDAY","FRIDAY"]}},
	   {"price_components":[{"type":"ENERGY","price":0.22,"vat":21,"step_size":1}],"restrictions":{"start_time":"23:00","end_time":"07:00"}},
	   {"price_components":[{"type":"FLAT","price":0.35,"vat":21,"step_size":0},{"type":"ENERGY","price":0.28,"vat":21,"step_size":1},
	                        {"type":"PARKING_TIME","price":2.00,"vat":21,"step_size":300}]}],
	  "gridmetrics":{"timezone":"Europe/Amsterdam"}}`, false},
	{"durations and steps", `{"country_code":"NL","party_id":"GMX","id":"p2","currency":"EUR",
	  "elements":[
	   {"price_components":[{"type":"TIME","price":0,"step_size":300},{"type":"ENERGY","price":0.10,"step_size":100}],"restrictions":{"max_duration":1800}},
	   {"price_components":[{"type":"TIME","price":3,"vat":9,"step_size":600},{"type":"PARKING_TIME","price":6,"vat":9,"step_size":900}],"restrictions":{"max_duration":7200}},
	   {"price_components":[{"type":"FLAT","price":5,"step_size":0}],"restrictions":{"min_duration":10800}},
	   {"price_components":[{"type":"TIME","price":4.5,"vat":9,"step_size":600},{"type":"PARKING_TIME","price":9,"vat":9,"step_size":900},
	                        {"type":"ENERGY","price":0.31,"vat":9,"step_size":500}]}],
	  "max_price":{"excl_vat":60,"incl_vat":65.4},
	  "gridmetrics":{"timezone":"Europe/Amsterdam"}}`, false},
	{"current, power and days", `{"country_code":"NL","party_id":"GMX","id":"p3","currency":"EUR",
	  "elements":[
	   {"price_components":[{"type":"ENERGY","price":0.20,"vat":21,"step_size":1}],"restrictions":{"max_power":11}},
	   {"price_components":[{"type":"TIME","price":1.00,"vat":21,"step_size":900}],"restrictions":{"max_current":32}},
	   {"price_components":[{"type":"TIME","price":2.00,"vat":21,"step_size":600}],"restrictions":{"min_current":32,"day_of_week":["SATURDAY","SUNDAY"]}},
	   {"price_components":[{"type":"PARKING_TIME","price":5,"vat":10,"step_size":300}],"restrictions":{"start_time":"09:00","end_time":"18:00","start_date":"2024-03-01","end_date":"2024-11-01"}},
	   {"price_components":[{"type":"ENERGY","price":0.45,"vat":21,"step_size":1},{"type":"FLAT","price":1,"vat":21,"step_size":0}]}],
	  "min_price":{"excl_vat":2},
	  "gridmetrics":{"timezone":"Europe/Amsterdam"}}`, false},
	{"energy blocks", `{"country_code":"NL","party_id":"GMX","id":"p4","currency":"EUR",
	  "elements":[
	   {"price_components":[{"type":"ENERGY","price":0.30,"vat":21,"step_size":1},{"type":"TIME","price":0.5,"step_size":60}],"restrictions":{"max_kwh":5}},
	   {"price_components":[{"type":"ENERGY","price":0.25,"vat":21,"step_size":1}],"restrictions":{"min_kwh":5,"max_kwh":20,"start_time":"08:00","end_time":"20:00"}},
	   {"price_components":[{"type":"ENERGY","price":0.20,"vat":21,"step_size":250},{"type":"TIME","price":1.5,"step_size":60}]}],
	  "gridmetrics":{"timezone":"Europe/Amsterdam"}}`, true},
}

// DST days and ordinary days to start sessions on.
var propertyDays = []string{"2024-03-30", "2024-03-31", "2024-10-26", "2024-10-27", "2024-03-04", "2024-03-09", "2024-06-14", "2024-12-31"}

func TestPropertySplittingPeriods(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(2024, 3))
	iterations := 400
	if testing.Short() {
		iterations = 100
	}
	exact := 0
	for _, tt := range propertyTariffs {
		tf := mustTariff(t, tt.json)
		for i := 0; i < iterations; i++ {
			s := randomSession(t, rng)
			split := splitSession(rng, s)
			a, errA := PriceSession(tf, s)
			b, errB := PriceSession(tf, split)
			if errA != nil || errB != nil {
				t.Fatalf("%s #%d: %v / %v", tt.name, i, errA, errB)
			}
			same, diff := compareResults(a, b)
			if same {
				exact++
				continue
			}
			if tt.kwh && diff.Cmp(dec("0.000000001")) <= 0 {
				continue
			}
			t.Errorf("%s #%d: splitting changed the price (%s):\n%s\nsplit into\n%s", tt.name, i, describeDiff(a, b), sessionString(s), sessionString(split))
			dumpLines(t, a)
			dumpLines(t, b)
			return
		}
	}
	t.Logf("%d of %d cases exactly equal", exact, iterations*len(propertyTariffs))
}

// randomSession builds a session of whole charging or parking periods, each
// charging period at a constant whole number of Wh per second, so every
// share of its energy is an exact decimal.
func randomSession(t *testing.T, rng *rand.Rand) Session {
	day := propertyDays[rng.IntN(len(propertyDays))]
	at := local(t, amsterdam, day+" 00:00").Add(time.Duration(rng.IntN(24*60)) * time.Minute)
	s := Session{Start: at}
	n := 1 + rng.IntN(5)
	for i := 0; i < n; i++ {
		secs := 60 + rng.IntN(3*3600)
		parking := i > 0 && rng.IntN(3) == 0
		s.ChargingPeriods = append(s.ChargingPeriods, makePeriod(at, secs, parking, 1+rng.IntN(20), 6+rng.IntN(58)))
		at = at.Add(time.Duration(secs) * time.Second)
	}
	s.End = at
	return s
}

// makePeriod returns a period of secs seconds: parking, or charging at whPerSec
// Wh per second (3.6 × whPerSec kW) with amps of current.
func makePeriod(at time.Time, secs int, parking bool, whPerSec, amps int) ChargingPeriod {
	var c calc
	h := c.quo(decInt(int64(secs)), secsPerHour).String()
	if parking {
		return cp(at, "PARKING_TIME", h)
	}
	kwh := c.quo(decInt(int64(secs*whPerSec)), thousand).String()
	kw := c.mul(decInt(int64(whPerSec)), dec("3.6")).String()
	return cp(at, "ENERGY", kwh, "TIME", h, "MAX_POWER", kw, "MIN_POWER", kw, "MAX_CURRENT", fmt.Sprint(amps), "MIN_CURRENT", fmt.Sprint(amps))
}

// splitSession cuts some periods at random whole seconds, sharing energy
// and time in proportion.
func splitSession(rng *rand.Rand, s Session) Session {
	out := Session{Start: s.Start, End: s.End}
	for i, p := range s.ChargingPeriods {
		end := s.End
		if i+1 < len(s.ChargingPeriods) {
			end = s.ChargingPeriods[i+1].StartDateTime
		}
		secs := int(end.Sub(p.StartDateTime) / time.Second)
		if secs < 2 || rng.IntN(2) == 0 {
			out.ChargingPeriods = append(out.ChargingPeriods, p)
			continue
		}
		cuts := map[int]bool{}
		for k := 1 + rng.IntN(3); k > 0; k-- {
			cuts[1+rng.IntN(secs-1)] = true
		}
		parking, whPerSec, amps := periodShape(p, secs)
		prev := 0
		for x := 1; x <= secs; x++ {
			if cuts[x] || x == secs {
				out.ChargingPeriods = append(out.ChargingPeriods,
					makePeriod(p.StartDateTime.Add(time.Duration(prev)*time.Second), x-prev, parking, whPerSec, amps))
				prev = x
			}
		}
	}
	return out
}

// periodShape recovers how makePeriod built a period.
func periodShape(p ChargingPeriod, secs int) (parking bool, whPerSec, amps int) {
	for _, d := range p.Dimensions {
		switch d.Type {
		case DimParkingTime:
			parking = true
		case DimEnergy:
			var c calc
			v, _, _ := c.quo(c.mul(d.Volume, thousand), decInt(int64(secs))).Int64(0)
			whPerSec = int(v)
		case DimMaxCurrent:
			v, _, _ := d.Volume.Int64(0)
			amps = int(v)
		}
	}
	return parking, whPerSec, amps
}

// compareResults reports whether two results are identical line by line and
// total by total, and the largest difference between totals.
func compareResults(a, b Result) (bool, decimal.Decimal) {
	same := len(a.Lines) == len(b.Lines)
	for i := 0; same && i < len(a.Lines); i++ {
		x, y := a.Lines[i], b.Lines[i]
		same = x.Component == y.Component && x.ElementIndex == y.ElementIndex &&
			x.PeriodStart.Equal(y.PeriodStart) && x.PeriodEnd.Equal(y.PeriodEnd) &&
			x.Volume.Cmp(y.Volume) == 0 && x.ExclVAT.Cmp(y.ExclVAT) == 0 && x.InclVAT.Cmp(y.InclVAT) == 0
	}
	worst := zero
	var c calc
	for _, d := range [][2]Amount{
		{a.Totals.Fixed, b.Totals.Fixed}, {a.Totals.Energy, b.Totals.Energy}, {a.Totals.Time, b.Totals.Time},
		{a.Totals.Parking, b.Totals.Parking}, {a.Totals.Adjustment, b.Totals.Adjustment}, {a.Totals.Total, b.Totals.Total},
	} {
		worst = worst.Max(c.sub(d[0].ExclVAT, d[1].ExclVAT).Abs()).Max(c.sub(d[0].InclVAT, d[1].InclVAT).Abs())
	}
	return same && worst.IsZero(), worst
}

func describeDiff(a, b Result) string {
	return fmt.Sprintf("total %s / %s vs %s / %s", a.Totals.Total.ExclVAT, a.Totals.Total.InclVAT, b.Totals.Total.ExclVAT, b.Totals.Total.InclVAT)
}

func sessionString(s Session) string {
	out := ""
	for _, p := range s.ChargingPeriods {
		out += "  " + p.StartDateTime.Format(time.RFC3339)
		for _, d := range p.Dimensions {
			out += fmt.Sprintf(" %s=%s", d.Type, d.Volume)
		}
		out += "\n"
	}
	return out + "  end " + s.End.Format(time.RFC3339)
}
