package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// The Arrow decoder reads the stream's messages straight from the body and
// its columns by type, instead of the stock ipc.Reader over a bytes.Reader
// with a generic walk of each record. Measured against that stock path
// reading the same 10,000-row streams into the same rows, in turns in the
// same run (decode_baseline_test.go): the stock path takes 4.1× as long
// with utf8 text and 2.8× with dictionaries (medians of three runs;
// 2.8–4.9× and 2.2–4.0×), validation included on this side only.
//
//	go test -run '^$' -bench 'DecodeArrow/.*-vs-' -benchtime 60x -count 3 ./ingest

// Arrow streams may be compressed, so the memory a body decodes into is
// bounded by arrowMemoryBase + arrowMemoryFactor × its size: enough for any
// real compression ratio of readings, not for a few bytes that claim
// gigabytes. The rows decoded count against it too (arrowRowBytes each):
// small compressed buffers can hold tens of millions of rows, each far
// larger as a Row than in its columns.
const (
	arrowMemoryBase   = 4 << 20
	arrowMemoryFactor = 32
	arrowRowBytes     = int64(unsafe.Sizeof(Row{}))
)

// Unix seconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the times
// RFC 3339 can write; the other formats cannot send others either.
const (
	minUnixSecond = -62167219200
	maxUnixSecond = 253402300799
)

// DecodeArrow reads an Arrow IPC stream (application/vnd.apache.arrow.stream)
// with columns source (utf8, large_utf8 or dictionary of those), metric
// (same), time (timestamp of any unit; with or without a time zone, values
// are UTC instants), value (float64; also accept float32 and int64), optional
// unit (string or dictionary).
//
// Column names are case-insensitive, as in CSV; another column is an error.
// Row indexes count the rows of all record batches in order. A null source,
// metric, time or value, an empty source or metric, text PostgreSQL cannot
// store and a time outside years 0000–9999 are CodeMalformed; NaN and ±Inf
// are CodeInvalidValue; a null unit is the metric's own unit. Times are
// truncated to microseconds, as by parseRFC3339Micro.
//
// err is for a body that is not an Arrow IPC stream, a schema lacking a
// required column or with a column of another type, and a malformed batch;
// it is a *TooLargeError for a stream that decodes into more memory than
// its size allows. At most MaxRejected rejections are returned;
// decodeArrow also counts the rest.
func DecodeArrow(body []byte) (rows []Row, rejected []RowError, err error) {
	rows, rej, err := decodeArrow(body, arrowBudgetOf(body), 0)
	return rows, rej.List, err
}

// arrowBudgetOf is the memory a body may decode into, in bytes.
func arrowBudgetOf(body []byte) int64 {
	return arrowMemoryBase + arrowMemoryFactor*int64(len(body))
}

// decodeArrow is DecodeArrow with a budget of memory in bytes and a bound on
// the rows returned: past maxRows (when positive) it stops with a
// *TooLargeError.
func decodeArrow(body []byte, budget int64, maxRows int) (rows []Row, rejected Rejections, err error) {
	if len(body) == 0 {
		return nil, Rejections{}, errors.New("arrow: empty body")
	}
	mem := &arrowBudget{mem: memory.DefaultAllocator}
	mem.left.Store(budget)
	tooLarge := func() error {
		return &TooLargeError{Limit: budget, Message: fmt.Sprintf(
			"arrow: the stream decodes into more than %d bytes of rows and buffers, the most a body of %d bytes may", budget, len(body))}
	}
	rdr, err := ipc.NewReaderFromMessageReader(&arrowMessages{b: body, refs: 1}, ipc.WithAllocator(mem))
	if err != nil {
		if mem.left.Load() < 0 {
			return nil, Rejections{}, tooLarge()
		}
		return nil, Rejections{}, arrowError(err)
	}
	defer rdr.Release()
	d := arrowDecoder{mem: mem, maxRows: maxRows}
	if err := d.columns(rdr.Schema()); err != nil {
		return nil, Rejections{}, err
	}
	for rdr.Next() {
		if err := d.record(rdr.Record()); errors.Is(err, errArrowTooLarge) {
			return nil, Rejections{}, tooLarge()
		} else if err != nil {
			return nil, Rejections{}, err
		}
	}
	if err := rdr.Err(); err != nil {
		if mem.left.Load() < 0 {
			return nil, Rejections{}, tooLarge()
		}
		return nil, Rejections{}, arrowError(err)
	}
	return d.rows, d.rejected, nil
}

