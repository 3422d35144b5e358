package ingest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/gridmetrics/gridmetrics/internal/fuzzbudget"
)

// The fuzz targets check, for any body, that a decoder does not panic and,
// when it reads the body, accounts for every row index in [0, n) exactly
// once. The JSON and CSV targets also check agreement with encoding/json and
// encoding/csv: same syntax verdict, same rows. Every target also holds a
// decoder to a budget of time and memory per body (fuzzbudget), and the
// text decoders to at most one row per byte of body.

func FuzzDecodeJSON(f *testing.F) {
	for _, body := range []string{
		`{"readings":[{"source":"CB-0042/1","metric":"energy_import","time":"2026-03-01T12:00:00Z","value":1234.5,"unit":"kWh"},{"source":"src_7f3a","metric":"soc","time":"2026-03-01T13:00:00.123+01:00","value":80}]}`,
		`{"series":[{"source":"CB-0042/1","metric":"energy_import","unit":"Wh","points":[["2026-03-01T12:00:00Z",1],["2026-03-01T12:00:01.5Z",2.5e3]]},{"points":[["2026-03-01T13:00:00-05:30",-3]],"metric":"soc","source":"CB-0042/2","unit":null}]}`,
		`{"readings":[{"source":"CB-\u0030042\/1","metric":"m\"q\\","time":"2026-03-01T12:00:00Z","value":1,"unit":"\u00b0C"},{"source":"\ud83d\udd0c","metric":"\ud83d x","time":"2026-03-01T12:00:00Z","value":-0}]}`,
		`{"readings":[{"metric":"m","time":"2026-03-01T12:00:00Z","value":"abc","extra":{"a":[1,true,null]}},null,[],{"source":"","metric":"m","time":"x","value":1e999}]}`,
		`{"series":[{"source":"a","metric":"m","points":[[],["2026-03-01T12:00:00Z"],{"t":1},["2026-03-01T12:00:00Z",null,3]]},{"source":1,"metric":"m","points":[["2026-03-01T12:00:00Z",1]]}]}`,
		`{"readings":[]}`,
		`{"series":[]}`,
		`{"readings":[],"series":[]}`,
		`{"readings":[{"value":01}]}`,
		"",
	} {
		f.Add([]byte(body))
	}
	f.Add(decodeBenchJSON(decodeBenchRows(20)))
	f.Add(decodeBenchSeries(decodeBenchRows(20)))
	f.Fuzz(func(t *testing.T, body []byte) {
		var rows []Row
		var rejected []RowError
		var err error
		fuzzbudget.Check(t, fuzzbudget.Budget{}, len(body), func() { rows, rejected, err = DecodeJSON(body) })
		decodeFuzzRowsPerByte(t, body, rows, rejected)
		valid := json.Valid(body)
		if err != nil {
			if rows != nil || rejected != nil {
				t.Fatalf("rows beside an error: %v", err)
			}
			// Only a body of the wrong shape may be valid JSON and an error.
			if valid && decodeFuzzSyntaxError(err) {
				t.Fatalf("encoding/json reads the body, DecodeJSON does not: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("DecodeJSON reads a body encoding/json does not: %q", body)
		}
		decodeCheckIndexes(t, rows, rejected)
		decodeFuzzCompareJSON(t, body, rows, rejected)
	})
}

// decodeFuzzRowsPerByte fails when a text body decoded to more rows and
// rejections than it has bytes: each takes at least one.
func decodeFuzzRowsPerByte(t *testing.T, body []byte, rows []Row, rejected []RowError) {
	t.Helper()
	if n := len(rows) + len(rejected); n > len(body) {
		t.Fatalf("%d rows and rejections from %d bytes", n, len(body))
	}
}

// decodeFuzzSyntaxError reports whether err is about JSON syntax rather than
// the shape of the body.
func decodeFuzzSyntaxError(err error) bool {
	for _, m := range []string{"unexpected", "unterminated", "control character", "invalid escape", `invalid \u escape`} {
		if strings.Contains(err.Error(), m) {
			return true
		}
	}
	return false
}

// decodeFuzzCompareJSON checks the rows DecodeJSON read against the same
// body read by encoding/json.
func decodeFuzzCompareJSON(t *testing.T, body []byte, rows []Row, rejected []RowError) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	// Each row index as encoding/json reads it: the reading, or the series
	// and the point.
	type ref struct {
		reading map[string]any
		series  map[string]any
		point   []any
	}
	var refs []ref
	if raw, ok := top["readings"]; ok {
		var readings []any
		if err := decodeFuzzUnmarshal(raw, &readings); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		for _, r := range readings {
			m, _ := r.(map[string]any)
			refs = append(refs, ref{reading: m})
		}
	} else {
		var series []map[string]any
		if err := decodeFuzzUnmarshal(top["series"], &series); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		for _, s := range series {
			for _, p := range s["points"].([]any) {
				pt, _ := p.([]any)
				refs = append(refs, ref{series: s, point: pt})
			}
		}
	}
	if len(refs) != len(rows)+len(rejected) {
		t.Fatalf("DecodeJSON found %d rows, encoding/json %d", len(rows)+len(rejected), len(refs))
	}
	for _, r := range rows {
		ref := refs[r.Index]
		var source, metric, unit, at, value any
		if ref.reading != nil {
			source, metric, unit, at, value = ref.reading["source"], ref.reading["metric"], ref.reading["unit"], ref.reading["time"], ref.reading["value"]
		} else {
			source, metric, unit, at, value = ref.series["source"], ref.series["metric"], ref.series["unit"], ref.point[0], ref.point[1]
		}
		if unit == nil {
			unit = ""
		}
		want, err := time.Parse(time.RFC3339Nano, at.(string))
		if err != nil {
			t.Fatalf("row %d: DecodeJSON reads time %q, time.Parse does not: %v", r.Index, at, err)
		}
		v, err := strconv.ParseFloat(string(value.(json.Number)), 64)
		if err != nil {
			t.Fatalf("row %d: DecodeJSON reads value %v, strconv.ParseFloat does not: %v", r.Index, value, err)
		}
		if r.Source != source || r.Metric != metric || r.Unit != unit || r.Value != v || !r.Time.Equal(want.Truncate(time.Microsecond)) {
			t.Fatalf("row %d = %+v; encoding/json reads source %q, metric %q, unit %q, time %q, value %v", r.Index, r, source, metric, unit, at, value)
		}
	}
}

// decodeFuzzUnmarshal is json.Unmarshal keeping numbers as json.Number.
func decodeFuzzUnmarshal(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	return d.Decode(v)
}

func FuzzDecodeCSV(f *testing.F) {
	for _, body := range []string{
		"source,metric,time,value,unit\nCB-0042/1,energy_import,2026-03-01T12:00:00Z,1234.5,kWh\nCB-0042/2,soc,2026-03-01T13:00:00.123+01:00,80,\n",
		" Value ,UNIT,Time,metric , Source\r\n1,W,2026-03-01T12:00:00Z,power,a\r\n2,,2026-03-01T12:00:01Z,power,b\r\n",
		"\xef\xbb\xbfsource,metric,time,value\n\"CB-1, left\",\"m\",\"2026-03-01T12:00:00Z\",\"1\"\n\"say \"\"hi\"\"\",m,2026-03-01T12:00:00Z,2\n\"two\nlines\",m,2026-03-01T12:00:00Z,3\n",
		"source,metric,time,value\na,m,2026-03-01T12:00:00Z\n,m,x,NaN\na,m,2026-03-01T12:00:00Z,Inf\n\n\na,m,2026-03-01T12:00:00Z,1e999,x\n",
		"source,metric,time,value\na,m\"x,2026-03-01T12:00:00Z,1\n",
		"source,metric,time,value\n\"a\"b,m,2026-03-01T12:00:00Z,1\n",
		"source,metric,time,value,foo\n",
		"",
	} {
		f.Add([]byte(body))
	}
	f.Add(decodeBenchCSV(decodeBenchRows(20)))
	f.Fuzz(func(t *testing.T, body []byte) {
		var rows []Row
		var rejected []RowError
		var err error
		fuzzbudget.Check(t, fuzzbudget.Budget{}, len(body), func() { rows, rejected, err = DecodeCSV(body) })
		decodeFuzzRowsPerByte(t, body, rows, rejected)
		records, refErr := decodeFuzzReadCSV(body)
		if err != nil {
			if rows != nil || rejected != nil {
				t.Fatalf("rows beside an error: %v", err)
			}
			if refErr == nil && strings.Contains(err.Error(), "quote") {
				t.Fatalf("encoding/csv reads the body, DecodeCSV does not: %v", err)
			}
			return
		}
		decodeCheckIndexes(t, rows, rejected)
		if refErr == errDecodeFuzzSkip {
			return
		}
		if refErr != nil {
			t.Fatalf("DecodeCSV reads a body encoding/csv does not: %v", refErr)
		}
		if len(records) != 1+len(rows)+len(rejected) {
			t.Fatalf("DecodeCSV found %d records after the header, encoding/csv %d", len(rows)+len(rejected), len(records)-1)
		}
		header := records[0]
		for _, r := range rows {
			rec := records[r.Index+1]
			for i, name := range header {
				var got string
				switch strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))) {
				case "source":
					got = r.Source
				case "metric":
					got = r.Metric
				case "unit":
					got = r.Unit
				default:
					continue
				}
				if want := strings.TrimSpace(rec[i]); got != want {
					t.Fatalf("row %d: %s is %q, encoding/csv reads %q", r.Index, name, got, want)
				}
			}
		}
	})
}

