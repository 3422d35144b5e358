package mqtt

import (
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/ingest"
)

// tasmotaSensor is a tele/SENSOR body of a single-phase plug with energy
// monitoring, as Tasmota publishes it.
const tasmotaSensor = `{"Time":"2026-12-02T10:15:00","ENERGY":{"TotalStartTime":"2025-10-21T22:15:00","Total":12.345,"Yesterday":0.028,"Today":0.026,"Period":1,"Power":120,"ApparentPower":130,"ReactivePower":50,"Factor":0.92,"Voltage":230,"Current":0.52,"Frequency":50}}`

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestDecodeTasmota(t *testing.T) {
	t.Parallel()
	berlin, kathmandu := zone(t, "Europe/Berlin"), zone(t, "Asia/Kathmandu")
	at := time.Date(2026, 12, 2, 9, 15, 0, 0, time.UTC) // 10:15 in Berlin
	plug := func(tm time.Time) []ingest.Row {
		return []ingest.Row{
			row(0, "plug-7", "energy_import", "kWh", tm, 12.345),
			row(1, "plug-7", "power_import", "W", tm, 120),
			row(2, "plug-7", "voltage", "V", tm, 230),
			row(3, "plug-7", "current_import", "A", tm, 0.52),
			row(4, "plug-7", "frequency", "Hz", tm, 50),
		}
	}
	sensorAt := func(local string) string {
		return `{"Time":"` + local + `","ENERGY":{"Total":1.5,"Power":10}}`
	}
	twoRows := func(tm time.Time) []ingest.Row {
		return []ingest.Row{row(0, "plug-7", "energy_import", "kWh", tm, 1.5), row(1, "plug-7", "power_import", "W", tm, 10)}
	}
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	runDecodeCases(t, []decodeCase{
		{name: "SENSOR in Berlin", topic: "tasmota/plug-7/tele/SENSOR", payload: tasmotaSensor, zone: berlin, want: plug(at)},
		{name: "SENSOR in UTC", topic: "tasmota/plug-7/tele/SENSOR", payload: tasmotaSensor,
			want: plug(at.Add(time.Hour))},
		{name: "SENSOR in Kathmandu, +05:45", topic: "tasmota/plug-7/tele/SENSOR", payload: tasmotaSensor, zone: kathmandu,
			want: plug(utc("2026-12-02T04:30:00Z"))},
		{name: "STATUS10", topic: "tasmota/plug-7/stat/STATUS10", zone: berlin,
			payload: `{"StatusSNS":` + tasmotaSensor + `}`, want: plug(at)},
		{name: "STATUS8", topic: "tasmota/plug-7/stat/STATUS8", zone: berlin,
			payload: `{"StatusSNS":` + tasmotaSensor + `}`, want: plug(at)},
		{name: "device of several levels", topic: "tasmota/floor-2/plug-7/tele/SENSOR",
			payload: `{"Time":"2026-12-02T10:15:00","ENERGY":{"Power":5}}`,
			want:    []ingest.Row{row(0, "floor-2/plug-7", "power_import", "W", at.Add(time.Hour), 5)}},

		// Local times at the daylight saving changes of Europe/Berlin.
		{name: "before spring forward", topic: "tasmota/plug-7/tele/SENSOR", zone: berlin,
			payload: sensorAt("2026-03-29T01:59:59"), want: twoRows(utc("2026-03-29T00:59:59Z"))},
		{name: "skipped spring hour", topic: "tasmota/plug-7/tele/SENSOR", zone: berlin,
			payload: sensorAt("2026-03-29T02:30:00"), want: twoRows(utc("2026-03-29T01:30:00Z"))},
		{name: "after spring forward", topic: "tasmota/plug-7/tele/SENSOR", zone: berlin,
			payload: sensorAt("2026-03-29T03:00:00"), want: twoRows(utc("2026-03-29T01:00:00Z"))},
		{name: "before the repeated autumn hour", topic: "tasmota/plug-7/tele/SENSOR", zone: berlin,
			payload: sensorAt("2026-10-25T01:59:59"), want: twoRows(utc("2026-10-24T23:59:59Z"))},
		{name: "repeated autumn hour is the second", topic: "tasmota/plug-7/tele/SENSOR", zone: berlin,
			payload: sensorAt("2026-10-25T02:30:00"), want: twoRows(utc("2026-10-25T01:30:00Z"))},
		{name: "after the repeated autumn hour", topic: "tasmota/plug-7/tele/SENSOR", zone: berlin,
			payload: sensorAt("2026-10-25T03:00:00"), want: twoRows(utc("2026-10-25T02:00:00Z"))},
		{name: "offset of SetOption52 wins over the zone", topic: "tasmota/plug-7/tele/SENSOR", zone: berlin,
			payload: sensorAt("2026-10-25T02:30:00+02:00"), want: twoRows(utc("2026-10-25T00:30:00Z"))},
		{name: "UTC designator", topic: "tasmota/plug-7/tele/SENSOR", zone: kathmandu,
			payload: sensorAt("2026-12-02T10:15:00Z"), want: twoRows(utc("2026-12-02T10:15:00Z"))},
		{name: "fractional seconds truncated to microseconds", topic: "tasmota/plug-7/tele/SENSOR", zone: berlin,
			payload: sensorAt("2026-12-02T10:15:00.1234569"), want: twoRows(utc("2026-12-02T09:15:00.123456Z"))},

		{name: "three phases", topic: "tasmota/meter-3p/tele/SENSOR", zone: berlin,
			payload: `{"Time":"2026-12-02T10:15:00","ENERGY":{"TotalStartTime":"2026-01-01T00:00:00","Total":[100.5,200.25,300],"Yesterday":[1,2,3],"Today":[0.1,0.2,0.3],"Power":[100,200,300],"ApparentPower":[110,210,310],"ReactivePower":[10,20,30],"Factor":[0.9,0.95,0.97],"Frequency":[50,50.01,49.99],"Voltage":[230.1,231.2,229.3],"Current":[0.5,1,1.5],"ExportActive":[0,1.5,0]}}`,
			want: []ingest.Row{
				row(0, "meter-3p", "energy_import", "kWh", at, 600.75),
				row(1, "meter-3p", "power_import_l1", "W", at, 100),
				row(2, "meter-3p", "power_import_l2", "W", at, 200),
				row(3, "meter-3p", "power_import_l3", "W", at, 300),
				row(4, "meter-3p", "power_import", "W", at, 600),
				row(5, "meter-3p", "frequency", "Hz", at, 50),
				row(6, "meter-3p", "voltage_l1", "V", at, 230.1),
				row(7, "meter-3p", "voltage_l2", "V", at, 231.2),
				row(8, "meter-3p", "voltage_l3", "V", at, 229.3),
				row(9, "meter-3p", "current_import_l1", "A", at, 0.5),
				row(10, "meter-3p", "current_import_l2", "A", at, 1),
				row(11, "meter-3p", "current_import_l3", "A", at, 1.5),
				row(12, "meter-3p", "current_import", "A", at, 3),
				row(13, "meter-3p", "energy_export", "kWh", at, 1.5),
			}},
		{name: "two phases", topic: "tasmota/m/tele/SENSOR",
			payload: `{"Time":"2026-12-02T10:15:00","ENERGY":{"Voltage":[230,231]}}`,
			want: []ingest.Row{
				row(0, "m", "voltage_l1", "V", at.Add(time.Hour), 230),
				row(1, "m", "voltage_l2", "V", at.Add(time.Hour), 231),
			}},
		{name: "export", topic: "tasmota/m/tele/SENSOR",
			payload: `{"Time":"2026-12-02T10:15:00","ENERGY":{"Total":3,"Export":1.25}}`,
			want: []ingest.Row{
				row(0, "m", "energy_import", "kWh", at.Add(time.Hour), 3),
				row(1, "m", "energy_export", "kWh", at.Add(time.Hour), 1.25),
			}},
		{name: "other sensors beside ENERGY are skipped", topic: "tasmota/m/tele/SENSOR",
			payload: `{"Time":"2026-12-02T10:15:00","DS18B20":{"Id":"0316A279DAFF","Temperature":21.4},"ENERGY":{"Power":7},"TempUnit":"C"}`,
			want:    []ingest.Row{row(0, "m", "power_import", "W", at.Add(time.Hour), 7)}},

		{name: "unknown field, bad values, rows around them", topic: "tasmota/m/tele/SENSOR",
			payload: `{"Time":"2026-12-02T10:15:00","ENERGY":{"Total":1,"Wobble":3,"Power":"120","Voltage":[1,2,3,4],"Current":[],"Frequency":null,"ExportActive":[1,"x"],"Export":1e400,"Power":[1e400,1],"Voltage":5}}`,
			want: []ingest.Row{
				row(0, "m", "energy_import", "kWh", at.Add(time.Hour), 1),
				row(9, "m", "power_import_l2", "W", at.Add(time.Hour), 1),
				row(11, "m", "voltage", "V", at.Add(time.Hour), 5),
			},
			wantRejected: []string{
				`1 ` + ingest.CodeUnknownMetric + ` "Wobble"`,
				`2 ` + ingest.CodeMalformed + ` SENSOR.ENERGY.Power: expected a number or an array of phases, got a string`,
				`3 ` + ingest.CodeMalformed + ` SENSOR.ENERGY.Voltage: expected 1 to 3 phases, got 4`,
				`4 ` + ingest.CodeMalformed + ` SENSOR.ENERGY.Current: expected 1 to 3 phases, got 0`,
				`5 ` + ingest.CodeMalformed + ` SENSOR.ENERGY.Frequency: expected a number or an array of phases, got null`,
				`6 ` + ingest.CodeMalformed + ` SENSOR.ENERGY.ExportActive[1]: expected a number, got a string`,
				`7 ` + ingest.CodeInvalidValue + ` SENSOR.ENERGY.Export: +Inf is not a finite number`,
				`8 ` + ingest.CodeInvalidValue + ` SENSOR.ENERGY.Power[0]: +Inf`,
				`10 ` + ingest.CodeInvalidValue + ` SENSOR.ENERGY.Power (sum): +Inf`,
			}},

		// Topics and bodies with no readings.
		{name: "SENSOR without ENERGY", topic: "tasmota/m/tele/SENSOR",
			payload: `{"Time":"2026-12-02T10:15:00","AM2301":{"Temperature":21.3,"Humidity":45.1,"DewPoint":8.9},"TempUnit":"C"}`},
		{name: "SENSOR without ENERGY nor Time", topic: "tasmota/m/tele/SENSOR", payload: `{"ANALOG":{"A0":512}}`},
		{name: "STATE", topic: "tasmota/m/tele/STATE",
			payload: `{"Time":"2026-12-02T10:15:00","Uptime":"0T01:00:00","UptimeSec":3600,"Heap":25,"POWER":"ON","Wifi":{"AP":1,"RSSI":76}}`},
		{name: "LWT", topic: "tasmota/m/tele/LWT", payload: `Online`},
		{name: "RESULT", topic: "tasmota/m/stat/RESULT", payload: `{"POWER":"ON"}`},
		{name: "POWER", topic: "tasmota/m/stat/POWER", payload: `ON`},
		{name: "command to the device", topic: "tasmota/m/cmnd/STATUS", payload: `10`},
		{name: "command named like a reading", topic: "tasmota/m/cmnd/SENSOR", payload: `{"Time":"x","ENERGY":{"Power":1}}`},
		{name: "STATUS11", topic: "tasmota/m/stat/STATUS11", payload: `{"StatusSTS":{}}`},

		// Bodies that cannot be read.
		{name: "Time missing", topic: "tasmota/m/tele/SENSOR", payload: `{"ENERGY":{"Power":1}}`, wantErr: "SENSOR.Time: missing"},
		{name: "Time not a string", topic: "tasmota/m/tele/SENSOR", payload: `{"Time":1764670500,"ENERGY":{"Power":1}}`, wantErr: "SENSOR.Time: expected a string, got a number"},
		{name: "Time not a time", topic: "tasmota/m/tele/SENSOR", payload: `{"Time":"yesterday","ENERGY":{"Power":1}}`, wantErr: `SENSOR.Time: "yesterday" is not a time`},
		{name: "Time out of range", topic: "tasmota/m/tele/SENSOR", payload: `{"Time":"2026-13-02T10:15:00","ENERGY":{"Power":1}}`, wantErr: "SENSOR.Time"},
		{name: "Time zero", topic: "tasmota/m/tele/SENSOR", payload: `{"Time":"0001-01-01T00:00:00Z","ENERGY":{"Power":1}}`, wantErr: "SENSOR.Time"},
		{name: "ENERGY not an object", topic: "tasmota/m/tele/SENSOR", payload: `{"Time":"2026-12-02T10:15:00","ENERGY":[1]}`, wantErr: "SENSOR.ENERGY: expected an object, got an array"},
		{name: "not JSON", topic: "tasmota/m/tele/SENSOR", payload: `Online`, wantErr: "SENSOR: invalid JSON"},
		{name: "not an object", topic: "tasmota/m/tele/SENSOR", payload: `[1,2]`, wantErr: "SENSOR: expected an object, got an array"},
		{name: "truncated", topic: "tasmota/m/tele/SENSOR", payload: tasmotaSensor[:60], wantErr: "SENSOR"},
		{name: "trailing data", topic: "tasmota/m/tele/SENSOR", payload: tasmotaSensor + `{}`, wantErr: "data after the object"},
		{name: "STATUS10 without StatusSNS", topic: "tasmota/m/stat/STATUS10", payload: `{"Status":{}}`, wantErr: "STATUS10: missing StatusSNS"},
		{name: "StatusSNS not an object", topic: "tasmota/m/stat/STATUS10", payload: `{"StatusSNS":"x"}`, wantErr: "StatusSNS: expected an object, got a string"},
		{name: "deep nesting in another sensor", topic: "tasmota/m/tele/SENSOR",
			payload: `{"Time":"2026-12-02T10:15:00","X":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `,"ENERGY":{"Power":1}}`,
			wantErr: "exceeded max depth"},
		{name: "past maxRows", topic: "tasmota/m/tele/SENSOR", maxRows: 4,
			payload: `{"Time":"2026-12-02T10:15:00","ENERGY":{"Power":[1,2,3],"Current":[1,2,3]}}`,
			wantErr: "more than 4 readings"},
	})
}
