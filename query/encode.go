package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Format is an output format of series answers.
type Format string

// The formats and their media types.
const (
	FormatJSON  Format = "json"
	FormatCSV   Format = "csv"
	FormatArrow Format = "arrow"

	mediaCSV   = "text/csv"
	mediaArrow = "application/vnd.apache.arrow.stream"
)

// colKind is the type of a column.
type colKind int

const (
	colTime   colKind = iota // timestamp: RFC 3339 in JSON and CSV, timestamp[us, tz] in Arrow
	colFloat                 // float64, nullable
	colInt                   // int64
	colString                // utf8
)

type column struct {
	name string
	kind colKind
	// decimals is the precision of a colFloat column (number.go): its
	// values are rounded to it in every format.
	decimals int
}

// cell is one value of a row; null applies to floats.
type cell struct {
	t    time.Time
	f    float64
	i    int64
	s    string
	null bool
}

func floatCell(v float64, ok bool) cell {
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return cell{null: true}
	}
	return cell{f: v}
}

func ptrCell(p *float64) cell {
	if p == nil {
		return cell{null: true}
	}
	return floatCell(*p, true)
}

// tableWriter writes rows of a fixed set of columns in one format. Rows
// go out as they come (Arrow in batches of arrowBatch rows); nothing but
// the current batch is held.
type tableWriter interface {
	row(cells []cell) error
	// close ends the table. meta and pagination (may be nil) are rendered
	// by formats that carry them (JSON).
	close(meta, pagination any) error
}

func newTableWriter(f Format, w io.Writer, cols []column, tz string) (tableWriter, error) {
	switch f {
	case FormatCSV:
		return newCSVWriter(w, cols), nil
	case FormatArrow:
		return newArrowWriter(w, cols, tz)
	default:
		return newJSONWriter(w, cols), nil
	}
}

// jsonWriter renders the envelope {"data":[{…},…],"meta":…,"pagination":…}
// with one object per row, keyed by column name.
type jsonWriter struct {
	w    io.Writer
	cols []column
	buf  []byte
	n    int
}

func newJSONWriter(w io.Writer, cols []column) *jsonWriter {
	return &jsonWriter{w: w, cols: cols}
}

func (j *jsonWriter) row(cells []cell) error {
	b := j.buf[:0]
	if j.n == 0 {
		b = append(b, `{"data":[`...)
	} else {
		b = append(b, ',')
	}
	j.n++
	b = append(b, '{')
	for i, c := range j.cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, c.name)
		b = append(b, ':')
		v := cells[i]
		switch {
		case v.null:
			b = append(b, "null"...)
		case c.kind == colTime:
			b = append(b, '"')
			b = v.t.AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		case c.kind == colFloat:
			b = appendNumber(b, v.f, c.decimals)
		case c.kind == colInt:
			b = strconv.AppendInt(b, v.i, 10)
		default:
			s, _ := json.Marshal(v.s)
			b = append(b, s...)
		}
	}
	b = append(b, '}')
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

func (j *jsonWriter) close(meta, pagination any) error {
	var b bytes.Buffer
	if j.n == 0 {
		b.WriteString(`{"data":[`)
	}
	b.WriteString(`],"meta":`)
	m, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	b.Write(m)
	if pagination != nil {
		p, err := json.Marshal(pagination)
		if err != nil {
			return err
		}
		b.WriteString(`,"pagination":`)
		b.Write(p)
	}
	b.WriteString("}\n")
	_, err = j.w.Write(b.Bytes())
	return err
}

// csvWriter writes a header line of column names, then one line per row:
// times in RFC 3339, numbers rounded to their column's precision in their
// shortest form (as in JSON), null as an empty field. No value needs
// quoting (names, numbers, times, qualities and public ids never hold
// commas or quotes).
type csvWriter struct {
	w    io.Writer
	cols []column
	buf  []byte
}

func newCSVWriter(w io.Writer, cols []column) *csvWriter {
	c := &csvWriter{w: w}
	for i, col := range cols {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = append(c.buf, col.name...)
	}
	c.buf = append(c.buf, '\n')
	c.cols = cols
	return c
}

func (c *csvWriter) row(cells []cell) error {
	b := c.buf
	for i, col := range c.cols {
		if i > 0 {
			b = append(b, ',')
		}
		v := cells[i]
		switch {
		case v.null:
		case col.kind == colTime:
			b = v.t.AppendFormat(b, time.RFC3339Nano)
		case col.kind == colFloat:
			b = appendNumber(b, v.f, col.decimals)
		case col.kind == colInt:
			b = strconv.AppendInt(b, v.i, 10)
		default:
			b = append(b, v.s...)
		}
	}
	b = append(b, '\n')
	_, err := c.w.Write(b)
	c.buf = b[:0]
	return err
}

func (c *csvWriter) close(_, _ any) error {
	if len(c.buf) > 0 { // header of an empty table
		_, err := c.w.Write(c.buf)
		c.buf = c.buf[:0]
		return err
	}
	return nil
}

// arrowBatch is the number of rows per Arrow record batch.
const arrowBatch = 4096

// arrowWriter writes an Arrow IPC stream: the schema, record batches of
// up to arrowBatch rows, the end-of-stream marker. Numbers stay float64,
// rounded to their column's precision: the float nearest to the decimal
// that JSON and CSV show, which Arrow readers print back as that decimal.
type arrowWriter struct {
	w    *ipc.Writer
	b    *array.RecordBuilder
	cols []column
	n    int
	err  error
}

func newArrowWriter(w io.Writer, cols []column, tz string) (*arrowWriter, error) {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		f := arrow.Field{Name: c.name}
		switch c.kind {
		case colTime:
			f.Type = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: tz}
		case colFloat:
			f.Type, f.Nullable = arrow.PrimitiveTypes.Float64, true
		case colInt:
			f.Type = arrow.PrimitiveTypes.Int64
		default:
			f.Type = arrow.BinaryTypes.String
		}
		fields[i] = f
	}
	schema := arrow.NewSchema(fields, nil)
	mem := memory.NewGoAllocator()
	return &arrowWriter{
		w:    ipc.NewWriter(w, ipc.WithSchema(schema), ipc.WithAllocator(mem)),
		b:    array.NewRecordBuilder(mem, schema),
		cols: cols,
	}, nil
}

func (a *arrowWriter) row(cells []cell) error {
	for i, v := range cells {
		switch fb := a.b.Field(i).(type) {
		case *array.TimestampBuilder:
			fb.Append(arrow.Timestamp(v.t.UnixMicro()))
		case *array.Float64Builder:
			if v.null {
				fb.AppendNull()
			} else {
				fb.Append(Round(v.f, a.cols[i].decimals))
			}
		case *array.Int64Builder:
			fb.Append(v.i)
		case *array.StringBuilder:
			fb.Append(v.s)
		default:
			return fmt.Errorf("arrow: unexpected builder %T", fb)
		}
	}
	a.n++
	if a.n == arrowBatch {
		return a.flush()
	}
	return nil
}

func (a *arrowWriter) flush() error {
	rec := a.b.NewRecord()
	defer rec.Release()
	a.n = 0
	return a.w.Write(rec)
}

func (a *arrowWriter) close(_, _ any) error {
	defer a.b.Release()
	var err error
	if a.n > 0 {
		err = a.flush()
	}
	if cerr := a.w.Close(); err == nil {
		err = cerr
	}
	return err
}
