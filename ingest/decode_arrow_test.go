package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// arrowTestCol is a column of a test batch: values of the Go type matching
// typ (string, int64 for timestamps, float64, float32, int64 or int32), nil
// for null.
type arrowTestCol struct {
	name string
	typ  arrow.DataType
	vals []any
}

// arrowTestArray builds an array of typ. A dictionary gets its values in
// order of first appearance; a dictionary value of nil is a null in the
// dictionary itself, which rows then point at.
func arrowTestArray(t testing.TB, typ arrow.DataType, vals []any) arrow.Array {
	t.Helper()
	mem := memory.DefaultAllocator
	if dt, ok := typ.(*arrow.DictionaryType); ok {
		var distinct []any
		pos := map[any]int{}
		idx := array.NewBuilder(mem, dt.IndexType)
		defer idx.Release()
		for _, v := range vals {
			if v == nil {
				idx.AppendNull()
				continue
			}
			k, ok := pos[v]
			if !ok {
				k = len(distinct)
				pos[v] = k
				distinct = append(distinct, v)
			}
			arrowTestAppend(t, idx, int64(k))
		}
		for k, v := range distinct {
			if _, ok := v.(arrowTestNullInDict); ok {
				distinct[k] = nil
			}
		}
		indices := idx.NewArray()
		defer indices.Release()
		dict := arrowTestArray(t, dt.ValueType, distinct)
		defer dict.Release()
		return array.NewDictionaryArray(dt, indices, dict)
	}
	b := array.NewBuilder(mem, typ)
	defer b.Release()
	for _, v := range vals {
		arrowTestAppend(t, b, v)
	}
	return b.NewArray()
}

// arrowTestNullInDict as a dictionary column's value makes a null entry in
// the dictionary (not a null index).
type arrowTestNullInDict bool

func arrowTestAppend(t testing.TB, b array.Builder, v any) {
	t.Helper()
	if v == nil {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.LargeStringBuilder:
		b.Append(v.(string))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v.(int64)))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.Float32Builder:
		b.Append(v.(float32))
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Int32Builder:
		b.Append(int32(v.(int64)))
	case *array.Int8Builder:
		b.Append(int8(v.(int64)))
	case *array.Uint8Builder:
		b.Append(uint8(v.(int64)))
	case *array.Int16Builder:
		b.Append(int16(v.(int64)))
	case *array.Uint16Builder:
		b.Append(uint16(v.(int64)))
	case *array.Uint32Builder:
		b.Append(uint32(v.(int64)))
	case *array.Uint64Builder:
		b.Append(uint64(v.(int64)))
	default:
		t.Fatalf("no test builder for %T", b)
	}
}

// arrowTestStream writes the batches, which share the first one's schema, as
// an IPC stream.
func arrowTestStream(t testing.TB, opts []ipc.Option, batches ...[]arrowTestCol) []byte {
	t.Helper()
	var fields []arrow.Field
	for _, c := range batches[0] {
		fields = append(fields, arrow.Field{Name: c.name, Type: c.typ, Nullable: true})
	}
	schema := arrow.NewSchema(fields, nil)
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, append([]ipc.Option{ipc.WithSchema(schema)}, opts...)...)
	for _, batch := range batches {
		cols := make([]arrow.Array, len(batch))
		for i, c := range batch {
			cols[i] = arrowTestArray(t, c.typ, c.vals)
			defer cols[i].Release()
		}
		rec := array.NewRecord(schema, cols, int64(cols[0].Len()))
		if err := w.Write(rec); err != nil {
			t.Fatalf("write record: %v", err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}
	return buf.Bytes()
}

var (
	arrowUTF8      = arrow.BinaryTypes.String
	arrowLargeUTF8 = arrow.BinaryTypes.LargeString
	arrowNanosUTC  = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}
)

func arrowDict(index arrow.DataType, value arrow.DataType) arrow.DataType {
	return &arrow.DictionaryType{IndexType: index, ValueType: value}
}

