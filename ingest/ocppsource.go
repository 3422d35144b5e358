package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/sources"
)

// ResolveOCPPSource resolves connector (or EVSE) evse of charge box box,
// the box itself for 0, registering both on first sight (RegisterCharger).
// field names the request's field that carried evse. It returns the
// source's internal id and external id. A connector that is not
// registered and cannot be is the client's to fix (OCPPSourceRefused).
// Every OCPP route that names a connector resolves it here.
func ResolveOCPPSource(ctx context.Context, r *sources.Resolver, tenantID int64, box string, evse int, field string) (int64, string, error) {
	ref := OCPPSourceExternalID(box, evse)
	res, err := r.ResolveEach(ctx, tenantID, []string{ref}, RegisterCharger(box))
	if err != nil {
		return 0, "", err
	}
	id, ok := res.IDs[ref]
	if !ok {
		return 0, "", OCPPSourceRefused(r, field, box, evse, res.Refused[ref])
	}
	return id, ref, nil
}

// OCPPSourceRefused is the answer to an OCPP message on a connector that
// is not registered and that auto-registration left unknown (reason nil)
// or refused. It is a VALIDATION_ERROR, the status the readings routes
// give the same connector's meter values, with their per-row code as
// details.reason: UNKNOWN_SOURCE, TOO_MANY_CONNECTORS or INVALID_SOURCE.
// Registering the connector by hand lifts each.
func OCPPSourceRefused(r *sources.Resolver, field, box string, evse int, reason error) *api.Error {
	ref := OCPPSourceExternalID(box, evse)
	what := fmt.Sprintf("connector %d of charge box %q (source %q)", evse, box, ref)
	if evse == 0 {
		what = fmt.Sprintf("charge box %q", box)
	}
	details := map[string]any{"field": field, "charge_box": box, "connector": evse, "source": ref}
	var msg string
	switch {
	case reason == nil:
		details["reason"] = CodeUnknownSource
		msg = fmt.Sprintf("%s is not registered, and the tenant does not register sources on first sight; register it first", what)
	case errors.Is(reason, sources.ErrTooManyChildren):
		limit := r.MaxAutoChildren
		if limit <= 0 {
			limit = sources.DefaultMaxAutoChildren
		}
		details["reason"], details["max_connectors"] = CodeTooManyChildren, limit
		msg = fmt.Sprintf("%s is not registered, and charge box %q already has as many connectors as auto-registration creates per charge box, %d (ocpp-max-connectors); register it by hand",
			what, box, limit)
	default:
		details["reason"] = CodeInvalidSource
		msg = fmt.Sprintf("%s cannot be registered: %v", what, reason)
	}
	return &api.Error{Code: api.CodeValidation, Message: field + ": " + msg, Details: details}
}
