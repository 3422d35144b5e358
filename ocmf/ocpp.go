package ocmf

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// FormatSignedData is the OCPP 1.6 SampledValue format of a signed value.
const FormatSignedData = "SignedData"

// EncodingOCMF is the OCPP 2.0.1 encodingMethod, and the OCPI
// encoding_method, of OCMF records.
const EncodingOCMF = "OCMF"

// SignedMeterValue is OCPP 2.0.1's SignedMeterValueType, as a
// MeterValues.req or TransactionEvent.req sampledValue carries it.
type SignedMeterValue struct {
	// SignedMeterData is the record; OCPP 2.0.1 says base64, some
	// chargers send the OCMF text itself.
	SignedMeterData string `json:"signedMeterData"`
	// SigningMethod names the algorithm when the record does not.
	SigningMethod string `json:"signingMethod"`
	// EncodingMethod is "OCMF" for the records this package reads.
	EncodingMethod string `json:"encodingMethod"`
	// PublicKey, base64, is sent when the central system may not know it.
	PublicKey string `json:"publicKey,omitempty"`
}

// Signed is one signed meter value as a session keeps it: the record
// verbatim, with what OCPP sent beside it.
type Signed struct {
	// Data is the record exactly as received (OCPP 1.6 SampledValue.value,
	// or 2.0.1 signedMeterData).
	Data string `json:"data"`
	// Context is the OCPP reading context (Transaction.Begin, …); it gives
	// the nature of a record whose readings carry no TX.
	Context string `json:"context,omitempty"`
	// EncodingMethod and SigningMethod are OCPP 2.0.1's; empty from 1.6.
	EncodingMethod string `json:"encoding_method,omitempty"`
	SigningMethod  string `json:"signing_method,omitempty"`
	// PublicKey is the key sent with the value (OCPP 2.0.1), if any.
	PublicKey string `json:"public_key,omitempty"`
}

// FromOCPP16 takes a 1.6 SampledValue's value, format and context. A value
// whose format is not SignedData is not a signed value: ok is false.
func FromOCPP16(value, format, context string) (s Signed, ok bool) {
	if format != FormatSignedData {
		return Signed{}, false
	}
	return Signed{Data: value, Context: context}, true
}

// FromOCPP201 takes a 2.0.1 signedMeterValue and its sampledValue's context.
func FromOCPP201(v SignedMeterValue, context string) Signed {
	return Signed{
		Data:           v.SignedMeterData,
		Context:        context,
		EncodingMethod: v.EncodingMethod,
		SigningMethod:  v.SigningMethod,
		PublicKey:      v.PublicKey,
	}
}

// Result is what Check makes of a signed value.
type Result struct {
	// Record is nil when the value is not an OCMF record this package reads
	// (another encoding method: Verification says Unsupported).
	Record       *Record
	Verification Verification
	// Nature is the record's, falling back on the OCPP context.
	Nature Nature
}

// Check decodes and verifies a signed value. The key sent with the value
// is used when there is one, else registeredKey (the key on record for the
// charger or meter); with neither the result is Unsigned. An error means
// the value is malformed or past a limit (errors.Is ErrMalformed,
// ErrTooLarge, ErrTooManyReadings): the caller should refuse it. A record
// that decodes but does not verify is not an error: its Verification says
// why.
func Check(s Signed, registeredKey string) (Result, error) {
	if s.EncodingMethod != "" && !strings.EqualFold(s.EncodingMethod, EncodingOCMF) {
		return Result{
			Verification: Verification{Status: Unsupported, Reason: fmt.Sprintf("encoding method %q is not OCMF", truncate(s.EncodingMethod))},
			Nature:       NatureOfContext(s.Context),
		}, nil
	}
	text, err := RecordText(s.Data)
	if err != nil {
		return Result{}, err
	}
	rec, err := Decode(text)
	if err != nil {
		return Result{}, err
	}
	key := s.PublicKey
	if strings.TrimSpace(key) == "" {
		key = registeredKey
	}
	return Result{
		Record:       rec,
		Verification: rec.Verify(key, s.SigningMethod),
		Nature:       rec.Nature(NatureOfContext(s.Context)),
	}, nil
}

// RecordText removes the transport encoding of a record: OCPP 2.0.1 sends
// signedMeterData in base64, and some 1.6 chargers send hex. Text that
// already starts with "OCMF|" is returned as it is.
func RecordText(data string) (string, error) {
	if strings.HasPrefix(data, Header+"|") {
		if len(data) > MaxRecordBytes {
			return "", fmt.Errorf("%w: record is %d bytes, the limit is %d", ErrTooLarge, len(data), MaxRecordBytes)
		}
		return data, nil
	}
	if len(data) > MaxEncodedBytes {
		return "", fmt.Errorf("%w: encoded record is %d bytes, the limit is %d", ErrTooLarge, len(data), MaxEncodedBytes)
	}
	trimmed := strings.TrimSpace(data)
	for _, decode := range []func(string) ([]byte, error){
		base64.StdEncoding.DecodeString,
		hex.DecodeString,
	} {
		if b, err := decode(trimmed); err == nil && strings.HasPrefix(string(b), Header+"|") {
			return string(b), nil
		}
	}
	return "", fmt.Errorf(`%w: the value is not an OCMF record ("OCMF|…"), in plain text, base64 or hex`, ErrMalformed)
}
