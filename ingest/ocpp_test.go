package ingest

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/ocmf"
)

// ocppExamples are OCPP payloads in the shapes the OCPP 1.6 and OCPP 2.0.1
// specifications give (MeterValues.req and MeterValuesRequest, the third
// element of the CALL frame). The tests below and the fuzz target's seed
// corpus use them.
var ocppExamples = map[string]string{
	"1.6 periodic": `{
		"connectorId": 1,
		"transactionId": 42,
		"meterValue": [
			{
				"timestamp": "2025-03-01T10:00:00Z",
				"sampledValue": [
					{"value": "15230", "context": "Sample.Periodic", "format": "Raw", "measurand": "Energy.Active.Import.Register", "location": "Outlet", "unit": "Wh"},
					{"value": "7350.5", "context": "Sample.Periodic", "format": "Raw", "measurand": "Power.Active.Import", "location": "Outlet", "unit": "W"}
				]
			},
			{
				"timestamp": "2025-03-01T10:01:00Z",
				"sampledValue": [
					{"value": "15352", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
					{"value": "7320", "context": "Sample.Periodic", "measurand": "Power.Active.Import", "unit": "W"}
				]
			}
		]
	}`,
	"1.6 transaction contexts": `{
		"connectorId": 2,
		"transactionId": 1001,
		"meterValue": [
			{"timestamp": "2025-03-01T09:00:00.123456789+01:00", "sampledValue": [
				{"value": "1000", "context": "Transaction.Begin"}
			]},
			{"timestamp": "2025-03-01T08:30:00Z", "sampledValue": [
				{"value": "1500", "context": "Sample.Periodic"},
				{"value": "45", "context": "Sample.Periodic", "measurand": "SoC", "location": "EV", "unit": "Percent"}
			]},
			{"timestamp": "2025-03-01T09:00:00Z", "sampledValue": [
				{"value": "2250", "context": "Transaction.End", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
			]}
		]
	}`,
	"1.6 three phases without total": `{
		"connectorId": 1,
		"transactionId": 42,
		"meterValue": [{
			"timestamp": "2025-03-01T10:05:00Z",
			"sampledValue": [
				{"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
				{"value": "16.0", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
				{"value": "15.9", "measurand": "Current.Import", "phase": "L3", "unit": "A"},
				{"value": "231.2", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
				{"value": "230.8", "measurand": "Voltage", "phase": "L2-N", "unit": "V"},
				{"value": "229.9", "measurand": "Voltage", "phase": "L3-N", "unit": "V"},
				{"value": "15410", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
			]
		}]
	}`,
	"1.6 phases with total": `{
		"connectorId": 1,
		"meterValue": [{
			"timestamp": "2025-03-01T10:06:00Z",
			"sampledValue": [
				{"value": "3700", "measurand": "Power.Active.Import", "phase": "L1", "unit": "W"},
				{"value": "3690", "measurand": "Power.Active.Import", "phase": "L2", "unit": "W"},
				{"value": "3710", "measurand": "Power.Active.Import", "phase": "L3", "unit": "W"},
				{"value": "11100", "measurand": "Power.Active.Import", "unit": "W"},
				{"value": "5140", "measurand": "Energy.Active.Import.Register", "phase": "L1", "unit": "Wh"},
				{"value": "15420", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
				{"value": "400.1", "measurand": "Voltage", "phase": "L1-L2", "unit": "V"},
				{"value": "230.9", "measurand": "Voltage", "unit": "V"}
			]
		}]
	}`,
	"1.6 kWh and kW": `{
		"connectorId": 1,
		"transactionId": 42,
		"meterValue": [{
			"timestamp": "2025-03-01T10:10:00Z",
			"sampledValue": [
				{"value": "15.482", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
				{"value": "7.36", "measurand": "Power.Active.Import", "unit": "kW"},
				{"value": "22", "measurand": "Power.Offered", "unit": "kW"},
				{"value": "0.5", "measurand": "Energy.Active.Export.Register", "unit": "kWh"},
				{"value": "1.25", "measurand": "Power.Active.Export", "unit": "kW"}
			]
		}]
	}`,
	"1.6 defaults and other units": `{
		"connectorId": 1,
		"meterValue": [{
			"timestamp": "2025-03-01T10:15:00Z",
			"sampledValue": [
				{"value": "15500"},
				{"value": "31.5", "measurand": "Temperature", "location": "Body", "unit": "Celsius"},
				{"value": "304.65", "measurand": "Temperature", "location": "Cable", "unit": "K"},
				{"value": "88.7", "measurand": "Temperature", "location": "Outlet", "unit": "Fahrenheit"},
				{"value": "49.98", "measurand": "Frequency"},
				{"value": "62", "measurand": "SoC", "location": "EV", "unit": "Percent"},
				{"value": "16", "measurand": "Current.Import"},
				{"value": "0.016", "measurand": "Energy.Active.Import.Register", "unit": "KWH"}
			]
		}]
	}`,
	"1.6 signed data": `{
		"connectorId": 1,
		"transactionId": 42,
		"meterValue": [{
			"timestamp": "2025-03-01T10:20:00Z",
			"sampledValue": [
				{"value": "A1B2C3D4E5F60718293A4B5C6D7E8F90", "context": "Sample.Periodic", "format": "SignedData", "measurand": "Energy.Active.Import.Register"},
				{"value": "7200", "context": "Sample.Periodic", "format": "Raw", "measurand": "Power.Active.Import", "unit": "W"}
			]
		}]
	}`,
	"1.6 unknown measurands": `{
		"connectorId": 1,
		"meterValue": [{
			"timestamp": "2025-03-01T10:25:00Z",
			"sampledValue": [
				{"value": "0.98", "measurand": "Power.Factor"},
				{"value": "120", "measurand": "Energy.Reactive.Import.Register", "unit": "varh"},
				{"value": "32", "measurand": "Current.Offered", "unit": "A"},
				{"value": "15600", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
			]
		}]
	}`,
	"1.6 charge box meter": `{
		"connectorId": 0,
		"meterValue": [{
			"timestamp": "2025-03-01T10:30:00Z",
			"sampledValue": [
				{"value": "982431", "measurand": "Energy.Active.Import.Register", "location": "Inlet", "unit": "Wh"},
				{"value": "50.01", "measurand": "Frequency", "location": "Inlet"}
			]
		}]
	}`,
	"1.6 bad sampled values": `{
		"connectorId": 1,
		"transactionId": 42,
		"vendorInfo": {"firmware": "3.2.1"},
		"meterValue": [
			{"timestamp": "2025-03-01T10:35:00Z", "sampledValue": [
				{"value": "7000", "measurand": "Power.Active.Import", "unit": "Wh"},
				{"value": "abc", "measurand": "Voltage", "unit": "V"},
				{"value": 230, "measurand": "Voltage", "unit": "V"},
				{"value": "16", "measurand": 7},
				"16.0",
				{"value": "16", "measurand": "Current.Import", "phase": "N", "unit": "A"},
				{"value": "400", "measurand": "Voltage", "phase": "L1-L2", "unit": "V"},
				{"value": "5200", "measurand": "Energy.Active.Import.Register", "phase": "L1"},
				{"value": "16", "measurand": "Current.Import", "phase": "L4"},
				{"value": "NaN", "measurand": "Voltage"},
				{"value": "1e400", "measurand": "Power.Active.Import"},
				{"value": "12", "unitOfMeasure": {"unit": "kWh"}},
				{"value": "15700", "format": "Compressed"},
				{"value": " 50.02 ", "measurand": "Frequency", "vendorQuality": "good"},
				{"measurand": "Voltage"},
				{"value": "12", "unit": 3}
			]},
			{"timestamp": "2025-03-01 10:36:00", "sampledValue": [
				{"value": "15710"},
				{"value": "7100", "measurand": "Power.Active.Import"}
			]},
			{"sampledValue": [{"value": "15720"}]},
			{"timestamp": "2025-03-01T10:37:00Z", "sampledValue": []},
			{"timestamp": "2025-03-01T10:38:00Z", "sampledValue": [
				{"value": "15730", "context": "Sample.Clock"},
				{"value": "oops", "measurand": "Current.Import"},
				{"value": "15.8", "measurand": "Current.Import", "phase": "L1"}
			]}
		]
	}`,
	"2.0.1 periodic": `{
		"evseId": 1,
		"meterValue": [{
			"timestamp": "2025-03-01T11:00:00.000Z",
			"sampledValue": [
				{"value": 15230, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "location": "Outlet", "unitOfMeasure": {"unit": "Wh"}},
				{"value": 7350.5, "context": "Sample.Periodic", "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W", "multiplier": 0}},
				{"value": 16.1, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}},
				{"value": 16.0, "measurand": "Current.Import", "phase": "L2", "unitOfMeasure": {"unit": "A"}},
				{"value": 15.9, "measurand": "Current.Import", "phase": "L3", "unitOfMeasure": {"unit": "A"}}
			]
		}]
	}`,
	"2.0.1 multipliers": `{
		"evseId": 2,
		"meterValue": [{
			"timestamp": "2025-03-01T11:05:00Z",
			"sampledValue": [
				{"value": 15.482, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh", "multiplier": 3}},
				{"value": 7.36, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW"}},
				{"value": 2300, "measurand": "Voltage", "unitOfMeasure": {"unit": "V", "multiplier": -1}},
				{"value": 1.5482, "measurand": "Energy.Active.Export.Register", "unitOfMeasure": {"unit": "kWh", "multiplier": 1}},
				{"value": 15.5, "unitOfMeasure": {"multiplier": 3}}
			]
		}]
	}`,
	"2.0.1 signed meter value": `{
		"evseId": 1,
		"meterValue": [{
			"timestamp": "2025-03-01T11:10:00Z",
			"sampledValue": [{
				"value": 15612,
				"context": "Sample.Periodic",
				"measurand": "Energy.Active.Import.Register",
				"unitOfMeasure": {"unit": "Wh"},
				"signedMeterValue": {
					"signedMeterData": "T0NNRnx7IkZWIjoiMS4wIiwiUkQiOlt7IlJWIjoxNS42MTJ9XX0=",
					"signingMethod": "ECDSA-secp256r1-SHA256",
					"encodingMethod": "OCMF",
					"publicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"
				}
			}]
		}]
	}`,
	"2.0.1 transaction begin with SoC": `{
		"evseId": 1,
		"meterValue": [{
			"timestamp": "2025-03-01T11:15:00+02:00",
			"sampledValue": [
				{"value": 15000, "context": "Transaction.Begin", "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
				{"value": 23, "context": "Transaction.Begin", "measurand": "SoC", "location": "EV", "unitOfMeasure": {"unit": "Percent"}}
			]
		}]
	}`,
	"2.0.1 main meter": `{
		"evseId": 0,
		"meterValue": [{
			"timestamp": "2025-03-01T11:20:00Z",
			"sampledValue": [{"value": 982.5, "location": "Inlet", "unitOfMeasure": {"unit": "kWh"}}]
		}]
	}`,
	"2.0.1 bad sampled values": `{
		"evseId": 1,
		"customData": {"vendorId": "com.example.charger"},
		"meterValue": [{
			"timestamp": "2025-03-01T11:25:00Z",
			"sampledValue": [
				{"value": "15000", "measurand": "Energy.Active.Import.Register"},
				{"value": 15000, "unitOfMeasure": "Wh"},
				{"value": 15000, "unitOfMeasure": {"unit": "Wh", "multiplier": 1.5}},
				{"value": 15000, "unit": "kWh"},
				{"value": 15000, "unitOfMeasure": {"unit": "W"}},
				{"value": 1, "measurand": "Energy.Active.Net"},
				{"value": 1e306, "unitOfMeasure": {"unit": "kWh"}},
				{"value": 15001, "format": "SignedData"},
				{"value": 21, "measurand": "Temperature", "phase": "L1", "unitOfMeasure": {"unit": "Celsius"}}
			]
		}]
	}`,
}

