package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON decoder is a hand-written scanner for exactly the two accepted
// shapes, not encoding/json: reflection-based decoding costs several
// allocations and about a microsecond per row, which the ingest path cannot
// afford (DESIGN.md §8). It never builds a tree; it walks the body once,
// keeping only the rows and the strings they need.
//
// Measured against encoding/json decoding the same 10,000-row bodies into
// equivalent structs, in turns in the same run (decode_baseline_test.go):
// encoding/json takes 5.0× as long for readings and 7.9× for compact
// series (medians of three runs; 4.5–6.4× and 7.3–10.6×), validation
// included on this side only.
//
//	go test -run '^$' -bench 'DecodeJSON/.*-vs-' -benchtime 60x -count 3 ./ingest

// maxJSONDepth bounds the nesting of values inside a row, so that skipping an
// unknown field cannot recurse without limit.
const maxJSONDepth = 128

// DecodeJSON reads {"readings":[{"source","metric","time","value","unit"}…]}
// (rows) or {"series":[{"source","metric","unit","points":[[time,value],…]}…]}
// (compact series).
//
// Row indexes count readings in order, or the points of all series flattened
// in order. A row that cannot be read becomes a RowError with CodeMalformed and
// a message naming the field path, such as readings[3].value; the other rows
// are returned. err is only for a body that cannot be read as a whole: bad
// JSON syntax, a top level other than an object with exactly one of
// "readings" and "series", or a series whose points cannot be counted.
//
// Strings are kept as sent (metric names and units are checked later), but
// text PostgreSQL cannot store (invalid UTF-8, NUL) is rejected per row; lone
// UTF-16 surrogates in \u escapes become U+FFFD, as in encoding/json. "unit"
// may be absent or null. Times are RFC 3339 strings with any offset, returned
// in UTC and truncated to whole microseconds, PostgreSQL's resolution (see
// parseRFC3339Micro). A number too large for a float64 is CodeInvalidValue.
//
// At most MaxRejected rejections are returned; decodeJSON also counts the
// rest.
func DecodeJSON(body []byte) (rows []Row, rejected []RowError, err error) {
	rows, rej, err := decodeJSON(body, 0)
	return rows, rej.List, err
}

// DecodeReadingsJSON is DecodeJSON for other entry points (the MQTT
// "readings" preset) that need its row bound and its full count of
// rejections: past maxRows (when positive) it stops with a *TooLargeError.
func DecodeReadingsJSON(body []byte, maxRows int) ([]Row, Rejections, error) {
	return decodeJSON(body, maxRows)
}

// decodeJSON is DecodeJSON with a bound on the rows returned: past maxRows
// (when positive) it stops with a *TooLargeError.
func decodeJSON(body []byte, maxRows int) (rows []Row, rejected Rejections, err error) {
	d := jsonDecoder{s: jsonScanner{b: body}, maxRows: maxRows}
	if err := d.decode(); err != nil {
		return nil, Rejections{}, err
	}
	return d.rows, d.rejected, nil
}

// Where a JSON syntax error happened, for its message.
const (
	jsonTop = iota
	jsonReadings
	jsonSeries
)

type jsonDecoder struct {
	s        jsonScanner
	rows     []Row
	rejected Rejections
	next     int // index of the next row
	maxRows  int // 0: no bound
	tooMany  bool
	strs     internTable
	// The last string of each field, to skip the map for runs of equal ones.
	lastSource, lastMetric, lastUnit string
}

