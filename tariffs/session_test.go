package tariffs

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// tariffJSON wraps elements into a valid tariff in Amsterdam.
func tariffJSON(elements string, more ...string) string {
	extra := ""
	for _, m := range more {
		extra += m + ","
	}
	return `{"country_code":"NL","party_id":"GMX","id":"s","currency":"EUR",` + extra +
		`"elements":` + elements + `,"gridmetrics":{"timezone":"` + amsterdam + `"}}`
}

// TestComponents prices one session — 1 h charging 10 kWh, then 30 min
// parking — with one component at a time.
func TestComponents(t *testing.T) {
	t.Parallel()
	start := local(t, amsterdam, "2024-03-04 10:00")
	s := Session{ChargingPeriods: []ChargingPeriod{
		cp(start, "ENERGY", "10", "TIME", "1"),
		cp(start.Add(time.Hour), "PARKING_TIME", "0.5"),
	}}
	for _, tc := range []struct {
		name, component string
		total           [2]string
		unit            Unit
		volume          string
	}{
		// ENERGY: 10 kWh × 0.30 = 3.00; 21 % VAT: 3.63.
		{"ENERGY per kWh", `{"type":"ENERGY","price":0.30,"vat":21,"step_size":1}`, [2]string{"3.00", "3.63"}, UnitKWh, "10"},
		// TIME: charging only, 1 h × 2.00.
		{"TIME per hour charging", `{"type":"TIME","price":2.00,"vat":21,"step_size":1}`, [2]string{"2.00", "2.42"}, UnitHour, "1"},
		// PARKING_TIME: not charging only, 0.5 h × 4.00.
		{"PARKING_TIME per hour parked", `{"type":"PARKING_TIME","price":4.00,"vat":21,"step_size":1}`, [2]string{"2.00", "2.42"}, UnitHour, "0.5"},
		// FLAT: once.
		{"FLAT once", `{"type":"FLAT","price":1.50,"vat":21,"step_size":0}`, [2]string{"1.50", "1.815"}, UnitSession, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := price(t, mustTariff(t, tariffJSON(`[{"price_components":[`+tc.component+`]}]`)), s)
			wantAmount(t, "total", r.Totals.Total, tc.total[0], tc.total[1])
			if len(r.Lines) != 1 || r.Lines[0].Unit != tc.unit || r.Lines[0].Volume.Cmp(dec(tc.volume)) != 0 {
				t.Errorf("lines: want one line of %s %s", tc.volume, tc.unit)
				dumpLines(t, r)
			}
		})
	}
	// Usage is reported whatever is priced.
	r := price(t, mustTariff(t, tariffJSON(`[{"price_components":[{"type":"FLAT","price":0,"step_size":0}]}]`)), s)
	wantDec(t, "energy", r.Usage.EnergyKWh, "10")
	wantDec(t, "charging", r.Usage.ChargingHours, "1")
	wantDec(t, "parking", r.Usage.ParkingHours, "0.5")
	wantDec(t, "session", r.Usage.SessionHours, "1.5")
}

func TestStepSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		elements string
		periods  func(t *testing.T) Session
		total    string
	}{
		{
			// CDR module: energy 0.20/kWh before 17:00, 0.27 after, both per
			// 500 Wh; 4.3 kWh before, 1.1 after: 5.4 → 5.5 kWh, the extra
			// 0.1 billed after 17:00: 4.3 × 0.20 + 1.2 × 0.27 = 0.86 + 0.324.
			"energy once per session, last component's step",
			`[{"price_components":[{"type":"ENERGY","price":0.20,"step_size":500}],"restrictions":{"end_time":"17:00"}},
			  {"price_components":[{"type":"ENERGY","price":0.27,"step_size":500}]}]`,
			func(t *testing.T) Session {
				at := local(t, amsterdam, "2024-03-04 16:00")
				return Session{ChargingPeriods: []ChargingPeriod{
					cp(at, "ENERGY", "4.3", "TIME", "1"),
					cp(at.Add(time.Hour), "ENERGY", "1.1", "TIME", "0.5"),
				}}
			},
			"1.184",
		},
		{
			// CDR module: time 5/h before 17:00, 7/h after, both per 10 min;
			// 6 min before, 22 after: 28 → 30 min, 24 min billed after
			// 17:00: 0.10 × 5 + 0.4 × 7 = 0.50 + 2.80.
			"time once per session",
			`[{"price_components":[{"type":"TIME","price":5,"step_size":600}],"restrictions":{"end_time":"17:00"}},
			  {"price_components":[{"type":"TIME","price":7,"step_size":600}]}]`,
			func(t *testing.T) Session {
				at := local(t, amsterdam, "2024-03-04 16:54")
				return Session{ChargingPeriods: []ChargingPeriod{cp(at, "TIME", "0.4666667")}, End: at.Add(28 * time.Minute)}
			},
			"3.30",
		},
		{
			// CDR module: charging 1.00/h, parking 2.00/h, both per 10 min;
			// 21 min charging, 16 parking: charging stays 21 min (0.35),
			// parking 16 → 20 min (0.666…).
			"time and parking: parking is rounded",
			`[{"price_components":[{"type":"TIME","price":1,"step_size":600},{"type":"PARKING_TIME","price":2,"step_size":600}]}]`,
			func(t *testing.T) Session {
				at := local(t, amsterdam, "2024-03-04 10:00")
				return Session{ChargingPeriods: []ChargingPeriod{
					cp(at, "TIME", "0.35", "ENERGY", "5"),
					cp(at.Add(21*time.Minute), "PARKING_TIME", "0.2666667"),
				}, End: at.Add(37 * time.Minute)}
			},
			"1.016666666666666667",
		},
		{
			// Parking free, only TIME priced: TIME is rounded (21 → 30 min).
			"time rounded when parking is free",
			`[{"price_components":[{"type":"TIME","price":1,"step_size":600}]}]`,
			func(t *testing.T) Session {
				at := local(t, amsterdam, "2024-03-04 10:00")
				return Session{ChargingPeriods: []ChargingPeriod{
					cp(at, "TIME", "0.35", "ENERGY", "5"),
					cp(at.Add(21*time.Minute), "PARKING_TIME", "0.2666667"),
				}, End: at.Add(37 * time.Minute)}
			},
			"0.50",
		},
		{
			// step_size 0: no rounding (tariff_5 uses it for FLAT).
			"step 0 is exact",
			`[{"price_components":[{"type":"TIME","price":6,"step_size":0}]}]`,
			func(t *testing.T) Session {
				at := local(t, amsterdam, "2024-03-04 10:00")
				return Session{ChargingPeriods: []ChargingPeriod{cp(at, "TIME", "0.0002777777777777777778")}, End: at.Add(time.Second)}
			},
			"0.001666666666666666667",
		},
		{
			// Exactly on a step: nothing added.
			"already a multiple",
			`[{"price_components":[{"type":"ENERGY","price":1,"step_size":500}]}]`,
			func(t *testing.T) Session {
				at := local(t, amsterdam, "2024-03-04 10:00")
				return Session{ChargingPeriods: []ChargingPeriod{cp(at, "ENERGY", "2.5", "TIME", "1")}}
			},
			"2.5",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := price(t, mustTariff(t, tariffJSON(tc.elements)), tc.periods(t))
			wantAmount(t, "total", r.Totals.Total, tc.total, tc.total)
			if t.Failed() {
				dumpLines(t, r)
			}
		})
	}
}

