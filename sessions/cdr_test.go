package sessions

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/internal/ocpischema"
	"github.com/gridmetrics/gridmetrics/sources"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// describeSite gives a site (created when a source named it) what an OCPI
// location needs.
func (f *fixture) describeSite(id string) {
	f.t.Helper()
	_, err := f.pool.Exec(f.ctx, `UPDATE sites SET name = 'Depot Mitte', address = 'Invalidenstraße 117', city = 'Berlin',
		postal_code = '10115', country = 'DEU', latitude = '52.530350', longitude = '13.384250', ocpi_location_id = 'LOC-MITTE'
		WHERE tenant_id = $1 AND id = $2`, f.tenant, id)
	if err != nil {
		f.t.Fatal(err)
	}
}

// describeConnector sets a source's OCPI connector attributes.
func (f *fixture) describeConnector(sourceID int64, standard, format, powerType string) {
	f.t.Helper()
	_, err := f.pool.Exec(f.ctx, `UPDATE sources SET connector_standard = $2, connector_format = $3, connector_power_type = $4,
		max_voltage = 400, max_amperage = 32, max_electric_power = 22000 WHERE id = $1`, sourceID, standard, format, powerType)
	if err != nil {
		f.t.Fatal(err)
	}
}

// setMetadata replaces a source's metadata.
func (f *fixture) setMetadata(sourceID int64, metadata string) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, `UPDATE sources SET metadata = $2::jsonb WHERE id = $1`, sourceID, metadata); err != nil {
		f.t.Fatal(err)
	}
}

