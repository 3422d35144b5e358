package sources

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gridmetrics/gridmetrics/api"
)

// wantValidation checks that err is a VALIDATION_ERROR naming field, both in
// its message ("field: …") and in its details.
func wantValidation(t *testing.T, err error, field string) {
	t.Helper()
	e := api.AsError(err)
	if e == nil {
		t.Fatalf("err = %v, want a VALIDATION_ERROR on %q", err, field)
	}
	if e.Code != api.CodeValidation {
		t.Fatalf("code = %s (%s), want %s", e.Code, e.Message, api.CodeValidation)
	}
	if !strings.HasPrefix(e.Message, field+": ") {
		t.Errorf("message %q does not start with the field path %q", e.Message, field+": ")
	}
	if d, ok := e.Details.(map[string]string); !ok || d["field"] != field {
		t.Errorf("details = %#v, want field %q", e.Details, field)
	}
}

func ptr[T any](v T) *T { return &v }

func validNewSource() NewSource {
	return NewSource{ExternalID: "CB-0042/1", Kind: KindConnector, Name: "Connector 1", Timezone: "Europe/Berlin"}
}

func TestNewSourceValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		edit      func(n *NewSource)
		wantField string // "" when valid
	}{
		{name: "valid", edit: func(*NewSource) {}},
		{name: "utc", edit: func(n *NewSource) { n.Timezone = "UTC" }},
		{name: "every kind is accepted", edit: func(n *NewSource) { n.Kind = KindBattery }},
		{name: "name may be empty", edit: func(n *NewSource) { n.Name = "" }},
		{name: "site id", edit: func(n *NewSource) { n.SiteID = ptr("site-7") }},
		{name: "metadata object", edit: func(n *NewSource) { n.Metadata = json.RawMessage(`{"vendor":"ABB","phases":3}`) }},
		{name: "external id of exactly the limit", edit: func(n *NewSource) { n.ExternalID = strings.Repeat("x", maxTextLen) }},
		{name: "unicode external id", edit: func(n *NewSource) { n.ExternalID = "Zähler-Süd/1" }},

		{name: "missing external id", edit: func(n *NewSource) { n.ExternalID = "" }, wantField: "external_id"},
		{name: "blank external id", edit: func(n *NewSource) { n.ExternalID = " \t " }, wantField: "external_id"},
		{name: "external id too long", edit: func(n *NewSource) { n.ExternalID = strings.Repeat("x", maxTextLen+1) }, wantField: "external_id"},
		{name: "external id with NUL", edit: func(n *NewSource) { n.ExternalID = "CB\x00-1" }, wantField: "external_id"},
		{name: "external id with newline", edit: func(n *NewSource) { n.ExternalID = "CB\n1" }, wantField: "external_id"},
		{name: "external id with C1 control", edit: func(n *NewSource) { n.ExternalID = "CB\u00851" }, wantField: "external_id"},
		{name: "missing kind", edit: func(n *NewSource) { n.Kind = "" }, wantField: "kind"},
		{name: "unknown kind", edit: func(n *NewSource) { n.Kind = "toaster" }, wantField: "kind"},
		{name: "kind is case sensitive", edit: func(n *NewSource) { n.Kind = "Meter" }, wantField: "kind"},
		{name: "name too long", edit: func(n *NewSource) { n.Name = strings.Repeat("n", maxTextLen+1) }, wantField: "name"},
		{name: "name with control", edit: func(n *NewSource) { n.Name = "a\tb" }, wantField: "name"},
		{name: "empty site id", edit: func(n *NewSource) { n.SiteID = ptr("") }, wantField: "site_id"},
		{name: "site id too long", edit: func(n *NewSource) { n.SiteID = ptr(strings.Repeat("s", maxTextLen+1)) }, wantField: "site_id"},
		{name: "timezone Local", edit: func(n *NewSource) { n.Timezone = "Local" }, wantField: "timezone"},
		{name: "timezone abbreviation", edit: func(n *NewSource) { n.Timezone = "CET" }, wantField: "timezone"},
		{name: "timezone unknown", edit: func(n *NewSource) { n.Timezone = "Mars/Olympus" }, wantField: "timezone"},
		{name: "timezone path", edit: func(n *NewSource) { n.Timezone = "Europe/../UTC" }, wantField: "timezone"},
		{name: "metadata array", edit: func(n *NewSource) { n.Metadata = json.RawMessage(`[1,2]`) }, wantField: "metadata"},
		{name: "metadata string", edit: func(n *NewSource) { n.Metadata = json.RawMessage(`"x"`) }, wantField: "metadata"},
		{name: "metadata number", edit: func(n *NewSource) { n.Metadata = json.RawMessage(`42`) }, wantField: "metadata"},
		{name: "metadata malformed", edit: func(n *NewSource) { n.Metadata = json.RawMessage(`{"a":`) }, wantField: "metadata"},
		{name: "metadata too large", edit: func(n *NewSource) { n.Metadata = bigMetadata(maxMetadataLen + 1) }, wantField: "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := validNewSource()
			tt.edit(&n)
			err := n.validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			wantValidation(t, err, tt.wantField)
		})
	}
}

