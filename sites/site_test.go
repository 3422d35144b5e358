package sites

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gridmetrics/gridmetrics/api"
)

func ptr[T any](v T) *T { return &v }

// full is a site with every field set, valid.
func full() NewSite {
	return NewSite{ID: "depot-1", Name: "Depot", Address: ptr("Alexanderplatz 1"), City: ptr("Berlin"),
		PostalCode: ptr("10178"), State: ptr("Berlin"), Country: ptr("DEU"),
		Coordinates: &Coordinates{Latitude: "52.521918", Longitude: "13.413215"}, TimeZone: "Europe/Berlin",
		Operator: &Operator{Name: "Gridmetrics Charging", Website: ptr("https://charging.example.com/")}, OCPILocationID: ptr("LOC-0001")}
}

func TestNewSiteValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		edit      func(n *NewSite)
		wantField string // "" for valid
	}{
		{name: "full", edit: func(*NewSite) {}},
		{name: "bare", edit: func(n *NewSite) { *n = NewSite{ID: "x"} }},
		{name: "no id", edit: func(n *NewSite) { n.ID = " " }, wantField: "id"},
		{name: "id too long", edit: func(n *NewSite) { n.ID = strings.Repeat("x", 201) }, wantField: "id"},
		{name: "id with a newline", edit: func(n *NewSite) { n.ID = "a\nb" }, wantField: "id"},
		{name: "name of 255 characters", edit: func(n *NewSite) { n.Name = strings.Repeat("ä", 255) }},
		{name: "name too long", edit: func(n *NewSite) { n.Name = strings.Repeat("ä", 256) }, wantField: "name"},
		{name: "address too long", edit: func(n *NewSite) { n.Address = ptr(strings.Repeat("a", 46)) }, wantField: "address"},
		{name: "empty address", edit: func(n *NewSite) { n.Address = ptr("") }, wantField: "address"},
		{name: "address with a tab", edit: func(n *NewSite) { n.Address = ptr("Main\tStreet") }, wantField: "address"},
		{name: "city too long", edit: func(n *NewSite) { n.City = ptr(strings.Repeat("a", 46)) }, wantField: "city"},
		{name: "postal code too long", edit: func(n *NewSite) { n.PostalCode = ptr("12345678901") }, wantField: "postal_code"},
		{name: "state too long", edit: func(n *NewSite) { n.State = ptr(strings.Repeat("s", 21)) }, wantField: "state"},
		{name: "alpha-2 country", edit: func(n *NewSite) { n.Country = ptr("DE") }, wantField: "country"},
		{name: "lower-case country", edit: func(n *NewSite) { n.Country = ptr("deu") }, wantField: "country"},
		{name: "unassigned country", edit: func(n *NewSite) { n.Country = ptr("XYZ") }, wantField: "country"},
		{name: "withdrawn country", edit: func(n *NewSite) { n.Country = ptr("DDR") }, wantField: "country"},
		{name: "empty country", edit: func(n *NewSite) { n.Country = ptr("") }, wantField: "country"},
		{name: "latitude without decimals", edit: func(n *NewSite) { n.Coordinates.Latitude = "52" }, wantField: "coordinates.latitude"},
		{name: "latitude with 4 decimals", edit: func(n *NewSite) { n.Coordinates.Latitude = "52.5200" }, wantField: "coordinates.latitude"},
		{name: "latitude with 8 decimals", edit: func(n *NewSite) { n.Coordinates.Latitude = "52.52000812" }, wantField: "coordinates.latitude"},
		{name: "latitude past the pole", edit: func(n *NewSite) { n.Coordinates.Latitude = "91.00000" }, wantField: "coordinates.latitude"},
		{name: "latitude with a comma", edit: func(n *NewSite) { n.Coordinates.Latitude = "52,520008" }, wantField: "coordinates.latitude"},
		{name: "southern latitude", edit: func(n *NewSite) { n.Coordinates.Latitude = "-33.868820" }},
		{name: "western longitude", edit: func(n *NewSite) { n.Coordinates.Longitude = "-151.2093000" }},
		{name: "longitude past 180", edit: func(n *NewSite) { n.Coordinates.Longitude = "180.00001" }, wantField: "coordinates.longitude"},
		{name: "missing longitude", edit: func(n *NewSite) { n.Coordinates.Longitude = "" }, wantField: "coordinates.longitude"},
		{name: "abbreviated zone", edit: func(n *NewSite) { n.TimeZone = "CET" }, wantField: "time_zone"},
		{name: "unknown zone", edit: func(n *NewSite) { n.TimeZone = "Europe/Atlantis" }, wantField: "time_zone"},
		{name: "operator without a name", edit: func(n *NewSite) { n.Operator.Name = "" }, wantField: "operator.name"},
		{name: "operator name too long", edit: func(n *NewSite) { n.Operator.Name = strings.Repeat("o", 101) }, wantField: "operator.name"},
		{name: "operator without a website", edit: func(n *NewSite) { n.Operator.Website = nil }},
		{name: "website not a URL", edit: func(n *NewSite) { n.Operator.Website = ptr("charging.example.com") }, wantField: "operator.website"},
		{name: "website of another scheme", edit: func(n *NewSite) { n.Operator.Website = ptr("javascript:alert(1)") }, wantField: "operator.website"},
		{name: "website too long", edit: func(n *NewSite) { n.Operator.Website = ptr("https://x.example/" + strings.Repeat("a", 250)) }, wantField: "operator.website"},
		{name: "location id of 36", edit: func(n *NewSite) { n.OCPILocationID = ptr(strings.Repeat("L", 36)) }},
		{name: "location id too long", edit: func(n *NewSite) { n.OCPILocationID = ptr(strings.Repeat("L", 37)) }, wantField: "ocpi_location_id"},
		{name: "location id not ASCII", edit: func(n *NewSite) { n.OCPILocationID = ptr("LOC-ü") }, wantField: "ocpi_location_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := full()
			tt.edit(&n)
			err := n.validate()
			checkField(t, err, tt.wantField)
		})
	}
}