func (d *jsonDecoder) decode() error {
	s := &d.s
	s.ws()
	if s.pos == len(s.b) {
		return errors.New("json: empty body")
	}
	if c := s.b[s.pos]; c != '{' {
		s.fail("expected an object at the top level, got %s", jsonKind(c))
		return d.bodyError()
	}
	var readings, series bool
	more, ok := s.open('}')
	for ok && more {
		s.ws()
		keyPos := s.pos
		var key []byte
		if key, ok = s.key(); !ok {
			break
		}
		switch string(key) {
		case "readings", "series":
			isReadings := key[0] == 'r'
			if readings || series {
				s.pos = keyPos
				if readings == isReadings {
					s.fail("duplicate key %q", key)
				} else {
					s.fail(`"readings" and "series" cannot be combined`)
				}
				return d.bodyError()
			}
			readings, series = isReadings, !isReadings
			d.rows = make([]Row, 0, d.estimateRows(len(s.b), isReadings))
			if isReadings {
				ok = d.readings()
			} else {
				ok = d.seriesList()
			}
			if ok {
				s.sec = jsonTop
			}
		default:
			s.pos = keyPos
			s.fail("unknown top-level key %q", key)
			return d.bodyError()
		}
		if ok {
			more, ok = s.next('}')
		}
	}
	if !ok {
		return d.bodyError()
	}
	if s.ws(); s.pos < len(s.b) {
		s.fail("unexpected %s after the top-level object", quoteChar(s.b[s.pos]))
		return d.bodyError()
	}
	if !readings && !series {
		return errors.New(`json: the body has neither "readings" nor "series"`)
	}
	return nil
}

// estimateRows guesses the number of rows in a body of n bytes from the size
// of a typical row, to size the result once in the common case.
func (d *jsonDecoder) estimateRows(n int, readings bool) int {
	est := n/32 + 1
	if readings {
		est = n/96 + 1
	}
	if d.maxRows > 0 {
		est = min(est, d.maxRows+1)
	}
	return est
}

// add appends a row, or stops the scan (a false return) once it would pass
// maxRows.
func (d *jsonDecoder) add(r Row) bool {
	if d.maxRows > 0 && len(d.rows) >= d.maxRows {
		d.tooMany = true
		return false
	}
	d.rows = append(d.rows, r)
	return true
}

// bodyError is the error for the first problem the scanner recorded, with
// where it is.
func (d *jsonDecoder) bodyError() error {
	if d.tooMany {
		return tooManyRows(d.maxRows)
	}
	s := &d.s
	line, col := 1, 1
	for _, c := range s.b[:s.errPos] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	var where string
	switch {
	case s.sec == jsonReadings:
		where = fmt.Sprintf("readings[%d]: ", s.i)
	case s.sec == jsonSeries && s.j >= 0:
		where = fmt.Sprintf("series[%d].points[%d]: ", s.i, s.j)
	case s.sec == jsonSeries:
		where = fmt.Sprintf("series[%d]: ", s.i)
	}
	return fmt.Errorf("json: %s%s (line %d, column %d)", where, s.err, line, col)
}

func (d *jsonDecoder) reject(index int, code, msg string) {
	d.rejected.Add(RowError{Index: index, Code: code, Message: msg})
}

// readings reads the array of "readings", the read position being on the
// byte after the key's colon.
func (d *jsonDecoder) readings() bool {
	s := &d.s
	if c := s.peek(); c != '[' {
		s.fail(`"readings" must be an array, got %s`, jsonKind(c))
		return false
	}
	s.sec, s.i = jsonReadings, 0
	more, ok := s.open(']')
	for ok && more {
		if ok = d.reading(s.i); ok {
			more, ok = s.next(']')
			s.i++
		}
	}
	return ok
}

// Fields of a reading or a series, as bits.
const (
	fieldSource = 1 << iota
	fieldMetric
	fieldTime
	fieldValue
	fieldUnit
	fieldPoints
)

func fieldOf(key []byte) int {
	switch string(key) {
	case "source":
		return fieldSource
	case "metric":
		return fieldMetric
	case "time":
		return fieldTime
	case "value":
		return fieldValue
	case "unit":
		return fieldUnit
	case "points":
		return fieldPoints
	}
	return 0
}