func arrowError(err error) error {
	return fmt.Errorf("arrow: %s", strings.TrimPrefix(err.Error(), "arrow/ipc: "))
}

// Columns of an Arrow body.
const (
	arrowSource = iota
	arrowMetric
	arrowTime
	arrowValue
	arrowUnit
	arrowColumnCount
)

var arrowColumnNames = [arrowColumnCount]string{"source", "metric", "time", "value", "unit"}

type arrowDecoder struct {
	cols     [arrowColumnCount]int // field index of each column, -1 if absent
	rows     []Row
	rejected Rejections
	next     int // index of the next row
	mem      *arrowBudget
	maxRows  int // 0: no bound
	strs     internTable
	text     [arrowColumnCount]arrowText // of source, metric, unit
}

// columns finds the columns in the schema and checks their types.
func (d *arrowDecoder) columns(schema *arrow.Schema) error {
	for c := range d.cols {
		d.cols[c] = -1
	}
	for i, f := range schema.Fields() {
		c := 0
		for c < arrowColumnCount && !strings.EqualFold(f.Name, arrowColumnNames[c]) {
			c++
		}
		switch {
		case c == arrowColumnCount:
			return fmt.Errorf("arrow: unknown column %q", f.Name)
		case d.cols[c] >= 0:
			return fmt.Errorf("arrow: duplicate column %q", f.Name)
		}
		d.cols[c] = i
		var ok bool
		var want string
		switch c {
		case arrowSource, arrowMetric, arrowUnit:
			ok, want = arrowTextType(f.Type), "utf8, large_utf8 or a dictionary of them"
		case arrowTime:
			ok, want = f.Type.ID() == arrow.TIMESTAMP, "timestamp"
		case arrowValue:
			id := f.Type.ID()
			ok, want = id == arrow.FLOAT64 || id == arrow.FLOAT32 || id == arrow.INT64, "float64, float32 or int64"
		}
		if !ok {
			return fmt.Errorf("arrow: column %q has type %s, want %s", f.Name, f.Type, want)
		}
	}
	for c := range arrowUnit {
		if d.cols[c] < 0 {
			return fmt.Errorf("arrow: missing column %q", arrowColumnNames[c])
		}
	}
	return nil
}

func arrowTextType(t arrow.DataType) bool {
	if dt, ok := t.(*arrow.DictionaryType); ok {
		t = dt.ValueType
	}
	return t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING
}

// record reads the rows of one record batch. Arrays are checked before they
// are read, so a malformed batch is an error, not a panic.
func (d *arrowDecoder) record(rec arrow.Record) error {
	n := int(rec.NumRows())
	if n < 0 {
		return errors.New("arrow: malformed record batch")
	}
	for c, col := range d.cols {
		if col < 0 {
			continue
		}
		arr := rec.Column(col)
		if arr.Len() != n || !arrowNullsOK(arr) {
			return fmt.Errorf("arrow: column %q: malformed array", arrowColumnNames[c])
		}
		switch c {
		case arrowSource, arrowMetric, arrowUnit:
			if err := d.text[c].reset(arr); err != nil {
				return fmt.Errorf("arrow: column %q: %w", arrowColumnNames[c], err)
			}
		}
	}

	b := arrowBatch{timeArr: rec.Column(d.cols[arrowTime]).(*array.Timestamp), valueArr: rec.Column(d.cols[arrowValue])}
	b.times = b.timeArr.TimestampValues()
	b.unit = b.timeArr.DataType().(*arrow.TimestampType).Unit
	b.timeNulls, b.valueNulls = len(b.timeArr.NullBitmapBytes()) > 0, len(b.valueArr.NullBitmapBytes()) > 0
	var nv int
	switch a := b.valueArr.(type) {
	case *array.Float64:
		b.f64 = a.Float64Values()
		nv = len(b.f64)
	case *array.Float32:
		b.f32 = a.Float32Values()
		nv = len(b.f32)
	case *array.Int64:
		b.i64 = a.Int64Values()
		nv = len(b.i64)
	}
	if len(b.times) != n {
		return errors.New(`arrow: column "time": malformed array`)
	}
	if nv != n {
		return errors.New(`arrow: column "value": malformed array`)
	}

	// The batch's rows are paid for before they are allocated.
	if d.mem != nil && !d.mem.tryTake(int64(n)*arrowRowBytes) {
		return errArrowTooLarge
	}
	grow := n
	if d.maxRows > 0 {
		grow = min(n, d.maxRows+1-len(d.rows))
	}
	d.rows = slices.Grow(d.rows, grow)
	for i := range n {
		r := Row{Index: d.next}
		d.next++
		if code, msg := d.row(&r, &b, i); code != "" {
			d.rejected.Add(RowError{Index: r.Index, Code: code, Message: msg})
			continue
		}
		if d.maxRows > 0 && len(d.rows) >= d.maxRows {
			return tooManyRows(d.maxRows)
		}
		d.rows = append(d.rows, r)
	}
	return nil
}

