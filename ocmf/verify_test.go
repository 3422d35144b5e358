package ocmf

import (
	"crypto/elliptic"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// brainpoolKeyHex is a SubjectPublicKeyInfo naming brainpoolP256r1: the
// point is not checked, since the curve is refused first.
func brainpoolKeyHex(t *testing.T) string {
	t.Helper()
	params, err := asn1.Marshal(asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7})
	if err != nil {
		t.Fatal(err)
	}
	point := append([]byte{4}, make([]byte, 64)...)
	der, err := asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: params}}, asn1.BitString{Bytes: point, BitLength: 8 * len(point)}})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(der)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	p256, p384 := newKey(t, elliptic.P256()), newKey(t, elliptic.P384())
	pub256, pub384 := publicKeyHex(t, p256), publicKeyHex(t, p384)
	der256, _ := hex.DecodeString(pub256)
	sig256 := signature(t, p256, samplePayload)
	sig384 := signature(t, p384, samplePayload)
	rec := func(sig map[string]string) string { return recordWith(t, samplePayload, sig) }

	tests := []struct {
		name          string
		record        string
		key           string
		signingMethod string
		want          Status
		reason        string
	}{
		{name: "P-256", record: signRecord(t, p256, samplePayload), key: pub256, want: Verified},
		{name: "P-384", record: signRecord(t, p384, samplePayload), key: pub384, want: Verified},
		{name: "lower-case hex", record: rec(map[string]string{"SA": "ECDSA-secp256r1-SHA256", "SD": hex.EncodeToString(sig256)}), key: pub256, want: Verified},
		{name: "base64 signature", record: rec(map[string]string{"SA": "ECDSA-secp256r1-SHA256", "SE": "base64", "SM": "application/x-der", "SD": base64.StdEncoding.EncodeToString(sig256)}), key: pub256, want: Verified},
		{name: "no algorithm means P-256", record: rec(map[string]string{"SD": hexUpper(sig256)}), key: pub256, want: Verified},
		{name: "algorithm from OCPP", record: rec(map[string]string{"SD": hexUpper(sig384)}), key: pub384, signingMethod: "ECDSA-secp384r1-SHA256", want: Verified},
		{name: "record's algorithm wins", record: rec(map[string]string{"SA": "ECDSA-secp384r1-SHA256", "SD": hexUpper(sig384)}), key: pub384, signingMethod: "ECDSA-secp256r1-SHA256", want: Verified},
		{name: "base64 key", record: signRecord(t, p256, samplePayload), key: base64.StdEncoding.EncodeToString(der256), want: Verified},
		{name: "hex key in base64", record: signRecord(t, p256, samplePayload), key: base64.StdEncoding.EncodeToString([]byte(pub256)), want: Verified},
		{name: "PEM key", record: signRecord(t, p256, samplePayload), key: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der256})), want: Verified},
		{name: "upper-case hex key", record: signRecord(t, p256, samplePayload), key: strings.ToUpper(pub256), want: Verified},

		{name: "no signature", record: "OCMF|" + samplePayload + "|", key: pub256, want: Unsigned, reason: "no signature"},
		{name: "empty SD", record: rec(map[string]string{"SA": "ECDSA-secp256r1-SHA256", "SD": ""}), key: pub256, want: Unsigned, reason: "no signature"},
		{name: "no key", record: signRecord(t, p256, samplePayload), key: " ", want: Unsigned, reason: "no public key"},

		{name: "brainpool algorithm", record: rec(map[string]string{"SA": "ECDSA-brainpool256r1-SHA256", "SD": hexUpper(sig256)}), key: pub256, want: Unsupported, reason: "brainpool256r1-SHA256 is not checked here"},
		{name: "secp192r1 algorithm", record: rec(map[string]string{"SA": "ECDSA-secp192r1-SHA256", "SD": hexUpper(sig256)}), key: pub256, want: Unsupported},
		{name: "unknown algorithm", record: rec(map[string]string{"SA": "RSA-PSS", "SD": hexUpper(sig256)}), key: pub256, want: Unsupported, reason: `"RSA-PSS" is not one OCMF defines`},
		{name: "other signature format", record: rec(map[string]string{"SM": "application/jose", "SD": hexUpper(sig256)}), key: pub256, want: Unsupported, reason: "is not application/x-der"},
		{name: "other signature encoding", record: rec(map[string]string{"SE": "base32", "SD": hexUpper(sig256)}), key: pub256, want: Unsupported, reason: `"base32" is not hex or base64`},
		{name: "brainpool key", record: signRecord(t, p256, samplePayload), key: brainpoolKeyHex(t), want: Unsupported, reason: "brainpool256r1 is not checked here"},

		{name: "wrong key", record: signRecord(t, p256, samplePayload), key: publicKeyHex(t, newKey(t, elliptic.P256())), want: Invalid, reason: "does not match"},
		{name: "key on the other curve", record: signRecord(t, p256, samplePayload), key: pub384, want: Invalid, reason: "the public key is on P-384, the record is signed with ECDSA-secp256r1-SHA256"},
		{name: "SD not hex", record: rec(map[string]string{"SD": "zz"}), key: pub256, want: Invalid, reason: "SD is not hex"},
		{name: "SD not base64", record: rec(map[string]string{"SE": "base64", "SD": "!!"}), key: pub256, want: Invalid, reason: "SD is not base64"},
		{name: "SD not DER", record: rec(map[string]string{"SD": "00112233"}), key: pub256, want: Invalid, reason: "does not match"},
		{name: "SD with trailing bytes", record: rec(map[string]string{"SD": hexUpper(sig256) + "00"}), key: pub256, want: Invalid},
		{name: "key not hex or base64", record: signRecord(t, p256, samplePayload), key: "not a key!", want: Invalid, reason: "neither hex nor base64"},
		{name: "key not DER", record: signRecord(t, p256, samplePayload), key: "0011", want: Invalid, reason: "not a DER SubjectPublicKeyInfo"},
		{name: "key with trailing bytes", record: signRecord(t, p256, samplePayload), key: pub256 + "00", want: Invalid},
		{name: "key point off the curve", record: signRecord(t, p256, samplePayload), key: pub256[:len(pub256)-2] + "00", want: Invalid, reason: "public key"},
		{name: "key too large", record: signRecord(t, p256, samplePayload), key: strings.Repeat("00", MaxPublicKeyBytes), want: Invalid, reason: "the limit is 4096"},
		{name: "bad PEM", record: signRecord(t, p256, samplePayload), key: "-----BEGIN PUBLIC KEY-----\nxx", want: Invalid, reason: "PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := Decode(tt.record)
			if err != nil {
				t.Fatal(err)
			}
			v := r.Verify(tt.key, tt.signingMethod)
			if v.Status != tt.want || !strings.Contains(v.Reason, tt.reason) {
				t.Fatalf("%+v, want %s with %q", v, tt.want, tt.reason)
			}
			if (v.Status == Verified) != (v.Reason == "") {
				t.Fatalf("reason %q beside %s", v.Reason, v.Status)
			}
		})
	}
}