// arrowTestBatch is a batch of the four required columns with the given
// types and values.
func arrowTestBatch(textType, timeType, valueType arrow.DataType, sources, metrics []any, times []any, values []any) []arrowTestCol {
	return []arrowTestCol{
		{"source", textType, sources},
		{"metric", textType, metrics},
		{"time", timeType, times},
		{"value", valueType, values},
	}
}

func TestDecodeArrow(t *testing.T) {
	t.Parallel()
	t0 := decodeTime("2026-03-01T12:00:00Z")
	sec := t0.Unix()
	row := func(i int, source, metric, unit string, at time.Time, v float64) Row {
		return Row{Index: i, Source: source, Metric: metric, Unit: unit, Time: at, Value: v}
	}
	two := func(textType, timeType, valueType arrow.DataType, t1, t2 int64, v1, v2 any) []arrowTestCol {
		return arrowTestBatch(textType, timeType, valueType,
			[]any{"CB-0042/1", "CB-0042/2"}, []any{"energy_import", "soc"}, []any{t1, t2}, []any{v1, v2})
	}
	twoRows := func(at1, at2 time.Time, v1, v2 float64) []Row {
		return []Row{row(0, "CB-0042/1", "energy_import", "", at1, v1), row(1, "CB-0042/2", "soc", "", at2, v2)}
	}

	type arrowCase struct {
		name     string
		opts     []ipc.Option
		batches  [][]arrowTestCol
		want     []Row
		rejected []decodeRejection
		wantErr  string
	}
	var cases []arrowCase

	// Every text type with every timestamp unit, with and without a zone,
	// and every value type.
	texts := map[string]arrow.DataType{
		"utf8":                   arrowUTF8,
		"large_utf8":             arrowLargeUTF8,
		"dictionary int8 utf8":   arrowDict(arrow.PrimitiveTypes.Int8, arrowUTF8),
		"dictionary uint8 utf8":  arrowDict(arrow.PrimitiveTypes.Uint8, arrowUTF8),
		"dictionary int16 utf8":  arrowDict(arrow.PrimitiveTypes.Int16, arrowUTF8),
		"dictionary uint16 utf8": arrowDict(arrow.PrimitiveTypes.Uint16, arrowUTF8),
		"dictionary int32 utf8":  arrowDict(arrow.PrimitiveTypes.Int32, arrowUTF8),
		"dictionary uint32 utf8": arrowDict(arrow.PrimitiveTypes.Uint32, arrowUTF8),
		"dictionary int64 utf8":  arrowDict(arrow.PrimitiveTypes.Int64, arrowUTF8),
		"dictionary uint64 utf8": arrowDict(arrow.PrimitiveTypes.Uint64, arrowUTF8),
		"dictionary large_utf8":  arrowDict(arrow.PrimitiveTypes.Int32, arrowLargeUTF8),
	}
	units := []struct {
		unit arrow.TimeUnit
		per  int64
	}{{arrow.Second, 1}, {arrow.Millisecond, 1e3}, {arrow.Microsecond, 1e6}, {arrow.Nanosecond, 1e9}}
	for name, text := range texts {
		for _, u := range units {
			for _, zone := range []string{"", "UTC", "Europe/Berlin"} {
				timeType := &arrow.TimestampType{Unit: u.unit, TimeZone: zone}
				cases = append(cases, arrowCase{
					name:    name + " " + timeType.String(),
					batches: [][]arrowTestCol{two(text, timeType, arrow.PrimitiveTypes.Float64, sec*u.per, (sec+1)*u.per, 1.5, -2.25)},
					want:    twoRows(t0, t0.Add(time.Second), 1.5, -2.25),
				})
			}
		}
	}
	cases = append(cases,
		arrowCase{
			name:    "float32 values",
			batches: [][]arrowTestCol{two(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float32, sec*1e9, sec*1e9, float32(0.5), float32(-3e38))},
			want:    twoRows(t0, t0, 0.5, float64(float32(-3e38))),
		},
		arrowCase{
			name:    "int64 values",
			batches: [][]arrowTestCol{two(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Int64, sec*1e9, sec*1e9, int64(15230), int64(-1)<<60)},
			want:    twoRows(t0, t0, 15230, -(1 << 60)),
		},
		arrowCase{
			name: "sub-microsecond and pre-1970 times truncate toward the past",
			batches: [][]arrowTestCol{
				arrowTestBatch(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64,
					[]any{"a", "a", "a"}, []any{"m", "m", "m"},
					[]any{sec*1e9 + 123456789, int64(-1), int64(-1_000_001)}, []any{1.0, 2.0, 3.0}),
			},
			want: []Row{
				row(0, "a", "m", "", t0.Add(123456*time.Microsecond), 1),
				row(1, "a", "m", "", decodeTime("1969-12-31T23:59:59.999999Z"), 2),
				row(2, "a", "m", "", decodeTime("1969-12-31T23:59:59.998999Z"), 3),
			},
		},
		arrowCase{
			name: "pre-1970 milliseconds",
			batches: [][]arrowTestCol{
				arrowTestBatch(arrowUTF8, &arrow.TimestampType{Unit: arrow.Millisecond}, arrow.PrimitiveTypes.Float64,
					[]any{"a", "a"}, []any{"m", "m"}, []any{int64(-1), int64(-86_400_001)}, []any{4.0, 5.0}),
			},
			want: []Row{
				row(0, "a", "m", "", decodeTime("1969-12-31T23:59:59.999Z"), 4),
				row(1, "a", "m", "", decodeTime("1969-12-30T23:59:59.999Z"), 5),
			},
		},
		arrowCase{
			name: "unit column, utf8 and dictionary, null is no unit",
			batches: [][]arrowTestCol{{
				{"unit", arrowUTF8, []any{"kWh", nil, ""}},
				{"VALUE", arrow.PrimitiveTypes.Float64, []any{1.0, 2.0, 3.0}},
				{"Time", arrowNanosUTC, []any{sec * 1e9, sec * 1e9, sec * 1e9}},
				{"metric", arrowUTF8, []any{"m", "m", "m"}},
				{"source", arrowUTF8, []any{"a", "b", "c"}},
			}, {
				{"unit", arrowUTF8, []any{"W"}},
				{"VALUE", arrow.PrimitiveTypes.Float64, []any{4.0}},
				{"Time", arrowNanosUTC, []any{sec * 1e9}},
				{"metric", arrowUTF8, []any{"m"}},
				{"source", arrowUTF8, []any{"d"}},
			}},
			want: []Row{
				row(0, "a", "m", "kWh", t0, 1), row(1, "b", "m", "", t0, 2),
				row(2, "c", "m", "", t0, 3), row(3, "d", "m", "W", t0, 4),
			},
		},
		arrowCase{
			name: "dictionary unit with a null",
			batches: [][]arrowTestCol{append(
				arrowTestBatch(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64,
					[]any{"a", "a", "a"}, []any{"m", "m", "m"}, []any{sec * 1e9, sec * 1e9, sec * 1e9}, []any{1.0, 2.0, 3.0}),
				arrowTestCol{"unit", arrowDict(arrow.PrimitiveTypes.Int16, arrowUTF8), []any{"Wh", nil, "Wh"}})},
			want: []Row{row(0, "a", "m", "Wh", t0, 1), row(1, "a", "m", "", t0, 2), row(2, "a", "m", "Wh", t0, 3)},
		},
		arrowCase{
			name: "row errors",
			batches: [][]arrowTestCol{
				arrowTestBatch(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64,
					[]any{nil, "a", "a", "a", "", "a", "a", "a", "a", "a\xff", "a", "ok"},
					[]any{"m", nil, "m", "m", "m", "", "m", "m", "m", "m", "m", "m"},
					[]any{sec * 1e9, sec * 1e9, nil, sec * 1e9, sec * 1e9, sec * 1e9, sec * 1e9, sec * 1e9, sec * 1e9, sec * 1e9, sec * 1e9, sec * 1e9},
					[]any{1.0, 1.0, 1.0, nil, 1.0, 1.0, math.NaN(), math.Inf(1), math.Inf(-1), 1.0, 1.0, 9.0}),
			},
			want: []Row{row(10, "a", "m", "", t0, 1), row(11, "ok", "m", "", t0, 9)},
			rejected: []decodeRejection{
				{0, CodeMalformed, "source: null"},
				{1, CodeMalformed, "metric: null"},
				{2, CodeMalformed, "time: null"},
				{3, CodeMalformed, "value: null"},
				{4, CodeMalformed, "source: empty"},
				{5, CodeMalformed, "metric: empty"},
				{6, CodeInvalidValue, "value: NaN is not a finite number"},
				{7, CodeInvalidValue, "value: +Inf is not a finite number"},
				{8, CodeInvalidValue, "value: -Inf is not a finite number"},
				{9, CodeMalformed, "source: not valid text"},
			},
		},
		arrowCase{
			name: "dictionary row errors, indexes across batches",
			batches: [][]arrowTestCol{
				arrowTestBatch(arrowDict(arrow.PrimitiveTypes.Int32, arrowUTF8), arrowNanosUTC, arrow.PrimitiveTypes.Float32,
					[]any{"a", nil, "a", arrowTestNullInDict(true), "", "b\x00"},
					[]any{"m", "m", nil, "m", "m", "m"},
					[]any{sec * 1e9, sec * 1e9, sec * 1e9, sec * 1e9, sec * 1e9, sec * 1e9},
					[]any{float32(1), float32(1), float32(1), float32(1), float32(1), float32(1)}),
				arrowTestBatch(arrowDict(arrow.PrimitiveTypes.Int32, arrowUTF8), arrowNanosUTC, arrow.PrimitiveTypes.Float32,
					[]any{"c", "c"}, []any{"m", "n"}, []any{sec * 1e9, sec * 1e9}, []any{float32(math.NaN()), float32(2)}),
			},
			want: []Row{row(0, "a", "m", "", t0, 1), row(7, "c", "n", "", t0, 2)},
			rejected: []decodeRejection{
				{1, CodeMalformed, "source: null"},
				{2, CodeMalformed, "metric: null"},
				{3, CodeMalformed, "source: null"},
				{4, CodeMalformed, "source: empty"},
				{5, CodeMalformed, "source: not valid text"},
				{6, CodeInvalidValue, "value: NaN"},
			},
		},
		arrowCase{
			name: "batches sharing a dictionary",
			batches: [][]arrowTestCol{
				arrowTestBatch(arrowDict(arrow.PrimitiveTypes.Int32, arrowUTF8), arrowNanosUTC, arrow.PrimitiveTypes.Float64,
					[]any{"a", "b\x00"}, []any{"m", "m"}, []any{sec * 1e9, sec * 1e9}, []any{1.0, 2.0}),
				arrowTestBatch(arrowDict(arrow.PrimitiveTypes.Int32, arrowUTF8), arrowNanosUTC, arrow.PrimitiveTypes.Float64,
					[]any{"a", "b\x00", "a"}, []any{"m", "m", "m"}, []any{sec * 1e9, sec * 1e9, sec * 1e9}, []any{3.0, 4.0, 5.0}),
			},
			want: []Row{row(0, "a", "m", "", t0, 1), row(2, "a", "m", "", t0, 3), row(4, "a", "m", "", t0, 5)},
			rejected: []decodeRejection{
				{1, CodeMalformed, "source: not valid text"},
				{3, CodeMalformed, "source: not valid text"},
			},
		},
		arrowCase{
			name: "times outside years 0000-9999",
			batches: [][]arrowTestCol{
				arrowTestBatch(arrowUTF8, &arrow.TimestampType{Unit: arrow.Second}, arrow.PrimitiveTypes.Float64,
					[]any{"a", "a", "a", "a"}, []any{"m", "m", "m", "m"},
					[]any{int64(math.MaxInt64), int64(math.MinInt64), int64(253402300799), int64(253402300800)},
					[]any{1.0, 1.0, 1.0, 1.0}),
			},
			want: []Row{row(2, "a", "m", "", decodeTime("9999-12-31T23:59:59Z"), 1)},
			rejected: []decodeRejection{
				{0, CodeMalformed, "time: 9223372036854775807 s since 1970 is out of range"},
				{1, CodeMalformed, "time: -9223372036854775808 s since 1970 is out of range"},
				{3, CodeMalformed, "time: 253402300800 s since 1970 is out of range"},
			},
		},
		arrowCase{
			name: "dictionary deltas",
			opts: []ipc.Option{ipc.WithDictionaryDeltas(true)},
			batches: [][]arrowTestCol{
				arrowTestBatch(arrowDict(arrow.PrimitiveTypes.Int32, arrowUTF8), arrowNanosUTC, arrow.PrimitiveTypes.Float64,
					[]any{"a"}, []any{"m"}, []any{sec * 1e9}, []any{1.0}),
				arrowTestBatch(arrowDict(arrow.PrimitiveTypes.Int32, arrowUTF8), arrowNanosUTC, arrow.PrimitiveTypes.Float64,
					[]any{"a", "b"}, []any{"m", "n"}, []any{sec * 1e9, sec * 1e9}, []any{2.0, 3.0}),
			},
			want: []Row{row(0, "a", "m", "", t0, 1), row(1, "a", "m", "", t0, 2), row(2, "b", "n", "", t0, 3)},
		},
		arrowCase{
			name:    "lz4 compressed",
			opts:    []ipc.Option{ipc.WithLZ4()},
			batches: [][]arrowTestCol{two(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64, sec*1e9, sec*1e9, 1.0, 2.0)},
			want:    twoRows(t0, t0, 1, 2),
		},
		arrowCase{
			name:    "zstd compressed",
			opts:    []ipc.Option{ipc.WithZstd()},
			batches: [][]arrowTestCol{two(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64, sec*1e9, sec*1e9, 1.0, 2.0)},
			want:    twoRows(t0, t0, 1, 2),
		},
		arrowCase{
			name: "zero rows",
			batches: [][]arrowTestCol{
				arrowTestBatch(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64, nil, nil, nil, nil),
			},
		},
		arrowCase{
			name: "missing column",
			batches: [][]arrowTestCol{{
				{"source", arrowUTF8, []any{"a"}}, {"metric", arrowUTF8, []any{"m"}}, {"time", arrowNanosUTC, []any{int64(0)}},
			}},
			wantErr: `arrow: missing column "value"`,
		},
		arrowCase{
			name:    "unknown column",
			batches: [][]arrowTestCol{append(two(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64, 0, 0, 1.0, 2.0), arrowTestCol{"quality", arrowUTF8, []any{"good", "bad"}})},
			wantErr: `arrow: unknown column "quality"`,
		},
		arrowCase{
			name:    "duplicate column",
			batches: [][]arrowTestCol{append(two(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64, 0, 0, 1.0, 2.0), arrowTestCol{"Source", arrowUTF8, []any{"a", "b"}})},
			wantErr: `arrow: duplicate column "Source"`,
		},
		arrowCase{
			name:    "int32 values",
			batches: [][]arrowTestCol{two(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Int32, 0, 0, int64(1), int64(2))},
			wantErr: `arrow: column "value" has type int32, want float64, float32 or int64`,
		},
		arrowCase{
			name:    "int64 times",
			batches: [][]arrowTestCol{two(arrowUTF8, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64, 0, 0, 1.0, 2.0)},
			wantErr: `arrow: column "time" has type int64, want timestamp`,
		},
		arrowCase{
			name:    "float sources",
			batches: [][]arrowTestCol{{{"source", arrow.PrimitiveTypes.Float64, []any{1.0}}, {"metric", arrowUTF8, []any{"m"}}, {"time", arrowNanosUTC, []any{int64(0)}}, {"value", arrow.PrimitiveTypes.Float64, []any{1.0}}}},
			wantErr: `arrow: column "source" has type float64, want utf8, large_utf8 or a dictionary of them`,
		},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := arrowTestStream(t, tc.opts, tc.batches...)
			rows, rejected, err := DecodeArrow(body)
			decodeCheck(t, rows, rejected, err, tc.want, tc.rejected, tc.wantErr)
		})
	}
}

