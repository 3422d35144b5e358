package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gridmetrics/gridmetrics/ingest"
)

// The shelly preset reads Shelly Gen2 and later devices whose MQTT topic
// prefix is set to {prefix}/{tenant}/shelly/{device}, with "Generic status
// update over MQTT" and "RPC status notifications over MQTT" on. It decodes
//
//   - {device…}/status/{component}: one component's status, read at the time
//     the service received it (these messages carry no time);
//   - {device…}/events/rpc: NotifyStatus and NotifyFullStatus, whose params
//     hold components' statuses (or changes of them) at params.ts, in
//     seconds since 1970.
//
// The topics Shelly uses for other things carry no readings and are
// ignored: {device…}/online, {device…}/rpc (requests and their responses),
// {device…}/command and {device…}/command/{component}, {device…}/debug/log,
// other methods on events/rpc (NotifyEvent), and components with no
// metric (sys, wifi, input:N, temperature:N…). Any other topic is an error.
//
// A component's channel names the source: channel 0 is the device itself,
// channel N > 0 is the source "{device}/N" (the second output of a Plus 2PM,
// the second meter of a Pro EM). Of a known component, the fields listed in
// shellyComponents give readings, values as Shelly sends them (a negative
// power is energy flowing back); null values (a quantity the device does not
// measure) and every other field are skipped: Shelly's statuses carry many
// informational fields.

// shellyField is the metric of one field of a component's status.
type shellyField struct {
	metric, unit string
	// total: the field is an energy counter object whose member "total"
	// is the reading (aenergy, ret_aenergy).
	total bool
}

var (
	shellySwitch = map[string]shellyField{
		"apower":      {metric: "power_import", unit: "W"},
		"voltage":     {metric: "voltage", unit: "V"},
		"current":     {metric: "current_import", unit: "A"},
		"freq":        {metric: "frequency", unit: "Hz"},
		"aenergy":     {metric: "energy_import", unit: "Wh", total: true},
		"ret_aenergy": {metric: "energy_export", unit: "Wh", total: true},
	}
	shellyComponents = map[string]map[string]shellyField{
		"switch": shellySwitch,
		"pm1":    shellySwitch,
		// The three-phase meter of the Pro 3EM.
		"em": {
			"a_act_power": {metric: "power_import_l1", unit: "W"}, "b_act_power": {metric: "power_import_l2", unit: "W"},
			"c_act_power": {metric: "power_import_l3", unit: "W"}, "total_act_power": {metric: "power_import", unit: "W"},
			"a_voltage": {metric: "voltage_l1", unit: "V"}, "b_voltage": {metric: "voltage_l2", unit: "V"},
			"c_voltage": {metric: "voltage_l3", unit: "V"},
			"a_current": {metric: "current_import_l1", unit: "A"}, "b_current": {metric: "current_import_l2", unit: "A"},
			"c_current": {metric: "current_import_l3", unit: "A"}, "total_current": {metric: "current_import", unit: "A"},
			"a_freq": {metric: "frequency", unit: "Hz"},
		},
		"emdata": {
			"total_act":     {metric: "energy_import", unit: "Wh"},
			"total_act_ret": {metric: "energy_export", unit: "Wh"},
		},
		// The single-phase meters of the Pro EM and EM Gen3.
		"em1": {
			"act_power": {metric: "power_import", unit: "W"},
			"voltage":   {metric: "voltage", unit: "V"},
			"current":   {metric: "current_import", unit: "A"},
			"freq":      {metric: "frequency", unit: "Hz"},
		},
		"em1data": {
			"total_act_energy":     {metric: "energy_import", unit: "Wh"},
			"total_act_ret_energy": {metric: "energy_export", unit: "Wh"},
		},
	}
)

// maxShellyChannel bounds a component's id, far above any device's count.
const maxShellyChannel = 1 << 16

func shellyDevice(levels []string) (string, error) {
	n := len(levels)
	last, prev := levels[n-1], ""
	if n >= 2 {
		prev = levels[n-2]
	}
	switch {
	case prev == "events" && last == "rpc", prev == "status", prev == "command", prev == "debug" && last == "log":
		return joinDevice(levels[:n-2])
	case last == "online", last == "rpc", last == "command":
		return joinDevice(levels[:n-1])
	}
	return "", errors.New("topic: the shelly preset needs the levels {device…}/status/{component}, {device…}/events/rpc or {device…}/online")
}

func decodeShelly(m Message, device string, maxRows int) (Decoded, error) {
	n := len(m.Topic.Levels)
	if n < 2 {
		return Decoded{}, nil
	}
	s := rowSink{maxRows: maxRows}
	switch prev, last := m.Topic.Levels[n-2], m.Topic.Levels[n-1]; {
	case prev == "events" && last == "rpc":
		if err := shellyNotification(&s, device, m.Payload); err != nil {
			return Decoded{}, err
		}
	case prev == "status":
		fields, source, err := shellyComponent(device, last)
		if err != nil || fields == nil {
			return Decoded{}, err
		}
		members, err := objectFields(m.Payload, last)
		if err != nil {
			return Decoded{}, err
		}
		shellyStatus(&s, source, utcMicro(m.Received), last, fields, members)
	}
	return s.result()
}