func TestDecodeOCPPMeterValues(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	ptr := func(v time.Time) *time.Time { return &v }
	row := func(i int, source, metric, unit, ts string, v float64) Row {
		return Row{Index: i, Source: source, Metric: metric, Unit: unit, Time: at(ts), Value: v}
	}
	// want.Rejected messages are substrings of the messages got.
	tests := []struct {
		name    string
		body    string // a key of ocppExamples, or a payload
		want    MeterValues
		wantErr string
	}{
		{
			name: "1.6 periodic",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP16, ConnectorID: 1, TransactionID: "42", Rows: []Row{
				row(0, "CB-0042/1", "energy_import", "Wh", "2025-03-01T10:00:00Z", 15230),
				row(1, "CB-0042/1", "power_import", "W", "2025-03-01T10:00:00Z", 7350.5),
				row(2, "CB-0042/1", "energy_import", "Wh", "2025-03-01T10:01:00Z", 15352),
				row(3, "CB-0042/1", "power_import", "W", "2025-03-01T10:01:00Z", 7320),
			}},
		},
		{
			name: "1.6 transaction contexts",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP16, ConnectorID: 2, TransactionID: "1001",
				Rows: []Row{
					row(0, "CB-0042/2", "energy_import", "Wh", "2025-03-01T08:00:00.123456Z", 1000),
					row(1, "CB-0042/2", "energy_import", "Wh", "2025-03-01T08:30:00Z", 1500),
					row(2, "CB-0042/2", "soc", "%", "2025-03-01T08:30:00Z", 45),
					row(3, "CB-0042/2", "energy_import", "Wh", "2025-03-01T09:00:00Z", 2250),
				},
				Begin: ptr(at("2025-03-01T08:00:00.123456Z")),
				End:   ptr(at("2025-03-01T09:00:00Z")),
			},
		},
		{
			name: "1.6 three phases without total",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP16, ConnectorID: 1, TransactionID: "42", Rows: []Row{
				row(0, "CB-0042/1", "current_import_l1", "A", "2025-03-01T10:05:00Z", 16.1),
				row(1, "CB-0042/1", "current_import_l2", "A", "2025-03-01T10:05:00Z", 16.0),
				row(2, "CB-0042/1", "current_import_l3", "A", "2025-03-01T10:05:00Z", 15.9),
				row(3, "CB-0042/1", "voltage_l1", "V", "2025-03-01T10:05:00Z", 231.2),
				row(4, "CB-0042/1", "voltage_l2", "V", "2025-03-01T10:05:00Z", 230.8),
				row(5, "CB-0042/1", "voltage_l3", "V", "2025-03-01T10:05:00Z", 229.9),
				row(6, "CB-0042/1", "energy_import", "Wh", "2025-03-01T10:05:00Z", 15410),
			}},
		},
		{
			// The per-phase values (even those of no per-phase metric) are
			// dropped silently: indices 0-2, 4 and 6 are in neither list.
			name: "1.6 phases with total",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP16, ConnectorID: 1, Rows: []Row{
				row(3, "CB-0042/1", "power_import", "W", "2025-03-01T10:06:00Z", 11100),
				row(5, "CB-0042/1", "energy_import", "Wh", "2025-03-01T10:06:00Z", 15420),
				row(7, "CB-0042/1", "voltage", "V", "2025-03-01T10:06:00Z", 230.9),
			}},
		},
		{
			name: "1.6 kWh and kW",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP16, ConnectorID: 1, TransactionID: "42", Rows: []Row{
				row(0, "CB-0042/1", "energy_import", "Wh", "2025-03-01T10:10:00Z", 15482),
				row(1, "CB-0042/1", "power_import", "W", "2025-03-01T10:10:00Z", 7360),
				row(2, "CB-0042/1", "power_offered", "W", "2025-03-01T10:10:00Z", 22000),
				row(3, "CB-0042/1", "energy_export", "Wh", "2025-03-01T10:10:00Z", 500),
				row(4, "CB-0042/1", "power_export", "W", "2025-03-01T10:10:00Z", 1250),
			}},
		},
		{
			name: "1.6 defaults and other units",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP16, ConnectorID: 1, Rows: []Row{
				row(0, "CB-0042/1", "energy_import", "Wh", "2025-03-01T10:15:00Z", 15500),
				row(1, "CB-0042/1", "temperature", "degC", "2025-03-01T10:15:00Z", 31.5),
				row(2, "CB-0042/1", "temperature", "degC", "2025-03-01T10:15:00Z", 31.5),
				row(3, "CB-0042/1", "temperature", "degC", "2025-03-01T10:15:00Z", 31.5),
				row(4, "CB-0042/1", "frequency", "Hz", "2025-03-01T10:15:00Z", 49.98),
				row(5, "CB-0042/1", "soc", "%", "2025-03-01T10:15:00Z", 62),
				row(6, "CB-0042/1", "current_import", "A", "2025-03-01T10:15:00Z", 16),
				row(7, "CB-0042/1", "energy_import", "Wh", "2025-03-01T10:15:00Z", 16),
			}},
		},
		{
			name: "1.6 signed data",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP16, ConnectorID: 1, TransactionID: "42",
				Rows: []Row{row(1, "CB-0042/1", "power_import", "W", "2025-03-01T10:20:00Z", 7200)},
				Rejected: []RowError{{Index: 0, Code: CodeSignedData,
					Message: `meterValue[0].sampledValue[0]: ocmf: malformed: the value is not an OCMF record ("OCMF|…"), in plain text, base64 or hex`}},
			},
		},
		{
			name: "1.6 unknown measurands",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP16, ConnectorID: 1,
				Rows: []Row{row(3, "CB-0042/1", "energy_import", "Wh", "2025-03-01T10:25:00Z", 15600)},
				Rejected: []RowError{
					{Index: 0, Code: CodeUnknownMetric, Message: `meterValue[0].sampledValue[0]: measurand "Power.Factor"`},
					{Index: 1, Code: CodeUnknownMetric, Message: `"Energy.Reactive.Import.Register"`},
					{Index: 2, Code: CodeUnknownMetric, Message: `"Current.Offered"`},
				},
			},
		},
		{
			name: "1.6 charge box meter",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP16, ConnectorID: 0, Rows: []Row{
				row(0, "CB-0042", "energy_import", "Wh", "2025-03-01T10:30:00Z", 982431),
				row(1, "CB-0042", "frequency", "Hz", "2025-03-01T10:30:00Z", 50.01),
			}},
		},
		{
			name: "1.6 bad sampled values",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP16, ConnectorID: 1, TransactionID: "42",
				Rows: []Row{
					row(13, "CB-0042/1", "frequency", "Hz", "2025-03-01T10:35:00Z", 50.02),
					row(19, "CB-0042/1", "energy_import", "Wh", "2025-03-01T10:38:00Z", 15730),
					row(21, "CB-0042/1", "current_import_l1", "A", "2025-03-01T10:38:00Z", 15.8),
				},
				Rejected: []RowError{
					{Index: 0, Code: CodeUnknownUnit, Message: `meterValue[0].sampledValue[0]: unit "Wh" is not a unit of Power.Active.Import`},
					{Index: 1, Code: CodeMalformed, Message: `meterValue[0].sampledValue[1]: value "abc" is not a decimal number`},
					{Index: 2, Code: CodeMalformed, Message: `meterValue[0].sampledValue[2]: value: got a number, want a string`},
					{Index: 3, Code: CodeMalformed, Message: `meterValue[0].sampledValue[3]: measurand: got a number`},
					{Index: 4, Code: CodeMalformed, Message: `meterValue[0].sampledValue[4]: got a string, want an object`},
					{Index: 5, Code: CodeUnsupportedPhase, Message: `meterValue[0].sampledValue[5]: phase "N" of Current.Import`},
					{Index: 6, Code: CodeUnsupportedPhase, Message: `phase "L1-L2" of Voltage`},
					{Index: 7, Code: CodeUnsupportedPhase, Message: `phase "L1" of Energy.Active.Import.Register has no metric; send the phase-less total`},
					{Index: 8, Code: CodeUnsupportedPhase, Message: `phase "L4" is not an OCPP phase`},
					{Index: 9, Code: CodeMalformed, Message: `value "NaN" is not a decimal number`},
					{Index: 10, Code: CodeInvalidValue, Message: `value 1e400 is out of range`},
					{Index: 11, Code: CodeMalformed, Message: `unitOfMeasure is OCPP 2.0.1`},
					{Index: 12, Code: CodeMalformed, Message: `format "Compressed" is neither Raw nor SignedData`},
					{Index: 14, Code: CodeMalformed, Message: `meterValue[0].sampledValue[14]: value is missing`},
					{Index: 15, Code: CodeMalformed, Message: `unit: got a number, want a string`},
					{Index: 16, Code: CodeMalformed, Message: `meterValue[1].sampledValue[0]: meterValue[1].timestamp "2025-03-01 10:36:00" is not an RFC 3339 time`},
					{Index: 17, Code: CodeMalformed, Message: `meterValue[1].sampledValue[1]: meterValue[1].timestamp "2025-03-01 10:36:00"`},
					{Index: 18, Code: CodeMalformed, Message: `meterValue[2].sampledValue[0]: meterValue[2].timestamp is missing`},
					{Index: 20, Code: CodeMalformed, Message: `meterValue[4].sampledValue[1]: value "oops"`},
				},
			},
		},
		{
			name: "2.0.1 periodic",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP201, ConnectorID: 1, Rows: []Row{
				row(0, "CB-0042/1", "energy_import", "Wh", "2025-03-01T11:00:00Z", 15230),
				row(1, "CB-0042/1", "power_import", "W", "2025-03-01T11:00:00Z", 7350.5),
				row(2, "CB-0042/1", "current_import_l1", "A", "2025-03-01T11:00:00Z", 16.1),
				row(3, "CB-0042/1", "current_import_l2", "A", "2025-03-01T11:00:00Z", 16.0),
				row(4, "CB-0042/1", "current_import_l3", "A", "2025-03-01T11:00:00Z", 15.9),
			}},
		},
		{
			name: "2.0.1 multipliers",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP201, ConnectorID: 2, Rows: []Row{
				row(0, "CB-0042/2", "energy_import", "Wh", "2025-03-01T11:05:00Z", 15482),
				row(1, "CB-0042/2", "power_import", "W", "2025-03-01T11:05:00Z", 7360),
				row(2, "CB-0042/2", "voltage", "V", "2025-03-01T11:05:00Z", 230),
				row(3, "CB-0042/2", "energy_export", "Wh", "2025-03-01T11:05:00Z", 15482),
				row(4, "CB-0042/2", "energy_import", "Wh", "2025-03-01T11:05:00Z", 15500),
			}},
		},
		{
			name: "2.0.1 signed meter value",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP201, ConnectorID: 1, Rows: []Row{
				row(0, "CB-0042/1", "energy_import", "Wh", "2025-03-01T11:10:00Z", 15612),
			}, Signed: []SignedValue{{Index: 0, Value: ocmf.Signed{Data: "T0NNRnx7IkZWIjoiMS4wIiwiUkQiOlt7IlJWIjoxNS42MTJ9XX0=",
				Context: "Sample.Periodic", EncodingMethod: "OCMF", SigningMethod: "ECDSA-secp256r1-SHA256", PublicKey: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"}}}},
		},
		{
			name: "2.0.1 transaction begin with SoC",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP201, ConnectorID: 1,
				Rows: []Row{
					row(0, "CB-0042/1", "energy_import", "Wh", "2025-03-01T09:15:00Z", 15000),
					row(1, "CB-0042/1", "soc", "%", "2025-03-01T09:15:00Z", 23),
				},
				Begin: ptr(at("2025-03-01T09:15:00Z")),
			},
		},
		{
			name: "2.0.1 main meter",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP201, ConnectorID: 0, Rows: []Row{
				row(0, "CB-0042", "energy_import", "Wh", "2025-03-01T11:20:00Z", 982500),
			}},
		},
		{
			name: "2.0.1 bad sampled values",
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP201, ConnectorID: 1,
				Rows: []Row{row(7, "CB-0042/1", "energy_import", "Wh", "2025-03-01T11:25:00Z", 15001)},
				Rejected: []RowError{
					{Index: 0, Code: CodeMalformed, Message: `meterValue[0].sampledValue[0]: value: got a string, want a number`},
					{Index: 1, Code: CodeMalformed, Message: `unitOfMeasure: got a string, want an object`},
					{Index: 2, Code: CodeMalformed, Message: `unitOfMeasure.multiplier: 1.5 is not a 32-bit integer`},
					{Index: 3, Code: CodeMalformed, Message: `unit is OCPP 1.6`},
					{Index: 4, Code: CodeUnknownUnit, Message: `unit "W" is not a unit of Energy.Active.Import.Register`},
					{Index: 5, Code: CodeUnknownMetric, Message: `measurand "Energy.Active.Net"`},
					{Index: 6, Code: CodeInvalidValue, Message: `out of range`},
					{Index: 8, Code: CodeUnsupportedPhase, Message: `phase "L1" of Temperature`},
				},
			},
		},
		{
			name: "vendor extras and null optional fields",
			body: `{"connectorId": 3, "transactionId": null, "vendorId": "ACME",
				"meterValue": [{"timestamp": "2025-03-01T12:00:00Z", "vendorSeq": 7,
					"sampledValue": [{"value": "1.5", "unit": "kWh", "measurand": null, "phase": "", "x-acme": [1, 2]}]}]}`,
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP16, ConnectorID: 3, Rows: []Row{
				row(0, "CB-0042/3", "energy_import", "Wh", "2025-03-01T12:00:00Z", 1500),
			}},
		},
		{
			name: "empty meterValue",
			body: `{"evseId": 4, "meterValue": []}`,
			want: MeterValues{ChargeBoxID: "CB-0042", Version: OCPP201, ConnectorID: 4},
		},
		{name: "not JSON", body: `{"connectorId": 1, "meterValue": [`, wantErr: "malformed JSON"},
		{name: "empty body", body: ``, wantErr: "malformed JSON"},
		{name: "trailing garbage", body: `{"connectorId": 1, "meterValue": []} x`, wantErr: "malformed JSON"},
		{name: "CALL frame instead of payload", body: `[2, "19223201", "MeterValues", {"connectorId": 1, "meterValue": []}]`, wantErr: "payload: got an array, want an object"},
		{name: "null payload", body: `null`, wantErr: "payload: got null"},
		{name: "neither id", body: `{"meterValue": []}`, wantErr: "neither connectorId (OCPP 1.6) nor evseId (OCPP 2.0.1)"},
		{name: "both ids", body: `{"connectorId": 1, "evseId": 1, "meterValue": []}`, wantErr: "both connectorId (OCPP 1.6) and evseId (OCPP 2.0.1)"},
		{name: "negative connectorId", body: `{"connectorId": -1, "meterValue": []}`, wantErr: "connectorId: -1 is negative"},
		{name: "negative evseId", body: `{"evseId": -2, "meterValue": []}`, wantErr: "evseId: -2 is negative"},
		{name: "connectorId a string", body: `{"connectorId": "1", "meterValue": []}`, wantErr: "connectorId: got a string, want a non-negative integer"},
		{name: "evseId a fraction", body: `{"evseId": 1.5, "meterValue": []}`, wantErr: "evseId: 1.5 is not a 32-bit integer"},
		{name: "connectorId too large", body: `{"connectorId": 4294967296, "meterValue": []}`, wantErr: "not a 32-bit integer"},
		{name: "transactionId a string", body: `{"connectorId": 1, "transactionId": "42", "meterValue": []}`, wantErr: "transactionId: got a string, want an integer"},
		{name: "missing meterValue", body: `{"connectorId": 1, "transactionId": 42}`, wantErr: "meterValue is missing"},
		{name: "null meterValue", body: `{"evseId": 1, "meterValue": null}`, wantErr: "meterValue is missing"},
		{name: "meterValue an object", body: `{"connectorId": 1, "meterValue": {"timestamp": "2025-03-01T12:00:00Z"}}`, wantErr: "meterValue: got an object, want an array"},
		{name: "meterValue element a string", body: `{"connectorId": 1, "meterValue": ["2025-03-01T12:00:00Z"]}`, wantErr: "meterValue[0]: got a string, want an object"},
		{name: "sampledValue missing", body: `{"connectorId": 1, "meterValue": [{"timestamp": "2025-03-01T12:00:00Z"}]}`, wantErr: "meterValue[0].sampledValue is missing"},
		{name: "sampledValue an object", body: `{"evseId": 1, "meterValue": [{"timestamp": "2025-03-01T12:00:00Z", "sampledValue": {"value": 1}}]}`, wantErr: "meterValue[0].sampledValue: got an object, want an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := tt.body
			if body == "" && tt.wantErr == "" {
				body = ocppExamples[tt.name]
			}
			got, err := DecodeOCPPMeterValues("CB-0042", []byte(body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			ocppCheckMeterValues(t, got, tt.want)
		})
	}
}

