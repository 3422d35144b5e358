package mqtt

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gridmetrics/gridmetrics/ingest"
)

// fuzzMaxRows is small so that the bound on rows is reached often.
const fuzzMaxRows = 20

// FuzzDecode parses a topic under DefaultPrefix and decodes its payload:
// no panic, and whatever comes back is what the ingest service may take.
func FuzzDecode(f *testing.F) {
	under := func(topic string) string { return DefaultPrefix + "/ten_abc/" + topic }
	seeds := []struct{ topic, payload string }{
		{"readings/gw-1", `{"readings":[{"source":"m1","metric":"energy_import","time":"2026-12-02T10:15:00Z","value":12.5,"unit":"kWh"}]}`},
		{"readings/gw-1", `{"series":[{"source":"m1","metric":"voltage","unit":"V","points":[["2026-12-02T10:15:00Z",230.1]]}]}`},
		{"tasmota/plug-7/tele/SENSOR", tasmotaSensor},
		{"tasmota/plug-7/stat/STATUS10", `{"StatusSNS":` + tasmotaSensor + `}`},
		{"tasmota/meter-3p/tele/SENSOR", `{"Time":"2026-10-25T02:30:00.5","ENERGY":{"Total":[1,2,3],"Power":[100,200,300],"Voltage":[230,231,229],"Current":[0.5,1,1.5],"Frequency":[50,50,50],"ExportActive":1}}`},
		{"tasmota/plug-7/tele/SENSOR", `{"Time":"2026-12-02T10:15:00+05:45","DS18B20":{"Temperature":21.4},"ENERGY":{"Power":1e400,"Wobble":1}}`},
		{"tasmota/plug-7/tele/STATE", `{"Time":"2026-12-02T10:15:00","POWER":"ON"}`},
		{"shelly/plug-1/status/switch:0", shellySwitchStatus},
		{"shelly/pro3em/status/em:0", shellyEMStatus},
		{"shelly/pro3em/status/emdata:0", shellyEMDataStatus},
		{"shelly/proem/status/em1:1", shellyEM1Status},
		{"shelly/proem/status/em1data:1", shellyEM1DataStatus},
		{"shelly/plug-2/events/rpc", shellyNotifyStatus},
		{"shelly/plug-1/online", `true`},
		{"value/m1/energy_import/kWh", "12.345"},
		{"value/CB-0042/1/voltage/", " NaN\n"},
		{"value/m1/temperature/degC", `{"value":21.5,"time":"2026-12-02T10:00:00.5+01:00"}`},
	}
	for _, s := range seeds {
		f.Add(under(s.topic), []byte(s.payload))
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	recv := time.Date(2026, 12, 2, 10, 15, 0, 123456789, time.UTC)
	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		topic, err := ParseTopic(DefaultPrefix, name)
		if err != nil {
			return
		}
		if !utf8.ValidString(topic.Tenant) || topic.Tenant == "" || strings.ContainsAny(topic.Tenant, "+#/") {
			t.Fatalf("tenant %q passed", topic.Tenant)
		}
		device, devErr := Device(topic)
		zone := time.UTC
		if UsesLocalTime(topic.Preset) {
			zone = berlin
		}
		d, err := Decode(Message{Topic: topic, Payload: payload, Received: recv, Zone: zone}, fuzzMaxRows)
		if err != nil {
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error not UTF-8: %q", err.Error())
			}
			return
		}
		if devErr != nil {
			t.Fatalf("Decode succeeded on a topic Device refuses: %v", devErr)
		}
		if len(d.Rows) > fuzzMaxRows {
			t.Fatalf("%d rows past maxRows %d", len(d.Rows), fuzzMaxRows)
		}
		if len(d.Rejected.List) > ingest.MaxRejected || d.Rejected.Total < len(d.Rejected.List) {
			t.Fatalf("rejections: %d listed of %d", len(d.Rejected.List), d.Rejected.Total)
		}
		seen := map[int]bool{}
		for i, r := range d.Rows {
			if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
				t.Fatalf("row %d: value %v", i, r.Value)
			}
			for _, s := range []string{r.Source, r.Metric, r.Unit} {
				if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
					t.Fatalf("row %d: text %q", i, s)
				}
			}
			if r.Time.IsZero() || r.Time.Location() != time.UTC || r.Time.Nanosecond()%1000 != 0 {
				t.Fatalf("row %d: time %v", i, r.Time)
			}
			if i > 0 && r.Index <= d.Rows[i-1].Index {
				t.Fatalf("row %d: index %d after %d", i, r.Index, d.Rows[i-1].Index)
			}
			seen[r.Index] = true
			if topic.Preset != PresetReadings {
				if r.Source != device && !strings.HasPrefix(r.Source, device+"/") {
					t.Fatalf("row %d: source %q of device %q", i, r.Source, device)
				}
				if !catalogue[r.Metric] {
					t.Fatalf("row %d: metric %q not in the catalogue", i, r.Metric)
				}
			}
		}
		for _, e := range d.Rejected.List {
			if seen[e.Index] {
				t.Fatalf("index %d both a row and a rejection", e.Index)
			}
			if !utf8.ValidString(e.Message) || e.Code == "" {
				t.Fatalf("rejection %+v", e)
			}
		}
	})
}
