package tariffs

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const amsterdam = "Europe/Amsterdam"

// twoElements is a tariff whose element 0 prices ENERGY at 1.00 under the
// restriction given, and element 1 at 0.10 otherwise: which element priced
// a piece shows whether the restriction held.
func twoElements(t testing.TB, restriction string) *Tariff {
	t.Helper()
	return mustTariff(t, `{"country_code":"NL","party_id":"GMX","id":"r","currency":"EUR",
	 "elements":[
	  {"price_components":[{"type":"ENERGY","price":1.00,"step_size":0}],"restrictions":`+restriction+`},
	  {"price_components":[{"type":"ENERGY","price":0.10,"step_size":0}]}],
	 "gridmetrics":{"timezone":"`+amsterdam+`"}}`)
}

// energyLines renders the ENERGY lines as "element:kWh", comma-separated.
func energyLines(r Result) string {
	var parts []string
	for _, l := range r.Lines {
		if l.Component == Energy {
			parts = append(parts, fmt.Sprintf("%d:%s", l.ElementIndex, l.Volume.Trim(0)))
		}
	}
	return strings.Join(parts, ",")
}

// TestRestrictionBounds probes each restriction on both sides of each bound.
// A probe is a one-second charging period with 1 kWh at a local time, or a
// longer session crossing a threshold.
func TestRestrictionBounds(t *testing.T) {
	t.Parallel()
	probe := func(at string, dims ...string) func(t *testing.T) Session {
		return func(t *testing.T) Session {
			start := local(t, amsterdam, at)
			d := append([]string{"ENERGY", "1"}, dims...)
			return Session{ChargingPeriods: []ChargingPeriod{cp(start, d...)}, End: start.Add(time.Second)}
		}
	}
	long := func(at string, length time.Duration, kwh string, dims ...string) func(t *testing.T) Session {
		return func(t *testing.T) Session {
			start := local(t, amsterdam, at)
			d := append([]string{"ENERGY", kwh}, dims...)
			return Session{ChargingPeriods: []ChargingPeriod{cp(start, d...)}, End: start.Add(length)}
		}
	}
	for _, tc := range []struct {
		name, restriction string
		session           func(t *testing.T) Session
		want              string
	}{
		{"start_time inclusive: before", `{"start_time":"10:00"}`, probe("2024-03-04 09:59:59"), "1:1"},
		{"start_time inclusive: at", `{"start_time":"10:00"}`, probe("2024-03-04 10:00:00"), "0:1"},
		{"end_time exclusive: before", `{"end_time":"17:00"}`, probe("2024-03-04 16:59:59"), "0:1"},
		{"end_time exclusive: at", `{"end_time":"17:00"}`, probe("2024-03-04 17:00:00"), "1:1"},
		{"end_time 00:00 is end of day: last second", `{"start_time":"20:00","end_time":"00:00"}`, probe("2024-03-04 23:59:59"), "0:1"},
		{"end_time 00:00 is end of day: midnight", `{"start_time":"20:00","end_time":"00:00"}`, probe("2024-03-05 00:00:00"), "1:1"},
		{"wrap: before start", `{"start_time":"22:00","end_time":"06:00"}`, probe("2024-03-04 21:59:59"), "1:1"},
		{"wrap: at start", `{"start_time":"22:00","end_time":"06:00"}`, probe("2024-03-04 22:00:00"), "0:1"},
		{"wrap: midnight", `{"start_time":"22:00","end_time":"06:00"}`, probe("2024-03-05 00:00:00"), "0:1"},
		{"wrap: before end", `{"start_time":"22:00","end_time":"06:00"}`, probe("2024-03-05 05:59:59"), "0:1"},
		{"wrap: at end", `{"start_time":"22:00","end_time":"06:00"}`, probe("2024-03-05 06:00:00"), "1:1"},
		{"wrap: one session across both edges", `{"start_time":"22:00","end_time":"06:00"}`, long("2024-03-04 21:00", 10*time.Hour, "10"), "1:1,0:8,1:1"},
		{"start_date inclusive: day before", `{"start_date":"2024-03-05"}`, probe("2024-03-04 23:59:59"), "1:1"},
		{"start_date inclusive: the day", `{"start_date":"2024-03-05"}`, probe("2024-03-05 00:00:00"), "0:1"},
		{"end_date exclusive: day before", `{"end_date":"2024-03-05"}`, probe("2024-03-04 23:59:59"), "0:1"},
		{"end_date exclusive: the day", `{"end_date":"2024-03-05"}`, probe("2024-03-05 00:00:00"), "1:1"},
		{"day_of_week: Monday night", `{"day_of_week":["TUESDAY"]}`, probe("2024-03-04 23:59:59"), "1:1"},
		{"day_of_week: Tuesday starts", `{"day_of_week":["TUESDAY"]}`, probe("2024-03-05 00:00:00"), "0:1"},
		{"day_of_week: Tuesday ends", `{"day_of_week":["TUESDAY"]}`, probe("2024-03-05 23:59:59"), "0:1"},
		{"day_of_week: Wednesday", `{"day_of_week":["TUESDAY"]}`, probe("2024-03-06 00:00:00"), "1:1"},
		// Energy thresholds inside one period: the period is cut where the
		// running energy reaches the threshold; the kWh at the threshold
		// belong to the side that includes it.
		{"min_kwh inclusive", `{"min_kwh":10}`, long("2024-03-04 10:00", time.Hour, "20"), "1:10,0:10"},
		{"max_kwh exclusive", `{"max_kwh":10}`, long("2024-03-04 10:00", time.Hour, "20"), "0:10,1:10"},
		{"kwh window", `{"min_kwh":5,"max_kwh":15}`, long("2024-03-04 10:00", time.Hour, "20"), "1:5,0:10,1:5"},
		{"min_kwh above the session", `{"min_kwh":25}`, long("2024-03-04 10:00", time.Hour, "20"), "1:20"},
		{"min_current inclusive: at", `{"min_current":16}`, probe("2024-03-04 10:00", "MIN_CURRENT", "16"), "0:1"},
		{"min_current inclusive: below", `{"min_current":16}`, probe("2024-03-04 10:00", "MIN_CURRENT", "15.99"), "1:1"},
		{"min_current from the average", `{"min_current":16}`, probe("2024-03-04 10:00", "CURRENT", "20"), "0:1"},
		{"min_current unknown", `{"min_current":16}`, probe("2024-03-04 10:00"), "1:1"},
		{"max_current exclusive: below", `{"max_current":16}`, probe("2024-03-04 10:00", "MAX_CURRENT", "15.99"), "0:1"},
		{"max_current exclusive: at", `{"max_current":16}`, probe("2024-03-04 10:00", "MAX_CURRENT", "16"), "1:1"},
		{"max_current reads the maximum", `{"max_current":16}`, probe("2024-03-04 10:00", "MIN_CURRENT", "6", "MAX_CURRENT", "32"), "1:1"},
		{"min_power inclusive: at", `{"min_power":11}`, probe("2024-03-04 10:00", "MIN_POWER", "11"), "0:1"},
		{"min_power inclusive: below", `{"min_power":11}`, probe("2024-03-04 10:00", "MIN_POWER", "10.999"), "1:1"},
		{"max_power exclusive: below", `{"max_power":11}`, probe("2024-03-04 10:00", "MAX_POWER", "10.999"), "0:1"},
		{"max_power exclusive: at", `{"max_power":11}`, probe("2024-03-04 10:00", "MAX_POWER", "11"), "1:1"},
		{"max_power from average power: at", `{"max_power":11}`, long("2024-03-04 10:00", time.Hour, "11"), "1:11"},
		{"max_power from average power: below", `{"max_power":11}`, long("2024-03-04 10:00", time.Hour, "10.9"), "0:10.9"},
		{"min_duration inclusive", `{"min_duration":1800}`, long("2024-03-04 10:00", time.Hour, "2"), "1:1,0:1"},
		{"max_duration exclusive", `{"max_duration":1800}`, long("2024-03-04 10:00", time.Hour, "2"), "0:1,1:1"},
		{"duration window", `{"min_duration":900,"max_duration":2700}`, long("2024-03-04 10:00", time.Hour, "4"), "1:1,0:2,1:1"},
		{"all must hold", `{"start_time":"10:30","max_kwh":3}`, long("2024-03-04 10:00", time.Hour, "4"), "1:2,0:1,1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := price(t, twoElements(t, tc.restriction), tc.session(t))
			if got := energyLines(r); got != tc.want {
				t.Errorf("ENERGY lines = %s, want %s", got, tc.want)
				dumpLines(t, r)
			}
		})
	}
}