// bigMetadata returns a JSON object of exactly size bytes.
func bigMetadata(size int) json.RawMessage {
	const head, tail = `{"blob":"`, `"}`
	return json.RawMessage(head + strings.Repeat("b", size-len(head)-len(tail)) + tail)
}

func TestNewSourceValidateDefaults(t *testing.T) {
	t.Parallel()
	for _, meta := range []string{"", "null"} {
		n := NewSource{ExternalID: "m1", Kind: KindMeter, Metadata: json.RawMessage(meta)}
		if meta == "" {
			n.Metadata = nil
		}
		if err := n.validate(); err != nil {
			t.Fatalf("metadata %q: validate: %v", meta, err)
		}
		if n.Timezone != "UTC" {
			t.Errorf("metadata %q: timezone = %q, want the default UTC", meta, n.Timezone)
		}
		if string(n.Metadata) != "{}" {
			t.Errorf("metadata %q: metadata = %s, want {}", meta, n.Metadata)
		}
	}
	// The largest allowed metadata passes.
	n := NewSource{ExternalID: "m1", Kind: KindMeter, Metadata: bigMetadata(maxMetadataLen)}
	if err := n.validate(); err != nil {
		t.Fatalf("metadata of exactly %d bytes: %v", maxMetadataLen, err)
	}
}

func TestPatchValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		patch     Patch
		wantField string
	}{
		{name: "empty patch", patch: Patch{}},
		{name: "all fields", patch: Patch{
			ExternalID: ptr("m-2"), Kind: ptr(KindInverter), Name: ptr("Roof"),
			SiteID:   Nullable[string]{Set: true, Value: ptr("site-1")},
			Timezone: ptr("America/New_York"), Parent: Nullable[string]{Set: true, Value: ptr("m-1")},
			Metadata: json.RawMessage(`{"a":1}`),
		}},
		{name: "clear site and parent", patch: Patch{SiteID: Nullable[string]{Set: true}, Parent: Nullable[string]{Set: true}}},
		{name: "empty name clears it", patch: Patch{Name: ptr("")}},
		{name: "utc", patch: Patch{Timezone: ptr("UTC")}},

		{name: "empty external id", patch: Patch{ExternalID: ptr("")}, wantField: "external_id"},
		{name: "external id too long", patch: Patch{ExternalID: ptr(strings.Repeat("x", maxTextLen+1))}, wantField: "external_id"},
		{name: "external id with control", patch: Patch{ExternalID: ptr("a\rb")}, wantField: "external_id"},
		{name: "empty kind", patch: Patch{Kind: ptr(Kind(""))}, wantField: "kind"},
		{name: "unknown kind", patch: Patch{Kind: ptr(Kind("toaster"))}, wantField: "kind"},
		{name: "name with control", patch: Patch{Name: ptr("a\x7fb")}, wantField: "name"},
		{name: "empty site id", patch: Patch{SiteID: Nullable[string]{Set: true, Value: ptr("")}}, wantField: "site_id"},
		{name: "empty timezone", patch: Patch{Timezone: ptr("")}, wantField: "timezone"},
		{name: "timezone Local", patch: Patch{Timezone: ptr("Local")}, wantField: "timezone"},
		{name: "timezone CET", patch: Patch{Timezone: ptr("CET")}, wantField: "timezone"},
		{name: "timezone unknown", patch: Patch{Timezone: ptr("Mars/Olympus")}, wantField: "timezone"},
		{name: "metadata null", patch: Patch{Metadata: json.RawMessage(`null`)}, wantField: "metadata"},
		{name: "metadata array", patch: Patch{Metadata: json.RawMessage(`[]`)}, wantField: "metadata"},
		{name: "metadata too large", patch: Patch{Metadata: bigMetadata(maxMetadataLen + 1)}, wantField: "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.patch.validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			wantValidation(t, err, tt.wantField)
		})
	}
}

