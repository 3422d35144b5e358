package ingest

import (
	"bytes"
	"fmt"
	"testing"
	"time"
	"unsafe"
)

func TestDecodeCSV(t *testing.T) {
	t.Parallel()
	t0 := decodeTime("2026-03-01T12:00:00Z")
	row := func(i int, source, metric, unit string, at time.Time, v float64) Row {
		return Row{Index: i, Source: source, Metric: metric, Unit: unit, Time: at, Value: v}
	}
	decodeRun(t, DecodeCSV, []decodeCase{
		{
			name: "with unit",
			body: "source,metric,time,value,unit\n" +
				"CB-0042/1,energy_import,2026-03-01T12:00:00Z,1234.5,kWh\n" +
				"CB-0042/2,soc,2026-03-01T13:00:00.123+01:00,80,\n",
			want: []Row{
				row(0, "CB-0042/1", "energy_import", "kWh", t0, 1234.5),
				row(1, "CB-0042/2", "soc", "", t0.Add(123*time.Millisecond), 80),
			},
		},
		{
			name: "without unit, no final newline",
			body: "source,metric,time,value\nCB-0042/1,soc,2026-03-01T12:00:00Z,-1.5e2",
			want: []Row{row(0, "CB-0042/1", "soc", "", t0, -150)},
		},
		{
			name: "columns in any order, header case-insensitive and trimmed",
			body: " Value ,UNIT,Time,metric , Source\r\n1,W,2026-03-01T12:00:00Z,power,a\r\n2,,2026-03-01T12:00:01Z,power,b\r\n",
			want: []Row{
				row(0, "a", "power", "W", t0, 1),
				row(1, "b", "power", "", t0.Add(time.Second), 2),
			},
		},
		{
			name: "byte order mark",
			body: "\xef\xbb\xbfsource,metric,time,value\na,m,2026-03-01T12:00:00Z,1\n",
			want: []Row{row(0, "a", "m", "", t0, 1)},
		},
		{
			name: "fields trimmed",
			body: "source,metric,time,value,unit\n  a  ,\tm , 2026-03-01T12:00:00.123456789Z , 7 , kWh \n",
			want: []Row{row(0, "a", "m", "kWh", t0.Add(123456*time.Microsecond), 7)},
		},
		{
			name: "quoted fields",
			body: "source,metric,time,value,unit\n" +
				"\"CB-1, left\",\"m\",\"2026-03-01T12:00:00Z\",\"1\",\"\"\n" +
				"\"say \"\"hi\"\"\",m,2026-03-01T12:00:00Z,2,\"\"\"\"\n" +
				"\"two\nlines\",m,2026-03-01T12:00:00Z,3,\"a\"\"b\"\"c\"\r\n" +
				"\"\",m,2026-03-01T12:00:00Z,4\n" +
				"after,m,bad,5,\n",
			want: []Row{
				row(0, "CB-1, left", "m", "", t0, 1),
				row(1, `say "hi"`, "m", `"`, t0, 2),
				row(2, "two\nlines", "m", `a"b"c`, t0, 3),
			},
			rejected: []decodeRejection{
				{3, CodeMalformed, "line 6: expected 5 fields, got 4"},
				{4, CodeMalformed, `line 7: time: "bad" is not an RFC 3339 time`},
			},
		},
		{
			name: "empty lines skipped",
			body: "\n\r\nsource,metric,time,value\n\na,m,2026-03-01T12:00:00Z,1\n\r\n\nb,m,2026-03-01T12:00:00Z,2\n\n",
			want: []Row{row(0, "a", "m", "", t0, 1), row(1, "b", "m", "", t0, 2)},
		},
		{
			name: "header only",
			body: "source,metric,time,value,unit\n",
		},
		{
			name: "row errors",
			body: "source,metric,time,value,unit\n" +
				"a,m,2026-03-01T12:00:00Z,1\n" +
				"a,m,2026-03-01T12:00:00Z,1,W,extra\n" +
				",m,2026-03-01T12:00:00Z,1,\n" +
				"  ,m,2026-03-01T12:00:00Z,1,\n" +
				"a,,2026-03-01T12:00:00Z,1,\n" +
				"a,m,,1,\n" +
				"a,m,2026-03-01T12:00:00Z,,\n" +
				"a,m,2026-03-01T12:00:00Z,abc,\n" +
				"a,m,2026-03-01T12:00:00Z,NaN,\n" +
				"a,m,2026-03-01T12:00:00Z,Inf,\n" +
				"a,m,2026-03-01T12:00:00Z,-inf,\n" +
				"a,m,2026-03-01T12:00:00Z,1e999,\n" +
				"a,m,2026-02-29T12:00:00Z,1,\n" +
				"a,m,1772366400,1,\n" +
				"a\xffb,m,2026-03-01T12:00:00Z,1,\n" +
				"a,m,2026-03-01T12:00:00Z,1,W\xff\n" +
				"a,m,2026-03-01T12:00:00Z,42,\n" +
				"x\n",
			want: []Row{row(16, "a", "m", "", t0, 42)},
			rejected: []decodeRejection{
				{0, CodeMalformed, "line 2: expected 5 fields, got 4"},
				{1, CodeMalformed, "line 3: expected 5 fields, got 6"},
				{2, CodeMalformed, "line 4: source: missing"},
				{3, CodeMalformed, "line 5: source: missing"},
				{4, CodeMalformed, "line 6: metric: missing"},
				{5, CodeMalformed, "line 7: time: missing"},
				{6, CodeMalformed, "line 8: value: missing"},
				{7, CodeMalformed, `line 9: value: "abc" is not a number`},
				{8, CodeInvalidValue, "line 10: value: NaN is not a finite number"},
				{9, CodeInvalidValue, "line 11: value: Inf is not a finite number"},
				{10, CodeInvalidValue, "line 12: value: -inf is not a finite number"},
				{11, CodeInvalidValue, "line 13: value: 1e999 is not a finite number"},
				{12, CodeMalformed, `line 14: time: "2026-02-29T12:00:00Z" is not an RFC 3339 time`},
				{13, CodeMalformed, `line 15: time: "1772366400" is not`},
				{14, CodeMalformed, "line 16: source: not valid text"},
				{15, CodeMalformed, "line 17: unit: not valid text"},
				{17, CodeMalformed, "line 19: expected 5 fields, got 1"},
			},
		},

		{name: "empty body", body: "", wantErr: "csv: missing header row"},
		{name: "only empty lines", body: "\n\r\n\n", wantErr: "csv: missing header row"},
		{name: "no header", body: "CB-1,m,2026-03-01T12:00:00Z,1\n", wantErr: `csv: line 1: unknown column "CB-1"`},
		{name: "unknown column", body: "source,metric,time,value,foo\n", wantErr: `csv: line 1: unknown column "foo"`},
		{name: "duplicate column", body: "source,metric,time,value,TIME\n", wantErr: `csv: line 1: duplicate column "TIME"`},
		{name: "missing column", body: "source,metric,value\n", wantErr: `csv: line 1: missing column "time"`},
		{name: "header after empty lines", body: "\n\nsource,metric,time\n", wantErr: `csv: line 3: missing column "value"`},
		{name: "bare quote", body: "source,metric,time,value\na,m\"x,2026-03-01T12:00:00Z,1\n", wantErr: `csv: line 2: bare " in a field`},
		{name: "unclosed quote", body: "source,metric,time,value\na,m,2026-03-01T12:00:00Z,1\n\"a,m\n", wantErr: "csv: line 3: quoted field is not closed"},
		{name: "text after closing quote", body: "source,metric,time,value\n\"a\"b,m,2026-03-01T12:00:00Z,1\n", wantErr: "csv: line 2: unexpected 'b' after a closing quote"},
		{name: "quote error after a multi-line field", body: "source,metric,time,value\n\"a\n\nb\",m,2026-03-01T12:00:00Z,1\na,\"m\"x\n", wantErr: "csv: line 5: unexpected 'x'"},
	})
}

