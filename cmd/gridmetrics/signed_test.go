package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/sessions"
)

// ocmfRecord signs an OCMF record of one energy reading (kWh) with key,
// under algorithm alg; tamper changes one byte of the payload after
// signing.
func ocmfRecord(t *testing.T, key *ecdsa.PrivateKey, alg, reason string, at time.Time, kwh string, tamper bool) string {
	t.Helper()
	payload := fmt.Sprintf(`{"FV":"1.0","GI":"TEST","PG":"T1","MS":"M-1","RD":[{"TM":"%s S","TX":%q,"RV":%s,"RU":"kWh","ST":"G"}]}`,
		at.UTC().Format("2006-01-02T15:04:05,000-0700"), reason, kwh)
	digest := sha256.Sum256([]byte(payload))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	if tamper {
		payload = strings.Replace(payload, `"MS":"M-1"`, `"MS":"M-2"`, 1)
	}
	return "OCMF|" + payload + `|{"SA":"` + alg + `","SD":"` + hex.EncodeToString(sig) + `"}`
}

// TestSignedMeterValuesEndToEnd drives OCPP 1.6 transactions with signed
// meter values (OCMF) through the HTTP OCPP routes of the real server: a
// Begin record in MeterValues, an End record in StopTransaction's
// transactionData, checked with the key registered on the charge box
// through PUT /v1/sources/{id}/ocmf-public-key. A
// verified session takes its energy from the signed readings and its CDR
// carries them; a tampered record makes the session invalid; a curve not
// checked here makes it unsupported.
func TestSignedMeterValuesEndToEnd(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	r := e.admin.do("POST", "/v1/sources", `{"external_id":"CB-SIG","kind":"charger","site_id":"depot-1","timezone":"Europe/Berlin",
		"metadata":{"location_id":"LOC-1","address":"Hauptstr. 1","city":"Berlin","country":"DEU","latitude":"52.520000",
		"longitude":"13.405000","connector_standard":"IEC_62196_T2","connector_format":"SOCKET","connector_power_type":"AC_3_PHASE"}}`)
	expect(t, "create charger", r, 201, "")
	box := r.data()["id"].(string)
	// The charge box's key, through its route: checked, bounded, admin only.
	keyPath := "/v1/sources/" + box + "/ocmf-public-key"
	expect(t, "key of another scope", e.ingester.do("PUT", keyPath, `{"public_key":"00"}`), 403, "FORBIDDEN")
	expect(t, "not a key", e.admin.do("PUT", keyPath, `{"public_key":"c2FsdA=="}`), 400, "VALIDATION_ERROR")
	expect(t, "oversized key", e.admin.do("PUT", keyPath, fmt.Sprintf(`{"public_key":%q}`, strings.Repeat("ab", 4<<10))), 400, "VALIDATION_ERROR")
	expect(t, "key of an unknown source", e.admin.do("PUT", "/v1/sources/src_nope/ocmf-public-key",
		fmt.Sprintf(`{"public_key":%q}`, hex.EncodeToString(der))), 404, "NOT_FOUND")
	expect(t, "register key", e.admin.do("PUT", keyPath, fmt.Sprintf(`{"public_key":%q}`, hex.EncodeToString(der))), 204, "")
	if got := dig(e.reader.do("GET", keyPath, "").Body, "data", "public_key"); got != hex.EncodeToString(der) {
		t.Fatalf("registered key: %v", got)
	}
	e.assignTariff("", "CB-SIG")
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Hour)

	const p256, k256 = "ECDSA-secp256r1-SHA256", "ECDSA-secp256k1-SHA256"
	cases := []struct {
		name      string
		connector int
		endAlg    string
		tamper    bool
		state     string
		energy    string
	}{
		// Signed 2.000 → 9.500 kWh, where the register readings say 2 → 12
		// kWh (the signed Begin reading, a plain End register value).
		{"verified", 1, p256, false, "verified", "7.5"},
		{"tampered", 2, p256, true, "invalid", "10"},
		{"unsupported curve", 3, k256, false, "unsupported", "7.5"},
	}
	for _, c := range cases {
		start := fmt.Sprintf(`{"connectorId":%d,"idTag":"04A1B2C3","meterStart":1000,"timestamp":%q}`, c.connector, rfc(t0))
		r := e.ingester.do("POST", "/v1/ocpp/CB-SIG/start-transaction", start)
		expect(t, c.name+": start transaction", r, 200, "")
		txID := int64(dig(r.Body, "data", "ocpp", "transactionId").(float64))
		id := dig(r.Body, "data", "session", "id").(string)

		begin, _ := json.Marshal(ocmfRecord(t, key, p256, "B", t0, "2.000", false))
		mv := fmt.Sprintf(`{"connectorId":%d,"transactionId":%d,"meterValue":[{"timestamp":%q,"sampledValue":[
			{"value":%s,"context":"Transaction.Begin","format":"SignedData"},{"value":"11","measurand":"Power.Active.Import","unit":"kW"}]}]}`,
			c.connector, txID, rfc(t0), begin)
		r = e.ingester.do("POST", "/v1/ocpp/CB-SIG/meter-values", mv)
		expect(t, c.name+": meter values", r, 200, "")
		if dig(r.Body, "data", "accepted") != 2.0 {
			t.Fatalf("%s: meter values: %v", c.name, r.Body)
		}

		end, _ := json.Marshal(ocmfRecord(t, key, c.endAlg, "E", t0.Add(time.Hour), "9.500", c.tamper))
		stop := fmt.Sprintf(`{"transactionId":%d,"meterStop":12000,"timestamp":%q,"transactionData":[{"timestamp":%q,
			"sampledValue":[{"value":%s,"context":"Transaction.End","format":"SignedData"},{"value":"12000","context":"Transaction.End"}]}]}`,
			txID, rfc(t0.Add(time.Hour)), rfc(t0.Add(time.Hour)), end)
		r = e.ingester.do("POST", "/v1/ocpp/CB-SIG/stop-transaction", stop)
		expect(t, c.name+": stop transaction", r, 200, "")

		deadline := time.Now().Add(15 * time.Second)
		var d map[string]any
		for {
			r = e.billing.do("GET", "/v1/sessions/"+id, "")
			expect(t, c.name+": get session", r, 200, "")
			if d = r.data(); d["status"] == "priced" || d["status"] == "failed" || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if d["status"] != "priced" || d["signature_state"] != c.state || d["energy_kwh"] != c.energy {
			t.Fatalf("%s: session %v, signature %v, energy %v (failure %v); want priced, %s, %s kWh",
				c.name, d["status"], d["signature_state"], d["energy_kwh"], d["failure_reason"], c.state, c.energy)
		}
		r = e.billing.do("GET", "/v1/sessions/"+id+"/cdr", "")
		expect(t, c.name+": cdr", r, 200, "")
		values, _ := dig(r.Body, "data", "signed_data", "signed_values").([]any)
		if len(values) != 2 || dig(r.Body, "data", "signed_data", "encoding_method") != "OCMF" {
			t.Fatalf("%s: CDR signed_data: %v", c.name, dig(r.Body, "data", "signed_data"))
		}
		first, _ := values[0].(map[string]any)
		var beginText string
		_ = json.Unmarshal(begin, &beginText)
		if first["nature"] != "Start" || first["signed_data"] != beginText {
			t.Fatalf("%s: first signed value %v", c.name, first)
		}
	}
}

