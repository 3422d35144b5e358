package pgbinary

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

func ptr[T any](v T) *T { return &v }

// ArrayWriter writes byte for byte what pgx writes for the same values,
// with and without NULLs, empty arrays included.
func TestArrayWriterWritesWhatPgxWrites(t *testing.T) {
	at := time.Date(2026, 3, 29, 0, 59, 59, 999999000, time.UTC)
	texts := [][]*string{{}, {ptr("")}, {ptr("a"), nil, ptr(`{"k":"é\"x"}`)}, {nil}}
	for _, v := range texts {
		w := NewArrayWriter([]byte("prefix"), OIDText)
		for i, s := range v {
			switch {
			case s == nil:
				w.Null()
			case i%2 == 0:
				w.Text([]byte(*s))
			default:
				w.AppendText(func(b []byte) []byte { return append(b, *s...) })
			}
		}
		buf, got := w.Finish()
		if want := encodeArray(t, OIDTextArray, v); !bytes.Equal(got, want) {
			t.Errorf("%v: got %x, want %x", v, got, want)
		}
		if !bytes.HasPrefix(buf, []byte("prefix")) || !bytes.Equal(buf[len("prefix"):], got) {
			t.Errorf("%v: the buffer is %x", v, buf)
		}
	}
	for _, v := range [][]string{{}, {"x", "yz"}} {
		w := NewArrayWriter(nil, OIDText)
		for _, s := range v {
			w.String(s)
		}
		if _, got := w.Finish(); !bytes.Equal(got, encodeArray(t, OIDTextArray, v)) {
			t.Errorf("%q: got %x", v, got)
		}
	}
	for _, v := range [][]int64{{}, {0, -1, 1 << 62}} {
		w := NewArrayWriter(nil, OIDInt8)
		for _, n := range v {
			w.Int8(n)
		}
		if _, got := w.Finish(); !bytes.Equal(got, encodeArray(t, OIDInt8Array, v)) {
			t.Errorf("%v: got %x", v, got)
		}
	}
	for _, v := range [][]int32{{}, {7, -2147483648}} {
		w := NewArrayWriter(nil, OIDInt4)
		for _, n := range v {
			w.Int4(n)
		}
		if _, got := w.Finish(); !bytes.Equal(got, encodeArray(t, OIDInt4Array, v)) {
			t.Errorf("%v: got %x", v, got)
		}
	}
	for _, v := range [][]*time.Time{{}, {ptr(at), nil, ptr(time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC))}} {
		w := NewArrayWriter(nil, OIDTimestamptz)
		for _, ts := range v {
			if ts == nil {
				w.Null()
			} else {
				w.Timestamptz(*ts)
			}
		}
		if _, got := w.Finish(); !bytes.Equal(got, encodeArray(t, OIDTimestamptzArray, v)) {
			t.Errorf("%v: got %x", v, got)
		}
	}
}

// PostgreSQL reads the arrays as the values written.
func TestArrayWriterReadByPostgreSQL(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewEmpty(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	texts := NewArrayWriter(nil, OIDText)
	texts.Text([]byte(`{"a": "ä"}`))
	texts.Null()
	buf, textArray := texts.Finish()
	stamps := NewArrayWriter(buf, OIDTimestamptz)
	stamps.Timestamptz(time.Date(2026, 10, 25, 1, 30, 0, 123456000, time.UTC))
	stamps.Null()
	_, stampArray := stamps.Finish()
	res := conn.Conn().PgConn().ExecParams(ctx, `SELECT $1::text[]::text, (SELECT string_agg(coalesce(x::json->>'a', 'null'), ',') FROM unnest($1) x),
		array_length($2, 1), $2[1] = '2026-10-25T01:30:00.123456Z', $2[2] IS NULL`,
		[][]byte{textArray, stampArray}, []uint32{OIDTextArray, OIDTimestamptzArray}, []int16{1, 1}, []int16{0, 0, 0, 0, 0}).Read()
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got := res.Rows[0]
	if string(got[0]) != `{"{\"a\": \"ä\"}",NULL}` || string(got[1]) != "ä,null" || string(got[2]) != "2" || string(got[3]) != "t" || string(got[4]) != "t" {
		t.Errorf("PostgreSQL read %q", got)
	}
}
