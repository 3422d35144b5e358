package tariffs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/govalues/decimal"
)

// The OCPI objects are read with a small strict reader rather than
// encoding/json struct tags, because validation must name every problem with
// its path and go on: an unknown or misspelled field, a number written as a
// string, a duplicate key. Numbers are taken from their JSON text straight
// into decimals, never through float64.

// jobject is one JSON object being read. Each take marks a key as known; done
// reports the keys nobody took as unknown fields.
type jobject struct {
	ps   *problems
	path string
	keys []string
	vals []json.RawMessage
	used []bool
	// at is the index of each key's last occurrence, once the object has
	// more than smallObject keys: finding a key, and a repeated one, is then
	// a map look-up, so an object of 100 000 keys is read in linear time.
	at     map[string]int
	wanted []string
}

// smallObject is the size up to which an object's keys are searched one by
// one: cheaper than a map for the few fields of an OCPI object.
const smallObject = 16

// find returns the index of the last occurrence of key.
func (o *jobject) find(key string) (int, bool) {
	if o.at != nil {
		i, ok := o.at[key]
		return i, ok
	}
	for i := len(o.keys) - 1; i >= 0; i-- {
		if o.keys[i] == key {
			return i, true
		}
	}
	return 0, false
}

// addKey appends a member, reporting a repeated key.
func (o *jobject) addKey(key string, v json.RawMessage) {
	if _, dup := o.find(key); dup {
		o.ps.add(field(o.path, key), "duplicate field")
	}
	o.keys = append(o.keys, key)
	o.vals = append(o.vals, v)
	o.used = append(o.used, false)
	switch {
	case o.at != nil:
		o.at[key] = len(o.keys) - 1
	case len(o.keys) > smallObject:
		o.at = make(map[string]int, 2*len(o.keys))
		for i, k := range o.keys {
			o.at[k] = i
		}
	}
}

// readObject splits raw into its members. It reports a value that is not an
// object, and duplicate keys, at path.
func readObject(ps *problems, path string, raw json.RawMessage) (*jobject, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		ps.add(path, "must be an object, not %s", jsonKind(raw))
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		ps.add(path, "invalid JSON: %v", err)
		return nil, false
	}
	o := &jobject{ps: ps, path: path}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			ps.add(path, "invalid JSON: %v", err)
			return nil, false
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			ps.add(field(path, key), "invalid JSON: %v", err)
			return nil, false
		}
		o.addKey(key, v)
	}
	return o, true
}

// take returns the raw value of key (its last occurrence; a repeat is
// reported as a duplicate), marking the key known. A JSON null reads as
// absent: OCPI allows either for an optional field.
func (o *jobject) take(key string) (json.RawMessage, bool) {
	o.wanted = append(o.wanted, key)
	i, ok := o.find(key)
	if !ok {
		return nil, false
	}
	o.used[i] = true
	if string(o.vals[i]) == "null" {
		return nil, false
	}
	return o.vals[i], true
}

// done reports every field that was not taken, with a suggestion when the
// key looks like a misspelling of a known one.
func (o *jobject) done() {
	for i, k := range o.keys {
		if last, _ := o.find(k); o.used[i] || last != i {
			continue // taken, or an earlier occurrence of a key reported as a duplicate
		}
		if o.ps.fullFor(field(o.path, k)) {
			o.ps.add(field(o.path, k), "unknown field") // only counted
			continue
		}
		if s := closest(k, o.wanted); s != "" {
			o.ps.add(field(o.path, k), "unknown field (did you mean %q?)", s)
		} else {
			o.ps.add(field(o.path, k), "unknown field")
		}
	}
}

func (o *jobject) missing(key string) { o.ps.add(field(o.path, key), "is required") }

// str reads a string field; maxLen > 0 limits its length in characters.
func (o *jobject) str(key string, required bool, maxLen int) string {
	raw, ok := o.take(key)
	if !ok {
		if required {
			o.missing(key)
		}
		return ""
	}
	s, ok := rawString(raw)
	if !ok {
		o.ps.add(field(o.path, key), "must be a string, not %s", jsonKind(raw))
		return ""
	}
	if maxLen > 0 && len([]rune(s)) > maxLen {
		o.ps.add(field(o.path, key), "is longer than %d characters", maxLen)
	}
	if required && s == "" {
		o.missing(key)
	}
	return s
}

// num reads a JSON number into a decimal.
func (o *jobject) num(key string, required bool) decimal.NullDecimal {
	raw, ok := o.take(key)
	if !ok {
		if required {
			o.missing(key)
		}
		return decimal.NullDecimal{}
	}
	d, msg := parseNumber(raw)
	if msg != "" {
		o.ps.add(field(o.path, key), "%s", msg)
		return decimal.NullDecimal{}
	}
	return decimal.NullDecimal{Decimal: d, Valid: true}
}

// integer reads a JSON integer (no fraction, no exponent).
func (o *jobject) integer(key string, required bool) (int64, bool) {
	raw, ok := o.take(key)
	if !ok {
		if required {
			o.missing(key)
		}
		return 0, false
	}
	s := string(bytes.TrimSpace(raw))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if len(s) > 0 && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
			o.ps.add(field(o.path, key), "%s is not an integer", s)
		} else {
			o.ps.add(field(o.path, key), "must be an integer, not %s", jsonKind(raw))
		}
		return 0, false
	}
	return n, true
}

