package sessions

import (
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
)

// TestStartTransactionOnInvalidChargeBox checks that a charge box id the
// registry could not hold (a control character) is refused as the route's
// own VALIDATION_ERROR, before anything is registered, not as a failure of
// the service.
func TestStartTransactionOnInvalidChargeBox(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // a tenant that registers sources on first sight
	for _, box := range []string{"CB-\a", "CB-\u0085", "CB 1", "CB/1", ""} {
		_, err := f.svc.StartTransaction16(f.ctx, f.tenant, box, StartTransaction16{ConnectorID: 1, IDTag: "TAG-1",
			Timestamp: time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)})
		e := api.AsError(err)
		if e == nil || e.Code != api.CodeValidation {
			t.Fatalf("start transaction on %q: %v, want a VALIDATION_ERROR", box, err)
		}
		if d, _ := e.Details.(map[string]string); d["field"] != "chargeBoxId" {
			t.Fatalf("start transaction on %q: details %v, want field chargeBoxId", box, e.Details)
		}
	}
}
