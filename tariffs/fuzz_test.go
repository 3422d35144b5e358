package tariffs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/internal/fuzzbudget"
)

// fuzzSeeds adds the specification's examples and the golden CDRs.
func fuzzSeeds(f *testing.F, cdr bool) {
	paths, _ := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	golden, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.cdr.json"))
	for _, p := range append(paths, golden...) {
		if strings.Contains(p, "cdr") != cdr {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

// FuzzParseTariff: for any input, ParseTariff does not panic, accepts only
// valid JSON, and what it accepts writes back to JSON that reads the same
// (writing is idempotent) and can be priced without panicking; parsing and
// pricing stay within a budget of time and memory per input (fuzzbudget).
func FuzzParseTariff(f *testing.F) {
	fuzzSeeds(f, false)
	f.Add([]byte(base))
	f.Add([]byte(`{"country_code":"NL","party_id":"GMX","id":"s","currency":"EUR","elements":[{"price_components":[{"type":"DEMAND","price":1,"step_size":1000}],"restrictions":{"start_time":"17:00","end_time":"21:00"}},{"price_components":[{"type":"ENERGY","price":0,"step_size":1,"gridmetrics":{"price_feed":"f","multiplier":1.1,"markup":0.02,"floor":0,"cap":0.5}}]}],"gridmetrics":{"kind":"supply","timezone":"Europe/Amsterdam","demand_window":1800}}`))
	f.Add([]byte(`{"elements":[{"price_components":[{"type":"TIME","price":1e2,"step_size":0}],"restrictions":{"min_kwh":0.5,"max_kwh":1E1,"day_of_week":[]}}]}`))
	start := time.Date(2024, 3, 31, 0, 30, 0, 0, time.UTC)
	session := Session{ChargingPeriods: []ChargingPeriod{
		{StartDateTime: start, Dimensions: []CdrDimension{{DimEnergy, dec("12.5")}, {DimTime, dec("1.5")}, {DimMaxCurrent, dec("16")}}},
		{StartDateTime: start.Add(90 * time.Minute), Dimensions: []CdrDimension{{DimParkingTime, dec("0.5")}}},
	}, Reservation: &SessionReservation{Start: start.Add(-10 * time.Minute), End: start}}
	usage := MeterUsage{Interval: 15 * time.Minute}
	for i := 0; i < 8; i++ {
		usage.Intervals = append(usage.Intervals, IntervalEnergy{Start: start.Add(time.Duration(i) * 15 * time.Minute), ImportKWh: dec("1.25"), ExportKWh: dec("0.5")})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var tf *Tariff
		var err error
		fuzzbudget.Check(t, fuzzbudget.Budget{}, len(data), func() { tf, err = ParseTariff(data) })
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		out, err := tf.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseTariff(out)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		if out2, _ := again.MarshalJSON(); !bytes.Equal(out, out2) {
			t.Fatalf("writing is not idempotent:\n%s\n%s", out, out2)
		}
		fuzzbudget.Check(t, fuzzbudget.Budget{}, len(data), func() {
			if tf.kind() == KindCharging {
				_, _ = PriceSession(tf, session)
			} else {
				_, _ = PriceMeter(tf, usage, StaticFeed{})
			}
		})
	})
}

// FuzzParseCDR: for any input, ParseCDR does not panic, and what it accepts
// writes back to JSON that reads the same and reprices without panicking;
// parsing and repricing stay within a budget of time and memory per input.
// ParseCDRLenient accepts all that ParseCDR accepts, without warnings, and
// refuses only what ParseCDR refuses; what it accepts reprices and lists
// its bounded warnings within the same budget.
func FuzzParseCDR(f *testing.F) {
	fuzzSeeds(f, true)
	f.Add([]byte(`{"start_date_time":"2024-03-04T10:00:00Z","end_date_time":"2024-03-04T12:00:00Z","currency":"EUR","x":1,` +
		`"tariffs":[{"id":"t","currency":"EUR","elements":[{"price_components":[{"type":"TIME","price":2,"step_size":60}]}]}],` +
		`"charging_periods":[{"start_date_time":"2024-03-04T10:00:00Z","dimensions":[{"type":"TIME","volume":1.5},{"type":"ENERGY","volume":7}]}],"total_energy":9}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c *CDR
		var err error
		fuzzbudget.Check(t, fuzzbudget.Budget{}, len(data), func() { c, err = ParseCDR(data) })
		fuzzLenientCDR(t, data, err == nil)
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		out, err := c.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseCDR(out)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		if out2, _ := again.MarshalJSON(); !bytes.Equal(out, out2) {
			t.Fatalf("writing is not idempotent:\n%s\n%s", out, out2)
		}
		if len(c.Tariffs) > 0 {
			var rc *CDR
			var err error
			fuzzbudget.Check(t, fuzzbudget.Budget{}, len(data), func() { rc, _, err = c.Reprice(c.Tariffs[0]) })
			if err == nil {
				if _, err := rc.MarshalJSON(); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// fuzzLenientCDR checks ParseCDRLenient on data, which ParseCDR accepted
// or not (strictOK).
func fuzzLenientCDR(t *testing.T, data []byte, strictOK bool) {
	var c *CDR
	var err error
	fuzzbudget.Check(t, fuzzbudget.Budget{}, len(data), func() { c, err = ParseCDRLenient(data) })
	if err != nil {
		if _, ok := err.(*ValidationError); !ok {
			t.Fatalf("lenient: error of type %T: %v", err, err)
		}
		if strictOK {
			t.Fatalf("lenient refuses what ParseCDR accepts: %v", err)
		}
		return
	}
	if w := c.ReadWarnings(); strictOK && len(w) > 0 {
		t.Fatalf("warnings for a CDR ParseCDR accepts: %v", w)
	} else if len(w) > MaxProblems+1 {
		t.Fatalf("%d read warnings", len(w))
	}
	tf, err := c.OwnTariff()
	if err != nil {
		return
	}
	fuzzbudget.Check(t, fuzzbudget.Budget{}, len(data), func() {
		rc, r, err := c.Reprice(tf)
		if err != nil {
			return
		}
		if w := c.Warnings(r); len(w) > MaxProblems+1 {
			t.Fatalf("%d warnings", len(w))
		}
		if _, err := rc.MarshalJSON(); err != nil {
			t.Fatal(err)
		}
	})
}
