package sessions

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/govalues/decimal"
)

// ExportFormat is a format of GET /v1/sessions/export.
type ExportFormat string

// The export formats and their media types.
const (
	FormatNDJSON ExportFormat = "ndjson" // one Summary JSON object per line
	FormatCSV    ExportFormat = "csv"    // a header, then one row per session
	FormatArrow  ExportFormat = "arrow"  // an Arrow IPC stream

	MediaNDJSON = "application/x-ndjson"
	MediaCSV    = "text/csv"
	MediaArrow  = "application/vnd.apache.arrow.stream"
)

// MediaType is the Content-Type of the format.
func (f ExportFormat) MediaType() string {
	switch f {
	case FormatCSV:
		return MediaCSV
	case FormatArrow:
		return MediaArrow
	}
	return MediaNDJSON
}

// exportBatch is the number of rows per Arrow record batch, and the number
// of rows between flushes of the response in every format.
const exportBatch = 1000

// Scales of the decimal columns in Arrow: volumes to the millionth, money
// to 4 places (no currency has a finer minor unit).
const (
	arrowVolumeScale = 6
	arrowMoneyScale  = 4
	arrowPrecision   = 38
)

type colKind int

const (
	colString colKind = iota
	colTime
	colFloat
	colVolume // decimal, arrowVolumeScale
	colMoney  // decimal, arrowMoneyScale
	colInt
)

// cell is one value of an exported row.
type cell struct {
	s    string
	t    time.Time
	f    float64
	d    decimal.Decimal
	i    int64
	null bool
}

type exportColumn struct {
	name string
	kind colKind
	get  func(*Summary) cell
}

func str(s string) cell { return cell{s: s} }

func optStr(s *string) cell {
	if s == nil {
		return cell{null: true}
	}
	return cell{s: *s}
}

func optTime(t *time.Time) cell {
	if t == nil {
		return cell{null: true}
	}
	return cell{t: *t}
}

func optFloat(f *float64) cell {
	if f == nil {
		return cell{null: true}
	}
	return cell{f: *f}
}

func optDec(d decimal.NullDecimal) cell {
	return cell{d: d.Decimal, null: !d.Valid}
}

// exportColumns are the fields of Summary, in its order, with the same
// names as its JSON.
var exportColumns = []exportColumn{
	{"id", colString, func(s *Summary) cell { return str(s.ID) }},
	{"external_id", colString, func(s *Summary) cell { return str(s.ExternalID) }},
	{"charge_box_id", colString, func(s *Summary) cell { return optStr(s.ChargeBoxID) }},
	{"protocol", colString, func(s *Summary) cell { return str(string(s.Protocol)) }},
	{"source", colString, func(s *Summary) cell { return optStr(s.Source) }},
	{"source_external_id", colString, func(s *Summary) cell { return optStr(s.SourceExternalID) }},
	{"site_id", colString, func(s *Summary) cell { return optStr(s.SiteID) }},
	{"id_tag", colString, func(s *Summary) cell { return str(s.IDTag) }},
	{"status", colString, func(s *Summary) cell { return str(string(s.Status)) }},
	{"start_time", colTime, func(s *Summary) cell { return cell{t: s.StartTime} }},
	{"stop_time", colTime, func(s *Summary) cell { return optTime(s.StopTime) }},
	{"meter_start", colFloat, func(s *Summary) cell { return optFloat(s.MeterStart) }},
	{"meter_stop", colFloat, func(s *Summary) cell { return optFloat(s.MeterStop) }},
	{"stop_reason", colString, func(s *Summary) cell { return optStr(s.StopReason) }},
	{"failure_reason", colString, func(s *Summary) cell { return optStr(s.FailureReason) }},
	{"tariff", colString, func(s *Summary) cell { return optStr(s.Tariff) }},
	{"currency", colString, func(s *Summary) cell { return optStr(s.Currency) }},
	{"energy_kwh", colVolume, func(s *Summary) cell { return optDec(s.EnergyKWh) }},
	{"charging_hours", colVolume, func(s *Summary) cell { return optDec(s.ChargingHours) }},
	{"parking_hours", colVolume, func(s *Summary) cell { return optDec(s.ParkingHours) }},
	{"total_excl_vat", colMoney, func(s *Summary) cell { return optDec(s.TotalExclVAT) }},
	{"total_incl_vat", colMoney, func(s *Summary) cell { return optDec(s.TotalInclVAT) }},
	{"priced_at", colTime, func(s *Summary) cell { return optTime(s.PricedAt) }},
	{"created_at", colTime, func(s *Summary) cell { return cell{t: s.CreatedAt} }},
	{"updated_at", colTime, func(s *Summary) cell { return cell{t: s.UpdatedAt} }},
	{"version", colInt, func(s *Summary) cell { return cell{i: s.Version} }},
}

// rowWriter writes exported sessions in one format.
type rowWriter interface {
	write(s *Summary) error
	close() error
}

// Export writes every priced session of the tenant matching f (start time
// in [f.From, f.To)) to w in format, in start order. Rows are read from
// the database as they are written, and w is flushed every exportBatch
// rows when it can be, so memory stays constant however many there are.
// An error after the first row leaves the output truncated: an NDJSON
// export then ends with an {"error": …} line, an Arrow stream without its
// end-of-stream marker; over HTTP the answer is aborted as well
// (api.Stream), so no format's failure looks like a complete export.
func (svc *Service) Export(ctx context.Context, tenantID int64, f Filter, format ExportFormat, w io.Writer) error {
	var rw rowWriter
	switch format {
	case FormatCSV:
		rw = newCSVWriter(w)
	case FormatArrow:
		rw = newArrowWriter(w)
	default:
		rw = &ndjsonWriter{w: w}
	}
	flusher, _ := w.(interface{ Flush() error })
	n := 0
	err := svc.store.export(ctx, tenantID, f, func(s *Session) error {
		sum := s.Summary()
		if err := rw.write(&sum); err != nil {
			return err
		}
		n++
		if n%exportBatch == 0 && flusher != nil {
			return flusher.Flush()
		}
		return nil
	})
	if err != nil {
		if nw, ok := rw.(*ndjsonWriter); ok {
			b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "INTERNAL", "message": "the export stopped early; retry"}})
			_, _ = nw.w.Write(append(b, '\n'))
		}
		return err
	}
	return rw.close()
}

