package mqtt

import (
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gridmetrics/gridmetrics/ingest"
)

// received is the time the tests' messages arrive.
var received = time.Date(2026, 12, 2, 10, 15, 0, 123456789, time.UTC)

// message builds the message a topic under DefaultPrefix would bring.
func message(t *testing.T, topic, payload string, zone *time.Location) Message {
	t.Helper()
	tp, err := ParseTopic(DefaultPrefix, DefaultPrefix+"/ten_abc/"+topic)
	if err != nil {
		t.Fatal(err)
	}
	if zone == nil {
		zone = time.UTC
	}
	return Message{Topic: tp, Payload: []byte(payload), Received: received, Zone: zone}
}

// decodeCase is one message and what its decoding must give.
type decodeCase struct {
	name    string
	topic   string
	payload string
	zone    *time.Location
	maxRows int
	want    []ingest.Row
	// wantRejected lists rejections as "index CODE substring of message".
	wantRejected []string
	wantErr      string
}

func runDecodeCases(t *testing.T, tests []decodeCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Decode(message(t, tt.topic, tt.payload, tt.zone), tt.maxRows)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode error = %v, want one containing %q (rows %v)", err, tt.wantErr, got.Rows)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			checkRows(t, got.Rows, tt.want)
			checkRejected(t, got.Rejected, tt.wantRejected)
		})
	}
}

func checkRows(t *testing.T, got, want []ingest.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Source != w.Source || g.Metric != w.Metric || g.Unit != w.Unit ||
			!g.Time.Equal(w.Time) || g.Time.Location() != time.UTC || math.Abs(g.Value-w.Value) > 1e-9*math.Max(1, math.Abs(w.Value)) {
			t.Errorf("row %d = %+v, want %+v", i, g, w)
		}
	}
}

func checkRejected(t *testing.T, got ingest.Rejections, want []string) {
	t.Helper()
	if got.Total != len(want) || len(got.List) != len(want) {
		t.Fatalf("got %d rejections (%d listed) %v, want %v", got.Total, len(got.List), got.List, want)
	}
	for i, w := range want {
		var idx int
		var code, msg string
		if _, err := fmt.Sscanf(w, "%d %s", &idx, &code); err != nil {
			t.Fatalf("bad want %q", w)
		}
		if _, rest, ok := strings.Cut(w, code+" "); ok {
			msg = rest
		}
		g := got.List[i]
		if g.Index != idx || g.Code != code || !strings.Contains(g.Message, msg) {
			t.Errorf("rejection %d = %+v, want %q", i, g, w)
		}
	}
}

// row builds a wanted row.
func row(index int, source, metric, unit string, tm time.Time, v float64) ingest.Row {
	return ingest.Row{Index: index, Source: source, Metric: metric, Unit: unit, Time: tm, Value: v}
}

func TestDecodeUnknownPreset(t *testing.T) {
	t.Parallel()
	_, err := Decode(Message{Topic: Topic{Preset: "zigbee", Levels: []string{"a"}}, Received: received, Zone: time.UTC}, 0)
	if err == nil || !strings.Contains(err.Error(), "unknown preset") {
		t.Fatalf("Decode of an unknown preset: %v", err)
	}
}

func TestTooManyRowsIsTooLargeError(t *testing.T) {
	t.Parallel()
	_, err := Decode(message(t, "readings/gw-1", `{"readings":[
		{"source":"m1","metric":"voltage","time":"2026-12-02T10:15:00Z","value":230},
		{"source":"m1","metric":"voltage","time":"2026-12-02T10:16:00Z","value":231}]}`, nil), 1)
	var tooLarge *ingest.TooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Limit != 1 {
		t.Fatalf("Decode past maxRows: %v, want an *ingest.TooLargeError with limit 1", err)
	}
}

