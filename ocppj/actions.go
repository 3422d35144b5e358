package ocppj

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
)

// handler answers one action's payload with the CALLRESULT payload.
type handler func(s *Server, ctx context.Context, c *conn, payload []byte) (any, error)

// actions are the CALLs a charger may send, per edition.
var actions = map[Protocol]map[string]handler{
	OCPP16: {
		"BootNotification":              boot("chargePointVendor", "chargePointModel"),
		"Heartbeat":                     heartbeat,
		"StatusNotification":            statusNotification,
		"Authorize":                     authorize("idTag", "idTagInfo"),
		"StartTransaction":              startTransaction16,
		"StopTransaction":               stopTransaction16,
		"MeterValues":                   meterValues,
		"DataTransfer":                  dataTransfer,
		"DiagnosticsStatusNotification": notification("status"),
		"FirmwareStatusNotification":    notification("status"),
	},
	OCPP201: {
		"BootNotification":           boot("chargingStation", "reason"),
		"Heartbeat":                  heartbeat,
		"StatusNotification":         statusNotification,
		"Authorize":                  authorize("idToken", "idTokenInfo"),
		"TransactionEvent":           transactionEvent201,
		"MeterValues":                meterValues,
		"NotifyEvent":                notification("generatedAt", "seqNo", "eventData"),
		"SecurityEventNotification":  notification("type", "timestamp"),
		"FirmwareStatusNotification": notification("status"),
		"LogStatusNotification":      notification("status"),
		"DataTransfer":               dataTransfer,
	},
}

// known are actions of either edition that a charger may send and this
// server does not handle: NotSupported rather than NotImplemented.
var known = map[string]bool{
	"SignCertificate": true, "Get15118EVCertificate": true, "GetCertificateStatus": true, "NotifyReport": true,
	"NotifyMonitoringReport": true, "NotifyChargingLimit": true, "ClearedChargingLimit": true, "ReportChargingProfiles": true,
	"NotifyEVChargingNeeds": true, "NotifyEVChargingSchedule": true, "NotifyCustomerInformation": true,
	"NotifyDisplayMessages": true, "PublishFirmwareStatusNotification": true, "ReservationStatusUpdate": true,
}

// dispatch runs a CALL's handler.
func (s *Server) dispatch(ctx context.Context, c *conn, cl call) (any, error) {
	h, ok := actions[c.proto][cl.Action]
	if !ok {
		code := NotImplemented
		if known[cl.Action] || actions[OCPP16][cl.Action] != nil || actions[OCPP201][cl.Action] != nil {
			code = NotSupported
		}
		return nil, &rpcError{ID: cl.ID, Code: code, Description: fmt.Sprintf("action %q is not served over %s", cl.Action, c.proto)}
	}
	return h(s, ctx, c, cl.Payload)
}

// payloadObject reads a payload and checks the required fields are there.
func payloadObject(payload []byte, required ...string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil || m == nil {
		return nil, &rpcError{Code: FormatViolation, Description: "the payload is not a JSON object"}
	}
	for _, f := range required {
		if v := bytes.TrimSpace(m[f]); len(v) == 0 || string(v) == "null" {
			return nil, &rpcError{Code: OccurrenceConstraintViolation, Description: f + " is required", Details: map[string]any{"field": f}}
		}
	}
	return m, nil
}

func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

// boot accepts every charger that got this far: it is authenticated.
func boot(required ...string) handler {
	return func(s *Server, _ context.Context, _ *conn, payload []byte) (any, error) {
		if _, err := payloadObject(payload, required...); err != nil {
			return nil, err
		}
		return map[string]any{"status": "Accepted", "currentTime": now(), "interval": int(s.cfg.HeartbeatInterval / time.Second)}, nil
	}
}

func heartbeat(_ *Server, _ context.Context, _ *conn, payload []byte) (any, error) {
	if _, err := payloadObject(payload); err != nil {
		return nil, err
	}
	return map[string]any{"currentTime": now()}, nil
}

// authorize answers by the tenant's id-tag policy (idtags). field is the
// payload's id: OCPP 1.6 "idTag", a CiString20; OCPP 2.0.1 "idToken", an
// object whose "idToken" is up to 36 characters.
func authorize(field, info string) handler {
	return func(s *Server, ctx context.Context, c *conn, payload []byte) (any, error) {
		m, err := payloadObject(payload, field)
		if err != nil {
			return nil, err
		}
		raw, max := m[field], 20
		if field == "idToken" {
			tok, err := payloadObject(raw, "idToken")
			if err != nil {
				return nil, err
			}
			raw, max = tok["idToken"], 36
		}
		var tag string
		if err := json.Unmarshal(raw, &tag); err != nil {
			return nil, &rpcError{Code: TypeConstraintViolation, Description: field + " is not a string", Details: map[string]any{"field": field}}
		}
		if len(tag) > max {
			return nil, &rpcError{Code: PropertyConstraintViolation, Description: fmt.Sprintf("%s is longer than %d characters", field, max),
				Details: map[string]any{"field": field}}
		}
		if s.IDTags == nil {
			return map[string]any{info: map[string]any{"status": "Accepted"}}, nil
		}
		d, err := s.IDTags.Check(ctx, c.box.TenantID, tag)
		if err != nil {
			return nil, err
		}
		if field == "idToken" {
			return map[string]any{info: d.OCPP201()}, nil
		}
		return map[string]any{info: d.OCPP16()}, nil
	}
}