// TestSignedValuesPerSessionAreCapped: past MaxSignedValues a session
// keeps no more records; each refused one is named per row with
// TOO_MANY_SIGNED_VALUES while its plain reading is still written, and a
// repeated record is kept once.
func TestSignedValuesPerSessionAreCapped(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Hour)
	r := e.ingester.do("POST", "/v1/ocpp/CB-CAP/start-transaction", fmt.Sprintf(`{"connectorId":1,"idTag":"T1","meterStart":0,"timestamp":%q}`, rfc(t0)))
	expect(t, "start transaction", r, 200, "")
	txID := int64(dig(r.Body, "data", "ocpp", "transactionId").(float64))
	id := dig(r.Body, "data", "session", "id").(string)

	const n = sessions.MaxSignedValues + 2
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		// Unsigned records, one per second: distinct, and cheap to make.
		rec := fmt.Sprintf(`OCMF|{"FV":"1.0","RD":[{"TM":"%s S","TX":"C","RV":%d,"RU":"Wh"}]}|{}`,
			t0.Add(time.Duration(i)*time.Second).Format("2006-01-02T15:04:05,000-0700"), i)
		v, _ := json.Marshal(rec)
		fmt.Fprintf(&b, `{"value":%s,"format":"SignedData"}`, v)
	}
	mv := fmt.Sprintf(`{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":%q,"sampledValue":[%s]}]}`, txID, rfc(t0), b.String())
	r = e.ingester.do("POST", "/v1/ocpp/CB-CAP/meter-values", mv)
	expect(t, "meter values", r, 200, "")
	rejected, _ := dig(r.Body, "data", "rejected").([]any)
	if dig(r.Body, "data", "accepted") != float64(n) || dig(r.Body, "data", "rejected_total") != 2.0 || len(rejected) != 2 ||
		dig(rejected[0], "code") != sessions.CodeTooManySignedValues || dig(rejected[0], "index") != float64(n-2) {
		t.Fatalf("meter values past the cap: accepted %v, rejected %v %v", dig(r.Body, "data", "accepted"),
			dig(r.Body, "data", "rejected_total"), rejected)
	}
	// The same message again: the records kept are repeats, those past the
	// cap are refused again.
	r = e.ingester.do("POST", "/v1/ocpp/CB-CAP/meter-values", mv)
	if dig(r.Body, "data", "rejected_total") != 2.0 {
		t.Fatalf("repeated meter values: %v", dig(r.Body, "data", "rejected_total"))
	}
	r = e.billing.do("GET", "/v1/sessions/"+id, "")
	if dig(r.Body, "data", "signature_state") != "unsigned" {
		t.Fatalf("signature state of unsigned records: %v", dig(r.Body, "data", "signature_state"))
	}
}

