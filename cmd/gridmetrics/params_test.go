package main

import (
	"net/url"
	"strings"
	"testing"
)

// TestQueryParametersReadAlike checks that the routes read times and
// switches by one rule (api.QueryTime, api.QueryBool): an offset's "+" sent
// unescaped, which arrives as a space, is read on every route; a refusal
// reads alike and does not repeat a huge value back.
func TestQueryParametersReadAlike(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	e.charger("CB-PARAMS")
	tariffID := e.assignTariff("", "CB-PARAMS")

	// Sent as typed into a shell: the "+" is not escaped.
	plus := "2025-01-31T01:00:00+01:00"
	for _, path := range []string{
		"/v1/sessions?from=" + plus,
		"/v1/sessions?updated_since=" + plus,
		"/v1/tariffs/" + tariffID + "?at=" + plus,
		"/v1/tariffs?archived=1", // 1 and 0 are switches everywhere, as breakdown's were
	} {
		// The contract check reads the query as sent, a space in a
		// date-time: only the answer is checked against it.
		r := e.admin.doInvalid("GET", path, "")
		if r.Status != 200 {
			t.Errorf("GET %s: %d %v, want 200", path, r.Status, r.Body)
		}
	}

	huge := strings.Repeat("9", 2_000) // within the header limit
	for _, tt := range []struct {
		path, want string
	}{
		{"/v1/sessions?from=" + huge, `from: "` + strings.Repeat("9", 64) + `"… is not an RFC 3339 time such as 2025-01-31T00:00:00Z`},
		{"/v1/sessions?to=yesterday", `to: "yesterday" is not an RFC 3339 time such as 2025-01-31T00:00:00Z`},
		{"/v1/tariffs/" + tariffID + "?at=" + huge, `at: "` + strings.Repeat("9", 64) + `"… is not an RFC 3339 time such as 2025-01-31T00:00:00Z`},
		{"/v1/tariffs?archived=TRUE", `archived: "TRUE" is not true or false`},
		{"/v1/sites/depot-1/cost?from=2025-01-31T00:00:00Z&to=2025-02-01T00:00:00Z&breakdown=yes", `breakdown: "yes" is not true or false`},
		{"/v1/sources/CB-PARAMS/cost?" + url.QueryEscape(strings.Repeat("x", 2_000)) + "=1", `: unknown parameter (this route takes from, to, bucket, tz, tariff_id)`},
	} {
		r := e.admin.doInvalid("GET", tt.path, "")
		expect(t, "GET "+tt.path[:min(len(tt.path), 60)], r, 400, "VALIDATION_ERROR")
		msg, _ := dig(r.Body, "error", "message").(string)
		if !strings.Contains(msg, tt.want) || len(msg) > 300 {
			t.Errorf("GET %.60s: message %.300q, want %q", tt.path, msg, tt.want)
		}
	}
}
