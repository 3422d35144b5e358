package query

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/gridmetrics/gridmetrics/internal/jsontext"
	"github.com/gridmetrics/gridmetrics/table"
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
	if f == FormatCSV || f == FormatArrow {
		return newStreamWriter(f, w, cols, tz)
	}
	return newJSONWriter(w, cols), nil
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
		b = jsontext.AppendString(b, c.name)
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
			b = jsontext.AppendString(b, v.s)
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

// arrowBatch is the number of rows per Arrow record batch.
const arrowBatch = table.DefaultBatch

// streamWriter writes rows as CSV or Arrow through the table package:
// times in RFC 3339 (CSV) or timestamp[us, tz] (Arrow), numbers rounded to
// their column's precision — in CSV in their shortest form, as in JSON; in
// Arrow the float nearest to that decimal, which Arrow readers print back
// as it — and null as an empty CSV field or an Arrow null.
type streamWriter struct {
	w    table.Writer
	cols []column
}

func newStreamWriter(f Format, w io.Writer, cols []column, tz string) (*streamWriter, error) {
	tcols := make([]table.Column, len(cols))
	for i, c := range cols {
		tc := table.Column{Name: c.name, Kind: table.String}
		switch c.kind {
		case colTime:
			tc.Kind = table.Time
		case colFloat:
			tc.Kind, tc.Nullable = table.Float, true
		case colInt:
			tc.Kind = table.Int
		}
		tcols[i] = tc
	}
	tf := table.CSV
	if f == FormatArrow {
		tf = table.Arrow
	}
	tw, err := table.New(tf, w, tcols, table.Options{Zone: tz, Batch: arrowBatch})
	if err != nil {
		return nil, err
	}
	return &streamWriter{w: tw, cols: cols}, nil
}

func (s *streamWriter) row(cells []cell) error {
	for i, c := range s.cols {
		v := cells[i]
		switch {
		case v.null:
			s.w.Null()
		case c.kind == colTime:
			s.w.Time(v.t)
		case c.kind == colFloat:
			s.w.Float(Round(v.f, c.decimals))
		case c.kind == colInt:
			s.w.Int(v.i)
		default:
			s.w.String(v.s)
		}
	}
	return s.w.EndRow()
}

func (s *streamWriter) close(_, _ any) error { return s.w.Close() }