func TestMinMaxPrice(t *testing.T) {
	t.Parallel()
	energy := `[{"price_components":[{"type":"ENERGY","price":0.25,"vat":10,"step_size":1}]}]`
	flatNoVAT := `[{"price_components":[{"type":"FLAT","price":1.10,"step_size":0}]}]`
	for _, tc := range []struct {
		name, elements, limits, kwh string
		total, adjustment           [2]string
	}{
		// 1 kWh: 0.25 / 0.275, min 0.50 with no incl_vat: the including
		// side moves by the same 0.25 → 0.525.
		{"min without incl_vat", energy, `"min_price":{"excl_vat":0.50}`, "1", [2]string{"0.50", "0.525"}, [2]string{"0.25", "0.25"}},
		// 100 kWh: 25 / 27.5, max 20 / 21: both clamped.
		{"max both sides", energy, `"max_price":{"excl_vat":20,"incl_vat":21}`, "100", [2]string{"20", "21"}, [2]string{"-5", "-6.5"}},
		// 100 kWh, max 20 excl only: incl drops by 5 too.
		{"max without incl_vat", energy, `"max_price":{"excl_vat":20}`, "100", [2]string{"20", "22.5"}, [2]string{"-5", "-5"}},
		// FLAT 1.10 without VAT against min 1.00 / 1.30: the excluding side
		// is above its minimum, the including side below: only it moves.
		{"min binds incl only", flatNoVAT, `"min_price":{"excl_vat":1.00,"incl_vat":1.30}`, "1", [2]string{"1.10", "1.30"}, [2]string{"0", "0.20"}},
		// Within both limits: no adjustment.
		{"between min and max", energy, `"min_price":{"excl_vat":1},"max_price":{"excl_vat":10}`, "10", [2]string{"2.50", "2.75"}, [2]string{"0", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tf := mustTariff(t, tariffJSON(tc.elements, tc.limits))
			at := local(t, amsterdam, "2024-03-04 10:00")
			r := price(t, tf, Session{ChargingPeriods: []ChargingPeriod{cp(at, "ENERGY", tc.kwh, "TIME", "1")}})
			wantAmount(t, "total", r.Totals.Total, tc.total[0], tc.total[1])
			wantAmount(t, "adjustment", r.Totals.Adjustment, tc.adjustment[0], tc.adjustment[1])
		})
	}
}

// TestVATAbsentVersusZero: a component without vat and one with vat 0 both
// add nothing, and are reported apart.
func TestVATAbsentVersusZero(t *testing.T) {
	t.Parallel()
	tf := mustTariff(t, tariffJSON(`[{"price_components":[
		{"type":"ENERGY","price":0.30,"step_size":1},
		{"type":"TIME","price":1.00,"vat":0,"step_size":1},
		{"type":"FLAT","price":1.00,"vat":21,"step_size":0}]}]`))
	at := local(t, amsterdam, "2024-03-04 10:00")
	r := price(t, tf, Session{ChargingPeriods: []ChargingPeriod{cp(at, "ENERGY", "10", "TIME", "2")}})
	// 3.00 (no VAT) + 2.00 (0 %) + 1.00 (21 %) = 6.00 excl, 6.21 incl.
	wantAmount(t, "total", r.Totals.Total, "6.00", "6.21")
	for _, l := range r.Lines {
		switch l.Component {
		case Energy:
			if l.VATRate.Valid {
				t.Errorf("ENERGY VATRate = %v, want null (no VAT applies)", l.VATRate.Decimal)
			}
		case Time:
			if !l.VATRate.Valid || !l.VATRate.Decimal.IsZero() {
				t.Errorf("TIME VATRate = %+v, want 0", l.VATRate)
			}
		}
	}
	if len(r.VAT) != 3 {
		t.Fatalf("VAT groups = %+v, want 3 (none, 0 %%, 21 %%)", r.VAT)
	}
	for _, v := range r.VAT {
		switch {
		case !v.Rate.Valid:
			wantDec(t, "no-VAT base", v.ExclVAT, "3.00")
		case v.Rate.Decimal.IsZero():
			wantDec(t, "0 % base", v.ExclVAT, "2.00")
			wantDec(t, "0 % VAT", v.VAT, "0")
		default:
			wantDec(t, "21 % VAT", v.VAT, "0.21")
		}
	}
}

