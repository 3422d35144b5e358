package ocmf

import (
	"fmt"
	"strings"
)

// OCPI 2.2.1 field sizes of SignedData and SignedValue.
const (
	ocpiMaxPlainData  = 512
	ocpiMaxSignedData = 5000
	ocpiMaxPublicKey  = 512
)

// OCPISignedData is the signed_data object of an OCPI 2.2.1 CDR.
type OCPISignedData struct {
	EncodingMethod string `json:"encoding_method"`
	// PublicKey is given when every record was checked with the same key.
	PublicKey    string            `json:"public_key,omitempty"`
	SignedValues []OCPISignedValue `json:"signed_values"`
	URL          string            `json:"url,omitempty"`
}

// OCPISignedValue is one entry of signed_values.
type OCPISignedValue struct {
	Nature    Nature `json:"nature"`
	PlainData string `json:"plain_data"`
	// SignedData is the OCMF record text.
	SignedData string `json:"signed_data"`
}

// BuildOCPI makes a CDR's signed_data from a session's signed values, in
// the order given. publicKey is the key the values were checked with when
// none came with them (the charger's registered key); it may be empty.
// Each value becomes one signed_values entry: its nature from its readings
// (or OCPP context), its plain data the reading that nature refers to
// ("2935.6 kWh 2018-07-24T13:22:04,000+0200 S"), its signed data the OCMF
// text. A value that cannot be decoded, or is past OCPI's field sizes, is
// an error naming it: a CDR must not silently lose a signed value.
func BuildOCPI(values []Signed, publicKey string) (OCPISignedData, error) {
	out := OCPISignedData{EncodingMethod: EncodingOCMF, SignedValues: make([]OCPISignedValue, 0, len(values))}
	keys := map[string]bool{}
	for i, v := range values {
		res, err := Check(v, publicKey)
		if err != nil {
			return OCPISignedData{}, fmt.Errorf("signed value %d: %w", i, err)
		}
		if res.Record == nil {
			return OCPISignedData{}, fmt.Errorf("signed value %d: %s", i, res.Verification.Reason)
		}
		rec := res.Record
		if len(rec.Text) > ocpiMaxSignedData {
			return OCPISignedData{}, fmt.Errorf("%w: signed value %d is %d bytes, OCPI's signed_data holds %d", ErrTooLarge, i, len(rec.Text), ocpiMaxSignedData)
		}
		plain := plainData(rec, res.Nature)
		if len(plain) > ocpiMaxPlainData {
			return OCPISignedData{}, fmt.Errorf("%w: signed value %d: plain data is %d bytes, OCPI's plain_data holds %d", ErrTooLarge, i, len(plain), ocpiMaxPlainData)
		}
		out.SignedValues = append(out.SignedValues, OCPISignedValue{Nature: res.Nature, PlainData: plain, SignedData: rec.Text})
		key := strings.TrimSpace(v.PublicKey)
		if key == "" {
			key = strings.TrimSpace(publicKey)
		}
		keys[key] = true
	}
	if len(keys) == 1 {
		for k := range keys {
			if len(k) <= ocpiMaxPublicKey {
				out.PublicKey = k
			}
		}
	}
	return out, nil
}

// plainData is the reading a record's nature refers to, as sent: the
// first reading that has that nature, else the last reading.
func plainData(rec *Record, nature Nature) string {
	r := rec.Readings[len(rec.Readings)-1]
	for _, rd := range rec.Readings {
		if rd.Nature == nature {
			r = rd
			break
		}
	}
	return fmt.Sprintf("%s %s %s", r.ValueText, r.Unit, r.TimeText)
}
