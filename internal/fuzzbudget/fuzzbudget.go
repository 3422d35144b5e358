// Package fuzzbudget bounds what one fuzz input may cost a decoder: its
// time and the memory it allocates, in proportion to the input's size. A
// fuzz target that only checks for panics misses the inputs that take the
// service down anyway — a few bytes that declare a gigabyte, or a quadratic
// scan — and those are what a hostile client sends.
//
// The bounds are deliberately generous (the fuzzer runs beside other work,
// under -race, on shared machines): they catch amplification by orders of
// magnitude, not a slow decoder.
package fuzzbudget

import (
	"fmt"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// Budget is what one call may cost for an input of n bytes.
type Budget struct {
	// Time is the CPU time allowed regardless of size; zero means 2s.
	Time time.Duration
	// TimePerByte is added to Time for each input byte; zero means 20µs
	// (a 1 MiB input gets about 23s).
	TimePerByte time.Duration
	// Bytes is the heap allocation allowed regardless of size; zero means
	// 16 MiB.
	Bytes int64
	// BytesPerByte is added to Bytes for each input byte; zero means 256.
	BytesPerByte int64
}

func (b Budget) withDefaults() Budget {
	if b.Time == 0 {
		b.Time = 2 * time.Second
	}
	if b.TimePerByte == 0 {
		b.TimePerByte = 20 * time.Microsecond
	}
	if b.Bytes == 0 {
		b.Bytes = 16 << 20
	}
	if b.BytesPerByte == 0 {
		b.BytesPerByte = 256
	}
	return b
}

// Limits returns the CPU time and allocation allowed for an input of n
// bytes. The time is multiplied by raceSlowdown under the race detector.
func (b Budget) Limits(n int) (time.Duration, int64) {
	b = b.withDefaults()
	return (b.Time + time.Duration(n)*b.TimePerByte) * raceSlowdown, b.Bytes + int64(n)*b.BytesPerByte
}

// allocsMetric is the cumulative count of heap bytes allocated. Reading it
// does not stop the world (runtime.ReadMemStats does), so fuzzing keeps its
// speed; it lags by at most a span per size class, far below any Budget.
const allocsMetric = "/gc/heap/allocs:bytes"

// Time is measured as the process's CPU time, not wall time: on a loaded
// machine a call may wait seconds for a core, but it cannot use more CPU
// than it needs. A call that waits without using CPU (a deadlock) is caught
// by wall time, at blockedFactor times the budget.
const (
	blockedFactor = 20
	pollEvery     = 50 * time.Millisecond
)

// hung ends the process; tests replace it.
var hung = func(msg string) {
	debug.SetTraceback("all")
	panic(msg)
}

// Check runs fn, the call under test for an input of n bytes, and fails t
// when it used more CPU time or allocated more than b allows. Only fn is
// measured: reference decoders and assertions around it are not.
//
// A call that does not return would hold a fuzz worker until the run ends,
// and the run would pass: so while fn runs, a timer watches it, and once it
// is past its budget the process ends with every goroutine's stack, which
// the fuzzer reports with the input.
func Check(t testing.TB, b Budget, n int, fn func()) {
	t.Helper()
	maxTime, maxBytes := b.Limits(n)
	startCPU, start := cpuTime(), time.Now()
	var (
		mu    sync.Mutex // guards timer and done: Stop comes after the last Reset
		timer *time.Timer
		done  bool
	)
	mu.Lock()
	defer mu.Unlock()
	timer = time.AfterFunc(pollEvery, func() {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		switch cpu, wall := cpuTime()-startCPU, time.Since(start); {
		case cpu > maxTime:
			hung(fmt.Sprintf("fuzzbudget: one input of %d bytes still running after %s of CPU, budget %s", n, cpu, maxTime))
		case wall > blockedFactor*maxTime:
			hung(fmt.Sprintf("fuzzbudget: one input of %d bytes still running after %s, blocked", n, wall))
		default:
			timer.Reset(pollEvery)
		}
	})
	mu.Unlock()
	defer func() {
		mu.Lock()
		done = true
		timer.Stop()
	}()
	sample := []metrics.Sample{{Name: allocsMetric}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	fn()
	took := cpuTime() - startCPU
	metrics.Read(sample)
	allocated := int64(sample[0].Value.Uint64() - before)
	if took > maxTime {
		t.Fatalf("one input of %d bytes took %s of CPU, budget %s", n, took, maxTime)
	}
	if allocated > maxBytes {
		t.Fatalf("one input of %d bytes allocated %d bytes, budget %d", n, allocated, maxBytes)
	}
}