func TestMultipleFlat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, elements string
		from           string
		length         time.Duration
		flats          string // total FLAT
	}{
		// Evening start fee 1.00 from 18:00, 0.50 otherwise: decided at the
		// session start, charged once.
		{"day start", `[{"price_components":[{"type":"FLAT","price":1.00,"step_size":0}],"restrictions":{"start_time":"18:00"}},
			{"price_components":[{"type":"FLAT","price":0.50,"step_size":0}]}]`, "2024-03-04 17:00", 2 * time.Hour, "0.50"},
		{"evening start", `[{"price_components":[{"type":"FLAT","price":1.00,"step_size":0}],"restrictions":{"start_time":"18:00"}},
			{"price_components":[{"type":"FLAT","price":0.50,"step_size":0}]}]`, "2024-03-04 19:00", 2 * time.Hour, "1.00"},
		// A FLAT that only holds after an hour (an overstay fee) and no other
		// FLAT: charged once when it starts to hold.
		{"overstay fee applies", `[{"price_components":[{"type":"FLAT","price":2.00,"step_size":0}],"restrictions":{"min_duration":3600}},
			{"price_components":[{"type":"ENERGY","price":0,"step_size":0}]}]`, "2024-03-04 10:00", 2 * time.Hour, "2.00"},
		{"overstay fee not reached", `[{"price_components":[{"type":"FLAT","price":2.00,"step_size":0}],"restrictions":{"min_duration":3600}},
			{"price_components":[{"type":"ENERGY","price":0,"step_size":0}]}]`, "2024-03-04 10:00", 30 * time.Minute, "0"},
		// Two unrestricted FLATs: the first wins, once.
		{"first of two", `[{"price_components":[{"type":"FLAT","price":0.30,"step_size":0}]},
			{"price_components":[{"type":"FLAT","price":0.70,"step_size":0}]}]`, "2024-03-04 10:00", time.Hour, "0.30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			at := local(t, amsterdam, tc.from)
			r := price(t, mustTariff(t, tariffJSON(tc.elements)), Session{ChargingPeriods: []ChargingPeriod{cp(at, "ENERGY", "5", "TIME", "1")}, End: at.Add(tc.length)})
			wantAmount(t, "fixed", r.Totals.Fixed, tc.flats, tc.flats)
			n := 0
			for _, l := range r.Lines {
				if l.Component == Flat {
					n++
				}
			}
			if want := map[bool]int{true: 0, false: 1}[tc.flats == "0"]; n != want {
				t.Errorf("%d FLAT lines, want %d", n, want)
			}
		})
	}
}