// checkCDRs checks every CDR a test left in its database against the OCPI
// 2.2.1 schema: a CDR is valid exactly when its session names no
// cdr_problems, so none is served as valid that is not.
func (f *fixture) checkCDRs() {
	t := f.t
	rows, err := f.pool.Query(f.ctx, `SELECT tenant_id, public_id FROM sessions WHERE cdr IS NOT NULL`)
	if err != nil {
		t.Errorf("read CDRs: %v", err)
		return
	}
	type key struct {
		tenant int64
		id     string
	}
	var keys []key
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.tenant, &k.id); err != nil {
			t.Errorf("read CDRs: %v", err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	for _, k := range keys {
		s, err := f.svc.store.Get(f.ctx, k.tenant, k.id)
		if err != nil {
			t.Errorf("read session %s: %v", k.id, err)
			continue
		}
		problems, invalid := s.cdrProblems(), ocpischema.CDR(s.CDR)
		if len(problems) == 0 && invalid != nil {
			t.Errorf("session %s names no cdr_problems, but its CDR %v\n%s", k.id, invalid, s.CDR)
		}
		if len(problems) > 0 && invalid == nil {
			t.Errorf("session %s names cdr_problems %q, but its CDR is valid\n%s", k.id, problems, s.CDR)
		}
	}
}

// priceOne starts, stops and prices a 30-minute session of 5 kWh on a
// connector and returns it.
func (f *fixture) priceOne(connector, externalID string, start time.Time) Session {
	f.t.Helper()
	s, _, err := f.svc.Start(f.ctx, f.tenant, NewSession{Source: connector, ExternalID: externalID, IDTag: "TAG1", StartTime: start, MeterStart: ptr(1000)})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.svc.Stop(f.ctx, f.tenant, s.PublicID, StopSession{StopTime: start.Add(30 * time.Minute), MeterStop: ptr(6000)}); err != nil {
		f.t.Fatal(err)
	}
	f.priceAll()
	return f.get(s.PublicID)
}

// TestCDRFromSiteAndConnector: a session on a described site and connector
// gives a valid CDR whose location is the site's and whose connector
// attributes are the connector's, each else its charge box's; the site's
// ocpi_location_id names the location.
func TestCDRFromSiteAndConnector(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.tariffs.set(testTariff(t, berlin, parkingTariff), "tar_test@1")
	// The charge box is in the site and has the attributes; the connector
	// names neither site nor standard, only its own power type.
	box, err := f.sources.Create(f.ctx, f.tenant, sources.NewSource{ExternalID: "CB-7", Kind: sources.KindCharger, SiteID: ptrTo("mitte")})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := f.sources.Create(f.ctx, f.tenant, sources.NewSource{ExternalID: "CB-7/2", Kind: sources.KindConnector, Parent: &box.PublicID})
	if err != nil {
		t.Fatal(err)
	}
	f.describeSite("mitte")
	f.describeConnector(box.ID, "IEC_62196_T2", "SOCKET", "AC_3_PHASE")
	if _, err := f.pool.Exec(f.ctx, `UPDATE sources SET connector_power_type = 'AC_1_PHASE' WHERE id = $1`, conn.ID); err != nil {
		t.Fatal(err)
	}

	p := f.priceOne("CB-7/2", "tx-1", at(t, "UTC", "2024-03-04 10:00"))
	if p.Status != StatusPriced {
		t.Fatalf("not priced: %+v", p.Summary())
	}
	if err := ocpischema.CDR(p.CDR); err != nil {
		t.Fatalf("%v\n%s", err, p.CDR)
	}
	if ps := p.Summary().CDRProblems; ps != nil {
		t.Fatalf("cdr_problems %q", ps)
	}
	cdr, err := tariffs.ParseCDR(p.CDR)
	if err != nil {
		t.Fatal(err)
	}
	want := tariffs.CdrLocation{ID: "LOC-MITTE", Name: "Depot Mitte", Address: "Invalidenstraße 117", City: "Berlin", PostalCode: "10115",
		Country: "DEU", Coordinates: tariffs.GeoLocation{Latitude: "52.530350", Longitude: "13.384250"},
		EvseUID: "CB-7/2", EvseID: "CB-7/2", ConnectorID: "2",
		ConnectorStandard: "IEC_62196_T2", ConnectorFormat: "SOCKET", ConnectorPowerType: "AC_1_PHASE"}
	if cdr.CdrLocation != want {
		t.Errorf("cdr_location\n got %+v\nwant %+v", cdr.CdrLocation, want)
	}
	// The embedded tariff carries its last_updated.
	if len(cdr.Tariffs) != 1 || !cdr.Tariffs[0].LastUpdated.Equal(at(t, "UTC", "2024-01-01 00:00")) {
		t.Errorf("tariffs: %s", p.CDR)
	}
	raw, err := f.svc.CDR(f.ctx, f.tenant, p.PublicID)
	if err != nil || string(raw) != string(p.CDR) {
		t.Fatalf("served CDR: %v", err)
	}

	// The site's columns win over the metadata, which still fills what
	// the site leaves out.
	if _, err := f.pool.Exec(f.ctx, `UPDATE sites SET state = NULL, ocpi_location_id = NULL WHERE id = 'mitte'`); err != nil {
		t.Fatal(err)
	}
	f.setMetadata(conn.ID, `{"address":"Elsewhere 1","state":"Berlin","location_id":"LOC-META"}`)
	p = f.priceOne("CB-7/2", "tx-2", at(t, "UTC", "2024-03-05 10:00"))
	cdr, err = tariffs.ParseCDR(p.CDR)
	if err != nil {
		t.Fatal(err)
	}
	if l := cdr.CdrLocation; l.Address != "Invalidenstraße 117" || l.State != "Berlin" || l.ID != "LOC-META" {
		t.Errorf("metadata fallback: %+v", l)
	}
}

// TestCDRFromMetadata: a connector described only by its metadata (how
// connectors were described before sites) still gives a valid CDR.
func TestCDRFromMetadata(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.tariffs.set(testTariff(t, berlin, parkingTariff), "tar_test@1")
	if _, err := f.sources.Create(f.ctx, f.tenant, sources.NewSource{ExternalID: "CB-9/1", Kind: sources.KindConnector,
		Metadata: json.RawMessage(`{"location_id":"LOC-9","address":"Hauptstr. 1","city":"Berlin","postal_code":"10117","country":"DEU",
		"latitude":"52.520008","longitude":"13.404954","connector_standard":"IEC_62196_T2_COMBO","connector_format":"CABLE",
		"connector_power_type":"DC"}`)}); err != nil {
		t.Fatal(err)
	}
	p := f.priceOne("CB-9/1", "tx-1", at(t, "UTC", "2024-03-04 10:00"))
	if err := ocpischema.CDR(p.CDR); err != nil {
		t.Fatalf("%v\n%s", err, p.CDR)
	}
	if ps := p.Summary().CDRProblems; ps != nil {
		t.Fatalf("cdr_problems %q", ps)
	}
}

// TestCDRProblemsOfABareSite: a session on a site and connector nobody
// described is priced (the price is right) but its CDR is not served: its
// problems name each missing field and where to set it.
func TestCDRProblemsOfABareSite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.tariffs.set(testTariff(t, berlin, parkingTariff), "tar_test@1")
	src, err := f.sources.Create(f.ctx, f.tenant, sources.NewSource{ExternalID: "CB-2/1", Kind: sources.KindConnector, SiteID: ptrTo("yard"),
		Metadata: json.RawMessage(`{"latitude":"52.52"}`)}) // too few decimals for OCPI
	if err != nil {
		t.Fatal(err)
	}
	p := f.priceOne("CB-2/1", "tx-1", at(t, "UTC", "2024-03-04 10:00"))
	if p.Status != StatusPriced {
		t.Fatalf("not priced: %+v", p.Summary())
	}
	wantDec(t, "total", p.TotalExclVAT, "2.00") // 5 kWh × 0.30 + 0.5 h × 1.00
	got := p.Summary().CDRProblems
	site := "; set the %s of the site yard (PATCH /v1/sites/yard)"
	connector := "; set connector.%s on the connector CB-2/1 or its charge box (PATCH /v1/sources/" + src.PublicID + ")"
	want := []string{
		"cdr_location.address: missing" + strings.ReplaceAll(site, "%s", "address"),
		"cdr_location.city: missing" + strings.ReplaceAll(site, "%s", "city"),
		"cdr_location.country: missing" + strings.ReplaceAll(site, "%s", "country"),
		`cdr_location.coordinates.latitude: "52.52" is not an OCPI latitude (5 to 7 decimals)` + strings.ReplaceAll(site, "%s", "coordinates"),
		"cdr_location.coordinates.longitude: missing" + strings.ReplaceAll(site, "%s", "coordinates"),
		"cdr_location.connector_standard: missing" + strings.ReplaceAll(connector, "%s", "standard"),
		"cdr_location.connector_format: missing" + strings.ReplaceAll(connector, "%s", "format"),
		"cdr_location.connector_power_type: missing" + strings.ReplaceAll(connector, "%s", "power_type"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("cdr_problems\n got %q\nwant %q", got, want)
	}
	_, err = f.svc.CDR(f.ctx, f.tenant, p.PublicID)
	e := api.AsError(err)
	if e == nil || e.Code != api.CodeCDRIncomplete || e.Status() != 409 {
		t.Fatalf("serving an incomplete CDR: %v", err)
	}
	if d, _ := e.Details.(map[string]any); !slices.Equal(d["problems"].([]string), want) {
		t.Errorf("details %v", e.Details)
	}
	if err := ocpischema.CDR(p.CDR); err == nil {
		t.Fatal("the stored CDR is valid OCPI")
	}

	// Described, and repriced, it is served.
	f.describeSite("yard")
	f.describeConnector(src.ID, "IEC_62196_T2", "SOCKET", "AC_3_PHASE")
	f.setMetadata(src.ID, `{}`)
	re, err := f.svc.Reprice(f.ctx, f.tenant, p.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if ps := re.Summary().CDRProblems; ps != nil {
		t.Fatalf("after describing: %q", ps)
	}
	if _, err := f.svc.CDR(f.ctx, f.tenant, p.PublicID); err != nil {
		t.Fatal(err)
	}
}

// TestCDRProblemsWithoutASite: a connector with no site, an id tag too
// long for OCPI and a tariff without last_updated are named.
func TestCDRProblemsWithoutASite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tf := testTariff(t, berlin, parkingTariff)
	tf.LastUpdated = time.Time{}
	f.tariffs.set(tf, "tar_test@1")
	src, err := f.sources.Create(f.ctx, f.tenant, sources.NewSource{ExternalID: "CB-3/1", Kind: sources.KindConnector})
	if err != nil {
		t.Fatal(err)
	}
	f.describeConnector(src.ID, "IEC_62196_T2", "SOCKET", "AC_3_PHASE")
	p := f.priceOne("CB-3/1", "tx-1", at(t, "UTC", "2024-03-04 10:00"))
	// An id tag too long for an OCPI token (the API takes 200 characters).
	long := strings.Repeat("T", 37)
	if _, err := f.pool.Exec(f.ctx, `UPDATE sessions SET cdr = replace(cdr::text, '"TAG1"', '"`+long+`"')::json WHERE public_id = $1`, p.PublicID); err != nil {
		t.Fatal(err)
	}
	p = f.get(p.PublicID)
	got := p.Summary().CDRProblems
	noSite := "; the connector CB-3/1 has no site: give it or its charge box one (site_id, PATCH /v1/sources/" + src.PublicID + "), then set the site's "
	tokenTooLong := "the id tag \"" + long + "\" is not an OCPI token id (at most 36 printable ASCII characters); this session's CDR cannot name it"
	want := []string{
		"cdr_location.address: missing" + noSite + "address",
		"cdr_location.city: missing" + noSite + "city",
		"cdr_location.country: missing" + noSite + "country",
		"cdr_location.coordinates.latitude: missing" + noSite + "coordinates",
		"cdr_location.coordinates.longitude: missing" + noSite + "coordinates",
		"cdr_token.uid: " + tokenTooLong,
		"cdr_token.contract_id: " + tokenTooLong,
		"tariffs[0].last_updated: missing from tariff t-test; reprice the session (POST /v1/sessions/" + p.PublicID + "/reprice)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("cdr_problems\n got %q\nwant %q", got, want)
	}
}
