package query

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/rollups"
)

func tiersForTest() []rollups.Tier { return rollups.Tiers }

func states(until map[string]string) []TierState {
	var out []TierState
	for _, t := range rollups.Tiers {
		if s, ok := until[t.Name]; ok {
			at, err := time.Parse(time.RFC3339, s)
			if err != nil {
				panic(err)
			}
			out = append(out, TierState{Tier: t, Until: at})
		}
	}
	return out
}

func planString(plan []Segment) string {
	var parts []string
	for _, s := range plan {
		parts = append(parts, fmt.Sprintf("%s[%s,%s)", s.Name(),
			time.UnixMicro(s.From).UTC().Format("01-02T15:04"), time.UnixMicro(s.To).UTC().Format("01-02T15:04")))
	}
	return strings.Join(parts, " ")
}

func TestPlan(t *testing.T) {
	t.Parallel()
	all := map[string]string{"15m": "2025-06-05T11:45:00Z", "1h": "2025-06-05T11:00:00Z", "1d": "2025-06-05T00:00:00Z"}
	tests := []struct {
		name     string
		step     string
		zone     string
		from, to string
		until    map[string]string
		cap      time.Duration
		want     string
	}{
		{"no tiers: raw", "1h", "UTC", "2025-06-02T00:00:00Z", "2025-06-02T03:00:00Z", nil, 0,
			"raw[06-02T00:00,06-02T03:00)"},
		{"daily in UTC: days, then hours, quarters and raw after the watermarks", "1d", "UTC", "2025-06-02T00:00:00Z", "2025-06-06T00:00:00Z", all, 0,
			"1d[06-02T00:00,06-05T00:00) 1h[06-05T00:00,06-05T11:00) 15m[06-05T11:00,06-05T11:45) raw[06-05T11:45,06-06T00:00)"},
		{"ragged start read from finer tiers and raw", "1d", "UTC", "2025-06-02T10:07:00Z", "2025-06-04T00:00:00Z", all, 0,
			"raw[06-02T10:07,06-02T10:15) 15m[06-02T10:15,06-02T11:00) 1h[06-02T11:00,06-03T00:00) 1d[06-03T00:00,06-04T00:00)"},
		{"hourly in Kolkata: only quarters align", "1h", "Asia/Kolkata", "2025-06-02T00:30:00Z", "2025-06-02T03:30:00Z", all, 0,
			"15m[06-02T00:30,06-02T03:30)"},
		{"daily in New York: hours", "1d", "America/New_York", "2025-06-02T04:00:00Z", "2025-06-04T04:00:00Z", all, 0,
			"1h[06-02T04:00,06-04T04:00)"},
		{"energy caps the width at the gap threshold", "1d", "UTC", "2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z", all, 15 * time.Minute,
			"15m[06-02T00:00,06-03T00:00)"},
		{"a pending invalidation stops a tier early", "1h", "UTC", "2025-06-02T00:00:00Z", "2025-06-02T06:00:00Z",
			map[string]string{"15m": "2025-06-02T02:40:00Z", "1h": "2025-06-02T02:40:00Z"}, 0,
			"1h[06-02T00:00,06-02T02:00) 15m[06-02T02:00,06-02T02:30) raw[06-02T02:30,06-02T06:00)"},
		{"five-minute buckets never use tiers", "5m", "UTC", "2025-06-02T00:00:00Z", "2025-06-02T01:00:00Z", all, 0,
			"raw[06-02T00:00,06-02T01:00)"},
		{"the whole range as one bucket aligns with everything", "", "Asia/Kathmandu", "2025-06-02T00:00:00Z", "2025-06-04T00:00:00Z", all, 0,
			"1d[06-02T00:00,06-04T00:00)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			from, _ := time.Parse(time.RFC3339, tt.from)
			to, _ := time.Parse(time.RFC3339, tt.to)
			loc := mustZone(t, tt.zone)
			g := Whole(from, to, loc)
			if tt.step != "" {
				var err error
				if g, err = mustStep(tt.step).Grid(from, to, loc, 0); err != nil {
					t.Fatal(err)
				}
			}
			got := planString(Plan(g, states(tt.until), tt.cap))
			if got != tt.want {
				t.Fatalf("plan\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestTiersNames(t *testing.T) {
	t.Parallel()
	h, _ := rollups.TierByName("1h")
	q, _ := rollups.TierByName("15m")
	got := Tiers([]Segment{{}, {Tier: &q}, {Tier: &h}, {Tier: &q}})
	if strings.Join(got, ",") != "1h,15m,raw" {
		t.Fatalf("tiers %v", got)
	}
}
