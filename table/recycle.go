package table

import (
	"math/bits"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// recycler is an Arrow allocator that keeps the buffers of a written record
// batch for the next one. A record builder hands its buffers to the record
// it builds and starts the next batch on new ones; with Go's allocator
// every batch of an export is garbage a moment later (about 1 KiB a row of
// the sessions export), so a long export spent much of its time allocating,
// zeroing and collecting the same memory again. Buffers come in powers of
// two; at most maxKept bytes wait for reuse. Not safe for concurrent use:
// one writer, one goroutine.
type recycler struct {
	mem  memory.GoAllocator
	free [64][][]byte // by log2 of the capacity
	kept int
}

// maxKept bounds the bytes the recycler holds for reuse: a few batches'.
const maxKept = 32 << 20

// Allocate returns size zeroed bytes.
func (r *recycler) Allocate(size int) []byte {
	class := sizeClass(size)
	if n := len(r.free[class]); n > 0 {
		b := r.free[class][n-1]
		r.free[class] = r.free[class][:n-1]
		r.kept -= cap(b)
		b = b[:size]
		clear(b)
		return b
	}
	return r.mem.Allocate(1 << class)[:size]
}

// Reallocate resizes b, keeping its bytes; bytes past them are zero only
// when new, as with memory.GoAllocator.
func (r *recycler) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		return b[:size]
	}
	nb := r.Allocate(size)
	copy(nb, b)
	r.Free(b)
	return nb
}

// Free keeps b for reuse when it came from Allocate and there is room.
func (r *recycler) Free(b []byte) {
	c := cap(b)
	if c == 0 || c&(c-1) != 0 || r.kept+c > maxKept {
		return
	}
	class := bits.TrailingZeros(uint(c))
	r.free[class] = append(r.free[class], b[:0])
	r.kept += c
}

// sizeClass is the log2 of the smallest power of two of at least size
// bytes (64 at the least: Arrow's alignment).
func sizeClass(size int) int {
	if size <= 64 {
		return 6
	}
	return bits.Len(uint(size - 1))
}