// TestDecodeHostile feeds payloads built to cost: rows past the bound,
// rejections past the listed ones, huge arrays, invalid UTF-8.
func TestDecodeHostile(t *testing.T) {
	t.Parallel()
	manyPhases := "[" + strings.Repeat("1,", 100_000) + "1]"
	var unknown strings.Builder
	for i := range ingest.MaxRejected + 500 {
		fmt.Fprintf(&unknown, `"Field%d":1,`, i)
	}
	var components strings.Builder
	for i := range 200 {
		fmt.Fprintf(&components, `"switch:%d":{"apower":1,"voltage":230},`, i)
	}
	tests := []struct {
		name, topic, payload string
		maxRows              int
		check                func(t *testing.T, d Decoded, err error)
	}{
		{name: "phases array of 100001", topic: "tasmota/m/tele/SENSOR",
			payload: `{"Time":"2026-12-02T10:15:00","ENERGY":{"Power":` + manyPhases + `}}`, maxRows: 10,
			check: func(t *testing.T, d Decoded, err error) {
				if err != nil || len(d.Rows) != 0 || d.Rejected.Total != 1 || !strings.Contains(d.Rejected.List[0].Message, "got 100001") {
					t.Fatalf("got %v, %+v", err, d)
				}
			}},
		{name: "more unknown fields than rejections listed", topic: "tasmota/m/tele/SENSOR",
			payload: `{"Time":"2026-12-02T10:15:00","ENERGY":{` + unknown.String() + `"Power":1}}`, maxRows: 10,
			check: func(t *testing.T, d Decoded, err error) {
				if err != nil || len(d.Rows) != 1 || d.Rows[0].Index != ingest.MaxRejected+500 ||
					d.Rejected.Total != ingest.MaxRejected+500 || len(d.Rejected.List) != ingest.MaxRejected {
					t.Fatalf("got %v, %d rows, %d rejections (%d listed)", err, len(d.Rows), d.Rejected.Total, len(d.Rejected.List))
				}
			}},
		{name: "components past maxRows", topic: "shelly/plug-1/events/rpc",
			payload: `{"method":"NotifyFullStatus","params":{` + components.String() + `"ts":1764670500}}`, maxRows: 100,
			check: func(t *testing.T, d Decoded, err error) {
				var tooLarge *ingest.TooLargeError
				if !errors.As(err, &tooLarge) || tooLarge.Limit != 100 {
					t.Fatalf("got %v, want an *ingest.TooLargeError", err)
				}
			}},
		{name: "deep nesting in params", topic: "shelly/plug-1/events/rpc",
			payload: `{"method":"NotifyStatus","params":{"ts":1,"x":` + strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000) + `}}`,
			check: func(t *testing.T, d Decoded, err error) {
				if err == nil || !strings.Contains(err.Error(), "exceeded max depth") {
					t.Fatalf("got %v", err)
				}
			}},
		{name: "invalid UTF-8 in an unknown field", topic: "tasmota/m/tele/SENSOR",
			payload: "{\"Time\":\"2026-12-02T10:15:00\",\"ENERGY\":{\"Po\xffwer\\u0000\":1}}",
			check: func(t *testing.T, d Decoded, err error) {
				if err != nil || d.Rejected.Total != 1 || d.Rejected.List[0].Code != ingest.CodeUnknownMetric ||
					!utf8.ValidString(d.Rejected.List[0].Message) || strings.ContainsRune(d.Rejected.List[0].Message, 0) {
					t.Fatalf("got %v, %+v", err, d)
				}
			}},
		{name: "invalid UTF-8 in a value payload", topic: "value/m/voltage/V", payload: "23\xff0",
			check: func(t *testing.T, d Decoded, err error) {
				if err == nil || !utf8.ValidString(err.Error()) {
					t.Fatalf("got %v", err)
				}
			}},
		{name: "invalid UTF-8 in Time", topic: "tasmota/m/tele/SENSOR",
			payload: "{\"Time\":\"2026-12-02T10:15:00\xff\",\"ENERGY\":{\"Power\":1}}",
			check: func(t *testing.T, d Decoded, err error) {
				if err == nil || !utf8.ValidString(err.Error()) {
					t.Fatalf("got %v", err)
				}
			}},
		{name: "NaN as a string", topic: "tasmota/m/tele/SENSOR",
			payload: `{"Time":"2026-12-02T10:15:00","ENERGY":{"Power":"NaN","Voltage":["Inf",1]}}`,
			check: func(t *testing.T, d Decoded, err error) {
				if err != nil || len(d.Rows) != 0 || d.Rejected.Total != 2 || d.Rejected.List[0].Code != ingest.CodeMalformed {
					t.Fatalf("got %v, %+v", err, d)
				}
			}},
		{name: "readings past maxRows", topic: "readings/gw",
			payload: `{"readings":[` + strings.Repeat(`{"source":"m","metric":"voltage","time":"2026-12-02T10:15:00Z","value":1},`, 50) +
				`{"source":"m","metric":"voltage","time":"2026-12-02T10:15:00Z","value":1}]}`, maxRows: 50,
			check: func(t *testing.T, d Decoded, err error) {
				var tooLarge *ingest.TooLargeError
				if !errors.As(err, &tooLarge) {
					t.Fatalf("got %v, want an *ingest.TooLargeError", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Decode(message(t, tt.topic, tt.payload, nil), tt.maxRows)
			tt.check(t, d, err)
		})
	}
}

// BenchmarkDecode measures each preset on a typical message.
func BenchmarkDecode(b *testing.B) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct{ name, topic, payload string }{
		{"readings", "readings/gw-1", `{"readings":[{"source":"m1","metric":"energy_import","time":"2026-12-02T10:15:00Z","value":12.5,"unit":"kWh"},{"source":"m1","metric":"power_import","time":"2026-12-02T10:15:00Z","value":420}]}`},
		{"tasmota", "tasmota/plug-7/tele/SENSOR", tasmotaSensor},
		{"shelly-switch", "shelly/plug-1/status/switch:0", shellySwitchStatus},
		{"shelly-em", "shelly/pro3em/status/em:0", shellyEMStatus},
		{"value", "value/m1/energy_import/kWh", "12.345"},
	}
	for _, c := range cases {
		tp, err := ParseTopic(DefaultPrefix, DefaultPrefix+"/ten_abc/"+c.topic)
		if err != nil {
			b.Fatal(err)
		}
		m := Message{Topic: tp, Payload: []byte(c.payload), Received: received, Zone: berlin}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(m, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDocsExamples decodes every mosquitto_pub example of
// docs/mqtt-presets.md: each must give readings and no rejection.
func TestDocsExamples(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/mqtt-presets.md")
	if err != nil {
		t.Fatal(err)
	}
	example := regexp.MustCompile(`mosquitto_pub [^'\n]*-t '([^']+)'[\s\\]*-m[\s\\]+'([^']*)'`)
	found := example.FindAllSubmatch(doc, -1)
	if len(found) < 6 {
		t.Fatalf("found %d examples, want one per preset at least", len(found))
	}
	for _, ex := range found {
		topic, payload := string(ex[1]), ex[2]
		tp, err := ParseTopic(DefaultPrefix, topic)
		if err != nil {
			t.Errorf("%s: %v", topic, err)
			continue
		}
		d, err := Decode(Message{Topic: tp, Payload: payload, Received: received, Zone: time.UTC}, 0)
		if err != nil || len(d.Rows) == 0 || d.Rejected.Total != 0 {
			t.Errorf("%s: %d rows, rejected %v, error %v", topic, len(d.Rows), d.Rejected.List, err)
		}
	}
}
