package ingest

import (
	"encoding/json"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/internal/fuzzbudget"
)

// FuzzDecodeOCPPMeterValues checks that the OCPP decoder never panics and,
// when it accepts a payload, accounts for every sampledValue at most once:
// each index is in Rows or Rejected at most once and names a sampledValue
// of the payload. Rows must be in a catalogue metric and its unit, finite,
// in UTC and truncated to microseconds. Decoding stays within a budget of
// time and memory per payload (fuzzbudget), and makes at most one row or
// rejection per byte.
func FuzzDecodeOCPPMeterValues(f *testing.F) {
	names := make([]string, 0, len(ocppExamples))
	for name := range ocppExamples {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f.Add([]byte(ocppExamples[name]))
	}
	for _, body := range []string{
		``,
		`null`,
		`[2, "1", "MeterValues", {"connectorId": 1, "meterValue": []}]`,
		`{"connectorId": 1, "evseId": 1, "meterValue": []}`,
		`{"connectorId": 1, "meterValue": [{"timestamp": "2025-03-01T12:00:00Z", "sampledValue": [null, 1, [], {"value": "1e-400"}, {"value": "-0"}]}]}`,
		`{"evseId": 1, "meterValue": [{"timestamp": "2025-03-01T12:00:00Z", "sampledValue": [{"value": 1e2, "unitOfMeasure": {"multiplier": 2147483647}}, {"value": 0, "unitOfMeasure": {"unit": "K", "multiplier": -2147483648}}]}]}`,
		`{"connectorId": 1, "METERVALUE": [{"Timestamp": "2025-03-01T12:00:00Z", "SampledValue": [{"Value": "1"}]}], "meterValue": []}`,
	} {
		f.Add([]byte(body))
	}

	// The catalogue's metrics and units (schema/migrations), and the
	// per-phase ones.
	units := map[string]string{
		"energy_import": "Wh", "energy_export": "Wh",
		"power_import": "W", "power_export": "W", "power_offered": "W",
		"current_import": "A", "voltage": "V", "soc": "%", "temperature": "degC", "frequency": "Hz",
	}
	for _, name := range PhaseMetrics {
		units[name] = units[name[:strings.LastIndex(name, "_")]]
	}
	codes := map[string]bool{
		CodeMalformed: true, CodeUnknownMetric: true, CodeUnknownUnit: true, CodeInvalidValue: true,
		CodeSignedData: true, CodeUnsupportedPhase: true,
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		var m MeterValues
		var err error
		fuzzbudget.Check(t, fuzzbudget.Budget{}, len(body), func() { m, err = DecodeOCPPMeterValues("CB-0042", body) })
		if n := len(m.Rows) + len(m.Rejected); n > len(body) {
			t.Fatalf("%d rows and rejections from %d bytes", n, len(body))
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}

		// Count the sampledValues the way the decoder reads them: each level
		// through a RawMessage, so that of duplicate keys the last one
		// counts, whatever the type of the earlier ones.
		var shape struct {
			MeterValue json.RawMessage `json:"meterValue"`
		}
		var list []struct {
			SampledValue json.RawMessage `json:"sampledValue"`
		}
		if err := json.Unmarshal(body, &shape); err != nil {
			t.Fatalf("accepted a payload whose shape does not decode: %v", err)
		}
		if err := json.Unmarshal(shape.MeterValue, &list); err != nil {
			t.Fatalf("accepted a meterValue that does not decode: %v", err)
		}
		total := 0
		for _, mv := range list {
			var samples []json.RawMessage
			if err := json.Unmarshal(mv.SampledValue, &samples); err != nil {
				t.Fatalf("accepted a sampledValue that does not decode: %v", err)
			}
			total += len(samples)
		}

		seen := make(map[int]bool)
		mark := func(i int) {
			if i < 0 || i >= total {
				t.Fatalf("index %d out of [0, %d)", i, total)
			}
			if seen[i] {
				t.Fatalf("index %d reported twice:\nrows %+v\nrejected %+v", i, m.Rows, m.Rejected)
			}
			seen[i] = true
		}
		source := m.SourceExternalID()
		for k, r := range m.Rows {
			mark(r.Index)
			if k > 0 && r.Index <= m.Rows[k-1].Index {
				t.Fatalf("rows out of order: %+v", m.Rows)
			}
			unit, ok := units[r.Metric]
			switch {
			case r.Source != source:
				t.Fatalf("row %+v: source is not %q", r, source)
			case !ok:
				t.Fatalf("row %+v: metric not in the catalogue", r)
			case r.Unit != unit:
				t.Fatalf("row %+v: unit is not %q", r, unit)
			case math.IsNaN(r.Value) || math.IsInf(r.Value, 0):
				t.Fatalf("row %+v: value not finite", r)
			case r.Time.Location() != time.UTC || !r.Time.Equal(r.Time.Truncate(time.Microsecond)):
				t.Fatalf("row %+v: time not UTC microseconds", r)
			}
		}
		for k, e := range m.Rejected {
			mark(e.Index)
			if k > 0 && e.Index <= m.Rejected[k-1].Index {
				t.Fatalf("rejections out of order: %+v", m.Rejected)
			}
			if !codes[e.Code] || !strings.HasPrefix(e.Message, "meterValue[") {
				t.Fatalf("rejection %+v: unknown code or unnamed sampledValue", e)
			}
		}
		if m.Begin != nil && m.Begin.Location() != time.UTC || m.End != nil && m.End.Location() != time.UTC {
			t.Fatalf("begin %v, end %v not in UTC", m.Begin, m.End)
		}
	})
}
