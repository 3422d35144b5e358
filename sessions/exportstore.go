package sessions

import (
	"context"
	"fmt"
	"time"

	"github.com/govalues/decimal"
	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/internal/pgbinary"
	"github.com/gridmetrics/gridmetrics/table"
)

// exportSelect selects the fields of Summary (exportColumns, in order and
// by name) as Session.Summary derives them: empty text as null, the
// connector's site else its charge box's.
const exportSelect = `SELECT s.public_id AS id, s.external_id, nullif(s.charge_box_id, '') AS charge_box_id, s.protocol,
	src.public_id AS source, src.external_id AS source_external_id, ` + siteColumn + ` AS site_id, s.id_tag, s.status,
	s.start_time, s.stop_time, s.meter_start, s.meter_stop, nullif(s.stop_reason, '') AS stop_reason,
	nullif(s.failure_reason, '') AS failure_reason, nullif(s.tariff_ref, '') AS tariff, nullif(s.currency, '') AS currency,
	s.energy_kwh, s.charging_hours, s.parking_hours, s.total_excl_vat, s.total_incl_vat,
	s.priced_at, s.created_at, s.updated_at, s.change_seq AS version` + fromSessions

// exportValue is one value of an exported row, decoded by its column's
// type; b (text) points into the driver's buffer and is valid until the
// next row.
type exportValue struct {
	null bool
	b    []byte
	t    time.Time
	f    float64
	i    int64
	d    decimal.Decimal
}

// export calls each for every priced session matching f, in start order,
// with its values in the order of exportColumns. Rows are read as they
// come — one statement, so one consistent snapshot — in the binary format
// (numerics too, which cost PostgreSQL their text and the service a
// parse), and decoded from the raw bytes into one reused row: nothing is
// allocated per row.
func (st *Store) export(ctx context.Context, tenantID int64, f Filter, each func([]exportValue) error) error {
	f.Status = StatusPriced
	f, err := st.withSource(ctx, tenantID, f)
	if err != nil {
		return err
	}
	cond, args := f.where([]any{tenantID})
	// Describing the statement first makes pgx ask for binary results
	// whatever the pool's default mode.
	args = append([]any{pgx.QueryExecModeCacheDescribe}, args...)
	rows, err := st.db.Query(ctx, exportSelect+` WHERE `+cond+` ORDER BY s.start_time, s.id`, args...)
	if err != nil {
		return fmt.Errorf("export sessions: %w", err)
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	if len(fields) != len(exportColumns) {
		return fmt.Errorf("export sessions: %d columns selected for %d", len(fields), len(exportColumns))
	}
	for i, fd := range fields {
		if fd.Name != exportColumns[i].Name {
			return fmt.Errorf("export sessions: column %d is %s, not %s", i, fd.Name, exportColumns[i].Name)
		}
		if k, ok := exportKinds[fd.DataTypeOID]; !ok || k != exportColumns[i].Kind {
			return fmt.Errorf("export sessions: %s is of type %d", fd.Name, fd.DataTypeOID)
		}
		if k := exportColumns[i].Kind; k != table.String && fd.Format != pgx.BinaryFormatCode {
			return fmt.Errorf("export sessions: %s came in text", fd.Name)
		}
	}
	row := make([]exportValue, len(fields))
	for rows.Next() {
		for i, raw := range rows.RawValues() {
			if err := decodeExportValue(&row[i], fields[i].DataTypeOID, raw); err != nil {
				return fmt.Errorf("export sessions: %s: %w", fields[i].Name, err)
			}
		}
		if err := each(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export sessions: %w", err)
	}
	return nil
}

// exportKinds is the column kind of each type the export decodes.
var exportKinds = map[uint32]table.Kind{
	pgbinary.OIDText: table.String, pgbinary.OIDVarchar: table.String, pgbinary.OIDTimestamptz: table.Time,
	pgbinary.OIDFloat8: table.Float, pgbinary.OIDInt8: table.Int, pgbinary.OIDNumeric: table.Decimal,
}

// decodeExportValue decodes raw, a value of type oid in the binary format
// (nil for null), into v.
func decodeExportValue(v *exportValue, oid uint32, raw []byte) error {
	v.null = raw == nil
	if v.null {
		return nil
	}
	var err error
	switch oid {
	case pgbinary.OIDText, pgbinary.OIDVarchar:
		v.b = raw
	case pgbinary.OIDTimestamptz:
		v.t, err = pgbinary.Timestamptz(raw)
	case pgbinary.OIDFloat8:
		v.f, err = pgbinary.Float8(raw)
	case pgbinary.OIDInt8:
		v.i, err = pgbinary.Int8(raw)
	case pgbinary.OIDNumeric:
		v.d, err = pgbinary.Numeric(raw)
	default:
		err = fmt.Errorf("type %d is not exported", oid)
	}
	return err
}
