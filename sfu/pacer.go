package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Pacing of a congestion-controlled subscribe connection's video. A
// keyframe (10 KB and more from a browser's camera) forwarded as it
// comes leaves in one burst, and behind a slow link the burst's tail
// overflows the router's queue (a 300 kbit/s link with 200 ms of queue
// holds 7.5 KB): the subscriber loses part of every keyframe, freezes and
// asks for another. The pacer spreads the video over time at pacingFactor
// times the connection's estimate, so that the queue forms here, where
// audio passes it, rather than in the router, where audio waits behind
// it and the tail is dropped.
//
// A video packet that fits the budget (a token bucket) goes out at once,
// on the caller's goroutine, as without pacing: the common case, with no
// queue, no timer and no other goroutine. One that does not is copied
// into the connection's queue, which the engine's pacer clock releases
// as the budget refills; every video packet that follows waits behind
// it, so that the packets keep their order. The transport-wide sequence
// number is stamped as a packet leaves, so that the estimator compares
// the time it left with the time it arrived. Audio and RTCP do not go through the
// pacer. Retransmissions and probes do: they take the link's room as
// media does. While a probe runs, the rate it probes for is added to the
// estimate (see congestion.pacingRate): a probe measures whether the
// link carries more than the estimate, and the pacer must let it.
const (
	// pacingFactor: the pacing rate is this many times the estimate.
	// libwebrtc paces at 2.5 times the target of an encoder that it also
	// controls. An SFU cannot make a publisher's keyframes smaller, and
	// what the router's queue must hold of a keyframe of K bytes paced
	// at P into a link of L is K(1 - L/P): for 15 KB into 300 kbit/s,
	// 8.6 KB at 2.5 times an estimate of 280 kbit/s (more than the 7.5
	// KB the queue holds), 4.3 KB at 1.5 times. A lower factor costs the
	// keyframe no time, as the link, not the pacer, sets when its last
	// packet arrives; 1.5 times is still two thirds more than the videos
	// are given (allocShare of the estimate), for the layers' bitrates
	// moving and for retransmissions.
	pacingFactor = 1.5
	// The bucket holds pacerBurst of the pacing rate, at least
	// pacerMinBurst bytes (a full packet).
	pacerBurst    = 5 * time.Millisecond
	pacerMinBurst = maxPacket + twccHeaderBytes
	// pacerMaxDelay bounds the queue, in time at the pacing rate, and
	// pacerMaxPackets in packets: beyond, the oldest frame's packets are
	// dropped (see dropOldestFrameLocked), as the link would drop them,
	// rather than make the whole video late. 400 ms holds a 15 KB
	// keyframe paced at 300 kbit/s.
	pacerMaxDelay   = 400 * time.Millisecond
	pacerMaxPackets = 512
	// pacerCatchUp: while packets wait, the bucket also holds this much
	// of the rate beyond its burst, so that a release that came late (a
	// busy machine's timers run milliseconds behind; the clock's rounds
	// are pacerTick apart at least) sends what was due meanwhile. Capped
	// at the burst alone, each late release lost the time it was late:
	// at the rate of one packet per wake-up, timers 5 ms late cut a
	// 1.5 Mbit/s pacer to about 0.85 Mbit/s, and its queue overflowed.
	// When nothing waits, the bucket holds its burst only.
	pacerCatchUp = pacerMaxWait
	// pacerTick: the clock's rounds are at least this far apart; the
	// buckets have refilled by then for the packets they wait for, and
	// often more.
	pacerTick = 2 * time.Millisecond
	// pacerMaxWait: a pacer waits for no more before its next look, so
	// that a rate that grew meanwhile (a new estimate, a probe) is taken
	// up soon.
	pacerMaxWait = 25 * time.Millisecond
	// pacerIdle: the clock's goroutine ends when no pacer has had
	// packets waiting for this long (see pacerClock).
	pacerIdle = time.Second
	// pacerFirstSlots is the queue's first length; it doubles as needed
	// up to pacerMaxPackets and is kept.
	pacerFirstSlots = 16
)

// pacedStream is where the pacer sends a packet it releases: the stream
// (a down track or a viewer's stream) stamps it with the connection's
// transport-wide sequence number, in ext's storage, as sent at now (unix
// nanoseconds), and writes it.
type pacedStream interface {
	emit(h *rtp.Header, payload []byte, ext *hdrExts, now int64, probe bool)
}

// pacing is what an engine's pacers share: the clock that releases their
// queues, and the counts of the packets that waited in one and of those a
// full queue dropped.
type pacing struct {
	paced, dropped atomic.Uint64
	clock          pacerClock
}

