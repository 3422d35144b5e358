package auth

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter keeps one token bucket per credential. Buckets idle for
// longer than idleAfter are dropped, so memory follows active callers.
type rateLimiter struct {
	perSecond rate.Limit
	burst     int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

const idleAfter = 10 * time.Minute

func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	if burst < 1 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	return &rateLimiter{perSecond: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

// allow takes a token for the credential; when none is left it returns how
// long to wait for one.
func (r *rateLimiter) allow(credential string, now time.Time) (ok bool, retryAfter time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastSweep) > time.Minute {
		for k, b := range r.buckets {
			if now.Sub(b.lastSeen) > idleAfter {
				delete(r.buckets, k)
			}
		}
		r.lastSweep = now
	}
	b := r.buckets[credential]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(r.perSecond, r.burst)}
		r.buckets[credential] = b
	}
	b.lastSeen = now
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// failureLimiter counts failed authentications per client address in fixed
// windows. Once an address has failed limit times in a window, its requests
// are refused before their credentials are looked at, which caps how fast
// one client can guess keys or make the database check them.
//
// The table holds at most size addresses; when it is full, windows that
// ended are dropped first, then arbitrary entries, so a client spreading
// its failures over many addresses costs memory up to the bound and no more.
// IPv6 addresses count per /64, the block one host usually controls.
type failureLimiter struct {
	limit  int
	window time.Duration
	size   int

	mu        sync.Mutex
	addrs     map[netip.Addr]*failures
	lastSweep time.Time
}

type failures struct {
	count int
	start time.Time // start of the current window
}

func newFailureLimiter(limit int, window time.Duration, size int) *failureLimiter {
	return &failureLimiter{limit: limit, window: window, size: size, addrs: map[netip.Addr]*failures{}}
}

// addrKey is the table key of a client address; an unparsable address (not
// expected from a TCP peer) shares the zero key.
func addrKey(ip string) netip.Addr {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// blocked reports whether the address used up its failures in the current
// window, and how long until the window ends.
func (l *failureLimiter) blocked(ip string, now time.Time) (bool, time.Duration) {
	key := addrKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.addrs[key]
	if f == nil || f.count < l.limit {
		return false, 0
	}
	end := f.start.Add(l.window)
	if !now.Before(end) {
		return false, 0
	}
	return true, end.Sub(now)
}

// fail counts one failed authentication of the address.
func (l *failureLimiter) fail(ip string, now time.Time) {
	key := addrKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.addrs[key]
	if f == nil {
		if len(l.addrs) >= l.size {
			l.evictLocked(now)
		}
		f = &failures{start: now}
		l.addrs[key] = f
	}
	if !now.Before(f.start.Add(l.window)) {
		f.count, f.start = 0, now
	}
	f.count++
}

// evictLocked makes room for one address. The sweep of ended windows runs
// at most once a second, so a full table costs a failure O(1), not O(size).
func (l *failureLimiter) evictLocked(now time.Time) {
	if now.Sub(l.lastSweep) >= time.Second {
		l.lastSweep = now
		for k, f := range l.addrs {
			if !now.Before(f.start.Add(l.window)) {
				delete(l.addrs, k)
			}
		}
	}
	for k := range l.addrs {
		if len(l.addrs) < l.size {
			return
		}
		delete(l.addrs, k)
	}
}

// count is the number of addresses in the table, for tests.
func (l *failureLimiter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}
