package jsontext

import (
	"bytes"
	"encoding/json"
	"testing"
)

// awkward are texts at the edges of escaping.
var awkward = []string{
	"", "plain", `"`, `say "hi"`, "a,b", "\n", "line\nbreak", "\r", "cr\r\n", " lead", "\tlead", `\.`, `\.x`, `\`,
	"<a href='x'>&</a>", "Čakovec 東京 🚗", "\u2028x\u2029", "\x00\x01\x1f\x7f", "\xff", "ok\xc3", "\xe2\x80",
	"\u00a0nbsp", "\u0085nel", "\u3000ideographic space", "\b\f", "trail ",
}

// FuzzString compares AppendString with encoding/json on any text.
func FuzzString(f *testing.F) {
	for _, s := range awkward {
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
