package tariffs

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/internal/jsontext"
)

// jwriter writes JSON with the fields in a fixed order — the order the OCPI
// tables list them — and decimals as JSON numbers in the scale they were read
// with, so a tariff written back reads like the one received.
type jwriter struct {
	buf      []byte
	counts   []int // values written so far in each open object or array
	afterKey bool  // the next value completes a member
}

// before writes the separator a value needs.
func (w *jwriter) before() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	if n := len(w.counts); n > 0 {
		if w.counts[n-1] > 0 {
			w.buf = append(w.buf, ',')
		}
		w.counts[n-1]++
	}
}

func (w *jwriter) beginObject() {
	w.before()
	w.buf = append(w.buf, '{')
	w.counts = append(w.counts, 0)
}
func (w *jwriter) endObject() { w.buf = append(w.buf, '}'); w.counts = w.counts[:len(w.counts)-1] }
func (w *jwriter) beginArray() {
	w.before()
	w.buf = append(w.buf, '[')
	w.counts = append(w.counts, 0)
}
func (w *jwriter) endArray() { w.buf = append(w.buf, ']'); w.counts = w.counts[:len(w.counts)-1] }

// key writes a member name; the value written next belongs to it.
func (w *jwriter) key(k string) {
	w.before()
	w.buf = jsontext.AppendString(w.buf, k)
	w.buf = append(w.buf, ':')
	w.afterKey = true
}

func (w *jwriter) str(s string) {
	w.before()
	w.buf = jsontext.AppendString(w.buf, s)
}

func (w *jwriter) dec(d decimal.Decimal) {
	w.before()
	w.buf = append(w.buf, d.String()...)
}

func (w *jwriter) integer(n int64) {
	w.before()
	w.buf = strconv.AppendInt(w.buf, n, 10)
}

func (w *jwriter) boolean(b bool) {
	w.before()
	w.buf = strconv.AppendBool(w.buf, b)
}

func (w *jwriter) datetime(t time.Time) { w.str(formatDateTime(t)) }

func (w *jwriter) raw(r json.RawMessage) {
	w.before()
	w.buf = append(w.buf, r...)
}

// Helpers for optional members: each writes nothing when the value is absent.

func (w *jwriter) optStr(k, s string) {
	if s != "" {
		w.key(k)
		w.str(s)
	}
}

func (w *jwriter) optDec(k string, d decimal.NullDecimal) {
	if d.Valid {
		w.key(k)
		w.dec(d.Decimal)
	}
}

func (w *jwriter) optTime(k string, t time.Time) {
	if !t.IsZero() {
		w.key(k)
		w.datetime(t)
	}
}
