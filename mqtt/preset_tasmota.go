package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gridmetrics/gridmetrics/ingest"
)

// The tasmota preset reads the energy monitoring of Tasmota firmware, with
// the device's full topic set to {prefix}/{tenant}/tasmota/%topic%/%prefix%/
// so that its messages arrive as {device…}/tele/{X} and {device…}/stat/{X}.
// It decodes tele/SENSOR and the replies stat/STATUS10 and stat/STATUS8
// (the same body inside "StatusSNS"); every other tele and stat topic
// (STATE, LWT, RESULT, INFO…) carries no readings and is ignored, and so are
// the commands others send the device ({device…}/cmnd/{command}), which
// arrive under the same prefix.
//
// Tasmota's "Time" is the device's local time without an offset: it is read
// in Message.Zone, the time zone of the source. A local time that a daylight
// saving change skips is read with the offset before the change (02:30 on
// the spring-forward night in Europe/Berlin is 01:30 UTC); a local time that
// happens twice (the autumn hour) is read as the second one, in standard
// time; both are the choices of Go's time.Date. A Time with an offset
// (Tasmota's SetOption52) is read with that offset, and removes the
// ambiguity.

// tasmotaField says which metrics a member of ENERGY gives.
type tasmotaField struct {
	metric string // the single-phase metric, and the sum of phases
	unit   string
	phase  string // prefix of the per-phase metrics (phase n is phase+n), or ""
	arrays int    // what an array of phases gives
}

// What an array of per-phase values gives.
const (
	phasesAndSum = iota // a metric per phase and their sum in metric
	phasesOnly          // a metric per phase
	sumOnly             // their sum in metric
	firstOnly           // the first phase's value in metric
)

// maxPhases bounds the arrays of per-phase values.
const maxPhases = 3

var tasmotaFields = map[string]tasmotaField{
	"Total":        {metric: "energy_import", unit: "kWh", arrays: sumOnly},
	"Export":       {metric: "energy_export", unit: "kWh", arrays: sumOnly},
	"ExportActive": {metric: "energy_export", unit: "kWh", arrays: sumOnly},
	"Power":        {metric: "power_import", unit: "W", phase: "power_import_l", arrays: phasesAndSum},
	"Current":      {metric: "current_import", unit: "A", phase: "current_import_l", arrays: phasesAndSum},
	"Voltage":      {metric: "voltage", unit: "V", phase: "voltage_l", arrays: phasesOnly},
	// The phases of one grid share its frequency.
	"Frequency": {metric: "frequency", unit: "Hz", arrays: firstOnly},
}

// tasmotaSkipped lists the members of ENERGY that no metric of the
// catalogue holds: counters of the day and of the period, which Total
// already covers, apparent and reactive power and the power factor, the
// tariff registers, and ImportActive, which Total repeats.
var tasmotaSkipped = map[string]bool{
	"TotalStartTime": true, "Yesterday": true, "Today": true, "Period": true,
	"ApparentPower": true, "ReactivePower": true, "Factor": true, "PhaseAngle": true,
	"TotalTariff": true, "ExportTariff": true,
	"ImportActive": true, "ImportReactive": true, "ExportReactive": true,
}

func tasmotaDevice(levels []string) (string, error) {
	n := len(levels)
	if n < 3 || (levels[n-2] != "tele" && levels[n-2] != "stat" && levels[n-2] != "cmnd") {
		return "", errors.New("topic: the tasmota preset needs the levels {device…}/tele/{topic} or {device…}/stat/{topic}")
	}
	return joinDevice(levels[:n-2])
}

