package ocpischema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// examplesDir holds the OCPI 2.2.1 specification's example objects.
const examplesDir = "../../../shared/ocpi-2.2.1/examples"

func readExample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSpecificationExamples: the specification's own CDR and tariffs are
// valid. The PUT example is a request body that leaves out last_updated,
// which the Tariff object requires: with it, it is valid too.
func TestSpecificationExamples(t *testing.T) {
	names, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil || len(names) < 20 {
		t.Fatalf("examples: %v (%d files)", err, len(names))
	}
	for _, path := range names {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data := readExample(t, name)
			check := Tariff
			if strings.HasPrefix(name, "cdr") {
				check = CDR
			}
			if name == "tariff_put_example.json" {
				if err := check(data); err == nil || !strings.Contains(err.Error(), "last_updated") {
					t.Fatalf("without last_updated: %v, want it named", err)
				}
				data = edit(t, data, func(m map[string]any) { m["last_updated"] = "2015-06-29T20:39:09Z" })
			}
			if err := check(data); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// edit returns data changed by f.
func edit(t *testing.T, data []byte, f func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func obj(v any) map[string]any { return v.(map[string]any) }

// TestBrokenCDRs: copies of the specification's CDR, each broken in one
// way, are refused, naming the member.
func TestBrokenCDRs(t *testing.T) {
	example := readExample(t, "cdr_example.json")
	location := func(m map[string]any) map[string]any { return obj(m["cdr_location"]) }
	tariff := func(m map[string]any) map[string]any { return obj(m["tariffs"].([]any)[0]) }
	tests := []struct {
		name, want string
		f          func(map[string]any)
	}{
		{"no address", "address", func(m map[string]any) { delete(location(m), "address") }},
		{"empty address", "address", func(m map[string]any) { location(m)["address"] = "" }},
		{"address of 46 characters", "address", func(m map[string]any) { location(m)["address"] = strings.Repeat("a", 46) }},
		{"empty city", "city", func(m map[string]any) { location(m)["city"] = "" }},
		{"empty country", "country", func(m map[string]any) { location(m)["country"] = "" }},
		{"alpha-2 country", "country", func(m map[string]any) { location(m)["country"] = "BE" }},
		{"empty latitude", "latitude", func(m map[string]any) { obj(location(m)["coordinates"])["latitude"] = "" }},
		{"longitude of 4 decimals", "longitude", func(m map[string]any) { obj(location(m)["coordinates"])["longitude"] = "51.0475" }},
		{"empty connector standard", "connector_standard", func(m map[string]any) { location(m)["connector_standard"] = "" }},
		{"unknown connector standard", "connector_standard", func(m map[string]any) { location(m)["connector_standard"] = "TYPE_2" }},
		{"empty connector format", "connector_format", func(m map[string]any) { location(m)["connector_format"] = "" }},
		{"empty power type", "connector_power_type", func(m map[string]any) { location(m)["connector_power_type"] = "" }},
		{"postal code of 11 characters", "postal_code", func(m map[string]any) { location(m)["postal_code"] = "12345678901" }},
		{"microseconds", "last_updated", func(m map[string]any) { m["last_updated"] = "2026-12-01T23:04:10.880219Z" }},
		{"an offset", "start_date_time", func(m map[string]any) { m["start_date_time"] = "2015-06-29T23:39:09+02:00" }},
		{"no last_updated", "last_updated", func(m map[string]any) { delete(m, "last_updated") }},
		{"tariff without last_updated", "last_updated", func(m map[string]any) { delete(tariff(m), "last_updated") }},
		{"tariff with an extension", "gridmetrics", func(m map[string]any) { tariff(m)["gridmetrics"] = map[string]any{"timezone": "UTC"} }},
		{"id of 40 characters", "id", func(m map[string]any) { m["id"] = strings.Repeat("x", 40) }},
		{"party id of 4 characters", "party_id", func(m map[string]any) { m["party_id"] = "BECX" }},
		{"token type", "type", func(m map[string]any) { obj(m["cdr_token"])["type"] = "CARD" }},
		{"no charging periods", "charging_periods", func(m map[string]any) { m["charging_periods"] = []any{} }},
		{"volume as a string", "volume", func(m map[string]any) {
			obj(obj(m["charging_periods"].([]any)[0])["dimensions"].([]any)[0])["volume"] = "1.973"
		}},
		{"lower-case currency", "currency", func(m map[string]any) { m["currency"] = "eur" }},
		{"credit without a reference", "credit_reference_id", func(m map[string]any) { m["credit"] = true }},
		{"no total cost", "total_cost", func(m map[string]any) { delete(m, "total_cost") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CDR(edit(t, example, tt.f))
			if err == nil {
				t.Fatal("valid, want refused")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%v\ndoes not name %s", err, tt.want)
			}
		})
	}
}

// TestBrokenTariffs: copies of the specification's complex tariff, each
// broken in one way, are refused.
func TestBrokenTariffs(t *testing.T) {
	example := readExample(t, "tariff_4_complex.json")
	element := func(m map[string]any, i int) map[string]any { return obj(m["elements"].([]any)[i]) }
	tests := []struct {
		name, want string
		f          func(map[string]any)
	}{
		{"no elements", "elements", func(m map[string]any) { m["elements"] = []any{} }},
		{"no step size", "step_size", func(m map[string]any) {
			delete(obj(element(m, 0)["price_components"].([]any)[0]), "step_size")
		}},
		{"fractional step size", "step_size", func(m map[string]any) {
			obj(element(m, 0)["price_components"].([]any)[0])["step_size"] = 1.5
		}},
		{"supply dimension", "type", func(m map[string]any) {
			obj(element(m, 0)["price_components"].([]any)[0])["type"] = "STANDING"
		}},
		{"start time 24:00", "start_time", func(m map[string]any) { obj(element(m, 4)["restrictions"])["start_time"] = "24:00" }},
		{"day of week", "day_of_week", func(m map[string]any) { obj(element(m, 5)["restrictions"])["day_of_week"] = []any{"SAT"} }},
		{"milliseconds and more", "last_updated", func(m map[string]any) { m["last_updated"] = "2015-06-29T20:39:09.1234Z" }},
		{"country code of 3", "country_code", func(m map[string]any) { m["country_code"] = "DEU" }},
		{"tariff type", "type", func(m map[string]any) { m["type"] = "CHEAP" }},
		{"alt text of 3-letter language", "language", func(m map[string]any) {
			m["tariff_alt_text"] = []any{map[string]any{"language": "eng", "text": "2 euro"}}
		}},
		{"energy mix without is_green_energy", "is_green_energy", func(m map[string]any) { m["energy_mix"] = map[string]any{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Tariff(edit(t, example, tt.f))
			if err == nil {
				t.Fatal("valid, want refused")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%v\ndoes not name %s", err, tt.want)
			}
		})
	}
	// Milliseconds are allowed.
	if err := Tariff(edit(t, example, func(m map[string]any) { m["last_updated"] = "2015-06-29T20:39:09.123Z" })); err != nil {
		t.Fatal(err)
	}
}