// arrowBatch holds the time and value columns of a record batch.
type arrowBatch struct {
	timeArr               *array.Timestamp
	times                 []arrow.Timestamp
	unit                  arrow.TimeUnit
	valueArr              arrow.Array
	f64                   []float64 // one of f64, f32 and i64 holds the values
	f32                   []float32
	i64                   []int64
	timeNulls, valueNulls bool
}

// row reads the i-th row of the batch into r, or returns what is wrong with
// it.
func (d *arrowDecoder) row(r *Row, b *arrowBatch, i int) (code, msg string) {
	var problem int
	if r.Source, problem = d.text[arrowSource].value(i, &d.strs); problem == arrowTextOK && r.Source == "" {
		return CodeMalformed, "source: empty"
	} else if problem != arrowTextOK {
		return CodeMalformed, "source: " + arrowTextProblems[problem]
	}
	if r.Metric, problem = d.text[arrowMetric].value(i, &d.strs); problem == arrowTextOK && r.Metric == "" {
		return CodeMalformed, "metric: empty"
	} else if problem != arrowTextOK {
		return CodeMalformed, "metric: " + arrowTextProblems[problem]
	}
	if b.timeNulls && b.timeArr.IsNull(i) {
		return CodeMalformed, "time: null"
	}
	var ok bool
	if r.Time, ok = arrowInstant(int64(b.times[i]), b.unit); !ok {
		return CodeMalformed, fmt.Sprintf("time: %d %s since 1970 is out of range", b.times[i], b.unit)
	}
	if b.valueNulls && b.valueArr.IsNull(i) {
		return CodeMalformed, "value: null"
	}
	switch {
	case b.f64 != nil:
		r.Value = b.f64[i]
	case b.f32 != nil:
		r.Value = float64(b.f32[i])
	default:
		r.Value = float64(b.i64[i])
	}
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		return CodeInvalidValue, fmt.Sprintf("value: %v is not a finite number", r.Value)
	}
	if d.cols[arrowUnit] >= 0 {
		// A null unit is the metric's own, as an absent one.
		if r.Unit, problem = d.text[arrowUnit].value(i, &d.strs); problem != arrowTextOK && problem != arrowTextNull {
			return CodeMalformed, "unit: " + arrowTextProblems[problem]
		}
	}
	return "", ""
}

// arrowInstant converts a timestamp in the given unit since the Unix epoch.
func arrowInstant(v int64, unit arrow.TimeUnit) (time.Time, bool) {
	var per int64
	switch unit {
	case arrow.Second:
		per = 1
	case arrow.Millisecond:
		per = 1e3
	case arrow.Microsecond:
		per = 1e6
	default:
		per = 1e9
	}
	sec, frac := v/per, v%per
	if frac < 0 {
		sec, frac = sec-1, frac+per
	}
	if sec < minUnixSecond || sec > maxUnixSecond {
		return time.Time{}, false
	}
	micros := frac * 1e6 / per // whole microseconds, truncated
	return time.Unix(sec, micros*1e3).UTC(), true
}

