package tariffs

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseExamples reads every example of the specification, validates it,
// and writes it back: the output must mean the same as the input (same
// members, numbers equal by value), and reading the output again must give
// the same bytes.
func TestParseExamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var out []byte
			if strings.HasPrefix(name, "cdr") {
				c, err := ParseCDR(in)
				if err != nil {
					t.Fatalf("ParseCDR: %v", err)
				}
				out, _ = c.MarshalJSON()
				again, err := ParseCDR(out)
				if err != nil {
					t.Fatalf("ParseCDR(output): %v\n%s", err, out)
				}
				if b, _ := again.MarshalJSON(); !bytes.Equal(b, out) {
					t.Errorf("second round trip differs:\n%s\n%s", out, b)
				}
			} else {
				tf, err := ParseTariff(in)
				if err != nil {
					t.Fatalf("ParseTariff: %v", err)
				}
				out, _ = tf.MarshalJSON()
				again, err := ParseTariff(out)
				if err != nil {
					t.Fatalf("ParseTariff(output): %v\n%s", err, out)
				}
				if b, _ := again.MarshalJSON(); !bytes.Equal(b, out) {
					t.Errorf("second round trip differs:\n%s\n%s", out, b)
				}
				if b, err := tf.MarshalOCPI(); err != nil || !bytes.Equal(b, out) {
					t.Errorf("MarshalOCPI of a plain OCPI tariff differs from MarshalJSON: %v", err)
				}
			}
			if !sameJSON(t, in, out) {
				t.Errorf("round trip changed the meaning:\nin:  %s\nout: %s", in, out)
			}
		})
	}
}

// sameJSON compares two JSON texts by meaning: same members and array
// elements, numbers equal as decimals (so 2.0 and 2.00 are the same).
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	decode := func(data []byte) any {
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("decode: %v", err)
		}
		return v
	}
	return equalJSON(decode(a), decode(b))
}

func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !equalJSON(v, y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		return ok && dec(string(x)).Cmp(dec(string(y))) == 0
	default:
		return a == b
	}
}

// base is a valid tariff the problem cases below break one way or another.
const base = `{"country_code":"NL","party_id":"GMX","id":"t1","currency":"EUR",
 "elements":[{"price_components":[{"type":"ENERGY","price":0.25,"vat":21,"step_size":1}]}],
 "last_updated":"2024-01-01T00:00:00Z"}`

// with returns base with the elements (and optionally more top-level
// members) replaced.
func with(elements string, more ...string) string {
	s := strings.Replace(base, `[{"price_components":[{"type":"ENERGY","price":0.25,"vat":21,"step_size":1}]}]`, elements, 1)
	for _, m := range more {
		s = strings.Replace(s, `"currency":"EUR",`, `"currency":"EUR",`+m+`,`, 1)
	}
	return s
}

func restricted(r string) string {
	return `[{"price_components":[{"type":"ENERGY","price":0.25,"step_size":1}],"restrictions":` + r + `}]`
}

func TestParseTariffProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		// want lists every problem as "path: message" prefixes, in the
		// order reported: shape problems found while reading, then the rest.
		want []string
	}{
		{"valid", base, nil},
		{"invalid JSON", `{"id":`, []string{"invalid JSON: unexpected end of JSON input (at byte 6)"}},
		{"not an object", `[1]`, []string{"must be an object, not an array"}},
		{"misspelled field", with(`[{"price_components":[{"type":"ENERGY","price":0.25,"step_sise":1}]}]`),
			[]string{`elements[0].price_components[0].step_size: is required`, `elements[0].price_components[0].step_sise: unknown field (did you mean "step_size"?)`}},
		{"unknown top-level field", strings.Replace(base, `"id":"t1"`, `"id":"t1","colour":"red"`, 1), []string{"colour: unknown field"}},
		{"duplicate field", strings.Replace(base, `"id":"t1"`, `"id":"t1","id":"t2"`, 1), []string{"id: duplicate field"}},
		{"bad currency", strings.Replace(base, `"EUR"`, `"EURO"`, 1), []string{`currency: "EURO" is not an ISO 4217 currency code`}},
		{"lower-case currency", strings.Replace(base, `"EUR"`, `"eur"`, 1), []string{`currency: "eur" must be written in upper case`}},
		{"missing currency", strings.Replace(base, `"currency":"EUR",`, ``, 1), []string{"currency: is required"}},
		{"bad type", with(`[{"price_components":[{"type":"ENERGY","price":0.25,"step_size":1}]}]`, `"type":"CHEAP"`), []string{`type: "CHEAP" is not a tariff type`}},
		{"bad time", with(restricted(`{"start_time":"25:00"}`)), []string{`elements[0].restrictions.start_time: "25:00" is not a time`}},
		{"time without leading zero", with(restricted(`{"end_time":"7:00"}`)), []string{`elements[0].restrictions.end_time: "7:00" is not a time`}},
		{"empty window", with(restricted(`{"start_time":"10:00","end_time":"10:00"}`)), []string{`elements[0].restrictions.end_time: "10:00" equals start_time`}},
		{"whole day window is fine", with(restricted(`{"start_time":"00:00","end_time":"00:00"}`)), nil},
		{"bad date", with(restricted(`{"start_date":"2019-02-30"}`)), []string{`elements[0].restrictions.start_date: "2019-02-30" is not a date`}},
		{"end date not after start", with(restricted(`{"start_date":"2024-05-01","end_date":"2024-05-01"}`)), []string{"elements[0].restrictions.end_date: 2024-05-01 is not after start_date"}},
		{"kwh range impossible", with(restricted(`{"min_kwh":50,"max_kwh":20}`)), []string{"elements[0].restrictions.max_kwh: 20 is not above min_kwh 50"}},
		{"max power zero", with(restricted(`{"max_power":0}`)), []string{"elements[0].restrictions.max_power: 0 never holds"}},
		{"negative current", with(restricted(`{"min_current":-1}`)), []string{"elements[0].restrictions.min_current: -1 is negative"}},
		{"duration range impossible", with(restricted(`{"min_duration":3600,"max_duration":1800}`)), []string{"elements[0].restrictions.max_duration: 1800 is not above min_duration 3600"}},
		{"fractional duration", with(restricted(`{"min_duration":1.5}`)), []string{"elements[0].restrictions.min_duration: 1.5 is not an integer"}},
		{"bad day", with(restricted(`{"day_of_week":["MONDAY","FUNDAY","MONDAY"]}`)), []string{`elements[0].restrictions.day_of_week[1]: "FUNDAY" is not a day`, "elements[0].restrictions.day_of_week[2]: MONDAY is listed twice"}},
		{"bad reservation", with(restricted(`{"reservation":"YES"}`)), []string{`elements[0].restrictions.reservation: "YES" is not RESERVATION`}},
		{"reservation with energy", with(restricted(`{"reservation":"RESERVATION"}`)), []string{"elements[0].price_components[0].type: a reservation element can only have FLAT and TIME components, not ENERGY"}},
		{"price as string", with(`[{"price_components":[{"type":"ENERGY","price":"0.25","step_size":1}]}]`), []string{`elements[0].price_components[0].price: must be a number, not a string ("0.25")`}},
		{"too precise", with(`[{"price_components":[{"type":"ENERGY","price":0.12345678901234567890123,"step_size":1}]}]`), []string{"elements[0].price_components[0].price: 0.12345678901234567890123 has more than 19 significant digits"}},
		{"negative price", with(`[{"price_components":[{"type":"ENERGY","price":-1,"step_size":1}]}]`), []string{"elements[0].price_components[0].price: -1 is negative"}},
		{"vat out of range", with(`[{"price_components":[{"type":"ENERGY","price":1,"vat":121,"step_size":1}]}]`), []string{"elements[0].price_components[0].vat: 121 is not a percentage"}},
		{"negative step", with(`[{"price_components":[{"type":"TIME","price":1,"step_size":-60}]}]`), []string{"elements[0].price_components[0].step_size: -60 is negative"}},
		{"unknown dimension", with(`[{"price_components":[{"type":"KWH","price":1,"step_size":1}]}]`), []string{`elements[0].price_components[0].type: "KWH" is not a dimension`}},
		{"second component of a dimension", with(`[{"price_components":[{"type":"TIME","price":1,"step_size":1},{"type":"TIME","price":2,"step_size":1}]}]`),
			[]string{"elements[0].price_components[1].type: a second TIME component in this element can never apply"}},
		{"no elements", with(`[]`), []string{"elements: is required"}},
		{"no components", with(`[{"price_components":[]}]`), []string{"elements[0].price_components: is required"}},
		{"min above max price", with(`[{"price_components":[{"type":"FLAT","price":1,"step_size":0}]}]`, `"min_price":{"excl_vat":5},"max_price":{"excl_vat":4}`), []string{"min_price.excl_vat: 5 is above max_price.excl_vat 4"}},
		{"incl below excl", with(`[{"price_components":[{"type":"FLAT","price":1,"step_size":0}]}]`, `"max_price":{"excl_vat":5,"incl_vat":4}`), []string{"max_price.incl_vat: 4 is below excl_vat 5"}},
		{"non-UTC time", strings.Replace(base, `"2024-01-01T00:00:00Z"`, `"2024-01-01T00:00:00+01:00"`, 1), []string{`last_updated: "2024-01-01T00:00:00+01:00" is not in UTC`}},
		{"validity reversed", with(`[{"price_components":[{"type":"FLAT","price":1,"step_size":0}]}]`, `"start_date_time":"2024-02-01T00:00:00Z","end_date_time":"2024-01-01T00:00:00Z"`), []string{"end_date_time: 2024-01-01T00:00:00Z is not after start_date_time"}},
		{"STANDING in a charging tariff", with(`[{"price_components":[{"type":"STANDING","price":1,"step_size":0}]}]`), []string{"elements[0].price_components[0].type: STANDING needs a supply tariff"}},
		{"dynamic in a charging tariff", with(`[{"price_components":[{"type":"ENERGY","price":0,"step_size":1,"gridmetrics":{"price_feed":"epex"}}]}]`), []string{"elements[0].price_components[0].gridmetrics: dynamic prices need a supply or export tariff"}},
		{"supply without time zone", with(`[{"price_components":[{"type":"ENERGY","price":0.2,"step_size":1}]}]`, `"gridmetrics":{"kind":"supply"}`), []string{"gridmetrics.timezone: is required for a supply tariff"}},
		{"bad time zone", with(`[{"price_components":[{"type":"ENERGY","price":0.2,"step_size":1}]}]`, `"gridmetrics":{"timezone":"Mars/Olympus"}`), []string{`gridmetrics.timezone: "Mars/Olympus" is not an IANA time zone`}},
		{"bad kind", with(`[{"price_components":[{"type":"ENERGY","price":0.2,"step_size":1}]}]`, `"gridmetrics":{"kind":"solar","timezone":"UTC"}`), []string{`gridmetrics.kind: "solar" is not a tariff kind`}},
		{"supply with TIME and min_price", with(`[{"price_components":[{"type":"TIME","price":1,"step_size":1}],"restrictions":{"min_duration":60}}]`, `"gridmetrics":{"kind":"supply","timezone":"UTC"},"min_price":{"excl_vat":1}`),
			[]string{"min_price: applies to charging sessions", "elements[0].price_components[0].type: TIME prices charging sessions", "elements[0].restrictions.min_duration: applies to charging sessions"}},
		{"dynamic with a price", with(`[{"price_components":[{"type":"ENERGY","price":0.1,"step_size":1,"gridmetrics":{"price_feed":"epex","floor":1,"cap":0}}]}]`, `"gridmetrics":{"kind":"supply","timezone":"UTC"}`),
			[]string{"elements[0].price_components[0].price: must be 0 for a dynamic price", "elements[0].price_components[0].gridmetrics.floor: 1 is above cap 0"}},
		{"demand in export", with(`[{"price_components":[{"type":"DEMAND","price":1,"step_size":1}]}]`, `"gridmetrics":{"kind":"export","timezone":"UTC"}`), []string{"elements[0].price_components[0].type: DEMAND prices imported power"}},
		{"demand with kwh restriction", with(`[{"price_components":[{"type":"DEMAND","price":1,"step_size":1}],"restrictions":{"min_kwh":10}}]`, `"gridmetrics":{"kind":"supply","timezone":"UTC"}`), []string{"elements[0].restrictions.min_kwh: cannot restrict an element with a STANDING or DEMAND component"}},
		{"standing with a time window", with(`[{"price_components":[{"type":"STANDING","price":1,"step_size":0}],"restrictions":{"start_time":"08:00","day_of_week":["MONDAY"]}}]`, `"gridmetrics":{"kind":"supply","timezone":"UTC"}`), []string{"elements[0].restrictions.start_time: cannot restrict an element with a STANDING component"}},
		{"bad demand window", with(`[{"price_components":[{"type":"DEMAND","price":1,"step_size":1}]}]`, `"gridmetrics":{"kind":"supply","timezone":"UTC","demand_window":600}`), []string{"gridmetrics.demand_window: 600 is not 900, 1800 or 3600 seconds"}},
		{"many problems at once", with(`[{"price_components":[{"type":"ENERGY","price":"x","step_size":1}],"restrictions":{"start_time":"24:00","end_date":"2024-13-01"}}]`, `"type":"NONE"`),
			[]string{"elements[0].price_components[0].price: must be a number", `type: "NONE"`, `elements[0].restrictions.start_time: "24:00" is not a time`, `elements[0].restrictions.end_date: "2024-13-01" is not a date`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseTariff([]byte(tc.in))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			got := make([]string, len(ve.Problems))
			for i, p := range ve.Problems {
				got[i] = p.String()
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d = %q, want it to start with %q", i, got[i], w)
				}
			}
		})
	}
}

