package availability

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/query"
)

func grid(t *testing.T, from, to string, bucket, tz string) query.Buckets {
	t.Helper()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Fatal(err)
	}
	f, err1 := time.Parse(time.RFC3339, from)
	e, err2 := time.Parse(time.RFC3339, to)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if bucket == "" {
		return query.Whole(f, e, loc)
	}
	step, ok := query.ParseStep(bucket)
	if !ok {
		t.Fatalf("bucket %q", bucket)
	}
	g, err := step.Grid(f, e, loc, 0)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// summary is a bucket reduced to what the table tests compare.
type summary struct {
	Seconds                 map[string]float64
	Unknown, Offline, Avail float64
	Pct                     float64 // -1 for null
}

func summarise(bs []Bucket) []summary {
	out := make([]summary, len(bs))
	for i, b := range bs {
		pct := -1.0
		if b.AvailabilityPct != nil {
			pct = *b.AvailabilityPct
		}
		out[i] = summary{Seconds: b.Seconds, Unknown: b.UnknownSeconds, Offline: b.OfflineSeconds, Avail: b.AvailableSeconds, Pct: pct}
	}
	return out
}

const (
	connector = 7
	box       = 3
)

func status(t *testing.T, when, state string) Change {
	return Change{Time: at(t, when), SourceID: connector, Kind: KindStatus, State: state}
}

func conn(t *testing.T, when, state string) Change {
	return Change{Time: at(t, when), SourceID: box, Kind: KindConnection, State: state}
}

func TestCompute(t *testing.T) {
	t.Parallel()
	const h = 3600.0
	tests := []struct {
		name     string
		from, to string
		bucket   string
		tz       string
		changes  []Change
		want     []summary
		wantEdge []string // the buckets' nominal starts, when checked
	}{
		{
			name: "empty: all unknown, no availability",
			from: "2025-01-01T00:00:00Z", to: "2025-01-01T02:00:00Z", bucket: "1h", tz: "UTC",
			want: []summary{
				{Seconds: map[string]float64{}, Unknown: h, Pct: -1},
				{Seconds: map[string]float64{}, Unknown: h, Pct: -1},
			},
		},
		{
			name: "the state at from is the last change before it",
			from: "2025-01-01T00:00:00Z", to: "2025-01-01T02:00:00Z", bucket: "1h", tz: "UTC",
			changes: []Change{
				status(t, "2024-12-01T00:00:00Z", "Available"),
				status(t, "2024-12-31T23:00:00Z", "Faulted"),
				status(t, "2025-01-01T01:30:00Z", "Available"),
			},
			want: []summary{
				{Seconds: map[string]float64{"Faulted": h}, Pct: 0},
				{Seconds: map[string]float64{"Faulted": h / 2, "Available": h / 2}, Avail: h / 2, Pct: 50},
			},
		},
		{
			name: "unknown before the first state; a change on an edge; changes at or after to ignored",
			from: "2025-01-01T00:00:00Z", to: "2025-01-01T03:00:00Z", bucket: "1h", tz: "UTC",
			changes: []Change{
				status(t, "2025-01-01T00:45:00Z", "Charging"),
				status(t, "2025-01-01T01:00:00Z", "Unavailable"),
				status(t, "2025-01-01T02:00:00Z", "Occupied"),
				status(t, "2025-01-01T03:00:00Z", "Faulted"),
				status(t, "2025-01-01T05:00:00Z", "Faulted"),
			},
			want: []summary{
				{Seconds: map[string]float64{"Charging": h / 4}, Unknown: 3 * h / 4, Avail: h / 4, Pct: 100},
				{Seconds: map[string]float64{"Unavailable": h}, Pct: 0},
				{Seconds: map[string]float64{"Occupied": h}, Avail: h, Pct: 100},
			},
		},
		{
			name: "offline: unknown while the box is offline; the last status holds after it reconnects",
			from: "2025-01-01T00:00:00Z", to: "2025-01-01T02:00:00Z", bucket: "1h", tz: "UTC",
			changes: []Change{
				status(t, "2024-12-31T00:00:00Z", "Available"),
				conn(t, "2024-12-31T00:00:00Z", Online),
				conn(t, "2025-01-01T00:15:00Z", Offline),
				status(t, "2025-01-01T00:20:00Z", "Faulted"), // reported late, while offline
				conn(t, "2025-01-01T01:15:00Z", Online),
				status(t, "2025-01-01T01:45:00Z", "Available"),
			},
			want: []summary{
				{Seconds: map[string]float64{"Available": h / 4}, Unknown: 3 * h / 4, Offline: 3 * h / 4, Avail: h / 4, Pct: 100},
				{Seconds: map[string]float64{"Faulted": h / 2, "Available": h / 4}, Unknown: h / 4, Offline: h / 4, Avail: h / 4, Pct: 33.333},
			},
		},
		{
			name: "offline before from and never back",
			from: "2025-01-01T00:00:00Z", to: "2025-01-01T01:00:00Z", tz: "UTC",
			changes: []Change{
				status(t, "2024-12-31T00:00:00Z", "Charging"),
				conn(t, "2024-12-31T12:00:00Z", Offline),
			},
			want: []summary{{Seconds: map[string]float64{}, Unknown: h, Offline: h, Pct: -1}},
		},
		{
			name: "Europe/Berlin days across the spring DST change: 24h, 23h, 24h",
			from: "2025-03-28T23:00:00Z", to: "2025-03-31T22:00:00Z", bucket: "1d", tz: "Europe/Berlin",
			changes: []Change{status(t, "2025-03-01T00:00:00Z", "Available")},
			want: []summary{
				{Seconds: map[string]float64{"Available": 24 * h}, Avail: 24 * h, Pct: 100},
				{Seconds: map[string]float64{"Available": 23 * h}, Avail: 23 * h, Pct: 100},
				{Seconds: map[string]float64{"Available": 24 * h}, Avail: 24 * h, Pct: 100},
			},
			wantEdge: []string{"2025-03-29T00:00:00+01:00", "2025-03-30T00:00:00+01:00", "2025-03-31T00:00:00+02:00"},
		},
		{
			name: "Europe/Berlin: the autumn day has 25h; a fault in its extra hour",
			from: "2025-10-25T22:00:00Z", to: "2025-10-27T23:00:00Z", bucket: "1d", tz: "Europe/Berlin",
			changes: []Change{
				status(t, "2025-10-01T00:00:00Z", "Available"),
				status(t, "2025-10-26T00:30:00Z", "Faulted"),   // 02:30 CEST
				status(t, "2025-10-26T01:30:00Z", "Available"), // 02:30 CET
			},
			want: []summary{
				{Seconds: map[string]float64{"Available": 24 * h, "Faulted": h}, Avail: 24 * h, Pct: 96},
				{Seconds: map[string]float64{"Available": 24 * h}, Avail: 24 * h, Pct: 100},
			},
			wantEdge: []string{"2025-10-26T00:00:00+02:00", "2025-10-27T00:00:00+01:00"},
		},
		{
			name: "a range that starts and ends inside buckets is clipped to it",
			from: "2025-01-01T00:30:00Z", to: "2025-01-01T01:15:00Z", bucket: "1h", tz: "UTC",
			changes: []Change{status(t, "2025-01-01T00:00:00Z", "Reserved")},
			want: []summary{
				{Seconds: map[string]float64{"Reserved": h / 2}, Avail: h / 2, Pct: 100},
				{Seconds: map[string]float64{"Reserved": h / 4}, Avail: h / 4, Pct: 100},
			},
			wantEdge: []string{"2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := grid(t, tt.from, tt.to, tt.bucket, tt.tz)
			got := Compute(g, tt.changes)
			if s := summarise(got); !reflect.DeepEqual(s, tt.want) {
				t.Errorf("got  %+v\nwant %+v", s, tt.want)
			}
			for i, e := range tt.wantEdge {
				if got[i].Time.Format(time.RFC3339) != e {
					t.Errorf("bucket %d starts %s, want %s", i, got[i].Time.Format(time.RFC3339), e)
				}
			}
			// Every second of the range is either known or unknown.
			total := 0.0
			for _, b := range got {
				total += b.KnownSeconds + b.UnknownSeconds
			}
			if span := at(t, tt.to).Sub(at(t, tt.from)).Seconds(); total != span {
				t.Errorf("buckets hold %v s, the range %v s", total, span)
			}
		})
	}
}