// TestDecodeArrowMalformed checks bodies that are not Arrow streams, or
// damaged ones.
func TestDecodeArrowMalformed(t *testing.T) {
	t.Parallel()
	good := arrowTestStream(t, nil, arrowTestBatch(arrowDict(arrow.PrimitiveTypes.Int8, arrowUTF8), arrowNanosUTC, arrow.PrimitiveTypes.Float64,
		[]any{"a", "b"}, []any{"m", "m"}, []any{int64(0), int64(1)}, []any{1.0, 2.0}))
	if _, _, err := DecodeArrow(good); err != nil {
		t.Fatalf("the undamaged stream does not decode: %v", err)
	}
	// The schema message alone, then its end-of-stream marker.
	schemaOnly := arrowTestStream(t, nil, arrowTestBatch(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64, nil, nil, nil, nil))
	tests := []struct {
		name    string
		body    []byte
		wantErr string
	}{
		{"empty", nil, "arrow: empty body"},
		{"JSON", []byte(`{"readings":[]}`), "arrow: "},
		{"zeros", make([]byte, 64), "arrow: "},
		{"huge metadata length", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3}, "message metadata length 2147483647 does not fit"},
		{"negative metadata length", []byte{0xff, 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff, 1, 2, 3}, "message metadata length -16 does not fit"},
		{"truncated prefix", []byte{0xff, 0xff}, "arrow: "},
		{"truncated", good[:len(good)-20], "arrow: "},
		{"truncated schema", good[:40], "arrow: "},
		{"schema without end marker", schemaOnly[:len(schemaOnly)-8], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, rejected, err := DecodeArrow(tt.body)
			if tt.wantErr == "" {
				if err != nil || len(rows)+len(rejected) != 0 {
					t.Fatalf("got %v, %v, %v; want no rows and no error", rows, rejected, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}

	// Every truncation and every single-byte corruption of the stream is
	// an error or a decoding, never a panic.
	for n := range len(good) {
		DecodeArrow(good[:n])
	}
	for i := range good {
		for _, c := range []byte{0x00, 0xff, good[i] ^ 0x80, good[i] + 1} {
			damaged := bytes.Clone(good)
			damaged[i] = c
			rows, rejected, err := DecodeArrow(damaged)
			if err == nil {
				decodeCheckIndexes(t, rows, rejected)
			}
		}
	}
}

// TestDecodeArrowMemoryBudget checks that a stream decoding into more memory
// than its budget is refused.
func TestDecodeArrowMemoryBudget(t *testing.T) {
	t.Parallel()
	n := 10_000
	sources, metrics, times, values := make([]any, n), make([]any, n), make([]any, n), make([]any, n)
	for i := range n {
		sources[i], metrics[i], times[i], values[i] = "CB-0001/1", "energy_import", int64(0), 0.0
	}
	body := arrowTestStream(t, []ipc.Option{ipc.WithZstd()}, arrowTestBatch(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64, sources, metrics, times, values))
	if rows, _, err := decodeArrow(body, arrowMemoryBase, 0); err != nil || len(rows) != n {
		t.Fatalf("with the default budget: %d rows, err %v; want %d rows", len(rows), err, n)
	}
	var tl *TooLargeError
	if _, _, err := decodeArrow(body, 64<<10, 0); !errors.As(err, &tl) || !strings.Contains(err.Error(), "more than 65536 bytes") {
		t.Fatalf("with a 64 KiB budget for %d compressed bytes: err = %v, want the budget exceeded", len(body), err)
	}
}

// TestDecodeArrowRowBomb checks that the rows a stream decodes into count
// against its budget: columns that fit in it may still hold more rows than
// it allows, and those are refused before they are allocated.
func TestDecodeArrowRowBomb(t *testing.T) {
	t.Parallel()
	n := 10_000
	sources, metrics, times, values := make([]any, n), make([]any, n), make([]any, n), make([]any, n)
	for i := range n {
		sources[i], metrics[i], times[i], values[i] = "CB-0001/1", "energy_import", int64(0), 0.0
	}
	body := arrowTestStream(t, []ipc.Option{ipc.WithZstd()}, arrowTestBatch(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64, sources, metrics, times, values))
	// The columns take 8+4+9+4+13+8 = 46 bytes a row, a Row twice as many.
	budget := int64(n) * (46 + arrowRowBytes/2)
	var tl *TooLargeError
	if rows, _, err := decodeArrow(body, budget, 0); !errors.As(err, &tl) {
		t.Fatalf("%d rows of %d bytes in a budget of %d bytes: %d rows, err %v; want a *TooLargeError", n, arrowRowBytes, budget, len(rows), err)
	}
	if rows, _, err := decodeArrow(body, budget+int64(n)*arrowRowBytes, 0); err != nil || len(rows) != n {
		t.Fatalf("with room for the rows: %d rows, err %v; want %d", len(rows), err, n)
	}
}

// TestDecodeMaxRows checks that every decoder stops past the rows one
// request may carry, counting only rows it accepts, and lists at most
// MaxRejected rejections while counting all.
func TestDecodeMaxRows(t *testing.T) {
	t.Parallel()
	const valid, invalid = 50, 3 * MaxRejected
	var js, csv strings.Builder
	js.WriteString(`{"readings":[`)
	csv.WriteString("source,metric,time,value\n")
	sources, metrics, times, values := make([]any, 0), make([]any, 0), make([]any, 0), make([]any, 0)
	for i := range valid + invalid {
		v, jv, fv := "1", "1", any(1.0)
		if i%((valid+invalid)/valid) != 0 || i/((valid+invalid)/valid) >= valid {
			v, jv, fv = "NaN", "null", math.NaN()
		}
		if i > 0 {
			js.WriteString(",")
		}
		fmt.Fprintf(&js, `{"source":"M-1","metric":"energy_import","time":"2024-01-01T00:00:%02dZ","value":%s}`, i%60, jv)
		fmt.Fprintf(&csv, "M-1,energy_import,2024-01-01T00:00:%02dZ,%s\n", i%60, v)
		sources, metrics, times, values = append(sources, "M-1"), append(metrics, "energy_import"), append(times, int64(i)), append(values, fv)
	}
	js.WriteString("]}")
	arrowBody := arrowTestStream(t, nil, arrowTestBatch(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64, sources, metrics, times, values))
	decoders := map[string]func(int) ([]Row, Rejections, error){
		"json":  func(max int) ([]Row, Rejections, error) { return decodeJSON([]byte(js.String()), max) },
		"csv":   func(max int) ([]Row, Rejections, error) { return decodeCSV([]byte(csv.String()), max) },
		"arrow": func(max int) ([]Row, Rejections, error) { return decodeArrow(arrowBody, arrowBudgetOf(arrowBody), max) },
	}
	for name, decode := range decoders {
		t.Run(name, func(t *testing.T) {
			rows, rej, err := decode(valid)
			if err != nil || rej.Total != invalid || len(rej.List) != MaxRejected {
				t.Fatalf("at the bound: %d rows, %d listed of %d rejected, err %v; want %d rows, %d of %d", len(rows), len(rej.List), rej.Total, err, valid, MaxRejected, invalid)
			}
			if len(rows) != valid {
				t.Fatalf("%d rows, want %d", len(rows), valid)
			}
			for i, e := range rej.List[1:] {
				if e.Index <= rej.List[i].Index {
					t.Fatalf("rejections out of order at %d: %v", i, rej.List[i:i+2])
				}
			}
			var tl *TooLargeError
			if _, _, err := decode(valid - 1); !errors.As(err, &tl) || tl.Limit != valid-1 || !strings.Contains(err.Error(), fmt.Sprint(valid-1)) {
				t.Fatalf("past the bound: err %v, want a *TooLargeError naming %d", err, valid-1)
			}
		})
	}
}

// decodeCheckIndexes checks that the rows and rejections account for every
// index in [0, n) exactly once and are each in index order.
//
// With MaxRejected rejections listed, more may have been counted and not
// listed: then the indexes up to the last one listed are all accounted for.
func decodeCheckIndexes(t testing.TB, rows []Row, rejected []RowError) {
	t.Helper()
	n := len(rows) + len(rejected)
	capped := len(rejected) == MaxRejected
	if capped {
		for _, r := range rows {
			n = max(n, r.Index+1)
		}
	}
	seen := make([]bool, n)
	defer func() {
		if capped {
			for i, ok := range seen[:rejected[len(rejected)-1].Index+1] {
				if !ok {
					t.Fatalf("index %d is in neither rows nor the listed rejections", i)
				}
			}
		}
	}()
	mark := func(i int) {
		if i < 0 || i >= n || seen[i] {
			t.Fatalf("index %d is out of [0, %d) or repeated; rows %+v, rejected %+v", i, n, rows, rejected)
		}
		seen[i] = true
	}
	for k, r := range rows {
		mark(r.Index)
		if k > 0 && rows[k-1].Index >= r.Index {
			t.Fatalf("rows out of index order at %d", k)
		}
	}
	for k, r := range rejected {
		mark(r.Index)
		if k > 0 && rejected[k-1].Index >= r.Index {
			t.Fatalf("rejections out of index order at %d", k)
		}
		if r.Code == "" || r.Message == "" {
			t.Fatalf("rejection without code or message: %+v", r)
		}
	}
}

// TestDecodeArrowLarge decodes many rows in several batches and checks that
// repeated strings are shared rather than allocated per row.
func TestDecodeArrowLarge(t *testing.T) {
	t.Parallel()
	want := decodeBenchRows(100_000)
	for _, dict := range []bool{false, true} {
		rows, rejected, err := DecodeArrow(decodeBenchArrow(t, want, dict, 16_384))
		if err != nil || len(rejected) != 0 || len(rows) != len(want) {
			t.Fatalf("dictionary %v: got %d rows, %d rejected, err %v; want %d rows", dict, len(rows), len(rejected), err, len(want))
		}
		sources := map[*byte]bool{}
		for i, r := range rows {
			w := want[i]
			if r.Index != i || r.Source != w.Source || r.Metric != w.Metric || r.Unit != w.Unit || !r.Time.Equal(w.Time) || r.Value != w.Value {
				t.Fatalf("dictionary %v: row %d = %+v, want %+v", dict, i, r, w)
			}
			sources[unsafe.StringData(r.Source)] = true
		}
		if len(sources) != 100 {
			t.Errorf("dictionary %v: sources use %d distinct strings, want 100 (interned)", dict, len(sources))
		}
	}
}

// decodeBenchArrow writes rows as a stream of batches of up to batch rows,
// with text columns as utf8 or dictionaries.
func decodeBenchArrow(t testing.TB, rows []Row, dict bool, batch int) []byte {
	t.Helper()
	var text arrow.DataType = arrowUTF8
	if dict {
		text = arrowDict(arrow.PrimitiveTypes.Int32, arrowUTF8)
	}
	var batches [][]arrowTestCol
	for start := 0; start < len(rows); start += batch {
		part := rows[start:min(start+batch, len(rows))]
		sources, metrics, units, times, values := make([]any, len(part)), make([]any, len(part)), make([]any, len(part)), make([]any, len(part)), make([]any, len(part))
		for i, r := range part {
			sources[i], metrics[i], units[i], times[i], values[i] = r.Source, r.Metric, r.Unit, r.Time.UnixNano(), r.Value
		}
		batches = append(batches, append(arrowTestBatch(text, arrowNanosUTC, arrow.PrimitiveTypes.Float64, sources, metrics, times, values),
			arrowTestCol{"unit", text, units}))
	}
	return arrowTestStream(t, nil, batches...)
}

func BenchmarkDecodeArrow(b *testing.B) {
	rows := decodeBenchRows(10_000)
	b.Run("utf8", func(b *testing.B) {
		decodeBench(b, DecodeArrow, decodeBenchArrow(b, rows, false, len(rows)), len(rows))
	})
	b.Run("dictionary", func(b *testing.B) {
		decodeBench(b, DecodeArrow, decodeBenchArrow(b, rows, true, len(rows)), len(rows))
	})
	// The same streams through the stock ipc.Reader record path
	// (decode_baseline_test.go).
	b.Run("utf8-vs-ipc-reader", func(b *testing.B) {
		baselineBench(b, DecodeArrow, decodeStockArrow, decodeBenchArrow(b, rows, false, len(rows)), len(rows))
	})
	b.Run("dictionary-vs-ipc-reader", func(b *testing.B) {
		baselineBench(b, DecodeArrow, decodeStockArrow, decodeBenchArrow(b, rows, true, len(rows)), len(rows))
	})
}
