package pgbinary

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

func encodeArray(t testing.TB, oid uint32, v any) []byte {
	t.Helper()
	b, err := pgtype.NewMap().Encode(oid, pgx.BinaryFormatCode, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAll decodes every element of an array with decode.
func readAll[T any](src []byte, elem uint32, decode func([]byte) (T, error)) ([]T, error) {
	a, err := ParseArray(src, elem)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, a.Len())
	for a.Len() > 0 {
		b, err := a.Next()
		if err != nil {
			return nil, err
		}
		v, err := decode(b)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// The arrays pgx encodes read back element for element.
func TestArrayReadsWhatPgxWrites(t *testing.T) {
	at := time.Date(2026, 3, 29, 0, 59, 59, 999999000, time.UTC)
	for _, ts := range [][]time.Time{{}, {at}, {at, at.Add(time.Minute), at.Add(-time.Hour), time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC)}} {
		got, err := readAll(encodeArray(t, OIDTimestamptzArray, ts), OIDTimestamptz, Timestamptz)
		if err != nil || !slices.EqualFunc(got, ts, time.Time.Equal) {
			t.Errorf("%v: got %v, %v", ts, got, err)
		}
	}
	for _, fs := range [][]float64{{}, {0}, {1.5, -2.25, 1e300, 5e-324}} {
		got, err := readAll(encodeArray(t, OIDFloat8Array, fs), OIDFloat8, Float8)
		if err != nil || !slices.Equal(got, fs) {
			t.Errorf("%v: got %v, %v", fs, got, err)
		}
	}
}

// Arrays that are not what the caller reads are errors, never a panic or
// a read past the bytes.
func TestArrayRefusesWhatItCannotRead(t *testing.T) {
	good := encodeArray(t, OIDFloat8Array, []float64{1, 2})
	header := func(ndim, elem uint32, n int32) []byte {
		b := binary.BigEndian.AppendUint32(nil, ndim)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint32(b, elem)
		if ndim > 0 {
			b = binary.BigEndian.AppendUint32(b, uint32(n))
			b = binary.BigEndian.AppendUint32(b, 1)
		}
		return b
	}
	withNull := append(header(1, OIDFloat8, 1), 0xff, 0xff, 0xff, 0xff)
	for name, src := range map[string][]byte{
		"empty":             nil,
		"short header":      good[:10],
		"other type":        encodeArray(t, OIDTimestamptzArray, []time.Time{time.Unix(0, 0)}),
		"two dimensions":    header(2, OIDFloat8, 1),
		"count past bytes":  header(1, OIDFloat8, 1<<20),
		"negative count":    header(1, OIDFloat8, -1),
		"element cut short": good[:len(good)-3],
		"length cut short":  good[:len(good)-10],
		"null element":      withNull,
	} {
		if got, err := readAll(src, OIDFloat8, Float8); err == nil {
			t.Errorf("%s: read %v", name, got)
		}
	}
	a, err := ParseArray(good, OIDFloat8)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := a.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Next(); err == nil {
		t.Error("read past the last element")
	}
}

// Whatever the bytes, reading an array ends in elements or an error, never
// a panic, and every element lies within the bytes.
func FuzzParseArray(f *testing.F) {
	f.Add(encodeArray(f, OIDFloat8Array, []float64{1, 2, 3}))
	f.Add(encodeArray(f, OIDFloat8Array, []float64{}))
	f.Fuzz(func(t *testing.T, src []byte) {
		a, err := ParseArray(src, OIDFloat8)
		if err != nil {
			return
		}
		for a.Len() > 0 {
			b, err := a.Next()
			if err != nil {
				return
			}
			if len(b) > len(src) {
				t.Fatalf("an element of %d bytes from %d", len(b), len(src))
			}
		}
	})
}
