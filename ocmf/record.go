package ocmf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Limits on what one record may hold; see the package comment.
const (
	// MaxRecordBytes bounds the OCMF text of one record. Real records are
	// well under 2 KiB; a signed value in OCPI is at most 5,000 characters.
	MaxRecordBytes = 16 << 10
	// MaxEncodedBytes bounds a record as received when it comes in a
	// transport encoding (base64 or hex), before that is removed.
	MaxEncodedBytes = 2 * MaxRecordBytes
	// MaxReadings bounds the readings (RD) of one record.
	MaxReadings = 64
)

// Header is the first section of every OCMF record.
const Header = "OCMF"

// Errors a record is refused with; each is wrapped with the detail.
var (
	// ErrTooLarge: the record or key is past its size limit.
	ErrTooLarge = errors.New("ocmf: too large")
	// ErrTooManyReadings: the record carries more than MaxReadings readings.
	ErrTooManyReadings = errors.New("ocmf: too many readings")
	// ErrMalformed: the record is not OCMF or a field is not what OCMF says.
	ErrMalformed = errors.New("ocmf: malformed")
)

// Record is one decoded OCMF record.
type Record struct {
	// Text is the OCMF text, after any transport encoding was removed.
	Text string
	// PayloadText is the payload section exactly as received: the bytes the
	// signature covers.
	PayloadText string
	// SignatureText is the signature section as received; empty when the
	// record has none.
	SignatureText string
	Payload       Payload
	Signature     Signature
	// Readings are Payload.RD interpreted: times parsed, values in Wh.
	Readings []Reading
}

// Payload holds the payload fields this service uses; others are ignored
// (they stay in the verbatim record).
type Payload struct {
	FV string   // format version
	GI string   // gateway identification
	GS string   // gateway serial
	GV string   // gateway firmware version
	PG string   // pagination: T (transaction) or F (fiscal) and a counter
	MV string   // meter vendor
	MM string   // meter model
	MS string   // meter serial
	MF string   // meter firmware
	IS bool     // whether the user is identified
	IL string   // identification level
	IF []string // identification flags
	IT string   // identification type
	ID string   // identification data
	TT string   // tariff text
	CT string   // charge point identifier type
	CI string   // charge point identifier
	RD []RawReading
}

// RawReading is one entry of RD as sent.
type RawReading struct {
	TM string      // time and time status, "2018-07-24T13:22:04,000+0200 S"
	TX string      // reading reason: B, C, X, E, L, R, A, P, S, T
	RV json.Number // value
	RI string      // OBIS identifier, e.g. "1-b:1.8.0"
	RU string      // unit: kWh, Wh, mOhm, uOhm
	RT string      // current type: AC, DC
	EF string      // error flags
	ST string      // meter status
}

// Signature is the signature section.
type Signature struct {
	SA string // algorithm; empty means ECDSA-secp256r1-SHA256
	SE string // encoding of SD: hex (default) or base64
	SM string // format of SD: application/x-der (default)
	SD string // the signature
}

// TimeStatus is the letter after a reading's time: how far the meter's
// clock can be trusted.
type TimeStatus string

// Time statuses as OCMF defines them.
const (
	TimeUnknown     TimeStatus = "U" // clock not set
	TimeInformative TimeStatus = "I" // clock set, not synchronised
	TimeSynchronous TimeStatus = "S" // synchronised
	TimeRelative    TimeStatus = "R" // relative to an earlier reading
)

// Nature is a reading's place in a transaction, in OCPI's words.
type Nature string

// Natures, spelled as OCPI 2.2.1 signed_values expect them.
const (
	NatureStart        Nature = "Start"
	NatureIntermediate Nature = "Intermediate"
	NatureEnd          Nature = "End"
)

// natureOfReason maps the reading reason TX to its nature. B begins a
// transaction; E ends it, and L, R, A, P end it for a reason (local or
// remote stop, abort on error, power failure); C, X, S and T are taken
// during it (charging, exception, suspended, tariff change).
var natureOfReason = map[string]Nature{
	"B": NatureStart,
	"C": NatureIntermediate, "X": NatureIntermediate, "S": NatureIntermediate, "T": NatureIntermediate,
	"E": NatureEnd, "L": NatureEnd, "R": NatureEnd, "A": NatureEnd, "P": NatureEnd,
}

