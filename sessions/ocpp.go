package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
)

// This file reads the OCPP transaction messages: OCPP 1.6
// StartTransaction.req and StopTransaction.req, and OCPP 2.0.1
// TransactionEventRequest — the JSON payload, the third element of the
// OCPP-J CALL frame. It is pure: no database, no HTTP. Unknown fields are
// ignored (chargers send vendor extras, as ingest notes for meter values);
// the fields read are checked strictly, and an error names the field.

// StartTransaction16 is an OCPP 1.6 StartTransaction.req.
type StartTransaction16 struct {
	ConnectorID int
	IDTag       string
	// MeterStart is the energy register at the start, in Wh (OCPP 1.6
	// sends an integer).
	MeterStart    float64
	ReservationID *int64
	Timestamp     time.Time
}

// StopTransaction16 is an OCPP 1.6 StopTransaction.req.
type StopTransaction16 struct {
	TransactionID int64
	IDTag         string
	MeterStop     float64 // Wh
	Timestamp     time.Time
	// Reason is the stop reason; OCPP 1.6 says "Local" when absent.
	Reason string
	// TransactionData is the meterValue array sent with the stop, for
	// ingest.DecodeOCPPMeterValueList.
	TransactionData []json.RawMessage
}

// TransactionEvent201 is an OCPP 2.0.1 TransactionEventRequest.
type TransactionEvent201 struct {
	EventType     string // Started, Updated or Ended
	Timestamp     time.Time
	TriggerReason string
	SeqNo         int64
	Offline       bool
	TransactionID string
	// ChargingState is transactionInfo.chargingState; "" when absent.
	ChargingState string
	StoppedReason string
	IDToken       string
	IDTokenType   string
	// EVSE is evse.id; 0 when the event has no evse (only the first event
	// of a transaction must carry it).
	EVSE       int
	MeterValue []json.RawMessage
}

// The OCPP 2.0.1 event types and charging states.
var (
	eventTypes     = map[string]bool{"Started": true, "Updated": true, "Ended": true}
	chargingStates = map[string]bool{"Charging": true, "EVConnected": true, "SuspendedEV": true, "SuspendedEVSE": true, "Idle": true}
)

// ocppObject reads a payload into named raw fields, refusing anything that
// is not a JSON object.
func ocppObject(path string, body []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		if err == nil {
			err = errors.New("got null")
		}
		return nil, api.Validation(path, "want a JSON object: %v", err)
	}
	return m, nil
}

func absent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func reqInt(m map[string]json.RawMessage, name string, min int64) (int64, error) {
	raw := m[name]
	if absent(raw) {
		return 0, api.Validation(name, "is required")
	}
	return optInt(raw, name, min)
}

func optInt(raw json.RawMessage, name string, min int64) (int64, error) {
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return 0, api.Validation(name, "%s is not an integer", raw)
	}
	if n < min {
		return 0, api.Validation(name, "%d is below %d", n, min)
	}
	return n, nil
}

func reqNumber(m map[string]json.RawMessage, name string) (float64, error) {
	raw := m[name]
	if absent(raw) {
		return 0, api.Validation(name, "is required")
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, api.Validation(name, "%s is not a number", raw)
	}
	return f, nil
}

func optString(m map[string]json.RawMessage, name string, maxLen int) (string, error) {
	raw := m[name]
	if absent(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", api.Validation(name, "%s is not a string", raw)
	}
	if len(s) > maxLen {
		return "", api.Validation(name, "is %d characters long; at most %d are allowed", len(s), maxLen)
	}
	return s, nil
}

func reqString(m map[string]json.RawMessage, name string, maxLen int) (string, error) {
	s, err := optString(m, name, maxLen)
	if err == nil && s == "" {
		err = api.Validation(name, "is required")
	}
	return s, err
}

func reqTime(m map[string]json.RawMessage, name string) (time.Time, error) {
	s, err := reqString(m, name, 64)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, api.Validation(name, "%q is not an RFC 3339 time", s)
	}
	return t.UTC().Truncate(time.Microsecond), nil
}

func optArray(m map[string]json.RawMessage, name string) ([]json.RawMessage, error) {
	raw := m[name]
	if absent(raw) {
		return nil, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, api.Validation(name, "want an array")
	}
	return list, nil
}

// DecodeStartTransaction16 reads an OCPP 1.6 StartTransaction.req.
func DecodeStartTransaction16(body []byte) (StartTransaction16, error) {
	m, err := ocppObject("", body)
	if err != nil {
		return StartTransaction16{}, err
	}
	var s StartTransaction16
	connector, err := reqInt(m, "connectorId", 1)
	if err != nil {
		return s, err
	}
	if connector > 1<<31-1 {
		return s, api.Validation("connectorId", "%d is not a 32-bit integer", connector)
	}
	s.ConnectorID = int(connector)
	if s.IDTag, err = reqString(m, "idTag", 20); err != nil {
		return s, err
	}
	if s.MeterStart, err = reqNumber(m, "meterStart"); err != nil {
		return s, err
	}
	if raw := m["reservationId"]; !absent(raw) {
		id, err := optInt(raw, "reservationId", 0)
		if err != nil {
			return s, err
		}
		s.ReservationID = &id
	}
	s.Timestamp, err = reqTime(m, "timestamp")
	return s, err
}