// ocppCheckMeterValues compares got with want: values to a relative 1e-12
// (temperature conversions are not exact), and rejection messages as
// substrings.
func ocppCheckMeterValues(t *testing.T, got, want MeterValues) {
	t.Helper()
	g, w := got, want
	if g.RejectedTotal != len(g.Rejected) {
		t.Errorf("RejectedTotal %d, but %d listed (fewer than MaxRejected)", g.RejectedTotal, len(g.Rejected))
	}
	g.Rows, w.Rows, g.Rejected, w.Rejected, g.RejectedTotal = nil, nil, nil, nil, 0
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %+v\nwant %+v", g, w)
	}
	ocppCheckList(t, OCPPMeterValueList{Rows: got.Rows, Rejected: got.Rejected}, OCPPMeterValueList{Rows: want.Rows, Rejected: want.Rejected})
}

func ocppCheckList(t *testing.T, got, want OCPPMeterValueList) {
	t.Helper()
	if len(got.Rows) != len(want.Rows) {
		t.Errorf("got %d rows, want %d:\n%+v", len(got.Rows), len(want.Rows), got.Rows)
	} else {
		for i := range got.Rows {
			g, w := got.Rows[i], want.Rows[i]
			close := math.Abs(g.Value-w.Value) <= 1e-12*math.Max(1, math.Abs(w.Value))
			g.Value, w.Value = 0, 0
			if !close || g != w {
				t.Errorf("row %d: got %+v (value %v), want %+v (value %v)", i, got.Rows[i], got.Rows[i].Value, want.Rows[i], want.Rows[i].Value)
			}
		}
	}
	if len(got.Rejected) != len(want.Rejected) {
		t.Errorf("got %d rejections, want %d:\n%+v", len(got.Rejected), len(want.Rejected), got.Rejected)
		return
	}
	for i := range got.Rejected {
		g, w := got.Rejected[i], want.Rejected[i]
		if g.Index != w.Index || g.Code != w.Code || !strings.Contains(g.Message, w.Message) {
			t.Errorf("rejection %d: got %+v, want %+v", i, g, w)
		}
		if !strings.HasPrefix(g.Message, "meterValue[") {
			t.Errorf("rejection %d: message %q does not name its sampledValue", i, g.Message)
		}
	}
	if !reflect.DeepEqual(got.Begin, want.Begin) || !reflect.DeepEqual(got.End, want.End) {
		t.Errorf("begin, end = %v, %v, want %v, %v", got.Begin, got.End, want.Begin, want.End)
	}
}

