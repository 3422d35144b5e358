package sources_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/sources"
)

func intp(v int) *int { return &v }

func strp(v string) *string { return &v }

// TestStoreConnector: attributes are stored and read back; a patch
// changes the attributes it names, null clears them all, and a kind that
// has no connector cannot keep them.
func TestStoreConnector(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ten := f.tenant(t, "acme")
	box := f.source(t, ten.ID, sourceOpts{ExternalID: "CB-1", Kind: sources.KindCharger})
	if box.Connector != nil {
		t.Fatalf("a source without attributes shows %+v, want null", box.Connector)
	}
	n := sourceOpts{ExternalID: "CB-1/1", Kind: sources.KindConnector, Parent: "CB-1"}.newSource()
	n.Connector = &sources.Connector{Standard: strp("IEC_62196_T2"), Format: strp("SOCKET"), PowerType: strp("AC_3_PHASE"),
		MaxVoltage: intp(400), MaxAmperage: intp(32), MaxElectricPower: intp(22000)}
	created, err := f.st.Create(f.ctx, ten.ID, n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.st.Get(f.ctx, ten.ID, created.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Connector; c == nil || *c.Standard != "IEC_62196_T2" || *c.Format != "SOCKET" || *c.PowerType != "AC_3_PHASE" ||
		*c.MaxVoltage != 400 || *c.MaxAmperage != 32 || *c.MaxElectricPower != 22000 {
		t.Fatalf("read back %+v", got.Connector)
	}

	var p sources.Patch
	if err := json.Unmarshal([]byte(`{"connector": {"format": "CABLE", "max_amperage": null}}`), &p); err != nil {
		t.Fatal(err)
	}
	upd, err := f.st.Update(f.ctx, ten.ID, "CB-1/1", p)
	if err != nil {
		t.Fatal(err)
	}
	if c := upd.Connector; *c.Format != "CABLE" || c.MaxAmperage != nil || *c.Standard != "IEC_62196_T2" || *c.MaxElectricPower != 22000 {
		t.Fatalf("after a partial patch: %+v", upd.Connector)
	}
	meter := sources.KindMeter
	_, err = f.st.Update(f.ctx, ten.ID, "CB-1/1", sources.Patch{Kind: &meter})
	wantField(t, err, "connector")
	_, err = f.st.Update(f.ctx, ten.ID, "CB-1/1", sources.Patch{Connector: sources.Nullable[sources.ConnectorPatch]{Set: true,
		Value: &sources.ConnectorPatch{PowerType: api.Nullable[string]{Set: true, Value: strp("three-phase")}}}})
	wantField(t, err, "connector.power_type")

	if err := json.Unmarshal([]byte(`{"connector": null, "kind": "meter"}`), &p); err != nil {
		t.Fatal(err)
	}
	cleared, err := f.st.Update(f.ctx, ten.ID, "CB-1/1", p)
	if err != nil || cleared.Connector != nil || cleared.Kind != sources.KindMeter {
		t.Fatalf("after clearing: %+v, %v", cleared, err)
	}

	// Bulk registration takes them too, and rejects a bad one alone.
	good := sourceOpts{ExternalID: "CB-2", Kind: sources.KindCharger}.newSource()
	good.Connector = &sources.Connector{PowerType: strp("DC"), MaxElectricPower: intp(150000)}
	bad := sourceOpts{ExternalID: "CB-3", Kind: sources.KindCharger}.newSource()
	bad.Connector = &sources.Connector{MaxVoltage: intp(-1)}
	out, err := f.st.CreateMany(f.ctx, ten.ID, []sources.BulkItem{{Source: good}, {Source: bad}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Created != 1 || out.Rejected != 1 || *out.Results[0].Source.Connector.PowerType != "DC" ||
		!strings.HasPrefix(out.Results[1].Error.Message, "connector.max_voltage: ") {
		t.Fatalf("bulk: %+v", out)
	}
}

// TestHTTPConnectorCSV: a CSV registration's connector columns reach the
// sources; a cell that is not a number rejects its row alone.
func TestHTTPConnectorCSV(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ten := s.tenant(t, "acme")
	key := s.key(t, ten.ID, auth.ScopeAdmin)
	body := "external_id,kind,parent,connector_standard,connector_format,connector_power_type,max_voltage,max_amperage,max_electric_power\n" +
		"CB-9,charger,,,,AC_3_PHASE,400,,\n" +
		"CB-9/1,connector,CB-9,IEC_62196_T2,SOCKET,,,32,22000\n" +
		"CB-9/2,connector,CB-9,IEC_62196_T2,SOCKET,,,32A,\n"
	req := httptest.NewRequest("POST", "/v1/sources", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := s.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Data sources.BulkOutcome `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	r := out.Data.Results
	if out.Data.Created != 2 || r[2].Status != sources.BulkRejected || !strings.HasPrefix(r[2].Error.Message, "connector.max_amperage: ") {
		t.Fatalf("results: %s", raw)
	}
	if c := r[0].Source.Connector; c == nil || *c.PowerType != "AC_3_PHASE" || *c.MaxVoltage != 400 || c.Standard != nil {
		t.Fatalf("charger's connector: %s", raw)
	}
	if c := r[1].Source.Connector; c == nil || *c.Standard != "IEC_62196_T2" || *c.MaxAmperage != 32 || *c.MaxElectricPower != 22000 || c.PowerType != nil {
		t.Fatalf("connector's attributes: %s", raw)
	}
}