// randomPayload is an OCMF payload with random identification and 1–5
// random readings.
func randomPayload(rng *rand.Rand) string {
	reasons := "BCXELRAPST"
	units := []string{"kWh", "Wh"}
	var rd []string
	n := 1 + rng.IntN(5)
	for i := 0; i < n; i++ {
		rd = append(rd, fmt.Sprintf(`{"TM":"2026-%02d-%02dT%02d:%02d:%02d,%03d+0%d00 S","TX":"%c","RV":%d.%d,"RI":"1-b:1.8.0","RU":"%s","ST":"G"}`,
			1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000), rng.IntN(3),
			reasons[rng.IntN(len(reasons))], rng.IntN(1e6), rng.IntN(1000), units[rng.IntN(2)]))
	}
	id := make([]byte, 1+rng.IntN(16))
	for i := range id {
		id[i] = "0123456789ABCDEF"[rng.IntN(16)]
	}
	return fmt.Sprintf(`{"FV":"1.0","GI":"G%d","GS":"%d","PG":"T%d","MS":"M%d","IS":%v,"IT":"ISO14443","ID":"%s","RD":[%s]}`,
		rng.IntN(100), rng.Uint32(), rng.IntN(1000), rng.Uint32(), rng.IntN(2) == 1, id, strings.Join(rd, ","))
}

// changed is a byte other than c: a digit for a digit, a letter for a
// letter (so that most changed payloads still decode), else any.
func changed(rng *rand.Rand, c byte) byte {
	class := ""
	switch {
	case c >= '0' && c <= '9':
		class = "0123456789"
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		class = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	}
	for {
		d := c ^ byte(1+rng.IntN(255))
		if class != "" {
			d = class[rng.IntN(len(class))]
		}
		if d != c {
			return d
		}
	}
}

// Property: a record signed with a fresh key verifies; changing any one
// byte of the payload, or of the signature, makes it invalid (or, for the
// payload, undecodable) — never verified.
func TestVerifyProperty(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var decoded, tried int // changed payloads that decoded (and were invalid), of those tried
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		for round := 0; round < 3; round++ {
			key := newKey(t, curve)
			pub := publicKeyHex(t, key)
			payload := randomPayload(rng)
			sig := signature(t, key, payload)
			text := recordWith(t, payload, map[string]string{"SA": algorithmOf(key), "SD": hexUpper(sig)})
			rec, err := Decode(text)
			if err != nil {
				t.Fatalf("%s: %v", payload, err)
			}
			if v := rec.Verify(pub, ""); v.Status != Verified {
				t.Fatalf("%s: %+v", curve.Params().Name, v)
			}
			// Every byte of the first P-256 record, a sample of the others':
			// P-384 has no assembly and is slow under the race detector.
			exhaustive := round == 0 && curve == elliptic.P256()
			positions := rng.Perm(len(payload))
			if !exhaustive {
				positions = positions[:32]
			}
			invalid := 0
			for _, i := range positions {
				b := []byte(payload)
				b[i] = changed(rng, b[i])
				tampered := recordWith(t, string(b), map[string]string{"SA": algorithmOf(key), "SD": hexUpper(sig)})
				rec, err := Decode(tampered)
				if err != nil {
					continue // refused outright: not verified either
				}
				if v := rec.Verify(pub, ""); v.Status != Invalid {
					t.Fatalf("payload byte %d changed: %+v\n%s", i, v, tampered)
				}
				invalid++
			}
			decoded, tried = decoded+invalid, tried+len(positions)
			sigPositions := rng.Perm(len(sig))
			if !exhaustive {
				sigPositions = sigPositions[:8]
			}
			for _, i := range sigPositions {
				s := append([]byte(nil), sig...)
				s[i] ^= byte(1 + rng.IntN(255))
				rec, err := Decode(recordWith(t, payload, map[string]string{"SA": algorithmOf(key), "SD": hexUpper(s)}))
				if err != nil {
					t.Fatal(err)
				}
				if v := rec.Verify(pub, ""); v.Status != Invalid {
					t.Fatalf("signature byte %d changed: %+v", i, v)
				}
			}
		}
	}
	// Many changes inside strings and numbers still decode: the signature
	// check, not the decoder, must be what refuses them. About 46 % do;
	// counted over every round (about 690 changes), not per round of 32,
	// whose count varies too much for a bound.
	if decoded < tried/4 {
		t.Fatalf("only %d of %d changed payloads decoded", decoded, tried)
	}
}