// TestWrappingWindowWithDayOfWeek: each restriction is read at the moment,
// so a Friday night window 22:00–06:00 holds on Friday 00:00–06:00 and
// 22:00–24:00, and not on Saturday morning.
func TestWrappingWindowWithDayOfWeek(t *testing.T) {
	t.Parallel()
	tf := mustTariff(t, `{"country_code":"NL","party_id":"GMX","id":"w","currency":"EUR",
	 "elements":[
	  {"price_components":[{"type":"TIME","price":1.00,"step_size":0}],"restrictions":{"start_time":"22:00","end_time":"06:00","day_of_week":["FRIDAY"]}},
	  {"price_components":[{"type":"TIME","price":2.00,"step_size":0}]}],
	 "gridmetrics":{"timezone":"`+amsterdam+`"}}`)
	for _, tc := range []struct {
		name, from, to string
		total          string
	}{
		// Friday 20:00 → Saturday 08:00: element 0 only Friday 22–24 (2 h
		// × 1.00), the other 10 h × 2.00: 22.00.
		{"Friday night into Saturday", "2024-03-08 20:00", "2024-03-09 08:00", "22.00"},
		// Thursday 20:00 → Friday 08:00: element 0 on Friday 00–06 (6 h),
		// Thursday 22–24 is not Friday: 6 × 1 + 6 × 2 = 18.00.
		{"Thursday night into Friday", "2024-03-07 20:00", "2024-03-08 08:00", "18.00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, end := local(t, amsterdam, tc.from), local(t, amsterdam, tc.to)
			r := price(t, tf, Session{ChargingPeriods: []ChargingPeriod{cp(start, "TIME", "12")}, End: end})
			wantAmount(t, "total", r.Totals.Total, tc.total, tc.total)
			if t.Failed() {
				dumpLines(t, r)
			}
		})
	}
}

