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
// is its /64): at most burst in a row, refilled at perMinute. A nil
// Limiter, or one with a burst of 0, refuses nothing. SetRate changes the
// rate and the burst while it runs.
//
// A credential check reserves its attempt before it runs (Begin) and
// gets it back only if it succeeds (Attempt.Succeeded). Checking first
// and charging after would let many concurrent guesses pass the check
// while the slow password hash of each runs. An attempt refused because
// the address has nothing left is charged too, as debt (down to -Burst):
// an address that keeps guessing while blocked stays blocked longer.
type Limiter struct {
	mu        sync.Mutex
	perMinute float64
	burst     int
	buckets   map[netip.Addr]*bucket
	now       func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter of perMinute attempts per address, with
// bursts of burst.
func NewLimiter(perMinute float64, burst int) *Limiter {
	return &Limiter{perMinute: perMinute, burst: burst, buckets: make(map[netip.Addr]*bucket), now: time.Now}
}

// SetRate sets the rate and the burst from the next attempt on: each
// address keeps what it has left, up to the new burst (its debt too, down
// to minus the new burst), and refills at the new rate. A burst of 0
// turns the limiter off; one set again starts every address afresh.
func (l *Limiter) SetRate(perMinute float64, burst int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.burst <= 0 {
		clear(l.buckets)
	}
	if l.buckets == nil { // a zero Limiter
		l.buckets, l.now = make(map[netip.Addr]*bucket), time.Now
	}
	l.perMinute, l.burst = perMinute, burst
}

// offLocked is called locked (l.mu).
func (l *Limiter) offLocked() bool { return l.burst <= 0 }

// refillLocked is called locked (l.mu).
func (l *Limiter) refillLocked(key netip.Addr, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxTracked {
			l.pruneLocked(now)
		}
		b = &bucket{tokens: float64(l.burst), last: now}
		l.buckets[key] = b
		return b
	}
	b.tokens = min(float64(l.burst), max(-float64(l.burst), b.tokens)+now.Sub(b.last).Minutes()*l.perMinute)
	b.last = now
	return b
}

// take takes one token of addr's bucket if it has one; else it charges
// a debt and reports false. counted is false when the limiter is off
// (and ok true).
func (l *Limiter) take(addr netip.Addr) (ok, counted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.offLocked() {
		return true, false
	}
	b := l.refillLocked(ClientKey(addr), l.now())
	if b.tokens < 1 {
		b.tokens = max(-float64(l.burst), b.tokens-1)
		return false, true
	}
	b.tokens--
	return true, true
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
	if l == nil {
		return Attempt{}, true
	}
	ok, counted := l.take(addr)
	if !counted || !ok {
		return Attempt{}, ok
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
	if a.l.offLocked() {
		return // turned off meanwhile
	}
	b := a.l.refillLocked(a.key, a.l.now())
	b.tokens = min(float64(a.l.burst), b.tokens+1)
}

// Take counts one event of addr (a rate, not a failure), reporting false
// when addr has none left.
func (l *Limiter) Take(addr netip.Addr) bool {
	if l == nil {
		return true
	}
	ok, _ := l.take(addr)
	return ok
}

// Blocked reports whether addr has used up its attempts.
func (l *Limiter) Blocked(addr netip.Addr) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.offLocked() {
		return false
	}
	return l.refillLocked(ClientKey(addr), l.now()).tokens < 1
}

// pruneLocked forgets full buckets, then, if still too many, everything.
func (l *Limiter) pruneLocked(now time.Time) {
	for a, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Minutes()*l.perMinute >= float64(l.burst) {
			delete(l.buckets, a)
		}
	}
	if len(l.buckets) >= maxTracked {
		clear(l.buckets)
	}
}
