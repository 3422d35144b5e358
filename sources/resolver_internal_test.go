package sources

import (
	"testing"
	"time"
	"unsafe"
)

// TestRememberCopiesReferences: a reference may live in a buffer the
// caller reuses (Fiber's route parameters point into the request's), so the
// cache keeps its own copy. Without it the map would hold a key whose bytes
// change under it: stored under one name's hash, reading as another, never
// found or forgotten again, and on a hash collision answering for the wrong
// source.
func TestRememberCopiesReferences(t *testing.T) {
	r := &Resolver{ttl: time.Minute}
	r.Flush()
	buf := []byte("CB-1/1")
	ref := unsafe.String(&buf[0], len(buf)) // shares buf, as a route parameter does
	r.remember(1, map[string]int64{ref: 7}, time.Now())
	copy(buf, "CB-9/9") // the next request reuses the buffer
	for k, v := range r.ids {
		if k.ref != "CB-1/1" || v.id != 7 {
			t.Fatalf("cached %q → %d after the caller's buffer changed; want CB-1/1 → 7", k.ref, v.id)
		}
	}
	for _, k := range r.refsOf[7] {
		if k.ref != "CB-1/1" {
			t.Fatalf("source 7 is known by %q after the caller's buffer changed; want CB-1/1", k.ref)
		}
	}
}
