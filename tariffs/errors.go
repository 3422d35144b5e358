package tariffs

import (
	"errors"
	"fmt"
	"hash/maphash"
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
// so that `gridmetrics tariff validate FILE` can show them all in one run —
// up to MaxProblems of them: past that, a last problem says how many more
// there were, and Total counts them all. The service maps it to the
// VALIDATION_ERROR code.
type ValidationError struct {
	Problems []Problem
	// Total is the number of problems found, listed or not.
	Total int
	// Total is a lower bound when UncheckedFrom is set: once MaxProblems
	// are found, the rest of a long array is not read, and UncheckedFrom is
	// the path of the first item left unread.
	UncheckedFrom string
}

// MaxProblems caps the problems a ValidationError lists, so a hostile input
// (100 000 invalid elements) cannot make the answer or the work of
// formatting it grow with it.
const MaxProblems = 100

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

// problems collects Problems while a value is read or checked: the first
// one reported for each path (a field of the wrong type is not also
// reported as missing), the first MaxProblems of them listed and the rest
// only counted.
type problems struct {
	list []Problem
	// seen holds a hash of every path reported: 8 bytes a path, however
	// many problems a hostile input has, where the paths themselves would
	// take several times its size.
	seen map[uint64]struct{}
	seed maphash.Seed
	more int
	// unreadAt is the first array item left unread once the list was full:
	// the input is refused anyway, and reading the rest would only make
	// work.
	unreadAt string
	// warnIf, when set, sends the problems at the paths it accepts to
	// warnings instead: they are reported without refusing the input, and
	// never count towards full, so a CDR with 100 problems pricing does not
	// need is still read to its end.
	warnIf   func(path string) bool
	warnings *problems
}

// stop notes that reading stopped at the array item at path.
func (ps *problems) stop(path string) {
	if ps.unreadAt == "" {
		ps.unreadAt = path
	}
}

func (ps *problems) add(path, format string, args ...any) {
	if ps.warnIf != nil && ps.warnIf(path) {
		ps.warnings.add(path, format, args...)
		return
	}
	if ps.seen == nil {
		ps.seen = make(map[uint64]struct{})
		ps.seed = maphash.MakeSeed()
	}
	h := maphash.String(ps.seed, path)
	if _, dup := ps.seen[h]; dup {
		return
	}
	ps.seen[h] = struct{}{}
	if ps.full() {
		ps.more++ // counted, never formatted
		return
	}
	ps.list = append(ps.list, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// reported reports whether a problem at path was found, listed or only
// counted.
func (ps *problems) reported(path string) bool {
	if ps.seen == nil {
		return false
	}
	_, ok := ps.seen[maphash.String(ps.seed, path)]
	return ok
}

// full reports whether further problems are only counted, so a caller can
// skip work that only makes a message (the "did you mean" search).
func (ps *problems) full() bool { return len(ps.list) >= MaxProblems }

// fullFor is full for the list a problem at path goes to.
func (ps *problems) fullFor(path string) bool {
	if ps.warnIf != nil && ps.warnIf(path) {
		return ps.warnings.full()
	}
	return ps.full()
}

// err returns the collected problems as a *ValidationError, with a last
// problem counting those past MaxProblems, or nil when there are none.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps.listed("problems"), Total: len(ps.list) + ps.more, UncheckedFrom: ps.unreadAt}
}

// listed returns the problems listed, with a last one counting those past
// MaxProblems (noun names them: "problems", "warnings").
func (ps *problems) listed(noun string) []Problem {
	out := append(make([]Problem, 0, len(ps.list)+1), ps.list...)
	if ps.more > 0 || ps.unreadAt != "" {
		msg := fmt.Sprintf("… and %d more %s (at most %d are listed)", ps.more, noun, MaxProblems)
		if ps.unreadAt != "" {
			msg += fmt.Sprintf("; checking stopped at %s, the items from there on were not read", ps.unreadAt)
		}
		out = append(out, Problem{Message: msg})
	}
	return out
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
