package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestHostileTariffIsRefusedQuickly sends tariffs as large as the tariff
// body limit allows, built to make the OCPI reader work hard: one object of
// 60 000 keys (a quadratic duplicate check took minutes), and 9 000 invalid
// elements (tens of thousands of problems). Each is a 400 within seconds
// listing at most 100 problems and a last one that counts the rest.
func TestHostileTariffIsRefusedQuickly(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	head := `{"country_code":"DE","party_id":"ABC","id":"t1","currency":"EUR","last_updated":"2024-01-01T00:00:00Z"`
	var keys, elements strings.Builder
	keys.WriteString(head + `,"elements":[{"price_components":[{"type":"ENERGY","price":0.3,"step_size":1}]}]`)
	for i := range 60_000 {
		fmt.Fprintf(&keys, `,"k%d":1`, i/4)
	}
	keys.WriteString("}")
	elements.WriteString(head + `,"elements":[`)
	for i := range 9_000 {
		if i > 0 {
			elements.WriteByte(',')
		}
		elements.WriteString(`{"price_components":[{"type":"NOPE","price":"x","step_size":-1}],"x":1}`)
	}
	elements.WriteString("]}")

	for _, tc := range []struct{ name, body string }{{"60k keys", keys.String()}, {"9k invalid elements", elements.String()}} {
		if len(tc.body) > 1<<20 {
			t.Fatalf("%s: %d bytes, above the tariff body limit", tc.name, len(tc.body))
		}
		start := time.Now()
		r := client{t, e.base, e.key}.do("POST", "/v1/tariffs", tc.body)
		took := time.Since(start)
		expect(t, tc.name, r, 400, "VALIDATION_ERROR")
		details, _ := r.Body["error"].(map[string]any)["details"].(map[string]any)
		problems, _ := details["problems"].([]any)
		if len(problems) != 101 {
			t.Fatalf("%s: %d problems, want 100 and one counting the rest", tc.name, len(problems))
		}
		last, _ := problems[100].(map[string]any)["message"].(string)
		if !strings.HasPrefix(last, "… and ") || !strings.Contains(last, "more problems (at most 100 are listed)") {
			t.Errorf("%s: last problem %q", tc.name, last)
		}
		if took > 20*time.Second {
			t.Errorf("%s: answered in %s", tc.name, took)
		}
		t.Logf("%s: %d bytes refused in %s; %s", tc.name, len(tc.body), took, last)
	}
}
