package api

import (
	"bytes"
	"encoding/json"
)

// Nullable is a JSON field of an update that distinguishes absent (leave
// it) from null (clear it).
type Nullable[T any] struct {
	Set   bool // present in the document
	Value *T   // nil for null
}

// UnmarshalJSON records that the field was present. An object value
// refuses unknown fields, as DecodeJSON does at the top level (a decoder's
// setting does not reach a field's own UnmarshalJSON).
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		n.Value = nil
		return nil
	}
	n.Value = new(T)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(n.Value)
}

// Apply writes the field onto *dst when it was present: its value, or nil
// for null.
func (n Nullable[T]) Apply(dst **T) {
	if n.Set {
		*dst = n.Value
	}
}

// RejectNulls refuses null for the named top-level fields of a JSON
// object: an update's *T field cannot tell null from absent by itself.
// A malformed body passes, for DecodeJSON to report.
func RejectNulls(body []byte, fields ...string) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil
	}
	for _, name := range fields {
		if v, ok := obj[name]; ok && string(bytes.TrimSpace(v)) == "null" {
			return Validation(name, "cannot be null")
		}
	}
	return nil
}
