package table

import (
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/govalues/decimal"
)

// decimalPrecision is the precision of Arrow's Decimal columns, the most
// decimal128 holds; govalues decimals have at most 19 digits.
const decimalPrecision = 38

// Schema is the Arrow schema of a table of cols: String utf8, Time
// timestamp[us, zone], Float float64, Int int64, Decimal
// decimal128(38, Scale).
func Schema(cols []Column, zone string) *arrow.Schema {
	if zone == "" {
		zone = "UTC"
	}
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		f := arrow.Field{Name: c.Name, Nullable: c.Nullable}
		switch c.Kind {
		case Time:
			f.Type = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: zone}
		case Float:
			f.Type = arrow.PrimitiveTypes.Float64
		case Int:
			f.Type = arrow.PrimitiveTypes.Int64
		case Decimal:
			f.Type = &arrow.Decimal128Type{Precision: decimalPrecision, Scale: int32(c.Scale)}
		default:
			f.Type = arrow.BinaryTypes.String
		}
		fields[i] = f
	}
	return arrow.NewSchema(fields, nil)
}

// arrowWriter appends each cell to its column's builder, and writes a
// record batch every Options.Batch rows. The builders are kept from batch
// to batch, each reserved for a whole batch.
type arrowWriter struct {
	w     *ipc.Writer
	b     *array.RecordBuilder
	cols  []Column
	batch int
	// The builder of each column, by kind (nil where another kind is).
	str  []*array.StringBuilder
	ts   []*array.TimestampBuilder
	f64  []*array.Float64Builder
	i64  []*array.Int64Builder
	dec  []*array.Decimal128Builder
	col  int // cells written in the row
	rows int // rows in the batch
	err  error
}

func newArrowWriter(w io.Writer, cols []Column, opts Options) *arrowWriter {
	schema := Schema(cols, opts.Zone)
	mem := &recycler{}
	a := &arrowWriter{
		w:     ipc.NewWriter(w, ipc.WithSchema(schema), ipc.WithAllocator(mem)),
		b:     array.NewRecordBuilder(mem, schema),
		cols:  cols,
		batch: opts.Batch,
		str:   make([]*array.StringBuilder, len(cols)),
		ts:    make([]*array.TimestampBuilder, len(cols)),
		f64:   make([]*array.Float64Builder, len(cols)),
		i64:   make([]*array.Int64Builder, len(cols)),
		dec:   make([]*array.Decimal128Builder, len(cols)),
	}
	if a.batch <= 0 {
		a.batch = DefaultBatch
	}
	for i := range cols {
		switch fb := a.b.Field(i).(type) {
		case *array.StringBuilder:
			a.str[i] = fb
		case *array.TimestampBuilder:
			a.ts[i] = fb
		case *array.Float64Builder:
			a.f64[i] = fb
		case *array.Int64Builder:
			a.i64[i] = fb
		case *array.Decimal128Builder:
			a.dec[i] = fb
		}
	}
	a.b.Reserve(a.batch)
	return a
}

// cell returns the index of the next cell, or -1 (and records why) when
// the row is full or the column is not of kind k.
func (a *arrowWriter) cell(k Kind) int {
	i := a.col
	a.col++
	if i >= len(a.cols) || a.cols[i].Kind != k {
		a.fail(fmt.Errorf("cell %d of a row of %d columns is not a %v", i, len(a.cols), k))
		return -1
	}
	return i
}

func (a *arrowWriter) fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

func (a *arrowWriter) Null() {
	i := a.col
	a.col++
	if i < len(a.cols) {
		a.b.Field(i).AppendNull()
	}
}

func (a *arrowWriter) String(s string) {
	if i := a.cell(String); i >= 0 {
		a.str[i].Append(s)
	}
}

func (a *arrowWriter) Bytes(b []byte) {
	if i := a.cell(String); i >= 0 {
		a.str[i].BinaryBuilder.Append(b)
	}
}

func (a *arrowWriter) Time(t time.Time) {
	if i := a.cell(Time); i >= 0 {
		a.ts[i].Append(arrow.Timestamp(t.UnixMicro()))
	}
}

func (a *arrowWriter) Float(v float64) {
	if i := a.cell(Float); i >= 0 {
		a.f64[i].Append(v)
	}
}

func (a *arrowWriter) Int(v int64) {
	if i := a.cell(Int); i >= 0 {
		a.i64[i].Append(v)
	}
}

func (a *arrowWriter) Decimal(d decimal.Decimal) {
	if i := a.cell(Decimal); i >= 0 {
		a.dec[i].Append(decimal128Of(d, a.cols[i].Scale))
	}
}

// decimal128Of converts d to an Arrow decimal at scale: exact when d has
// at most scale places (whatever its digits: decimal128 holds 38), else
// rounded half away from zero.
func decimal128Of(d decimal.Decimal, scale int) decimal128.Num {
	if d.Scale() > scale {
		d = d.Round(scale) // fewer digits: it fits
	}
	// At most 19 digits times at most 10^19: within 38 digits.
	n := decimal128.FromU64(d.Coef()).Mul(decimal128.GetScaleMultiplier(scale - d.Scale()))
	if d.IsNeg() {
		n = n.Negate()
	}
	return n
}

func (a *arrowWriter) EndRow() error {
	if a.err == nil && a.col != len(a.cols) {
		a.err = fmt.Errorf("a row of %d cells in a table of %d columns", a.col, len(a.cols))
	}
	if a.err != nil {
		return a.err
	}
	a.col = 0
	a.rows++
	if a.rows == a.batch {
		return a.flush()
	}
	return nil
}

func (a *arrowWriter) flush() error {
	rec := a.b.NewRecord()
	defer rec.Release()
	a.rows = 0
	a.b.Reserve(a.batch)
	return a.w.Write(rec)
}

func (a *arrowWriter) Close() error {
	defer a.b.Release()
	err := a.err
	if err == nil && a.rows > 0 {
		err = a.flush()
	}
	if err != nil {
		return err // no end-of-stream marker: the stream looks cut short
	}
	return a.w.Close()
}

func (k Kind) String() string {
	switch k {
	case String:
		return "string"
	case Time:
		return "time"
	case Float:
		return "float"
	case Int:
		return "int"
	case Decimal:
		return "decimal"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}
