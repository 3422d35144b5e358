package main

import (
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/mqtt"
)

// The comparison is fair only if every phase of a pair carries the same
// rows: the HTTP bodies, the readings preset's payloads and the value
// preset's messages decode to the dataset's rows, each once.
func TestPhasesCarryTheSameRows(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name                 string
		rows, sources, batch int
	}{
		{name: "batches of distinct meters", rows: 1000, sources: 200, batch: 100},
		{name: "a short last batch", rows: 1001, sources: 7, batch: 100},
		{name: "one meter", rows: 50, sources: 1, batch: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDataset(tc.rows, tc.sources, now)
			type key struct {
				source string
				at     time.Time
			}
			want := map[key]float64{}
			for k := range tc.rows {
				s, at, v := d.row(k)
				if !at.Before(now) {
					t.Fatalf("row %d at %s, not before %s", k, at, now)
				}
				want[key{d.sources[s], at}] = v
			}
			if len(want) != tc.rows {
				t.Fatalf("%d distinct meter and time pairs in %d rows", len(want), tc.rows)
			}
			check := func(what string, rows []ingest.Row) {
				t.Helper()
				if len(rows) != tc.rows {
					t.Fatalf("%s: %d rows, want %d", what, len(rows), tc.rows)
				}
				seen := map[key]bool{}
				for _, r := range rows {
					k := key{r.Source, r.Time}
					if v, ok := want[k]; !ok || v != r.Value || r.Metric != metric || r.Unit != unit || seen[k] {
						t.Fatalf("%s: row %+v is not one of the dataset's, or comes twice", what, r)
					}
					seen[k] = true
				}
			}

			gateway := func(i int) string { return "gridmetrics/ten_x/readings/gw-" + string(rune('a'+i%3)) }
			var viaHTTP, viaReadings, viaValue []ingest.Row
			for _, m := range d.readingsBodies(tc.batch, nil) {
				rows, rejected, err := ingest.DecodeReadingsJSON(m.payload, 0)
				if err != nil || rejected.Total != 0 || len(rows) != m.n {
					t.Fatalf("HTTP body of rows %d…: %d rows, %d rejected, %v; want %d rows", m.first, len(rows), rejected.Total, err, m.n)
				}
				viaHTTP = append(viaHTTP, rows...)
			}
			check("POST /v1/readings", viaHTTP)
			for _, m := range d.readingsBodies(tc.batch, gateway) {
				viaReadings = append(viaReadings, decodeMessage(t, m)...)
			}
			check("readings preset", viaReadings)
			for _, m := range d.valueMessages("gridmetrics/ten_x/") {
				viaValue = append(viaValue, decodeMessage(t, m)...)
			}
			check("value preset", viaValue)
		})
	}
}

// decodeMessage decodes a message as the subscriber does.
func decodeMessage(t *testing.T, m message) []ingest.Row {
	t.Helper()
	topic, err := mqtt.ParseTopic(mqtt.DefaultPrefix, m.topic)
	if err != nil {
		t.Fatalf("topic %s: %v", m.topic, err)
	}
	dec, err := mqtt.Decode(mqtt.Message{Topic: topic, Payload: m.payload, Received: time.Now(), Zone: time.UTC}, 0)
	if err != nil || dec.Rejected.Total != 0 || len(dec.Rows) != m.n {
		t.Fatalf("message %s %s: %d rows, %d rejected, %v; want %d rows", m.topic, m.payload, len(dec.Rows), dec.Rejected.Total, err, m.n)
	}
	return dec.Rows
}

func TestMarkProbes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ msgs, probes, want int }{
		{msgs: 20000, probes: 1000, want: 1000},
		{msgs: 2000, probes: 1000, want: 1000},
		{msgs: 1500, probes: 1000, want: 1500}, // every message: fewer than two per probe
		{msgs: 10, probes: 1000, want: 10},
		{msgs: 20001, probes: 1000, want: 1001},
	} {
		msgs := markProbes(make([]message, tc.msgs), tc.probes)
		if got := countProbes(msgs); got != tc.want {
			t.Errorf("%d messages, %d probes: %d probed, want %d", tc.msgs, tc.probes, got, tc.want)
		}
		if !msgs[0].probe {
			t.Errorf("%d messages, %d probes: the first is not probed", tc.msgs, tc.probes)
		}
	}
	d := newDataset(10, 5, time.Now())
	m := d.readingsBodies(3, nil)[1]
	m.probe = true
	k, ok := d.probeRow(m)
	s, at, _ := d.row(3)
	if !ok || k.source != s || k.at != at.UnixMicro() {
		t.Errorf("probe row of the second batch: %+v, %v; want its first row, meter %d at %s", k, ok, s, at)
	}
	if _, ok := d.probeRow(message{first: 1, n: 1}); ok {
		t.Error("a message not probed has a probe row")
	}
}
