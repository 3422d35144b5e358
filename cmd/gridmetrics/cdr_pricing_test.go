package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// partnerCDR is the specification's CDR as roaming partners often send it:
// without country_code, party_id, cdr_token, auth_method and cdr_location.
// inconsistent also makes its volumes disagree with its timestamps: TIME
// 2.5 h in a period of 1 h 58 min 23 s, total_time 2.5 h.
func partnerCDR(t *testing.T, inconsistent bool) string {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(ocpiExample(t, "cdr_example.json")))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"country_code", "party_id", "cdr_token", "auth_method", "cdr_location"} {
		delete(m, k)
	}
	if inconsistent {
		p := m["charging_periods"].([]any)[0].(map[string]any)
		p["dimensions"] = []any{map[string]any{"type": "TIME", "volume": json.Number("2.5")}}
		m["total_time"] = json.Number("2.5")
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeTestFile writes content to dir/name and returns the path.
func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The warnings about the partner CDR's missing identity, in reading order,
// and about its volumes; the route prefixes paths with "cdr.".
var (
	identityWarnings = []string{"country_code: is required", "party_id: is required", "cdr_token: is required",
		"auth_method: is required", "cdr_location: is required"}
	volumeWarnings = []string{
		"charging_periods[0]: TIME 2.5 h, but its timestamps (start_date_time to end_date_time) make 1.9731 h: the volume is 0.5269 h more; priced by the timestamps",
		"total_time: 2.5 h, but the session's charging periods last 1.9731 h by their timestamps (to end_date_time): total_time is 0.5269 h more; priced by the timestamps",
	}
)

func prefixed(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = "cdr." + p
	}
	return out
}

// problemList reads a list of {path, message} as "path: message".
func problemList(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("not a list: %v", v)
	}
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = fmt.Sprintf("%s: %s", dig(p, "path"), dig(p, "message"))
	}
	return out
}

// TestPriceCDRLenientAndStrict: POST /v1/pricing/cdr prices a CDR lacking
// identity fields, listing them in warnings, and refuses it with
// strict=true as before; volumes that disagree with the timestamps are
// priced by the timestamps and listed in both modes.
func TestPriceCDRLenientAndStrict(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	c := client{t, e.base, e.key}
	partner, inconsistent := partnerCDR(t, false), partnerCDR(t, true)
	body := func(cdr string) string { return fmt.Sprintf(`{"cdr":%s}`, cdr) }

	// The CDR's tariff, TIME 2.00/h per 300 s: 1 h 58 min 23 s → 2 h = 4.00.
	for _, tc := range []struct {
		name, query, cdr string
		want             []string
	}{
		{"complete", "", ocpiExample(t, "cdr_example.json"), nil},
		{"complete, strict", "?strict=true", ocpiExample(t, "cdr_example.json"), nil},
		{"no identity", "", partner, identityWarnings},
		{"no identity, strict=false", "?strict=false", partner, identityWarnings},
		{"no identity, inconsistent volumes", "", inconsistent, append(slices.Clone(identityWarnings), volumeWarnings...)},
		{"complete, inconsistent volumes, strict", "?strict=true",
			strings.Replace(strings.Replace(ocpiExample(t, "cdr_example.json"), `"volume": 1.973`, `"volume": 2.5`, 1), `"total_time": 1.973`, `"total_time": 2.5`, 1),
			volumeWarnings},
	} {
		r := c.do("POST", "/v1/pricing/cdr"+tc.query, body(tc.cdr))
		expect(t, tc.name, r, 200, "")
		wantDecimal(t, tc.name+": total_cost", dig(r.data(), "cdr", "total_cost", "excl_vat"), "4.00")
		wantDecimal(t, tc.name+": total_time", dig(r.data(), "cdr", "total_time"), "1.9731")
		if got, want := problemList(t, r.data()["warnings"]), prefixed(tc.want); !slices.Equal(got, want) {
			t.Errorf("%s: warnings\n%q\nwant\n%q", tc.name, got, want)
		}
	}

	strict := c.do("POST", "/v1/pricing/cdr?strict=true", body(partner))
	expect(t, "no identity, strict", strict, 400, "VALIDATION_ERROR")
	if got := problemList(t, dig(strict.Body, "error", "details", "problems")); !slices.Equal(got, prefixed(identityWarnings)) {
		t.Errorf("strict problems %q, want %q", got, prefixed(identityWarnings))
	}

	// What pricing needs is still required, and only that is listed.
	noCurrency := strings.Replace(partner, `"currency":"EUR",`, "", 1)
	if noCurrency == partner {
		t.Fatal("currency not found")
	}
	r := c.do("POST", "/v1/pricing/cdr", body(noCurrency))
	expect(t, "no currency", r, 400, "VALIDATION_ERROR")
	if got := problemList(t, dig(r.Body, "error", "details", "problems")); !slices.Equal(got, []string{"cdr.currency: is required"}) {
		t.Errorf("no currency: problems %q", got)
	}
}

