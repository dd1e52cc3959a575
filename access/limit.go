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

// Limiter counts attempts per client address (ClientKey: an IPv6 client
// is its /64): at most Burst in a row, refilled at PerMinute. A nil or
// zero Limiter refuses nothing.
//
// A credential check reserves its attempt before it runs (Begin) and
// gets it back only if it succeeds (Attempt.Succeeded). Checking first
// and charging after would let many concurrent guesses pass the check
// while the slow password hash of each runs. An attempt refused because
// the address has nothing left is charged too, as debt (down to -Burst):
// an address that keeps guessing while blocked stays blocked longer.
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

// NewLimiter returns a limiter of perMinute attempts per address, with
// bursts of burst.
func NewLimiter(perMinute float64, burst int) *Limiter {
	return &Limiter{PerMinute: perMinute, Burst: burst, buckets: make(map[netip.Addr]*bucket), now: time.Now}
}

func (l *Limiter) off() bool { return l == nil || l.Burst <= 0 }

// refillLocked is called locked (l.mu).
func (l *Limiter) refillLocked(key netip.Addr, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxTracked {
			l.pruneLocked(now)
		}
		b = &bucket{tokens: float64(l.Burst), last: now}
		l.buckets[key] = b
		return b
	}
	b.tokens = min(float64(l.Burst), b.tokens+now.Sub(b.last).Minutes()*l.PerMinute)
	b.last = now
	return b
}

// take takes one token of addr's bucket if it has one; else it charges
// a debt and reports false.
func (l *Limiter) take(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refillLocked(ClientKey(addr), l.now())
	if b.tokens < 1 {
		b.tokens = max(-float64(l.Burst), b.tokens-1)
		return false
	}
	b.tokens--
	return true
}

// Attempt is an attempt reserved by Begin.
type Attempt struct {
	l   *Limiter
	key netip.Addr
}

// Begin reserves an attempt of addr. It reports false, and the caller
// must refuse without checking anything, when addr has used up its
// attempts.
func (l *Limiter) Begin(addr netip.Addr) (Attempt, bool) {
	if l.off() {
		return Attempt{}, true
	}
	if !l.take(addr) {
		return Attempt{}, false
	}
	return Attempt{l: l, key: ClientKey(addr)}, true
}

// Succeeded gives the attempt back: only failures count.
func (a Attempt) Succeeded() {
	if a.l == nil {
		return
	}
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	b := a.l.refillLocked(a.key, a.l.now())
	b.tokens = min(float64(a.l.Burst), b.tokens+1)
}

// Take counts one event of addr (a rate, not a failure), reporting false
// when addr has none left.
func (l *Limiter) Take(addr netip.Addr) bool {
	if l.off() {
		return true
	}
	return l.take(addr)
}

// Blocked reports whether addr has used up its attempts.
func (l *Limiter) Blocked(addr netip.Addr) bool {
	if l.off() {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refillLocked(ClientKey(addr), l.now()).tokens < 1
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
