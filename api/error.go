package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable, machine-readable error code. Clients switch on it; the
// HTTP status is derived from it in one place (statusOf).
type Code string

// The error codes of the API contract.
const (
	CodeValidation       Code = "VALIDATION_ERROR"
	CodeNotFound         Code = "NOT_FOUND"
	CodeConflict         Code = "CONFLICT"
	CodeUnauthorized     Code = "UNAUTHORIZED"
	CodeForbidden        Code = "FORBIDDEN"
	CodeTooLarge         Code = "PAYLOAD_TOO_LARGE"
	CodeMethodNotAllowed Code = "METHOD_NOT_ALLOWED"
	CodeRateLimited      Code = "RATE_LIMITED"
	CodeOverloaded       Code = "OVERLOADED"
	CodeUnavailable      Code = "UNAVAILABLE"
	CodeInternal         Code = "INTERNAL"
	// CodeTimeout answers a client that did not send its request in time.
	CodeTimeout Code = "REQUEST_TIMEOUT"
	// CodeCDRIncomplete answers a request for a CDR that is not valid OCPI
	// (data it needs is missing): a conflict with the session's state, with
	// the problems in the details.
	CodeCDRIncomplete Code = "CDR_INCOMPLETE"
)

var statusOf = map[Code]int{
	CodeValidation:       http.StatusBadRequest,
	CodeNotFound:         http.StatusNotFound,
	CodeConflict:         http.StatusConflict,
	CodeUnauthorized:     http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeTooLarge:         http.StatusRequestEntityTooLarge,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeRateLimited:      http.StatusTooManyRequests,
	CodeOverloaded:       http.StatusServiceUnavailable,
	CodeUnavailable:      http.StatusServiceUnavailable,
	CodeInternal:         http.StatusInternalServerError,

	CodeTimeout:       http.StatusRequestTimeout,
	CodeCDRIncomplete: http.StatusConflict,
}

// Error is an error meant for the API caller: a stable code, a message that
// is safe to show, and optional details (field errors, limits).
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Details is always rendered: an object, empty when there is nothing
	// to add, so clients need not check for its absence.
	Details any `json:"details"`

	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int `json:"-"`

	// status overrides the code's status for errors Fiber raised itself.
	status int
}

// MarshalJSON renders the error with details as an empty object when there
// are none.
func (e *Error) MarshalJSON() ([]byte, error) {
	type plain Error // without this method
	p := plain(*e)
	if p.Details == nil {
		p.Details = struct{}{}
	}
	return json.Marshal(p)
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Status is the HTTP status for the error's code.
func (e *Error) Status() int {
	if e.status != 0 {
		return e.status
	}
	if s, ok := statusOf[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Validation returns a VALIDATION_ERROR naming the offending field path,
// e.g. Validation("timezone", "%q is not an IANA time zone", tz).
func Validation(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	return &Error{Code: CodeValidation, Message: msg, Details: map[string]string{"field": field}}
}

// NotFound returns a NOT_FOUND error for a kind of object and its id.
func NotFound(kind, id string) *Error {
	return Errorf(CodeNotFound, "%s %q not found", kind, id)
}

// AsError returns err as an *Error when it is one, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
