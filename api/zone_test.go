package api_test

import (
	"strings"
	"testing"

	"github.com/gridmetrics/gridmetrics/api"
)

func TestParseZone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		zone    string
		wantErr bool
	}{
		{"iana", "Europe/Berlin", false},
		{"utc", "UTC", false},
		{"empty", "", true},
		{"server's zone", "Local", true},
		{"abbreviation", "CET", true},
		{"unknown", "Mars/Olympus_Mons", true},
		{"path", "../../etc/passwd", true},
		{"huge", "Europe/" + strings.Repeat("x", 1<<16), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			loc, err := api.ParseZone("time_zone", tt.zone)
			if tt.wantErr {
				if e := api.AsError(err); e == nil || e.Code != api.CodeValidation || !strings.HasPrefix(e.Message, "time_zone: ") {
					t.Fatalf("ParseZone(%.40q) = %v, %v; want a validation error", tt.zone, loc, err)
				}
				return
			}
			if err != nil || loc.String() != tt.zone {
				t.Fatalf("ParseZone(%q) = %v, %v", tt.zone, loc, err)
			}
		})
	}
}