func TestMarshalOCPIDropsExtension(t *testing.T) {
	t.Parallel()
	tf := mustTariff(t, with(`[{"price_components":[{"type":"ENERGY","price":0.25,"step_size":1}],"restrictions":{"start_time":"22:00","end_time":"06:00"}}]`, `"gridmetrics":{"timezone":"Europe/Amsterdam"}`))
	full, _ := tf.MarshalJSON()
	if !bytes.Contains(full, []byte(`"gridmetrics":{"timezone":"Europe/Amsterdam"}`)) {
		t.Errorf("MarshalJSON lost the extension: %s", full)
	}
	ocpi, err := tf.MarshalOCPI()
	if err != nil || bytes.Contains(ocpi, []byte("gridmetrics")) {
		t.Errorf("MarshalOCPI = %s, %v; want it without the extension", ocpi, err)
	}
	supply := mustTariff(t, with(`[{"price_components":[{"type":"STANDING","price":0.5,"step_size":0}]}]`, `"gridmetrics":{"kind":"supply","timezone":"Europe/Amsterdam"}`))
	if _, err := supply.MarshalOCPI(); err == nil {
		t.Error("MarshalOCPI of a supply tariff: want an error")
	}
	b, _ := supply.MarshalJSON()
	if again, err := ParseTariff(b); err != nil || again.kind() != KindSupply {
		t.Errorf("supply tariff round trip: %v", err)
	}
}

