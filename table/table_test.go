package table

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/govalues/decimal"
)

var awkward = []string{
	"", "plain", `"`, `say "hi"`, "a,b", "\n", "line\nbreak", "\r", "cr\r\n", " lead", "\tlead", `\.`, `\.x`, `\`,
	"<a href='x'>&</a>", "Čakovec 東京 🚗", "\u2028x\u2029", "\x00\x01\x1f\x7f", "\xff", "ok\xc3", "\xe2\x80",
	"\u00a0nbsp", "\u0085nel", "\u3000ideographic space", "\b\f", "trail ",
}

// FuzzCSVField compares a CSV field with encoding/csv's on any text.
func FuzzCSVField(f *testing.F) {
	for _, s := range awkward {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		cw := csv.NewWriter(&want)
		_ = cw.Write([]string{s, s})
		cw.Flush()
		var got bytes.Buffer
		w := newCSVWriter(&got, []Column{{Name: "a"}, {Name: "b"}})
		w.String(s)
		w.Bytes([]byte(s))
		if err := w.EndRow(); err != nil {
			t.Fatal(err)
		}
		if g, h := got.String(), "a,b\n"; !strings.HasPrefix(g, h) || g[len(h):] != want.String() {
			t.Fatalf("%q: got %q, encoding/csv %q", s, g[len(h):], want.String())
		}
	})
}

func TestFloatForms(t *testing.T) {
	t.Parallel()
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1.5, 1234567.5, 1e20, 1e21, -3.5e22, 1e-6, 9.99e-7, 1.25e-7,
		1e-10, 123456789.123, math.MaxFloat64, math.SmallestNonzeroFloat64, 0.1 + 0.2} {
		want, _ := json.Marshal(v)
		got, err := AppendJSONFloat(nil, v)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("AppendJSONFloat(%g) = %s, %v; encoding/json %s", v, got, err, want)
		}
		plain := string(AppendPlainFloat(nil, v))
		if back, err := strconv.ParseFloat(plain, 64); err != nil || back != v ||
			(math.Abs(v) < 1e21 && strings.ContainsAny(plain, "e")) {
			t.Errorf("AppendPlainFloat(%g) = %s", v, plain)
		}
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := AppendJSONFloat(nil, v); err == nil {
			t.Errorf("AppendJSONFloat(%g): no error", v)
		}
	}
}

var testCols = []Column{
	{Name: "name", Kind: String, Nullable: true},
	{Name: "time", Kind: Time},
	{Name: "value", Kind: Float, Nullable: true},
	{Name: "big", Kind: Float, FloatText: FloatShortestG},
	{Name: "count", Kind: Int},
	{Name: "amount", Kind: Decimal, Scale: 4, Nullable: true},
}

func writeTestRows(t *testing.T, tw Writer, n int) {
	t.Helper()
	base := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)
	for i := range n {
		if i%5 == 0 {
			tw.Null()
		} else {
			tw.String(awkward[i%len(awkward)])
		}
		tw.Time(base.Add(time.Duration(i) * 1500 * time.Microsecond))
		if i%3 == 0 {
			tw.Null()
		} else {
			tw.Float(float64(i) / 8)
		}
		tw.Float(float64(i) * 1e5)
		tw.Int(int64(-i))
		if i%4 == 0 {
			tw.Null()
		} else {
			// Up to 19 digits at scale 2: wider than any int64 at scale 4.
			tw.Decimal(decimal.MustNew(-(int64(i)*1_000_000_000_000_007)%999_999_999_999_999_999, 2))
		}
		if err := tw.EndRow(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestArrowColumns writes rows of every kind in batches, and reads them
// back: each record at most a batch, values, nulls and the zone as written,
// decimals at the column's scale even past 19 digits.
func TestArrowColumns(t *testing.T) {
	t.Parallel()
	const n, batch = 2*7 + 3, 7
	var buf bytes.Buffer
	tw, err := New(Arrow, &buf, testCols, Options{Zone: "Europe/Berlin", Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	writeTestRows(t, tw, n)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var csvBuf bytes.Buffer
	cw, _ := New(CSV, &csvBuf, testCols, Options{})
	writeTestRows(t, cw, n)
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&csvBuf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rd, err := ipc.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	if !rd.Schema().Equal(Schema(testCols, "Europe/Berlin")) {
		t.Fatalf("schema %s", rd.Schema())
	}
	row := 0
	for rd.Next() {
		rec := rd.Record()
		if rec.NumRows() > batch {
			t.Fatalf("a record of %d rows", rec.NumRows())
		}
		for j := 0; j < int(rec.NumRows()); j++ {
			want := recs[row+1]
			name := rec.Column(0).(*array.String)
			// (encoding/csv reads a quoted CR LF as LF.)
			if name.IsNull(j) != (want[0] == "") || (!name.IsNull(j) && strings.ReplaceAll(name.Value(j), "\r\n", "\n") != want[0]) {
				t.Errorf("row %d name %q, want %q", row, name.Value(j), want[0])
			}
			tm, _ := time.Parse(time.RFC3339Nano, want[1])
			if got := rec.Column(1).(*array.Timestamp).Value(j); int64(got) != tm.UnixMicro() {
				t.Errorf("row %d time %d, want %s", row, got, want[1])
			}
			amount := rec.Column(5).(*array.Decimal128)
			if want[5] == "" {
				if !amount.IsNull(j) {
					t.Errorf("row %d amount not null", row)
				}
			} else if got := amount.Value(j).ToString(4); got != decimal.MustParse(want[5]).Pad(4).String() {
				t.Errorf("row %d amount %s, want %s", row, got, want[5])
			}
			row++
		}
	}
	if err := rd.Err(); err != nil || row != n {
		t.Fatalf("%d rows, %v", row, err)
	}
}

// TestRowsMustFit: a row with too few or too many cells, or a cell of the
// wrong kind in Arrow, is an error, and nothing of it is written.
func TestRowsMustFit(t *testing.T) {
	t.Parallel()
	cols := []Column{{Name: "a", Kind: String}, {Name: "b", Kind: Int}}
	for _, f := range []Format{CSV, NDJSON, Arrow} {
		for name, row := range map[string]func(Writer){
			"short": func(w Writer) { w.String("x") },
			"long":  func(w Writer) { w.String("x"); w.Int(1); w.Int(2) },
		} {
			var buf bytes.Buffer
			tw, _ := New(f, &buf, cols, Options{})
			row(tw)
			if err := tw.EndRow(); err == nil {
				t.Errorf("%s, %s row: no error", f, name)
			}
			if f != Arrow && buf.Len() != 0 {
				t.Errorf("%s, %s row: wrote %q", f, name, buf.Bytes())
			}
		}
	}
	tw, _ := New(Arrow, &bytes.Buffer{}, cols, Options{})
	tw.Int(1)
	tw.Int(2)
	if err := tw.EndRow(); err == nil {
		t.Error("arrow: an int in a string column: no error")
	}
	if _, err := New(Arrow, &bytes.Buffer{}, []Column{{Name: "d", Kind: Decimal, Scale: 20}}, Options{}); err == nil {
		t.Error("scale 20: no error")
	}
	if _, err := New("xml", &bytes.Buffer{}, cols, Options{}); err == nil {
		t.Error("format xml: no error")
	}
}

// TestEmptyTables: no rows is a header line, nothing, or a schema and
// the end-of-stream marker.
func TestEmptyTables(t *testing.T) {
	t.Parallel()
	for f, check := range map[Format]func([]byte) bool{
		CSV:    func(b []byte) bool { return string(b) == "name,time,value,big,count,amount\n" },
		NDJSON: func(b []byte) bool { return len(b) == 0 },
		Arrow: func(b []byte) bool {
			rd, err := ipc.NewReader(bytes.NewReader(b))
			if err != nil {
				return false
			}
			defer rd.Release()
			return !rd.Next() && rd.Err() == nil
		},
	} {
		var buf bytes.Buffer
		tw, _ := New(f, &buf, testCols, Options{})
		if err := tw.Close(); err != nil || !check(buf.Bytes()) {
			t.Errorf("empty %s: %q, %v", f, buf.Bytes(), err)
		}
	}
}

// The cells of the benchmarks' row after its name, which each benchmark
// chooses to exercise its format's escaping.
var (
	benchTime   = time.Date(2026, 3, 29, 0, 30, 0, 123456000, time.UTC)
	benchValue  = 12.5
	benchAmount = decimal.MustNew(-1234567, 4)
)

// writeBenchRow writes the benchmarks' row, named name.
func writeBenchRow(tw Writer, name string) {
	tw.String(name)
	tw.Time(benchTime)
	tw.Float(benchValue)
	tw.Float(1e7)
	tw.Int(42)
	tw.Decimal(benchAmount)
	_ = tw.EndRow()
}

// BenchmarkNDJSON writes rows through the NDJSON writer and, as the
// baseline it replaced, json.Marshal of a struct of the same fields.
func BenchmarkNDJSON(b *testing.B) {
	type rec struct {
		Name   *string   `json:"name"`
		Time   time.Time `json:"time"`
		Value  *float64  `json:"value"`
		Big    float64   `json:"big"`
		Count  int64     `json:"count"`
		Amount decimal.NullDecimal
	}
	name, v := "Ladesäule <7>", benchValue
	b.Run("table", func(b *testing.B) {
		b.ReportAllocs()
		tw, _ := New(NDJSON, discard{}, testCols, Options{})
		for b.Loop() {
			writeBenchRow(tw, name)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		r := rec{&name, benchTime, &v, 1e7, 42, decimal.NullDecimal{Decimal: benchAmount, Valid: true}}
		for b.Loop() {
			out, _ := json.Marshal(&r)
			_, _ = discard{}.Write(append(out, '\n'))
		}
	})
}

// BenchmarkArrow writes rows through the Arrow writer and, as the baseline
// it replaced, through Arrow's own builders into the same IPC writer.
func BenchmarkArrow(b *testing.B) {
	const name = "Ladesäule <7>"
	b.Run("table", func(b *testing.B) {
		b.ReportAllocs()
		tw, _ := New(Arrow, discard{}, testCols, Options{})
		for b.Loop() {
			writeBenchRow(tw, name)
		}
	})
	b.Run("arrow_builders", func(b *testing.B) {
		b.ReportAllocs()
		schema := Schema(testCols, "UTC")
		tw := &builderWriter{b: array.NewRecordBuilder(memory.NewGoAllocator(), schema), cols: testCols, batch: DefaultBatch,
			out: ipc.NewWriter(discard{}, ipc.WithSchema(schema))}
		for b.Loop() {
			writeBenchRow(tw, name)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkCSV writes rows through the CSV writer and, as the baseline it
// replaced, through encoding/csv from the texts of the same cells.
func BenchmarkCSV(b *testing.B) {
	const name = `Ladesäule "7", Nord`
	b.Run("table", func(b *testing.B) {
		b.ReportAllocs()
		tw, _ := New(CSV, discard{}, testCols, Options{})
		for b.Loop() {
			writeBenchRow(tw, name)
		}
	})
	b.Run("encoding_csv", func(b *testing.B) {
		b.ReportAllocs()
		cw := csv.NewWriter(discard{})
		rec := make([]string, 6)
		for b.Loop() {
			rec[0] = name
			rec[1] = benchTime.Format(time.RFC3339Nano)
			rec[2] = strconv.FormatFloat(benchValue, 'f', -1, 64)
			rec[3] = strconv.FormatFloat(1e7, 'g', -1, 64)
			rec[4] = strconv.FormatInt(42, 10)
			rec[5] = benchAmount.String()
			_ = cw.Write(rec)
		}
		cw.Flush()
	})
}

// TestArrowReusesBatchMemory: after the first batches, writing more costs
// little new memory — the columns keep their buffers from batch to batch
// instead of allocating a batch's worth every time.
func TestArrowReusesBatchMemory(t *testing.T) {
	const batch, batches = 1024, 40
	tw, err := New(Arrow, discard{}, testCols, Options{Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	writeTestRows(t, tw, 4*batch) // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	writeTestRows(t, tw, batches*batch)
	runtime.ReadMemStats(&after)
	perRow := float64(after.TotalAlloc-before.TotalAlloc) / (batches * batch)
	t.Logf("%.1f bytes allocated a row", perRow)
	if perRow > 16 {
		t.Errorf("%.1f bytes allocated a row in steady state; the batches' buffers are not reused", perRow)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// builderWriter is a reference Writer made of Arrow's own builders, the
// plain way to build record batches, to compare the Arrow writer with.
type builderWriter struct {
	b     *array.RecordBuilder
	cols  []Column
	col   int
	batch int
	out   *ipc.Writer    // where records go, if set
	recs  []arrow.Record // else kept here
}

func (w *builderWriter) field() array.Builder { w.col++; return w.b.Field(w.col - 1) }
func (w *builderWriter) Null()                { w.field().AppendNull() }
func (w *builderWriter) String(s string)      { w.field().(*array.StringBuilder).Append(s) }
func (w *builderWriter) Bytes(b []byte)       { w.String(string(b)) }
func (w *builderWriter) Time(t time.Time) {
	w.field().(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixMicro()))
}
func (w *builderWriter) Float(v float64) { w.field().(*array.Float64Builder).Append(v) }
func (w *builderWriter) Int(v int64)     { w.field().(*array.Int64Builder).Append(v) }
func (w *builderWriter) Decimal(d decimal.Decimal) {
	scale := w.cols[w.col].Scale
	w.field().(*array.Decimal128Builder).Append(decimal128Of(d, scale))
}
func (w *builderWriter) EndRow() error {
	w.col = 0
	if w.b.Field(0).Len() == w.batch {
		return w.emit()
	}
	return nil
}
func (w *builderWriter) Close() error {
	if w.b.Field(0).Len() > 0 {
		return w.emit()
	}
	return nil
}
func (w *builderWriter) emit() error {
	rec := w.b.NewRecord()
	if w.out == nil {
		w.recs = append(w.recs, rec)
		return nil
	}
	defer rec.Release()
	return w.out.Write(rec)
}

// TestArrowMatchesArrowsBuilders: every record batch the writer streams
// equals, column for column, null for null, the one Arrow's builders make
// of the same cells.
func TestArrowMatchesArrowsBuilders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ rows, batch int }{{0, 4}, {1, 4}, {4, 4}, {5, 4}, {2*64 + 9, 64}, {1000, 4096}} {
		var buf bytes.Buffer
		tw, err := New(Arrow, &buf, testCols, Options{Zone: "Asia/Kathmandu", Batch: tc.batch})
		if err != nil {
			t.Fatal(err)
		}
		writeTestRows(t, tw, tc.rows)
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		ref := &builderWriter{b: array.NewRecordBuilder(memory.NewGoAllocator(), Schema(testCols, "Asia/Kathmandu")), cols: testCols, batch: tc.batch}
		writeTestRows(t, ref, tc.rows)
		_ = ref.Close()
		rd, err := ipc.NewReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rd.Next() {
			if n >= len(ref.recs) {
				t.Fatalf("%+v: more records than %d", tc, len(ref.recs))
			}
			if got, want := rd.Record(), ref.recs[n]; !array.RecordEqual(got, want) {
				t.Errorf("%+v: record %d\n got %v\nwant %v", tc, n, got, want)
			}
			n++
		}
		if err := rd.Err(); err != nil || n != len(ref.recs) {
			t.Errorf("%+v: %d records of %d, %v", tc, n, len(ref.recs), err)
		}
		rd.Release()
	}
}
