package main

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestCopyBatchRows checks the order and count of a batch's rows and that
// the register never decreases.
func TestCopyBatchRows(t *testing.T) {
	meters := []meter{newMeter(11, 0), newMeter(12, 1), newMeter(13, 2)}
	b := newCopyBatch(meters, 1, 3)
	const start = 1_700_000_040_000_000 // a whole minute, µs
	b.reset(start, 120)
	var rows int
	last := map[int64]float64{}
	for b.Next() {
		vals, err := b.Values()
		if err != nil {
			t.Fatal(err)
		}
		minute := rows / (2 * len(meters))
		src, metric := int64(*vals[1].(*int8Cell)), int16(*vals[2].(*int2Cell))
		wantSrc := meters[rows/2%len(meters)].id
		wantMetric := int16(1)
		if rows%2 == 1 {
			wantMetric = 3
		}
		if src != wantSrc || metric != wantMetric {
			t.Fatalf("row %d: source %d metric %d, want %d %d", rows, src, metric, wantSrc, wantMetric)
		}
		at := int64(*vals[0].(*timeCell))
		if want := start + int64(minute)*60e6 + meters[rows/2%len(meters)].offset; at != want {
			t.Fatalf("row %d: time %d, want %d", rows, at, want)
		}
		if metric == 1 {
			v := float64(*vals[3].(*float8Cell))
			if v < last[src] {
				t.Fatalf("row %d: register fell from %v to %v", rows, last[src], v)
			}
			last[src] = v
		}
		rows++
	}
	if want := 120 * 2 * len(meters); rows != want || b.rows != int64(want) {
		t.Fatalf("%d rows (counted %d), want %d", rows, b.rows, want)
	}
}

// TestCopyBatchAllocs checks that producing and encoding a row allocates
// nothing: 43 M of them must not feed the garbage collector.
func TestCopyBatchAllocs(t *testing.T) {
	meters := make([]meter, 50)
	for i := range meters {
		meters[i] = newMeter(int64(i+1), i)
	}
	b := newCopyBatch(meters, 1, 3)
	b.reset(1_700_000_040_000_000, 1<<30)
	m := pgtype.NewMap()
	oids := []uint32{pgtype.TimestamptzOID, pgtype.Int8OID, pgtype.Int2OID, pgtype.Float8OID}
	buf := make([]byte, 0, 1<<16)
	row := func() {
		if !b.Next() {
			t.Fatal("batch ended")
		}
		vals, _ := b.Values()
		buf = buf[:0]
		for i, v := range vals {
			var err error
			if buf, err = m.Encode(oids[i], pgtype.BinaryFormatCode, v, buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	row() // plans are cached on first use
	if n := testing.AllocsPerRun(10_000, row); n != 0 {
		t.Fatalf("%v allocations per row, want 0", n)
	}
}
