package mqtt

import (
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/ingest"
)

// Bodies as Shelly Gen2 devices publish them.
const (
	shellySwitchStatus = `{"id":0,"source":"init","output":true,"apower":8.9,"voltage":237.5,"freq":50.0,"current":0.052,` +
		`"aenergy":{"total":6532.25,"by_minute":[45.199,47.141,88.397],"minute_ts":1764670440},` +
		`"ret_aenergy":{"total":12.5,"by_minute":[0,0,0],"minute_ts":1764670440},"temperature":{"tC":23.5,"tF":74.4}}`
	shellyEMStatus = `{"id":0,"a_current":4.029,"a_voltage":236.1,"a_act_power":951.2,"a_aprt_power":951.9,"a_pf":1,"a_freq":50,` +
		`"b_current":4.027,"b_voltage":236.2,"b_act_power":-948.8,"b_aprt_power":951.4,"b_pf":1,"b_freq":50,` +
		`"c_current":3.03,"c_voltage":236.3,"c_act_power":715.6,"c_aprt_power":716.7,"c_pf":1,"c_freq":50,` +
		`"n_current":null,"total_current":11.086,"total_act_power":718,"total_aprt_power":2620,"user_calibrated_phase":[]}`
	shellyEMDataStatus = `{"id":0,"a_total_act_energy":2776.01,"a_total_act_ret_energy":0,"b_total_act_energy":0,"b_total_act_ret_energy":2767.72,` +
		`"c_total_act_energy":2074.37,"c_total_act_ret_energy":0,"total_act":4850.38,"total_act_ret":2767.72}`
	shellyEM1Status     = `{"id":1,"current":2.598,"voltage":234.9,"act_power":501.8,"aprt_power":612.4,"pf":0.84,"freq":50,"calibration":"factory"}`
	shellyEM1DataStatus = `{"id":1,"total_act_energy":6644.9,"total_act_ret_energy":2595.26}`
	shellyNotifyStatus  = `{"src":"shellyplus2pm-a8032ab12345","dst":"gridmetrics/ten_abc/shelly/plug-2/events","method":"NotifyStatus",` +
		`"params":{"ts":1764670500.52,"switch:1":{"id":1,"apower":12.3,"current":0.06,"aenergy":{"total":7000.5,"by_minute":[1,2,3],"minute_ts":1764670440}}}}`
)