// reading reads readings[i]. It returns false on a syntax error only.
func (d *jsonDecoder) reading(i int) bool {
	s := &d.s
	idx := d.next
	d.next++
	if c := s.peek(); c != '{' {
		if !s.skip(0) {
			return false
		}
		d.reject(idx, CodeMalformed, fmt.Sprintf("readings[%d]: expected an object, got %s", i, jsonKind(c)))
		return true
	}
	var (
		r    = Row{Index: idx}
		seen int
		bad  rowProblem
	)
	more, ok := s.open('}')
	for ok && more {
		var key []byte
		if key, ok = s.key(); !ok {
			break
		}
		f := fieldOf(key)
		switch {
		case f == 0 || f == fieldPoints:
			bad.setf(CodeMalformed, "readings[%d]: unknown field %q", i, key)
			ok = s.skip(0)
		case seen&f != 0:
			bad.setf(CodeMalformed, "readings[%d]: duplicate field %q", i, key)
			ok = s.skip(0)
		default:
			seen |= f
			var code, problem string
			switch f {
			case fieldSource:
				r.Source, problem, ok = d.text(&d.lastSource, false)
			case fieldMetric:
				r.Metric, problem, ok = d.text(&d.lastMetric, false)
			case fieldUnit:
				r.Unit, problem, ok = d.text(&d.lastUnit, true)
			case fieldTime:
				r.Time, problem, ok = d.time()
			case fieldValue:
				r.Value, code, problem, ok = d.number()
			}
			if problem != "" && bad.code == "" {
				if code == "" {
					code = CodeMalformed
				}
				bad.set(code, fmt.Sprintf("readings[%d].%s: %s", i, key, problem))
			}
		}
		if ok {
			more, ok = s.next('}')
		}
	}
	if !ok {
		return false
	}
	if bad.code == "" {
		if f, problem := missingField(seen, r.Source, r.Metric); f != "" {
			bad.setf(CodeMalformed, "readings[%d].%s: %s", i, f, problem)
		}
	}
	if bad.code != "" {
		d.reject(idx, bad.code, bad.msg)
		return true
	}
	return d.add(r)
}

// missingField names the first required field a reading lacks, with what is
// wrong with it.
func missingField(seen int, source, metric string) (field, problem string) {
	switch {
	case seen&fieldSource == 0:
		return "source", "missing"
	case source == "":
		return "source", "empty"
	case seen&fieldMetric == 0:
		return "metric", "missing"
	case metric == "":
		return "metric", "empty"
	case seen&fieldTime == 0:
		return "time", "missing"
	case seen&fieldValue == 0:
		return "value", "missing"
	}
	return "", ""
}

// rowProblem is the first thing wrong with a row; later ones are not
// reported, so their messages are not even formatted.
type rowProblem struct {
	code, msg string
}

func (p *rowProblem) set(code, msg string) {
	if p.code == "" {
		p.code, p.msg = code, msg
	}
}

func (p *rowProblem) setf(code, format string, args ...any) {
	if p.code == "" {
		p.code, p.msg = code, fmt.Sprintf(format, args...)
	}
}

// seriesList reads the array of "series".
func (d *jsonDecoder) seriesList() bool {
	s := &d.s
	if c := s.peek(); c != '[' {
		s.fail(`"series" must be an array, got %s`, jsonKind(c))
		return false
	}
	s.sec, s.i, s.j = jsonSeries, 0, -1
	more, ok := s.open(']')
	for ok && more {
		if ok = d.series(s.i); ok {
			more, ok = s.next(']')
			s.i++
		}
	}
	return ok
}