// arrowNullsOK reports whether the validity bitmap of arr, if any, covers
// its values.
func arrowNullsOK(arr arrow.Array) bool {
	bm := arr.NullBitmapBytes()
	return len(bm) == 0 || len(bm)*8 >= arr.Data().Offset()+arr.Len()
}

// arrowText reads a string column of one record batch: utf8, large_utf8 or a
// dictionary of either.
type arrowText struct {
	arr   arrow.Array
	nulls bool
	str   *array.String // the values, or the dictionary's
	large *array.LargeString
	// Of a dictionary: the index of each row, and the values, interned as
	// rows need them (dictProblem[k] < 0 while dictVals[k] is not read).
	// Batches usually share one dictionary, dict, and then its values.
	index       func(int) int
	dict        arrow.ArrayData
	dictVals    []string
	dictProblem []int8
	last        string
}

// Problems with a string value, as indexes into arrowTextProblems.
const (
	arrowTextOK = iota
	arrowTextNull
	arrowTextInvalid
	arrowTextIndex
)

var arrowTextProblems = [...]string{"", "null", problemText, "dictionary index out of range"}

// reset prepares to read arr, checking what value reads.
func (t *arrowText) reset(arr arrow.Array) error {
	prev := *t
	*t = arrowText{arr: arr, nulls: len(arr.NullBitmapBytes()) > 0, last: prev.last}
	values := arr
	if a, ok := arr.(*array.Dictionary); ok {
		index, err := arrowDictIndex(a.Indices(), a.Len())
		if err != nil {
			return err
		}
		if values, err = arrowDictionary(a); err != nil {
			return err
		}
		t.index, t.dict = index, values.Data()
		if t.dict == prev.dict {
			// Checked and partly read already.
			t.dictVals, t.dictProblem = prev.dictVals, prev.dictProblem
			t.str, _ = values.(*array.String)
			t.large, _ = values.(*array.LargeString)
			return nil
		}
		if values.Len() < 0 || !arrowNullsOK(values) {
			return errors.New("malformed dictionary")
		}
		t.dictVals = make([]string, values.Len())
		t.dictProblem = make([]int8, values.Len())
		for k := range t.dictProblem {
			t.dictProblem[k] = -1
		}
	}
	switch a := values.(type) {
	case *array.String:
		t.str = a
		return arrowOffsetsOK(a.Len(), a.ValueOffsets)
	case *array.LargeString:
		t.large = a
		return arrowOffsetsOK(a.Len(), a.ValueOffsets)
	}
	return fmt.Errorf("unexpected array type %s", values.DataType())
}

// value returns the i-th value of the column, or the problem with it.
func (t *arrowText) value(i int, strs *internTable) (string, int) {
	if t.nulls && t.arr.IsNull(i) {
		return "", arrowTextNull
	}
	if t.index == nil {
		return t.intern(i, strs)
	}
	k := t.index(i)
	if k < 0 || k >= len(t.dictVals) {
		return "", arrowTextIndex
	}
	if t.dictProblem[k] < 0 {
		v, problem := "", arrowTextNull
		if t.str != nil && !t.str.IsNull(k) || t.large != nil && !t.large.IsNull(k) {
			v, problem = t.intern(k, strs)
		}
		t.dictVals[k], t.dictProblem[k] = v, int8(problem)
	}
	return t.dictVals[k], int(t.dictProblem[k])
}

// intern returns the k-th string of the values, interned.
func (t *arrowText) intern(k int, strs *internTable) (string, int) {
	var v string
	if t.str != nil {
		v = t.str.Value(k)
	} else {
		v = t.large.Value(k)
	}
	s, valid := strs.string(v, &t.last)
	if !valid {
		return "", arrowTextInvalid
	}
	return s, arrowTextOK
}

// arrowOffsetsOK checks the offsets of a string array's values, which
// String.Value trusts: non-negative and non-decreasing (the array checked
// that the last is within its data).
func arrowOffsetsOK[T int32 | int64](n int, offsets func() []T) error {
	if n == 0 {
		return nil
	}
	prev := T(0)
	for _, o := range offsets() {
		if o < prev {
			return errors.New("malformed string offsets")
		}
		prev = o
	}
	return nil
}

