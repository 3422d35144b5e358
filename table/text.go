package table

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/internal/jsontext"
)

// textRow gathers one row of a text format in a reused buffer.
type textRow struct {
	w    io.Writer
	cols []Column
	buf  []byte
	col  int // cells written in the row
	err  error
}

func (r *textRow) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// end writes the gathered row.
func (r *textRow) end() error {
	if r.err == nil && r.col != len(r.cols) {
		r.err = fmt.Errorf("a row of %d cells in a table of %d columns", r.col, len(r.cols))
	}
	if r.err != nil {
		return r.err
	}
	r.col = 0
	_, err := r.w.Write(r.buf)
	r.buf = r.buf[:0]
	return err
}

// csvWriter writes CSV as encoding/csv does (comma, LF line ends): a field
// is quoted when it holds a comma, a quote, CR or LF, starts with a space,
// or is `\.`; a null is an empty field.
//
// FuzzCSVField checks it against encoding/csv; BenchmarkCSV measured a row
// of six cells 3× faster than formatting them and writing encoding/csv,
// without allocating.
type csvWriter struct {
	textRow
	header []byte // not yet written
}

func newCSVWriter(w io.Writer, cols []Column) *csvWriter {
	c := &csvWriter{textRow: textRow{w: w, cols: cols}}
	for i, col := range cols {
		if i > 0 {
			c.header = append(c.header, ',')
		}
		c.header = appendCSVField(c.header, col.Name)
	}
	c.header = append(c.header, '\n')
	c.buf = append(c.buf, c.header...)
	return c
}

// sep starts a cell.
func (c *csvWriter) sep() {
	if c.col > 0 {
		c.buf = append(c.buf, ',')
	}
	c.col++
}

func (c *csvWriter) Null()           { c.sep() }
func (c *csvWriter) String(s string) { c.sep(); c.buf = appendCSVField(c.buf, s) }
func (c *csvWriter) Bytes(b []byte)  { c.sep(); c.buf = appendCSVField(c.buf, b) }
func (c *csvWriter) Time(t time.Time) {
	c.sep()
	c.buf = t.AppendFormat(c.buf, time.RFC3339Nano)
}

func (c *csvWriter) Float(v float64) {
	var form FloatText
	if c.col < len(c.cols) {
		form = c.cols[c.col].FloatText
	}
	c.sep()
	if form == FloatShortestG {
		c.buf = strconv.AppendFloat(c.buf, v, 'g', -1, 64)
		return
	}
	c.buf = AppendPlainFloat(c.buf, v)
}

func (c *csvWriter) Int(v int64) { c.sep(); c.buf = strconv.AppendInt(c.buf, v, 10) }
func (c *csvWriter) Decimal(d decimal.Decimal) {
	c.sep()
	c.buf = appendDecimal(c.buf, d)
}

func (c *csvWriter) EndRow() error {
	c.buf = append(c.buf, '\n')
	c.header = nil
	return c.end()
}

func (c *csvWriter) Close() error {
	if c.err != nil {
		return c.err
	}
	if c.header != nil { // a table without rows
		c.header = nil
		_, err := c.w.Write(c.buf)
		c.buf = c.buf[:0]
		return err
	}
	return nil
}