type ndjsonWriter struct {
	w   io.Writer
	buf []byte
}

func (n *ndjsonWriter) write(s *Summary) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	n.buf = append(append(n.buf[:0], b...), '\n')
	_, err = n.w.Write(n.buf)
	return err
}

func (n *ndjsonWriter) close() error { return nil }

type csvWriter struct {
	w      *csv.Writer
	header bool
	rec    []string
}

func newCSVWriter(w io.Writer) *csvWriter {
	return &csvWriter{w: csv.NewWriter(w), rec: make([]string, len(exportColumns))}
}

func (c *csvWriter) writeHeader() error {
	c.header = true
	for i, col := range exportColumns {
		c.rec[i] = col.name
	}
	return c.w.Write(c.rec)
}

func (c *csvWriter) write(s *Summary) error {
	if !c.header {
		if err := c.writeHeader(); err != nil {
			return err
		}
	}
	for i, col := range exportColumns {
		v := col.get(s)
		switch {
		case v.null:
			c.rec[i] = ""
		case col.kind == colTime:
			c.rec[i] = v.t.UTC().Format(time.RFC3339Nano)
		case col.kind == colFloat:
			c.rec[i] = strconv.FormatFloat(v.f, 'g', -1, 64)
		case col.kind == colVolume || col.kind == colMoney:
			c.rec[i] = v.d.String()
		case col.kind == colInt:
			c.rec[i] = strconv.FormatInt(v.i, 10)
		default:
			c.rec[i] = v.s
		}
	}
	if err := c.w.Write(c.rec); err != nil {
		return err
	}
	return nil
}

func (c *csvWriter) close() error {
	if !c.header {
		if err := c.writeHeader(); err != nil {
			return err
		}
	}
	c.w.Flush()
	return c.w.Error()
}

// ArrowSchema is the schema of the Arrow export: the columns of Summary,
// times as timestamp[us, UTC], volumes as decimal128(38, 6), money as
// decimal128(38, 4), meter values as float64 (Wh), version as int64.
var ArrowSchema = func() *arrow.Schema {
	fields := make([]arrow.Field, len(exportColumns))
	for i, c := range exportColumns {
		f := arrow.Field{Name: c.name, Nullable: true}
		switch c.kind {
		case colTime:
			f.Type = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		case colFloat:
			f.Type = arrow.PrimitiveTypes.Float64
		case colVolume:
			f.Type = &arrow.Decimal128Type{Precision: arrowPrecision, Scale: arrowVolumeScale}
		case colMoney:
			f.Type = &arrow.Decimal128Type{Precision: arrowPrecision, Scale: arrowMoneyScale}
		case colInt:
			f.Type = arrow.PrimitiveTypes.Int64
		default:
			f.Type = arrow.BinaryTypes.String
		}
		fields[i] = f
	}
	return arrow.NewSchema(fields, nil)
}()

type arrowWriter struct {
	out io.Writer
	w   *ipc.Writer
	b   *array.RecordBuilder
	n   int
}

func newArrowWriter(w io.Writer) *arrowWriter {
	mem := memory.NewGoAllocator()
	return &arrowWriter{out: w, w: ipc.NewWriter(w, ipc.WithSchema(ArrowSchema), ipc.WithAllocator(mem)),
		b: array.NewRecordBuilder(mem, ArrowSchema)}
}

// decimal128Of converts d to an Arrow decimal at scale, exactly (rounded
// half away from zero if d has more places, which stored values do not).
func decimal128Of(d decimal.Decimal, scale int) (decimal128.Num, error) {
	d = d.Round(scale).Pad(scale)
	if d.Scale() != scale {
		return decimal128.Num{}, fmt.Errorf("%s does not fit %d decimal places", d, scale)
	}
	n := decimal128.FromU64(d.Coef())
	if d.IsNeg() {
		n = n.Negate()
	}
	return n, nil
}

func (a *arrowWriter) write(s *Summary) error {
	for i, col := range exportColumns {
		v := col.get(s)
		fb := a.b.Field(i)
		if v.null {
			fb.AppendNull()
			continue
		}
		switch fb := fb.(type) {
		case *array.TimestampBuilder:
			fb.Append(arrow.Timestamp(v.t.UnixMicro()))
		case *array.Float64Builder:
			fb.Append(v.f)
		case *array.Decimal128Builder:
			scale := arrowVolumeScale
			if col.kind == colMoney {
				scale = arrowMoneyScale
			}
			n, err := decimal128Of(v.d, scale)
			if err != nil {
				return fmt.Errorf("%s of %s: %w", col.name, s.ID, err)
			}
			fb.Append(n)
		case *array.Int64Builder:
			fb.Append(v.i)
		case *array.StringBuilder:
			fb.Append(v.s)
		default:
			return fmt.Errorf("arrow: unexpected builder %T", fb)
		}
	}
	a.n++
	if a.n == exportBatch {
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

func (a *arrowWriter) close() error {
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
