package mqtt

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

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
