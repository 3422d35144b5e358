package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gridmetrics/gridmetrics/api"
)

func TestNullable(t *testing.T) {
	t.Parallel()
	type inner struct {
		A string `json:"a"`
	}
	type doc struct {
		S api.Nullable[string] `json:"s"`
		O api.Nullable[inner]  `json:"o"`
	}
	tests := []struct {
		name    string
		body    string
		wantSet bool
		wantNil bool
		wantErr string
	}{
		{name: "absent", body: `{}`, wantNil: true},
		{name: "null", body: `{"o": null}`, wantSet: true, wantNil: true},
		{name: "value", body: `{"o": {"a": "x"}}`, wantSet: true},
		{name: "unknown field inside", body: `{"o": {"a": "x", "b": 1}}`, wantErr: `unknown field "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d doc
			err := json.Unmarshal([]byte(tt.body), &d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || d.O.Set != tt.wantSet || (d.O.Value == nil) != tt.wantNil {
				t.Fatalf("got %+v, err %v", d.O, err)
			}
		})
	}
}

func TestRejectNulls(t *testing.T) {
	t.Parallel()
	if err := api.RejectNulls([]byte(`{"name": null, "city": null}`), "name"); api.AsError(err) == nil || !strings.HasPrefix(err.Error(), "VALIDATION_ERROR: name: ") {
		t.Fatalf("null name: %v", err)
	}
	if err := api.RejectNulls([]byte(`{"city": null}`), "name"); err != nil {
		t.Fatalf("null city: %v", err)
	}
	if err := api.RejectNulls([]byte(`{`), "name"); err != nil {
		t.Fatalf("malformed body is DecodeJSON's to report: %v", err)
	}
}