// pacedPacket is a packet in the queue: a copy of its header and payload.
type pacedPacket struct {
	to    pacedStream
	hdr   rtp.Header
	csrc  []uint32 // hdr.CSRC's storage, kept with the slot
	buf   *[]byte  // the payload, in a buffer of packetBuffer
	n     int
	size  int // what the budget counts: the payload, the header, its padding
	probe bool
}

// pacer paces one connection's video (see above).
type pacer struct {
	// rate is the pacing rate, bits per second; 0: no pacing (no
	// estimate yet, or no feedback any more).
	rate  func() float64
	stats *pacing

	mu     sync.Mutex
	tokens float64 // bytes the budget allows now
	last   int64   // unix nanoseconds of the last refill; 0 before
	ring   []pacedPacket
	head   int
	count  int
	bytes  int  // the queued packets' sizes
	armed  bool // on the clock's list (see pacerClock)
	closed bool
	ext    hdrExts // the released packets' extension storage
}

func newPacer(rate func() float64, stats *pacing) *pacer {
	return &pacer{rate: rate, stats: stats}
}

// burst is what the bucket holds at most at rate (bits per second).
func burst(rate float64) float64 {
	return max(rate/8*pacerBurst.Seconds(), pacerMinBurst)
}

// need is what the budget must hold for a packet of size bytes to leave
// at rate: its size, or all the bucket can hold for a larger one, which
// then leaves the budget in debt.
func need(size int, rate float64) float64 {
	return min(float64(size), burst(rate))
}

// refillLocked adds to the budget what rate gives from the last refill
// to now, up to the bucket's burst, and pacerCatchUp more while packets
// wait. Called locked.
func (p *pacer) refillLocked(now int64, rate float64) {
	if p.last == 0 {
		p.tokens = burst(rate)
	} else if el := now - p.last; el > 0 {
		most := burst(rate)
		if p.count > 0 {
			most += rate / 8 * pacerCatchUp.Seconds()
		}
		p.tokens = min(p.tokens+rate/8*float64(el)/1e9, most)
	}
	if now > p.last {
		p.last = now
	}
}

// admit tells whether a video packet may be sent now (at now, unix
// nanoseconds), by the caller, who then stamps and writes it; if not, the
// pacer keeps a copy and sends it to to when its turn comes.
func (p *pacer) admit(to pacedStream, h *rtp.Header, payload []byte, now int64, probe bool) bool {
	p.mu.Lock()
	rate := p.rate()
	if p.closed || rate <= 0 {
		// Not paced: what waits goes first.
		if p.count > 0 {
			p.flushLocked(now)
		}
		p.last = 0
		p.mu.Unlock()
		return true
	}
	p.refillLocked(now, rate)
	size := len(payload) + twccHeaderBytes + int(h.PaddingSize)
	if p.count == 0 && p.tokens >= need(size, rate) {
		p.tokens -= float64(size)
		p.mu.Unlock()
		return true
	}
	p.queueLocked(to, h, payload, size, probe, rate)
	if !p.armed {
		if !p.stats.clock.add(p, now+int64(p.waitLocked(rate))) {
			// The engine is closing: nothing paces any more.
			p.flushLocked(now)
			p.mu.Unlock()
			return false
		}
		p.armed = true
	}
	p.mu.Unlock()
	p.stats.paced.Add(1)
	return false
}

// queueLocked copies a packet to the end of the queue, dropping the
// oldest frames first if it would hold more than pacerMaxDelay at rate
// or pacerMaxPackets. Called locked.
func (p *pacer) queueLocked(to pacedStream, h *rtp.Header, payload []byte, size int, probe bool, rate float64) {
	limit := max(int(rate/8*pacerMaxDelay.Seconds()), 2*pacerMinBurst)
	for p.count > 0 && (p.count == pacerMaxPackets || p.bytes+size > limit) {
		p.dropOldestFrameLocked()
	}
	if p.count == len(p.ring) {
		p.growLocked()
	}
	s := &p.ring[(p.head+p.count)%len(p.ring)]
	s.to, s.probe, s.size = to, probe, size
	s.hdr = *h
	s.hdr.CSRC = nil
	if len(h.CSRC) > 0 {
		s.csrc = append(s.csrc[:0], h.CSRC...)
		s.hdr.CSRC = s.csrc
	}
	if len(payload) <= packetBuf {
		s.buf = packetBuffer(len(payload))
	} else {
		b := make([]byte, len(payload)) // an RTX copy of a full packet: rare
		s.buf = &b
	}
	s.n = copy(*s.buf, payload)
	p.count++
	p.bytes += size
}

