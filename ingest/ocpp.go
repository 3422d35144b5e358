package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gridmetrics/gridmetrics/ocmf"
)

// This file decodes the meter values of OCPP 1.6 and OCPP 2.0.1 into rows.
// It is pure: no database, no HTTP.
//
// Both editions' JSON schemas forbid additional properties, but chargers in
// the field send vendor extras (at the top level and inside sampledValue), so
// unknown fields are ignored rather than rejected. The fields that are read
// are checked strictly: a wrong type rejects the sampledValue that carries it,
// or the whole payload when the field is a top-level one.

// OCPPVersion is an OCPP edition. It decides how a sampledValue is read:
// OCPP 1.6 has a string value with unit and format beside it, OCPP 2.0.1 a
// numeric value with a unitOfMeasure object.
type OCPPVersion string

// The OCPP editions whose meter values can be decoded.
const (
	OCPP16  OCPPVersion = "1.6"
	OCPP201 OCPPVersion = "2.0.1"
)

// PhaseMetrics are the per-phase metrics that OCPP values with a phase are
// written to (see ocppPhaseMetric). They are in A (current_import_l*), V
// (voltage_l*) and W (power_import_l*), like their totals, and are added to
// the catalogue by a migration of their own.
var PhaseMetrics = []string{
	"current_import_l1", "current_import_l2", "current_import_l3",
	"voltage_l1", "voltage_l2", "voltage_l3",
	"power_import_l1", "power_import_l2", "power_import_l3",
}

// MeterValues is what a charger reported in one OCPP MeterValues message.
type MeterValues struct {
	ChargeBoxID string
	// Version is the OCPP edition the payload was read as: OCPP 1.6 when it
	// has connectorId, OCPP 2.0.1 when it has evseId.
	Version OCPPVersion
	// ConnectorID is the OCPP 1.6 connectorId, or the OCPP 2.0.1 evseId; 0
	// is the charge box's main meter.
	ConnectorID int
	// TransactionID is the OCPP 1.6 transactionId (a number, kept as its
	// decimal text); "" when absent. An OCPP 2.0.1 MeterValuesRequest has no
	// transaction id (TransactionEvent carries it in transactionInfo), so it
	// is always "" for 2.0.1.
	TransactionID string
	Rows          []Row
	// Rejected lists the first MaxRejected refused sampledValues;
	// RejectedTotal counts all.
	Rejected      []RowError
	RejectedTotal int
	// Begin and End are the timestamps of the meter values sampled with
	// context Transaction.Begin and Transaction.End (the earliest Begin and
	// the latest End when several are sent); nil when there are none.
	Begin, End *time.Time
	// Signed are the signed meter values (OCMF records) of accepted
	// sampledValues, verbatim, for the session they belong to.
	Signed []SignedValue
}

// SignedValue is a signed meter value as received, with the index of the
// sampledValue that carried it.
type SignedValue struct {
	Index int
	Value ocmf.Signed
}

// SourceExternalID is the external id of the source the rows belong to:
// "CB-0042/1" for connector 1 of charge box CB-0042, and the charge box
// itself ("CB-0042") for connector/EVSE 0.
func (m MeterValues) SourceExternalID() string {
	return OCPPSourceExternalID(m.ChargeBoxID, m.ConnectorID)
}

// OCPPSourceExternalID is the external id of connector (or EVSE) connector of
// charge box box: the box itself for 0, "box/connector" otherwise.
func OCPPSourceExternalID(box string, connector int) string {
	if connector == 0 {
		return box
	}
	return box + "/" + strconv.Itoa(connector)
}

