package availability

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
)

// This file decodes StatusNotification payloads — the JSON object that is
// the third element of the OCPP-J CALL frame. It is pure: no database, no
// HTTP. Unknown fields (errorCode, info, vendor extras) are ignored, as the
// meter-value decoder ignores them; the fields that are read are checked
// strictly.

// StatusNotification is what a charger reported in one StatusNotification.
type StatusNotification struct {
	// Version is "1.6" or "2.0.1", told by the payload's fields.
	Version string
	// Connector is the OCPP 1.6 connectorId or the OCPP 2.0.1 evseId: the
	// source is connector (or EVSE) Connector of the charge box, the box
	// itself for 0 — the sources the transaction routes use.
	Connector int
	// EVSEConnector is the OCPP 2.0.1 connectorId within the EVSE. The
	// EVSE is the source; a status of one of its connectors is the EVSE's.
	EVSEConnector int
	Status        string
	// Time is the charger's timestamp; zero when an OCPP 1.6 charger left
	// it out (the caller uses the time of receipt).
	Time time.Time
}

// maxConnectorID bounds connector and EVSE ids: OCPP's are 32-bit integers.
const maxConnectorID = math.MaxInt32

// DecodeStatusNotification reads an OCPP 1.6 StatusNotification.req
// ({connectorId, status, errorCode, timestamp?}) or an OCPP 2.0.1
// StatusNotificationRequest ({timestamp, connectorStatus, evseId,
// connectorId}). The edition is told by the status field: status is
// OCPP 1.6, connectorStatus OCPP 2.0.1. Errors are VALIDATION_ERRORs naming
// the field.
func DecodeStatusNotification(body []byte) (StatusNotification, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return StatusNotification{}, api.Validation("", "the body is not a JSON object (an OCPP StatusNotification payload)")
	}
	_, has16 := fields["status"]
	_, has201 := fields["connectorStatus"]
	switch {
	case has16 && has201:
		return StatusNotification{}, api.Validation("", "status (OCPP 1.6) and connectorStatus (OCPP 2.0.1) cannot both be present")
	case has16:
		return decode16(fields)
	case has201:
		return decode201(fields)
	}
	return StatusNotification{}, api.Validation("", "neither status (OCPP 1.6 StatusNotification.req) nor connectorStatus (OCPP 2.0.1 StatusNotificationRequest) is present")
}

func decode16(fields map[string]json.RawMessage) (StatusNotification, error) {
	n := StatusNotification{Version: "1.6"}
	var err error
	if n.Connector, err = idField(fields, "connectorId"); err != nil {
		return n, err
	}
	if n.Status, err = statusField(fields, "status", States16); err != nil {
		return n, err
	}
	if raw, ok := fields["timestamp"]; ok && !isNull(raw) {
		if n.Time, err = timeField("timestamp", raw); err != nil {
			return n, err
		}
	}
	return n, nil
}

func decode201(fields map[string]json.RawMessage) (StatusNotification, error) {
	n := StatusNotification{Version: "2.0.1"}
	var err error
	if n.Connector, err = idField(fields, "evseId"); err != nil {
		return n, err
	}
	if n.EVSEConnector, err = idField(fields, "connectorId"); err != nil {
		return n, err
	}
	if n.Status, err = statusField(fields, "connectorStatus", States201); err != nil {
		return n, err
	}
	raw, ok := fields["timestamp"]
	if !ok || isNull(raw) {
		return n, api.Validation("timestamp", "is required")
	}
	n.Time, err = timeField("timestamp", raw)
	return n, err
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// idField reads a required non-negative integer id.
func idField(fields map[string]json.RawMessage, name string) (int, error) {
	raw, ok := fields[name]
	if !ok || isNull(raw) {
		return 0, api.Validation(name, "is required")
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f != math.Trunc(f) || f < 0 || f > maxConnectorID {
		return 0, api.Validation(name, "%s is not a non-negative integer", clip(string(raw), 32))
	}
	return int(f), nil
}

// statusField reads a required status from the edition's list.
func statusField(fields map[string]json.RawMessage, name string, allowed []string) (string, error) {
	var s string
	raw := fields[name]
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", api.Validation(name, "%s is not a string", clip(string(raw), 32))
	}
	if !slices.Contains(allowed, s) {
		return "", api.Validation(name, "%q is not a status of this OCPP edition (%s)", clip(s, 64), strings.Join(allowed, ", "))
	}
	return s, nil
}

// timeField reads an RFC 3339 time, truncated to the microseconds the
// database keeps.
func timeField(name string, raw json.RawMessage) (time.Time, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, api.Validation(name, "%s is not a string", clip(string(raw), 32))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, api.Validation(name, "%q is not an RFC 3339 time", clip(s, 64))
	}
	return t.UTC().Truncate(time.Microsecond), nil
}
