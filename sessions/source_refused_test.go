package sessions

import (
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/ingest"
)

// TestStartTransactionOnInvalidSource checks that a connector
// auto-registration refuses for its name is a VALIDATION_ERROR with
// INVALID_SOURCE and the reason, not a failure of the service.
func TestStartTransactionOnInvalidSource(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // a tenant that registers sources on first sight
	box := "CB-\a"     // a charge box id the route lets through, and the registry does not
	_, err := f.svc.StartTransaction16(f.ctx, f.tenant, box, StartTransaction16{ConnectorID: 1, IDTag: "TAG-1",
		Timestamp: time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)})
	e := api.AsError(err)
	if e == nil || e.Code != api.CodeValidation {
		t.Fatalf("start transaction on %q: %v, want a VALIDATION_ERROR", box, err)
	}
	d, _ := e.Details.(map[string]any)
	if d["reason"] != ingest.CodeInvalidSource || d["field"] != "connectorId" || d["charge_box"] != box || d["connector"] != 1 {
		t.Fatalf("details %v, want reason %s for connector 1 of %q", d, ingest.CodeInvalidSource, box)
	}
}