// Reading is one reading of a record, interpreted.
type Reading struct {
	Time       time.Time
	TimeText   string     // TM as sent
	TimeStatus TimeStatus // empty when the meter sent none
	// Reason is TX as sent; empty when the meter sent none.
	Reason string
	// Nature follows from Reason; empty when Reason is.
	Nature Nature
	// Value is RV as sent, in Unit; ValueText its exact digits.
	Value     float64
	ValueText string
	Unit      string
	// Wh is Value in watt-hours when Energy is true (Unit kWh or Wh).
	Wh     float64
	Energy bool
	OBIS   string // RI
	Type   string // RT
	Errors string // EF
	Status string // ST
}

// Decode reads one OCMF record: "OCMF|{payload}|{signature}". The payload
// section is everything between the first two '|', the signature section
// everything after the second. A record without a signature section (or
// an empty one) decodes, and verifies as Unsigned.
func Decode(text string) (*Record, error) {
	if len(text) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: record is %d bytes, the limit is %d", ErrTooLarge, len(text), MaxRecordBytes)
	}
	rest, ok := strings.CutPrefix(text, Header+"|")
	if !ok {
		return nil, fmt.Errorf(`%w: a record starts with "OCMF|"`, ErrMalformed)
	}
	payloadText, signatureText, _ := strings.Cut(rest, "|")
	r := &Record{Text: text, PayloadText: payloadText, SignatureText: signatureText}
	if err := decodePayload(payloadText, &r.Payload); err != nil {
		return nil, err
	}
	if err := decodeSignature(signatureText, &r.Signature); err != nil {
		return nil, err
	}
	readings, err := interpret(r.Payload.RD)
	if err != nil {
		return nil, err
	}
	r.Readings = readings
	return r, nil
}

// payloadJSON mirrors Payload with RD left raw, so that the number of
// readings is checked before each is decoded.
type payloadJSON struct {
	FV, GI, GS, GV, PG, MV, MM, MS, MF string
	IS                                 bool
	IL                                 string
	IF                                 []string
	IT, ID, TT, CT, CI                 string
	RD                                 []json.RawMessage
}

func decodePayload(s string, p *Payload) error {
	if !isObject(s) {
		return fmt.Errorf("%w: payload: not a JSON object", ErrMalformed)
	}
	var raw payloadJSON
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return jsonError("payload", err)
	}
	if len(raw.RD) == 0 {
		return fmt.Errorf("%w: payload.RD: no readings", ErrMalformed)
	}
	if len(raw.RD) > MaxReadings {
		return fmt.Errorf("%w: payload.RD has %d readings, the limit is %d", ErrTooManyReadings, len(raw.RD), MaxReadings)
	}
	*p = Payload{
		FV: raw.FV, GI: raw.GI, GS: raw.GS, GV: raw.GV, PG: raw.PG,
		MV: raw.MV, MM: raw.MM, MS: raw.MS, MF: raw.MF,
		IS: raw.IS, IL: raw.IL, IF: raw.IF, IT: raw.IT, ID: raw.ID,
		TT: raw.TT, CT: raw.CT, CI: raw.CI,
		RD: make([]RawReading, len(raw.RD)),
	}
	for i, m := range raw.RD {
		field := fmt.Sprintf("payload.RD[%d]", i)
		if !isObject(string(m)) {
			return fmt.Errorf("%w: %s: not a JSON object", ErrMalformed, field)
		}
		if err := json.Unmarshal(m, &p.RD[i]); err != nil {
			return jsonError(field, err)
		}
	}
	return nil
}

func decodeSignature(s string, sig *Signature) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	if !isObject(s) {
		return fmt.Errorf("%w: signature: not a JSON object", ErrMalformed)
	}
	if err := json.Unmarshal([]byte(s), sig); err != nil {
		return jsonError("signature", err)
	}
	return nil
}

// isObject reports whether s, trimmed, is braced: the JSON decoder would
// take null, or a string, as an empty object.
func isObject(s string) bool {
	b := bytes.TrimSpace([]byte(s))
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}'
}

// jsonError names the field a JSON error is about.
func jsonError(where string, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Errorf("%w: %s.%s: want %s, got %s", ErrMalformed, where, typeErr.Field, typeErr.Type, typeErr.Value)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Errorf("%w: %s: invalid JSON at byte %d: %v", ErrMalformed, where, syntaxErr.Offset, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrMalformed, where, err)
}