func decodeTasmota(m Message, device string, maxRows int) (Decoded, error) {
	n := len(m.Topic.Levels)
	kind, name := m.Topic.Levels[n-2], m.Topic.Levels[n-1]
	sensor, what := json.RawMessage(m.Payload), name
	switch {
	case kind == "tele" && name == "SENSOR":
	case kind == "stat" && (name == "STATUS10" || name == "STATUS8"):
		fields, err := objectFields(m.Payload, name)
		if err != nil {
			return Decoded{}, err
		}
		var ok bool
		if sensor, ok = member(fields, "StatusSNS"); !ok {
			return Decoded{}, fmt.Errorf("%s: missing StatusSNS", name)
		}
		what = "StatusSNS"
	default:
		return Decoded{}, nil
	}
	fields, err := objectFields(sensor, what)
	if err != nil {
		return Decoded{}, err
	}
	energy, ok := member(fields, "ENERGY")
	if !ok {
		return Decoded{}, nil // other sensors only
	}
	rawTime, ok := member(fields, "Time")
	if !ok {
		return Decoded{}, fmt.Errorf("%s.Time: missing", what)
	}
	t, err := tasmotaTime(rawTime, m.Zone)
	if err != nil {
		return Decoded{}, fmt.Errorf("%s.Time: %w", what, err)
	}
	what += ".ENERGY"
	members, err := objectFields(energy, what)
	if err != nil {
		return Decoded{}, err
	}
	s := rowSink{maxRows: maxRows}
	for _, f := range members {
		if tasmotaSkipped[f.key] {
			continue
		}
		tf, ok := tasmotaFields[f.key]
		if !ok {
			s.reject(ingest.CodeUnknownMetric, "%s.%s: no metric of the catalogue holds this field", what, strconv.Quote(f.key))
			continue
		}
		tasmotaValue(&s, device, t, what+"."+f.key, tf, f.val)
		if s.err != nil {
			break
		}
	}
	return s.result()
}

// tasmotaValue adds the rows of one member of ENERGY: a number, or an array
// of up to three phases.
func tasmotaValue(s *rowSink, device string, t time.Time, path string, tf tasmotaField, raw json.RawMessage) {
	if v, ok := jsonNumber(raw); ok {
		s.add(path, device, tf.metric, tf.unit, t, v)
		return
	}
	if jsonKind(raw) != "an array" {
		s.reject(ingest.CodeMalformed, "%s: expected a number or an array of phases, got %s", path, jsonKind(raw))
		return
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		s.reject(ingest.CodeMalformed, "%s: %s", path, jsonError(err))
		return
	}
	if len(items) == 0 || len(items) > maxPhases {
		s.reject(ingest.CodeMalformed, "%s: expected 1 to %d phases, got %d", path, maxPhases, len(items))
		return
	}
	phases := make([]float64, len(items))
	sum := 0.0
	for i, item := range items {
		v, ok := jsonNumber(item)
		if !ok {
			s.reject(ingest.CodeMalformed, "%s[%d]: expected a number, got %s", path, i, jsonKind(item))
			return
		}
		phases[i] = v
		sum += v
	}
	switch tf.arrays {
	case firstOnly:
		s.add(path+"[0]", device, tf.metric, tf.unit, t, phases[0])
		return
	case sumOnly:
		s.add(path+" (sum)", device, tf.metric, tf.unit, t, sum)
		return
	}
	for i, v := range phases {
		s.add(fmt.Sprintf("%s[%d]", path, i), device, tf.phase+strconv.Itoa(i+1), tf.unit, t, v)
	}
	if tf.arrays == phasesAndSum {
		s.add(path+" (sum)", device, tf.metric, tf.unit, t, sum)
	}
}

// tasmotaTime reads Tasmota's Time: local time in zone, with optional
// fractional seconds, or a time with an offset (SetOption52).
func tasmotaTime(raw json.RawMessage, zone *time.Location) (time.Time, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, fmt.Errorf("expected a string, got %s", jsonKind(raw))
	}
	if zone == nil {
		zone = time.UTC
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05", s, zone)
	if err != nil {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if t = utcMicro(t); err != nil || t.IsZero() {
		return time.Time{}, fmt.Errorf("%q is not a time such as 2026-12-02T10:15:00", clip(s))
	}
	return t, nil
}