// TestSignedMeterValues201AndHostile: an OCPP 2.0.1 transaction whose
// signedMeterValues carry their own public key is verified with it; an
// oversized or malformed OCPP 1.6 record is refused per value with
// SIGNED_DATA and nothing of it is kept.
func TestSignedMeterValues201AndHostile(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	e.charger("CS-SIG")
	e.assignTariff("", "CS-SIG")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := base64.StdEncoding.EncodeToString(der)
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Hour)
	signed := func(reason string, at time.Time, kwh string) string {
		rec := ocmfRecord(t, key, "ECDSA-secp256r1-SHA256", reason, at, kwh, false)
		return fmt.Sprintf(`"signedMeterValue":{"signedMeterData":%q,"signingMethod":"","encodingMethod":"OCMF","publicKey":%q}`,
			base64.StdEncoding.EncodeToString([]byte(rec)), pub)
	}
	ev := func(seq int, typ string, at time.Duration, extra, meter string) string {
		return fmt.Sprintf(`{"eventType":%q,"timestamp":%q,"triggerReason":"MeterValuePeriodic","seqNo":%d,
			"transactionInfo":{"transactionId":"sig-1"}%s,"meterValue":[{"timestamp":%q,"sampledValue":[%s]}]}`,
			typ, rfc(t0.Add(at)), seq, extra, rfc(t0.Add(at)), meter)
	}
	var id string
	for _, body := range []string{
		ev(0, "Started", 0, `,"evse":{"id":1,"connectorId":1}`, `{"value":5000,"context":"Transaction.Begin",`+signed("B", t0, "5")+`}`),
		ev(1, "Ended", time.Hour, "", `{"value":9000,"context":"Transaction.End",`+signed("E", t0.Add(time.Hour), "8")+`}`),
	} {
		r := e.ingester.do("POST", "/v1/ocpp/CS-SIG/transaction-event", body)
		expect(t, "transaction event", r, 200, "")
		id = dig(r.Body, "data", "session", "id").(string)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		d := e.billing.do("GET", "/v1/sessions/"+id, "").data()
		if d["status"] == "priced" && d["signature_state"] == "verified" && d["energy_kwh"] == "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("OCPP 2.0.1 session: %v, signature %v, energy %v (failure %v); want priced, verified, 3 kWh",
				d["status"], d["signature_state"], d["energy_kwh"], d["failure_reason"])
		}
		time.Sleep(20 * time.Millisecond)
	}

	big, _ := json.Marshal("OCMF|" + strings.Repeat("x", 20<<10))
	bad, _ := json.Marshal(`OCMF|{"FV":"1.0","RD":[{"TM":"yesterday","RV":"many"}]}|{}`)
	r := e.ingester.do("POST", "/v1/ocpp/CS-SIG/meter-values", fmt.Sprintf(`{"connectorId":1,"meterValue":[{"timestamp":%q,
		"sampledValue":[{"value":%s,"format":"SignedData"},{"value":%s,"format":"SignedData"}]}]}`, rfc(t0), big, bad))
	expect(t, "hostile signed values", r, 400, "VALIDATION_ERROR")
	rejected, _ := dig(r.Body, "error", "details", "rejected").([]any)
	if len(rejected) != 2 || dig(rejected[0], "code") != "SIGNED_DATA" || dig(rejected[1], "code") != "SIGNED_DATA" ||
		!strings.Contains(dig(rejected[0], "message").(string), "limit") {
		t.Fatalf("hostile signed values: %v", r.Body)
	}
}
