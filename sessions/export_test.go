package sessions

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/table"
)

// awkwardStrings are texts a charger or an operator may well send.
var awkwardStrings = []string{
	"", "plain", `say "hi"`, "a,b", "line\nbreak", "cr\rlf\r\n", " leading space", "\ttab", `\.`, `back\slash`,
	"<script>&amp;</script>", "Ladesäule Čakovec 東京 🚗", "\u2028\u2029", "ctl\x00\x01\x1f\x7f", "\xff\xfeinvalid\xc3",
	"\u00a0nbsp first", "\u0085next line", "'single'", "\b\f",
}

func awkwardDecimal(r *rand.Rand) decimal.NullDecimal {
	switch r.IntN(8) {
	case 0:
		return decimal.NullDecimal{}
	case 1:
		return decimal.NullDecimal{Decimal: decimal.MustNew(0, r.IntN(5)), Valid: true}
	case 2: // large, up to 18 digits
		return decimal.NullDecimal{Decimal: decimal.MustNew(-r.Int64N(1e18), r.IntN(5)), Valid: true}
	}
	d := decimal.MustNew(r.Int64N(2e9)-1e9, r.IntN(7))
	return decimal.NullDecimal{Decimal: d, Valid: true}
}

func awkwardFloat(r *rand.Rand) *float64 {
	var v float64
	switch r.IntN(8) {
	case 0:
		return nil
	case 1:
		v = 1234567.5 // %g writes an exponent from 1e6 on
	case 2:
		v = -3.5e22
	case 3:
		v = 1.25e-7
	case 4:
		v = 0
	default:
		v = math.Round(r.Float64()*1e9) / 1e3
	}
	return &v
}

func awkwardTime(r *rand.Rand) time.Time {
	// Whole seconds and every number of fractional digits up to µs.
	us := r.Int64N(4e15) - 1e15
	switch r.IntN(3) {
	case 0:
		us -= us % 1e6
	case 1:
		us -= us % 1000
	}
	return time.UnixMicro(us).UTC()
}

func awkwardSummary(r *rand.Rand, i int) Summary {
	str := func() string { return awkwardStrings[r.IntN(len(awkwardStrings))] }
	opt := func() *string {
		if r.IntN(4) == 0 {
			return nil
		}
		s := str()
		if s == "" {
			s = "x"
		}
		return &s
	}
	optTime := func() *time.Time {
		if r.IntN(4) == 0 {
			return nil
		}
		t := awkwardTime(r)
		return &t
	}
	return Summary{
		ID: fmt.Sprintf("ses_%d", i), ExternalID: str(), ChargeBoxID: opt(), Protocol: Protocol(str()),
		Source: opt(), SourceExternalID: opt(), SiteID: opt(), IDTag: str(), Status: StatusPriced,
		StartTime: awkwardTime(r), StopTime: optTime(), MeterStart: awkwardFloat(r), MeterStop: awkwardFloat(r),
		StopReason: opt(), FailureReason: opt(), Tariff: opt(), Currency: opt(),
		EnergyKWh: awkwardDecimal(r), ChargingHours: awkwardDecimal(r), ParkingHours: awkwardDecimal(r),
		TotalExclVAT: awkwardDecimal(r), TotalInclVAT: awkwardDecimal(r),
		PricedAt: optTime(), CreatedAt: awkwardTime(r), UpdatedAt: awkwardTime(r), Version: r.Int64() - r.Int64(),
	}
}

