package availability

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
)

func TestDecodeStatusNotification(t *testing.T) {
	t.Parallel()
	ts := time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
	tests := []struct {
		name    string
		body    string
		want    StatusNotification
		wantErr string // a part of the message
	}{
		{name: "1.6", body: `{"connectorId":2,"errorCode":"NoError","status":"Charging","timestamp":"2025-03-01T13:00:00.1234567+01:00","vendorId":"x"}`,
			want: StatusNotification{Version: "1.6", Connector: 2, Status: "Charging", Time: ts}},
		{name: "1.6 without timestamp", body: `{"connectorId":0,"errorCode":"NoError","status":"Unavailable"}`,
			want: StatusNotification{Version: "1.6", Connector: 0, Status: "Unavailable"}},
		{name: "2.0.1", body: `{"timestamp":"2025-03-01T12:00:00.123456Z","connectorStatus":"Occupied","evseId":1,"connectorId":2}`,
			want: StatusNotification{Version: "2.0.1", Connector: 1, EVSEConnector: 2, Status: "Occupied", Time: ts}},
		{name: "not an object", body: `[1]`, wantErr: "not a JSON object"},
		{name: "null", body: `null`, wantErr: "not a JSON object"},
		{name: "truncated", body: `{"connectorId":1,"status":"Avail`, wantErr: "not a JSON object"},
		{name: "no status", body: `{"connectorId":1}`, wantErr: "neither status"},
		{name: "both editions", body: `{"connectorId":1,"status":"Available","connectorStatus":"Available"}`, wantErr: "cannot both"},
		{name: "1.6 status of 2.0.1", body: `{"connectorId":1,"errorCode":"NoError","status":"Occupied"}`, wantErr: "status: \"Occupied\" is not a status"},
		{name: "2.0.1 status of 1.6", body: `{"timestamp":"2025-03-01T12:00:00Z","connectorStatus":"Charging","evseId":1,"connectorId":1}`, wantErr: "connectorStatus"},
		{name: "connection state is no status", body: `{"connectorId":1,"status":"Offline"}`, wantErr: "is not a status"},
		{name: "status not a string", body: `{"connectorId":1,"status":7}`, wantErr: "status: 7 is not a string"},
		{name: "negative connector", body: `{"connectorId":-1,"status":"Available"}`, wantErr: "connectorId: -1"},
		{name: "fractional connector", body: `{"connectorId":1.5,"status":"Available"}`, wantErr: "connectorId"},
		{name: "huge connector", body: `{"connectorId":1e300,"status":"Available"}`, wantErr: "connectorId"},
		{name: "connector missing", body: `{"status":"Available"}`, wantErr: "connectorId: is required"},
		{name: "2.0.1 without timestamp", body: `{"connectorStatus":"Available","evseId":1,"connectorId":1}`, wantErr: "timestamp: is required"},
		{name: "2.0.1 without connectorId", body: `{"timestamp":"2025-03-01T12:00:00Z","connectorStatus":"Available","evseId":1}`, wantErr: "connectorId: is required"},
		{name: "bad timestamp", body: `{"connectorId":1,"status":"Available","timestamp":"yesterday"}`, wantErr: "timestamp"},
		{name: "long status is clipped", body: `{"connectorId":1,"status":"` + strings.Repeat("A", 10000) + `"}`, wantErr: "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeStatusNotification([]byte(tt.body))
			if tt.wantErr != "" {
				var ae *api.Error
				if !errors.As(err, &ae) || ae.Code != api.CodeValidation || !strings.Contains(ae.Message, tt.wantErr) || len(ae.Message) > 1000 {
					t.Fatalf("err %v, want a VALIDATION_ERROR containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
