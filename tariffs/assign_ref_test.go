package tariffs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// TestStoreAssignSourceReference: an assignment names its source by public
// id or external id; a public id wins over another source's external id
// that happens to be the same text, and another tenant's source is
// unknown.
func TestStoreAssignSourceReference(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme, other := f.tenant(t, "acme"), f.tenant(t, "other")
	meter := f.source(t, acme, "CB-1/1")
	shadow := f.source(t, acme, meter.PublicID) // external id = meter's public id
	foreign := f.source(t, other, "CB-9/1")
	s := f.create(t, acme, tariffOpts{})
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	assign := func(ref string, from time.Time) (tariffs.Assignment, error) {
		return f.st.Assign(f.ctx, acme, s.PublicID, tariffs.NewAssignment{SourceID: ref, ValidFrom: &from, ValidTo: ptr(from.AddDate(0, 1, 0))})
	}
	for i, tt := range []struct{ ref, want string }{
		{meter.PublicID, meter.PublicID},
		{"CB-1/1", meter.PublicID},
		{shadow.PublicID, shadow.PublicID},
	} {
		a, err := assign(tt.ref, jan.AddDate(0, i, 0))
		if err != nil {
			t.Fatalf("%s: %v", tt.ref, err)
		}
		if a.SourceID != tt.want {
			t.Errorf("%s resolved to %s, want %s", tt.ref, a.SourceID, tt.want)
		}
	}
	for _, ref := range []string{"CB-2/1", foreign.PublicID, "CB-9/1"} {
		_, err := assign(ref, jan.AddDate(1, 0, 0))
		if e := wantCode(t, err, api.CodeValidation); !strings.HasPrefix(e.Message, "source_id: ") {
			t.Errorf("%s: %s, want an error on source_id", ref, e.Message)
		}
	}
}

// TestStoreIdentityConflictSpeaksTheDomain: creating a tariff whose OCPI
// identity exists is a CONFLICT that names the existing tariff, in the
// store's words rather than a route's.
func TestStoreIdentityConflictSpeaksTheDomain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	first := f.create(t, acme, tariffOpts{})
	_, err := f.st.Create(f.ctx, acme, tariffOpts{}.tariff(t))
	e := wantCode(t, err, api.CodeConflict)
	if d, ok := e.Details.(map[string]string); !ok || d["id"] != first.PublicID {
		t.Errorf("details %v, want the existing tariff %s", e.Details, first.PublicID)
	}
	if !strings.Contains(e.Message, first.PublicID) || strings.Contains(e.Message, "/v1/") || strings.Contains(e.Message, "PUT") {
		t.Errorf("message %q: want the existing tariff named, no route", e.Message)
	}
}
