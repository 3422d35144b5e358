package ocmf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Status is the outcome of verifying a record.
type Status string

// Verification outcomes.
const (
	// Verified: the signature matches the payload under the public key.
	Verified Status = "verified"
	// Invalid: it does not, or the signature or key cannot be read: the
	// record must not be trusted.
	Invalid Status = "invalid"
	// Unsupported: the record uses an algorithm, curve or encoding this
	// service does not check; it may well be genuine.
	Unsupported Status = "unsupported"
	// Unsigned: no signature, or no public key to check it with.
	Unsigned Status = "unsigned"
)

// Verification is a status with the algorithm checked and, unless
// Verified, why.
type Verification struct {
	Status    Status `json:"status"`
	Algorithm string `json:"algorithm,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// MaxPublicKeyBytes bounds a public key as received (hex, base64 or PEM
// text); a P-384 key in hex is 240 characters.
const MaxPublicKeyBytes = 4 << 10

// DefaultAlgorithm is the algorithm of a record whose signature names none.
const DefaultAlgorithm = "ECDSA-secp256r1-SHA256"

// ErrUnsupportedCurve: a public key on a curve this service does not check.
var ErrUnsupportedCurve = errors.New("ocmf: unsupported curve")

// algorithms are the signature algorithms OCMF defines, by their curve;
// every one hashes with SHA-256. A nil curve is known but not checked here:
// the standard library has P-256 and P-384 only.
var algorithms = map[string]elliptic.Curve{
	"ECDSA-secp256r1-SHA256":      elliptic.P256(),
	"ECDSA-secp384r1-SHA256":      elliptic.P384(),
	"ECDSA-secp192r1-SHA256":      nil,
	"ECDSA-secp192k1-SHA256":      nil,
	"ECDSA-secp256k1-SHA256":      nil,
	"ECDSA-brainpool256r1-SHA256": nil,
	"ECDSA-brainpool384r1-SHA256": nil,
}

// curveNames names, by their OID, the curves OCMF allows, so that a key on
// one the standard library lacks is Unsupported rather than unreadable.
var curveNames = map[string]string{
	"1.2.840.10045.3.1.7":   "secp256r1",
	"1.3.132.0.34":          "secp384r1",
	"1.2.840.10045.3.1.1":   "secp192r1",
	"1.3.132.0.31":          "secp192k1",
	"1.3.132.0.10":          "secp256k1",
	"1.3.36.3.3.2.8.1.1.7":  "brainpool256r1",
	"1.3.36.3.3.2.8.1.1.11": "brainpool384r1",
}

var oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}

// ParsePublicKey reads an ECDSA public key in DER SubjectPublicKeyInfo
// form, written in hex, base64 or PEM (OCPP 2.0.1 sends base64; chargers
// are often registered with hex). A key on a curve OCMF allows but this
// service does not check is an error wrapping ErrUnsupportedCurve.
func ParsePublicKey(s string) (*ecdsa.PublicKey, error) {
	if len(s) > MaxPublicKeyBytes {
		return nil, fmt.Errorf("%w: public key is %d bytes, the limit is %d", ErrTooLarge, len(s), MaxPublicKeyBytes)
	}
	der, err := keyBytes(strings.TrimSpace(s))
	if err != nil {
		return nil, err
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("public key: not a DER SubjectPublicKeyInfo")
	}
	if !info.Algorithm.Algorithm.Equal(oidECPublicKey) {
		return nil, fmt.Errorf("public key: algorithm %s is not an elliptic curve key", info.Algorithm.Algorithm)
	}
	var curve asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &curve); err != nil {
		return nil, fmt.Errorf("public key: no named curve")
	}
	switch name := curveNames[curve.String()]; name {
	case "secp256r1", "secp384r1":
	case "":
		return nil, fmt.Errorf("%w: public key: curve %s is not one OCMF allows", ErrUnsupportedCurve, curve)
	default:
		return nil, fmt.Errorf("%w: public key: curve %s is not checked here (P-256 and P-384 are)", ErrUnsupportedCurve, name)
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("public key: %v", err)
	}
	ec, ok := key.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key: not an ECDSA key")
	}
	return ec, nil
}

// keyBytes removes the text encoding of a key: PEM, hex or base64 — and
// hex inside base64, which some chargers send in OCPP 2.0.1's publicKey.
func keyBytes(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("public key: empty")
	}
	if strings.HasPrefix(s, "-----BEGIN") {
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			return nil, fmt.Errorf("public key: unreadable PEM")
		}
		return block.Bytes, nil
	}
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("public key: neither hex nor base64")
	}
	if h, err := hex.DecodeString(string(b)); err == nil && len(h) > 0 {
		return h, nil
	}
	return b, nil
}

// Verify checks the record's signature over PayloadText, the payload
// section exactly as received, with publicKey (see ParsePublicKey).
// signingMethod, when the record's SA is empty, names the algorithm (OCPP
// 2.0.1 sends it beside the record); when both are empty the algorithm is
// DefaultAlgorithm.
func (r *Record) Verify(publicKey, signingMethod string) Verification {
	if r.Signature.SD == "" {
		return Verification{Status: Unsigned, Reason: "the record carries no signature"}
	}
	if strings.TrimSpace(publicKey) == "" {
		return Verification{Status: Unsigned, Reason: "no public key for this meter"}
	}
	alg := r.Signature.SA
	if alg == "" {
		alg = signingMethod
	}
	if alg == "" {
		alg = DefaultAlgorithm
	}
	v := Verification{Algorithm: alg}
	unsupported := func(format string, a ...any) Verification {
		v.Status, v.Reason = Unsupported, fmt.Sprintf(format, a...)
		return v
	}
	invalid := func(format string, a ...any) Verification {
		v.Status, v.Reason = Invalid, fmt.Sprintf(format, a...)
		return v
	}
	curve, known := algorithms[alg]
	if !known {
		v.Algorithm = ""
		return unsupported("signature algorithm %q is not one OCMF defines", truncate(alg))
	}
	if curve == nil {
		return unsupported("signature algorithm %s is not checked here (P-256 and P-384 are)", alg)
	}
	if r.Signature.SM != "" && r.Signature.SM != "application/x-der" {
		return unsupported("signature format %q is not application/x-der", truncate(r.Signature.SM))
	}
	var sig []byte
	var err error
	switch r.Signature.SE {
	case "", "hex":
		sig, err = hex.DecodeString(r.Signature.SD)
	case "base64":
		sig, err = base64.StdEncoding.DecodeString(r.Signature.SD)
	default:
		return unsupported("signature encoding %q is not hex or base64", truncate(r.Signature.SE))
	}
	if err != nil {
		return invalid("signature SD is not %s", orDefault(r.Signature.SE, "hex"))
	}
	key, err := ParsePublicKey(publicKey)
	if errors.Is(err, ErrUnsupportedCurve) {
		return unsupported("%v", err)
	}
	if err != nil {
		return invalid("%v", err)
	}
	if key.Curve != curve {
		return invalid("the public key is on %s, the record is signed with %s", key.Curve.Params().Name, alg)
	}
	digest := sha256.Sum256([]byte(r.PayloadText))
	if !ecdsa.VerifyASN1(key, digest[:], sig) {
		return invalid("the signature does not match the payload under this public key")
	}
	v.Status = Verified
	return v
}

// truncate keeps a value sent by a client short enough to quote in a reason.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