// TestDecodeCSVLarge decodes many rows and checks that repeated strings are
// shared rather than allocated per row.
func TestDecodeCSVLarge(t *testing.T) {
	t.Parallel()
	want := decodeBenchRows(100_000)
	rows, rejected, err := DecodeCSV(decodeBenchCSV(want))
	if err != nil || len(rejected) != 0 || len(rows) != len(want) {
		t.Fatalf("got %d rows, %d rejected, err %v; want %d rows", len(rows), len(rejected), err, len(want))
	}
	sources := map[*byte]bool{}
	for i, r := range rows {
		w := want[i]
		if r.Index != i || r.Source != w.Source || r.Metric != w.Metric || r.Unit != w.Unit || !r.Time.Equal(w.Time) || r.Value != w.Value {
			t.Fatalf("row %d = %+v, want %+v", i, r, w)
		}
		sources[unsafe.StringData(r.Source)] = true
	}
	if len(sources) != 100 {
		t.Errorf("sources use %d distinct strings, want 100 (interned)", len(sources))
	}
}

func decodeBenchCSV(rows []Row) []byte {
	var b bytes.Buffer
	b.WriteString("source,metric,time,value,unit\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s,%s,%s,%v,%s\n", r.Source, r.Metric, r.Time.Format(time.RFC3339Nano), r.Value, r.Unit)
	}
	return b.Bytes()
}

func BenchmarkDecodeCSV(b *testing.B) {
	rows := decodeBenchRows(10_000)
	decodeBench(b, DecodeCSV, decodeBenchCSV(rows), len(rows))
}
