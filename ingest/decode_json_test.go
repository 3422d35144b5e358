package ingest

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// decodeRejection is an expected RowError: msg is a substring of its
// message, naming the field.
type decodeRejection struct {
	index int
	code  string
	msg   string
}

// decodeCase is a table case shared by the decoder tests.
type decodeCase struct {
	name     string
	body     string
	want     []Row
	rejected []decodeRejection
	wantErr  string // substring of the error; "" for none
}

func decodeRun(t *testing.T, decode func([]byte) ([]Row, []RowError, error), cases []decodeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rows, rejected, err := decode([]byte(tc.body))
			decodeCheck(t, rows, rejected, err, tc.want, tc.rejected, tc.wantErr)
		})
	}
}

func decodeCheck(t *testing.T, rows []Row, rejected []RowError, err error, want []Row, wantRejected []decodeRejection, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want one containing %q", err, wantErr)
		}
		if rows != nil || rejected != nil {
			t.Errorf("rows and rejections beside an error: %v, %v", rows, rejected)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if len(rows) != len(want) {
		t.Errorf("got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range min(len(rows), len(want)) {
		g, w := rows[i], want[i]
		if g.Index != w.Index || g.Source != w.Source || g.Metric != w.Metric || g.Unit != w.Unit ||
			!g.Time.Equal(w.Time) || g.Time.Location() != time.UTC ||
			!(g.Value == w.Value && math.Signbit(g.Value) == math.Signbit(w.Value)) {
			t.Errorf("row %d = %+v (time %s %s)\nwant      %+v (time %s)", i, g, g.Time.Format(time.RFC3339Nano), g.Time.Location(), w, w.Time.Format(time.RFC3339Nano))
		}
	}
	if len(rejected) != len(wantRejected) {
		t.Errorf("got %d rejections, want %d: %+v", len(rejected), len(wantRejected), rejected)
	}
	for i := range min(len(rejected), len(wantRejected)) {
		g, w := rejected[i], wantRejected[i]
		if g.Index != w.index || g.Code != w.code || !strings.Contains(g.Message, w.msg) {
			t.Errorf("rejection %d = %+v, want index %d, code %s, message containing %q", i, g, w.index, w.code, w.msg)
		}
	}
}

// decodeTime is a UTC time for expected rows.
func decodeTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	t0 := decodeTime("2026-03-01T12:00:00Z")
	row := func(i int, source, metric, unit string, at time.Time, v float64) Row {
		return Row{Index: i, Source: source, Metric: metric, Unit: unit, Time: at, Value: v}
	}
	decodeRun(t, DecodeJSON, []decodeCase{
		{
			name: "readings",
			body: `{"readings":[
				{"source":"CB-0042/1","metric":"energy_import","time":"2026-03-01T12:00:00Z","value":1234.5,"unit":"kWh"},
				{"source":"src_7f3a","metric":"soc","time":"2026-03-01T12:00:01Z","value":80}
			]}`,
			want: []Row{
				row(0, "CB-0042/1", "energy_import", "kWh", t0, 1234.5),
				row(1, "src_7f3a", "soc", "", t0.Add(time.Second), 80),
			},
		},
		{
			name: "fields in any order, whitespace everywhere",
			body: " \r\n\t{ \"readings\" : [ { \"unit\" : \"W\" , \"value\" : -0 , \"time\" : \"2026-03-01T12:00:00Z\" , \"metric\" : \"power\" , \"source\" : \"a\" } ] } \n",
			want: []Row{row(0, "a", "power", "W", t0, math.Copysign(0, -1))},
		},
		{
			name: "numbers",
			body: `{"readings":[
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":1e3},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":-2.5E-2},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":0},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":12345678901234567890},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":1.5e+2},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":1e-400}
			]}`,
			want: []Row{
				row(0, "a", "m", "", t0, 1000),
				row(1, "a", "m", "", t0, -0.025),
				row(2, "a", "m", "", t0, 0),
				row(3, "a", "m", "", t0, 12345678901234567890),
				row(4, "a", "m", "", t0, 150),
				row(5, "a", "m", "", t0, 0),
			},
		},
		{
			name: "offsets and fractional seconds, truncated to microseconds",
			body: `{"readings":[
				{"source":"a","metric":"m","time":"2026-03-01T13:00:00.123+01:00","value":1},
				{"source":"a","metric":"m","time":"2026-03-01T06:30:00-05:30","value":2},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00.123456789Z","value":3},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00.1Z","value":4},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00.9999999999Z","value":5},
				{"source":"a","metric":"m","time":"2026-02-28T23:30:00-12:30","value":6},
				{"source":"a","metric":"m","time":"2024-02-29T00:00:00+00:00","value":7}
			]}`,
			want: []Row{
				row(0, "a", "m", "", decodeTime("2026-03-01T12:00:00.123Z"), 1),
				row(1, "a", "m", "", decodeTime("2026-03-01T12:00:00Z"), 2),
				row(2, "a", "m", "", decodeTime("2026-03-01T12:00:00.123456Z"), 3),
				row(3, "a", "m", "", decodeTime("2026-03-01T12:00:00.1Z"), 4),
				row(4, "a", "m", "", decodeTime("2026-03-01T12:00:00.999999Z"), 5),
				row(5, "a", "m", "", t0, 6),
				row(6, "a", "m", "", decodeTime("2024-02-29T00:00:00Z"), 7),
			},
		},
		{
			name: "escapes",
			body: `{"readings":[
				{"source":"CB-\u0030042\/1","metric":"m\"q\\","time":"2026-03-01T12:00:00Z","value":1,"unit":"\u00b0C"},
				{"source":"\ud83d\udd0c plug","metric":"\b\f\n\r\t","time":"2026-03-01T12:00:00Z","value":2},
				{"source":"lone \ud83d high","metric":"lone \udd0c low","time":"2026-03-01T12:00:00Z","value":3},
				{"source":"\ud83d\u0041","metric":"héllo ünïcode","time":"\u0032026-03-01T12:00:00Z","value":4},
				{"s\u006furce":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":5}
			]}`,
			want: []Row{
				row(0, "CB-0042/1", `m"q\`, "°C", t0, 1),
				row(1, "🔌 plug", "\b\f\n\r\t", "", t0, 2),
				row(2, "lone \uFFFD high", "lone \uFFFD low", "", t0, 3),
				row(3, "\uFFFDA", "héllo ünïcode", "", t0, 4),
				row(4, "a", "m", "", t0, 5),
			},
		},
		{
			name: "unit null is no unit; unknown fields skipped whole",
			body: `{"readings":[
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":1,"unit":null},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":2,"extra":{"x":[1,{"y":"}"}],"z":null}}
			]}`,
			want:     []Row{row(0, "a", "m", "", t0, 1)},
			rejected: []decodeRejection{{1, CodeMalformed, `readings[1]: unknown field "extra"`}},
		},
		{
			name: "row errors",
			body: `{"readings":[
				{"metric":"m","time":"2026-03-01T12:00:00Z","value":1},
				{"source":"a","time":"2026-03-01T12:00:00Z","value":1},
				{"source":"a","metric":"m","value":1},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z"},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":"abc"},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":true},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":null},
				{"source":"a","metric":"m","time":1772366400,"value":1},
				{"source":"a","metric":"m","time":"2026-02-30T12:00:00Z","value":1},
				{"source":"a","metric":"m","time":"yesterday","value":1},
				{"source":"","metric":"m","time":"2026-03-01T12:00:00Z","value":1},
				{"source":"a","metric":"","time":"2026-03-01T12:00:00Z","value":1},
				{"source":7,"metric":"m","time":"2026-03-01T12:00:00Z","value":1},
				{"source":"a","metric":["m"],"time":"2026-03-01T12:00:00Z","value":1},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":1,"unit":false},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":1,"Source":"b"},
				{"source":"a","source":"b","metric":"m","time":"2026-03-01T12:00:00Z","value":1},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":1e999},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":-1e999},
				{"source":"a\u0000b","metric":"m","time":"2026-03-01T12:00:00Z","value":1},
				"not an object",
				null,
				[1, 2],
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":42},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":1,"points":[]},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:60Z","value":1},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00+24:00","value":1},
				{"source":"a","metric":"m","time":"2026-03-01 12:00:00Z","value":1},
				{}
			]}`,
			want: []Row{row(23, "a", "m", "", t0, 42)},
			rejected: []decodeRejection{
				{0, CodeMalformed, "readings[0].source: missing"},
				{1, CodeMalformed, "readings[1].metric: missing"},
				{2, CodeMalformed, "readings[2].time: missing"},
				{3, CodeMalformed, "readings[3].value: missing"},
				{4, CodeMalformed, "readings[4].value: expected a number, got string"},
				{5, CodeMalformed, "readings[5].value: expected a number, got boolean"},
				{6, CodeMalformed, "readings[6].value: expected a number, got null"},
				{7, CodeMalformed, "readings[7].time: expected an RFC 3339 time string, got number"},
				{8, CodeMalformed, `readings[8].time: "2026-02-30T12:00:00Z" is not an RFC 3339 time`},
				{9, CodeMalformed, `readings[9].time: "yesterday" is not`},
				{10, CodeMalformed, "readings[10].source: empty"},
				{11, CodeMalformed, "readings[11].metric: empty"},
				{12, CodeMalformed, "readings[12].source: expected a string, got number"},
				{13, CodeMalformed, "readings[13].metric: expected a string, got array"},
				{14, CodeMalformed, "readings[14].unit: expected a string, got boolean"},
				{15, CodeMalformed, `readings[15]: unknown field "Source"`},
				{16, CodeMalformed, `readings[16]: duplicate field "source"`},
				{17, CodeInvalidValue, "readings[17].value: 1e999 is out of range"},
				{18, CodeInvalidValue, "readings[18].value: -1e999 is out of range"},
				{19, CodeMalformed, "readings[19].source: not valid text"},
				{20, CodeMalformed, "readings[20]: expected an object, got string"},
				{21, CodeMalformed, "readings[21]: expected an object, got null"},
				{22, CodeMalformed, "readings[22]: expected an object, got array"},
				{24, CodeMalformed, `readings[24]: unknown field "points"`},
				{25, CodeMalformed, "readings[25].time"},
				{26, CodeMalformed, "readings[26].time"},
				{27, CodeMalformed, "readings[27].time"},
				{28, CodeMalformed, "readings[28].source: missing"},
			},
		},
		{
			name: "first problem of a row wins",
			body: `{"readings":[{"value":"x","time":5,"bogus":1}]}`,
			rejected: []decodeRejection{
				{0, CodeMalformed, "readings[0].value: expected a number"},
			},
		},
		{
			name: "invalid UTF-8 in a string",
			body: "{\"readings\":[{\"source\":\"a\xffb\",\"metric\":\"m\",\"time\":\"2026-03-01T12:00:00Z\",\"value\":1}]}",
			rejected: []decodeRejection{
				{0, CodeMalformed, "readings[0].source: not valid text"},
			},
		},
		{
			name: "series",
			body: `{"series":[
				{"source":"CB-0042/1","metric":"energy_import","unit":"Wh","points":[["2026-03-01T12:00:00Z",1],["2026-03-01T12:00:01Z",2.5]]},
				{"points":[["2026-03-01T13:00:00+01:00",3]],"metric":"soc","source":"CB-0042/2"},
				{"source":"x","metric":"y","points":[]},
				{"source":"a","metric":"m","unit":null,"points":[ [ "2026-03-01T12:00:00.5Z" , -1e-3 ] ]}
			]}`,
			want: []Row{
				row(0, "CB-0042/1", "energy_import", "Wh", t0, 1),
				row(1, "CB-0042/1", "energy_import", "Wh", t0.Add(time.Second), 2.5),
				row(2, "CB-0042/2", "soc", "", t0, 3),
				row(3, "a", "m", "", t0.Add(500*time.Millisecond), -0.001),
			},
		},
		{
			name: "series point errors",
			body: `{"series":[
				{"source":"a","metric":"m","points":[
					["2026-03-01T12:00:00Z",1],
					{"time":"2026-03-01T12:00:00Z","value":1},
					["2026-03-01T12:00:00Z"],
					["2026-03-01T12:00:00Z",1,2],
					["nope",1],
					["2026-03-01T12:00:00Z",null],
					["2026-03-01T12:00:00Z","1"],
					[1772366400,1],
					["2026-03-01T12:00:00Z",1e400],
					[],
					["2026-03-01T12:00:00Z",2]
				]}
			]}`,
			want: []Row{row(0, "a", "m", "", t0, 1), row(10, "a", "m", "", t0, 2)},
			rejected: []decodeRejection{
				{1, CodeMalformed, "series[0].points[1]: expected [time, value], got object"},
				{2, CodeMalformed, "series[0].points[2]: expected [time, value], got 1 elements"},
				{3, CodeMalformed, "series[0].points[3]: expected [time, value], got 3 elements"},
				{4, CodeMalformed, `series[0].points[4][0] (time): "nope" is not an RFC 3339 time`},
				{5, CodeMalformed, "series[0].points[5][1] (value): expected a number, got null"},
				{6, CodeMalformed, "series[0].points[6][1] (value): expected a number, got string"},
				{7, CodeMalformed, "series[0].points[7][0] (time): expected an RFC 3339 time string, got number"},
				{8, CodeInvalidValue, "series[0].points[8][1] (value): 1e400 is out of range"},
				{9, CodeMalformed, "series[0].points[9]: expected [time, value], got 0 elements"},
			},
		},
		{
			name: "series errors reject all their points",
			body: `{"series":[
				{"source":"a","metric":"m","points":[["2026-03-01T12:00:00Z",1]]},
				{"metric":"m","points":[["2026-03-01T12:00:00Z",1],["bad",2]]},
				{"source":"a","metric":"m","points":[["2026-03-01T12:00:00Z",3]]},
				{"points":[["2026-03-01T12:00:00Z",1]],"source":"a","metric":"m","unit":5},
				{"source":"a","metric":"m","points":[["2026-03-01T12:00:00Z",1]],"color":"red"},
				{"source":"","metric":"m","points":[["2026-03-01T12:00:00Z",1]]},
				{"source":"a","points":[["2026-03-01T12:00:00Z",1]]},
				{"source":"a","source":"b","metric":"m","points":[["2026-03-01T12:00:00Z",1]]},
				{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","points":[["2026-03-01T12:00:00Z",1]]},
				{"source":"a","metric":"m","points":[["2026-03-01T12:00:00Z",4]]}
			]}`,
			want: []Row{row(0, "a", "m", "", t0, 1), row(3, "a", "m", "", t0, 3), row(10, "a", "m", "", t0, 4)},
			rejected: []decodeRejection{
				{1, CodeMalformed, "series[1].source: missing"},
				{2, CodeMalformed, "series[1].source: missing"},
				{4, CodeMalformed, "series[3].unit: expected a string, got number"},
				{5, CodeMalformed, `series[4]: unknown field "color"`},
				{6, CodeMalformed, "series[5].source: empty"},
				{7, CodeMalformed, "series[6].metric: missing"},
				{8, CodeMalformed, `series[7]: duplicate field "source"`},
				{9, CodeMalformed, `series[8]: unknown field "time"`},
			},
		},
		{name: "empty readings", body: `{"readings":[]}`},
		{name: "empty series", body: `{"series":[ ]}`},

		{name: "empty body", body: "", wantErr: "json: empty body"},
		{name: "blank body", body: " \n ", wantErr: "json: empty body"},
		{name: "not JSON", body: "source,metric\n", wantErr: "json: expected an object at the top level, got invalid JSON (line 1, column 1)"},
		{name: "top-level array", body: `[{"readings":[]}]`, wantErr: "expected an object at the top level, got array"},
		{name: "neither key", body: `{}`, wantErr: `json: the body has neither "readings" nor "series"`},
		{name: "both keys", body: `{"readings":[],"series":[]}`, wantErr: `"readings" and "series" cannot be combined`},
		{name: "duplicate key", body: `{"readings":[],"readings":[]}`, wantErr: `duplicate key "readings"`},
		{name: "unknown top-level key", body: `{"readings":[],"meta":{}}`, wantErr: `json: unknown top-level key "meta" (line 1, column 16)`},
		{name: "readings not an array", body: `{"readings":{}}`, wantErr: `"readings" must be an array, got object`},
		{name: "readings null", body: `{"readings":null}`, wantErr: `"readings" must be an array, got null`},
		{name: "trailing data", body: `{"readings":[]} {}`, wantErr: "unexpected '{' after the top-level object"},
		{name: "unclosed object", body: `{"readings":[]`, wantErr: "unexpected end of input"},
		{name: "unterminated string", body: `{"readings":[{"source":"a`, wantErr: "json: readings[0]: unterminated string"},
		{name: "bad escape", body: `{"readings":[{"source":"\x"}]}`, wantErr: `json: readings[0]: invalid escape 'x'`},
		{name: "bad unicode escape", body: `{"readings":[{"source":"\u12G4"}]}`, wantErr: `invalid \u escape`},
		{name: "control character", body: "{\"readings\":[{\"source\":\"a\tb\"}]}", wantErr: "control character byte 0x09 in a string"},
		{name: "NaN is not JSON", body: `{"readings":[{"source":"a","metric":"m","time":"2026-03-01T12:00:00Z","value":NaN}]}`, wantErr: "readings[0]: unexpected 'N', want a value"},
		{name: "leading zero", body: `{"readings":[{"value":01}]}`, wantErr: "readings[0]: unexpected '1', want ',' or '}'"},
		{name: "bare minus", body: `{"readings":[{"value":-}]}`, wantErr: "want a digit"},
		{name: "dot without digits", body: `{"readings":[{"value":1.}]}`, wantErr: "want a digit"},
		{name: "exponent without digits", body: `{"readings":[{"value":1e+}]}`, wantErr: "want a digit"},
		{name: "trailing comma", body: `{"readings":[{"source":"a"},]}`, wantErr: "readings[1]: unexpected ']', want a value"},
		{name: "missing colon", body: `{"readings":[{"source" "a"}]}`, wantErr: "want ':'"},
		{name: "unquoted key", body: `{"readings":[{source:"a"}]}`, wantErr: "want a string key"},
		{name: "bad literal", body: `{"readings":[{"unit":nul}]}`, wantErr: "unexpected 'n', want a value"},
		{name: "line and column", body: "{\"readings\":[\n{\"source\":\"a\"},\n  {\"source\" \"b\"}]}", wantErr: "json: readings[1]: unexpected '\"', want ':' (line 3, column 13)"},
		{name: "nesting too deep", body: `{"readings":[{"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}]}`, wantErr: "nesting too deep"},
		{name: "series element not an object", body: `{"series":[[]]}`, wantErr: "json: series[0]: expected an object, got array"},
		{name: "series without points", body: `{"series":[{"source":"a","metric":"m"}]}`, wantErr: `json: series[0]: missing "points"`},
		{name: "series points not an array", body: `{"series":[{"source":"a","metric":"m","points":null}]}`, wantErr: `json: series[0]: "points" must be an array, got null`},
		{name: "series duplicate points", body: `{"series":[{"points":[],"points":[]}]}`, wantErr: `series[0]: duplicate key "points"`},
		{name: "syntax error in a point", body: `{"series":[{"points":[["2026-03-01T12:00:00Z",1],["x",tru]]}]}`, wantErr: "json: series[0].points[1]: unexpected 't', want a value"},
	})
}

// TestDecodeJSONLarge decodes many rows and checks that repeated strings are
// shared rather than allocated per row.
func TestDecodeJSONLarge(t *testing.T) {
	t.Parallel()
	readings := decodeBenchRows(100_000)
	for name, body := range map[string][]byte{"readings": decodeBenchJSON(readings), "series": decodeBenchSeries(readings)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rows, rejected, err := DecodeJSON(body)
			if err != nil || len(rejected) != 0 || len(rows) != len(readings) {
				t.Fatalf("got %d rows, %d rejected, err %v; want %d rows", len(rows), len(rejected), err, len(readings))
			}
			want := readings
			if name == "series" {
				want = decodeSeriesOrder(readings)
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
		})
	}
}

func TestParseRFC3339Micro(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC; "" for not a time
	}{
		{"2026-03-01T12:00:00Z", "2026-03-01T12:00:00Z"},
		{"2026-03-01T13:00:00.123+01:00", "2026-03-01T12:00:00.123Z"},
		{"2026-03-01T12:00:00.123456789Z", "2026-03-01T12:00:00.123456Z"},
		{"2026-03-01T12:00:00.000000999Z", "2026-03-01T12:00:00Z"},
		{"2026-03-01T12:00:00.12345678901Z", "2026-03-01T12:00:00.123456Z"},
		{"2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00Z"},
		{"2026-03-01T12:00:00-00:00", "2026-03-01T12:00:00Z"},
		{"2000-02-29T00:00:00Z", "2000-02-29T00:00:00Z"},
		{"1969-12-31T23:59:59.9999999Z", "1969-12-31T23:59:59.999999Z"},
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"},
		{"9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"},
		{"2026-03-01T12:00:00+23:59", "2026-02-28T12:01:00Z"},
		{"2026-03-01t12:00:00.5z", "2026-03-01T12:00:00.5Z"},
		{"2026-03-01T12:00:00+23:60", ""},
		{"2026-03-01T12:00:00+24:00", ""},
		{"2026-03-01T12:00:00,5Z", ""},
		{"2026-03-01T1:00:00Z", ""},
		{"2026-03-01T12:00:60Z", ""},
		{"2026-03-01 12:00:00Z", ""},
		{"2026-03-01T12:00:00.5 Z", ""},
		{"2026-03-01T12:00:00Z ", ""},
		{"２026-03-01T12:00:00Z", ""},
		{"1900-02-29T00:00:00Z", ""},
		{"2100-02-29T00:00:00Z", ""},
		{"2026-04-31T00:00:00Z", ""},
		{"2026-13-01T00:00:00Z", ""},
		{"2026-03-01T24:00:00Z", ""},
		{"2026-03-01T12:60:00Z", ""},
		{"2026-03-01T12:00:00", ""},
		{"2026-03-01T12:00:00.Z", ""},
		{"2026-03-01T12:00:00+0100", ""},
		{"2026-03-01T12:00:00+01", ""},
		{"2026-03-01", ""},
		{"2026-03-01T12:00:00ZZ", ""},
		{"+2026-03-01T12:00:00Z", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, ok := parseRFC3339Micro([]byte(tt.in))
			if tt.want == "" {
				if ok {
					t.Fatalf("parsed %q as %v, want an error", tt.in, got)
				}
				return
			}
			if !ok || !got.Equal(decodeTime(tt.want)) || got.Location() != time.UTC {
				t.Fatalf("parseRFC3339Micro(%q) = %v, %v; want %s", tt.in, got, ok, tt.want)
			}
			decodeCheckTimeParse(t, tt.in)
		})
	}
}