// series reads series[i]. Its points are read as they come and given the
// series' source, metric and unit at the end, since "points" may come first.
// Anything wrong with the series itself rejects all its points. A series
// whose points cannot be counted is a syntax error: rows could not be
// numbered.
func (d *jsonDecoder) series(i int) bool {
	s := &d.s
	s.j = -1
	if c := s.peek(); c != '{' {
		s.fail("expected an object, got %s", jsonKind(c))
		return false
	}
	var (
		firstRow, firstRejected, firstIdx = len(d.rows), d.rejected, d.next
		source, metric, unit              string
		seen                              int
		bad                               rowProblem
	)
	more, ok := s.open('}')
	for ok && more {
		var key []byte
		if key, ok = s.key(); !ok {
			break
		}
		f := fieldOf(key)
		switch {
		case f == fieldPoints && seen&f != 0:
			s.fail(`duplicate key "points"`)
			return false
		case f == fieldPoints:
			seen |= f
			if ok = d.points(i); ok {
				s.j = -1
			}
		case f == 0 || f == fieldTime || f == fieldValue:
			bad.setf(CodeMalformed, "series[%d]: unknown field %q", i, key)
			ok = s.skip(0)
		case seen&f != 0:
			bad.setf(CodeMalformed, "series[%d]: duplicate field %q", i, key)
			ok = s.skip(0)
		default:
			seen |= f
			var problem string
			switch f {
			case fieldSource:
				source, problem, ok = d.text(&d.lastSource, false)
			case fieldMetric:
				metric, problem, ok = d.text(&d.lastMetric, false)
			case fieldUnit:
				unit, problem, ok = d.text(&d.lastUnit, true)
			}
			if problem != "" {
				bad.setf(CodeMalformed, "series[%d].%s: %s", i, key, problem)
			}
		}
		if ok {
			more, ok = s.next('}')
		}
	}
	if !ok {
		return false
	}
	if seen&fieldPoints == 0 {
		s.fail(`missing "points"`)
		return false
	}
	if bad.code == "" {
		if f, problem := missingField(seen|fieldTime|fieldValue, source, metric); f != "" {
			bad.setf(CodeMalformed, "series[%d].%s: %s", i, f, problem)
		}
	}
	if bad.code != "" {
		// Rows and rejections are in index order, and this series' are last.
		d.rows = d.rows[:firstRow]
		d.rejected = Rejections{List: d.rejected.List[:len(firstRejected.List)], Total: firstRejected.Total}
		for idx := firstIdx; idx < d.next; idx++ {
			d.reject(idx, bad.code, bad.msg)
		}
		return true
	}
	for k := firstRow; k < len(d.rows); k++ {
		r := &d.rows[k]
		r.Source, r.Metric, r.Unit = source, metric, unit
	}
	return true
}

// points reads the "points" of series[i].
func (d *jsonDecoder) points(i int) bool {
	s := &d.s
	if c := s.peek(); c != '[' {
		s.fail(`"points" must be an array, got %s`, jsonKind(c))
		return false
	}
	s.j = 0
	more, ok := s.open(']')
	for ok && more {
		if ok = d.point(i, s.j); ok {
			more, ok = s.next(']')
			s.j++
		}
	}
	return ok
}

// point reads series[i].points[j], a [time, value] pair.
func (d *jsonDecoder) point(i, j int) bool {
	s := &d.s
	idx := d.next
	d.next++
	if c := s.peek(); c != '[' {
		if !s.skip(0) {
			return false
		}
		d.reject(idx, CodeMalformed, fmt.Sprintf("series[%d].points[%d]: expected [time, value], got %s", i, j, jsonKind(c)))
		return true
	}
	var (
		r   = Row{Index: idx}
		bad rowProblem
		n   int
	)
	more, ok := s.open(']')
	for ; ok && more; n++ {
		var code, problem string
		switch n {
		case 0:
			if r.Time, problem, ok = d.time(); problem != "" {
				bad.setf(CodeMalformed, "series[%d].points[%d][0] (time): %s", i, j, problem)
			}
		case 1:
			if r.Value, code, problem, ok = d.number(); problem != "" {
				bad.setf(code, "series[%d].points[%d][1] (value): %s", i, j, problem)
			}
		default:
			ok = s.skip(0)
		}
		if ok {
			more, ok = s.next(']')
		}
	}
	if !ok {
		return false
	}
	if n != 2 {
		bad.setf(CodeMalformed, "series[%d].points[%d]: expected [time, value], got %d elements", i, j, n)
	}
	if bad.code != "" {
		d.reject(idx, bad.code, bad.msg)
		return true
	}
	return d.add(r)
}