// appendCSVField appends s as a CSV field.
func appendCSVField[S string | []byte](b []byte, s S) []byte {
	if !csvNeedsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, s[start:i+1]...) // the quote, then its double
			b = append(b, '"')
			start = i + 1
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func csvNeedsQuotes[S string | []byte](s S) bool {
	if len(s) == 0 {
		return false
	}
	if len(s) == 2 && s[0] == '\\' && s[1] == '.' {
		return true // a line of its own would end a PostgreSQL COPY
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	if s[0] < utf8.RuneSelf {
		return unicode.IsSpace(rune(s[0]))
	}
	var head [utf8.UTFMax]byte
	n := copy(head[:], s)
	r, _ := utf8.DecodeRune(head[:n])
	return unicode.IsSpace(r)
}

// ndjsonWriter writes one JSON object per row, keys in column order, as
// encoding/json marshals a struct of those fields: strings escaped the same
// way (HTML characters included), times in RFC 3339, floats in its number
// form, decimals as strings.
//
// FuzzJSONString checks its strings against encoding/json; BenchmarkNDJSON
// measured a row of six cells 3–7× faster than json.Marshal of a struct
// (the ratio moves with the machine's load), without allocating.
type ndjsonWriter struct {
	textRow
	keys [][]byte // `{"name":` for the first column, `,"name":` after
}

func newNDJSONWriter(w io.Writer, cols []Column) *ndjsonWriter {
	n := &ndjsonWriter{textRow: textRow{w: w, cols: cols}, keys: make([][]byte, len(cols))}
	for i, c := range cols {
		k := []byte{','}
		if i == 0 {
			k[0] = '{'
		}
		k = jsontext.AppendString(k, c.Name)
		n.keys[i] = append(k, ':')
	}
	return n
}

// key starts a cell.
func (n *ndjsonWriter) key() {
	if n.col < len(n.keys) {
		n.buf = append(n.buf, n.keys[n.col]...)
	}
	n.col++
}

func (n *ndjsonWriter) Null()           { n.key(); n.buf = append(n.buf, "null"...) }
func (n *ndjsonWriter) String(s string) { n.key(); n.buf = jsontext.AppendString(n.buf, s) }
func (n *ndjsonWriter) Bytes(b []byte)  { n.key(); n.buf = jsontext.AppendString(n.buf, b) }

func (n *ndjsonWriter) Time(t time.Time) {
	n.key()
	if y := t.Year(); y < 0 || y > 9999 {
		n.fail(fmt.Errorf("%s: year %d is outside of [0, 9999]", n.cols[n.col-1].Name, y))
		return
	}
	n.buf = append(n.buf, '"')
	n.buf = t.AppendFormat(n.buf, time.RFC3339Nano)
	n.buf = append(n.buf, '"')
}

func (n *ndjsonWriter) Float(v float64) {
	n.key()
	var err error
	if n.buf, err = AppendJSONFloat(n.buf, v); err != nil {
		n.fail(fmt.Errorf("%s: %w", n.cols[n.col-1].Name, err))
	}
}

func (n *ndjsonWriter) Int(v int64) { n.key(); n.buf = strconv.AppendInt(n.buf, v, 10) }

func (n *ndjsonWriter) Decimal(d decimal.Decimal) {
	n.key()
	n.buf = append(n.buf, '"')
	n.buf = appendDecimal(n.buf, d)
	n.buf = append(n.buf, '"')
}

func (n *ndjsonWriter) EndRow() error {
	if n.col == 0 {
		n.buf = append(n.buf, '{')
	}
	n.buf = append(n.buf, '}', '\n')
	return n.end()
}

func (n *ndjsonWriter) Close() error { return n.err }

func appendDecimal(b []byte, d decimal.Decimal) []byte {
	b, _ = d.AppendText(b) // never fails
	return b
}

// AppendPlainFloat appends v in the shortest form that reads back as v,
// in plain digits up to 1e21 and with an exponent from there on.
func AppendPlainFloat(b []byte, v float64) []byte {
	if math.Abs(v) >= 1e21 {
		return strconv.AppendFloat(b, v, 'e', -1, 64)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

// errNotFinite is the error of a JSON float that is NaN or infinite.
var errNotFinite = errors.New("NaN and infinities have no JSON form")

// AppendJSONFloat appends v as encoding/json writes a float64: plain
// digits from 1e-6 up to 1e21, an exponent outside (1e-07 written 1e-7).
func AppendJSONFloat(b []byte, v float64) ([]byte, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return b, errNotFinite
	}
	abs := math.Abs(v)
	if abs == 0 || (abs >= 1e-6 && abs < 1e21) {
		return strconv.AppendFloat(b, v, 'f', -1, 64), nil
	}
	b = strconv.AppendFloat(b, v, 'e', -1, 64)
	// A two-digit negative exponent loses its leading zero.
	if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b, nil
}
