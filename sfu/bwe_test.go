package sfu

import (
	"math/rand/v2"
	"testing"
)

// bottleneck is a simulated path to a subscriber: a link of capacity bits
// per second with a drop-tail queue that holds at most maxQueue µs of
// packets (as tbf's latency), then a fixed propagation delay. Times are
// µs.
type bottleneck struct {
	capacity float64
	maxQueue int64
	prop     int64
	free     int64 // when the link is free to send the next packet
	// jitter, when set, delays each arrival by up to that many µs more,
	// at random: a busy receiver's reading.
	jitter int64
	rand   *rand.Rand
}

// pass returns when a packet of size bytes sent at t arrives, or false
// if the queue drops it.
func (b *bottleneck) pass(t int64, size int) (int64, bool) {
	start := max(t, b.free)
	if start-t > b.maxQueue {
		return 0, false
	}
	b.free = start + int64(float64(size*8)/b.capacity*1e6)
	arrival := b.free + b.prop
	if b.jitter > 0 {
		arrival += b.rand.Int64N(b.jitter + 1)
	}
	return arrival, true
}

// simulate runs a sender over b for dur µs: every 5 ms it sends what
// rate(now, estimate) asks, in packets of 1,000 bytes; every 100 ms the
// receiver's feedback on what it got by then reaches the estimator 10 ms
// later. It returns the estimator, the loss over the last half, and the
// lowest estimate over it.
func simulate(b *bottleneck, dur int64, rate func(now int64, estimate float64) float64) (*bwe, float64) {
	e, loss, _ := simulateLow(b, dur, rate)
	return e, loss
}

func simulateLow(b *bottleneck, dur int64, rate func(now int64, estimate float64) float64) (*bwe, float64, float64) {
	e := newBWE()
	low := 0.0
	var pending []ccPacket
	var sentBytes float64
	var lateSent, lateLost int
	for now := int64(0); now < dur; now += 5000 {
		want := rate(now, e.estimate())
		sentBytes += want / 8 * 0.005
		for sentBytes >= 1000 {
			sentBytes -= 1000
			arr, ok := b.pass(now, 1000)
			pending = append(pending, ccPacket{send: now, arrival: arr, size: 1000, received: ok})
			if now > dur/2 {
				lateSent++
				if !ok {
					lateLost++
				}
			}
		}
		if now%100_000 == 0 {
			// Feedback on the packets that arrived (or would have) by now.
			n := 0
			for n < len(pending) && (!pending[n].received && pending[n].send+b.prop < now || pending[n].received && pending[n].arrival <= now) {
				n++
			}
			if n > 0 {
				e.update(pending[:n], now+10_000)
				pending = pending[n:]
			}
			if now > dur/2 && (low == 0 || e.estimate() < low) {
				low = e.estimate()
			}
		}
	}
	loss := 0.0
	if lateSent > 0 {
		loss = float64(lateLost) / float64(lateSent)
	}
	return e, loss, low
}

func TestBWEBacksOffToTheBottleneck(t *testing.T) {
	// A sender that keeps sending 1 Mbit/s into 300 kbit/s.
	b := &bottleneck{capacity: 300_000, maxQueue: 50_000, prop: 10_000}
	e, _ := simulate(b, 5_000_000, func(int64, float64) float64 { return 1_000_000 })
	if got := e.estimate(); got > 330_000 || got < 120_000 {
		t.Fatalf("estimate %.0f bit/s on a 300 kbit/s bottleneck, want 120-330 kbit/s", got)
	}
}

func TestBWEFollowedSettlesWithoutLoss(t *testing.T) {
	// A sender that sends 90% of the estimate, as the allocator does.
	b := &bottleneck{capacity: 300_000, maxQueue: 50_000, prop: 10_000}
	e, loss := simulate(b, 20_000_000, func(_ int64, est float64) float64 { return 0.9 * est })
	if got := e.estimate(); got > 400_000 || got < 180_000 {
		t.Fatalf("estimate %.0f bit/s on a 300 kbit/s bottleneck, want 180-400 kbit/s", got)
	}
	if loss > 0.02 {
		t.Fatalf("loss %.1f%% over the last 10 s, want under 2%%", loss*100)
	}
}

