package mqtt

import (
	"slices"
	"strings"
	"testing"
)

func TestParseTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, prefix, topic string
		want                Topic
		wantErr             string
	}{
		{name: "tasmota", prefix: DefaultPrefix, topic: "gridmetrics/ten_abc/tasmota/plug-7/tele/SENSOR",
			want: Topic{Tenant: "ten_abc", Preset: "tasmota", Levels: []string{"plug-7", "tele", "SENSOR"}}},
		{name: "prefix of two levels", prefix: "site/gridmetrics", topic: "site/gridmetrics/ten_abc/value/m1/voltage/V",
			want: Topic{Tenant: "ten_abc", Preset: "value", Levels: []string{"m1", "voltage", "V"}}},
		{name: "connector levels", prefix: DefaultPrefix, topic: "gridmetrics/ten_abc/value/CB-0042/1/energy_import/kWh",
			want: Topic{Tenant: "ten_abc", Preset: "value", Levels: []string{"CB-0042", "1", "energy_import", "kWh"}}},
		{name: "empty last level", prefix: DefaultPrefix, topic: "gridmetrics/ten_abc/value/m1/voltage/",
			want: Topic{Tenant: "ten_abc", Preset: "value", Levels: []string{"m1", "voltage", ""}}},
		{name: "other prefix", prefix: DefaultPrefix, topic: "other/ten_abc/value/m1/voltage/V", wantErr: "not under the prefix"},
		{name: "prefix without separator", prefix: DefaultPrefix, topic: "gridmetricsx/ten_abc/value/m1/voltage/V", wantErr: "not under the prefix"},
		{name: "prefix alone", prefix: DefaultPrefix, topic: "gridmetrics", wantErr: "not under the prefix"},
		{name: "empty prefix", prefix: "", topic: "/ten_abc/value/m1/voltage/V", wantErr: "empty prefix"},
		{name: "empty tenant", prefix: DefaultPrefix, topic: "gridmetrics//value/m1/voltage/V", wantErr: "empty tenant"},
		{name: "wildcard tenant", prefix: DefaultPrefix, topic: "gridmetrics/ten_+/value/m1/voltage/V", wantErr: "tenant"},
		{name: "hash tenant", prefix: DefaultPrefix, topic: "gridmetrics/#/value/m1/voltage/V", wantErr: "tenant"},
		{name: "control character tenant", prefix: DefaultPrefix, topic: "gridmetrics/ten\x07/value/m1/voltage/V", wantErr: "tenant"},
		{name: "tenant only", prefix: DefaultPrefix, topic: "gridmetrics/ten_abc", wantErr: "empty preset"},
		{name: "empty preset", prefix: DefaultPrefix, topic: "gridmetrics/ten_abc//m1", wantErr: "empty preset"},
		{name: "unknown preset", prefix: DefaultPrefix, topic: "gridmetrics/ten_abc/zigbee/m1", wantErr: `unknown preset "zigbee"`},
		{name: "no levels", prefix: DefaultPrefix, topic: "gridmetrics/ten_abc/tasmota", wantErr: "no levels"},
		{name: "invalid UTF-8", prefix: DefaultPrefix, topic: "gridmetrics/ten_abc/value/m\xff/voltage/V", wantErr: "UTF-8"},
		{name: "NUL", prefix: DefaultPrefix, topic: "gridmetrics/ten_abc/value/m\x00/voltage/V", wantErr: "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTopic(tt.prefix, tt.topic)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTopic(%q) error = %v, want one containing %q", tt.topic, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTopic(%q): %v", tt.topic, err)
			}
			tt.want.Name = tt.topic
			if got.Name != tt.want.Name || got.Tenant != tt.want.Tenant || got.Preset != tt.want.Preset || !slices.Equal(got.Levels, tt.want.Levels) {
				t.Errorf("ParseTopic(%q) = %+v, want %+v", tt.topic, got, tt.want)
			}
		})
	}
}

func TestDevice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		topic   string
		want    string
		wantErr string
	}{
		{topic: "readings/gw-1", want: "gw-1"},
		{topic: "readings/site-a/gw-1", want: "site-a/gw-1"},
		{topic: "readings/gw-1/", wantErr: "empty"},
		{topic: "value/m1/energy_import/kWh", want: "m1"},
		{topic: "value/CB-0042/1/energy_import/kWh", want: "CB-0042/1"},
		{topic: "value/energy_import/kWh", wantErr: "{device…}/{metric}/{unit}"},
		{topic: "value//energy_import/kWh", wantErr: "empty"},
		{topic: "tasmota/plug-7/tele/SENSOR", want: "plug-7"},
		{topic: "tasmota/floor-2/plug-7/stat/STATUS10", want: "floor-2/plug-7"},
		{topic: "tasmota/tele/SENSOR", wantErr: "tele"},
		{topic: "tasmota/plug-7/cmnd/POWER", want: "plug-7"},
		{topic: "tasmota/plug-7/cmd/POWER", wantErr: "tele"},
		{topic: "tasmota/plug-7/SENSOR", wantErr: "tele"},
		{topic: "shelly/shellypro3em-1/status/em:0", want: "shellypro3em-1"},
		{topic: "shelly/site/plug-1/events/rpc", want: "site/plug-1"},
		{topic: "shelly/plug-1/online", want: "plug-1"},
		{topic: "shelly/plug-1/rpc", want: "plug-1"},
		{topic: "shelly/plug-1/command/switch:0", want: "plug-1"},
		{topic: "shelly/status/switch:0", wantErr: "no device"},
		{topic: "shelly/plug-1/telemetry", wantErr: "shelly"},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			t.Parallel()
			topic, err := ParseTopic(DefaultPrefix, DefaultPrefix+"/ten_abc/"+tt.topic)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Device(topic)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Device(%q) = %q, %v; want an error containing %q", tt.topic, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Device(%q) = %q, %v; want %q", tt.topic, got, err, tt.want)
			}
		})
	}
}

func TestUsesLocalTime(t *testing.T) {
	t.Parallel()
	for _, p := range Presets {
		if got, want := UsesLocalTime(p), p == PresetTasmota; got != want {
			t.Errorf("UsesLocalTime(%q) = %v, want %v", p, got, want)
		}
	}
	if UsesLocalTime("zigbee") {
		t.Error("UsesLocalTime of an unknown preset is true")
	}
}
