package sessions

import (
	"context"
	"strconv"

	"github.com/gridmetrics/gridmetrics/ingest"
)

// OCPPReply is what an OCPP transaction message comes to: the OCPP response
// payload for the charger, the session, and what became of the meter values
// the message carried (nil when it can carry none). The HTTP routes and the
// OCPP-J endpoint answer from it alike: one code path for both.
type OCPPReply struct {
	OCPP     map[string]any
	Session  Session
	Readings *ingest.Result
}

// idAccepted is the idTagInfo / idTokenInfo of an accepted id: every id is
// accepted (the tenant's id-tag policy is accept-all).
func idAccepted() map[string]any { return map[string]any{"status": "Accepted"} }

// OCPPStartTransaction16 decodes and applies an OCPP 1.6
// StartTransaction.req payload of charge box box; it returns once the
// session is committed.
func (svc *Service) OCPPStartTransaction16(ctx context.Context, tenantID int64, box string, payload []byte) (OCPPReply, error) {
	req, err := DecodeStartTransaction16(payload)
	if err != nil {
		return OCPPReply{}, err
	}
	s, err := svc.StartTransaction16(ctx, tenantID, box, req)
	if err != nil {
		return OCPPReply{}, err
	}
	txID, _ := strconv.ParseInt(s.ExternalID, 10, 64)
	return OCPPReply{OCPP: map[string]any{"transactionId": txID, "idTagInfo": idAccepted()}, Session: s}, nil
}

// OCPPStopTransaction16 decodes and applies an OCPP 1.6 StopTransaction.req
// payload; it returns once its meter values and the stop are committed.
func (svc *Service) OCPPStopTransaction16(ctx context.Context, tenantID int64, box string, payload []byte) (OCPPReply, error) {
	req, err := DecodeStopTransaction16(payload)
	if err != nil {
		return OCPPReply{}, err
	}
	s, res, err := svc.StopTransaction16(ctx, tenantID, box, req)
	if err != nil {
		return OCPPReply{}, err
	}
	resp := map[string]any{}
	if req.IDTag != "" {
		resp["idTagInfo"] = idAccepted()
	}
	return OCPPReply{OCPP: resp, Session: s, Readings: &res}, nil
}

// OCPPTransactionEvent201 decodes and applies an OCPP 2.0.1
// TransactionEventRequest payload; it returns once its meter values and
// the event are committed.
func (svc *Service) OCPPTransactionEvent201(ctx context.Context, tenantID int64, box string, payload []byte) (OCPPReply, error) {
	ev, err := DecodeTransactionEvent201(payload)
	if err != nil {
		return OCPPReply{}, err
	}
	s, res, err := svc.TransactionEvent201(ctx, tenantID, box, ev)
	if err != nil {
		return OCPPReply{}, err
	}
	resp := map[string]any{}
	if ev.IDToken != "" {
		resp["idTokenInfo"] = idAccepted()
	}
	return OCPPReply{OCPP: resp, Session: s, Readings: &res}, nil
}
