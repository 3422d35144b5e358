package pgbinary

import (
	"encoding/binary"
	"time"
)

// ArrayWriter appends a one-dimensional array in the binary form ParseArray
// reads, for a statement parameter: a large batch of values written once
// into memory sized for them, rather than through pgx's encoding, which
// grows its buffer a quarter at a time from a few hundred bytes for every
// statement. Elements are appended in order, each by the method of the
// array's element type, then Finish returns the array.
type ArrayWriter struct {
	b     []byte
	start int
	n     int32
	nulls bool
}

// NewArrayWriter starts an array of elements of type elem at the end of
// buf, which it appends to.
func NewArrayWriter(buf []byte, elem uint32) ArrayWriter {
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, 1) // dimensions
	buf = binary.BigEndian.AppendUint32(buf, 0) // has nulls, set by Finish
	buf = binary.BigEndian.AppendUint32(buf, elem)
	buf = binary.BigEndian.AppendUint32(buf, 0) // length, set by Finish
	buf = binary.BigEndian.AppendUint32(buf, 1) // lower bound
	return ArrayWriter{b: buf, start: start}
}

// Null appends a NULL.
func (a *ArrayWriter) Null() {
	a.b = binary.BigEndian.AppendUint32(a.b, 0xffffffff)
	a.n, a.nulls = a.n+1, true
}

// Text appends a text (or json) element.
func (a *ArrayWriter) Text(s []byte) { appendText(a, s) }

// String appends a text element.
func (a *ArrayWriter) String(s string) { appendText(a, s) }

func appendText[T string | []byte](a *ArrayWriter, s T) {
	a.b = binary.BigEndian.AppendUint32(a.b, uint32(len(s)))
	a.b = append(a.b, s...)
	a.n++
}

// AppendText appends a text element that f appends to the buffer it is
// given.
func (a *ArrayWriter) AppendText(f func([]byte) []byte) {
	at := len(a.b)
	a.b = f(binary.BigEndian.AppendUint32(a.b, 0))
	binary.BigEndian.PutUint32(a.b[at:], uint32(len(a.b)-at-4))
	a.n++
}

// Int8 appends a bigint.
func (a *ArrayWriter) Int8(v int64) {
	a.b = binary.BigEndian.AppendUint32(a.b, 8)
	a.b = binary.BigEndian.AppendUint64(a.b, uint64(v))
	a.n++
}

// Int4 appends an integer.
func (a *ArrayWriter) Int4(v int32) {
	a.b = binary.BigEndian.AppendUint32(a.b, 4)
	a.b = binary.BigEndian.AppendUint32(a.b, uint32(v))
	a.n++
}

// Timestamptz appends a timestamptz, to the microsecond (t truncated).
func (a *ArrayWriter) Timestamptz(t time.Time) {
	a.b = binary.BigEndian.AppendUint32(a.b, 8)
	a.b = binary.BigEndian.AppendUint64(a.b, uint64(t.UnixMicro()-epoch2000))
	a.n++
}

// Finish completes the array and returns the buffer given to
// NewArrayWriter with the array appended, and the array alone (a slice of
// it).
func (a *ArrayWriter) Finish() (buf, array []byte) {
	h := a.b[a.start:]
	if a.nulls {
		binary.BigEndian.PutUint32(h[4:], 1)
	}
	binary.BigEndian.PutUint32(h[12:], uint32(a.n))
	return a.b, a.b[a.start:]
}