// decodeFuzzReadCSV reads body with encoding/csv, as DecodeCSV does: a
// leading byte order mark ignored, records of any length, line breaks in
// quoted fields kept as they are.
func decodeFuzzReadCSV(body []byte) ([][]string, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	// encoding/csv turns CRLF in quoted fields into LF, and a lone CR
	// differently; DecodeCSV keeps them. Compare on bodies without CR.
	if bytes.IndexByte(body, '\r') >= 0 {
		return nil, errDecodeFuzzSkip
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	var records [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return records, nil
		}
		if err != nil {
			return nil, err
		}
		records = append(records, rec)
	}
}

var errDecodeFuzzSkip = errors.New("not compared")

func FuzzDecodeArrow(f *testing.F) {
	sec := int64(1772366400)
	seeds := [][]arrowTestCol{
		arrowTestBatch(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64,
			[]any{"CB-0042/1", "CB-0042/2", nil}, []any{"energy_import", "soc", "m"}, []any{sec * 1e9, sec*1e9 + 1, sec}, []any{1.5, nil, 3.0}),
		append(arrowTestBatch(arrowDict(arrow.PrimitiveTypes.Int8, arrowUTF8), &arrow.TimestampType{Unit: arrow.Second, TimeZone: "Europe/Berlin"}, arrow.PrimitiveTypes.Float32,
			[]any{"a", "b", "a", ""}, []any{"m", nil, "m", "m"}, []any{sec, sec, nil, sec}, []any{float32(1), float32(2), float32(3), float32(4)}),
			arrowTestCol{"unit", arrowDict(arrow.PrimitiveTypes.Uint16, arrowLargeUTF8), []any{"Wh", nil, "Wh", "W"}}),
		arrowTestBatch(arrowLargeUTF8, &arrow.TimestampType{Unit: arrow.Millisecond}, arrow.PrimitiveTypes.Int64,
			[]any{"a", "a"}, []any{"m", "m"}, []any{sec * 1e3, int64(-1)}, []any{int64(1), int64(-1)}),
	}
	for _, seed := range seeds {
		f.Add(arrowTestStream(f, nil, seed))
		f.Add(arrowTestStream(f, nil, seed, seed))
	}
	f.Add(arrowTestStream(f, []ipc.Option{ipc.WithLZ4()}, seeds[0]))
	f.Add(arrowTestStream(f, nil, arrowTestBatch(arrowUTF8, arrowNanosUTC, arrow.PrimitiveTypes.Float64, nil, nil, nil, nil)))
	f.Add(decodeBenchArrow(f, decodeBenchRows(20), true, 8))
	f.Fuzz(func(t *testing.T, body []byte) {
		var rows []Row
		var rejected []RowError
		var err error
		// Compressed buffers make more rows than bytes legitimate: the
		// allocation budget is the bound here.
		fuzzbudget.Check(t, fuzzbudget.Budget{}, len(body), func() { rows, rejected, err = DecodeArrow(body) })
		if err != nil {
			if rows != nil || rejected != nil {
				t.Fatalf("rows beside an error: %v", err)
			}
			return
		}
		decodeCheckIndexes(t, rows, rejected)
		for _, r := range rows {
			if r.Source == "" || r.Metric == "" || r.Time.Location() != time.UTC || r.Time.Nanosecond()%1000 != 0 {
				t.Fatalf("bad row %+v", r)
			}
		}
	})
}

func FuzzParseRFC3339Micro(f *testing.F) {
	for _, s := range []string{
		"2026-03-01T12:00:00Z", "2026-03-01T13:00:00.123+01:00", "2026-03-01t12:00:00.123456789z",
		"2024-02-29T23:59:59-23:59", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999999+00:00",
		"2026-03-01T12:00:00+24:00", "2026-03-01 12:00:00Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		decodeCheckTimeParse(t, s)
		var got time.Time
		var ok bool
		fuzzbudget.Check(t, fuzzbudget.Budget{Bytes: 1 << 20, BytesPerByte: 4}, len(s), func() { got, ok = parseRFC3339Micro([]byte(s)) })
		if !ok {
			return
		}
		// What it reads, written back, reads the same.
		again, ok := parseRFC3339Micro([]byte(got.Format(time.RFC3339Nano)))
		// (RFC 3339 writes years 0001–9999 only: 9999-12-31T20:00:00-10:00 is
		// in year 10000 in UTC, as time.Parse reads it too.)
		if got.Year() > 0 && got.UTC().Year() <= 9999 && (!ok || !again.Equal(got)) {
			t.Fatalf("%q reads as %v, which reads back as %v, %v", s, got, again, ok)
		}
	})
}
