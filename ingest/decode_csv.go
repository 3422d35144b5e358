package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DecodeCSV reads text/csv with a header row source,metric,time,value[,unit]
// (columns in any order, header names case-insensitive, extra unknown columns
// are an error).
//
// Fields follow RFC 4180: separated by commas, records by LF or CRLF, quoted
// with double quotes (which may hold commas, line breaks and "" for a quote).
// Empty lines are skipped and a leading UTF-8 byte order mark is ignored.
// Every field is trimmed of surrounding whitespace; an empty unit is the
// metric's own unit, an empty source, metric, time or value is missing.
// Times are RFC 3339 with any offset, returned in UTC and truncated to whole
// microseconds (see parseRFC3339Micro). Values are read by strconv.ParseFloat, so NaN and Inf parse and are
// rejected with CodeInvalidValue. Row indexes count records after the
// header; messages name the record's line.
//
// err is for a body without the header, a header with an unknown, duplicate
// or missing column, and a quoting error (a stray quote, an unclosed quoted
// field), after which records cannot be told apart.
//
// At most MaxRejected rejections are returned; decodeCSV also counts the
// rest.
func DecodeCSV(body []byte) (rows []Row, rejected []RowError, err error) {
	rows, rej, err := decodeCSV(body, 0)
	return rows, rej.List, err
}

// decodeCSV is DecodeCSV with a bound on the rows returned: past maxRows
// (when positive) it stops with a *TooLargeError.
func decodeCSV(body []byte, maxRows int) (rows []Row, rejected Rejections, err error) {
	s := csvScanner{b: body, line: 1}
	s.b = bytes.TrimPrefix(s.b, []byte("\xef\xbb\xbf"))
	line, err := s.record()
	if err != nil {
		return nil, Rejections{}, err
	}
	if line == 0 {
		return nil, Rejections{}, errors.New("csv: missing header row source,metric,time,value[,unit]")
	}
	cols, err := csvColumns(line, s.fields)
	if err != nil {
		return nil, Rejections{}, err
	}

	d := csvDecoder{cols: cols, fields: len(s.fields)}
	est := len(s.b)/64 + 1
	if maxRows > 0 {
		est = min(est, maxRows+1)
	}
	d.rows = make([]Row, 0, est)
	for idx := 0; ; idx++ {
		line, err := s.record()
		if err != nil {
			return nil, Rejections{}, err
		}
		if line == 0 {
			break
		}
		d.row(idx, line, s.fields)
		if maxRows > 0 && len(d.rows) > maxRows {
			return nil, Rejections{}, tooManyRows(maxRows)
		}
	}
	return d.rows, d.rejected, nil
}

// Columns of a CSV body, in the order of csvColumns' result.
const (
	csvSource = iota
	csvMetric
	csvTime
	csvValue
	csvUnit
	csvColumnCount
)

var csvColumnNames = [csvColumnCount]string{"source", "metric", "time", "value", "unit"}

// csvColumns maps each column to its position in the header, -1 for an
// absent unit.
func csvColumns(line int, header [][]byte) ([csvColumnCount]int, error) {
	var cols [csvColumnCount]int
	for c := range cols {
		cols[c] = -1
	}
	for pos, f := range header {
		name := string(bytes.TrimSpace(f))
		c := 0
		for c < csvColumnCount && !strings.EqualFold(name, csvColumnNames[c]) {
			c++
		}
		switch {
		case c == csvColumnCount:
			return cols, fmt.Errorf("csv: line %d: unknown column %q", line, name)
		case cols[c] >= 0:
			return cols, fmt.Errorf("csv: line %d: duplicate column %q", line, name)
		}
		cols[c] = pos
	}
	for c := range csvUnit {
		if cols[c] < 0 {
			return cols, fmt.Errorf("csv: line %d: missing column %q", line, csvColumnNames[c])
		}
	}
	return cols, nil
}

type csvDecoder struct {
	cols     [csvColumnCount]int
	fields   int // per record, as in the header
	rows     []Row
	rejected Rejections
	strs     internTable
	// The last string of each column, to skip the map for runs of equal ones.
	lastSource, lastMetric, lastUnit string
}

