package tariffs

import (
	"testing"
	"time"
)

// TestFormatDateTimeFitsOCPI: OCPI's DateTime is string(25), UTC; the
// service keeps microseconds, which would make 27 characters.
func TestFormatDateTimeFitsOCPI(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 12, 1, 23, 4, 10, 880219000, time.UTC), "2026-12-01T23:04:10.88Z"},
		{time.Date(2026, 12, 1, 23, 4, 10, 999999999, time.UTC), "2026-12-01T23:04:10.999Z"},
		{time.Date(2026, 12, 1, 23, 4, 10, 0, time.UTC), "2026-12-01T23:04:10Z"},
		{time.Date(2026, 7, 1, 12, 0, 0, 123456000, berlin), "2026-07-01T10:00:00.123Z"},
	}
	for _, tt := range tests {
		got := formatDateTime(tt.in)
		if got != tt.want || len(got) > 25 {
			t.Errorf("formatDateTime(%s) = %q, want %q (at most 25 characters)", tt.in, got, tt.want)
		}
		back, err := time.Parse(time.RFC3339, got)
		if err != nil || back.After(tt.in) || tt.in.Sub(back) >= time.Millisecond {
			t.Errorf("%q reads back as %s (%v), want within the millisecond before %s", got, back, err, tt.in)
		}
	}
}
