package ingestlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/ingest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixMicro()

func TestMessageRoundTrip(t *testing.T) {
	t.Parallel()
	points := []ingest.Point{
		{SourceID: 1, Metric: 1, Time: t0, Value: 0},
		{SourceID: math.MaxInt64, Metric: math.MaxInt16, Time: t0 + 1, Value: -1.5e300},
		{SourceID: 42, Metric: 7, Time: minTime, Value: math.SmallestNonzeroFloat64},
	}
	msg, err := EncodeMessage(points)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) != headerBytes+len(points)*pointBytes {
		t.Errorf("message is %d bytes, want %d", len(msg), headerBytes+len(points)*pointBytes)
	}
	got, err := DecodeMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, points) {
		t.Errorf("decoded %v, want %v", got, points)
	}
}

func TestEncodeRefusesEmptyAndOversized(t *testing.T) {
	t.Parallel()
	if _, err := EncodeMessage(nil); err == nil {
		t.Error("empty message encoded")
	}
	if _, err := EncodeMessage(make([]ingest.Point, MaxPoints+1)); err == nil {
		t.Error("message of MaxPoints+1 points encoded")
	}
}

// TestDecodeRefusesHostileMessages: whatever lands on the subject, the
// decoder refuses what the encoder would not have written, without
// reading past the message or allocating for a count it claims.
func TestDecodeRefusesHostileMessages(t *testing.T) {
	t.Parallel()
	good, err := EncodeMessage([]ingest.Point{{SourceID: 1, Metric: 1, Time: t0, Value: 1}})
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(b []byte) []byte) []byte { return edit(bytes.Clone(good)) }
	point := func(source int64, metric int16, at int64, v float64) []byte {
		b, _ := EncodeMessage([]ingest.Point{{SourceID: 1, Metric: 1, Time: t0, Value: 1}})
		binary.BigEndian.PutUint64(b[7:], uint64(source))
		binary.BigEndian.PutUint16(b[15:], uint16(metric))
		binary.BigEndian.PutUint64(b[17:], uint64(at))
		binary.BigEndian.PutUint64(b[25:], math.Float64bits(v))
		return b
	}
	huge := append([]byte{'G', 'M', version, 0, 0x80, 0, 0}, make([]byte, 64)...) // claims 8 M points
	tests := []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"json", []byte(`{"readings":[]}`)},
		{"header only", good[:headerBytes]},
		{"wrong magic", with(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"future version", with(func(b []byte) []byte { b[2] = 2; return b })},
		{"zero points", with(func(b []byte) []byte { binary.BigEndian.PutUint32(b[3:], 0); return b[:headerBytes] })},
		{"count past MaxPoints", huge},
		{"count above length", with(func(b []byte) []byte { binary.BigEndian.PutUint32(b[3:], 2); return b })},
		{"truncated point", good[:len(good)-1]},
		{"trailing bytes", append(bytes.Clone(good), 0)},
		{"oversized", make([]byte, MaxMessageBytes+1)},
		{"source 0", point(0, 1, t0, 1)},
		{"negative source", point(-5, 1, t0, 1)},
		{"metric 0", point(1, 0, t0, 1)},
		{"negative metric", point(1, -1, t0, 1)},
		{"time before 2000", point(1, 1, minTime-1, 1)},
		{"time after 2200", point(1, 1, maxTime, 1)},
		{"NaN", point(1, 1, t0, math.NaN())},
		{"+Inf", point(1, 1, t0, math.Inf(1))},
		{"-Inf", point(1, 1, t0, math.Inf(-1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeMessage(tt.msg)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeMessage = %v, %v; want ErrMalformed", got, err)
			}
		})
	}
}

// FuzzDecodeMessage: the decoder never panics, and whatever it accepts is
// exactly what the encoder writes for the points it returned.
func FuzzDecodeMessage(f *testing.F) {
	good, _ := EncodeMessage([]ingest.Point{{SourceID: 1, Metric: 1, Time: t0, Value: 1}, {SourceID: 2, Metric: 3, Time: t0 + 5, Value: -2}})
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("GM\x01\x00\x00\x00\x01"))
	f.Add(good[:len(good)-3])
	f.Fuzz(func(t *testing.T, msg []byte) {
		points, err := DecodeMessage(msg)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := EncodeMessage(points)
		if err != nil {
			t.Fatalf("accepted points do not encode: %v", err)
		}
		if !bytes.Equal(again, msg) {
			t.Fatalf("accepted %x, which encodes as %x", msg, again)
		}
	})
}
