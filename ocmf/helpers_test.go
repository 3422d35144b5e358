package ocmf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// A payload as a KEBA charger with a Phoenix Contact meter sends it: every
// field this package reads, with begin and end readings.
const samplePayload = `{"FV":"1.0","GI":"KEBA_KCP30","GS":"17619300","GV":"2.8.5","PG":"T32","MV":"Phoenix Contact","MM":"EEM-350-D-MCB","MS":"BQ27400330016","MF":"1.0","IS":true,"IL":"VERIFIED","IF":["RFID_PLAIN","OCPP_RS_TLS"],"IT":"ISO14443","ID":"1F2D3A4F5506C7","TT":"Tarif 1","CT":"EVSEID","CI":"DE*ABC*E123*1","RD":[{"TM":"2018-07-24T13:22:04,000+0200 S","TX":"B","RV":2935.6,"RI":"1-b:1.8.0","RU":"kWh","RT":"AC","EF":"","ST":"G"},{"TM":"2018-07-24T15:02:11,500+0200 S","TX":"E","RV":2947.15,"ST":"G"}]}`

func newKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// publicKeyHex is the key's DER SubjectPublicKeyInfo in hex.
func publicKeyHex(t testing.TB, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(der)
}

func algorithmOf(key *ecdsa.PrivateKey) string {
	if key.Curve == elliptic.P384() {
		return "ECDSA-secp384r1-SHA256"
	}
	return "ECDSA-secp256r1-SHA256"
}

// signature is the DER signature of payload, SHA-256 as OCMF prescribes.
func signature(t testing.TB, key *ecdsa.PrivateKey, payload string) []byte {
	t.Helper()
	digest := sha256.Sum256([]byte(payload))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// signRecord makes "OCMF|payload|{SA, SD}" with an upper-case hex SD.
func signRecord(t testing.TB, key *ecdsa.PrivateKey, payload string) string {
	t.Helper()
	return recordWith(t, payload, map[string]string{"SA": algorithmOf(key), "SD": hexUpper(signature(t, key, payload))})
}

func recordWith(t testing.TB, payload string, sig map[string]string) string {
	t.Helper()
	b, err := json.Marshal(sig)
	if err != nil {
		t.Fatal(err)
	}
	return "OCMF|" + payload + "|" + string(b)
}

func hexUpper(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}