// exportRowOf is the row the export's statement selects for s.
func exportRowOf(s *Summary) []exportValue {
	str := func(v string) exportValue { return exportValue{b: []byte(v)} }
	opt := func(v *string) exportValue {
		if v == nil {
			return exportValue{null: true}
		}
		return str(*v)
	}
	tm := func(v *time.Time) exportValue {
		if v == nil {
			return exportValue{null: true}
		}
		return exportValue{t: *v}
	}
	fl := func(v *float64) exportValue {
		if v == nil {
			return exportValue{null: true}
		}
		return exportValue{f: *v}
	}
	dec := func(v decimal.NullDecimal) exportValue { return exportValue{d: v.Decimal, null: !v.Valid} }
	return []exportValue{str(s.ID), str(s.ExternalID), opt(s.ChargeBoxID), str(string(s.Protocol)), opt(s.Source),
		opt(s.SourceExternalID), opt(s.SiteID), str(s.IDTag), str(string(s.Status)),
		tm(&s.StartTime), tm(s.StopTime), fl(s.MeterStart), fl(s.MeterStop),
		opt(s.StopReason), opt(s.FailureReason), opt(s.Tariff), opt(s.Currency),
		dec(s.EnergyKWh), dec(s.ChargingHours), dec(s.ParkingHours), dec(s.TotalExclVAT), dec(s.TotalInclVAT),
		tm(s.PricedAt), tm(&s.CreatedAt), tm(&s.UpdatedAt), {i: s.Version}}
}

// csvRecordOf is the CSV record the export wrote for s before it had its
// own encoders (encoding/csv over these texts).
func csvRecordOf(s *Summary) []string {
	opt := func(v *string) string {
		if v == nil {
			return ""
		}
		return *v
	}
	tm := func(v *time.Time) string {
		if v == nil {
			return ""
		}
		return v.UTC().Format(time.RFC3339Nano)
	}
	fl := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'g', -1, 64)
	}
	dec := func(v decimal.NullDecimal) string {
		if !v.Valid {
			return ""
		}
		return v.Decimal.String()
	}
	return []string{s.ID, s.ExternalID, opt(s.ChargeBoxID), string(s.Protocol), opt(s.Source), opt(s.SourceExternalID),
		opt(s.SiteID), s.IDTag, string(s.Status), tm(&s.StartTime), tm(s.StopTime), fl(s.MeterStart), fl(s.MeterStop),
		opt(s.StopReason), opt(s.FailureReason), opt(s.Tariff), opt(s.Currency),
		dec(s.EnergyKWh), dec(s.ChargingHours), dec(s.ParkingHours), dec(s.TotalExclVAT), dec(s.TotalInclVAT),
		tm(s.PricedAt), tm(&s.CreatedAt), tm(&s.UpdatedAt), strconv.FormatInt(s.Version, 10)}
}

// libraryCSV is the CSV encoding/csv writes for sums: a header of the
// column names, then a record of each.
func libraryCSV(sums []Summary) []byte {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	header := make([]string, len(exportColumns))
	for i, c := range exportColumns {
		header[i] = c.Name
	}
	_ = cw.Write(header)
	for i := range sums {
		_ = cw.Write(csvRecordOf(&sums[i]))
	}
	cw.Flush()
	return buf.Bytes()
}

