package tariffs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a tariff, a CDR or a usage record, named by
// the JSON path of the field it is about (for example
// `elements[2].restrictions.start_time`), so a person can find and fix it.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// String renders the problem the way the CLI prints it: `path: message`.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists every problem found in an input, not just the first,
// so that `gridmetrics tariff validate FILE` can show them all in one run.
// The service maps it to the VALIDATION_ERROR code.
type ValidationError struct {
	Problems []Problem
}

// Error joins the problems on one line.
func (e *ValidationError) Error() string {
	if len(e.Problems) == 0 {
		return "invalid"
	}
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// ErrNoPrice is wrapped by errors about a dynamic price the feed does not
// have: a missing price stops the pricing, it is never read as zero.
var ErrNoPrice = errors.New("no price")

// ErrNotApplicable is wrapped when a tariff cannot price the usage given,
// for example a supply tariff asked to price a charging session, or a session
// that starts outside the tariff's start_date_time/end_date_time.
var ErrNotApplicable = errors.New("tariff not applicable")

// problems collects Problems while a value is read or checked.
type problems struct {
	list []Problem
}

func (ps *problems) add(path, format string, args ...any) {
	ps.list = append(ps.list, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// err returns the collected problems as a *ValidationError, keeping only the
// first problem reported for each path (a field of the wrong type is not also
// reported as missing), or nil when there are none.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(ps.list))
	out := make([]Problem, 0, len(ps.list))
	for _, p := range ps.list {
		if seen[p.Path] {
			continue
		}
		seen[p.Path] = true
		out = append(out, p)
	}
	return &ValidationError{Problems: out}
}

// field and index build problem paths: field("elements[2]", "restrictions")
// is "elements[2].restrictions", index("elements", 2) is "elements[2]".
func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// sentinelError is a message that matches a sentinel with errors.Is.
type sentinelError struct {
	msg      string
	sentinel error
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.sentinel }

func errorf(sentinel error, format string, args ...any) error {
	return &sentinelError{msg: fmt.Sprintf(format, args...), sentinel: sentinel}
}
