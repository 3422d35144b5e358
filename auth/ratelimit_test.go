package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestRateLimiterAllow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	type step struct {
		credential string
		at         time.Duration // after t0
		wantOK     bool
		wantWait   time.Duration
	}
	tests := []struct {
		name      string
		perSecond float64
		burst     int
		steps     []step
	}{
		{
			name: "burst then wait", perSecond: 1, burst: 2,
			steps: []step{
				{"a", 0, true, 0},
				{"a", 0, true, 0},
				{"a", 0, false, time.Second},
				{"a", 500 * time.Millisecond, false, 500 * time.Millisecond},
				// Refusals do not use up tokens: one is back after 1s.
				{"a", time.Second, true, 0},
				{"a", time.Second, false, time.Second},
				{"a", 3 * time.Second, true, 0},
				{"a", 3 * time.Second, true, 0},
				{"a", 3 * time.Second, false, time.Second},
			},
		},
		{
			name: "credentials are independent", perSecond: 1, burst: 1,
			steps: []step{
				{"a", 0, true, 0},
				{"a", 0, false, time.Second},
				{"b", 0, true, 0},
				{"b", 0, false, time.Second},
			},
		},
		{
			name: "burst defaults to the rate rounded up", perSecond: 2.5, burst: 0,
			steps: []step{
				{"a", 0, true, 0},
				{"a", 0, true, 0},
				{"a", 0, true, 0},
				{"a", 0, false, 400 * time.Millisecond},
			},
		},
		{
			name: "burst is at least one", perSecond: 0.5, burst: 0,
			steps: []step{
				{"a", 0, true, 0},
				{"a", 0, false, 2 * time.Second},
				{"a", 2 * time.Second, true, 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRateLimiter(tt.perSecond, tt.burst)
			for i, s := range tt.steps {
				ok, wait := r.allow(s.credential, t0.Add(s.at))
				if ok != s.wantOK || wait != s.wantWait {
					t.Errorf("step %d: allow(%s, +%s) = %v, %s; want %v, %s", i, s.credential, s.at, ok, wait, s.wantOK, s.wantWait)
				}
			}
		})
	}
}

func TestRateLimiterSweep(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	r := newRateLimiter(1, 1)
	buckets := func() map[string]bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		m := map[string]bool{}
		for k := range r.buckets {
			m[k] = true
		}
		return m
	}

	r.allow("old", t0)
	r.allow("old", t0) // refused, but it counts as activity
	r.allow("recent", t0.Add(5*time.Minute))
	if got := buckets(); len(got) != 2 {
		t.Fatalf("buckets = %v, want old and recent", got)
	}

	// 10m30s after "old" was last seen: it is dropped, "recent" stays.
	r.allow("new", t0.Add(idleAfter+30*time.Second))
	if got := buckets(); len(got) != 2 || got["old"] || !got["recent"] || !got["new"] {
		t.Errorf("after the sweep buckets = %v, want recent and new", got)
	}

	// A dropped credential starts again with a full bucket.
	if ok, _ := r.allow("old", t0.Add(idleAfter+31*time.Second)); !ok {
		t.Error("a swept credential was refused")
	}

	// Sweeps run at most once a minute: an idle bucket survives until then.
	last := t0.Add(idleAfter + 31*time.Second)
	r.allow("recent", last) // keep it alive
	idle := last.Add(idleAfter + time.Second)
	r.mu.Lock()
	r.lastSweep = idle.Add(-30 * time.Second)
	r.mu.Unlock()
	r.allow("x", idle)
	if got := buckets(); !got["recent"] {
		t.Errorf("buckets = %v: swept within a minute of the last sweep", got)
	}
	r.allow("x", idle.Add(31*time.Second))
	if got := buckets(); got["recent"] || got["old"] || got["new"] || !got["x"] {
		t.Errorf("buckets = %v, want only x", got)
	}
}

func TestFailureLimiter(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newFailureLimiter(3, time.Minute, 100)
	for i := range 3 {
		if blocked, _ := l.blocked("192.0.2.1", t0); blocked {
			t.Fatalf("blocked after %d failures, limit 3", i)
		}
		l.fail("192.0.2.1", t0.Add(time.Duration(i)*time.Second))
	}
	blocked, wait := l.blocked("192.0.2.1", t0.Add(10*time.Second))
	if !blocked || wait != 50*time.Second {
		t.Errorf("after 3 failures: blocked=%v wait=%s, want true 50s (the rest of the window)", blocked, wait)
	}
	if blocked, _ := l.blocked("192.0.2.2", t0); blocked {
		t.Error("another address is blocked")
	}
	if blocked, _ := l.blocked("192.0.2.1", t0.Add(time.Minute)); blocked {
		t.Error("still blocked when the window ended")
	}
	l.fail("192.0.2.1", t0.Add(time.Minute))
	if blocked, _ := l.blocked("192.0.2.1", t0.Add(time.Minute)); blocked {
		t.Error("a failure in a new window counted the old window's failures")
	}

	t.Run("an IPv6 host counts per /64", func(t *testing.T) {
		l := newFailureLimiter(2, time.Minute, 100)
		l.fail("2001:db8:1:2::1", t0)
		l.fail("2001:db8:1:2:ffff::9", t0)
		if blocked, _ := l.blocked("2001:db8:1:2:abcd::7", t0); !blocked {
			t.Error("a new address in the same /64 escaped the limit")
		}
		if blocked, _ := l.blocked("2001:db8:1:3::1", t0); blocked {
			t.Error("another /64 is blocked")
		}
		l.fail("::ffff:192.0.2.9", t0)
		l.fail("192.0.2.9", t0)
		if blocked, _ := l.blocked("192.0.2.9", t0); !blocked {
			t.Error("an IPv4-mapped address counted apart from its IPv4 form")
		}
	})

	t.Run("the table is bounded", func(t *testing.T) {
		l := newFailureLimiter(5, time.Minute, 64)
		for i := range 10_000 {
			l.fail(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), t0.Add(time.Duration(i)*time.Millisecond))
			if n := l.count(); n > 64 {
				t.Fatalf("after %d addresses the table holds %d, want at most 64", i+1, n)
			}
		}
	})
}