// text reads a string value, interned. problem says what is wrong with the
// value, if anything; ok is false on a syntax error only. A null is "" when
// nullable.
func (d *jsonDecoder) text(last *string, nullable bool) (v, problem string, ok bool) {
	s := &d.s
	switch c := s.peek(); {
	case c == '"':
		b, ok := s.str()
		if !ok {
			return "", "", false
		}
		v, valid := d.strs.bytes(b, last)
		if !valid {
			return "", problemText, true
		}
		return v, "", true
	case c == 'n' && nullable:
		return "", "", s.literal("null")
	default:
		return "", "expected a string, got " + jsonKind(c), s.skip(0)
	}
}

// time reads an RFC 3339 time string.
func (d *jsonDecoder) time() (t time.Time, problem string, ok bool) {
	s := &d.s
	if c := s.peek(); c != '"' {
		return time.Time{}, "expected an RFC 3339 time string, got " + jsonKind(c), s.skip(0)
	}
	b, ok := s.str()
	if !ok {
		return time.Time{}, "", false
	}
	t, valid := parseRFC3339Micro(b)
	if !valid {
		return time.Time{}, badTime(b), true
	}
	return t, "", true
}

// number reads a numeric value; code is the rejection code for a problem.
func (d *jsonDecoder) number() (v float64, code, problem string, ok bool) {
	s := &d.s
	if c := s.peek(); c != '-' && !isDigit(c) {
		return 0, CodeMalformed, "expected a number, got " + jsonKind(c), s.skip(0)
	}
	b, ok := s.number()
	if !ok {
		return 0, "", "", false
	}
	// The JSON grammar is a subset of ParseFloat's, so the only error left is
	// a magnitude beyond float64 (ParseFloat does not keep its argument, so
	// the conversion does not allocate).
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, CodeInvalidValue, fmt.Sprintf("%s is out of range", clip(b)), true
	}
	return v, "", "", true
}

// jsonScanner reads JSON tokens from b. Its methods return false on a syntax
// error, recording the first one in err and errPos.
type jsonScanner struct {
	b       []byte
	pos     int
	scratch []byte // decoded strings with escapes

	err    string
	errPos int
	// Where the read position is: sec, one of jsonTop, jsonReadings and
	// jsonSeries, and the index i of the reading or series, j of a point
	// (-1 outside points).
	sec, i, j int
}

func (s *jsonScanner) fail(format string, args ...any) bool {
	if s.err == "" {
		s.err, s.errPos = fmt.Sprintf(format, args...), s.pos
	}
	return false
}

// unexpected fails on the byte at the read position, saying what was wanted
// instead.
func (s *jsonScanner) unexpected(want string) bool {
	if s.pos >= len(s.b) {
		return s.fail("unexpected end of input, want %s", want)
	}
	return s.fail("unexpected %s, want %s", quoteChar(s.b[s.pos]), want)
}

func (s *jsonScanner) ws() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (s *jsonScanner) peek() byte {
	s.ws()
	if s.pos < len(s.b) {
		return s.b[s.pos]
	}
	return 0
}

// open consumes the '{' or '[' at the read position; more reports whether a
// member or element follows rather than the closing byte.
func (s *jsonScanner) open(closing byte) (more, ok bool) {
	s.pos++
	if s.peek() == closing {
		s.pos++
		return false, true
	}
	return true, true
}

// next consumes the ',' or the closing byte after a member or element.
func (s *jsonScanner) next(closing byte) (more, ok bool) {
	switch s.peek() {
	case ',':
		s.pos++
		return true, true
	case closing:
		s.pos++
		return false, true
	}
	return false, s.unexpected(fmt.Sprintf("',' or '%c'", closing))
}