// decodeCheckTimeParse checks that what parseRFC3339Micro accepts,
// time.Parse reads as the same instant.
func decodeCheckTimeParse(t *testing.T, in string) {
	t.Helper()
	got, ok := parseRFC3339Micro([]byte(in))
	if !ok {
		return
	}
	want, err := time.Parse(time.RFC3339Nano, strings.NewReplacer("t", "T", "z", "Z").Replace(in))
	if err != nil || !got.Equal(want.Truncate(time.Microsecond)) {
		t.Fatalf("parseRFC3339Micro read %q as %v, time.Parse as %v, %v", in, got, want, err)
	}
}

// Realistic requests for tests and benchmarks: 100 sources like CB-0042/1,
// a mix of metrics with their units, one reading per source and metric every
// 10 seconds.

var decodeBenchMetrics = []struct{ metric, unit string }{
	{"energy_import", "Wh"},
	{"power_active_import", "W"},
	{"current_import", "A"},
	{"voltage", "V"},
	{"soc", "%"},
	{"temperature", ""},
}

func decodeBenchRows(n int) []Row {
	rows := make([]Row, n)
	t0 := decodeTime("2026-03-01T00:00:00Z")
	for i := range rows {
		src, m := i%100, (i/100)%len(decodeBenchMetrics)
		step := i / (100 * len(decodeBenchMetrics))
		rows[i] = Row{
			Index:  i,
			Source: fmt.Sprintf("CB-%04d/%d", src/2+1, src%2+1),
			Metric: decodeBenchMetrics[m].metric,
			Unit:   decodeBenchMetrics[m].unit,
			Time:   t0.Add(time.Duration(step)*10*time.Second + time.Duration(src)*time.Millisecond),
			Value:  math.Round((float64(step)*7.25+float64(src*13%97))*1000) / 1000,
		}
	}
	return rows
}