// DecodeOCPPMeterValues reads an OCPP 1.6 MeterValues.req or an OCPP 2.0.1
// MeterValuesRequest payload: the JSON object that is the third element of
// the OCPP-J CALL frame, not the frame itself. The edition is told by the
// id: connectorId is OCPP 1.6, evseId is OCPP 2.0.1.
//
// err is for a payload that cannot be read as a whole: malformed JSON, not
// an object, neither or both of connectorId and evseId, an id that is not a
// non-negative integer, a transactionId that is not an integer, meterValue
// missing or not an array, or a meterValue element that is not an object
// with a sampledValue array (see DecodeOCPPMeterValueList). Everything wrong
// inside one sampledValue rejects that sampledValue alone, in Rejected.
// Unknown fields are ignored (see the top of this file).
func DecodeOCPPMeterValues(chargeBoxID string, body []byte) (MeterValues, error) {
	if chargeBoxID == "" {
		return MeterValues{}, errors.New("charge box id is empty")
	}
	// Decoding into a RawMessage first checks the syntax, with an offset in
	// the error, before the shape is looked at.
	var whole json.RawMessage
	if err := json.Unmarshal(body, &whole); err != nil {
		return MeterValues{}, fmt.Errorf("malformed JSON: %w", err)
	}
	if k := ocppKind(whole); k != ocppObject {
		return MeterValues{}, fmt.Errorf("payload: got %s, want an object", k)
	}
	var req struct {
		ConnectorID   json.RawMessage `json:"connectorId"`
		EvseID        json.RawMessage `json:"evseId"`
		TransactionID json.RawMessage `json:"transactionId"`
		MeterValue    json.RawMessage `json:"meterValue"`
	}
	if err := json.Unmarshal(whole, &req); err != nil {
		return MeterValues{}, fmt.Errorf("malformed JSON: %w", err)
	}

	m := MeterValues{ChargeBoxID: chargeBoxID}
	hasConnector, hasEvse := !ocppAbsent(req.ConnectorID), !ocppAbsent(req.EvseID)
	var err error
	switch {
	case hasConnector && hasEvse:
		return MeterValues{}, errors.New("both connectorId (OCPP 1.6) and evseId (OCPP 2.0.1) are set")
	case hasConnector:
		m.Version = OCPP16
		if m.ConnectorID, err = ocppID("connectorId", req.ConnectorID); err != nil {
			return MeterValues{}, err
		}
		if !ocppAbsent(req.TransactionID) {
			if m.TransactionID, err = ocppTransactionID(req.TransactionID); err != nil {
				return MeterValues{}, err
			}
		}
	case hasEvse:
		m.Version = OCPP201
		if m.ConnectorID, err = ocppID("evseId", req.EvseID); err != nil {
			return MeterValues{}, err
		}
	default:
		return MeterValues{}, errors.New("neither connectorId (OCPP 1.6) nor evseId (OCPP 2.0.1) is set")
	}

	if ocppAbsent(req.MeterValue) {
		return MeterValues{}, errors.New("meterValue is missing")
	}
	if k := ocppKind(req.MeterValue); k != ocppArray {
		return MeterValues{}, fmt.Errorf("meterValue: got %s, want an array", k)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(req.MeterValue, &list); err != nil {
		return MeterValues{}, fmt.Errorf("meterValue: %w", err)
	}
	l, err := DecodeOCPPMeterValueList(m.Version, m.SourceExternalID(), list)
	if err != nil {
		return MeterValues{}, err
	}
	m.Rows, m.Rejected, m.RejectedTotal, m.Begin, m.End, m.Signed = l.Rows, l.Rejected, l.RejectedTotal, l.Begin, l.End, l.Signed
	return m, nil
}

// OCPPMeterValueList is a converted OCPP meterValue array.
type OCPPMeterValueList struct {
	// Rows are the accepted sampledValues, in the catalogue's units.
	Rows []Row
	// Rejected lists the first MaxRejected refused sampledValues, in index
	// order; RejectedTotal counts all.
	Rejected      []RowError
	RejectedTotal int
	// Begin and End are as in MeterValues.
	Begin, End *time.Time
	// Signed are as in MeterValues.
	Signed []SignedValue
}

// DecodeOCPPMeterValueList converts an already-split meterValue array — of
// MeterValues, of OCPP 1.6 StopTransaction.req transactionData, or of OCPP
// 2.0.1 TransactionEvent meterValue — into rows of source.
//
// A Row's or RowError's Index is the position of its sampledValue in the
// flattened order over all meterValue[i].sampledValue[j], and messages name
// "meterValue[i].sampledValue[j]". Each index is in Rows or Rejected at most
// once. It is in neither when the sampledValue is a per-phase value of a
// measurand whose phase-less total the same meterValue also carries: such
// values are dropped silently, because the total is what is stored and the
// charger did nothing wrong by sending both.
//
// err is for a list whose shape cannot be read: an element that is not an
// object, or whose sampledValue is missing or not an array (without it the
// indices of later values are unknown), or an unknown version.
func DecodeOCPPMeterValueList(version OCPPVersion, source string, list []json.RawMessage) (OCPPMeterValueList, error) {
	if version != OCPP16 && version != OCPP201 {
		return OCPPMeterValueList{}, fmt.Errorf("unknown OCPP version %q", version)
	}
	var out OCPPMeterValueList
	index := 0
	for i, raw := range list {
		if k := ocppKind(raw); k != ocppObject {
			return OCPPMeterValueList{}, fmt.Errorf("meterValue[%d]: got %s, want an object", i, k)
		}
		var mv struct {
			Timestamp    json.RawMessage `json:"timestamp"`
			SampledValue json.RawMessage `json:"sampledValue"`
		}
		if err := json.Unmarshal(raw, &mv); err != nil {
			return OCPPMeterValueList{}, fmt.Errorf("meterValue[%d]: %w", i, err)
		}
		if ocppAbsent(mv.SampledValue) {
			return OCPPMeterValueList{}, fmt.Errorf("meterValue[%d].sampledValue is missing", i)
		}
		if k := ocppKind(mv.SampledValue); k != ocppArray {
			return OCPPMeterValueList{}, fmt.Errorf("meterValue[%d].sampledValue: got %s, want an array", i, k)
		}
		var samples []json.RawMessage
		if err := json.Unmarshal(mv.SampledValue, &samples); err != nil {
			return OCPPMeterValueList{}, fmt.Errorf("meterValue[%d].sampledValue: %w", i, err)
		}
		out.add(version, source, i, index, mv.Timestamp, samples)
		index += len(samples)
	}
	return out, nil
}

// add converts meterValue[i], whose first sampledValue has index first.
func (l *OCPPMeterValueList) add(version OCPPVersion, source string, i, first int, timestamp json.RawMessage, raws []json.RawMessage) {
	path := func(j int) string { return fmt.Sprintf("meterValue[%d].sampledValue[%d]", i, j) }

	at, problem := ocppTimestamp(timestamp)
	if problem != "" {
		// Without a time no value of this meterValue can be stored.
		for j := range raws {
			l.reject(rowErr(first+j, CodeMalformed, "%s: meterValue[%d].timestamp %s", path(j), i, problem))
		}
		return
	}

	samples := make([]ocppSample, len(raws))
	totals := make(map[string]bool) // measurands with an accepted phase-less value
	for j, raw := range raws {
		s := ocppDecodeSample(version, raw, first+j, path(j))
		samples[j] = s
		switch s.context {
		case "Transaction.Begin":
			if l.Begin == nil || at.Before(*l.Begin) {
				t := at
				l.Begin = &t
			}
		case "Transaction.End":
			if l.End == nil || at.After(*l.End) {
				t := at
				l.End = &t
			}
		}
		if s.rejected == nil && s.phase == "" && s.signed == nil {
			totals[s.measurand] = true
		}
	}

	for j, s := range samples {
		if s.rejected == nil && s.signed != nil {
			l.Signed = append(l.Signed, SignedValue{Index: s.index, Value: *s.signed})
		}
		switch {
		case s.rejected != nil:
			l.reject(*s.rejected)
			continue
		case s.signed != nil && !s.readingAt.IsZero():
			// An OCPP 1.6 signed value stands for the plain reading only
			// when the meterValue carries none of its own.
			if !totals[s.measurand] {
				l.Rows = append(l.Rows, s.row(source, s.metric.name, s.readingAt))
			}
			continue
		case s.phase == "":
			l.Rows = append(l.Rows, s.row(source, s.metric.name, at))
			continue
		case totals[s.measurand]:
			continue // a per-phase part of a total that is stored; see DecodeOCPPMeterValueList
		}
		if name, ok := ocppPhaseMetric(s.metric.name, s.phase); ok {
			l.Rows = append(l.Rows, s.row(source, name, at))
			continue
		}
		msg := "send the phase-less total"
		if s.metric.perPhase {
			msg = "only L1, L2, L3 and L1-N, L2-N, L3-N are kept per phase"
		}
		l.reject(rowErr(s.index, CodeUnsupportedPhase,
			"%s: phase %q of %s has no metric; %s", path(j), s.phase, s.measurand, msg))
	}
}

// reject records a refused sampledValue, listing it while there is room.
func (l *OCPPMeterValueList) reject(e RowError) {
	l.RejectedTotal++
	if len(l.Rejected) < MaxRejected {
		l.Rejected = append(l.Rejected, e)
	}
}

// Rejections returns the refused sampledValues as a Rejections.
func (l OCPPMeterValueList) Rejections() Rejections {
	return Rejections{List: l.Rejected, Total: l.RejectedTotal}
}

// ocppTimestamp reads a meterValue's timestamp: RFC 3339, in UTC, truncated
// to the microseconds PostgreSQL keeps. problem says what is wrong otherwise.
func ocppTimestamp(raw json.RawMessage) (time.Time, string) {
	if ocppAbsent(raw) {
		return time.Time{}, "is missing"
	}
	if k := ocppKind(raw); k != ocppString {
		return time.Time{}, fmt.Sprintf("is %s, want an RFC 3339 time", k)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, err.Error()
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Sprintf("%q is not an RFC 3339 time", s)
	}
	return t.UTC().Truncate(time.Microsecond), ""
}

// ocppSample is one decoded sampledValue: either rejected, or a value in the
// catalogue unit of metric.
type ocppSample struct {
	index     int
	context   string
	measurand string // after the default
	phase     string
	metric    ocppMetric
	value     float64
	rejected  *RowError
	// signed is the signed meter value the sampledValue carried; readingAt
	// is the OCMF reading's time when value was taken from the record
	// (OCPP 1.6 SignedData), zero when it is the plain value (2.0.1).
	signed    *ocmf.Signed
	readingAt time.Time
}

func (s ocppSample) row(source, metric string, at time.Time) Row {
	return Row{Index: s.index, Source: source, Metric: metric, Unit: ocppCatalogueUnit[s.metric.quantity], Time: at, Value: s.value}
}

// ocppRawSample holds the sampledValue fields of both editions that are
// read; the rest (location's meaning, signedMeterValue, vendor extras) is
// ignored.
type ocppRawSample struct {
	Value         json.RawMessage `json:"value"`
	Context       json.RawMessage `json:"context"`
	Format        json.RawMessage `json:"format"` // 1.6
	Measurand     json.RawMessage `json:"measurand"`
	Phase         json.RawMessage `json:"phase"`
	Location      json.RawMessage `json:"location"`
	Unit          json.RawMessage `json:"unit"`          // 1.6
	UnitOfMeasure json.RawMessage `json:"unitOfMeasure"` // 2.0.1
	// SignedMeterValue is OCPP 2.0.1's signed copy of the value.
	SignedMeterValue json.RawMessage `json:"signedMeterValue"`
}

// ocppDecodeSample decodes one sampledValue. Phases are resolved later, by
// add, as they depend on the other values of the meterValue.
func ocppDecodeSample(version OCPPVersion, raw json.RawMessage, index int, path string) ocppSample {
	s := ocppSample{index: index}
	reject := func(code, format string, args ...any) ocppSample {
		e := rowErr(index, code, path+": "+format, args...)
		s.rejected = &e
		return s
	}
	if k := ocppKind(raw); k != ocppObject {
		return reject(CodeMalformed, "got %s, want an object", k)
	}
	var r ocppRawSample
	if err := json.Unmarshal(raw, &r); err != nil {
		return reject(CodeMalformed, "%v", err)
	}

	// context first, so that a Transaction.Begin sample marks the begin
	// even when its value is refused.
	var problem string
	if s.context, problem = ocppText(r.Context); problem != "" {
		return reject(CodeMalformed, "context: %s", problem)
	}
	if s.measurand, problem = ocppText(r.Measurand); problem != "" {
		return reject(CodeMalformed, "measurand: %s", problem)
	}
	if s.phase, problem = ocppText(r.Phase); problem != "" {
		return reject(CodeMalformed, "phase: %s", problem)
	}
	// location (Body, Cable, EV, Inlet, Outlet) is not stored, but a value
	// that is not a string is as malformed as any other field.
	if _, problem = ocppText(r.Location); problem != "" {
		return reject(CodeMalformed, "location: %s", problem)
	}

	var unit, text string
	multiplier := 0
	switch version {
	case OCPP16:
		format, p := ocppText(r.Format)
		switch {
		case p != "":
			return reject(CodeMalformed, "format: %s", p)
		case format == ocmf.FormatSignedData:
			return ocppSignedSample(s, r, path)
		case format != "" && format != "Raw":
			return reject(CodeMalformed, "format %q is neither Raw nor SignedData", format)
		}
		// Honouring a unit in the other edition's place would be a guess; a
		// kWh value taken for Wh is worse than a refusal.
		if !ocppAbsent(r.UnitOfMeasure) {
			return reject(CodeMalformed, "unitOfMeasure is OCPP 2.0.1; OCPP 1.6 has unit")
		}
		if unit, problem = ocppText(r.Unit); problem != "" {
			return reject(CodeMalformed, "unit: %s", problem)
		}
		if ocppAbsent(r.Value) {
			return reject(CodeMalformed, "value is missing")
		}
		if k := ocppKind(r.Value); k != ocppString {
			return reject(CodeMalformed, "value: got %s, want a string (OCPP 1.6)", k)
		}
		var v string
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return reject(CodeMalformed, "value: %v", err)
		}
		text = strings.TrimSpace(v)
		if !ocppDecimal.MatchString(text) {
			return reject(CodeMalformed, "value %q is not a decimal number", v)
		}
	case OCPP201:
		if !ocppAbsent(r.Unit) {
			return reject(CodeMalformed, "unit is OCPP 1.6; OCPP 2.0.1 has unitOfMeasure.unit")
		}
		if unit, multiplier, problem = ocppUnitOfMeasure(r.UnitOfMeasure); problem != "" {
			return reject(CodeMalformed, "unitOfMeasure%s", problem)
		}
		// An OCPP 2.0.1 sampledValue always has the plain reading in value;
		// signedMeterValue, when present, is a signed copy of it for the
		// driver's own verification (e.g. OCMF under German calibration law),
		// not a replacement. So the plain value is taken and the signed data
		// ignored, unlike OCPP 1.6 SignedData, where value is the signed blob.
		if ocppAbsent(r.Value) {
			return reject(CodeMalformed, "value is missing")
		}
		if k := ocppKind(r.Value); k != ocppNumber {
			return reject(CodeMalformed, "value: got %s, want a number (OCPP 2.0.1)", k)
		}
		text = string(bytes.TrimSpace(r.Value))
		if !ocppAbsent(r.SignedMeterValue) {
			var smv ocmf.SignedMeterValue
			if k := ocppKind(r.SignedMeterValue); k != ocppObject {
				return reject(CodeMalformed, "signedMeterValue: got %s, want an object", k)
			}
			if err := json.Unmarshal(r.SignedMeterValue, &smv); err != nil {
				return reject(CodeMalformed, "signedMeterValue: %v", err)
			}
			// The plain value stands whatever the signed copy holds: the
			// record is kept as sent (bounded here) and judged where it is
			// stored, an unreadable one as invalid.
			if n := len(smv.SignedMeterData); n > ocmf.MaxEncodedBytes {
				return reject(CodeSignedData, "signedMeterValue.signedMeterData is %d bytes, the limit is %d", n, ocmf.MaxEncodedBytes)
			}
			signed := ocmf.FromOCPP201(smv, s.context)
			s.signed = &signed
		}
	}

	if s.measurand == "" {
		s.measurand = "Energy.Active.Import.Register" // the default of both editions
	}
	m, ok := ocppMeasurands[s.measurand]
	if !ok {
		return reject(CodeUnknownMetric, "measurand %q has no metric in the catalogue", s.measurand)
	}
	s.metric = m
	if s.phase != "" && !ocppPhases[s.phase] {
		return reject(CodeUnsupportedPhase, "phase %q is not an OCPP phase", s.phase)
	}

	// Without a unit the value is in the measurand's natural unit: OCPP
	// says Wh for energy, and the others have only one unit in practice (W,
	// A, V, Percent, Celsius, Hz — OCPP 1.6 has no unit for frequency).
	u := ocppUnit{quantity: m.quantity}
	if unit != "" {
		// Matched case-insensitively: field firmware writes "KWh" and "kwh",
		// and no two accepted units differ in case only.
		u, ok = ocppUnits[strings.ToLower(unit)]
		if !ok || u.quantity != m.quantity {
			return reject(CodeUnknownUnit, "unit %q is not a unit of %s", unit, s.measurand)
		}
	}
	v, err := ocppScale(text, multiplier+u.exp10)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return reject(CodeInvalidValue, "value %s is out of range", text)
		}
		return reject(CodeMalformed, "value %q is not a number", text)
	}
	if u.toCelsius != nil {
		v = u.toCelsius(v)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return reject(CodeInvalidValue, "value %s in %s is out of range", text, ocppCatalogueUnit[m.quantity])
	}
	s.value = v
	return s
}

