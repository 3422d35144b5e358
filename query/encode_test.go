package query

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
)

// TestFormatsAgree writes one table as JSON, CSV and Arrow (with more
// rows than an Arrow batch) and reads each back: the same values rounded
// to the column's precision, nulls in the same places, times in the zone.
func TestFormatsAgree(t *testing.T) {
	t.Parallel()
	loc := mustZone(t, "Asia/Kathmandu")
	cols := []column{{"time", colTime, 0}, {"avg", colFloat, 6}, {"count", colInt, 0}, {"quality", colString, 0}}
	start := time.Date(2025, 6, 2, 0, 0, 0, 0, loc)
	const n = arrowBatch + 10
	row := func(i int) []cell {
		avg := cell{f: float64(i) / 3}
		if i%7 == 0 {
			avg = cell{null: true}
		}
		return []cell{{t: start.Add(time.Duration(i) * time.Minute)}, avg, {i: int64(i)}, {s: "complete"}}
	}
	encode := func(f Format) []byte {
		var buf bytes.Buffer
		tw, err := newTableWriter(f, &buf, cols, loc.String())
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := tw.row(row(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.close(map[string]string{"tz": loc.String()}, nil); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}

	var doc struct {
		Data []struct {
			Time    time.Time `json:"time"`
			Avg     *float64  `json:"avg"`
			Count   int64     `json:"count"`
			Quality string    `json:"quality"`
		} `json:"data"`
		Meta map[string]string `json:"meta"`
	}
	if err := json.Unmarshal(encode(FormatJSON), &doc); err != nil {
		t.Fatal(err)
	}
	lines, err := csv.NewReader(bytes.NewReader(encode(FormatCSV))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rd, err := ipc.NewReader(bytes.NewReader(encode(FormatArrow)))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	if tz := rd.Schema().Field(0).Type.(*arrow.TimestampType).TimeZone; tz != "Asia/Kathmandu" {
		t.Errorf("arrow time zone %q", tz)
	}
	var arrowRows []arrow.Record
	for rd.Next() {
		rec := rd.Record()
		rec.Retain()
		arrowRows = append(arrowRows, rec)
	}
	if len(arrowRows) != 2 {
		t.Errorf("%d arrow batches, want 2", len(arrowRows))
	}

	if len(doc.Data) != n || len(lines) != n+1 || strings.Join(lines[0], ",") != "time,avg,count,quality" || doc.Meta["tz"] != "Asia/Kathmandu" {
		t.Fatalf("json rows %d, csv lines %d (header %v), meta %v", len(doc.Data), len(lines), lines[0], doc.Meta)
	}
	i := 0
	for _, rec := range arrowRows {
		ts := rec.Column(0).(*array.Timestamp)
		avg := rec.Column(1).(*array.Float64)
		count := rec.Column(2).(*array.Int64)
		for r := 0; r < int(rec.NumRows()); r, i = r+1, i+1 {
			want := row(i)
			j := doc.Data[i]
			c := lines[i+1]
			if !j.Time.Equal(want[0].t) || c[0] != want[0].t.Format(time.RFC3339Nano) || ts.Value(r) != arrow.Timestamp(want[0].t.UnixMicro()) {
				t.Fatalf("row %d time: json %s csv %s arrow %d", i, j.Time, c[0], ts.Value(r))
			}
			if !strings.HasSuffix(c[0], "+05:45") {
				t.Fatalf("row %d: csv time %s not in the zone", i, c[0])
			}
			if want[1].null {
				if j.Avg != nil || c[1] != "" || !avg.IsNull(r) {
					t.Fatalf("row %d: null avg rendered %v %q %v", i, j.Avg, c[1], avg.IsNull(r))
				}
			} else if w := Round(want[1].f, 6); *j.Avg != w || c[1] != formatFloat(w) || avg.Value(r) != w {
				t.Fatalf("row %d avg: json %v csv %s arrow %v want %v", i, *j.Avg, c[1], avg.Value(r), w)
			}
			if j.Count != int64(i) || c[2] != itoa(i) || count.Value(r) != int64(i) || j.Quality != "complete" || c[3] != "complete" {
				t.Fatalf("row %d count/quality", i)
			}
		}
		rec.Release()
	}
	if i != n {
		t.Fatalf("arrow rows %d, want %d", i, n)
	}
}

func formatFloat(f float64) string { return strings.TrimSpace(string(must(json.Marshal(f)))) }

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func itoa(i int) string { return string(must(json.Marshal(i))) }

func TestEmptyTables(t *testing.T) {
	t.Parallel()
	cols := []column{{"time", colTime, 0}, {"value", colFloat, 3}}
	for _, f := range []Format{FormatJSON, FormatCSV, FormatArrow} {
		var buf bytes.Buffer
		tw, _ := newTableWriter(f, &buf, cols, "UTC")
		if err := tw.close(map[string]any{}, nil); err != nil {
			t.Fatal(err)
		}
		switch f {
		case FormatJSON:
			if !strings.HasPrefix(buf.String(), `{"data":[],"meta":{}`) {
				t.Errorf("json %s", buf.String())
			}
		case FormatCSV:
			if buf.String() != "time,value\n" {
				t.Errorf("csv %q", buf.String())
			}
		case FormatArrow:
			rd, err := ipc.NewReader(&buf)
			if err != nil || rd.Schema().NumFields() != 2 || rd.Next() {
				t.Errorf("arrow: %v", err)
			}
		}
	}
	if c := floatCell(math.Inf(1), true); !c.null {
		t.Error("an infinite value is not null")
	}
}
