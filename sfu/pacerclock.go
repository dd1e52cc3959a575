package sfu

import (
	"math"
	"sync"
	"time"
)

// pacerClock releases the queues of all the engine's pacers, in rounds,
// from one goroutine. A timer of each pacer's own fired about once per
// packet that waited: at 200 congestion-controlled viewers of one video,
// half of whose packets wait a few milliseconds, ten thousand wake-ups
// a second, each sending one packet with one system call. A round
// releases every pacer whose packets are due, and the packets it sends
// go out together, in a few sendmmsg calls (see batchConn). Rounds are
// at least pacerTick apart; each pacer's budget keeps what it gained
// meanwhile (pacerCatchUp), so its rate holds.
//
// The goroutine runs while some pacer has packets waiting, and ends when
// none has had any for pacerIdle (a video's frames come a few tens of
// milliseconds apart: not a goroutine and a timer for each); add starts
// it again. Its owner is the engine: stop ends it and waits for it.
type pacerClock struct {
	mu   sync.Mutex
	list []*pacer // the pacers with packets waiting
	next int64    // unix nanoseconds of the next round planned
	// inRound: a round runs; addedDue is then the earliest due of the
	// pacers added meanwhile, for the next round's plan. lastRound is
	// when the last round began (unix nanoseconds).
	inRound   bool
	addedDue  int64
	lastRound int64
	running   bool
	closed    bool
	wake      chan struct{} // a pacer due before next
	done      chan struct{} // closed when the running goroutine ends
}

// add puts p, whose first packet is due at due (unix nanoseconds), on the
// list. It reports false once the clock is stopped. Called with p's lock
// held, for a pacer not on the list.
func (c *pacerClock) add(p *pacer, due int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.list = append(c.list, p)
	if !c.running {
		if c.wake == nil {
			c.wake = make(chan struct{}, 1)
		}
		c.running, c.next = true, due
		c.done = make(chan struct{})
		go c.run(c.done, time.Duration(due-time.Now().UnixNano()))
		return true
	}
	if c.inRound {
		c.addedDue = min(c.addedDue, due)
	} else if due < c.next {
		// Sooner than the round planned: plan it sooner (run re-arms its
		// timer), keeping the rounds pacerTick apart.
		c.next = max(due, c.lastRound+int64(pacerTick))
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// run releases the pacers on the list, a round at a time, the first after
// wait, until none has had packets waiting for pacerIdle or the clock is
// stopped; then the pacers still on the list send what they hold.
func (c *pacerClock) run(done chan struct{}, wait time.Duration) {
	defer close(done)
	t := time.NewTimer(max(wait, 0))
	defer t.Stop()
	var round, kept []*pacer
	for {
		fired := false
		select {
		case <-t.C:
			fired = true
		case <-c.wake:
		}
		c.mu.Lock()
		if c.closed {
			left := c.list
			c.list, c.running = nil, false
			c.mu.Unlock()
			for _, p := range left {
				p.unclock()
			}
			return
		}
		if !fired {
			// A pacer due sooner than the round planned (see add), or a
			// wake that came after its round had run.
			if len(c.list) > 0 {
				t.Reset(time.Duration(max(c.next-time.Now().UnixNano(), 0)))
			}
			c.mu.Unlock()
			continue
		}
		if len(c.list) == 0 {
			// Idle for pacerIdle.
			c.running = false
			c.mu.Unlock()
			return
		}
		start := time.Now().UnixNano()
		round, c.list = c.list, round[:0]
		c.inRound, c.addedDue, c.lastRound = true, math.MaxInt64, start
		c.mu.Unlock()
		next := int64(math.MaxInt64)
		kept = kept[:0]
		for i, p := range round {
			// Each at its own time: a round of many pacers takes a
			// while, and the send times stamped are the estimator's.
			if due, waits := p.release(time.Now().UnixNano()); waits {
				kept = append(kept, p)
				next = min(next, due)
			}
			round[i] = nil
		}
		c.mu.Lock()
		// Pacers added during the round are on the list already.
		c.inRound = false
		next = min(next, c.addedDue)
		c.list = append(c.list, kept...)
		now := time.Now().UnixNano()
		if len(c.list) == 0 {
			c.next = math.MaxInt64 // a pacer added wakes the clock
			c.mu.Unlock()
			t.Reset(pacerIdle)
			continue
		}
		c.next = max(next, start+int64(pacerTick))
		wait := time.Duration(max(c.next-now, 0))
		c.mu.Unlock()
		t.Reset(wait)
	}
}

// stop ends the clock: its goroutine has returned when stop returns, the
// pacers that were on its list have sent what they held, and add refuses
// pacers from then on (they no longer pace).
func (c *pacerClock) stop() {
	c.mu.Lock()
	c.closed = true
	running, done := c.running, c.done
	if running {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
	if running {
		<-done
	}
}