// TestDSTDays prices time-of-use TIME on the days the clocks change, in
// Europe/Amsterdam and America/New_York. Windows are wall-clock: the night
// window 00:00–07:00 is 6 hours long on a spring-forward day and 8 on a
// fall-back day.
func TestDSTDays(t *testing.T) {
	t.Parallel()
	tariff := func(zone, from, to string) *Tariff {
		return mustTariff(t, `{"country_code":"NL","party_id":"GMX","id":"d","currency":"EUR",
		 "elements":[
		  {"price_components":[{"type":"TIME","price":1.00,"step_size":0}],"restrictions":{"start_time":"`+from+`","end_time":"`+to+`"}},
		  {"price_components":[{"type":"TIME","price":2.00,"step_size":0}]}],
		 "gridmetrics":{"timezone":"`+zone+`"}}`)
	}
	for _, tc := range []struct {
		name, zone, winFrom, winTo string
		from, to                   string // local wall clock
		hours, total               string
	}{
		// 2024-03-31 02:00 CET → 03:00 CEST. 00:00–08:00 is 7 h; night
		// 00:00–07:00 is 6 h: 6 × 1 + 1 × 2 = 8.
		{"Amsterdam spring forward", amsterdam, "00:00", "07:00", "2024-03-31 00:00", "2024-03-31 08:00", "7", "8.00"},
		// 2024-10-27 03:00 CEST → 02:00 CET. 00:00–08:00 is 9 h; night 8 h:
		// 8 + 2 = 10.
		{"Amsterdam fall back", amsterdam, "00:00", "07:00", "2024-10-27 00:00", "2024-10-27 08:00", "9", "10.00"},
		// A window starting in the skipped hour starts when the clock jumps
		// to 03:00: 02:30–05:00 is 2 h (01:00Z–03:00Z); 00:00–06:00 is 5 h:
		// 2 × 1 + 3 × 2 = 8.
		{"Amsterdam edge in the skipped hour", amsterdam, "02:30", "05:00", "2024-03-31 00:00", "2024-03-31 06:00", "5", "8.00"},
		// 2024-03-10 02:00 EST → 03:00 EDT: 00:00–08:00 is 7 h, night 6 h.
		{"New York spring forward", "America/New_York", "00:00", "07:00", "2024-03-10 00:00", "2024-03-10 08:00", "7", "8.00"},
		// 2024-11-03 02:00 EDT → 01:00 EST: the window 01:30–02:30 occurs
		// for 01:30–02:00 EDT and again 01:30–02:30 EST: 1.5 h. 00:00 EDT to
		// 04:00 EST is 5 h: 1.5 × 1 + 3.5 × 2 = 8.5.
		{"New York fall back, repeated hour", "America/New_York", "01:30", "02:30", "2024-11-03 00:00", "2024-11-03 04:00", "5", "8.50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start, end := local(t, tc.zone, tc.from), local(t, tc.zone, tc.to)
			if tc.name == "New York fall back, repeated hour" {
				end = ts(t, "2024-11-03T09:00:00Z") // 04:00 EST
			}
			r := price(t, tariff(tc.zone, tc.winFrom, tc.winTo), Session{ChargingPeriods: []ChargingPeriod{cp(start, "TIME", tc.hours)}, End: end})
			wantDec(t, "hours", r.Usage.ChargingHours, tc.hours)
			wantAmount(t, "total", r.Totals.Total, tc.total, tc.total)
			if t.Failed() {
				dumpLines(t, r)
			}
		})
	}
}

// TestLocalTimeNeedsTimeZone: an OCPI tariff with local-time restrictions
// and no time zone cannot price; without such restrictions it can.
func TestLocalTimeNeedsTimeZone(t *testing.T) {
	t.Parallel()
	tf, err := ParseTariff(readExample(t, "tariff_14_step_size.json"))
	if err != nil {
		t.Fatal(err)
	}
	start := ts(t, "2024-03-04T10:00:00Z")
	s := Session{ChargingPeriods: []ChargingPeriod{cp(start, "TIME", "1")}}
	if _, err := PriceSession(tf, s); err == nil || !strings.Contains(err.Error(), "no time zone") {
		t.Errorf("err = %v, want a missing time zone", err)
	}
	plain, err := ParseTariff(readExample(t, "tariff_1_simple_2hour.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PriceSession(plain, s); err != nil {
		t.Errorf("tariff without local restrictions: %v", err)
	}
}
