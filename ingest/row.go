// Package ingest takes readings in: decoders for every accepted format, the
// validation of rows, and the pipeline that batches them into readings with
// group commit.
package ingest

import (
	"fmt"
	"slices"
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
	CodeMalformed        = "MALFORMED_ROW"       // a row that could not be read
	CodeUnknownSource    = "UNKNOWN_SOURCE"      // no such source and auto-registration is off
	CodeUnknownMetric    = "UNKNOWN_METRIC"      // not in the catalogue
	CodeUnknownUnit      = "UNKNOWN_UNIT"        // not a unit of the metric
	CodeInvalidValue     = "INVALID_VALUE"       // NaN or ±Inf
	CodeTimeTooOld       = "TIME_TOO_OLD"        // before 2000-01-01
	CodeTimeInFuture     = "TIME_IN_FUTURE"      // beyond the allowed clock skew
	CodeSignedData       = "SIGNED_DATA"         // OCPP signed meter value (OCMF) that cannot be read or is past a limit
	CodeUnsupportedPhase = "UNSUPPORTED_PHASE"   // OCPP per-phase value of a measurand with no per-phase metric
	CodeInvalidSource    = "INVALID_SOURCE"      // auto-registration refused the source (its name, its parent)
	CodeTooManyChildren  = "TOO_MANY_CONNECTORS" // auto-registration refused a connector past the charge box's cap
)

// MaxRejected bounds the rejected rows an answer lists; past it rows are
// only counted, in rejected_total, so a body of bad rows costs no more than
// a body of good ones.
const MaxRejected = 1000

// Rejections collects rejected rows: the first MaxRejected in full, and the
// count of all.
type Rejections struct {
	List  []RowError
	Total int
}

// Add records a rejected row, listing it while there is room.
func (r *Rejections) Add(e RowError) {
	r.Total++
	if len(r.List) < MaxRejected {
		r.List = append(r.List, e)
	}
}

// rejectionsOf wraps a list built elsewhere, counting each entry.
func rejectionsOf(list []RowError) Rejections {
	return Rejections{List: list, Total: len(list)}
}

// merge adds the rejections of o, keeping the MaxRejected lowest indexes
// listed: each side lists its first rows by index, so the first of both
// are among them.
func (r *Rejections) merge(o Rejections) {
	r.Total += o.Total
	r.List = append(r.List, o.List...)
	slices.SortFunc(r.List, func(a, b RowError) int { return a.Index - b.Index })
	if len(r.List) > MaxRejected {
		r.List = r.List[:MaxRejected]
	}
}

// TooLargeError refuses a body for a bound it passes (413): rows beyond
// what one request may carry, or memory beyond a decoder's budget.
type TooLargeError struct {
	Message string
	Limit   int64 // the bound, in the unit the message names
}

func (e *TooLargeError) Error() string { return e.Message }

func tooManyRows(limit int) *TooLargeError {
	return &TooLargeError{Limit: int64(limit),
		Message: fmt.Sprintf("the request holds more than %d readings, the most one request may carry (the ingest queue's size); split it", limit)}
}

func rowErr(index int, code, format string, args ...any) RowError {
	return RowError{Index: index, Code: code, Message: fmt.Sprintf(format, args...)}
}