func TestBWEFreeLink(t *testing.T) {
	// 400 kbit/s on a 10 Mbit/s link: the estimate stays above what
	// arrives, and does not run far beyond what it has seen.
	b := &bottleneck{capacity: 10_000_000, maxQueue: 50_000, prop: 10_000}
	e, loss := simulate(b, 10_000_000, func(int64, float64) float64 { return 400_000 })
	if got := e.estimate(); got < 380_000 || got > 620_000 {
		t.Fatalf("estimate %.0f bit/s sending 400 kbit/s on a free link, want 380-620 kbit/s", got)
	}
	if loss != 0 {
		t.Fatalf("loss %.2f on a free link", loss)
	}
	// A second of probing at 1.5 Mbit/s proves the link carries it.
	e2, _ := simulate(&bottleneck{capacity: 10_000_000, maxQueue: 50_000, prop: 10_000}, 6_000_000, func(now int64, _ float64) float64 {
		if now >= 4_000_000 && now < 5_000_000 {
			return 1_500_000
		}
		return 400_000
	})
	if got := e2.estimate(); got < 1_300_000 {
		t.Fatalf("estimate %.0f bit/s after a 1.5 Mbit/s probe on a free link, want at least 1.3 Mbit/s", got)
	}
}

func TestBWEProbeBeyondTheBottleneck(t *testing.T) {
	// Probing at 1 Mbit/s over 300 kbit/s proves nothing beyond it.
	b := &bottleneck{capacity: 300_000, maxQueue: 50_000, prop: 10_000}
	e, _ := simulate(b, 6_000_000, func(now int64, _ float64) float64 {
		if now >= 4_000_000 && now < 5_000_000 {
			return 1_000_000
		}
		return 150_000
	})
	if got := e.estimate(); got > 360_000 {
		t.Fatalf("estimate %.0f bit/s after probing a 300 kbit/s bottleneck at 1 Mbit/s, want at most 360 kbit/s", got)
	}
}

func TestBWEJitterIsNotCongestion(t *testing.T) {
	// 1.5 Mbit/s on a free link read by a receiver up to 20 ms late at
	// random: the estimate never falls below what is sent.
	b := &bottleneck{capacity: 10_000_000, maxQueue: 50_000, prop: 10_000, jitter: 20_000, rand: rand.New(rand.NewPCG(1, 2))}
	_, _, low := simulateLow(b, 20_000_000, func(int64, float64) float64 { return 1_500_000 })
	if low < 1_425_000 {
		t.Fatalf("estimate fell to %.0f bit/s sending 1.5 Mbit/s on a free link with jitter", low)
	}
}

func TestBWEREMB(t *testing.T) {
	e := newBWE()
	e.remb = 200_000
	if got := e.estimate(); got != 200_000 {
		t.Fatalf("estimate %.0f with a REMB of 200 kbit/s", got)
	}
}

func TestBWEOneEventOneDecrease(t *testing.T) {
	// A second of three times what a 300 kbit/s link carries (a switch
	// to a layer too large): the losses and the delay of that second
	// bring the estimate down to what arrives, not below it again for
	// each feedback that reports them, which would leave it far below
	// the link.
	b := &bottleneck{capacity: 300_000, maxQueue: 200_000, prop: 10_000}
	_, _, low := simulateLow(b, 4_000_000, func(now int64, est float64) float64 {
		if now >= 1_000_000 && now < 2_200_000 {
			return 900_000
		}
		return 0.9 * est
	})
	if low < 150_000 {
		t.Fatalf("estimate fell to %.0f bit/s after one congestion event on a 300 kbit/s link", low)
	}
}
