package ocmf

import (
	"crypto/elliptic"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	key := newKey(t, elliptic.P256())
	pub := publicKeyHex(t, key)
	der, _ := hex.DecodeString(pub)
	record := signRecord(t, key, samplePayload)
	beginOnly := `{"FV":"1.0","PG":"T1","MS":"X","IS":false,"IT":"NONE","RD":[{"TM":"2026-03-01T12:00:00,000+0000 S","RV":0.5,"RU":"kWh"}]}`
	noTX := signRecord(t, key, beginOnly)

	s16, ok := FromOCPP16(record, "SignedData", "Transaction.End")
	if !ok {
		t.Fatal("SignedData not taken")
	}
	if _, ok := FromOCPP16("12.5", "Raw", "Sample.Periodic"); ok {
		t.Fatal("a Raw value taken as signed")
	}
	var smv SignedMeterValue
	if err := json.Unmarshal([]byte(`{"signedMeterData":"`+base64.StdEncoding.EncodeToString([]byte(record))+`","signingMethod":"ECDSA-secp256r1-SHA256","encodingMethod":"OCMF","publicKey":"`+base64.StdEncoding.EncodeToString(der)+`"}`), &smv); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		signed     Signed
		registered string
		want       Status
		nature     Nature
		wantErr    error
	}{
		{name: "1.6 with the registered key", signed: s16, registered: pub, want: Verified, nature: NatureEnd},
		{name: "1.6 without a key", signed: s16, want: Unsigned, nature: NatureEnd},
		{name: "1.6 in hex", signed: Signed{Data: hex.EncodeToString([]byte(record))}, registered: pub, want: Verified, nature: NatureEnd},
		{name: "2.0.1 in base64 with its key", signed: FromOCPP201(smv, "Transaction.End"), registered: "", want: Verified, nature: NatureEnd},
		{name: "2.0.1's key before the registered one", signed: FromOCPP201(smv, ""), registered: publicKeyHex(t, newKey(t, elliptic.P256())), want: Verified, nature: NatureEnd},
		{name: "2.0.1 in plain text", signed: FromOCPP201(SignedMeterValue{SignedMeterData: record, EncodingMethod: "OCMF"}, ""), registered: pub, want: Verified, nature: NatureEnd},
		{name: "nature from the context", signed: Signed{Data: noTX, Context: "Transaction.Begin"}, registered: pub, want: Verified, nature: NatureStart},
		{name: "periodic without TX", signed: Signed{Data: noTX, Context: "Sample.Periodic"}, registered: pub, want: Verified, nature: NatureIntermediate},
		{name: "other encoding method", signed: FromOCPP201(SignedMeterValue{SignedMeterData: "AAAA", EncodingMethod: "EDL40"}, "Transaction.Begin"), want: Unsupported, nature: NatureStart},
		{name: "not a record", signed: Signed{Data: "12.5"}, wantErr: ErrMalformed},
		{name: "base64 of something else", signed: Signed{Data: base64.StdEncoding.EncodeToString([]byte("hello"))}, wantErr: ErrMalformed},
		{name: "encoded too large", signed: Signed{Data: strings.Repeat("A", MaxEncodedBytes+1)}, wantErr: ErrTooLarge},
		{name: "plain too large", signed: Signed{Data: "OCMF|" + strings.Repeat(" ", MaxRecordBytes)}, wantErr: ErrTooLarge},
		{name: "decoded too large", signed: Signed{Data: base64.StdEncoding.EncodeToString([]byte("OCMF|" + strings.Repeat(" ", MaxRecordBytes)))}, wantErr: ErrTooLarge},
		{name: "tampered", signed: Signed{Data: strings.Replace(record, "2947.15", "2947.16", 1)}, registered: pub, want: Invalid, nature: NatureEnd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := Check(tt.signed, tt.registered)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Verification.Status != tt.want || res.Nature != tt.nature {
				t.Fatalf("%+v nature %s, want %s %s", res.Verification, res.Nature, tt.want, tt.nature)
			}
			if res.Record == nil && tt.want != Unsupported {
				t.Fatal("no record")
			}
		})
	}
}

func TestBuildOCPI(t *testing.T) {
	t.Parallel()
	key := newKey(t, elliptic.P256())
	pub := publicKeyHex(t, key)
	reading := func(tx string, rv string) string {
		return `{"FV":"1.0","PG":"T1","MS":"X","IS":false,"IT":"NONE","RD":[{"TM":"2026-03-01T12:00:00,000+0000 S","TX":"` + tx + `","RV":` + rv + `,"RU":"kWh"}]}`
	}
	begin := signRecord(t, key, reading("B", "10.5"))
	middle := signRecord(t, key, `{"FV":"1.0","PG":"T2","MS":"X","IS":false,"IT":"NONE","RD":[{"TM":"2026-03-01T12:30:00,000+0000 S","RV":11,"RU":"kWh"}]}`)
	end := signRecord(t, key, samplePayload)
	got, err := BuildOCPI([]Signed{{Data: begin}, {Data: middle, Context: "Sample.Periodic"}, {Data: end}}, pub)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		EncodingMethod string `json:"encoding_method"`
		PublicKey      string `json:"public_key"`
		SignedValues   []struct {
			Nature, PlainData, SignedData string
		} `json:"signed_values"`
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if want.EncodingMethod != "OCMF" || want.PublicKey != pub || len(want.SignedValues) != 3 {
		t.Fatalf("%s", b)
	}
	for i, w := range []struct{ nature, plain, signed string }{
		{"Start", "10.5 kWh 2026-03-01T12:00:00,000+0000 S", begin},
		{"Intermediate", "11 kWh 2026-03-01T12:30:00,000+0000 S", middle},
		{"End", "2947.15 kWh 2018-07-24T15:02:11,500+0200 S", end},
	} {
		sv := got.SignedValues[i]
		if string(sv.Nature) != w.nature || sv.PlainData != w.plain || sv.SignedData != w.signed {
			t.Errorf("signed value %d: %+v, want %+v", i, sv, w)
		}
	}
	if !strings.Contains(string(b), `"signed_values":[{"nature":"Start","plain_data":"10.5 kWh`) {
		t.Errorf("JSON names: %s", b)
	}

	// Values checked with different keys: no single public_key.
	other := newKey(t, elliptic.P256())
	mixed, err := BuildOCPI([]Signed{{Data: begin}, {Data: signRecord(t, other, samplePayload), PublicKey: publicKeyHex(t, other)}}, pub)
	if err != nil || mixed.PublicKey != "" || len(mixed.SignedValues) != 2 {
		t.Fatalf("mixed keys: %+v, %v", mixed, err)
	}

	// OCPI's signed_data holds 5,000 characters: a longer record is an
	// error naming it, not a truncated value.
	long := signRecord(t, key, `{"TT":"`+strings.Repeat("x", 5000)+`","RD":[{"TM":"2026-03-01T12:00:00Z S","RV":1,"RU":"kWh"}]}`)
	if _, err := BuildOCPI([]Signed{{Data: begin}, {Data: long}}, pub); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "signed value 1") {
		t.Fatalf("long record: %v", err)
	}
	if _, err := BuildOCPI([]Signed{{Data: "garbage"}}, pub); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "signed value 0") {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := BuildOCPI([]Signed{{Data: "x", EncodingMethod: "EDL40"}}, pub); err == nil {
		t.Fatal("another encoding in an OCMF signed_data")
	}
}