func decodeBenchJSON(rows []Row) []byte {
	var b bytes.Buffer
	b.WriteString(`{"readings":[`)
	for i, r := range rows {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"source":%q,"metric":%q,"time":%q,"value":%v`, r.Source, r.Metric, r.Time.Format(time.RFC3339Nano), r.Value)
		if r.Unit != "" {
			fmt.Fprintf(&b, `,"unit":%q`, r.Unit)
		}
		b.WriteString("}")
	}
	b.WriteString("]}")
	return b.Bytes()
}

// decodeSeriesKey groups rows into series.
type decodeSeriesKey struct{ source, metric, unit string }

// decodeSeriesOrder returns rows in the order decodeBenchSeries sends them:
// grouped by series in order of first appearance.
func decodeSeriesOrder(rows []Row) []Row {
	var keys []decodeSeriesKey
	groups := map[decodeSeriesKey][]Row{}
	for _, r := range rows {
		k := decodeSeriesKey{r.Source, r.Metric, r.Unit}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]Row, 0, len(rows))
	for _, k := range keys {
		out = append(out, groups[k]...)
	}
	return out
}

func decodeBenchSeries(rows []Row) []byte {
	ordered := decodeSeriesOrder(rows)
	var b bytes.Buffer
	b.WriteString(`{"series":[`)
	for i, r := range ordered {
		first := i == 0 || ordered[i-1].Source != r.Source || ordered[i-1].Metric != r.Metric || ordered[i-1].Unit != r.Unit
		if first {
			if i > 0 {
				b.WriteString("]},\n")
			}
			fmt.Fprintf(&b, `{"source":%q,"metric":%q,"unit":%q,"points":[`, r.Source, r.Metric, r.Unit)
		} else {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `[%q,%v]`, r.Time.Format(time.RFC3339Nano), r.Value)
	}
	if len(ordered) > 0 {
		b.WriteString("]}")
	}
	b.WriteString("]}")
	return b.Bytes()
}

// decodeBench runs decode over body and reports rows per second and time
// per row.
func decodeBench(b *testing.B, decode func([]byte) ([]Row, []RowError, error), body []byte, n int) {
	b.Helper()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rows, rejected, err := decode(body)
		if err != nil || len(rows) != n || len(rejected) != 0 {
			b.Fatalf("got %d rows, %d rejected, err %v; want %d rows", len(rows), len(rejected), err, n)
		}
	}
	total := float64(n) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/row")
}

func BenchmarkDecodeJSON(b *testing.B) {
	rows := decodeBenchRows(10_000)
	b.Run("readings", func(b *testing.B) { decodeBench(b, DecodeJSON, decodeBenchJSON(rows), len(rows)) })
	b.Run("series", func(b *testing.B) { decodeBench(b, DecodeJSON, decodeBenchSeries(rows), len(rows)) })
	// The same bodies against encoding/json (decode_baseline_test.go).
	b.Run("readings-vs-encoding-json", func(b *testing.B) { baselineBench(b, DecodeJSON, decodeStdJSON, decodeBenchJSON(rows), len(rows)) })
	b.Run("series-vs-encoding-json", func(b *testing.B) { baselineBench(b, DecodeJSON, decodeStdJSON, decodeBenchSeries(rows), len(rows)) })
}