// Changes arriving in any order, and resent ones, give the answer of the
// ordered series.
func TestComputeOrderAndDuplicates(t *testing.T) {
	t.Parallel()
	g := grid(t, "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", "1h", "UTC")
	base := at(t, "2024-12-31T23:50:00Z")
	rng := rand.New(rand.NewPCG(1, 2))
	states := []string{"Available", "Preparing", "Charging", "Finishing", "Faulted", "Unavailable"}
	var ordered []Change
	for i := range 200 {
		c := Change{Time: base.Add(time.Duration(i)*7*time.Minute + time.Duration(rng.IntN(60))*time.Second), SourceID: connector, Kind: KindStatus, State: states[rng.IntN(len(states))]}
		if i%9 == 0 {
			c = Change{Time: c.Time, SourceID: box, Kind: KindConnection, State: ConnectionStates[rng.IntN(2)]}
		}
		ordered = append(ordered, c)
	}
	want := Compute(g, ordered)
	shuffled := append([]Change(nil), ordered...)
	shuffled = append(shuffled, ordered[:50]...) // resent
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if got := Compute(g, shuffled); !reflect.DeepEqual(got, want) {
		t.Fatalf("shuffled and resent changes answer differently:\n%v\n%v", summarise(got), summarise(want))
	}
}

// A site sums its connectors: each Begin starts a connector afresh.
func TestFoldSumsConnectors(t *testing.T) {
	t.Parallel()
	g := grid(t, "2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z", "", "UTC")
	f := NewFold(g)
	f.Begin()
	f.Add(status(t, "2024-12-31T00:00:00Z", "Available"))
	f.Finish()
	f.Begin() // a second connector, faulted for the last quarter, unknown before
	f.Add(status(t, "2025-01-01T00:45:00Z", "Faulted"))
	f.Finish()
	got := summarise(f.Buckets(g))
	want := []summary{{Seconds: map[string]float64{"Available": 3600, "Faulted": 900}, Unknown: 2700, Avail: 3600, Pct: 80}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	for _, s := range append(append(append([]string{}, States16...), States201...), ConnectionStates...) {
		if _, err := KindOf(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"", "available", "Offline ", "Occupied\x00", "Broken"} {
		if _, err := KindOf(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