// arrowDictIndex returns a function giving the dictionary index of each row,
// after checking the indices cover the rows; a negative index reads as
// out of range.
func arrowDictIndex(indices arrow.Array, n int) (func(int) int, error) {
	var got int
	var index func(int) int
	switch a := indices.(type) {
	case *array.Int8:
		v := a.Int8Values()
		got, index = len(v), func(i int) int { return int(v[i]) }
	case *array.Uint8:
		v := a.Uint8Values()
		got, index = len(v), func(i int) int { return int(v[i]) }
	case *array.Int16:
		v := a.Int16Values()
		got, index = len(v), func(i int) int { return int(v[i]) }
	case *array.Uint16:
		v := a.Uint16Values()
		got, index = len(v), func(i int) int { return int(v[i]) }
	case *array.Int32:
		v := a.Int32Values()
		got, index = len(v), func(i int) int { return int(v[i]) }
	case *array.Uint32:
		v := a.Uint32Values()
		got, index = len(v), func(i int) int { return int(v[i]) }
	case *array.Int64:
		v := a.Int64Values()
		got, index = len(v), func(i int) int { return int(v[i]) }
	case *array.Uint64:
		v := a.Uint64Values()
		got, index = len(v), func(i int) int {
			if v[i] > math.MaxInt32 {
				return -1
			}
			return int(v[i])
		}
	default:
		return nil, fmt.Errorf("dictionary indices of type %s", indices.DataType())
	}
	if got != n {
		return nil, errors.New("malformed dictionary indices")
	}
	return index, nil
}

// arrowDictionary returns the values of a dictionary array. Building them can
// panic on a malformed stream, which is an error here.
func arrowDictionary(a *array.Dictionary) (dict arrow.Array, err error) {
	defer func() {
		if p := recover(); p != nil {
			dict, err = nil, fmt.Errorf("malformed dictionary: %v", p)
		}
	}()
	return a.Dictionary(), nil
}

// arrowMessages reads the messages of an IPC stream held in memory. Unlike
// ipc.NewReader over a bytes.Reader it neither copies message bodies nor
// allocates lengths read from the stream before checking them against the
// bytes there are.
type arrowMessages struct {
	b    []byte
	pos  int
	refs int64
	msg  *ipc.Message
}

// Message returns the next message, or io.EOF at the end of the stream.
func (r *arrowMessages) Message() (*ipc.Message, error) {
	if r.msg != nil {
		r.msg.Release()
		r.msg = nil
	}
	rest := r.b[r.pos:]
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if len(rest) < 4 {
		return nil, io.ErrUnexpectedEOF
	}
	// A message is a 0xFFFFFFFF continuation marker (absent before
	// format 0.15), a little-endian int32 metadata length, the flatbuffer
	// metadata and the body; a length of 0 ends the stream.
	n, skip := binary.LittleEndian.Uint32(rest), 4
	if n == 0xFFFFFFFF {
		if len(rest) < 8 {
			return nil, io.ErrUnexpectedEOF
		}
		n, skip = binary.LittleEndian.Uint32(rest[4:]), 8
	}
	if n == 0 {
		r.pos = len(r.b)
		return nil, io.EOF
	}
	if n < 8 || uint64(n) > uint64(len(rest)-skip) {
		return nil, fmt.Errorf("message metadata length %d does not fit in the %d bytes left", int32(n), len(rest)-skip)
	}
	if err := arrowCheckMetadata(rest[skip : skip+int(n)]); err != nil {
		return nil, err
	}
	meta := memory.NewBufferBytes(rest[skip : skip+int(n)])
	rest = rest[skip+int(n):]
	// The body length is in the metadata: read it from a message without a
	// body first.
	probe := ipc.NewMessage(meta, memory.NewBufferBytes(nil))
	bodyLen := probe.BodyLen()
	probe.Release()
	if bodyLen < 0 || bodyLen > int64(len(rest)) {
		return nil, fmt.Errorf("message body length %d does not fit in the %d bytes left", bodyLen, len(rest))
	}
	r.msg = ipc.NewMessage(meta, memory.NewBufferBytes(rest[:bodyLen]))
	r.pos = len(r.b) - len(rest) + int(bodyLen)
	return r.msg, nil
}

