package query

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestFill(t *testing.T) {
	t.Parallel()
	// Five hourly buckets: values at hours 1 and 4, nothing at 0, 2, 3.
	// Linear fill of hours 2 and 3 between 10 (hour 1) and 40 (hour 4):
	// 20 and 30; before hour 1 there is nothing to interpolate from.
	at := func(h int) time.Time { return time.Date(2025, 6, 2, h, 0, 0, 0, time.UTC) }
	buckets := []Bucket{{}, {N: 1, Sum: 10, Min: 10, Max: 10}, {}, {}, {N: 2, Sum: 80, Min: 30, Max: 50}}
	tests := []struct {
		fill Fill
		want string
	}{
		{FillNone, "01:00 avg=10 count=1 | 04:00 avg=40 count=2"},
		{FillNull, "00:00 avg=null count=0 | 01:00 avg=10 count=1 | 02:00 avg=null count=0 | 03:00 avg=null count=0 | 04:00 avg=40 count=2"},
		{FillPrevious, "00:00 avg=null count=0 | 01:00 avg=10 count=1 | 02:00 avg=10 count=0 | 03:00 avg=10 count=0 | 04:00 avg=40 count=2"},
		{FillLinear, "00:00 avg=null count=0 | 01:00 avg=10 count=1 | 02:00 avg=20 count=0 | 03:00 avg=30 count=0 | 04:00 avg=40 count=2"},
	}
	for _, tt := range tests {
		t.Run(string(tt.fill), func(t *testing.T) {
			t.Parallel()
			var got []string
			f := newFiller([]Agg{AggAvg, AggCount}, tt.fill, func(r Row) error {
				s := r.Time.Format("15:04")
				for i, a := range []Agg{AggAvg, AggCount} {
					if r.Valid[i] {
						s += fmt.Sprintf(" %s=%g", a, r.Values[i])
					} else {
						s += fmt.Sprintf(" %s=null", a)
					}
				}
				got = append(got, s)
				return nil
			})
			for i, b := range buckets {
				if err := f.push(at(i), b); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.close(); err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(got, " | "); s != tt.want {
				t.Fatalf("\n got %s\nwant %s", s, tt.want)
			}
		})
	}
	// Trailing empty buckets stay null under linear fill.
	var n int
	f := newFiller([]Agg{AggMax}, FillLinear, func(r Row) error {
		if n > 0 && r.Valid[0] {
			t.Errorf("trailing bucket filled: %+v", r)
		}
		n++
		return nil
	})
	_ = f.push(at(0), Bucket{N: 1, Max: 3})
	_ = f.push(at(1), Bucket{})
	_ = f.close()
	if n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
}