// ocppUnitOfMeasure reads an OCPP 2.0.1 unitOfMeasure: {unit, multiplier},
// both optional. problem starts with the field path below unitOfMeasure.
func ocppUnitOfMeasure(raw json.RawMessage) (unit string, multiplier int, problem string) {
	if ocppAbsent(raw) {
		return "", 0, ""
	}
	if k := ocppKind(raw); k != ocppObject {
		return "", 0, fmt.Sprintf(": got %s, want an object", k)
	}
	var uom struct {
		Unit       json.RawMessage `json:"unit"`
		Multiplier json.RawMessage `json:"multiplier"`
	}
	if err := json.Unmarshal(raw, &uom); err != nil {
		return "", 0, ": " + err.Error()
	}
	if unit, problem = ocppText(uom.Unit); problem != "" {
		return "", 0, ".unit: " + problem
	}
	if ocppAbsent(uom.Multiplier) {
		return unit, 0, ""
	}
	if k := ocppKind(uom.Multiplier); k != ocppNumber {
		return "", 0, fmt.Sprintf(".multiplier: got %s, want an integer", k)
	}
	// OCPP integers are 32-bit; anything wider is no multiplier of a meter.
	m, err := strconv.ParseInt(string(bytes.TrimSpace(uom.Multiplier)), 10, 32)
	if err != nil {
		return "", 0, fmt.Sprintf(".multiplier: %s is not a 32-bit integer", uom.Multiplier)
	}
	return unit, int(m), ""
}

