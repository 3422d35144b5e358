package jsontext

import (
	"bytes"
	"encoding/json"
	"testing"
)

// seeds are texts escaping must get right: quotes and backslashes, control
// characters, HTML's <, > and &, JavaScript's line ends, invalid UTF-8.
var seeds = []string{"", "plain", `say "hi" \ back`, "line\nbreak\ttab\r", "\x00\x01\x1f\x7f\b\f",
	"<a href='x'>&</a>", "\u2028x\u2029", "\xff", "ok\xc3", "\xe2\x80", "Čakovec 東京 🚗"}

// FuzzString compares AppendString with encoding/json on any text.
func FuzzString(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, encoding/json %s", s, got, want)
		}
		if got := AppendString(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Fatalf("%q as bytes: got %s, encoding/json %s", s, got, want)
		}
	})
}