// shellyComponent returns the fields of a component named type:id and the
// source its channel names; no fields for a component with no metric.
func shellyComponent(device, name string) (map[string]shellyField, string, error) {
	typ, id, ok := strings.Cut(name, ":")
	fields := shellyComponents[typ]
	if !ok || fields == nil {
		return nil, "", nil
	}
	ch, err := strconv.Atoi(id)
	if err != nil || ch < 0 || ch > maxShellyChannel {
		return nil, "", fmt.Errorf("shelly component %q: the id is not a channel number", clip(name))
	}
	if ch == 0 {
		return fields, device, nil
	}
	return fields, device + "/" + strconv.Itoa(ch), nil
}

// shellyStatus adds the readings of one component's status.
func shellyStatus(s *rowSink, source string, t time.Time, path string, fields map[string]shellyField, members []field) {
	for _, f := range members {
		sf, ok := fields[f.key]
		if !ok {
			continue
		}
		val, at := f.val, path+"."+f.key
		if sf.total {
			if jsonKind(val) != "an object" {
				s.reject(ingest.CodeMalformed, "%s: expected an object, got %s", at, jsonKind(val))
				continue
			}
			counter, err := objectFields(val, at)
			if err != nil {
				s.reject(ingest.CodeMalformed, "%s", err.Error())
				continue
			}
			if val, ok = member(counter, "total"); !ok {
				continue
			}
			at += ".total"
		}
		if isNull(val) {
			continue
		}
		v, ok := jsonNumber(val)
		if !ok {
			s.reject(ingest.CodeMalformed, "%s: expected a number, got %s", at, jsonKind(val))
			continue
		}
		s.add(at, source, sf.metric, sf.unit, t, v)
		if s.err != nil {
			return
		}
	}
}

// shellyNotification adds the readings of an events/rpc message.
func shellyNotification(s *rowSink, device string, payload []byte) error {
	fields, err := objectFields(payload, "rpc")
	if err != nil {
		return err
	}
	rawMethod, ok := member(fields, "method")
	if !ok {
		return errors.New("rpc.method: missing")
	}
	var method string
	if err := json.Unmarshal(rawMethod, &method); err != nil {
		return fmt.Errorf("rpc.method: expected a string, got %s", jsonKind(rawMethod))
	}
	if method != "NotifyStatus" && method != "NotifyFullStatus" {
		return nil
	}
	rawParams, ok := member(fields, "params")
	if !ok {
		return errors.New("rpc.params: missing")
	}
	params, err := objectFields(rawParams, "rpc.params")
	if err != nil {
		return err
	}
	t, err := shellyTime(params)
	if err != nil {
		return err
	}
	for _, p := range params {
		if p.key == "ts" {
			continue
		}
		fields, source, err := shellyComponent(device, p.key)
		if err != nil {
			s.reject(ingest.CodeMalformed, "rpc.params: %s", err.Error())
			continue
		}
		if fields == nil {
			continue
		}
		path := "rpc.params." + p.key
		if jsonKind(p.val) != "an object" {
			s.reject(ingest.CodeMalformed, "%s: expected an object, got %s", path, jsonKind(p.val))
			continue
		}
		members, err := objectFields(p.val, path)
		if err != nil {
			s.reject(ingest.CodeMalformed, "%s", err.Error())
			continue
		}
		shellyStatus(s, source, t, path, fields, members)
		if s.err != nil {
			return nil
		}
	}
	return nil
}

// maxUnixSeconds is 10000-01-01T00:00:00Z, past which a time has no RFC
// 3339 form.
const maxUnixSeconds = 253402300800

// shellyTime reads params.ts, seconds since 1970 with a fraction, rounded
// to whole microseconds (a float64 holds them exactly until year 2255).
func shellyTime(params []field) (time.Time, error) {
	raw, ok := member(params, "ts")
	if !ok {
		return time.Time{}, errors.New("rpc.params.ts: missing")
	}
	ts, ok := jsonNumber(raw)
	if !ok {
		return time.Time{}, fmt.Errorf("rpc.params.ts: expected a number, got %s", jsonKind(raw))
	}
	if math.IsNaN(ts) || ts < 0 || ts >= maxUnixSeconds {
		return time.Time{}, fmt.Errorf("rpc.params.ts: %v is not a time in seconds since 1970", ts)
	}
	return time.UnixMicro(int64(math.Round(ts * 1e6))).UTC(), nil
}