// TestPriceCDRHostileInput: strict takes true or false (1 or 0) only, and a CDR
// with hundreds of problems pricing does not need is priced with 100
// warnings and one counting the rest.
func TestPriceCDRHostileInput(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	c := client{t, e.base, e.key}
	cdr := fmt.Sprintf(`{"cdr":%s}`, ocpiExample(t, "cdr_example.json"))
	for _, v := range []string{"yes", "TRUE", "on", "2", "true%00", strings.Repeat("t", 1000)} {
		r := c.doInvalid("POST", "/v1/pricing/cdr?strict="+v, cdr)
		expect(t, "strict="+v[:min(len(v), 10)], r, 400, "VALIDATION_ERROR")
		if dig(r.Body, "error", "details", "field") != "strict" {
			t.Errorf("strict=%.10s: details %v", v, dig(r.Body, "error", "details"))
		}
	}

	var unknown strings.Builder
	for i := range 500 {
		fmt.Fprintf(&unknown, `,"partner_field_%d":1`, i)
	}
	ex := strings.TrimSpace(ocpiExample(t, "cdr_example.json"))
	r := c.do("POST", "/v1/pricing/cdr", `{"cdr":`+ex[:len(ex)-1]+unknown.String()+"}}")
	expect(t, "500 unknown fields", r, 200, "")
	w := problemList(t, r.data()["warnings"])
	if len(w) != 101 || w[0] != "cdr.partner_field_0: unknown field" || w[100] != "cdr: … and 400 more warnings (at most 100 are listed)" {
		t.Errorf("%d warnings: first %q, last %q", len(w), w[0], w[len(w)-1])
	}
	wantDecimal(t, "500 unknown fields: total_cost", dig(r.data(), "cdr", "total_cost", "excl_vat"), "4.00")
}

// TestTariffPriceCDRLenientAndStrict: `gridmetrics tariff price` prices a
// CDR lacking identity fields, printing each warning on stderr and exiting
// 0; --strict refuses it (exit status 1); disagreeing volumes are warned
// about in both modes.
func TestTariffPriceCDRLenientAndStrict(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string { return writeTestFile(t, dir, name, content) }
	gm := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"tariff", "price"}, args...), &out, &errOut)
		return out.String(), errOut.String(), err
	}
	warnings := func(ps []string) string {
		var b strings.Builder
		for _, p := range ps {
			b.WriteString("warning: " + p + "\n")
		}
		return b.String()
	}
	partner := write("partner.json", partnerCDR(t, false))
	inconsistent := write("inconsistent.json", partnerCDR(t, true))
	complete := write("complete.json", strings.Replace(strings.Replace(ocpiExample(t, "cdr_example.json"),
		`"volume": 1.973`, `"volume": 2.5`, 1), `"total_time": 1.973`, `"total_time": 2.5`, 1))

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no identity", []string{"--cdr", partner}, identityWarnings},
		{"no identity, inconsistent volumes", []string{"--cdr", inconsistent}, append(slices.Clone(identityWarnings), volumeWarnings...)},
		{"inconsistent volumes, strict", []string{"--strict", "--cdr", complete}, volumeWarnings},
	} {
		out, errOut, err := gm(tc.args...)
		if err != nil {
			t.Fatalf("%s: %v (exit status not 0)", tc.name, err)
		}
		if want := warnings(tc.want); errOut != want {
			t.Errorf("%s: stderr\n%s\nwant\n%s", tc.name, errOut, want)
		}
		var cdr map[string]any
		if err := json.Unmarshal([]byte(out), &cdr); err != nil {
			t.Fatalf("%s: output is not JSON: %v\n%s", tc.name, err, out)
		}
		wantDecimal(t, tc.name+": total_cost", dig(cdr, "total_cost", "excl_vat"), "4.00")
		wantDecimal(t, tc.name+": total_time", dig(cdr, "total_time"), "1.9731")
	}

	_, _, err := gm("--strict", "--cdr", partner)
	if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "is not a valid CDR:\n  country_code: is required") {
		t.Errorf("strict: err = %v, want the CDR refused (exit status 1) for its missing country_code", err)
	}
	// A refusal still shows the warnings that may explain it.
	noTariffs := write("no_tariffs.json", strings.Replace(ocpiExample(t, "cdr_example.json"), `"tariffs"`, `"x_tariffs"`, 1))
	_, errOut, err := gm("--cdr", noTariffs)
	if err == nil || !strings.Contains(err.Error(), `charging_periods[0].tariff_id: "12" is none of the CDR's tariffs`) ||
		errOut != "warning: x_tariffs: unknown field (did you mean \"tariffs\"?)\n" {
		t.Errorf("no tariffs: err = %v, stderr %q", err, errOut)
	}
}
