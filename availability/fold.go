package availability

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/gridmetrics/gridmetrics/query"
)

// Bucket is the time a connector (or the sum over a site's connectors)
// spent in each state during one bucket. Seconds count the statuses while
// the charge box was connected; UnknownSeconds the rest: before the first
// status, and while the box was offline (OfflineSeconds, a part of it).
// Every second of the bucket (clipped to the range) is in exactly one of
// Seconds or UnknownSeconds, per connector.
type Bucket struct {
	Time             time.Time          `json:"time"` // nominal start, in the answer's zone
	End              time.Time          `json:"end"`
	Seconds          map[string]float64 `json:"seconds"`
	KnownSeconds     float64            `json:"known_seconds"`
	AvailableSeconds float64            `json:"available_seconds"`
	UnknownSeconds   float64            `json:"unknown_seconds"`
	OfflineSeconds   float64            `json:"offline_seconds"`
	// AvailabilityPct is AvailableSeconds over KnownSeconds, in percent;
	// null when nothing is known of the bucket.
	AvailabilityPct *float64 `json:"availability_pct"`
}

// effective states that are not statuses.
const (
	stateUnknown = ""
	stateOffline = "\x00offline"
)

// Fold accumulates state series into buckets. Feed it one connector at a
// time: Begin, then Add its changes in time order (those before the range
// set the state at its start), then Finish. Several connectors folded into
// one Fold add up (a site).
type Fold struct {
	edges []int64 // µs; bucket i is [edges[i], edges[i+1])
	acc   []map[string]int64

	status string // the connector's last status, "" before the first
	conn   string // the charge box's connection, "" if never reported
	at     int64  // time up to which the connector is accumulated
	i      int    // the bucket holding at
}

// NewFold returns a fold over the grid's buckets.
func NewFold(g query.Buckets) *Fold {
	f := &Fold{edges: g.Edges, acc: make([]map[string]int64, g.Len())}
	for i := range f.acc {
		f.acc[i] = map[string]int64{}
	}
	return f
}

// Begin starts a connector: nothing is known of it yet.
func (f *Fold) Begin() {
	f.status, f.conn, f.at, f.i = stateUnknown, "", f.edges[0], 0
}

// Add applies a change. Changes must come in time order; a change before
// the range only sets the state the range starts with, and one at or after
// its end is ignored.
func (f *Fold) Add(c Change) {
	f.advance(c.Time.UnixMicro())
	switch c.Kind {
	case KindConnection:
		f.conn = c.State
	case KindStatus:
		f.status = c.State
	}
}

// Finish accumulates the connector's last state up to the end of the range.
func (f *Fold) Finish() { f.advance(f.edges[len(f.edges)-1]) }

// effective is the state the connector is in now (see the package comment).
func (f *Fold) effective() string {
	if f.conn == Offline {
		return stateOffline
	}
	return f.status
}

// advance accumulates the current state from f.at up to t.
func (f *Fold) advance(t int64) {
	end := f.edges[len(f.edges)-1]
	t = min(t, end)
	if t <= f.at {
		return
	}
	state := f.effective()
	for f.at < t {
		next := min(f.edges[f.i+1], t)
		f.acc[f.i][state] += next - f.at
		f.at = next
		if f.at == f.edges[f.i+1] && f.i+1 < len(f.acc) {
			f.i++
		}
	}
}

// Buckets renders the accumulated time, labelled by the grid's nominal
// bucket bounds.
func (f *Fold) Buckets(g query.Buckets) []Bucket {
	out := make([]Bucket, len(f.acc))
	for i, acc := range f.acc {
		b := Bucket{Time: g.Start(i), End: g.End(i), Seconds: map[string]float64{}}
		for state, us := range acc {
			s := seconds(us)
			switch state {
			case stateUnknown:
				b.UnknownSeconds += s
			case stateOffline:
				b.UnknownSeconds += s
				b.OfflineSeconds += s
			default:
				b.Seconds[state] = s
				b.KnownSeconds += s
				if Available(state) {
					b.AvailableSeconds += s
				}
			}
		}
		if b.KnownSeconds > 0 {
			pct := math.Round(b.AvailableSeconds/b.KnownSeconds*100*1000) / 1000
			b.AvailabilityPct = &pct
		}
		out[i] = b
	}
	return out
}

func seconds(us int64) float64 { return float64(us) / 1e6 }

// SortChanges puts changes in the order a Fold takes them: by time, then
// source and kind (the store reads them in this order).
func SortChanges(cs []Change) {
	slices.SortStableFunc(cs, func(a, b Change) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.SourceID, b.SourceID), cmp.Compare(a.Kind, b.Kind))
	})
}

// Compute folds one connector's changes, in any order, into the grid.
func Compute(g query.Buckets, changes []Change) []Bucket {
	cs := slices.Clone(changes)
	SortChanges(cs)
	f := NewFold(g)
	f.Begin()
	for _, c := range cs {
		f.Add(c)
	}
	f.Finish()
	return f.Buckets(g)
}
