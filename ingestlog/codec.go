package ingestlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/gridmetrics/gridmetrics/ingest"
)

// A message of the log carries the points of one submission (or of one
// part of a large one) in a fixed binary layout: a 3-byte header (magic
// "GM" and version 1), a 4-byte big-endian point count, then 26 bytes per
// point: source id (8), metric (2), time in Unix microseconds (8), value
// (IEEE 754, 8). Fixed widths make a message's length a function of its
// count, so a truncated or padded message is refused before anything in it
// is read.
const (
	headerBytes = 7
	pointBytes  = 26
	version     = 1

	// MaxPoints is the most points one message carries: 26 × 32768 bytes
	// plus the header stays below NATS's default max_payload of 1 MiB.
	MaxPoints = 32768
	// MaxMessageBytes is the largest message the codec produces and
	// accepts.
	MaxMessageBytes = headerBytes + MaxPoints*pointBytes
)

// Times a point may carry, in Unix microseconds: from 2000-01-01, as
// ingest accepts, to 2200-01-01, far beyond any allowed clock skew and
// inside what PostgreSQL's timestamptz and Go's time.Time both hold.
const (
	minTime = 946_684_800_000_000
	maxTime = 7_258_118_400_000_000
)

// ErrMalformed is the error of a message that is not one the codec wrote.
var ErrMalformed = errors.New("malformed ingest log message")

// appendMessage appends the message of points to dst.
func appendMessage(dst []byte, points []ingest.Point) []byte {
	dst = append(dst, 'G', 'M', version)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(points)))
	for _, p := range points {
		dst = binary.BigEndian.AppendUint64(dst, uint64(p.SourceID))
		dst = binary.BigEndian.AppendUint16(dst, uint16(p.Metric))
		dst = binary.BigEndian.AppendUint64(dst, uint64(p.Time))
		dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(p.Value))
	}
	return dst
}

// EncodeMessage is the message carrying points; at most MaxPoints.
func EncodeMessage(points []ingest.Point) ([]byte, error) {
	if len(points) == 0 || len(points) > MaxPoints {
		return nil, fmt.Errorf("ingest log message: %d points, want 1 to %d", len(points), MaxPoints)
	}
	return appendMessage(make([]byte, 0, headerBytes+len(points)*pointBytes), points), nil
}

// DecodeMessage reads the points of a message, refusing anything the
// encoder would not have written or the writer must not see: a wrong
// header, a length that does not match the count, more than MaxPoints,
// and points no validated reading can be (a source or metric id below 1, a
// time outside 2000–2200, NaN or ±Inf).
func DecodeMessage(msg []byte) ([]ingest.Point, error) {
	if len(msg) > MaxMessageBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(msg), MaxMessageBytes)
	}
	if len(msg) < headerBytes || msg[0] != 'G' || msg[1] != 'M' {
		return nil, fmt.Errorf("%w: no header", ErrMalformed)
	}
	if msg[2] != version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, msg[2], version)
	}
	n := binary.BigEndian.Uint32(msg[3:])
	if n == 0 || n > MaxPoints {
		return nil, fmt.Errorf("%w: %d points, want 1 to %d", ErrMalformed, n, MaxPoints)
	}
	if want := headerBytes + int(n)*pointBytes; len(msg) != want {
		return nil, fmt.Errorf("%w: %d bytes for %d points, want %d", ErrMalformed, len(msg), n, want)
	}
	points := make([]ingest.Point, n)
	b := msg[headerBytes:]
	for i := range points {
		p := ingest.Point{
			SourceID: int64(binary.BigEndian.Uint64(b)),
			Metric:   int16(binary.BigEndian.Uint16(b[8:])),
			Time:     int64(binary.BigEndian.Uint64(b[10:])),
			Value:    math.Float64frombits(binary.BigEndian.Uint64(b[18:])),
		}
		b = b[pointBytes:]
		switch {
		case p.SourceID < 1, p.Metric < 1:
			return nil, fmt.Errorf("%w: point %d: source %d, metric %d", ErrMalformed, i, p.SourceID, p.Metric)
		case p.Time < minTime || p.Time >= maxTime:
			return nil, fmt.Errorf("%w: point %d: time %d µs is outside 2000–2200", ErrMalformed, i, p.Time)
		case math.IsNaN(p.Value) || math.IsInf(p.Value, 0):
			return nil, fmt.Errorf("%w: point %d: value %v", ErrMalformed, i, p.Value)
		}
		points[i] = p
	}
	return points, nil
}
