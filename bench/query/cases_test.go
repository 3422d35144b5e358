package main

import (
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	const planned = `{"data":[{"time":"2026-10-22T02:00:00+02:00","import_kwh":12.5,"export_kwh":null,"quality":"complete"}],
		"meta":{"request_id":"a","tiers":["15m"],"total_import_kwh":12.5}}`
	tests := []struct {
		name    string
		raw     string
		wantErr string
	}{
		{"equal", `{"data":[{"time":"2026-10-22T02:00:00+02:00","import_kwh":12.5,"export_kwh":null,"quality":"complete"}],
			"meta":{"request_id":"b","tiers":["raw"],"total_import_kwh":12.5}}`, ""},
		{"within tolerance", `{"data":[{"time":"2026-10-22T02:00:00+02:00","import_kwh":12.500000000001,"export_kwh":null,"quality":"complete"}],
			"meta":{"request_id":"b","tiers":["raw"],"total_import_kwh":12.5}}`, ""},
		{"one step of the kWh grid apart", `{"data":[{"time":"2026-10-22T02:00:00+02:00","import_kwh":12.500001,"export_kwh":null,"quality":"complete"}],
			"meta":{"request_id":"b","tiers":["raw"],"total_import_kwh":12.5}}`, ""},
		{"two steps apart", `{"data":[{"time":"2026-10-22T02:00:00+02:00","import_kwh":12.500002,"export_kwh":null,"quality":"complete"}],
			"meta":{"request_id":"b","tiers":["raw"],"total_import_kwh":12.5}}`, "data[0].import_kwh"},
		{"number differs", `{"data":[{"time":"2026-10-22T02:00:00+02:00","import_kwh":12.50001,"export_kwh":null,"quality":"complete"}],
			"meta":{"request_id":"b","tiers":["raw"],"total_import_kwh":12.5}}`, "data[0].import_kwh"},
		{"quality differs", `{"data":[{"time":"2026-10-22T02:00:00+02:00","import_kwh":12.5,"export_kwh":null,"quality":"gap"}],
			"meta":{"request_id":"b","tiers":["raw"],"total_import_kwh":12.5}}`, "data[0].quality"},
		{"null differs", `{"data":[{"time":"2026-10-22T02:00:00+02:00","import_kwh":12.5,"export_kwh":0,"quality":"complete"}],
			"meta":{"request_id":"b","tiers":["raw"],"total_import_kwh":12.5}}`, "data[0].export_kwh"},
		{"meta differs", `{"data":[{"time":"2026-10-22T02:00:00+02:00","import_kwh":12.5,"export_kwh":null,"quality":"complete"}],
			"meta":{"request_id":"b","tiers":["raw"],"total_import_kwh":12.6}}`, "meta.total_import_kwh"},
		{"raw answer used a tier", `{"data":[{"time":"2026-10-22T02:00:00+02:00","import_kwh":12.5,"export_kwh":null,"quality":"complete"}],
			"meta":{"request_id":"b","tiers":["15m"],"total_import_kwh":12.5}}`, "want raw readings only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r caseResult
			err := r.check([]byte(planned), []byte(tt.raw))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseComment(t *testing.T) {
	d := dataset{Sources: 500, Days: 30, End: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), Rows: 43_200_000, GenerateS: 101.5, VacuumS: 20, RollupsS: 88.5}
	got, ok := parseComment(d.comment())
	if !ok || got != d {
		t.Fatalf("parseComment(%q) = %+v, %v; want %+v", d.comment(), got, ok, d)
	}
	if _, ok := parseComment("something else"); ok {
		t.Fatal("a foreign comment parsed")
	}
}
