package main

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// The metrics a simulated meter reports at every sample, with their units
// as sent (each metric's stored unit, so no conversion is measured).
var benchMetrics = [...]struct{ name, unit string }{
	{"energy_import", "Wh"}, // counter
	{"power_import", "W"},   // gauge
	{"voltage", "V"},        // gauge
}

// reading is one generated row. source indexes dataset.sources; metric
// indexes benchMetrics.
type reading struct {
	time   int64 // microseconds since the Unix epoch
	value  float64
	source int32
	metric uint8
}

// dataset is the rows every run sends, in time order, cut into requests.
type dataset struct {
	sources []string // external ids, CB-0001/1 …
	rows    []reading
	batch   int
}

// requests returns the rows of request i.
func (d *dataset) request(i int) []reading {
	lo := i * d.batch
	return d.rows[lo:min(lo+d.batch, len(d.rows))]
}

func (d *dataset) requestCount() int { return (len(d.rows) + d.batch - 1) / d.batch }

// chargePowers are the power levels (W) a charging session draws.
var chargePowers = [...]float64{3_700, 7_400, 11_000, 22_000}

// generate simulates n charge-box connectors with a meter each: every 1–10 s
// a sample of the energy register (rising while charging), the power drawn
// (sessions start and stop) and the voltage. The newest sample is a little
// before now. The rows are sorted by time, as a fleet's traffic arrives.
func generate(n, rows, batch int, seed uint64) *dataset {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	d := &dataset{sources: make([]string, n), batch: batch}
	perSource := (rows + n*len(benchMetrics) - 1) / (n * len(benchMetrics))
	end := time.Now().Add(-2*time.Minute).UnixMilli() * 1000 // whole ms: Arrow sends ms
	all := make([]reading, 0, perSource*n*len(benchMetrics))
	times := make([]int64, perSource)
	for s := range n {
		d.sources[s] = fmt.Sprintf("CB-%04d/1", s+1)
		// Times backwards from the newest sample, 1–10 s apart (ms steps).
		t := end - rng.Int64N(10_000)*1000
		for k := perSource - 1; k >= 0; k-- {
			times[k] = t
			t -= (1_000 + rng.Int64N(9_001)) * 1000
		}
		register := 1e6 + rng.Float64()*5e7 // Wh already on the meter
		power := 0.0
		for k, at := range times {
			dt := 0.0
			if k > 0 {
				dt = float64(at-times[k-1]) / 1e6
			}
			register += power * dt / 3600
			switch {
			case power == 0 && rng.Float64() < 0.01: // a car plugs in
				power = chargePowers[rng.IntN(len(chargePowers))]
			case power > 0 && rng.Float64() < 0.005: // charging ends
				power = 0
			}
			drawn := 0.0
			if power > 0 {
				drawn = math.Round(power*(0.97+0.03*rng.Float64())*10) / 10
			}
			volts := math.Round((230+3*rng.NormFloat64())*10) / 10
			all = append(all,
				reading{time: at, value: math.Round(register*10) / 10, source: int32(s), metric: 0},
				reading{time: at, value: drawn, source: int32(s), metric: 1},
				reading{time: at, value: volts, source: int32(s), metric: 2})
		}
	}
	slices.SortFunc(all, func(a, b reading) int {
		if c := cmp.Compare(a.time, b.time); c != 0 {
			return c
		}
		if c := cmp.Compare(a.source, b.source); c != 0 {
			return c
		}
		return cmp.Compare(a.metric, b.metric)
	})
	d.rows = all[len(all)-rows:] // the newest rows
	return d
}

// span returns the oldest and newest time of the rows.
func (d *dataset) span() (time.Time, time.Time) {
	return time.UnixMicro(d.rows[0].time).UTC(), time.UnixMicro(d.rows[len(d.rows)-1].time).UTC()
}

// jsonBodies encodes every request as {"readings":[…]}.
func (d *dataset) jsonBodies() [][]byte {
	out := make([][]byte, d.requestCount())
	for i := range out {
		rows := d.request(i)
		b := make([]byte, 0, 16+len(rows)*112)
		b = append(b, `{"readings":[`...)
		for j, r := range rows {
			if j > 0 {
				b = append(b, ',')
			}
			m := benchMetrics[r.metric]
			b = append(b, `{"source":"`...)
			b = append(b, d.sources[r.source]...)
			b = append(b, `","metric":"`...)
			b = append(b, m.name...)
			b = append(b, `","time":"`...)
			b = time.UnixMicro(r.time).UTC().AppendFormat(b, time.RFC3339Nano)
			b = append(b, `","value":`...)
			b = strconv.AppendFloat(b, r.value, 'f', -1, 64)
			b = append(b, `,"unit":"`...)
			b = append(b, m.unit...)
			b = append(b, `"}`...)
		}
		out[i] = append(b, "]}"...)
	}
	return out
}

// arrowSchema is the columns of an Arrow ingest body.
var arrowSchema = arrow.NewSchema([]arrow.Field{
	{Name: "source", Type: arrow.BinaryTypes.String},
	{Name: "metric", Type: arrow.BinaryTypes.String},
	{Name: "time", Type: arrow.FixedWidthTypes.Timestamp_ms}, // UTC
	{Name: "value", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// arrowBodies encodes every request as an Arrow IPC stream of one record
// batch.
func (d *dataset) arrowBodies() ([][]byte, error) {
	mem := memory.NewGoAllocator()
	out := make([][]byte, d.requestCount())
	for i := range out {
		rows := d.request(i)
		b := array.NewRecordBuilder(mem, arrowSchema)
		src := b.Field(0).(*array.StringBuilder)
		met := b.Field(1).(*array.StringBuilder)
		at := b.Field(2).(*array.TimestampBuilder)
		val := b.Field(3).(*array.Float64Builder)
		b.Reserve(len(rows))
		for _, r := range rows {
			src.Append(d.sources[r.source])
			met.Append(benchMetrics[r.metric].name)
			at.Append(arrow.Timestamp(r.time / 1000))
			val.Append(r.value)
		}
		rec := b.NewRecord()
		b.Release()
		var buf bytes.Buffer
		w := ipc.NewWriter(&buf, ipc.WithSchema(arrowSchema), ipc.WithAllocator(mem))
		err := w.Write(rec)
		rec.Release()
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("encode arrow request %d: %w", i, err)
		}
		out[i] = buf.Bytes()
	}
	return out, nil
}

func totalBytes(bodies [][]byte) int {
	n := 0
	for _, b := range bodies {
		n += len(b)
	}
	return n
}