// arrowCheckMetadata checks the flatbuffer metadata of a message before the
// IPC reader reads it. The reader trusts it: a vector length in a damaged or
// hostile message makes it allocate that many elements at once (gigabytes,
// failing the process rather than the request), so every table, vector and
// string it can reach must lie within the metadata. It also refuses schemas
// with more columns than a body can have, before the reader builds them.
func arrowCheckMetadata(meta []byte) error {
	f := arrowFlatbuf{b: meta}
	msg, ok := f.table(0)
	if !ok {
		return errors.New("malformed message metadata")
	}
	var headerType byte
	if p, ok := f.field(msg, 1, 1); !ok {
		return errors.New("malformed message metadata")
	} else if p > 0 {
		headerType = meta[p]
	}
	var header func(int) bool
	switch headerType {
	case 1:
		header = f.schema
	case 2:
		header = f.dictionaryBatch
	case 3:
		header = f.recordBatch
	default:
		return fmt.Errorf("unexpected message type %d", headerType)
	}
	if !f.tables(msg, 4, f.keyValue) || !f.sub(msg, 2, header) {
		if f.err != "" {
			return errors.New(f.err)
		}
		return errors.New("malformed message metadata")
	}
	return nil
}

// arrowFlatbuf checks the layout of the flatbuffer tables of Arrow's
// Message.fbs and Schema.fbs that the IPC reader reads, by field slot.
// Tables and vectors are followed; scalars, whose reads the reader guards,
// are not checked.
type arrowFlatbuf struct {
	b     []byte
	depth int
	err   string // a problem other than the layout
}

func (f *arrowFlatbuf) u16(p int) (int, bool) {
	if p < 0 || p+2 > len(f.b) {
		return 0, false
	}
	return int(binary.LittleEndian.Uint16(f.b[p:])), true
}

func (f *arrowFlatbuf) u32(p int) (int, bool) {
	if p < 0 || p+4 > len(f.b) {
		return 0, false
	}
	return int(binary.LittleEndian.Uint32(f.b[p:])), true
}

// table follows the offset at p to a table, checks the table and its vtable
// are in bounds, and returns the table's position.
func (f *arrowFlatbuf) table(p int) (int, bool) {
	off, ok := f.u32(p)
	if !ok {
		return 0, false
	}
	t := p + off
	soff, ok := f.u32(t)
	if !ok {
		return 0, false
	}
	vt := t - int(int32(uint32(soff)))
	vsize, ok1 := f.u16(vt)
	tsize, ok2 := f.u16(vt + 2)
	return t, ok1 && ok2 && vsize >= 4 && vsize%2 == 0 && vt+vsize <= len(f.b) && t+tsize <= len(f.b)
}

// field returns the position of the field in the given slot of table t, 0
// when absent, checking that size bytes there are in bounds.
func (f *arrowFlatbuf) field(t, slot, size int) (int, bool) {
	soff, _ := f.u32(t)
	vt := t - int(int32(uint32(soff)))
	vsize, _ := f.u16(vt)
	if 4+2*slot+2 > vsize {
		return 0, true
	}
	o, _ := f.u16(vt + 4 + 2*slot)
	if o == 0 {
		return 0, true
	}
	return t + o, t+o+size <= len(f.b)
}

// vector checks the vector (or string) in the given slot of table t, of
// elements of elem bytes, and returns where its elements start and how many
// there are.
func (f *arrowFlatbuf) vector(t, slot, elem int) (start, n int, ok bool) {
	p, ok := f.field(t, slot, 4)
	if !ok || p == 0 {
		return 0, 0, ok
	}
	off, _ := f.u32(p)
	n, ok = f.u32(p + off)
	start = p + off + 4
	if !ok || n > (len(f.b)-start)/elem {
		return 0, 0, false
	}
	return start, n, true
}

// tables checks the vector of tables in the given slot of table t, and each
// table with check.
func (f *arrowFlatbuf) tables(t, slot int, check func(int) bool) bool {
	start, n, ok := f.vector(t, slot, 4)
	for i := 0; ok && i < n; i++ {
		var sub int
		if sub, ok = f.table(start + 4*i); ok {
			ok = check(sub)
		}
	}
	return ok
}

