package credcache

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

func key(i int) [32]byte { return sha256.Sum256(fmt.Appendf(nil, "credential %d", i)) }

func TestBounds(t *testing.T) {
	t.Parallel()
	now := time.Now()
	c := New[int](time.Minute, 0, 3)
	for i := range 10 {
		c.Put(key(i), fmt.Sprint("owner ", i), i, now, c.Generation())
		if n := c.Len(); n > 3 {
			t.Fatalf("after %d puts the cache holds %d entries, want at most 3", i+1, n)
		}
	}
	if v, fresh, ok := c.Get(key(9), now); !ok || !fresh || v != 9 {
		t.Errorf("newest entry: %v %v %v, want 9, fresh", v, fresh, ok)
	}
	if _, _, ok := c.Get(key(9), now.Add(time.Minute+time.Second)); ok {
		t.Error("an entry past its TTL (no grace) was returned")
	}
}

func TestOneEntryPerOwner(t *testing.T) {
	t.Parallel()
	now := time.Now()
	c := New[int](time.Minute, 0, 10)
	c.Put(key(1), "box", 1, now, c.Generation())
	c.Put(key(2), "box", 2, now, c.Generation())
	if _, _, ok := c.Get(key(1), now); ok || c.Len() != 1 {
		t.Fatalf("the owner's previous entry stayed (%d entries)", c.Len())
	}
	c.Forget("box")
	if _, _, ok := c.Get(key(2), now); ok || c.Len() != 0 {
		t.Fatal("Forget left the owner's entry")
	}
}

func TestPutAfterForgetIsDropped(t *testing.T) {
	t.Parallel()
	now := time.Now()
	c := New[int](time.Minute, 0, 10)
	gen := c.Generation() // a check starts
	c.Forget("box")       // the credential changes meanwhile
	c.Put(key(1), "box", 1, now, gen)
	if c.Len() != 0 {
		t.Fatal("a check that began before a change stored its result")
	}
}
