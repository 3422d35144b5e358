package sessions

import (
	"context"
	"strconv"

	"github.com/gridmetrics/gridmetrics/idtags"
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

// IDTags decides about the id tags of the transaction messages, by the
// tenant's id-tag policy: idtags.Service, the one the OCPP-J Authorize asks.
type IDTags interface {
	Check(ctx context.Context, tenantID int64, tag string) (idtags.Decision, error)
}

// UseIDTags sets the id-tag policy the OCPP answers apply; without one
// every id is accepted.
func (svc *Service) UseIDTags(t IDTags) { svc.idTags = t }

// idDecision is the policy's answer about tag. It is asked before anything
// is stored, so that a failure leaves nothing half done.
func (svc *Service) idDecision(ctx context.Context, tenantID int64, tag string) (idtags.Decision, error) {
	if svc.idTags == nil {
		return idtags.Decision{Status: idtags.Accepted}, nil
	}
	return svc.idTags.Check(ctx, tenantID, tag)
}

// OCPPStartTransaction16 decodes and applies an OCPP 1.6
// StartTransaction.req payload of charge box box; it returns once the
// session is committed.
func (svc *Service) OCPPStartTransaction16(ctx context.Context, tenantID int64, box string, payload []byte) (OCPPReply, error) {
	req, err := DecodeStartTransaction16(payload)
	if err != nil {
		return OCPPReply{}, err
	}
	// A tag the policy refuses still starts the session: OCPP 1.6 answers
	// every StartTransaction with a transactionId, and the charger, told
	// the tag is not Accepted, stops the transaction it has begun.
	id, err := svc.idDecision(ctx, tenantID, req.IDTag)
	if err != nil {
		return OCPPReply{}, err
	}
	s, err := svc.StartTransaction16(ctx, tenantID, box, req)
	if err != nil {
		return OCPPReply{}, err
	}
	txID, _ := strconv.ParseInt(s.ExternalID, 10, 64)
	return OCPPReply{OCPP: map[string]any{"transactionId": txID, "idTagInfo": id.OCPP16()}, Session: s}, nil
}

// OCPPStopTransaction16 decodes and applies an OCPP 1.6 StopTransaction.req
// payload; it returns once its meter values and the stop are committed.
func (svc *Service) OCPPStopTransaction16(ctx context.Context, tenantID int64, box string, payload []byte) (OCPPReply, error) {
	req, err := DecodeStopTransaction16(payload)
	if err != nil {
		return OCPPReply{}, err
	}
	resp := map[string]any{}
	if req.IDTag != "" {
		id, err := svc.idDecision(ctx, tenantID, req.IDTag)
		if err != nil {
			return OCPPReply{}, err
		}
		resp["idTagInfo"] = id.OCPP16()
	}
	s, res, err := svc.StopTransaction16(ctx, tenantID, box, req)
	if err != nil {
		return OCPPReply{}, err
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
	resp := map[string]any{}
	if ev.IDToken != "" {
		id, err := svc.idDecision(ctx, tenantID, ev.IDToken)
		if err != nil {
			return OCPPReply{}, err
		}
		resp["idTokenInfo"] = id.OCPP201()
	}
	s, res, err := svc.TransactionEvent201(ctx, tenantID, box, ev)
	if err != nil {
		return OCPPReply{}, err
	}
	return OCPPReply{OCPP: resp, Session: s, Readings: &res}, nil
}
