package ocppj

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	const pw = "correct-horse-battery"
	h, err := hashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, pw) || !strings.HasPrefix(h, passwordScheme+"$") {
		t.Fatalf("stored form %q", h)
	}
	h2, _ := hashPassword(pw)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		stored, pw string
		want       bool
	}{
		{h, pw, true},
		{h2, pw, true},
		{h, pw + "x", false},
		{h, "", false},
		{"", pw, false},
		{"pbkdf2-sha256$0$AA$AA", pw, false},
		{"md5$1$AA$AA", pw, false},
	} {
		if got := checkPassword(tc.stored, tc.pw); got != tc.want {
			t.Errorf("checkPassword(%q, %q) = %v, want %v", tc.stored, tc.pw, got, tc.want)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	for _, tc := range []struct {
		pw      string
		wantErr bool
	}{
		{strings.Repeat("a", 15), true},
		{strings.Repeat("a", 16), false},
		{strings.Repeat("ä", 40), false},
		{strings.Repeat("a", 41), true},
		{strings.Repeat("a", 16) + "\n", true},
	} {
		if err := validatePassword(tc.pw); (err != nil) != tc.wantErr {
			t.Errorf("validatePassword(%q) = %v", tc.pw, err)
		}
	}
}

// BenchmarkCheckPassword measures the handshake's password check: the cost
// MaxVerifying bounds.
func BenchmarkCheckPassword(b *testing.B) {
	h, err := hashPassword("correct-horse-battery")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		checkPassword(h, "correct-horse-battery")
	}
}
