package pgbinary

import (
	"context"
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// awkwardNumerics are numeric texts at the edges of both decoding paths.
var awkwardNumerics = []string{
	"0", "0.00", "1", "-1", "1.50", "-0.0001", "0.000001", "10000", "12345.6789", "-98765.4321000",
	"999999999999999999", "-999999999999999999", "0.999999999999999999", "1000000000000000000",
	"9223372036854775807", "9999999999999999999", "-9999999999999999999", "99999999999999999999",
	"0.1234567890123456789", "0.12345678901234567895", "1.00000000000000000000000001",
	"123456789012345678.9", "281022359059158.8840", "1e-30", "5e20", "100000000",
}

func numericBinary(t *testing.T, text string) []byte {
	t.Helper()
	var n pgtype.Numeric
	if err := n.Scan(text); err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	b, err := pgtype.NewMap().Encode(pgtype.NumericOID, pgx.BinaryFormatCode, n, nil)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return b
}

// sameAsParse checks Numeric against decimal.Parse of the text, results
// and errors alike.
func sameAsParse(t *testing.T, text string, raw []byte) {
	t.Helper()
	want, wantErr := decimal.Parse(text)
	got, err := Numeric(raw)
	if (err != nil) != (wantErr != nil) || (err == nil && (got != want || got.String() != want.String())) {
		t.Errorf("%s: got %v (%v), decimal.Parse gives %v (%v)", text, got, err, want, wantErr)
	}
}

// TestNumericMatchesParse decodes numerics that pgx encodes and compares
// them with decimal.Parse of their text: same value, same scale, same
// refusals.
func TestNumericMatchesParse(t *testing.T) {
	t.Parallel()
	for _, text := range awkwardNumerics {
		if strings.Contains(text, "e") {
			continue // pgx keeps the exponent; PostgreSQL's text has none
		}
		sameAsParse(t, text, numericBinary(t, text))
	}
}

// TestNumericFromPostgreSQL compares Numeric of PostgreSQL's binary numerics
// with decimal.Parse of its own text of them (numeric::text), which the
// stores parsed before.
func TestNumericFromPostgreSQL(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewEmpty(t)
	ctx := context.Background()
	for _, text := range append(awkwardNumerics, "NaN", "Infinity") {
		var raw []byte
		var pgText string
		rows, err := pool.Query(ctx, `SELECT $1::numeric, $1::numeric::text`, pgx.QueryExecModeCacheDescribe, text)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			if rows.FieldDescriptions()[0].Format != pgx.BinaryFormatCode {
				t.Fatal("numeric came in text")
			}
			raw = append([]byte(nil), rows.RawValues()[0]...)
			pgText = string(rows.RawValues()[1])
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		sameAsParse(t, pgText, raw)
	}
}

func TestNumericRefusesMalformed(t *testing.T) {
	t.Parallel()
	good := numericBinary(t, "12345.6789")
	for name, raw := range map[string][]byte{
		"short":         good[:6],
		"missing digit": good[:len(good)-2],
		"digit 10000":   append(append([]byte(nil), good[:8]...), 0x27, 0x10, 0, 1),
		"sign 0x1234":   append(append(append([]byte(nil), good[:4]...), 0x12, 0x34), good[6:]...),
	} {
		if d, err := Numeric(raw); err == nil {
			t.Errorf("%s: %v, want an error", name, d)
		}
	}
}

func TestFixedWidth(t *testing.T) {
	t.Parallel()
	var b [8]byte
	neg := func(v int64) uint64 { return uint64(v) }
	binary.BigEndian.PutUint64(b[:], neg(-42))
	if v, err := Int8(b[:]); v != -42 || err != nil {
		t.Errorf("Int8: %d, %v", v, err)
	}
	binary.BigEndian.PutUint64(b[:], math.Float64bits(-1.5e300))
	if v, err := Float8(b[:]); v != -1.5e300 || err != nil {
		t.Errorf("Float8: %g, %v", v, err)
	}
	want := time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	binary.BigEndian.PutUint64(b[:], neg(-1))
	if v, err := Timestamptz(b[:]); !v.Equal(want) || v.Location() != time.UTC || err != nil {
		t.Errorf("Timestamptz: %v, %v", v, err)
	}
	binary.BigEndian.PutUint64(b[:], math.MaxInt64)
	if _, err := Timestamptz(b[:]); err == nil {
		t.Error("infinity: no error")
	}
	if _, err := Int8(b[:7]); err == nil {
		t.Error("7-byte int8: no error")
	}
}

// BenchmarkNumeric decodes a binary numeric, against the path it replaced
// (numeric::text from the server, parsed with decimal.Parse) and pgx's own
// binary decoding into pgtype.Numeric.
func BenchmarkNumeric(b *testing.B) {
	const text = "12345.678901"
	var n pgtype.Numeric
	if err := n.Scan(text); err != nil {
		b.Fatal(err)
	}
	raw, err := pgtype.NewMap().Encode(pgtype.NumericOID, pgx.BinaryFormatCode, n, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("pgbinary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Numeric(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("text_parse", func(b *testing.B) {
		b.ReportAllocs()
		src := []byte(text)
		for b.Loop() {
			if _, err := decimal.Parse(string(src)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pgx_numeric", func(b *testing.B) {
		b.ReportAllocs()
		m := pgtype.NewMap()
		for b.Loop() {
			var out pgtype.Numeric
			if err := m.Scan(pgtype.NumericOID, pgx.BinaryFormatCode, raw, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