// DecodeStopTransaction16 reads an OCPP 1.6 StopTransaction.req.
func DecodeStopTransaction16(body []byte) (StopTransaction16, error) {
	m, err := ocppObject("", body)
	if err != nil {
		return StopTransaction16{}, err
	}
	var s StopTransaction16
	if s.TransactionID, err = reqInt(m, "transactionId", -1<<31); err != nil {
		return s, err
	}
	if s.IDTag, err = optString(m, "idTag", 20); err != nil {
		return s, err
	}
	if s.MeterStop, err = reqNumber(m, "meterStop"); err != nil {
		return s, err
	}
	if s.Timestamp, err = reqTime(m, "timestamp"); err != nil {
		return s, err
	}
	if s.Reason, err = optString(m, "reason", 50); err != nil {
		return s, err
	}
	if s.Reason == "" {
		s.Reason = "Local" // OCPP 1.6: "when absent, Local is assumed"
	}
	s.TransactionData, err = optArray(m, "transactionData")
	return s, err
}

// DecodeTransactionEvent201 reads an OCPP 2.0.1 TransactionEventRequest.
func DecodeTransactionEvent201(body []byte) (TransactionEvent201, error) {
	m, err := ocppObject("", body)
	if err != nil {
		return TransactionEvent201{}, err
	}
	var e TransactionEvent201
	if e.EventType, err = reqString(m, "eventType", 20); err != nil {
		return e, err
	}
	if !eventTypes[e.EventType] {
		return e, api.Validation("eventType", "%q is not Started, Updated or Ended", e.EventType)
	}
	if e.Timestamp, err = reqTime(m, "timestamp"); err != nil {
		return e, err
	}
	if e.TriggerReason, err = reqString(m, "triggerReason", 50); err != nil {
		return e, err
	}
	if e.SeqNo, err = reqInt(m, "seqNo", 0); err != nil {
		return e, err
	}
	if raw := m["offline"]; !absent(raw) {
		if err := json.Unmarshal(raw, &e.Offline); err != nil {
			return e, api.Validation("offline", "%s is not a boolean", raw)
		}
	}
	if absent(m["transactionInfo"]) {
		return e, api.Validation("transactionInfo", "is required")
	}
	info, err := ocppObject("transactionInfo", m["transactionInfo"])
	if err != nil {
		return e, err
	}
	if e.TransactionID, err = reqString(info, "transactionId", 36); err != nil {
		return e, prefixed("transactionInfo", err)
	}
	if e.ChargingState, err = optString(info, "chargingState", 20); err != nil {
		return e, prefixed("transactionInfo", err)
	}
	if e.ChargingState != "" && !chargingStates[e.ChargingState] {
		return e, api.Validation("transactionInfo.chargingState", "%q is not an OCPP 2.0.1 charging state", e.ChargingState)
	}
	if e.StoppedReason, err = optString(info, "stoppedReason", 50); err != nil {
		return e, prefixed("transactionInfo", err)
	}
	if !absent(m["idToken"]) {
		tok, err := ocppObject("idToken", m["idToken"])
		if err != nil {
			return e, err
		}
		if e.IDToken, err = reqString(tok, "idToken", 36); err != nil {
			return e, prefixed("idToken", err)
		}
		if e.IDTokenType, err = optString(tok, "type", 20); err != nil {
			return e, prefixed("idToken", err)
		}
	}
	if !absent(m["evse"]) {
		evse, err := ocppObject("evse", m["evse"])
		if err != nil {
			return e, err
		}
		id, err := reqInt(evse, "id", 1)
		if err != nil {
			return e, prefixed("evse", err)
		}
		if id > 1<<31-1 {
			return e, api.Validation("evse.id", "%d is not a 32-bit integer", id)
		}
		e.EVSE = int(id)
	}
	e.MeterValue, err = optArray(m, "meterValue")
	return e, err
}

// prefixed puts a parent path before the field a validation error names.
func prefixed(parent string, err error) error {
	if e := api.AsError(err); e != nil {
		if d, ok := e.Details.(map[string]string); ok && d["field"] != "" {
			field := parent + "." + d["field"]
			return &api.Error{Code: e.Code, Message: fmt.Sprintf("%s.%s", parent, e.Message), Details: map[string]string{"field": field}}
		}
	}
	return err
}