func TestNewSiteDefaultZone(t *testing.T) {
	t.Parallel()
	n := NewSite{ID: "x"}
	if err := n.validate(); err != nil || n.TimeZone != "UTC" {
		t.Fatalf("zone %q, err %v; want UTC", n.TimeZone, err)
	}
}

func TestPatchValidateAndApply(t *testing.T) {
	t.Parallel()
	var p Patch
	body := `{"name": "Renamed", "address": null, "country": "FRA", "coordinates": {"latitude": "48.856613", "longitude": "2.352222"}, "operator": null}`
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.validate(); err != nil {
		t.Fatal(err)
	}
	n := full()
	s := Site{ID: n.ID, Name: n.Name, Address: n.Address, City: n.City, Country: n.Country, Coordinates: n.Coordinates,
		TimeZone: n.TimeZone, Operator: n.Operator, OCPILocationID: n.OCPILocationID}
	p.apply(&s)
	switch {
	case s.Name != "Renamed" || s.Address != nil || *s.City != "Berlin" || *s.Country != "FRA":
		t.Fatalf("after patch: %+v", s)
	case s.Coordinates.Latitude != "48.856613" || s.Operator != nil || *s.OCPILocationID != "LOC-0001" || s.TimeZone != "Europe/Berlin":
		t.Fatalf("after patch: %+v", s)
	}

	for _, bad := range []struct{ body, field string }{
		{`{"country": "Germany"}`, "country"},
		{`{"coordinates": {"latitude": "1.0", "longitude": "2.0"}}`, "coordinates.latitude"},
		{`{"id": ""}`, "id"},
		{`{"time_zone": "Local"}`, "time_zone"},
		{`{"postal_code": ""}`, "postal_code"},
	} {
		var p Patch
		if err := json.Unmarshal([]byte(bad.body), &p); err != nil {
			t.Fatal(err)
		}
		checkField(t, p.validate(), bad.field)
	}
}

func checkField(t *testing.T, err error, wantField string) {
	t.Helper()
	if wantField == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	e := api.AsError(err)
	if e == nil || e.Code != api.CodeValidation {
		t.Fatalf("err = %v, want a validation error of %s", err, wantField)
	}
	if got := e.Details.(map[string]string)["field"]; got != wantField {
		t.Fatalf("field %q (%s), want %q", got, e.Message, wantField)
	}
}