// notification acknowledges a notification that carries nothing stored.
func notification(required ...string) handler {
	return func(_ *Server, _ context.Context, c *conn, payload []byte) (any, error) {
		if _, err := payloadObject(payload, required...); err != nil {
			return nil, err
		}
		return map[string]any{}, nil
	}
}

// dataTransfer: no vendor extension is implemented.
func dataTransfer(_ *Server, _ context.Context, _ *conn, payload []byte) (any, error) {
	if _, err := payloadObject(payload, "vendorId"); err != nil {
		return nil, err
	}
	return map[string]any{"status": "UnknownVendorId"}, nil
}

func statusNotification(s *Server, ctx context.Context, c *conn, payload []byte) (any, error) {
	if s.Status == nil {
		if _, err := payloadObject(payload); err != nil {
			return nil, err
		}
		return map[string]any{}, nil
	}
	if err := s.Status.StatusNotification(ctx, c.box.TenantID, c.box.ID, payload); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

func meterValues(s *Server, ctx context.Context, c *conn, payload []byte) (any, error) {
	if _, err := s.Readings.OCPPMeterValues(ctx, c.box.TenantID, c.box.ID, payload); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

func startTransaction16(s *Server, ctx context.Context, c *conn, payload []byte) (any, error) {
	r, err := s.Sessions.OCPPStartTransaction16(ctx, c.box.TenantID, c.box.ID, payload)
	return r.OCPP, err
}

func stopTransaction16(s *Server, ctx context.Context, c *conn, payload []byte) (any, error) {
	r, err := s.Sessions.OCPPStopTransaction16(ctx, c.box.TenantID, c.box.ID, payload)
	return r.OCPP, err
}

func transactionEvent201(s *Server, ctx context.Context, c *conn, payload []byte) (any, error) {
	r, err := s.Sessions.OCPPTransactionEvent201(ctx, c.box.TenantID, c.box.ID, payload)
	return r.OCPP, err
}

// rpcErrorOf turns a handler's error into the CALLERROR to send. The
// services' errors are api.Errors: a VALIDATION_ERROR becomes the
// constraint violation it describes, with its details; anything that says
// "not now" (the database unreachable, the queue full, a timeout) an
// InternalError telling the charger to try again — its CALL was not
// committed and no CALLRESULT says otherwise.
func (s *Server) rpcErrorOf(c *conn, cl call, err error) *rpcError {
	var re *rpcError
	if errors.As(err, &re) {
		out := *re
		out.ID = cl.ID
		return &out
	}
	if e := api.AsError(err); e != nil {
		switch e.Code {
		case api.CodeValidation, api.CodeNotFound, api.CodeConflict:
			details := map[string]any{"code": string(e.Code)}
			switch d := e.Details.(type) {
			case map[string]any:
				for k, v := range d {
					details[k] = v
				}
			case map[string]string:
				for k, v := range d {
					details[k] = v
				}
			}
			return &rpcError{ID: cl.ID, Code: constraintCode(e), Description: e.Message, Details: details}
		case api.CodeTooLarge:
			return &rpcError{ID: cl.ID, Code: PropertyConstraintViolation, Description: e.Message, Details: map[string]any{"code": string(e.Code)}}
		case api.CodeOverloaded, api.CodeUnavailable, api.CodeTimeout:
			return tryAgain(cl.ID, e.RetryAfter)
		}
	}
	if u := api.Unavailable(err); u != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		retry := 5
		if u != nil {
			retry = u.RetryAfter
		}
		c.log.Warn("call not processed", "action", cl.Action, "err", err)
		return tryAgain(cl.ID, retry)
	}
	c.log.Warn("call failed", "action", cl.Action, "err", err)
	return &rpcError{ID: cl.ID, Code: InternalError, Description: "internal error; nothing of this message is known to be stored, send it again"}
}

func tryAgain(id string, retryAfter int) *rpcError {
	if retryAfter <= 0 {
		retryAfter = 1
	}
	return &rpcError{ID: id, Code: InternalError,
		Description: fmt.Sprintf("the server cannot store this now; nothing of it was acknowledged, try again in %d s", retryAfter),
		Details:     map[string]any{"retry_after": retryAfter}}
}

// constraintCode classifies a validation message: the decoders say "is
// required" for a missing field and "is not a …" / "want …" for a wrong
// type.
func constraintCode(e *api.Error) ErrorCode {
	m := e.Message
	switch {
	case e.Code != api.CodeValidation:
		return PropertyConstraintViolation
	case strings.Contains(m, "is required"):
		return OccurrenceConstraintViolation
	case strings.Contains(m, "want a JSON"), strings.Contains(m, "want an array"), strings.Contains(m, "is not a string"),
		strings.Contains(m, "is not a number"), strings.Contains(m, "is not an integer"), strings.Contains(m, "is not a boolean"):
		return TypeConstraintViolation
	}
	return PropertyConstraintViolation
}

func formatRate(rate float64, burst int) string {
	return fmt.Sprintf("%g CALLs per second (%d at once)", rate, burst)
}