func TestSessionProblems(t *testing.T) {
	t.Parallel()
	tf := mustTariff(t, tariffJSON(`[{"price_components":[{"type":"ENERGY","price":0.3,"step_size":1}]}]`))
	at := local(t, amsterdam, "2024-03-04 10:00")
	for _, tc := range []struct {
		name string
		s    Session
		path string
	}{
		{"periods out of order", Session{ChargingPeriods: []ChargingPeriod{cp(at, "TIME", "1"), cp(at.Add(-time.Minute), "TIME", "1")}, End: at.Add(time.Hour)}, "charging_periods[1].start_date_time"},
		{"negative energy", Session{ChargingPeriods: []ChargingPeriod{cp(at, "ENERGY", "-1", "TIME", "1")}}, "charging_periods[0].dimensions[0].volume"},
		{"unknown dimension", Session{ChargingPeriods: []ChargingPeriod{cp(at, "KWH", "1", "TIME", "1")}}, "charging_periods[0].dimensions[0].type"},
		{"no end", Session{ChargingPeriods: []ChargingPeriod{cp(at, "ENERGY", "1")}}, "end"},
		{"end before start", Session{ChargingPeriods: []ChargingPeriod{cp(at, "ENERGY", "1")}, End: at.Add(-time.Hour)}, "end"},
		{"longer than MaxSessionSpan", Session{ChargingPeriods: []ChargingPeriod{cp(at, "ENERGY", "1")}, End: at.Add(MaxSessionSpan + time.Hour)}, "end"},
		{"other tariff", Session{ChargingPeriods: []ChargingPeriod{{StartDateTime: at, TariffID: "other", Dimensions: []CdrDimension{{Type: DimTime, Volume: dec("1")}}}}}, "charging_periods[0].tariff_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PriceSession(tf, tc.s)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Problems[0].Path != tc.path {
				t.Errorf("err = %v, want a problem at %s", err, tc.path)
			}
		})
	}
	// A supply tariff does not price sessions.
	supply := mustTariff(t, `{"country_code":"NL","party_id":"GMX","id":"s","currency":"EUR","elements":[{"price_components":[{"type":"ENERGY","price":0.3,"step_size":1}]}],"gridmetrics":{"kind":"supply","timezone":"UTC"}}`)
	if _, err := PriceSession(supply, Session{}); !errors.Is(err, ErrNotApplicable) {
		t.Errorf("supply tariff: err = %v, want ErrNotApplicable", err)
	}
}

// TestTariffIDPerPeriod: when periods name tariffs, periods naming none are
// free ("no Tariff is relevant during this period").
func TestTariffIDPerPeriod(t *testing.T) {
	t.Parallel()
	tf := mustTariff(t, tariffJSON(`[{"price_components":[{"type":"ENERGY","price":1,"step_size":0}]}]`))
	at := local(t, amsterdam, "2024-03-04 10:00")
	p1 := cp(at, "ENERGY", "2", "TIME", "1")
	p1.TariffID = "s"
	p2 := cp(at.Add(time.Hour), "ENERGY", "3", "TIME", "1")
	r := price(t, tf, Session{ChargingPeriods: []ChargingPeriod{p1, p2}})
	wantAmount(t, "total", r.Totals.Total, "2", "2")
	wantDec(t, "energy used", r.Usage.EnergyKWh, "5")
}

// TestMixedPeriod: a period with both TIME and PARKING_TIME is charging
// first, in the ratio of the volumes.
func TestMixedPeriod(t *testing.T) {
	t.Parallel()
	tf := mustTariff(t, tariffJSON(`[{"price_components":[{"type":"TIME","price":2,"step_size":0},{"type":"PARKING_TIME","price":6,"step_size":0}]}]`))
	at := local(t, amsterdam, "2024-03-04 10:00")
	r := price(t, tf, Session{ChargingPeriods: []ChargingPeriod{cp(at, "TIME", "0.75", "PARKING_TIME", "0.25", "ENERGY", "7")}})
	// 45 min × 2 + 15 min × 6 = 1.50 + 1.50.
	wantAmount(t, "total", r.Totals.Total, "3.00", "3.00")
	if len(r.Lines) != 2 || !r.Lines[0].PeriodEnd.Equal(at.Add(45*time.Minute)) {
		dumpLines(t, r)
		t.Error("want the charging line to end at 10:45")
	}
}

// TestResultJSON: results marshal with money as decimal strings and an
// absent VAT rate as null, for the cost endpoint.
func TestResultJSON(t *testing.T) {
	t.Parallel()
	r := price(t, example(t, "tariff_14_step_size.json"), Session{ChargingPeriods: []ChargingPeriod{cp(local(t, berlin, "2024-03-04 10:00"), "TIME", "1")}})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"component":"TIME"`, `"excl_vat":"1.2`, `"vat_rate":null`, `"unit":"h"`, `"invoice_totals":{`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
	if strings.Contains(string(b), "peak_at") {
		t.Errorf("peak_at written for a session: %s", b)
	}
}
