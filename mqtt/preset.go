package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/gridmetrics/gridmetrics/ingest"
)

// The presets: the names a topic's third level may take
// (docs/mqtt-presets.md describes each).
const (
	PresetReadings = "readings" // the JSON bodies of POST /v1/readings
	PresetTasmota  = "tasmota"  // Tasmota's tele/SENSOR and stat/STATUS10, STATUS8
	PresetShelly   = "shelly"   // Shelly Gen2+ status/… and events/rpc
	PresetValue    = "value"    // one number per message, metric and unit in the topic
)

// Presets lists the preset names, for docs and errors.
var Presets = []string{PresetReadings, PresetTasmota, PresetShelly, PresetValue}

// preset is one decoder: how its topics name the device, and how it reads a
// payload of the device.
type preset struct {
	device func(levels []string) (string, error)
	decode func(m Message, device string, maxRows int) (Decoded, error)
	// localTime: payloads carry local times without an offset.
	localTime bool
}

var presets = map[string]preset{
	PresetReadings: {device: readingsDevice, decode: decodeReadings},
	PresetTasmota:  {device: tasmotaDevice, decode: decodeTasmota, localTime: true},
	PresetShelly:   {device: shellyDevice, decode: decodeShelly},
	PresetValue:    {device: valueDevice, decode: decodeValue},
}

// Device returns the source external id the topic names. Levels may carry
// '/': a connector "CB-0042/1" is the levels CB-0042, 1. It is an error when
// the topic does not have its preset's shape.
func Device(t Topic) (string, error) {
	p, ok := presets[t.Preset]
	if !ok {
		return "", fmt.Errorf("topic: unknown preset %q", t.Preset)
	}
	return p.device(t.Levels)
}

// UsesLocalTime reports whether the preset's payloads carry local times
// without an offset (only tasmota): the subscriber then looks up the
// source's time zone and sets Message.Zone.
func UsesLocalTime(preset string) bool {
	return presets[preset].localTime
}

// Decode decodes m.Payload by m.Topic.Preset.
//
// A payload that cannot be read as a whole is an error, whose text is the
// reason a dead letter keeps. A value that cannot be read is a rejected row
// (ingest.RowError); indexes count the values of the message in order,
// rejected ones included. A topic of the preset that carries no readings
// (Tasmota's tele/STATE, Shelly's online…) gives no rows, no rejections and
// no error. Past maxRows rows (when positive) Decode stops with an
// *ingest.TooLargeError.
func Decode(m Message, maxRows int) (Decoded, error) {
	p, ok := presets[m.Topic.Preset]
	if !ok {
		return Decoded{}, fmt.Errorf("topic: unknown preset %q", m.Topic.Preset)
	}
	device, err := p.device(m.Topic.Levels)
	if err != nil {
		return Decoded{}, err
	}
	return p.decode(m, device, maxRows)
}

// rowSink collects a message's rows and rejections, numbering both in the
// order the values appear, and stops past maxRows.
type rowSink struct {
	maxRows int
	next    int // index of the next value
	out     Decoded
	err     error // *ingest.TooLargeError once past maxRows
}

// add appends a row, or rejects a value that is not finite; path names
// where the value was, for the rejection.
func (s *rowSink) add(path, source, metric, unit string, t time.Time, v float64) {
	if s.err != nil {
		return
	}
	i := s.next
	s.next++
	if math.IsNaN(v) || math.IsInf(v, 0) {
		s.out.Rejected.Add(ingest.RowError{Index: i, Code: ingest.CodeInvalidValue,
			Message: fmt.Sprintf("%s: %v is not a finite number", path, v)})
		return
	}
	if s.maxRows > 0 && len(s.out.Rows) >= s.maxRows {
		s.err = tooManyRows(s.maxRows)
		return
	}
	s.out.Rows = append(s.out.Rows, ingest.Row{Index: i, Source: source, Metric: metric, Unit: unit, Time: t, Value: v})
}

// reject records a value that cannot be read.
func (s *rowSink) reject(code, format string, args ...any) {
	if s.err != nil {
		return
	}
	s.out.Rejected.Add(ingest.RowError{Index: s.next, Code: code, Message: fmt.Sprintf(format, args...)})
	s.next++
}

func (s *rowSink) result() (Decoded, error) {
	if s.err != nil {
		return Decoded{}, s.err
	}
	return s.out, nil
}

func tooManyRows(limit int) *ingest.TooLargeError {
	return &ingest.TooLargeError{Limit: int64(limit),
		Message: fmt.Sprintf("the message holds more than %d readings, the most one message may carry", limit)}
}

// field is one member of a JSON object, in the order it was sent.
type field struct {
	key string
	val json.RawMessage
}

// objectFields reads a JSON object's members in order, so that row indexes
// follow the payload; what names the object in errors. encoding/json bounds
// the nesting of the values it skips.
func objectFields(b []byte, what string) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s: %s", what, jsonError(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%s: expected an object, got %s", what, jsonKind(b))
	}
	var fields []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %s", what, jsonError(err))
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("%s.%s: %s", what, key, jsonError(err))
		}
		fields = append(fields, field{key, val})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%s: %s", what, jsonError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the object", what)
	}
	return fields, nil
}

// member returns the first member named key.
func member(fields []field, key string) (json.RawMessage, bool) {
	for _, f := range fields {
		if f.key == key {
			return f.val, true
		}
	}
	return nil, false
}

func jsonError(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of JSON"
	}
	return "invalid JSON: " + err.Error()
}

// jsonKind names the kind of a JSON value by its first byte, for messages.
func jsonKind(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// isNull reports whether a JSON value is null.
func isNull(b json.RawMessage) bool { return string(b) == "null" }

// jsonNumber reads a JSON number. ok is false for another kind of value;
// a number past float64's range is returned as ±Inf, for the caller to
// reject as not finite.
func jsonNumber(b json.RawMessage) (v float64, ok bool) {
	if len(b) == 0 || jsonKind(b) != "a number" {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil && !math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// utcMicro is a reading's time as the ingest service keeps it: UTC, whole
// microseconds.
func utcMicro(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
