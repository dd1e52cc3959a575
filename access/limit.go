package access

import (
	"net/netip"
	"sync"
	"time"
)

// maxTracked bounds the addresses a Limiter remembers; beyond it, the
// oldest entries are dropped first (a flood of addresses then costs
// memory no longer, only precision).
const maxTracked = 65536

// Limiter counts failures per client address: at most Burst in a row,
// refilled at PerMinute. A zero Limiter refuses nothing.
type Limiter struct {
	PerMinute float64
	Burst     int

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
	now     func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter of perMinute failures per address, with
// bursts of burst.
func NewLimiter(perMinute float64, burst int) *Limiter {
	return &Limiter{PerMinute: perMinute, Burst: burst, buckets: make(map[netip.Addr]*bucket), now: time.Now}
}

func (l *Limiter) refill(addr netip.Addr, now time.Time) *bucket {
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= maxTracked {
			l.pruneLocked(now)
		}
		b = &bucket{tokens: float64(l.Burst), last: now}
		l.buckets[addr] = b
		return b
	}
	b.tokens = min(float64(l.Burst), b.tokens+now.Sub(b.last).Minutes()*l.PerMinute)
	b.last = now
	return b
}

// Blocked reports whether addr has used up its failures.
func (l *Limiter) Blocked(addr netip.Addr) bool {
	if l == nil || l.Burst <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refill(addr.Unmap(), l.now()).tokens < 1
}

// Fail records a failure of addr.
func (l *Limiter) Fail(addr netip.Addr) {
	if l == nil || l.Burst <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(addr.Unmap(), l.now())
	b.tokens = max(0, b.tokens-1)
}

// pruneLocked forgets full buckets, then, if still too many, everything.
func (l *Limiter) pruneLocked(now time.Time) {
	for a, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Minutes()*l.PerMinute >= float64(l.Burst) {
			delete(l.buckets, a)
		}
	}
	if len(l.buckets) >= maxTracked {
		clear(l.buckets)
	}
}