func TestValidateTimezone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tz      string
		wantErr bool
	}{
		{tz: "Europe/Berlin"},
		{tz: "UTC"},
		{tz: "America/Argentina/Buenos_Aires"},
		{tz: "Etc/GMT+5"},
		{tz: "", wantErr: true},
		{tz: "Local", wantErr: true},
		{tz: "CET", wantErr: true},
		{tz: "EST5EDT", wantErr: true},
		{tz: "Mars/Olympus", wantErr: true},
		{tz: "europe/berlin/", wantErr: true},
		{tz: "/etc/localtime", wantErr: true},
		{tz: "Europe/Berlin ", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.tz, func(t *testing.T) {
			t.Parallel()
			err := validateTimezone(tt.tz)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("validateTimezone(%q): %v", tt.tz, err)
				}
				return
			}
			wantValidation(t, err, "timezone")
			if !strings.Contains(err.Error(), `"`+tt.tz+`"`) {
				t.Errorf("message %q does not quote the rejected value", err)
			}
		})
	}
}

func TestNullableJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		wantSet   bool
		wantValue *string
		wantErr   bool
	}{
		{name: "absent", body: `{}`},
		{name: "null", body: `{"site_id":null}`, wantSet: true},
		{name: "null with spaces", body: `{"site_id": null }`, wantSet: true},
		{name: "value", body: `{"site_id":"site-9"}`, wantSet: true, wantValue: ptr("site-9")},
		{name: "empty string is a value", body: `{"site_id":""}`, wantSet: true, wantValue: ptr("")},
		{name: "wrong type", body: `{"site_id":5}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p Patch
			err := json.Unmarshal([]byte(tt.body), &p)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("decoded %s into %+v, want an error", tt.body, p.SiteID)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode %s: %v", tt.body, err)
			}
			if p.SiteID.Set != tt.wantSet {
				t.Errorf("Set = %v, want %v", p.SiteID.Set, tt.wantSet)
			}
			switch {
			case tt.wantValue == nil && p.SiteID.Value != nil:
				t.Errorf("Value = %q, want nil", *p.SiteID.Value)
			case tt.wantValue != nil && (p.SiteID.Value == nil || *p.SiteID.Value != *tt.wantValue):
				t.Errorf("Value = %v, want %q", p.SiteID.Value, *tt.wantValue)
			}
			if p.Parent.Set {
				t.Errorf("parent is Set though absent from %s", tt.body)
			}
		})
	}

	// A value decoded after a null must not keep the earlier state, and a
	// null after a value must clear it.
	var p Patch
	if err := json.Unmarshal([]byte(`{"parent":"src_1"}`), &p); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"parent":null}`), &p); err != nil {
		t.Fatal(err)
	}
	if !p.Parent.Set || p.Parent.Value != nil {
		t.Errorf("parent after value then null = %+v, want set and nil", p.Parent)
	}
}

func TestSourceString(t *testing.T) {
	t.Parallel()
	s := Source{PublicID: "src_ab", ExternalID: "CB-1"}
	if got, want := s.String(), "src_ab (CB-1)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