// sub checks the table in the given slot of table t with check.
func (f *arrowFlatbuf) sub(t, slot int, check func(int) bool) bool {
	p, ok := f.field(t, slot, 4)
	if !ok || p == 0 {
		return ok
	}
	sub, ok := f.table(p)
	return ok && check(sub)
}

func (f *arrowFlatbuf) strings(t int, slots ...int) bool {
	for _, slot := range slots {
		if _, _, ok := f.vector(t, slot, 1); !ok {
			return false
		}
	}
	return true
}

func (f *arrowFlatbuf) keyValue(t int) bool { return f.strings(t, 0, 1) }

func (f *arrowFlatbuf) any(int) bool { return true }

func (f *arrowFlatbuf) schema(t int) bool {
	if _, n, ok := f.vector(t, 1, 4); ok && n > arrowColumnCount {
		f.err = fmt.Sprintf("the schema has %d columns, more than the %d there are", n, arrowColumnCount)
		return false
	}
	_, _, ok := f.vector(t, 3, 8) // features
	return ok && f.tables(t, 1, f.schemaField) && f.tables(t, 2, f.keyValue)
}

func (f *arrowFlatbuf) schemaField(t int) bool {
	if f.depth >= 8 {
		f.err = "columns nested too deep"
		return false
	}
	f.depth++
	defer func() { f.depth-- }()
	// Of the types, only Timestamp (its time zone) and Union (its type ids)
	// have more than scalars.
	typ := f.any
	if p, ok := f.field(t, 2, 1); !ok {
		return false
	} else if p > 0 && f.b[p] == 10 {
		typ = func(t int) bool { return f.strings(t, 1) }
	} else if p > 0 && f.b[p] == 14 {
		typ = func(t int) bool { _, _, ok := f.vector(t, 1, 4); return ok }
	}
	return f.strings(t, 0) && f.sub(t, 3, typ) &&
		f.sub(t, 4, func(t int) bool { return f.sub(t, 1, f.any) }) && // dictionary encoding, index type
		f.tables(t, 5, f.schemaField) && f.tables(t, 6, f.keyValue)
}

func (f *arrowFlatbuf) recordBatch(t int) bool {
	_, _, ok1 := f.vector(t, 1, 16) // field nodes
	_, _, ok2 := f.vector(t, 2, 16) // buffers
	_, _, ok3 := f.vector(t, 4, 8)  // variadic buffer counts
	return ok1 && ok2 && ok3 && f.sub(t, 3, f.any)
}

func (f *arrowFlatbuf) dictionaryBatch(t int) bool { return f.sub(t, 1, f.recordBatch) }

// Retain increases the reference count.
func (r *arrowMessages) Retain() { atomic.AddInt64(&r.refs, 1) }

// Release decreases the reference count, releasing the last message at zero.
func (r *arrowMessages) Release() {
	if atomic.AddInt64(&r.refs, -1) == 0 && r.msg != nil {
		r.msg.Release()
		r.msg = nil
	}
}

// arrowBudget is an allocator that panics (which the IPC reader turns into
// an error) once more than its budget is asked for in all.
type arrowBudget struct {
	mem  memory.Allocator
	left atomic.Int64
}

var errArrowTooLarge = errors.New("the stream decodes into more memory than allowed")

func (a *arrowBudget) take(n int) {
	if !a.tryTake(int64(n)) {
		panic(errArrowTooLarge)
	}
}

// tryTake takes n bytes from the budget, reporting false once it is spent.
func (a *arrowBudget) tryTake(n int64) bool {
	return n <= 0 || a.left.Add(-n) >= 0
}

// Allocate allocates size bytes from the budget.
func (a *arrowBudget) Allocate(size int) []byte {
	a.take(size)
	return a.mem.Allocate(size)
}

// Reallocate grows or shrinks b to size bytes, taking any growth from the
// budget.
func (a *arrowBudget) Reallocate(size int, b []byte) []byte {
	a.take(size - len(b))
	return a.mem.Reallocate(size, b)
}

// Free frees b; the budget is not given back, bounding the work too.
func (a *arrowBudget) Free(b []byte) { a.mem.Free(b) }
