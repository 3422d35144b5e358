package mqtt

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/ingest"
)

func TestDecodeValue(t *testing.T) {
	t.Parallel()
	now := received.Truncate(time.Microsecond)
	stamped := time.Date(2026, 12, 2, 9, 0, 0, 500000000, time.UTC)
	runDecodeCases(t, []decodeCase{
		{name: "plain number", topic: "value/m1/energy_import/kWh", payload: "12.345",
			want: []ingest.Row{row(0, "m1", "energy_import", "kWh", now, 12.345)}},
		{name: "whitespace around", topic: "value/m1/voltage/V", payload: " \t230\r\n",
			want: []ingest.Row{row(0, "m1", "voltage", "V", now, 230)}},
		{name: "signed exponent", topic: "value/m1/power_export/W", payload: "-1.5e3",
			want: []ingest.Row{row(0, "m1", "power_export", "W", now, -1500)}},
		{name: "empty unit level", topic: "value/m1/soc/", payload: "81",
			want: []ingest.Row{row(0, "m1", "soc", "", now, 81)}},
		{name: "connector", topic: "value/CB-0042/1/current_import/A", payload: "16",
			want: []ingest.Row{row(0, "CB-0042/1", "current_import", "A", now, 16)}},
		{name: "stamped", topic: "value/m1/temperature/degC", payload: `{"value":21.5,"time":"2026-12-02T10:00:00.5+01:00"}`,
			want: []ingest.Row{row(0, "m1", "temperature", "degC", stamped, 21.5)}},
		{name: "stamped, nanoseconds truncated", topic: "value/m1/frequency/Hz", payload: `{"time":"2026-12-02T09:00:00.500000999Z","value":50}`,
			want: []ingest.Row{row(0, "m1", "frequency", "Hz", stamped, 50)}},
		{name: "object without time", topic: "value/m1/voltage/V", payload: `{"value":229}`,
			want: []ingest.Row{row(0, "m1", "voltage", "V", now, 229)}},
		{name: "Kathmandu offset", topic: "value/m1/voltage/V", payload: `{"value":229,"time":"2026-12-02T14:45:00+05:45"}`,
			want: []ingest.Row{row(0, "m1", "voltage", "V", time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC), 229)}},

		{name: "NaN", topic: "value/m1/voltage/V", payload: "NaN", wantRejected: []string{"0 " + ingest.CodeInvalidValue + " value: NaN"}},
		{name: "negative infinity", topic: "value/m1/voltage/V", payload: "-Inf", wantRejected: []string{"0 " + ingest.CodeInvalidValue + " not a finite"}},
		{name: "infinity", topic: "value/m1/voltage/V", payload: "+infinity", wantRejected: []string{"0 " + ingest.CodeInvalidValue + " not a finite"}},
		{name: "out of range", topic: "value/m1/voltage/V", payload: "1e400", wantRejected: []string{"0 " + ingest.CodeInvalidValue + " +Inf"}},
		{name: "out of range in JSON", topic: "value/m1/voltage/V", payload: `{"value":-1e400}`, wantRejected: []string{"0 " + ingest.CodeInvalidValue + " -Inf"}},
		{name: "unknown metric", topic: "value/m1/power_factor/", payload: "0.98", wantRejected: []string{`0 ` + ingest.CodeUnknownMetric + ` "power_factor"`}},
		{name: "empty metric", topic: "value/m1//V", payload: "1", wantRejected: []string{`0 ` + ingest.CodeUnknownMetric + ` ""`}},

		{name: "not a number", topic: "value/m1/voltage/V", payload: "on", wantErr: `payload "on" is not a number`},
		{name: "empty payload", topic: "value/m1/voltage/V", payload: "  ", wantErr: "not a number"},
		{name: "hexadecimal", topic: "value/m1/voltage/V", payload: "0x1p3", wantErr: "not a number"},
		{name: "underscores", topic: "value/m1/voltage/V", payload: "1_000", wantErr: "not a number"},
		{name: "two numbers", topic: "value/m1/voltage/V", payload: "1 2", wantErr: "not a number"},
		{name: "bare exponent", topic: "value/m1/voltage/V", payload: "1e", wantErr: "not a number"},
		{name: "double sign NaN", topic: "value/m1/voltage/V", payload: "+-NaN", wantErr: "not a number"},
		{name: "quoted number", topic: "value/m1/voltage/V", payload: `"230"`, wantErr: "not a number"},
		{name: "long garbage clipped", topic: "value/m1/voltage/V", payload: "this payload is far too long to be quoted whole in a reason", wantErr: "…"},
		{name: "JSON value a string", topic: "value/m1/voltage/V", payload: `{"value":"230"}`, wantErr: "field value: expected a number, got a string"},
		{name: "JSON without value", topic: "value/m1/voltage/V", payload: `{"time":"2026-12-02T10:00:00Z"}`, wantErr: "missing field value"},
		{name: "JSON time without offset", topic: "value/m1/voltage/V", payload: `{"value":1,"time":"2026-12-02T10:00:00"}`, wantErr: "field time"},
		{name: "JSON unknown field", topic: "value/m1/voltage/V", payload: `{"value":1,"unit":"V"}`, wantErr: "unknown field"},
		{name: "JSON trailing data", topic: "value/m1/voltage/V", payload: `{"value":1}{"value":2}`, wantErr: "data after"},
		{name: "JSON broken", topic: "value/m1/voltage/V", payload: `{"value":`, wantErr: "end of JSON"},
	})
}

// TestCatalogueMatchesMigrations keeps the value preset's list of metrics
// equal to the metrics the migrations insert.
func TestCatalogueMatchesMigrations(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../schema/migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	insert := regexp.MustCompile(`(?is)INSERT INTO metrics\b[^;]*;`)
	name := regexp.MustCompile(`\(\s*\d+\s*,\s*'([a-z0-9_]+)'`)
	found := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range insert.FindAll(b, -1) {
			for _, m := range name.FindAllSubmatch(stmt, -1) {
				found[string(m[1])] = true
			}
		}
	}
	if len(found) == 0 {
		t.Fatal("found no metrics in the migrations")
	}
	for m := range found {
		if !catalogue[m] {
			t.Errorf("metric %s of the migrations is missing from catalogue", m)
		}
	}
	for m := range catalogue {
		if !found[m] {
			t.Errorf("catalogue holds %s, which no migration inserts", m)
		}
	}
}
