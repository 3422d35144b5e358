package auth

import (
	"math"
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