func TestDecodeOCPPMeterValuesEmptyChargeBox(t *testing.T) {
	t.Parallel()
	if _, err := DecodeOCPPMeterValues("", []byte(ocppExamples["1.6 periodic"])); err == nil {
		t.Fatal("an empty charge box id was accepted")
	}
}

func TestDecodeOCPPMeterValueList(t *testing.T) {
	t.Parallel()
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		v = v.UTC()
		return &v
	}
	tests := []struct {
		name    string
		version OCPPVersion
		body    string // the message the list is taken from
		field   string // the list's field in it
		want    OCPPMeterValueList
		wantErr string
	}{
		{
			name:    "1.6 StopTransaction.req transactionData",
			version: OCPP16,
			body: `{
				"idTag": "04A2B3C4D5E6F7",
				"meterStop": 15900,
				"timestamp": "2025-03-01T12:00:00Z",
				"transactionId": 42,
				"reason": "EVDisconnected",
				"transactionData": [
					{"timestamp": "2025-03-01T09:00:00Z", "sampledValue": [
						{"value": "15000", "context": "Transaction.Begin", "unit": "Wh"}
					]},
					{"timestamp": "2025-03-01T12:00:00Z", "sampledValue": [
						{"value": "15.9", "context": "Transaction.End", "unit": "kWh"},
						{"value": "80", "context": "Transaction.End", "measurand": "SoC", "location": "EV", "unit": "Percent"}
					]}
				]
			}`,
			field: "transactionData",
			want: OCPPMeterValueList{
				Rows: []Row{
					{Index: 0, Source: "CB-0042/1", Metric: "energy_import", Unit: "Wh", Time: *at("2025-03-01T09:00:00Z"), Value: 15000},
					{Index: 1, Source: "CB-0042/1", Metric: "energy_import", Unit: "Wh", Time: *at("2025-03-01T12:00:00Z"), Value: 15900},
					{Index: 2, Source: "CB-0042/1", Metric: "soc", Unit: "%", Time: *at("2025-03-01T12:00:00Z"), Value: 80},
				},
				Begin: at("2025-03-01T09:00:00Z"),
				End:   at("2025-03-01T12:00:00Z"),
			},
		},
		{
			name:    "2.0.1 TransactionEvent meterValue",
			version: OCPP201,
			body: `{
				"eventType": "Ended",
				"timestamp": "2025-03-01T12:00:05Z",
				"triggerReason": "EVCommunicationLost",
				"seqNo": 17,
				"transactionInfo": {"transactionId": "a3f1c9e0-42", "stoppedReason": "EVDisconnected"},
				"evse": {"id": 1, "connectorId": 1},
				"meterValue": [{"timestamp": "2025-03-01T12:00:00Z", "sampledValue": [
					{"value": 15.9, "context": "Transaction.End", "unitOfMeasure": {"unit": "kWh"}},
					{"value": 0, "context": "Transaction.End", "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}}
				]}]
			}`,
			field: "meterValue",
			want: OCPPMeterValueList{
				Rows: []Row{
					{Index: 0, Source: "CB-0042/1", Metric: "energy_import", Unit: "Wh", Time: *at("2025-03-01T12:00:00Z"), Value: 15900},
					{Index: 1, Source: "CB-0042/1", Metric: "power_import", Unit: "W", Time: *at("2025-03-01T12:00:00Z"), Value: 0},
				},
				End: at("2025-03-01T12:00:00Z"),
			},
		},
		{
			name:    "unknown version",
			version: "1.5",
			body:    `{"meterValue": []}`,
			field:   "meterValue",
			wantErr: `unknown OCPP version "1.5"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var msg map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.body), &msg); err != nil {
				t.Fatal(err)
			}
			var list []json.RawMessage
			if err := json.Unmarshal(msg[tt.field], &list); err != nil {
				t.Fatal(err)
			}
			got, err := DecodeOCPPMeterValueList(tt.version, "CB-0042/1", list)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			ocppCheckList(t, got, tt.want)
		})
	}
}

func TestMeterValuesSourceExternalID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		connector int
		want      string
	}{
		{0, "CB-0042"},
		{1, "CB-0042/1"},
		{12, "CB-0042/12"},
	}
	for _, tt := range tests {
		if got := (MeterValues{ChargeBoxID: "CB-0042", ConnectorID: tt.connector}).SourceExternalID(); got != tt.want {
			t.Errorf("connector %d: got %q, want %q", tt.connector, got, tt.want)
		}
	}
}

func TestOCPPScale(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text  string
		exp10 int
		want  float64
	}{
		{"12.345", 3, 12345},
		{"5.", 3, 5000},
		{"+.5e3", 3, 500000},
		{"-1.5E-3", 3, -1.5},
		{"2300", -1, 230},
		{"0e99999999999", 3, 0},
		{"0.1", 0, 0.1},
	}
	for _, tt := range tests {
		got, err := ocppScale(tt.text, tt.exp10)
		if err != nil || got != tt.want {
			t.Errorf("ocppScale(%q, %d) = %v, %v, want %v", tt.text, tt.exp10, got, err, tt.want)
		}
	}
}

func TestPhaseMetrics(t *testing.T) {
	t.Parallel()
	// Every per-phase metric the decoder can produce is listed, and only
	// those.
	produced := map[string]bool{}
	for _, m := range ocppMeasurands {
		for phase := range ocppPhases {
			if name, ok := ocppPhaseMetric(m.name, phase); ok {
				produced[name] = true
			}
		}
	}
	listed := map[string]bool{}
	for _, name := range PhaseMetrics {
		listed[name] = true
	}
	if !reflect.DeepEqual(produced, listed) || len(PhaseMetrics) != len(listed) {
		t.Errorf("produced %v, listed %v", produced, PhaseMetrics)
	}
}

func TestValidateChargeBox(t *testing.T) {
	for _, tt := range []struct {
		box  string
		want bool
	}{
		{"CB-0042", true},
		{"Wallbox_Ä-7", true},
		{strings.Repeat("x", 100), true},
		{"", false},
		{strings.Repeat("x", 101), false},
		{"CB 1", false},
		{"CB/1", false},
		{"CB-\a", false},
		{"CB-\u0085", false}, // C1 control
		{"CB-\u00a0", false}, // no-break space
		{"CB-\xff", false},   // not UTF-8
	} {
		if err := ValidateChargeBox(tt.box); (err == nil) != tt.want {
			t.Errorf("ValidateChargeBox(%q) = %v, want valid %v", tt.box, err, tt.want)
		}
	}
}
