package query

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestGrid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		step     string
		zone     string
		from, to string // RFC 3339
		// want lists the nominal bucket starts, in the zone, and their
		// lengths in hours (lengths of the nominal, unclipped buckets).
		want  []string
		hours []float64
	}{
		{"utc hours", "1h", "UTC", "2025-06-02T00:00:00Z", "2025-06-02T03:00:00Z",
			[]string{"2025-06-02T00:00:00Z", "2025-06-02T01:00:00Z", "2025-06-02T02:00:00Z"}, []float64{1, 1, 1}},
		{"kathmandu hours start at :15 UTC", "1h", "Asia/Kathmandu", "2025-06-02T00:15:00Z", "2025-06-02T02:15:00Z",
			[]string{"2025-06-02T06:00:00+05:45", "2025-06-02T07:00:00+05:45"}, []float64{1, 1}},
		{"kolkata hours start at :30 UTC", "1h", "Asia/Kolkata", "2025-06-02T00:30:00Z", "2025-06-02T01:30:00Z",
			[]string{"2025-06-02T06:00:00+05:30"}, []float64{1}},
		{"kathmandu quarter hours", "15m", "Asia/Kathmandu", "2025-06-02T00:00:00Z", "2025-06-02T00:30:00Z",
			[]string{"2025-06-02T05:45:00+05:45", "2025-06-02T06:00:00+05:45"}, []float64{0.25, 0.25}},
		{"unaligned range is clipped, labelled by the whole bucket", "1h", "UTC", "2025-06-02T00:20:00Z", "2025-06-02T01:10:00Z",
			[]string{"2025-06-02T00:00:00Z", "2025-06-02T01:00:00Z"}, []float64{1, 1}},
		{"london spring-forward day has 23 hours", "1d", "Europe/London", "2025-03-29T00:00:00Z", "2025-03-31T23:00:00Z",
			[]string{"2025-03-29T00:00:00Z", "2025-03-30T00:00:00Z", "2025-03-31T00:00:00+01:00"}, []float64{24, 23, 24}},
		{"london fall-back day has 25 hours", "1d", "Europe/London", "2025-10-25T23:00:00Z", "2025-10-27T00:00:00Z",
			[]string{"2025-10-26T00:00:00+01:00"}, []float64{25}},
		{"new york spring forward", "1d", "America/New_York", "2025-03-09T05:00:00Z", "2025-03-10T04:00:00Z",
			[]string{"2025-03-09T00:00:00-05:00"}, []float64{23}},
		{"london hours across fall back: 25 in the day", "1h", "Europe/London", "2025-10-25T23:00:00Z", "2025-10-27T00:00:00Z",
			nil, nil},
		{"weeks start on Monday", "1w", "Europe/Berlin", "2025-06-04T12:00:00Z", "2025-06-17T00:00:00Z",
			[]string{"2025-06-02T00:00:00+02:00", "2025-06-09T00:00:00+02:00", "2025-06-16T00:00:00+02:00"}, []float64{168, 168, 168}},
		{"months at local midnight, DST inside", "1mo", "Europe/London", "2025-02-15T00:00:00Z", "2025-04-02T00:00:00Z",
			[]string{"2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z", "2025-04-01T00:00:00+01:00"}, []float64{28 * 24, 31*24 - 1, 30 * 24}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			loc := mustZone(t, tt.zone)
			from, _ := time.Parse(time.RFC3339, tt.from)
			to, _ := time.Parse(time.RFC3339, tt.to)
			g, err := mustStep(tt.step).Grid(from, to, loc, 0)
			if err != nil {
				t.Fatal(err)
			}
			if g.Edges[0] != from.UnixMicro() || g.Edges[len(g.Edges)-1] != to.UnixMicro() {
				t.Fatalf("edges %v do not run from from to to", g.Edges)
			}
			if tt.want == nil { // london hours: 25 buckets on the long day
				if g.Len() != 25 {
					t.Fatalf("%d hourly buckets on a 25-hour day", g.Len())
				}
				return
			}
			var got []string
			for i := range g.Len() {
				got = append(got, g.Start(i).Format(time.RFC3339))
				if h := g.End(i).Sub(g.Start(i)).Hours(); h != tt.hours[i] {
					t.Errorf("bucket %d lasts %v h, want %v", i, h, tt.hours[i])
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("starts\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestGridLimit(t *testing.T) {
	t.Parallel()
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := mustStep("1m").Grid(from, from.Add(7*24*time.Hour), time.UTC, 10_000); !errors.Is(err, errTooManyBuckets) {
		t.Fatalf("a week of minutes: err %v, want too many buckets", err)
	}
	g, err := mustStep("1m").Grid(from, from.Add(10_000*time.Minute), time.UTC, 10_000)
	if err != nil || g.Len() != 10_000 {
		t.Fatalf("exactly the limit: %d buckets, err %v", g.Len(), err)
	}
}

func TestAlignment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		zone, step string
		from       string
		days       int
		want       []string // tiers that align
	}{
		{"UTC", "1h", "2025-06-02T00:00:00Z", 3, []string{"15m", "1h"}},
		{"UTC", "1d", "2025-06-02T00:00:00Z", 3, []string{"15m", "1h", "1d"}},
		{"UTC", "1mo", "2025-01-01T00:00:00Z", 90, []string{"15m", "1h", "1d"}},
		{"Europe/London", "1d", "2025-01-06T00:00:00Z", 3, []string{"15m", "1h", "1d"}}, // winter: GMT
		{"Europe/London", "1d", "2025-06-02T00:00:00Z", 3, []string{"15m", "1h"}},
		{"Europe/London", "1h", "2025-03-29T00:00:00Z", 3, []string{"15m", "1h"}}, // across DST
		{"America/New_York", "1d", "2025-03-08T05:00:00Z", 3, []string{"15m", "1h"}},
		{"Asia/Kolkata", "1h", "2025-06-02T00:00:00Z", 1, []string{"15m"}},
		{"Asia/Kolkata", "1d", "2025-06-02T00:00:00Z", 3, []string{"15m"}},
		{"Asia/Kathmandu", "1d", "2025-06-02T00:00:00Z", 3, []string{"15m"}},
		{"Asia/Kathmandu", "5m", "2025-06-02T00:00:00Z", 1, nil},
	}
	for _, tt := range tests {
		from, _ := time.Parse(time.RFC3339, tt.from)
		g, err := mustStep(tt.step).Grid(from, from.AddDate(0, 0, tt.days), mustZone(t, tt.zone), 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tr := range tiersForTest() {
			if aligned(tr, g) {
				got = append(got, tr.Name)
			}
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s %s from %s: aligned %v, want %v", tt.zone, tt.step, tt.from, got, tt.want)
		}
	}
}
