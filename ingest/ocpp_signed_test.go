package ingest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"
)

// signedRecord is an OCMF record of a begin reading at 2935.6 kWh, signed
// with a fresh P-256 key.
func signedRecord(t *testing.T) string {
	t.Helper()
	payload := `{"FV":"1.0","GI":"TEST","PG":"T1","MS":"M-1","RD":[{"TM":"2025-03-01T10:19:30,000+0000 S","TX":"B","RV":2935.6,"RU":"kWh","ST":"G"}]}`
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(payload))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return "OCMF|" + payload + `|{"SA":"ECDSA-secp256r1-SHA256","SD":"` + hex.EncodeToString(sig) + `"}`
}

// An OCPP 1.6 SignedData value is kept verbatim and its reading written as
// the energy register at the meter's time, unless the meterValue has a
// plain register value of its own.
func TestDecodeOCPP16SignedData(t *testing.T) {
	row := func(i int, source, metric, unit, ts string, v float64) Row {
		at, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			t.Fatal(err)
		}
		return Row{Index: i, Source: source, Metric: metric, Unit: unit, Time: at.UTC(), Value: v}
	}
	rec := signedRecord(t)
	v, _ := json.Marshal(rec)
	body := `{"connectorId":1,"transactionId":7,"meterValue":[{"timestamp":"2025-03-01T10:20:00Z","sampledValue":[
		{"value":` + string(v) + `,"context":"Transaction.Begin","format":"SignedData"}]}]}`
	got, err := DecodeOCPPMeterValues("CB-1", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Date(2025, 3, 1, 10, 20, 0, 0, time.UTC)
	ocppCheckMeterValues(t, got, MeterValues{ChargeBoxID: "CB-1", Version: OCPP16, ConnectorID: 1, TransactionID: "7", Begin: &begin, Signed: got.Signed,
		Rows: []Row{row(0, "CB-1/1", "energy_import", "Wh", "2025-03-01T10:19:30Z", 2935600)}})
	if len(got.Signed) != 1 || got.Signed[0].Value.Data != rec || got.Signed[0].Value.Context != "Transaction.Begin" {
		t.Fatalf("signed values: %+v", got.Signed)
	}

	withPlain := `{"connectorId":1,"meterValue":[{"timestamp":"2025-03-01T10:20:00Z","sampledValue":[
		{"value":` + string(v) + `,"format":"SignedData"},{"value":"2935601"}]}]}`
	got, err = DecodeOCPPMeterValues("CB-1", []byte(withPlain))
	if err != nil {
		t.Fatal(err)
	}
	ocppCheckMeterValues(t, got, MeterValues{ChargeBoxID: "CB-1", Version: OCPP16, ConnectorID: 1, Signed: got.Signed,
		Rows: []Row{row(1, "CB-1/1", "energy_import", "Wh", "2025-03-01T10:20:00Z", 2935601)}})
	if len(got.Signed) != 1 {
		t.Fatalf("signed values: %+v", got.Signed)
	}

	// A record past ocmf's size limit, or with no energy reading, is refused.
	big, _ := json.Marshal("OCMF|" + string(make([]byte, 20<<10)))
	noEnergy, _ := json.Marshal(`OCMF|{"FV":"1.0","RD":[{"TM":"2025-03-01T10:19:30,000+0000 S","TX":"B","RV":1,"RU":"mOhm"}]}|{}`)
	bad := `{"connectorId":1,"meterValue":[{"timestamp":"2025-03-01T10:20:00Z","sampledValue":[
		{"value":` + string(big) + `,"format":"SignedData"},{"value":` + string(noEnergy) + `,"format":"SignedData"},
		{"value":"x","format":"SignedData","measurand":"Voltage"}]}]}`
	got, err = DecodeOCPPMeterValues("CB-1", []byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	ocppCheckMeterValues(t, got, MeterValues{ChargeBoxID: "CB-1", Version: OCPP16, ConnectorID: 1,
		Rejected: []RowError{
			{Index: 0, Code: CodeSignedData, Message: "too large"},
			{Index: 1, Code: CodeSignedData, Message: "no energy reading"},
			{Index: 2, Code: CodeSignedData, Message: "only the phase-less Energy.Active.Import.Register"},
		}})
	if len(got.Signed) != 0 {
		t.Fatalf("refused values kept: %+v", got.Signed)
	}
}

// An OCPP 2.0.1 signedMeterValue is kept beside the plain value.
func TestDecodeOCPP201SignedMeterValue(t *testing.T) {
	got, err := DecodeOCPPMeterValues("CB-0042", []byte(ocppExamples["2.0.1 signed meter value"]))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 1 || len(got.Signed) != 1 || got.Signed[0].Value.EncodingMethod != "OCMF" ||
		got.Signed[0].Value.PublicKey == "" || got.Signed[0].Value.Context != "Sample.Periodic" {
		t.Fatalf("rows %+v, signed %+v", got.Rows, got.Signed)
	}
}