// row reads the record with the given index, which starts on line.
func (d *csvDecoder) row(idx, line int, fields [][]byte) {
	if len(fields) != d.fields {
		d.rejected.Add(rowErr(idx, CodeMalformed, "line %d: expected %d fields, got %d", line, d.fields, len(fields)))
		return
	}
	field := func(c int) []byte { return bytes.TrimSpace(fields[d.cols[c]]) }
	r := Row{Index: idx}
	var problem, code string
	var c int
	for c = range csvColumnCount {
		if c == csvUnit && d.cols[c] < 0 {
			break
		}
		f := field(c)
		if len(f) == 0 && c != csvUnit {
			problem = "missing"
			break
		}
		var valid bool
		switch c {
		case csvSource:
			r.Source, valid = d.strs.bytes(f, &d.lastSource)
		case csvMetric:
			r.Metric, valid = d.strs.bytes(f, &d.lastMetric)
		case csvUnit:
			r.Unit, valid = d.strs.bytes(f, &d.lastUnit)
		case csvTime:
			if r.Time, valid = parseRFC3339Micro(f); !valid {
				problem = badTime(f)
			}
		case csvValue:
			v, err := strconv.ParseFloat(string(f), 64)
			switch {
			case err != nil && !errors.Is(err, strconv.ErrRange):
				problem = fmt.Sprintf("%q is not a number", clip(f))
			case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
				code, problem = CodeInvalidValue, fmt.Sprintf("%s is not a finite number", clip(f))
			}
			r.Value, valid = v, problem == ""
		}
		if !valid {
			if problem == "" {
				problem = problemText
			}
			break
		}
	}
	if problem != "" {
		if code == "" {
			code = CodeMalformed
		}
		d.rejected.Add(RowError{Index: idx, Code: code,
			Message: fmt.Sprintf("line %d: %s: %s", line, csvColumnNames[c], problem)})
		return
	}
	d.rows = append(d.rows, r)
}

// csvScanner splits a CSV body into records of fields. A field is a slice of
// the body, or of scratch when it was quoted with "" inside; either is valid
// until the next record.
type csvScanner struct {
	b       []byte
	pos     int
	line    int // of the read position, from 1
	fields  [][]byte
	scratch []byte
}

// record reads the next record into s.fields, skipping empty lines, and
// returns the line it starts on, 0 at the end of the body.
func (s *csvScanner) record() (line int, err error) {
	b := s.b
	for s.pos < len(b) {
		if b[s.pos] == '\n' {
			s.pos++
		} else if b[s.pos] == '\r' && s.pos+1 < len(b) && b[s.pos+1] == '\n' {
			s.pos += 2
		} else {
			break
		}
		s.line++
	}
	if s.pos >= len(b) {
		return 0, nil
	}
	line = s.line
	s.fields, s.scratch = s.fields[:0], s.scratch[:0]
	for {
		f, err := s.field()
		if err != nil {
			return 0, err
		}
		s.fields = append(s.fields, f)
		if s.pos >= len(b) {
			return line, nil
		}
		switch b[s.pos] {
		case ',':
			s.pos++
		case '\r': // field stops at a '\r' only before a '\n'
			s.pos += 2
			s.line++
			return line, nil
		default: // '\n'
			s.pos++
			s.line++
			return line, nil
		}
	}
}

// field reads one field, leaving the read position on the byte after it: a
// comma, the line end or the end of the body.
func (s *csvScanner) field() ([]byte, error) {
	b := s.b
	if s.pos < len(b) && b[s.pos] == '"' {
		return s.quoted()
	}
	start := s.pos
	for i := start; i < len(b); i++ {
		switch b[i] {
		case ',':
			s.pos = i
			return b[start:i], nil
		case '\n':
			if i > start && b[i-1] == '\r' {
				i--
			}
			s.pos = i
			return b[start:i], nil
		case '"':
			return nil, fmt.Errorf(`csv: line %d: bare " in a field that does not start with a quote`, s.line)
		}
	}
	s.pos = len(b)
	return b[start:], nil
}

// quoted reads a quoted field.
func (s *csvScanner) quoted() ([]byte, error) {
	b := s.b
	startLine := s.line
	i := s.pos + 1
	start, esc := i, -1 // esc: where the field starts in scratch once it has ""
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return nil, fmt.Errorf("csv: line %d: quoted field is not closed", startLine)
		}
		s.line += bytes.Count(b[i:i+j], []byte{'\n'})
		end := i + j
		if end+1 < len(b) && b[end+1] == '"' {
			if esc < 0 {
				esc = len(s.scratch)
			}
			s.scratch = append(s.scratch, b[i:end+1]...)
			i = end + 2
			continue
		}
		var f []byte
		if esc < 0 {
			f = b[start:end]
		} else {
			s.scratch = append(s.scratch, b[i:end]...)
			f = s.scratch[esc:len(s.scratch):len(s.scratch)]
		}
		s.pos = end + 1
		if p := s.pos; p < len(b) && b[p] != ',' && b[p] != '\n' && !(b[p] == '\r' && p+1 < len(b) && b[p+1] == '\n') {
			return nil, fmt.Errorf("csv: line %d: unexpected %s after a closing quote", s.line, quoteChar(b[p]))
		}
		return f, nil
	}
}
