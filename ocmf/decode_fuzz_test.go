package ocmf

import (
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/gridmetrics/gridmetrics/internal/fuzzbudget"
)

// FuzzDecode feeds any value and key through Check (transport decoding,
// Decode, Verify) and holds it to its contract: no panic, a budget of time
// and memory per input (fuzzbudget), an error that is one of the package's
// kinds, and for a decoded record: the payload as received, at most
// MaxReadings readings, a known status with a reason unless verified.
func FuzzDecode(f *testing.F) {
	key := newKey(f, elliptic.P256())
	pub := publicKeyHex(f, key)
	signed := signRecord(f, key, samplePayload)
	f.Add(signed, pub)
	f.Add(signed, "")
	f.Add(base64.StdEncoding.EncodeToString([]byte(signed)), pub)
	f.Add(signRecord(f, newKey(f, elliptic.P384()), samplePayload), pub)
	f.Add(`OCMF|`+samplePayload+`|{"SA":"ECDSA-brainpool256r1-SHA256","SE":"base64","SD":"MEUCIQ=="}`, pub)
	f.Add(`OCMF|{"RD":[{"TM":"2026-03-01T12:00:00Z S","RV":1,"RU":"Wh"},{"TM":"2026-03-01T12:00:01,5+02:00 R","TX":"E","RV":"2"}]}|`, "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")
	f.Add(`OCMF|{"RD":[`+strings.Repeat(`{"TM":"2026-03-01T12:00:00Z S","RV":1,"RU":"Wh"},`, MaxReadings)+`{}]}|{}`, pub)
	f.Add(`OCMF|{"RD":[{"TM":"x","RV":1e999}],"IS":"no"}|{"SD":1}`, "-----BEGIN PUBLIC KEY-----\n")
	f.Add("OCMF||", "00")
	f.Fuzz(func(t *testing.T, data, publicKey string) {
		var (
			res Result
			err error
		)
		fuzzbudget.Check(t, fuzzbudget.Budget{}, len(data)+len(publicKey), func() {
			res, err = Check(Signed{Data: data}, publicKey)
		})
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrTooManyReadings) {
				t.Fatalf("error of no known kind: %v", err)
			}
			if res.Record != nil {
				t.Fatal("a record beside an error")
			}
			return
		}
		rec := res.Record
		if rec == nil {
			t.Fatal("no record and no error")
		}
		if len(rec.Text) > MaxRecordBytes || !strings.HasPrefix(rec.Text, "OCMF|"+rec.PayloadText) {
			t.Fatalf("record text %d bytes, payload %q", len(rec.Text), rec.PayloadText)
		}
		if strings.Contains(rec.PayloadText, "|") {
			t.Fatal("the payload runs past the second '|'")
		}
		if n := len(rec.Readings); n == 0 || n > MaxReadings || n != len(rec.Payload.RD) {
			t.Fatalf("%d readings of %d", n, len(rec.Payload.RD))
		}
		for i, r := range rec.Readings {
			if r.Energy && r.Wh != r.Value && r.Wh != r.Value*1000 {
				t.Fatalf("reading %d: %v %s is %v Wh", i, r.Value, r.Unit, r.Wh)
			}
			if (r.Reason == "") != (r.Nature == "") {
				t.Fatalf("reading %d: reason %q nature %q", i, r.Reason, r.Nature)
			}
		}
		switch v := res.Verification; v.Status {
		case Verified:
			if v.Reason != "" {
				t.Fatalf("verified with a reason: %q", v.Reason)
			}
		case Invalid, Unsupported, Unsigned:
			if v.Reason == "" {
				t.Fatalf("%s without a reason", v.Status)
			}
		default:
			t.Fatalf("status %q", v.Status)
		}
		switch res.Nature {
		case NatureStart, NatureIntermediate, NatureEnd:
		default:
			t.Fatalf("nature %q", res.Nature)
		}
	})
}
