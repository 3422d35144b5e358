package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
)

// The baselines below decode the same bodies with the libraries the
// hand-written decoders replace, into the same rows, so that the benchmarks
// can show what the hand-written code buys (the ratio at the top of
// decode_json.go and decode_arrow.go). They check nothing a client could
// get wrong: they are the fastest honest use of each library.

// stdJSONReading and stdJSONSeries are the two accepted JSON shapes as
// encoding/json structs.
type stdJSONReading struct {
	Source string    `json:"source"`
	Metric string    `json:"metric"`
	Time   time.Time `json:"time"`
	Value  float64   `json:"value"`
	Unit   string    `json:"unit"`
}

type stdJSONSeries struct {
	Source string               `json:"source"`
	Metric string               `json:"metric"`
	Unit   string               `json:"unit"`
	Points []stdJSONSeriesPoint `json:"points"`
}

// stdJSONSeriesPoint is a [time, value] pair.
type stdJSONSeriesPoint struct {
	Time  time.Time
	Value float64
}

func (p *stdJSONSeriesPoint) UnmarshalJSON(b []byte) error {
	pair := [2]any{&p.Time, &p.Value}
	return json.Unmarshal(b, &pair)
}

// decodeStdJSON is DecodeJSON's work done by encoding/json.
func decodeStdJSON(body []byte) ([]Row, []RowError, error) {
	var doc struct {
		Readings []stdJSONReading `json:"readings"`
		Series   []stdJSONSeries  `json:"series"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, err
	}
	rows := make([]Row, 0, len(doc.Readings))
	for _, r := range doc.Readings {
		rows = append(rows, Row{Index: len(rows), Source: r.Source, Metric: r.Metric, Unit: r.Unit,
			Time: r.Time.UTC().Truncate(time.Microsecond), Value: r.Value})
	}
	for _, s := range doc.Series {
		for _, p := range s.Points {
			rows = append(rows, Row{Index: len(rows), Source: s.Source, Metric: s.Metric, Unit: s.Unit,
				Time: p.Time.UTC().Truncate(time.Microsecond), Value: p.Value})
		}
	}
	return rows, nil, nil
}

// decodeStockArrow is DecodeArrow's work done by the stock ipc.Reader record
// path, for streams of the benchmark's shape: utf8 or dictionary-of-utf8
// text, nanosecond times, float64 values.
func decodeStockArrow(body []byte) ([]Row, []RowError, error) {
	rd, err := ipc.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	defer rd.Release()
	var rows []Row
	for rd.Next() {
		rec := rd.Record()
		cols := map[string]arrow.Array{}
		for i, f := range rec.Schema().Fields() {
			cols[f.Name] = rec.Column(i)
		}
		times, ok := cols["time"].(*array.Timestamp)
		values, ok2 := cols["value"].(*array.Float64)
		if !ok || !ok2 {
			return nil, nil, fmt.Errorf("time %T, value %T: not the benchmark's types", cols["time"], cols["value"])
		}
		source, metric, unit := stockArrowText(cols["source"]), stockArrowText(cols["metric"]), stockArrowText(cols["unit"])
		for i := range int(rec.NumRows()) {
			rows = append(rows, Row{Index: len(rows), Source: source(i), Metric: metric(i), Unit: unit(i),
				Time: time.Unix(0, int64(times.Value(i))).UTC().Truncate(time.Microsecond), Value: values.Value(i)})
		}
	}
	return rows, nil, rd.Err()
}

// stockArrowText reads a utf8 column or a dictionary of utf8, resolved once
// per batch.
func stockArrowText(col arrow.Array) func(i int) string {
	switch a := col.(type) {
	case *array.String:
		return a.Value
	case *array.Dictionary:
		dict := a.Dictionary().(*array.String)
		return func(i int) string { return dict.Value(a.GetValueIndex(i)) }
	}
	return func(int) string { return "" }
}

// TestBaselinesDecodeTheSameRows checks that the benchmarks compare equal
// work: each baseline reads the benchmark bodies into the rows the
// hand-written decoder returns.
func TestBaselinesDecodeTheSameRows(t *testing.T) {
	t.Parallel()
	rows := decodeBenchRows(500)
	for name, c := range map[string]struct {
		body     []byte
		baseline func([]byte) ([]Row, []RowError, error)
		decode   func([]byte) ([]Row, []RowError, error)
	}{
		"json readings":    {decodeBenchJSON(rows), decodeStdJSON, DecodeJSON},
		"json series":      {decodeBenchSeries(rows), decodeStdJSON, DecodeJSON},
		"arrow utf8":       {decodeBenchArrow(t, rows, false, 200), decodeStockArrow, DecodeArrow},
		"arrow dictionary": {decodeBenchArrow(t, rows, true, 200), decodeStockArrow, DecodeArrow},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, _, err := c.decode(c.body)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := c.baseline(c.body)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("baseline read %d rows, the decoder %d", len(got), len(want))
			}
			for i := range want {
				if g, w := got[i], want[i]; g.Source != w.Source || g.Metric != w.Metric || g.Unit != w.Unit || !g.Time.Equal(w.Time) || g.Value != w.Value {
					t.Fatalf("row %d: baseline %+v, decoder %+v", i, g, w)
				}
			}
		})
	}
}

// baselineBench decodes body with the hand-written decoder and with the
// library baseline in turns, so that both meet the same machine load, and
// reports the baseline's time over the decoder's (baseline/decoder: how
// many times faster the hand-written code is) beside each one's time per
// row.
func baselineBench(b *testing.B, decode, baseline func([]byte) ([]Row, []RowError, error), body []byte, n int) {
	b.Helper()
	b.ReportAllocs()
	var own, lib time.Duration
	for b.Loop() {
		for _, c := range []struct {
			f     func([]byte) ([]Row, []RowError, error)
			spent *time.Duration
		}{{decode, &own}, {baseline, &lib}} {
			start := time.Now()
			rows, _, err := c.f(body)
			*c.spent += time.Since(start)
			if err != nil || len(rows) != n {
				b.Fatalf("got %d rows, err %v; want %d rows", len(rows), err, n)
			}
		}
	}
	total := float64(n) * float64(b.N)
	b.ReportMetric(float64(lib)/float64(own), "baseline/decoder")
	b.ReportMetric(float64(own.Nanoseconds())/total, "decoder-ns/row")
	b.ReportMetric(float64(lib.Nanoseconds())/total, "baseline-ns/row")
}
