// Package ingest takes readings in: decoders for every accepted format, the
// validation of rows, and the pipeline that batches them into readings with
// group commit.
package ingest

import (
	"fmt"
	"time"
)

// Row is one reading as a client sent it, before its source is resolved and
// its unit normalised.
type Row struct {
	// Index is the row's position in the request (0-based, counting rejected
	// rows too), so later rejections can name it.
	Index int
	// Source is the tenant's external id of the source, or its public id
	// (src_…).
	Source string
	// Metric is a catalogue name such as energy_import.
	Metric string
	// Unit is the unit the value is in; "" means the metric's own unit.
	Unit  string
	Time  time.Time
	Value float64
}

// RowError is a rejected row: its index in the request, a stable code and a
// message for people.
type RowError struct {
	Index   int    `json:"index"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Rejection codes of rows.
const (
	CodeMalformed        = "MALFORMED_ROW"     // a row that could not be read
	CodeUnknownSource    = "UNKNOWN_SOURCE"    // no such source and auto-registration is off
	CodeUnknownMetric    = "UNKNOWN_METRIC"    // not in the catalogue
	CodeUnknownUnit      = "UNKNOWN_UNIT"      // not a unit of the metric
	CodeInvalidValue     = "INVALID_VALUE"     // NaN or ±Inf
	CodeTimeTooOld       = "TIME_TOO_OLD"      // before 2000-01-01
	CodeTimeInFuture     = "TIME_IN_FUTURE"    // beyond the allowed clock skew
	CodeSignedData       = "SIGNED_DATA"       // OCPP signed meter value without a plain value
	CodeUnsupportedPhase = "UNSUPPORTED_PHASE" // OCPP per-phase value of a measurand with no per-phase metric
)

func rowErr(index int, code, format string, args ...any) RowError {
	return RowError{Index: index, Code: code, Message: fmt.Sprintf(format, args...)}
}