func TestValidateGoBuiltTariff(t *testing.T) {
	t.Parallel()
	tf := &Tariff{CountryCode: "NL", PartyID: "GMX", ID: "x", Currency: "EUR",
		Elements: []Element{{PriceComponents: []PriceComponent{{Type: Energy, Price: dec("0.3"), StepSize: 1}},
			Restrictions: &Restrictions{StartTime: "25:00"}}}}
	var ve *ValidationError
	if err := tf.Validate(); !errors.As(err, &ve) || ve.Problems[0].Path != "elements[0].restrictions.start_time" {
		t.Fatalf("Validate = %v", err)
	}
	if _, err := PriceSession(tf, Session{}); !errors.As(err, &ve) {
		t.Errorf("PriceSession with an invalid tariff: err = %v, want the validation error", err)
	}
	tf.Elements[0].Restrictions.StartTime = "07:00"
	if err := tf.SetTimeZone("Europe/Amsterdam"); err != nil {
		t.Fatal(err)
	}
}

// TestTariffInsideJSON: a tariff embedded in another document is read and
// validated by ParseTariff.
func TestTariffInsideJSON(t *testing.T) {
	t.Parallel()
	var doc struct {
		Tariff *Tariff `json:"tariff"`
	}
	if err := json.Unmarshal([]byte(`{"tariff":`+base+`}`), &doc); err != nil || doc.Tariff.ID != "t1" {
		t.Fatalf("unmarshal: %v", err)
	}
	b, err := json.Marshal(doc)
	if err != nil || !sameJSON(t, b, []byte(`{"tariff":`+base+`}`)) {
		t.Errorf("marshal: %s, %v", b, err)
	}
	err = json.Unmarshal([]byte(`{"tariff":`+strings.Replace(base, `"EUR"`, `"EURO"`, 1)+`}`), &doc)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("invalid embedded tariff: err = %v, want a *ValidationError", err)
	}
}