// interpret turns RD into readings. A reading that leaves out its unit,
// OBIS identifier or current type takes the previous reading's: meters
// omit what repeats.
func interpret(rd []RawReading) ([]Reading, error) {
	out := make([]Reading, len(rd))
	var prev RawReading // what the previous reading said, inherited included
	for i, raw := range rd {
		field := fmt.Sprintf("payload.RD[%d]", i)
		r := &out[i]
		var err error
		if raw.TM == "" {
			return nil, fmt.Errorf("%w: %s.TM: missing", ErrMalformed, field)
		}
		if r.Time, r.TimeStatus, err = ParseTime(raw.TM); err != nil {
			return nil, fmt.Errorf("%w: %s.TM: %v", ErrMalformed, field, err)
		}
		r.TimeText = raw.TM
		if raw.TX != "" {
			nature, ok := natureOfReason[raw.TX]
			if !ok {
				return nil, fmt.Errorf("%w: %s.TX: %q is not a reading reason (B, C, X, E, L, R, A, P, S, T)", ErrMalformed, field, truncate(raw.TX))
			}
			r.Reason, r.Nature = raw.TX, nature
		}
		if raw.RV == "" {
			return nil, fmt.Errorf("%w: %s.RV: missing", ErrMalformed, field)
		}
		if r.Value, err = raw.RV.Float64(); err != nil {
			return nil, fmt.Errorf("%w: %s.RV: %q is not a finite number", ErrMalformed, field, truncate(raw.RV.String()))
		}
		r.ValueText = raw.RV.String()
		if raw.RU == "" {
			raw.RU = prev.RU
		}
		if raw.RI == "" {
			raw.RI = prev.RI
		}
		if raw.RT == "" {
			raw.RT = prev.RT
		}
		prev = raw
		if raw.RU == "" {
			return nil, fmt.Errorf("%w: %s.RU: missing", ErrMalformed, field)
		}
		r.Unit, r.OBIS, r.Type, r.Errors, r.Status = raw.RU, raw.RI, raw.RT, raw.EF, raw.ST
		switch {
		case strings.EqualFold(raw.RU, "kWh"):
			r.Wh, r.Energy = r.Value*1000, true
		case strings.EqualFold(raw.RU, "Wh"):
			r.Wh, r.Energy = r.Value, true
		}
	}
	return out, nil
}

// OCMF times: "2018-07-24T13:22:04,000+0200 S". The fraction may use a
// comma or a point (Go's parser takes either after the seconds); the
// offset is written without a colon, though some meters write one, or Z.
var timeLayouts = []string{"2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05Z07:00"}

// ParseTime reads an OCMF reading time with its optional status letter.
func ParseTime(s string) (time.Time, TimeStatus, error) {
	stamp, status := s, TimeStatus("")
	if i := strings.LastIndexByte(s, ' '); i >= 0 {
		stamp, status = s[:i], TimeStatus(s[i+1:])
		switch status {
		case TimeUnknown, TimeInformative, TimeSynchronous, TimeRelative:
		default:
			return time.Time{}, "", fmt.Errorf("%q: time status %q is not U, I, S or R", truncate(s), truncate(string(status)))
		}
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, stamp); err == nil {
			return t, status, nil
		}
	}
	return time.Time{}, "", fmt.Errorf("%q is not a time like 2018-07-24T13:22:04,000+0200 S", truncate(s))
}

// Nature is the record's place in a transaction: End if any reading ends
// one, else Start if any begins one, else Intermediate when a reading says
// so. When no reading carries a reason it is fallback (see
// NatureOfContext).
func (r *Record) Nature(fallback Nature) Nature {
	var start, intermediate bool
	for _, rd := range r.Readings {
		switch rd.Nature {
		case NatureEnd:
			return NatureEnd
		case NatureStart:
			start = true
		case NatureIntermediate:
			intermediate = true
		}
	}
	switch {
	case start:
		return NatureStart
	case intermediate:
		return NatureIntermediate
	}
	return fallback
}

// NatureOfContext maps an OCPP reading context (1.6 and 2.0.1 spell them
// alike) to a nature: Transaction.Begin starts, Transaction.End ends,
// anything else (Sample.Periodic, Sample.Clock, Trigger, …) is
// Intermediate.
func NatureOfContext(context string) Nature {
	switch context {
	case "Transaction.Begin":
		return NatureStart
	case "Transaction.End":
		return NatureEnd
	}
	return NatureIntermediate
}