// growLocked doubles the queue's room, keeping its packets in order.
// Called locked.
func (p *pacer) growLocked() {
	ring := make([]pacedPacket, max(pacerFirstSlots, min(2*len(p.ring), pacerMaxPackets)))
	for i := range p.count {
		ring[i] = p.ring[(p.head+i)%len(p.ring)]
	}
	p.ring, p.head = ring, 0
}

// dropOldestFrameLocked drops the queued packets of the oldest frame:
// those with the first packet's SSRC and timestamp. What is left of a
// frame whose start has gone would not decode, and the frames after it
// would wait for it. Called locked.
func (p *pacer) dropOldestFrameLocked() {
	first := &p.ring[p.head]
	ssrc, ts := first.hdr.SSRC, first.hdr.Timestamp
	kept := 0
	for i := range p.count {
		s := &p.ring[(p.head+i)%len(p.ring)]
		if s.hdr.SSRC == ssrc && s.hdr.Timestamp == ts {
			p.bytes -= s.size
			p.releaseSlot(s)
			p.stats.dropped.Add(1)
			continue
		}
		if kept != i {
			// Swapped, not copied: each slot keeps its own CSRC storage.
			k := &p.ring[(p.head+kept)%len(p.ring)]
			*k, *s = *s, *k
		}
		kept++
	}
	p.count = kept
}

// forget drops the queued packets of stream to: a video paused or
// hidden sends nothing more, not even what was waiting.
func (p *pacer) forget(to pacedStream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := 0
	for i := range p.count {
		s := &p.ring[(p.head+i)%len(p.ring)]
		if s.to == to {
			p.bytes -= s.size
			p.releaseSlot(s)
			continue
		}
		if kept != i {
			k := &p.ring[(p.head+kept)%len(p.ring)]
			*k, *s = *s, *k
		}
		kept++
	}
	p.count = kept
}

// releaseSlot gives back a slot's buffer and forgets its stream.
func (p *pacer) releaseSlot(s *pacedPacket) {
	freePacketBuffer(s.buf)
	s.buf, s.to = nil, nil
}

// popLocked sends the first packet of the queue. Called locked: the
// packets leave in their order.
func (p *pacer) popLocked(now int64) {
	s := &p.ring[p.head]
	s.to.emit(&s.hdr, (*s.buf)[:s.n], &p.ext, now, s.probe)
	p.bytes -= s.size
	p.releaseSlot(s)
	p.head = (p.head + 1) % len(p.ring)
	p.count--
}

// flushLocked sends the whole queue. Called locked.
func (p *pacer) flushLocked(now int64) {
	for p.count > 0 {
		p.popLocked(now)
	}
}

// waitLocked is how long the first queued packet waits, at rate, for the
// budget to have refilled for it: at most pacerMaxWait. Called locked.
func (p *pacer) waitLocked(rate float64) time.Duration {
	missing := need(p.ring[p.head].size, rate) - p.tokens
	if w := time.Duration(missing * 8 / rate * 1e9); w < pacerMaxWait {
		return max(w, 0)
	}
	return pacerMaxWait
}

// release sends what the budget allows of the queue at now (unix
// nanoseconds). It reports whether packets still wait, and when the
// first of them is due; if none do, the pacer is off the clock's list.
// The clock calls it, for each pacer on its list, at each round.
func (p *pacer) release(now int64) (due int64, waits bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.armed = false
		return 0, false
	}
	rate := p.rate()
	if rate <= 0 {
		p.flushLocked(now)
		p.last = 0
		p.armed = false
		return 0, false
	}
	p.refillLocked(now, rate)
	for p.count > 0 {
		size := p.ring[p.head].size
		if p.tokens < need(size, rate) {
			break
		}
		p.tokens -= float64(size)
		p.popLocked(now)
	}
	if p.count == 0 {
		p.armed = false
		return 0, false
	}
	return now + int64(p.waitLocked(rate)), true
}

// unclock takes the pacer off a clock that stopped: what it holds is
// sent at once, as what comes later will be (see admit).
func (p *pacer) unclock() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	if !p.closed {
		p.flushLocked(time.Now().UnixNano())
	}
}

// close stops the pacer: what is queued is dropped, and a packet
// admitted later goes at once. A release under way has returned when
// close returns (it holds the lock), and none sends after: the clock
// drops a closed pacer from its list at its next round. It must not be
// called from a stream's emit.
func (p *pacer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for p.count > 0 {
		s := &p.ring[p.head]
		p.releaseSlot(s)
		p.head = (p.head + 1) % len(p.ring)
		p.count--
	}
	p.bytes = 0
}

// queued is the number of packets waiting.
func (p *pacer) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}