func encodeExport(t *testing.T, f table.Format, rows [][]exportValue) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw, err := table.New(f, &buf, exportColumns, table.Options{Zone: "UTC", Batch: exportBatch})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if err := writeExportRow(tw, row); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestExportEncodersMatchTheLibraries writes generated sessions with
// awkward values — quotes, separators, line breaks, unicode, invalid
// UTF-8, HTML characters, nulls, negative and 18-digit decimals, floats
// that take exponents — through the export's encoders, and compares them
// byte for byte with what encoding/json (NDJSON: json.Marshal of each
// Summary) and encoding/csv write for the same sessions, and value for
// value with the Arrow stream read back.
func TestExportEncodersMatchTheLibraries(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(13, 2))
	sums := make([]Summary, 2*exportBatch+17)
	rows := make([][]exportValue, len(sums))
	for i := range sums {
		sums[i] = awkwardSummary(r, i)
		rows[i] = exportRowOf(&sums[i])
	}

	var wantJSON bytes.Buffer
	for i := range sums {
		b, err := json.Marshal(&sums[i])
		if err != nil {
			t.Fatal(err)
		}
		wantJSON.Write(append(b, '\n'))
	}
	diffLines(t, "ndjson", encodeExport(t, table.NDJSON, rows), wantJSON.Bytes())

	diffLines(t, "csv", encodeExport(t, table.CSV, rows), libraryCSV(sums))

	// An empty export is its header alone.
	if got := encodeExport(t, table.CSV, nil); !bytes.Equal(got, libraryCSV(nil)) {
		t.Errorf("empty csv: %q", got)
	}

	rd, err := ipc.NewReader(bytes.NewReader(encodeExport(t, table.Arrow, rows)))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	if !rd.Schema().Equal(ArrowSchema) {
		t.Fatalf("arrow schema %s, want %s", rd.Schema(), ArrowSchema)
	}
	n := 0
	for rd.Next() {
		rec := rd.Record()
		if rec.NumRows() > exportBatch {
			t.Fatalf("a record of %d rows", rec.NumRows())
		}
		for j := 0; j < int(rec.NumRows()); j++ {
			want := csvRecordOf(&sums[n])
			for c := 0; c < int(rec.NumCols()); c++ {
				col := rec.Column(c)
				got := ""
				if !col.IsNull(j) {
					got = col.ValueStr(j)
				}
				if w := want[c]; !sameArrowText(exportColumns[c], got, w) {
					t.Fatalf("arrow row %d %s = %q, want %q", n, exportColumns[c].Name, got, w)
				}
			}
			n++
		}
	}
	if err := rd.Err(); err != nil || n != len(sums) {
		t.Fatalf("arrow: %d rows, %v", n, err)
	}
}

// sameArrowText compares an Arrow value's text with the CSV text: times
// by value, decimals by value at the column's scale, floats in Go's
// shortest form.
func sameArrowText(c table.Column, got, want string) bool {
	if got == "" || want == "" {
		return got == want
	}
	switch c.Kind {
	case table.Time:
		g, err1 := time.Parse("2006-01-02 15:04:05.999999999Z0700", got)
		w, err2 := time.Parse(time.RFC3339Nano, want)
		return err1 == nil && err2 == nil && g.Equal(w)
	case table.Decimal:
		g, err1 := decimal.Parse(got)
		w, err2 := decimal.Parse(want)
		return err1 == nil && err2 == nil && g.Cmp(w.Round(c.Scale)) == 0
	case table.Float:
		g, err1 := strconv.ParseFloat(got, 64)
		w, err2 := strconv.ParseFloat(want, 64)
		return err1 == nil && err2 == nil && g == w
	}
	return got == want
}

// diffLines fails at the first line where got and want differ.
func diffLines(t *testing.T, name string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := range min(len(g), len(w)) {
		if !bytes.Equal(g[i], w[i]) {
			t.Fatalf("%s line %d:\n got %q\nwant %q", name, i+1, g[i], w[i])
		}
	}
	t.Fatalf("%s: %d lines, want %d", name, len(g), len(w))
}

