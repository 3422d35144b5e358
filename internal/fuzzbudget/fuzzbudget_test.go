package fuzzbudget

import (
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps the failure instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
}

var sink []byte

func TestCheck(t *testing.T) {
	t.Parallel()
	small := Budget{Time: 20 * time.Millisecond, TimePerByte: time.Microsecond, Bytes: 1 << 20, BytesPerByte: 16}
	tests := []struct {
		name    string
		n       int
		fn      func()
		wantErr string
	}{
		{name: "within budget", n: 100, fn: func() { sink = make([]byte, 1000) }},
		{name: "allocation grows with the input", n: 1 << 20, fn: func() { sink = make([]byte, 8<<20) }},
		{name: "too much memory", n: 100, fn: func() { sink = make([]byte, 64<<20) }, wantErr: "allocated"},
		{name: "too slow", n: 0, fn: func() { time.Sleep(small.Time*raceSlowdown + 50*time.Millisecond) }, wantErr: "took"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			Check(r, small, tt.n, tt.fn)
			if tt.wantErr == "" && r.failed != "" {
				t.Fatalf("failed: %s", r.failed)
			}
			if tt.wantErr != "" && !strings.Contains(r.failed, tt.wantErr) {
				t.Fatalf("failure %q, want one about %q", r.failed, tt.wantErr)
			}
		})
	}
}