// key reads an object member's key and the colon after it.
func (s *jsonScanner) key() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, s.unexpected("a string key")
	}
	k, ok := s.str()
	if !ok {
		return nil, false
	}
	if s.peek() != ':' {
		return nil, s.unexpected("':'")
	}
	s.pos++
	return k, true
}

// str reads the string at the read position. It returns a slice of the input
// when the string has no escapes, else of s.scratch, valid until the next
// call.
func (s *jsonScanner) str() ([]byte, bool) {
	s.pos++
	start, i := s.pos, s.pos
	for i < len(s.b) && jsonPlain[s.b[i]] {
		i++
	}
	switch {
	case i == len(s.b):
		s.pos = i
		return nil, s.fail("unterminated string")
	case s.b[i] == '"':
		s.pos = i + 1
		return s.b[start:i], true
	case s.b[i] == '\\':
		return s.strEscaped(start, i)
	}
	s.pos = i
	return nil, s.fail("control character %s in a string", quoteChar(s.b[i]))
}

// jsonPlain tells the bytes that stand for themselves in a JSON string.
var jsonPlain = func() (plain [256]bool) {
	for c := 0x20; c < len(plain); c++ {
		plain[c] = c != '"' && c != '\\'
	}
	return plain
}()

// strEscaped decodes a string with escapes, given its start and the position
// of its first backslash.
func (s *jsonScanner) strEscaped(start, i int) ([]byte, bool) {
	b := s.b
	buf := append(s.scratch[:0], b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			s.pos = i + 1
			s.scratch = buf
			return buf, true
		case c < 0x20:
			s.pos = i
			return nil, s.fail("control character %s in a string", quoteChar(c))
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(b) {
			break
		}
		switch e := b[i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(b, i+2)
			if !ok {
				s.pos = i
				return nil, s.fail(`invalid \u escape`)
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A pair makes one rune; a lone half is U+FFFD, and what
				// follows it is read on its own.
				r2, ok := rune(-1), false
				if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
					r2, ok = hex4(b, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			s.pos = i
			return nil, s.fail("invalid escape %s", quoteChar(e))
		}
		i += 2
	}
	s.pos = len(b)
	s.scratch = buf
	return nil, s.fail("unterminated string")
}

// hex4 decodes the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a number at the read position, checking it against the JSON
// grammar, and returns its text.
func (s *jsonScanner) number() ([]byte, bool) {
	b := s.b
	start, i := s.pos, s.pos
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		s.pos = i
		return nil, s.unexpected("a digit")
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || !isDigit(b[i]) {
			s.pos = i
			return nil, s.unexpected("a digit")
		}
		for ; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			s.pos = i
			return nil, s.unexpected("a digit")
		}
		for ; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	s.pos = i
	return b[start:i], true
}

// literal reads true, false or null.
func (s *jsonScanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.pos:], []byte(lit)) {
		return s.unexpected("a value")
	}
	s.pos += len(lit)
	return true
}

// skip reads a value of any kind, checking its syntax.
func (s *jsonScanner) skip(depth int) bool {
	switch c := s.peek(); {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '-' || isDigit(c):
		_, ok := s.number()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '[' || c == '{':
		if depth >= maxJSONDepth {
			return s.fail("nesting too deep")
		}
		closing := byte(']')
		if c == '{' {
			closing = '}'
		}
		more, ok := s.open(closing)
		for ok && more {
			if c == '{' {
				if _, ok = s.key(); !ok {
					break
				}
			}
			if ok = s.skip(depth + 1); ok {
				more, ok = s.next(closing)
			}
		}
		return ok
	}
	return s.unexpected("a value")
}

// jsonKind names the kind of the JSON value starting with c, for messages.
func jsonKind(c byte) string {
	switch {
	case c == '"':
		return "string"
	case c == '-' || isDigit(c):
		return "number"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == 0:
		return "end of input"
	}
	return "invalid JSON"
}