// TestExportRefusesWhatJSONCannotSay: a meter value of NaN has no JSON
// form; the NDJSON export fails on it as json.Marshal did, and does not
// write a line that is not JSON.
func TestExportRefusesWhatJSONCannotSay(t *testing.T) {
	t.Parallel()
	s := awkwardSummary(rand.New(rand.NewPCG(1, 1)), 1)
	nan := math.NaN()
	s.MeterStart = &nan
	var buf bytes.Buffer
	tw, err := table.New(table.NDJSON, &buf, exportColumns, table.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeExportRow(tw, exportRowOf(&s)); err == nil || buf.Len() != 0 {
		t.Fatalf("NaN meter start: %v, wrote %q", err, buf.Bytes())
	}
	if _, err := json.Marshal(&s); err == nil {
		t.Fatal("encoding/json now accepts NaN: revisit the export")
	}
}

// TestExportMatchesStoredSessions stores sessions with awkward values
// (text to escape and quote, empty text shown as null, a source deleted,
// nulls, negative, tiny and 19-digit decimals, meter values with and
// without exponents) and checks that the export — one statement, binary
// rows, the table encoders — writes each exactly as encoding/json writes
// Summary of the session Store.Get reads (numerics through their text),
// in start order; and CSV as encoding/csv writes those summaries.
func TestExportMatchesStoredSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	conn := f.source("CB-1/1", "Europe/Berlin")
	t0 := time.Date(2026, 3, 29, 0, 59, 59, 999999000, time.UTC)
	type stored struct {
		source                                                   *int64
		chargeBox, external, idTag, stopReason, tariff, currency string
		meterStart, meterStop                                    *float64
		energy, hours, parking, excl, incl                       *string
		status                                                   Status
		start                                                    time.Time
	}
	dec := func(s string) *string { return &s }
	fl := func(v float64) *float64 { return &v }
	rows := []stored{
		{&conn, "CB-1", `tx "1", first`, "tag\n<&>", "", "tar_1@3", "EUR", fl(0), fl(1234567.5),
			dec("12.345678"), dec("0.500000"), dec("0"), dec("-123456789012345.6789"), dec("9999999999999999999"), StatusPriced, t0},
		{nil, "", "tx 2 Ladesäule 東京 \u2028", "", "EVDisconnected", "", "", nil, fl(-0.001),
			nil, nil, nil, nil, nil, StatusPriced, t0.Add(time.Microsecond)},
		{&conn, "CB-1", " 3", "\x01tag", "Local", "tar_1@3", "CHF", fl(1e21), fl(2.5e-7),
			dec("0.000001"), dec("-0.25"), dec("100"), dec("0.0000"), dec("1.10"), StatusPriced, t0.Add(-time.Hour)},
		{&conn, "CB-1", "not priced", "", "", "", "", nil, nil, nil, nil, nil, nil, nil, StatusCompleted, t0},
		{&conn, "CB-1", "too late", "", "", "", "", nil, nil, nil, nil, nil, nil, nil, StatusPriced, t0.Add(48 * time.Hour)},
	}
	for i, r := range rows {
		_, err := f.pool.Exec(f.ctx, `INSERT INTO sessions (public_id, tenant_id, source_id, charge_box_id, external_id,
				protocol, id_tag, status, start_time, stop_time, meter_start, meter_stop, stop_reason, tariff_ref, currency,
				energy_kwh, charging_hours, parking_hours, total_excl_vat, total_incl_vat, priced_at, updated_at, change_seq)
			VALUES ($1, $2, $3, $4, $5, 'ocpp1.6', $6, $7, $8::timestamptz, $8::timestamptz + interval '1 hour 0.000123 s', $9, $10, $11, $12, $13,
				$14::numeric, $15::numeric, $16::numeric, $17::numeric, $18::numeric,
				CASE WHEN $7::text = 'priced' THEN $8::timestamptz + interval '2 hours' END, $8::timestamptz, nextval('session_changes'))`,
			fmt.Sprintf("ses_export_%d", i), f.tenant, r.source, r.chargeBox, r.external, r.idTag, r.status, r.start,
			r.meterStart, r.meterStop, r.stopReason, r.tariff, r.currency, r.energy, r.hours, r.parking, r.excl, r.incl)
		if err != nil {
			t.Fatal(err)
		}
	}
	var want []Summary
	for _, i := range []int{2, 0, 1} { // start order
		s, err := f.svc.store.Get(f.ctx, f.tenant, fmt.Sprintf("ses_export_%d", i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, s.Summary())
	}
	filter := Filter{From: t0.Add(-24 * time.Hour), To: t0.Add(24 * time.Hour)}

	var got, wantJSON bytes.Buffer
	if err := f.svc.Export(f.ctx, f.tenant, filter, FormatNDJSON, &got); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		b, err := json.Marshal(&want[i])
		if err != nil {
			t.Fatal(err)
		}
		wantJSON.Write(append(b, '\n'))
	}
	diffLines(t, "ndjson", got.Bytes(), wantJSON.Bytes())

	got.Reset()
	if err := f.svc.Export(f.ctx, f.tenant, filter, FormatCSV, &got); err != nil {
		t.Fatal(err)
	}
	diffLines(t, "csv", got.Bytes(), libraryCSV(want))
}
