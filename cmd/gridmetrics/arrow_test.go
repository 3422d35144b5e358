package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// arrowBody encodes readings as an Arrow IPC stream: source as a
// dictionary, metric as utf8, time in milliseconds, value as float64.
func arrowBody(t *testing.T, srcs, metrics []string, times []time.Time, values []float64) []byte {
	t.Helper()
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "source", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}},
		{Name: "metric", Type: arrow.BinaryTypes.String},
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "value", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range srcs {
		if err := b.Field(0).(*array.BinaryDictionaryBuilder).AppendString(srcs[i]); err != nil {
			t.Fatal(err)
		}
		b.Field(1).(*array.StringBuilder).Append(metrics[i])
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(times[i].UnixMilli()))
		b.Field(3).(*array.Float64Builder).Append(values[i])
	}
	rec := b.NewRecord()
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestIngestArrow(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	e.createSource("M-1", "meter")
	e.createSource("M-2", "meter")
	body := arrowBody(t,
		[]string{"M-1", "M-2", "M-1", "ghost"},
		[]string{"energy_import", "power_import", "energy_import", "energy_import"},
		[]time.Time{base, base, base.Add(time.Second), base},
		[]float64{100, 3300, 101, 1})
	r := e.post("/v1/readings", "application/vnd.apache.arrow.stream", "", body)
	accepted(t, r, 3)
	if codes := rejectedCodes(r); codes[3] != "UNKNOWN_SOURCE" {
		t.Fatalf("rejections %v, want UNKNOWN_SOURCE at 3", codes)
	}
	if got := e.values("M-1", "energy_import"); got[base] != 100 || got[base.Add(time.Second)] != 101 {
		t.Fatalf("M-1 energy %v", got)
	}
	if got := e.values("M-2", "power_import"); got[base] != 3300 {
		t.Fatalf("M-2 power %v", got)
	}
	expect(t, "not Arrow", e.post("/v1/readings", "application/vnd.apache.arrow.stream", "", []byte("nope")), 400, "VALIDATION_ERROR")
}
