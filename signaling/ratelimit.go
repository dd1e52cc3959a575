package signaling

import "time"

// tokenBucket allows a steady rate of events with bursts up to a size.
// Its rate and size are given with each event, so that limits changed
// while it runs apply from the next event: it refills at the rate given
// since the last event and never holds more than the size given. It is
// used by one goroutine only.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// newTokenBucket is a bucket that starts full, with burst tokens.
func newTokenBucket(burst int) tokenBucket {
	return tokenBucket{tokens: float64(burst)}
}

// allow takes a token if there is one, the bucket refilled at rate tokens
// per second up to burst.
func (b *tokenBucket) allow(now time.Time, rate float64, burst int) bool {
	if !b.last.IsZero() {
		b.tokens += now.Sub(b.last).Seconds() * rate
	}
	b.tokens = min(b.tokens, float64(burst))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