// boolean reads true or false.
func (o *jobject) boolean(key string) (value, present bool) {
	raw, ok := o.take(key)
	if !ok {
		return false, false
	}
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	o.ps.add(field(o.path, key), "must be true or false, not %s", jsonKind(raw))
	return false, false
}

// datetime reads an OCPI DateTime: RFC 3339 in UTC, where a missing zone
// designator means UTC and fractional seconds are allowed.
func (o *jobject) datetime(key string, required bool) (time.Time, bool) {
	raw, ok := o.take(key)
	if !ok {
		if required {
			o.missing(key)
		}
		return time.Time{}, false
	}
	s, ok := rawString(raw)
	if !ok {
		o.ps.add(field(o.path, key), "must be a string, not %s", jsonKind(raw))
		return time.Time{}, false
	}
	t, msg := parseDateTime(s)
	if msg != "" {
		o.ps.add(field(o.path, key), "%s", msg)
		return time.Time{}, false
	}
	return t, true
}

// object reads a nested object.
func (o *jobject) object(key string, required bool) (*jobject, bool) {
	raw, ok := o.take(key)
	if !ok {
		if required {
			o.missing(key)
		}
		return nil, false
	}
	return readObject(o.ps, field(o.path, key), raw)
}

// array reads a JSON array, calling each for its elements with their paths.
// It returns the number of elements and whether the field was present. Once
// the problem list is full the rest is left unread (the input is refused
// anyway; 100 000 invalid elements would only make work), and the count
// returned is then one more than the elements read.
func (o *jobject) array(key string, required bool, each func(path string, raw json.RawMessage)) (int, bool) {
	raw, ok := o.take(key)
	if !ok {
		if required {
			o.missing(key)
		}
		return 0, false
	}
	path := field(o.path, key)
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		o.ps.add(path, "must be an array, not %s", jsonKind(raw))
		return 0, false
	}
	// Item by item, so that stopping early saves the reading too.
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		o.ps.add(path, "invalid JSON: %v", err)
		return 0, false
	}
	n := 0
	for ; dec.More(); n++ {
		if o.ps.full() {
			o.ps.stop(index(path, n))
			return n + 1, true
		}
		var it json.RawMessage
		if err := dec.Decode(&it); err != nil {
			o.ps.add(path, "invalid JSON: %v", err)
			return 0, false
		}
		each(index(path, n), it)
	}
	return n, true
}

// rawJSON returns a field's JSON text unread, for objects this package keeps
// but does not interpret (energy_mix).
func (o *jobject) rawJSON(key string) json.RawMessage {
	raw, ok := o.take(key)
	if !ok {
		return nil
	}
	return append(json.RawMessage(nil), bytes.TrimSpace(raw)...)
}

func rawString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch c := raw[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	default:
		return "a number"
	}
}

// parseNumber reads a JSON number's text as a decimal. A number with more
// significant digits than the decimal holds is refused rather than rounded:
// money is never changed by reading it.
func parseNumber(raw json.RawMessage) (decimal.Decimal, string) {
	s := string(bytes.TrimSpace(raw))
	if len(s) == 0 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		if len(s) > 0 && s[0] == '"' {
			return zero, fmt.Sprintf("must be a number, not a string (%s)", s)
		}
		return zero, fmt.Sprintf("must be a number, not %s", jsonKind(raw))
	}
	d, err := decimal.Parse(s)
	if err != nil {
		return zero, fmt.Sprintf("%s is out of range", s)
	}
	// Parse rounds beyond 19 significant digits; check the value is exact.
	var exact big.Rat
	if _, ok := exact.SetString(s); !ok {
		return zero, fmt.Sprintf("%s is not a number", s)
	}
	var got big.Rat
	got.SetString(d.String())
	if exact.Cmp(&got) != 0 {
		return zero, fmt.Sprintf("%s has more than %d significant digits", s, decimal.MaxPrec)
	}
	return d, ""
}

// parseDateTime reads an OCPI DateTime.
func parseDateTime(s string) (time.Time, string) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if _, off := t.Zone(); off != 0 {
			return time.Time{}, fmt.Sprintf("%q is not in UTC (OCPI timestamps are UTC)", s)
		}
		return t.UTC(), ""
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC); err == nil {
		return t, ""
	}
	return time.Time{}, fmt.Sprintf("%q is not an RFC 3339 date-time", s)
}

// formatDateTime writes a time the way OCPI does: UTC, "Z", fractional
// seconds only when there are any.
// formatDateTime writes an OCPI DateTime: UTC, and at most milliseconds,
// so that it fits OCPI's string(25) (microseconds make 27 characters, which
// a roaming partner's validator refuses). Finer digits are cut, not
// rounded: a time is never moved past the instant it names.
func formatDateTime(t time.Time) string {
	return t.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.999Z07:00")
}

// closest returns the candidate within edit distance 2 of s — ignoring case,
// '-' for '_', and the underscores themselves — for "did you mean" hints.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	norm := strings.ToLower(strings.ReplaceAll(s, "-", "_"))
	bare := strings.ReplaceAll(norm, "_", "")
	for _, c := range candidates {
		if norm == c {
			return c
		}
		d := editDistance(norm, c)
		// Also compare without separators: "postcode" is "postal_code".
		if d2 := editDistance(bare, strings.ReplaceAll(c, "_", "")); d2 < d {
			d = d2
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
