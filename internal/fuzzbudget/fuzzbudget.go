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
	"runtime/metrics"
	"testing"
	"time"
)

// Budget is what one call may cost for an input of n bytes.
type Budget struct {
	// Time is the wall time allowed regardless of size; zero means 2s.
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

// Limits returns the time and allocation allowed for an input of n bytes.
// The time is multiplied by raceSlowdown under the race detector.
func (b Budget) Limits(n int) (time.Duration, int64) {
	b = b.withDefaults()
	return (b.Time + time.Duration(n)*b.TimePerByte) * raceSlowdown, b.Bytes + int64(n)*b.BytesPerByte
}

// allocsMetric is the cumulative count of heap bytes allocated. Reading it
// does not stop the world (runtime.ReadMemStats does), so fuzzing keeps its
// speed; it lags by at most a span per size class, far below any Budget.
const allocsMetric = "/gc/heap/allocs:bytes"

// Check runs fn, the call under test for an input of n bytes, and fails t
// when it took longer or allocated more than b allows. Only fn is measured:
// reference decoders and assertions around it are not.
func Check(t testing.TB, b Budget, n int, fn func()) {
	t.Helper()
	sample := []metrics.Sample{{Name: allocsMetric}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	start := time.Now()
	fn()
	took := time.Since(start)
	metrics.Read(sample)
	allocated := int64(sample[0].Value.Uint64() - before)
	maxTime, maxBytes := b.Limits(n)
	if took > maxTime {
		t.Fatalf("one input of %d bytes took %s, budget %s", n, took, maxTime)
	}
	if allocated > maxBytes {
		t.Fatalf("one input of %d bytes allocated %d bytes, budget %d", n, allocated, maxBytes)
	}
}
