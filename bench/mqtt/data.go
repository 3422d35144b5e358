package main

import (
	"fmt"
	"strconv"
	"time"
)

// The benchmark's rows: power_import of S meters, one reading a second
// each, round-robin over the meters, so that consecutive rows (and a
// batch's rows) belong to different meters, as a gateway's would.
const (
	metric = "power_import"
	unit   = "W"
)

// dataset is the R rows every phase writes.
type dataset struct {
	sources []string  // external ids, m-00000 …
	base    time.Time // the time of every source's first row
	rows    int
}

func newDataset(rows, sources int, now time.Time) *dataset {
	d := &dataset{rows: rows}
	for i := range sources {
		d.sources = append(d.sources, fmt.Sprintf("m-%05d", i))
	}
	// Ending a little before now: inside any raw retention, and never in
	// the future whatever the clocks.
	perSource := (rows + sources - 1) / sources
	d.base = now.Add(-time.Duration(perSource)*time.Second - 10*time.Minute).UTC().Truncate(time.Second)
	return d
}

// row is the k-th row: its meter (an index of sources), time and value.
func (d *dataset) row(k int) (source int, at time.Time, value float64) {
	source = k % len(d.sources)
	at = d.base.Add(time.Duration(k/len(d.sources)) * time.Second)
	value = float64(1000+k%5000) + 0.25
	return source, at, value
}

// message is one request body or MQTT payload and the rows it carries.
type message struct {
	topic   string // MQTT only
	payload []byte
	first   int // the index of its first row
	n       int // rows: first … first+n-1
	// probe: the latency probe watches the message's first row.
	probe bool
}

// markProbes has the latency probe watch about n of the messages, spread
// evenly over them (every message when there are fewer).
func markProbes(msgs []message, n int) []message {
	every := max(1, len(msgs)/max(n, 1))
	for i := range msgs {
		msgs[i].probe = i%every == 0
	}
	return msgs
}

// appendRow appends row k in the JSON row form of POST /v1/readings.
func (d *dataset) appendRow(b []byte, k int) []byte {
	s, at, v := d.row(k)
	b = append(b, `{"source":"`...)
	b = append(b, d.sources[s]...)
	b = append(b, `","metric":"`+metric+`","unit":"`+unit+`","time":"`...)
	b = at.AppendFormat(b, time.RFC3339)
	b = append(b, `","value":`...)
	b = strconv.AppendFloat(b, v, 'f', -1, 64)
	return append(b, '}')
}

// readingsBodies cuts the rows into POST /v1/readings bodies of batch rows
// each (the last may be shorter). The readings preset takes the same
// bytes; topic, when not empty, is each message's topic.
func (d *dataset) readingsBodies(batch int, topic func(i int) string) []message {
	var out []message
	for first := 0; first < d.rows; first += batch {
		n := min(batch, d.rows-first)
		b := []byte(`{"readings":[`)
		for k := first; k < first+n; k++ {
			if k > first {
				b = append(b, ',')
			}
			b = d.appendRow(b, k)
		}
		b = append(b, "]}"...)
		m := message{payload: b, first: first, n: n}
		if topic != nil {
			m.topic = topic(len(out))
		}
		out = append(out, m)
	}
	return out
}

// valueMessages gives each row its own message of the value preset: the
// meter, metric and unit in the topic, the value and its time in the
// payload (a time makes a redelivery write the same reading again).
func (d *dataset) valueMessages(prefix string) []message {
	out := make([]message, d.rows)
	for k := range out {
		s, at, v := d.row(k)
		b := []byte(`{"value":`)
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
		b = append(b, `,"time":"`...)
		b = at.AppendFormat(b, time.RFC3339)
		b = append(b, `"}`...)
		out[k] = message{topic: prefix + "value/" + d.sources[s] + "/" + metric + "/" + unit, payload: b, first: k, n: 1}
	}
	return out
}

// probeRow is the row of a message the latency probe watches, if any:
// the first row stands for the message, whose rows reach the writers
// together.
func (d *dataset) probeRow(m message) (probeKey, bool) {
	if !m.probe {
		return probeKey{}, false
	}
	s, at, _ := d.row(m.first)
	return probeKey{source: s, at: at.UnixMicro()}, true
}