// ocppID reads connectorId or evseId: a non-negative integer.
func ocppID(name string, raw json.RawMessage) (int, error) {
	if k := ocppKind(raw); k != ocppNumber {
		return 0, fmt.Errorf("%s: got %s, want a non-negative integer", name, k)
	}
	id, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 32)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%s: %s is not a 32-bit integer", name, raw)
	case id < 0:
		return 0, fmt.Errorf("%s: %d is negative", name, id)
	}
	return int(id), nil
}

// ocppTransactionID reads an OCPP 1.6 transactionId, an integer, as its
// decimal text.
func ocppTransactionID(raw json.RawMessage) (string, error) {
	if k := ocppKind(raw); k != ocppNumber {
		return "", fmt.Errorf("transactionId: got %s, want an integer", k)
	}
	id, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return "", fmt.Errorf("transactionId: %s is not a 64-bit integer", raw)
	}
	return strconv.FormatInt(id, 10), nil
}

// ocppDecimal is what an OCPP 1.6 value may look like. ParseFloat alone
// would also take "NaN", "Inf", hexadecimal and underscores.
var ocppDecimal = regexp.MustCompile(`^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)

// ocppScale parses the decimal text s (ocppDecimal, or a JSON number) and
// multiplies it by 10^exp10 in one correctly rounded step, by moving the
// exponent: "12.345" kWh becomes exactly 12345 Wh, where 12.345*1000 would be
// 12345.000000000002.
func ocppScale(s string, exp10 int) (float64, error) {
	if exp10 == 0 {
		return strconv.ParseFloat(s, 64)
	}
	mantissa, exp := s, int64(0)
	if k := strings.IndexAny(s, "eE"); k >= 0 {
		e, err := strconv.ParseInt(s[k+1:], 10, 32)
		if err != nil {
			// An exponent beyond 32 bits: the value is 0 or out of
			// range whatever the unit.
			v, err := strconv.ParseFloat(s, 64)
			if v == 0 || err != nil {
				return v, err
			}
			return v * math.Pow10(exp10), nil
		}
		mantissa, exp = s[:k], e
	}
	return strconv.ParseFloat(mantissa+"e"+strconv.FormatInt(exp+int64(exp10), 10), 64)
}

// ocppQuantity is what a measurand measures; units convert within one.
type ocppQuantity int

const (
	ocppEnergy ocppQuantity = iota
	ocppPower
	ocppCurrent
	ocppVoltage
	ocppPercent
	ocppTemperature
	ocppFrequency
)

// ocppCatalogueUnit is the catalogue's unit of each quantity
// (schema/migrations), which rows are converted to.
var ocppCatalogueUnit = [...]string{
	ocppEnergy:      "Wh",
	ocppPower:       "W",
	ocppCurrent:     "A",
	ocppVoltage:     "V",
	ocppPercent:     "%",
	ocppTemperature: "degC",
	ocppFrequency:   "Hz",
}

// ocppMetric is the catalogue metric of an OCPP measurand.
type ocppMetric struct {
	name     string
	quantity ocppQuantity
	// perPhase says the metric has _l1, _l2, _l3 variants (PhaseMetrics).
	perPhase bool
}

// ocppMeasurands maps the OCPP measurands that have a catalogue metric.
// The others (reactive and apparent energy and power, Power.Factor, RPM,
// Current.Export, Current.Offered, interval energies, …) are refused as
// unknown metrics, as is any vendor measurand.
var ocppMeasurands = map[string]ocppMetric{
	"Energy.Active.Import.Register": {"energy_import", ocppEnergy, false},
	"Energy.Active.Export.Register": {"energy_export", ocppEnergy, false},
	"Power.Active.Import":           {"power_import", ocppPower, true},
	"Power.Active.Export":           {"power_export", ocppPower, false},
	"Power.Offered":                 {"power_offered", ocppPower, false},
	"Current.Import":                {"current_import", ocppCurrent, true},
	"Voltage":                       {"voltage", ocppVoltage, true},
	"SoC":                           {"soc", ocppPercent, false},
	"Temperature":                   {"temperature", ocppTemperature, false},
	"Frequency":                     {"frequency", ocppFrequency, false},
}

// ocppUnit is an accepted unit: its quantity and how to convert a value in
// it to the catalogue unit — scaled by 10^exp10, then toCelsius if set.
type ocppUnit struct {
	quantity  ocppQuantity
	exp10     int
	toCelsius func(float64) float64
}

// ocppUnits are the accepted units by lower-cased name: the OCPP 1.6 unit
// enumeration and the OCPP 2.0.1 standardized units that fit a catalogue
// metric, the catalogue's own spellings, and "Celcius", the misspelling of
// early OCPP 1.6 schemas.
var ocppUnits = map[string]ocppUnit{
	"wh":         {quantity: ocppEnergy},
	"kwh":        {quantity: ocppEnergy, exp10: 3},
	"w":          {quantity: ocppPower},
	"kw":         {quantity: ocppPower, exp10: 3},
	"a":          {quantity: ocppCurrent},
	"v":          {quantity: ocppVoltage},
	"percent":    {quantity: ocppPercent},
	"%":          {quantity: ocppPercent},
	"celsius":    {quantity: ocppTemperature},
	"celcius":    {quantity: ocppTemperature},
	"degc":       {quantity: ocppTemperature},
	"k":          {quantity: ocppTemperature, toCelsius: func(k float64) float64 { return k - 273.15 }},
	"fahrenheit": {quantity: ocppTemperature, toCelsius: func(f float64) float64 { return (f - 32) * 5 / 9 }},
	"hz":         {quantity: ocppFrequency},
}

// ocppPhases is the OCPP phase enumeration (the same in both editions).
var ocppPhases = map[string]bool{
	"L1": true, "L2": true, "L3": true, "N": true,
	"L1-N": true, "L2-N": true, "L3-N": true,
	"L1-L2": true, "L2-L3": true, "L3-L1": true,
}

// ocppPhaseMetric names the per-phase metric of a value of metric on phase.
// A phase conductor (L1) and a phase against neutral (L1-N) are the same
// thing for current, voltage and power; the neutral conductor (N) and
// line-to-line voltages (L1-L2) have no metric.
func ocppPhaseMetric(metric, phase string) (string, bool) {
	if metric != "current_import" && metric != "voltage" && metric != "power_import" {
		return "", false
	}
	switch phase {
	case "L1", "L1-N":
		return metric + "_l1", true
	case "L2", "L2-N":
		return metric + "_l2", true
	case "L3", "L3-N":
		return metric + "_l3", true
	}
	return "", false
}

// JSON kinds, as messages name them.
const (
	ocppObject = "an object"
	ocppArray  = "an array"
	ocppString = "a string"
	ocppNumber = "a number"
)

// ocppKind names the kind of a JSON value that has been checked to be valid.
func ocppKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return ocppObject
	case '[':
		return ocppArray
	case '"':
		return ocppString
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return ocppNumber
}

// ocppAbsent says a field was not sent, or sent as null, which OCPP
// implementations use for "not set" as well.
func ocppAbsent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// ocppText reads an optional string field; "" when absent. problem says
// what is wrong otherwise.
func ocppText(raw json.RawMessage) (s, problem string) {
	if ocppAbsent(raw) {
		return "", ""
	}
	if k := ocppKind(raw); k != ocppString {
		return "", fmt.Sprintf("got %s, want a string", k)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err.Error()
	}
	return s, ""
}

// ocppSignedSample reads an OCPP 1.6 sampledValue with format SignedData:
// its value is an OCMF record (plain, base64 or hex), kept verbatim, and
// its reading is the record's energy reading of the record's nature (the
// last one otherwise), in Wh at the meter's time. A record that cannot be
// read, is past a limit of package ocmf, or has no energy reading is
// refused with SIGNED_DATA.
func ocppSignedSample(s ocppSample, r ocppRawSample, path string) ocppSample {
	reject := func(format string, args ...any) ocppSample {
		e := rowErr(s.index, CodeSignedData, path+": "+format, args...)
		s.rejected = &e
		return s
	}
	if s.measurand == "" {
		s.measurand = "Energy.Active.Import.Register"
	}
	if s.measurand != "Energy.Active.Import.Register" || s.phase != "" {
		return reject("a signed value of %s %s has no metric; only the phase-less Energy.Active.Import.Register is read", s.measurand, s.phase)
	}
	if k := ocppKind(r.Value); k != ocppString {
		return reject("value: got %s, want an OCMF record", k)
	}
	var v string
	if err := json.Unmarshal(r.Value, &v); err != nil {
		return reject("value: %v", err)
	}
	signed, _ := ocmf.FromOCPP16(v, ocmf.FormatSignedData, s.context)
	res, err := ocmf.Check(signed, "")
	if err != nil {
		return reject("%v", err)
	}
	rd, ok := SignedReading(res)
	if !ok {
		return reject("the OCMF record has no energy reading (RU kWh or Wh)")
	}
	if math.IsNaN(rd.Wh) || math.IsInf(rd.Wh, 0) {
		return reject("the OCMF reading %s %s is out of range", rd.ValueText, rd.Unit)
	}
	s.metric = ocppMeasurands[s.measurand]
	s.value, s.readingAt, s.signed = rd.Wh, rd.Time.UTC().Truncate(time.Microsecond), &signed
	return s
}

// SignedReading is the energy reading a checked record stands for: the
// first of the record's nature, else the last energy reading.
func SignedReading(res ocmf.Result) (ocmf.Reading, bool) {
	if res.Record == nil {
		return ocmf.Reading{}, false
	}
	var last *ocmf.Reading
	for i, rd := range res.Record.Readings {
		if !rd.Energy {
			continue
		}
		if rd.Nature == res.Nature {
			return rd, true
		}
		last = &res.Record.Readings[i]
	}
	if last == nil {
		return ocmf.Reading{}, false
	}
	return *last, true
}
