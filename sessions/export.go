package sessions

import (
	"context"
	"encoding/json"
	"io"

	"github.com/gridmetrics/gridmetrics/table"
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

// exportBatch is the number of rows between flushes of the response, and
// of an Arrow record batch: few enough to hold, many enough that a batch's
// own cost (its metadata, a write) is small beside its rows'.
const exportBatch = 4096

// Scales of the decimal columns in Arrow: volumes to the millionth, money
// to 4 places (no currency has a finer minor unit).
const (
	arrowVolumeScale = 6
	arrowMoneyScale  = 4
)

// exportColumns are the fields of Summary, in its order, with the same
// names as its JSON; the export's statement (Store.export) selects them
// in this order, under these names. Meter values keep the %g form CSV
// always gave them.
var exportColumns = func() []table.Column {
	str := func(name string) table.Column { return table.Column{Name: name, Kind: table.String} }
	tm := func(name string) table.Column { return table.Column{Name: name, Kind: table.Time} }
	meter := func(name string) table.Column {
		return table.Column{Name: name, Kind: table.Float, FloatText: table.FloatShortestG}
	}
	dec := func(name string, scale int) table.Column {
		return table.Column{Name: name, Kind: table.Decimal, Scale: scale}
	}
	cols := []table.Column{
		str("id"), str("external_id"), str("charge_box_id"), str("protocol"), str("source"),
		str("source_external_id"), str("site_id"), str("id_tag"), str("status"),
		tm("start_time"), tm("stop_time"), meter("meter_start"), meter("meter_stop"),
		str("stop_reason"), str("failure_reason"), str("tariff"), str("currency"),
		dec("energy_kwh", arrowVolumeScale), dec("charging_hours", arrowVolumeScale), dec("parking_hours", arrowVolumeScale),
		dec("total_excl_vat", arrowMoneyScale), dec("total_incl_vat", arrowMoneyScale),
		tm("priced_at"), tm("created_at"), tm("updated_at"),
		{Name: "version", Kind: table.Int},
	}
	for i := range cols {
		cols[i].Nullable = true
	}
	return cols
}()

// ArrowSchema is the schema of the Arrow export: the columns of Summary,
// times as timestamp[us, UTC], volumes as decimal128(38, 6), money as
// decimal128(38, 4), meter values as float64 (Wh), version as int64.
var ArrowSchema = table.Schema(exportColumns, "UTC")

// Export writes every priced session of the tenant matching f (start time
// in [f.From, f.To)) to w in format, in start order. Rows are read from
// the database as they are written, and w is flushed every exportBatch
// rows when it can be, so memory stays constant however many there are.
// An error after the first row leaves the output truncated: an NDJSON
// export then ends with an {"error": …} line, an Arrow stream without its
// end-of-stream marker; over HTTP the answer is aborted as well
// (api.Stream), so no format's failure looks like a complete export.
func (svc *Service) Export(ctx context.Context, tenantID int64, f Filter, format ExportFormat, w io.Writer) error {
	return svc.exportFrom(ctx, svc.exportStore(ctx), tenantID, f, format, w)
}

// exportStore is where an export reads: the standby while it is usable (an
// export is one statement, so one snapshot, at most the allowed lag old),
// else the primary. It is chosen before the answer's headers go out, which
// say which database served.
func (svc *Service) exportStore(ctx context.Context) *Store {
	if sb := svc.standby; sb != nil {
		ok := sb.Usable()
		sb.served(ctx, ok)
		if ok {
			return sb.Store
		}
	}
	return svc.store
}

func (svc *Service) exportFrom(ctx context.Context, st *Store, tenantID int64, f Filter, format ExportFormat, w io.Writer) error {
	tf := table.NDJSON
	switch format {
	case FormatCSV:
		tf = table.CSV
	case FormatArrow:
		tf = table.Arrow
	}
	tw, err := table.New(tf, w, exportColumns, table.Options{Zone: "UTC", Batch: exportBatch})
	if err != nil {
		return err
	}
	flusher, _ := w.(interface{ Flush() error })
	n := 0
	err = st.export(ctx, tenantID, f, func(row []exportValue) error {
		if err := writeExportRow(tw, row); err != nil {
			return err
		}
		n++
		if n%exportBatch == 0 && flusher != nil {
			return flusher.Flush()
		}
		return nil
	})
	if err != nil {
		if tf == table.NDJSON {
			b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "INTERNAL", "message": "the export stopped early; retry"}})
			_, _ = w.Write(append(b, '\n'))
		}
		return err
	}
	return tw.Close()
}

// writeExportRow writes one row of the export's statement, its values in
// the order of exportColumns.
func writeExportRow(tw table.Writer, row []exportValue) error {
	for i, v := range row {
		if v.null {
			tw.Null()
			continue
		}
		switch exportColumns[i].Kind {
		case table.Time:
			tw.Time(v.t)
		case table.Float:
			tw.Float(v.f)
		case table.Decimal:
			tw.Decimal(v.d)
		case table.Int:
			tw.Int(v.i)
		default:
			tw.Bytes(v.b)
		}
	}
	return tw.EndRow()
}
