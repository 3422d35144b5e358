package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridmetrics/gridmetrics/ingest"
)

// The value preset carries one number per message, for devices that can
// publish a value to a topic but not compose JSON: the topic's last two
// levels name the metric and the unit ({device…}/energy_import/kWh; an empty
// unit level is the metric's own unit). The payload is a plain number, read
// at the time the service received it, or {"value":n,"time":"RFC 3339"} for
// devices that stamp their readings, which also makes a redelivered message
// write the same reading again instead of a second one.

// catalogue holds the metric names of the catalogue (the metrics table of
// schema/migrations, which a test compares with this list): the topic
// names the metric, so the preset rejects a name that is not one instead of
// passing it on.
var catalogue = map[string]bool{
	"energy_import": true, "energy_export": true,
	"power_import": true, "power_export": true, "power_offered": true,
	"current_import": true, "voltage": true, "soc": true, "temperature": true,
	"frequency": true, "price": true,
	"current_import_l1": true, "current_import_l2": true, "current_import_l3": true,
	"voltage_l1": true, "voltage_l2": true, "voltage_l3": true,
	"power_import_l1": true, "power_import_l2": true, "power_import_l3": true,
}

func valueDevice(levels []string) (string, error) {
	if len(levels) < 3 {
		return "", errors.New("topic: the value preset needs the levels {device…}/{metric}/{unit}")
	}
	return joinDevice(levels[:len(levels)-2])
}

// valueBody is the JSON form of a value payload.
type valueBody struct {
	Value *json.RawMessage `json:"value"`
	Time  *string          `json:"time"`
}

func decodeValue(m Message, device string, maxRows int) (Decoded, error) {
	n := len(m.Topic.Levels)
	metric, unit := m.Topic.Levels[n-2], m.Topic.Levels[n-1]
	payload := bytes.Trim(m.Payload, " \t\r\n\f\v")
	t := m.Received
	var v float64
	if len(payload) > 0 && payload[0] == '{' {
		var body valueBody
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			return Decoded{}, fmt.Errorf("value: %s", jsonError(err))
		}
		if dec.More() {
			return Decoded{}, errors.New("value: data after the object")
		}
		if body.Value == nil {
			return Decoded{}, errors.New("value: missing field value")
		}
		var ok bool
		if v, ok = jsonNumber(*body.Value); !ok {
			return Decoded{}, fmt.Errorf("value: field value: expected a number, got %s", jsonKind(*body.Value))
		}
		if body.Time != nil {
			var err error
			if t, err = time.Parse(time.RFC3339Nano, *body.Time); err != nil || utcMicro(t).IsZero() {
				return Decoded{}, fmt.Errorf("value: field time: %q is not an RFC 3339 time with an offset", clip(*body.Time))
			}
		}
	} else {
		var err error
		if v, err = plainNumber(payload); err != nil {
			return Decoded{}, err
		}
	}
	s := rowSink{maxRows: maxRows}
	if !catalogue[metric] {
		s.reject(ingest.CodeUnknownMetric, "metric %q (topic level) is not in the catalogue (GET /v1/metrics lists them)", metric)
		return s.result()
	}
	s.add("value", device, metric, unit, utcMicro(t), v)
	return s.result()
}

// plainNumber reads a decimal number: an optional sign, digits with an
// optional fraction, an optional exponent. NaN and infinities, which
// strconv.ParseFloat would also read, come back as such for the caller to
// reject as not finite; hexadecimal and underscores are not numbers here.
func plainNumber(b []byte) (float64, error) {
	s := string(b)
	unsigned := s
	if s != "" && (s[0] == '+' || s[0] == '-') {
		unsigned = s[1:]
	}
	switch strings.ToLower(unsigned) {
	case "nan":
		return math.NaN(), nil
	case "inf", "infinity":
		if strings.HasPrefix(s, "-") {
			return math.Inf(-1), nil
		}
		return math.Inf(1), nil
	}
	if !isDecimal(s) {
		return 0, fmt.Errorf("value: payload %q is not a number", clip(s))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(v, 0) {
		return 0, fmt.Errorf("value: payload %q is not a number", clip(s))
	}
	return v, nil
}

func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// clip shortens text quoted in an error to a readable length.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return s[:max] + "…"
}