func quoteChar(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("'%c'", c)
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// Helpers shared by the decoders of this package.

// problemText is what is wrong with a string PostgreSQL cannot store as text.
const problemText = "not valid text (invalid UTF-8 or a NUL character)"

// badTime says that b is not a time it can read.
func badTime(b []byte) string {
	return fmt.Sprintf("%q is not an RFC 3339 time", clip(b))
}

// clip shortens b for quoting in a message.
func clip(b []byte) []byte {
	const max = 64
	if len(b) > max {
		return b[:max]
	}
	return b
}

// internTable shares equal strings within one request, so that the 10 000
// rows of a request from 100 sources keep 100 source strings, not 10 000.
// It also refuses text PostgreSQL cannot store, checking each distinct
// string once.
type internTable struct {
	m map[string]string
}

// bytes returns b as a string; valid is false if b is not text, that is not
// UTF-8 or has a NUL. last caches the previous result of the caller's field:
// runs of equal values are common and skip the map.
func (t *internTable) bytes(b []byte, last *string) (s string, valid bool) {
	if string(b) == *last {
		return *last, true
	}
	if s, ok := t.m[string(b)]; ok { // does not allocate
		*last = s
		return s, true
	}
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return "", false
	}
	s = string(b)
	t.add(s)
	*last = s
	return s, true
}

// string is bytes for a string that may share memory with a buffer the
// caller does not own: what it keeps is a copy.
func (t *internTable) string(v string, last *string) (s string, valid bool) {
	if v == *last {
		return *last, true
	}
	if s, ok := t.m[v]; ok {
		*last = s
		return s, true
	}
	if !utf8.ValidString(v) || containsNUL(v) {
		return "", false
	}
	s = strings.Clone(v)
	t.add(s)
	*last = s
	return s, true
}

func (t *internTable) add(s string) {
	if t.m == nil {
		t.m = make(map[string]string, 64)
	}
	t.m[s] = s
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// parseRFC3339Micro parses an RFC 3339 date-time such as 2026-03-01T12:00:00Z
// or 2026-03-01T13:00:00.123+01:00 and returns it in UTC, truncated to whole
// microseconds: PostgreSQL keeps no more, and truncating here makes a retried
// or corrected reading land on exactly the same key.
//
// It reads the RFC 3339 grammar by hand, YYYY-MM-DDTHH:MM:SS[.f…](Z|±HH:MM)
// with any number of fraction digits and a lowercase t or z allowed, and
// checks every field's range (day within its month, offset below 24 hours).
// It does not fall back to time.Parse: that accepts what RFC 3339 does not
// (offsets of +24:00 or +23:60, one-digit hours, a comma before the
// fraction; go.dev/issue/54580), and times that one client's library writes
// and another's refuses are better refused here.
func parseRFC3339Micro(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10]|0x20 != 't' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, micros := 19, 0
	if b[i] == '.' {
		i++
		start := i
		for ; i < len(b) && isDigit(b[i]); i++ {
			if i-start < 6 {
				micros = micros*10 + int(b[i]-'0')
			}
		}
		if i == start {
			return time.Time{}, false
		}
		for n := i - start; n < 6; n++ {
			micros *= 10
		}
	}
	var offset int
	switch {
	case i == len(b)-1 && b[i]|0x20 == 'z':
	case i == len(b)-6 && (b[i] == '+' || b[i] == '-') && b[i+3] == ':':
		oh, ok1 := digits(b[i+1 : i+3])
		om, ok2 := digits(b[i+4 : i+6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if b[i] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(micros)*1000).UTC(), true
}

// digits reads a short run of decimal digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch returns the number of days from 1970-01-01 to the given
// date of the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
func daysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	m := int64(month)
	if m > 2 {
		m -= 3
	} else {
		m += 9
	}
	doy := (153*m+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
