package ocppj

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// This file reads and writes OCPP-J frames. It is pure: no network, no
// database.
//
//	CALL       [2, "<id>", "<Action>", {payload}]
//	CALLRESULT [3, "<id>", {payload}]
//	CALLERROR  [4, "<id>", "<errorCode>", "<errorDescription>", {errorDetails}]

// Protocol is an OCPP-J WebSocket subprotocol.
type Protocol string

// The subprotocols served. A charger that offers several gets the first of
// its list that is served (chooseProtocol).
const (
	OCPP201 Protocol = "ocpp2.0.1"
	OCPP16  Protocol = "ocpp1.6"
)

// Protocols lists the supported subprotocols.
var Protocols = []Protocol{OCPP201, OCPP16}

// OCPP-J message type ids.
const (
	typeCall       = 2
	typeCallResult = 3
	typeCallError  = 4
)

// maxMessageID is the length OCPP-J allows a message id (both editions).
const maxMessageID = 36

// maxDescription bounds an errorDescription sent: OCPP 2.0.1 allows 255
// characters.
const maxDescription = 255

// unreadableID is the message id of a CALLERROR answering a frame whose id
// could not be read (OCPP 2.0.1 part 4 says "-1"; OCPP 1.6 says nothing,
// and the same answer is harmless there).
const unreadableID = "-1"

// ErrorCode is an OCPP-J RPC error, independent of how an edition spells
// it (see Protocol.spell).
type ErrorCode int

// The RPC errors this server sends.
const (
	// FormatViolation: the frame or payload is not syntactically valid.
	FormatViolation ErrorCode = iota
	// OccurrenceConstraintViolation: a required field is missing.
	OccurrenceConstraintViolation
	// PropertyConstraintViolation: a field holds a value out of its range.
	PropertyConstraintViolation
	// TypeConstraintViolation: a field holds a value of the wrong type.
	TypeConstraintViolation
	// NotImplemented: the action is not known.
	NotImplemented
	// NotSupported: the action is known and not supported.
	NotSupported
	// ProtocolError: the payload is incomplete, or the frame breaks the
	// RPC rules (an unknown message type in OCPP 1.6).
	ProtocolError
	// InternalError: the server could not process the CALL; try again.
	InternalError
	// GenericError: anything else (a bound of the connection was hit).
	GenericError
	// MessageTypeNotSupported: an unknown message type id (OCPP 2.0.1;
	// OCPP 1.6 says ProtocolError).
	MessageTypeNotSupported
)

// spell names an RPC error as the edition does: OCPP 1.6 spells
// "FormationViolation" and "OccurenceConstraintViolation" and has no
// MessageTypeNotSupported; OCPP 2.0.1 spells "FormatViolation" and
// "OccurrenceConstraintViolation".
func (p Protocol) spell(c ErrorCode) string {
	v16 := p == OCPP16
	switch c {
	case FormatViolation:
		if v16 {
			return "FormationViolation"
		}
		return "FormatViolation"
	case OccurrenceConstraintViolation:
		if v16 {
			return "OccurenceConstraintViolation"
		}
		return "OccurrenceConstraintViolation"
	case PropertyConstraintViolation:
		return "PropertyConstraintViolation"
	case TypeConstraintViolation:
		return "TypeConstraintViolation"
	case NotImplemented:
		return "NotImplemented"
	case NotSupported:
		return "NotSupported"
	case ProtocolError:
		return "ProtocolError"
	case InternalError:
		return "InternalError"
	case MessageTypeNotSupported:
		if v16 {
			return "ProtocolError"
		}
		return "MessageTypeNotSupported"
	}
	return "GenericError"
}

// call is a CALL frame read from a charger.
type call struct {
	ID      string
	Action  string
	Payload json.RawMessage
}

// rpcError is a CALLERROR to send.
type rpcError struct {
	ID          string
	Code        ErrorCode
	Description string
	Details     map[string]any
}

func (e *rpcError) Error() string { return e.Description }

// parseFrame reads a frame. It returns the CALL it holds; ok false with a
// nil error for a CALLRESULT or CALLERROR (answers to CALLs the server
// sends; there are none yet, so they are dropped); or the CALLERROR to
// answer a frame that breaks the rules.
func parseFrame(b []byte) (c call, ok bool, rerr *rpcError) {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) < 3 {
		return c, false, &rpcError{ID: unreadableID, Code: FormatViolation,
			Description: "a frame is a JSON array [messageTypeId, messageId, …]"}
	}
	var kind int
	if err := json.Unmarshal(parts[0], &kind); err != nil {
		return c, false, &rpcError{ID: unreadableID, Code: FormatViolation, Description: "messageTypeId is not an integer"}
	}
	if err := json.Unmarshal(parts[1], &c.ID); err != nil || c.ID == "" || len(c.ID) > maxMessageID {
		return call{}, false, &rpcError{ID: unreadableID, Code: FormatViolation,
			Description: fmt.Sprintf("messageId is not a string of 1 to %d characters", maxMessageID)}
	}
	switch kind {
	case typeCall:
	case typeCallResult, typeCallError:
		return call{}, false, nil
	default:
		return c, false, &rpcError{ID: c.ID, Code: MessageTypeNotSupported, Description: fmt.Sprintf("messageTypeId %d is not 2, 3 or 4", kind)}
	}
	if len(parts) != 4 {
		return c, false, &rpcError{ID: c.ID, Code: FormatViolation, Description: "a CALL is [2, messageId, action, payload]"}
	}
	if err := json.Unmarshal(parts[2], &c.Action); err != nil || c.Action == "" {
		return c, false, &rpcError{ID: c.ID, Code: FormatViolation, Description: "action is not a string"}
	}
	c.Payload = bytes.TrimSpace(parts[3])
	if len(c.Payload) == 0 || c.Payload[0] != '{' {
		return c, false, &rpcError{ID: c.ID, Code: FormatViolation, Description: "the payload of a CALL is a JSON object"}
	}
	return c, true, nil
}

// encodeResult writes a CALLRESULT.
func encodeResult(id string, payload any) ([]byte, error) {
	if payload == nil {
		payload = struct{}{}
	}
	return json.Marshal([]any{typeCallResult, id, payload})
}

// encodeError writes a CALLERROR as the edition spells it.
func encodeError(p Protocol, e *rpcError) []byte {
	details := e.Details
	if details == nil {
		details = map[string]any{}
	}
	desc := e.Description
	if len(desc) > maxDescription {
		desc = desc[:maxDescription]
		for !utf8.ValidString(desc) {
			desc = desc[:len(desc)-1]
		}
	}
	b, err := json.Marshal([]any{typeCallError, e.ID, p.spell(e.Code), desc, details})
	if err != nil { // details hold only plain values; never expected
		b, _ = json.Marshal([]any{typeCallError, e.ID, p.spell(InternalError), "internal error", map[string]any{}})
	}
	return b
}