func TestDecodeShelly(t *testing.T) {
	t.Parallel()
	now := received.Truncate(time.Microsecond)
	ts := time.Date(2025, 12, 2, 10, 15, 0, 520000000, time.UTC)
	if ts.Unix() != 1764670500 {
		t.Fatalf("ts = %d", ts.Unix())
	}
	runDecodeCases(t, []decodeCase{
		{name: "switch", topic: "shelly/plug-1/status/switch:0", payload: shellySwitchStatus,
			want: []ingest.Row{
				row(0, "plug-1", "power_import", "W", now, 8.9),
				row(1, "plug-1", "voltage", "V", now, 237.5),
				row(2, "plug-1", "frequency", "Hz", now, 50),
				row(3, "plug-1", "current_import", "A", now, 0.052),
				row(4, "plug-1", "energy_import", "Wh", now, 6532.25),
				row(5, "plug-1", "energy_export", "Wh", now, 12.5),
			}},
		{name: "second switch channel", topic: "shelly/site/plug-2/status/switch:1", payload: `{"id":1,"output":false,"apower":0}`,
			want: []ingest.Row{row(0, "site/plug-2/1", "power_import", "W", now, 0)}},
		{name: "pm1", topic: "shelly/pm-1/status/pm1:0", payload: `{"id":0,"voltage":230.2,"current":0.41,"apower":90.5,"freq":49.98,"aenergy":{"total":10}}`,
			want: []ingest.Row{
				row(0, "pm-1", "voltage", "V", now, 230.2),
				row(1, "pm-1", "current_import", "A", now, 0.41),
				row(2, "pm-1", "power_import", "W", now, 90.5),
				row(3, "pm-1", "frequency", "Hz", now, 49.98),
				row(4, "pm-1", "energy_import", "Wh", now, 10),
			}},
		{name: "Pro 3EM em", topic: "shelly/pro3em/status/em:0", payload: shellyEMStatus,
			want: []ingest.Row{
				row(0, "pro3em", "current_import_l1", "A", now, 4.029),
				row(1, "pro3em", "voltage_l1", "V", now, 236.1),
				row(2, "pro3em", "power_import_l1", "W", now, 951.2),
				row(3, "pro3em", "frequency", "Hz", now, 50),
				row(4, "pro3em", "current_import_l2", "A", now, 4.027),
				row(5, "pro3em", "voltage_l2", "V", now, 236.2),
				row(6, "pro3em", "power_import_l2", "W", now, -948.8),
				row(7, "pro3em", "current_import_l3", "A", now, 3.03),
				row(8, "pro3em", "voltage_l3", "V", now, 236.3),
				row(9, "pro3em", "power_import_l3", "W", now, 715.6),
				row(10, "pro3em", "current_import", "A", now, 11.086),
				row(11, "pro3em", "power_import", "W", now, 718),
			}},
		{name: "Pro 3EM emdata", topic: "shelly/pro3em/status/emdata:0", payload: shellyEMDataStatus,
			want: []ingest.Row{
				row(0, "pro3em", "energy_import", "Wh", now, 4850.38),
				row(1, "pro3em", "energy_export", "Wh", now, 2767.72),
			}},
		{name: "Pro EM em1, second channel", topic: "shelly/proem/status/em1:1", payload: shellyEM1Status,
			want: []ingest.Row{
				row(0, "proem/1", "current_import", "A", now, 2.598),
				row(1, "proem/1", "voltage", "V", now, 234.9),
				row(2, "proem/1", "power_import", "W", now, 501.8),
				row(3, "proem/1", "frequency", "Hz", now, 50),
			}},
		{name: "Pro EM em1data", topic: "shelly/proem/status/em1data:1", payload: shellyEM1DataStatus,
			want: []ingest.Row{
				row(0, "proem/1", "energy_import", "Wh", now, 6644.9),
				row(1, "proem/1", "energy_export", "Wh", now, 2595.26),
			}},
		{name: "NotifyStatus", topic: "shelly/plug-2/events/rpc", payload: shellyNotifyStatus,
			want: []ingest.Row{
				row(0, "plug-2/1", "power_import", "W", ts, 12.3),
				row(1, "plug-2/1", "current_import", "A", ts, 0.06),
				row(2, "plug-2/1", "energy_import", "Wh", ts, 7000.5),
			}},
		{name: "NotifyFullStatus", topic: "shelly/pro3em/events/rpc",
			payload: `{"src":"shellypro3em-x","dst":"d","method":"NotifyFullStatus","params":{"ts":1764670500.52,` +
				`"ble":{},"cloud":{"connected":true},"em:0":` + shellyEMStatus + `,"emdata:0":` + shellyEMDataStatus +
				`,"sys":{"mac":"08F9E0E67204","uptime":28980,"ram_free":117332},"wifi":{"rssi":-60}}}`,
			want: []ingest.Row{
				row(0, "pro3em", "current_import_l1", "A", ts, 4.029),
				row(1, "pro3em", "voltage_l1", "V", ts, 236.1),
				row(2, "pro3em", "power_import_l1", "W", ts, 951.2),
				row(3, "pro3em", "frequency", "Hz", ts, 50),
				row(4, "pro3em", "current_import_l2", "A", ts, 4.027),
				row(5, "pro3em", "voltage_l2", "V", ts, 236.2),
				row(6, "pro3em", "power_import_l2", "W", ts, -948.8),
				row(7, "pro3em", "current_import_l3", "A", ts, 3.03),
				row(8, "pro3em", "voltage_l3", "V", ts, 236.3),
				row(9, "pro3em", "power_import_l3", "W", ts, 715.6),
				row(10, "pro3em", "current_import", "A", ts, 11.086),
				row(11, "pro3em", "power_import", "W", ts, 718),
				row(12, "pro3em", "energy_import", "Wh", ts, 4850.38),
				row(13, "pro3em", "energy_export", "Wh", ts, 2767.72),
			}},
		{name: "ts without fraction", topic: "shelly/plug-1/events/rpc",
			payload: `{"method":"NotifyStatus","params":{"ts":1764670500,"switch:0":{"id":0,"voltage":231}}}`,
			want:    []ingest.Row{row(0, "plug-1", "voltage", "V", ts.Truncate(time.Second), 231)}},
		{name: "bad values", topic: "shelly/plug-1/status/switch:0",
			payload: `{"id":0,"apower":"8.9","voltage":null,"current":1e400,"aenergy":[1],"ret_aenergy":{"by_minute":[0]},"freq":50}`,
			want:    []ingest.Row{row(3, "plug-1", "frequency", "Hz", now, 50)},
			wantRejected: []string{
				"0 " + ingest.CodeMalformed + " switch:0.apower: expected a number, got a string",
				"1 " + ingest.CodeInvalidValue + " switch:0.current: +Inf is not a finite number",
				"2 " + ingest.CodeMalformed + " switch:0.aenergy: expected an object, got an array",
			}},
		{name: "bad components in params", topic: "shelly/plug-1/events/rpc",
			payload: `{"method":"NotifyStatus","params":{"ts":1764670500.52,"switch:x":{"apower":1},"switch:0":5,"switch:2":{"apower":1}}}`,
			want:    []ingest.Row{row(2, "plug-1/2", "power_import", "W", ts, 1)},
			wantRejected: []string{
				"0 " + ingest.CodeMalformed + ` "switch:x": the id is not a channel number`,
				"1 " + ingest.CodeMalformed + " rpc.params.switch:0: expected an object, got a number",
			}},

		// Topics and bodies with no readings.
		{name: "online", topic: "shelly/plug-1/online", payload: `true`},
		{name: "sys", topic: "shelly/plug-1/status/sys", payload: `{"mac":"A8032AB12345","restart_required":false,"time":"10:15","unixtime":1764670500}`},
		{name: "input", topic: "shelly/plug-1/status/input:0", payload: `{"id":0,"state":false}`},
		{name: "temperature sensor", topic: "shelly/plug-1/status/temperature:100", payload: `{"id":100,"tC":21.5,"tF":70.7}`},
		{name: "component without id", topic: "shelly/plug-1/status/switch", payload: `{}`},
		{name: "rpc", topic: "shelly/plug-1/rpc", payload: `{"id":1,"src":"client","method":"Switch.Set","params":{"id":0,"on":true}}`},
		{name: "command", topic: "shelly/plug-1/command", payload: `status_update`},
		{name: "command of a component", topic: "shelly/plug-1/command/switch:0", payload: `on`},
		{name: "debug log", topic: "shelly/plug-1/debug/log", payload: `shelly_notification:163 Status change`},
		{name: "NotifyEvent", topic: "shelly/plug-1/events/rpc",
			payload: `{"src":"shellyplus1pm-x","dst":"d","method":"NotifyEvent","params":{"ts":1764670500.52,"events":[{"component":"input:0","id":0,"event":"single_push","ts":1764670500.52}]}}`},

		// Bodies that cannot be read.
		{name: "status not an object", topic: "shelly/plug-1/status/switch:0", payload: `12`, wantErr: "switch:0: expected an object, got a number"},
		{name: "status not JSON", topic: "shelly/plug-1/status/switch:0", payload: `{"apower":}`, wantErr: "switch:0"},
		{name: "component id not a number", topic: "shelly/plug-1/status/switch:one", payload: `{}`, wantErr: `"switch:one": the id is not a channel number`},
		{name: "negative component id", topic: "shelly/plug-1/status/em:-1", payload: `{}`, wantErr: "not a channel number"},
		{name: "method missing", topic: "shelly/plug-1/events/rpc", payload: `{"params":{"ts":1}}`, wantErr: "rpc.method: missing"},
		{name: "method not a string", topic: "shelly/plug-1/events/rpc", payload: `{"method":1}`, wantErr: "rpc.method: expected a string"},
		{name: "params missing", topic: "shelly/plug-1/events/rpc", payload: `{"method":"NotifyStatus"}`, wantErr: "rpc.params: missing"},
		{name: "ts missing", topic: "shelly/plug-1/events/rpc", payload: `{"method":"NotifyStatus","params":{"switch:0":{"apower":1}}}`, wantErr: "rpc.params.ts: missing"},
		{name: "ts a string", topic: "shelly/plug-1/events/rpc", payload: `{"method":"NotifyStatus","params":{"ts":"1764670500"}}`, wantErr: "rpc.params.ts: expected a number, got a string"},
		{name: "ts negative", topic: "shelly/plug-1/events/rpc", payload: `{"method":"NotifyStatus","params":{"ts":-1}}`, wantErr: "rpc.params.ts"},
		{name: "ts past year 9999", topic: "shelly/plug-1/events/rpc", payload: `{"method":"NotifyStatus","params":{"ts":1e400}}`, wantErr: "rpc.params.ts"},
		{name: "events not an object", topic: "shelly/plug-1/events/rpc", payload: `[]`, wantErr: "rpc: expected an object"},
		{name: "past maxRows", topic: "shelly/pro3em/status/em:0", payload: shellyEMStatus, maxRows: 3, wantErr: "more than 3 readings"},
	})
}
