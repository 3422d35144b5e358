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

// TestCheck replaces hung, so it does not run in parallel.
func TestCheck(t *testing.T) {
	hangs := make(chan string, 10)
	hung = func(msg string) { hangs <- msg }
	t.Cleanup(func() { hung = func(msg string) { panic(msg) } })
	small := Budget{Time: 50 * time.Millisecond, TimePerByte: time.Microsecond, Bytes: 1 << 20, BytesPerByte: 16}
	tiny := Budget{Time: 5 * time.Millisecond}
	tinyTime, _ := tiny.Limits(0)
	tests := []struct {
		name    string
		budget  *Budget // default small
		n       int
		fn      func()
		wantErr string
	}{
		{name: "within budget", n: 100, fn: func() { sink = make([]byte, 1000) }},
		{name: "allocation grows with the input", n: 1 << 20, fn: func() { sink = make([]byte, 8<<20) }},
		{name: "too much memory", n: 100, fn: func() { sink = make([]byte, 64<<20) }, wantErr: "allocated"},
		{name: "too much CPU", n: 0, fn: func() { spin(small.Time*raceSlowdown + 50*time.Millisecond) }, wantErr: "took"},
		{name: "waiting uses no CPU", budget: &tiny, n: 0, fn: func() { time.Sleep(tinyTime * 3) }},
		{name: "blocked", budget: &tiny, n: 0, fn: func() { time.Sleep(tinyTime*blockedFactor + 4*pollEvery) }, wantErr: "hung"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := small
			if tt.budget != nil {
				b = *tt.budget
			}
			r := &recorder{TB: t}
			Check(r, b, tt.n, tt.fn)
			var hang string
			select {
			case hang = <-hangs:
			default:
			}
			switch tt.wantErr {
			case "":
				if r.failed != "" || hang != "" {
					t.Fatalf("failed: %q, hung: %q", r.failed, hang)
				}
			case "hung":
				if hang == "" {
					t.Fatal("a blocked call was not reported")
				}
			case "took":
				if !strings.Contains(r.failed, "took") || hang == "" {
					t.Fatalf("failure %q, hung %q: want both, the second while it ran", r.failed, hang)
				}
			default:
				if !strings.Contains(r.failed, tt.wantErr) {
					t.Fatalf("failure %q, want one about %q", r.failed, tt.wantErr)
				}
			}
		})
	}
}

// spin uses d of the process's CPU time.
func spin(d time.Duration) {
	start := cpuTime()
	for x := 0; cpuTime()-start < d; x++ {
		for i := 0; i < 1000; i++ {
			x ^= i
		}
	}
}
