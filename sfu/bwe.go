package sfu

import "math"

// The bandwidth estimate of one subscriber's downlink, from the
// transport-wide feedback of what the SFU sent it: delay-based (a growing
// queue at the bottleneck shows as packets arriving later and later than
// they were sent), bounded by the loss the feedback reports and by the
// receiver's own estimate (REMB) when it sends one. The delay part
// follows the design of Google congestion control (draft-ietf-rmcat-gcc):
// packets grouped by send time, the variation of their inter-group delay
// accumulated and smoothed, its trend over a window of groups compared
// with an adaptive threshold; an additive-increase, multiplicative-
// decrease controller turns over-use, under-use and normal into a rate.
//
// The SFU's sending is limited by what it forwards, not by the estimate,
// so the estimate cannot be pushed up by sending more as an encoder's
// would; instead what arrived without over-use or loss is a proven lower
// bound (see update), and the allocator raises what arrives by probing
// (see congestion.run) before it switches a subscriber to a larger layer.

const (
	bweMin     = 30_000     // bits per second: audio, at least
	bweMax     = 50_000_000 // above any layer a browser sends
	bweInitial = 300_000    // before any feedback: the lowest layers

	groupSpan       = 5_000 // µs of send time one group of packets spans
	trendWindow     = 20    // groups the trend is fitted over
	trendSmoothing  = 0.9
	trendGain       = 4.0
	thresholdInit   = 12.5 // ms
	thresholdUp     = 0.0087
	thresholdDown   = 0.039
	overuseTimeMin  = 10.0 // ms of over-use before it is believed
	ackedWindow     = 500_000
	decreaseFactor  = 0.85
	increasePerSec  = 1.08
	decreaseHoldoff = 200_000 // µs: one decrease per round trip or so
	lossHigh        = 0.10
	lossLow         = 0.02
	lossMinPackets  = 20
	lossWindow      = 1_000_000 // µs
)

// usage is what the delay trend says of the bottleneck's queue.
type usage int8

const (
	usageNormal usage = iota
	usageOver         // the queue grows: send less
	usageUnder        // the queue drains: hold
)

// ccPacket is one packet of feedback, joined with what the send history
// says of it.
type ccPacket struct {
	send, arrival int64 // µs: the SFU's clock (modulo 2^37), the receiver's
	size          int
	received      bool
	probe         bool // a probe's duplicate: its loss is not the media's
}

// packetGroup is packets sent within groupSpan of the first.
type packetGroup struct {
	firstSend, lastSend, lastArrival int64
}

// bwe is one subscriber's estimator. It is not safe for concurrent use.
type bwe struct {
	rate float64 // bits per second
	remb float64 // the receiver's own estimate; 0 without one

	cur, prev       packetGroup
	hasCur, hasPrev bool

	// The trend of the accumulated delay variation.
	deltas        int
	firstArrival  int64
	acc, smoothed float64
	xs, ys        [trendWindow]float64
	filled        int
	trend         float64
	threshold     float64
	lastThreshold int64 // µs; -1 before the first update
	overuseTime   float64
	overuseCount  int
	usage         usage

	// The AIMD controller.
	lastIncrease, lastDecrease int64 // µs, the SFU's clock
	hold                       bool

	// What arrived in the last ackedWindow of the receiver's clock.
	acks rateWindow
	// The packets' one-way delays (in two clocks: only their changes
	// mean something) by send time.
	delays delayWindow

	// Loss over the media packets since the last judgement, at lastLoss.
	lossSent, lossLost int
	lastLoss           int64
	loss               float64 // the share lost at the last judgement
	lossFrom           int64   // when the window it judged began

	// A decrease answers what was sent before it: the loss and the delay
	// of packets sent up to mark (the latest send time seen when it
	// decreased) do not decrease it again. latest is the latest send
	// time seen; overSend, the group's that showed the last over-use.
	latest, mark, overSend int64
	hasMark, hasLatest     bool
}

func newBWE() *bwe {
	return &bwe{rate: bweInitial, threshold: thresholdInit, lastThreshold: -1, overuseTime: -1}
}

// estimate is the current estimate in bits per second.
func (e *bwe) estimate() float64 {
	r := e.rate
	if e.remb > 0 {
		r = min(r, e.remb)
	}
	return max(bweMin, min(r, bweMax))
}

// update takes one feedback's packets, in sequence order, at now (µs of
// the SFU's clock), and returns the estimate.
func (e *bwe) update(pkts []ccPacket, now int64) float64 {
	for _, p := range pkts {
		if !e.hasLatest || wrapDiff(p.send, e.latest) > 0 {
			e.latest, e.hasLatest = p.send, true
		}
		fresh := !e.hasMark || wrapDiff(p.send, e.mark) > 0
		if !p.received {
			if !p.probe && fresh {
				e.lossSent++
				e.lossLost++
			}
			continue
		}
		if fresh {
			e.lossSent++
		}
		e.acks.add(p.arrival, p.size)
		e.delays.add(p.send, p.arrival-p.send)
		e.group(p)
	}
	acked := e.ackedRate()
	if e.usage == usageOver && e.delays.growth() < queueGrowthMin {
		// The trend says later and later, but over the last half second
		// the packets' delay did not grow: the receiver's or the path's
		// jitter (a busy machine), or a burst (a keyframe) that a queue
		// took and drained, not a queue that grows.
		e.usage = usageNormal
	}
	e.control(acked, now)
	// Loss is judged over a second at least: a burst (a keyframe larger
	// than the bottleneck's queue) loses a few packets at once, which
	// retransmissions repair, and says little of the rate.
	if e.lossSent >= lossMinPackets && now-e.lastLoss >= lossWindow {
		loss := float64(e.lossLost) / float64(e.lossSent)
		if loss > lossHigh {
			// From what arrives, not from the estimate: losses that go on
			// while the sending catches up must not drive it below
			// what the link carries.
			if acked > 0 {
				e.rate = min(e.rate, acked*(1-loss/2))
			} else {
				e.rate /= 2
			}
			e.decreased(now)
		}
		e.loss, e.lossFrom = loss, e.lastLoss
		e.lossSent, e.lossLost, e.lastLoss = 0, 0, now
	}
	e.rate = max(bweMin, min(e.rate, bweMax))
	return e.estimate()
}

// decreased notes a decrease at now, answering what was sent until the
// latest packet seen.
func (e *bwe) decreased(now int64) {
	e.lastDecrease = now
	e.mark, e.hasMark = e.latest, e.hasLatest
}

// control moves the rate by the delay trend and what arrived.
func (e *bwe) control(acked float64, now int64) {
	switch e.usage {
	case usageOver:
		fresh := !e.hasMark || wrapDiff(e.overSend, e.mark) > 0
		if fresh && now-e.lastDecrease >= decreaseHoldoff && acked > 0 {
			e.rate = min(e.rate, decreaseFactor*acked)
			e.decreased(now)
		}
		e.hold = true
	case usageUnder:
		e.hold = true
	default:
		if e.hold {
			e.hold = false
			e.lastIncrease = now
			break
		}
		dt := min(float64(now-e.lastIncrease)/1e6, 1)
		if dt > 0 {
			grown := e.rate * math.Pow(increasePerSec, dt)
			// Growth beyond what the link has shown it carries is not
			// earned by a sender that does not use it.
			if acked > 0 {
				grown = min(grown, 1.5*acked+10_000)
			}
			e.rate = max(e.rate, grown)
		}
		e.lastIncrease = now
		// What arrived without over-use is what the link carries.
		e.rate = max(e.rate, 0.95*acked)
	}
}

// rateWindow is the bytes of packets by time (µs of one clock), for the
// rate over the last ackedWindow: packets within 5 ms share an entry.
type rateWindow struct {
	entries [128]struct{ at, bytes int64 }
	head, n int
}

func (w *rateWindow) add(at int64, bytes int) {
	size := len(w.entries)
	if w.n > 0 {
		last := &w.entries[(w.head+w.n-1)%size]
		if d := at - last.at; d >= 0 && d < 5000 {
			last.bytes += int64(bytes)
			return
		}
	}
	if w.n == size {
		w.head = (w.head + 1) % size
		w.n--
	}
	w.entries[(w.head+w.n)%size] = struct{ at, bytes int64 }{at, int64(bytes)}
	w.n++
}

// rate is bits per second over the last ackedWindow (or what the entries
// span): the bytes after the window's first entry over the time from it
// to the last. 0 until they span 100 ms.
func (w *rateWindow) rate() float64 {
	if w.n < 2 {
		return 0
	}
	size := len(w.entries)
	last := w.entries[(w.head+w.n-1)%size].at
	var bytes, firstBytes int64
	first := last
	for k := w.n - 1; k >= 0; k-- {
		a := w.entries[(w.head+k)%size]
		if last-a.at > ackedWindow {
			break
		}
		bytes += a.bytes
		first, firstBytes = a.at, a.bytes
	}
	span := last - first
	if span < 100_000 {
		return 0
	}
	return float64(bytes-firstBytes) * 8 / (float64(span) / 1e6)
}

// queueGrowthMin is how much the delay must have grown over the last
// half second for an over-use to be believed.
const queueGrowthMin = 10_000 // µs

// delayWindow is the one-way delays of packets by send time (µs),
// averaged over 10 ms: whether a queue grows on the path.
type delayWindow struct {
	entries [64]struct{ at, sum, n int64 }
	head, n int
}

func (w *delayWindow) add(at, delay int64) {
	size := len(w.entries)
	if w.n > 0 {
		last := &w.entries[(w.head+w.n-1)%size]
		d := wrapDiff(at, last.at)
		if d < 0 {
			return // reordered: not judged
		}
		if d < 10_000 {
			last.sum += delay
			last.n++
			return
		}
	}
	if w.n == size {
		w.head = (w.head + 1) % size
		w.n--
	}
	w.entries[(w.head+w.n)%size] = struct{ at, sum, n int64 }{at, delay, 1}
	w.n++
}

// growth is how much the average delay of the packets sent in the last
// 100 ms exceeds that of those sent 400 to 500 ms before; 0 when the
// entries do not span that.
func (w *delayWindow) growth() int64 {
	if w.n < 2 {
		return 0
	}
	size := len(w.entries)
	last := w.entries[(w.head+w.n-1)%size].at
	var newSum, newN, oldSum, oldN int64
	for k := w.n - 1; k >= 0; k-- {
		e := w.entries[(w.head+k)%size]
		age := wrapDiff(last, e.at)
		switch {
		case age <= 100_000:
			newSum, newN = newSum+e.sum, newN+e.n
		case age >= 400_000 && age <= ackedWindow:
			oldSum, oldN = oldSum+e.sum, oldN+e.n
		}
		if age > ackedWindow {
			break
		}
	}
	if newN == 0 || oldN == 0 {
		return 0
	}
	return newSum/newN - oldSum/oldN
}

// ackedRate is the rate at which packets arrived lately.
func (e *bwe) ackedRate() float64 { return e.acks.rate() }

// group adds a received packet to the group of its send time; a packet
// that begins a new group closes the last, whose delay variation goes to
// the trend.
func (e *bwe) group(p ccPacket) {
	if !e.hasCur {
		e.cur = packetGroup{p.send, p.send, p.arrival}
		e.hasCur = true
		return
	}
	d := wrapDiff(p.send, e.cur.firstSend)
	if d < 0 {
		return // reordered before the group: not judged
	}
	if d <= groupSpan {
		if wrapDiff(p.send, e.cur.lastSend) > 0 {
			e.cur.lastSend = p.send
		}
		e.cur.lastArrival = max(e.cur.lastArrival, p.arrival)
		return
	}
	if e.hasPrev {
		sendDelta := wrapDiff(e.cur.lastSend, e.prev.lastSend)
		arrDelta := e.cur.lastArrival - e.prev.lastArrival
		if arrDelta >= 0 {
			e.detect(float64(arrDelta-sendDelta)/1000, float64(sendDelta)/1000, e.cur.lastArrival)
		}
	}
	e.prev, e.hasPrev = e.cur, true
	e.cur = packetGroup{p.send, p.send, p.arrival}
}

// wrapDiff is a-b of two send times modulo 2^37 µs.
func wrapDiff(a, b int64) int64 {
	d := (a - b) & slotTimeMask
	if d > slotTimeMask/2 {
		d -= slotTimeMask + 1
	}
	return d
}

// detect adds one delay variation (ms) of a group that arrived at
// arrival (µs) to the trend and judges it.
func (e *bwe) detect(variation, sendDelta float64, arrival int64) {
	if e.deltas == 0 {
		e.firstArrival = arrival
	}
	e.deltas = min(e.deltas+1, 1000)
	e.acc += variation
	e.smoothed = trendSmoothing*e.smoothed + (1-trendSmoothing)*e.acc
	x := float64(arrival-e.firstArrival) / 1000
	if e.filled == trendWindow {
		copy(e.xs[:], e.xs[1:])
		copy(e.ys[:], e.ys[1:])
		e.filled--
	}
	e.xs[e.filled], e.ys[e.filled] = x, e.smoothed
	e.filled++
	prevTrend := e.trend
	if e.filled == trendWindow {
		e.trend = slope(e.xs[:], e.ys[:])
	}
	modified := float64(min(e.deltas, 60)) * e.trend * trendGain
	switch {
	case modified > e.threshold:
		if e.overuseTime < 0 {
			e.overuseTime = sendDelta / 2
		} else {
			e.overuseTime += sendDelta
		}
		e.overuseCount++
		if e.overuseTime > overuseTimeMin && e.overuseCount > 1 && e.trend >= prevTrend {
			e.overuseTime, e.overuseCount = 0, 0
			e.usage = usageOver
			e.overSend = e.cur.lastSend
		}
	case modified < -e.threshold:
		e.overuseTime, e.overuseCount = -1, 0
		e.usage = usageUnder
	default:
		e.overuseTime, e.overuseCount = -1, 0
		e.usage = usageNormal
	}
	e.adaptThreshold(modified, arrival)
}

// adaptThreshold moves the threshold towards the trend: slowly up, faster
// down, so that the detector neither starves beside a loss-based sender
// nor reacts to noise. A trend far beyond it is an outlier, ignored.
func (e *bwe) adaptThreshold(modified float64, now int64) {
	if e.lastThreshold < 0 {
		e.lastThreshold = now
	}
	m := math.Abs(modified)
	if m > e.threshold+15 {
		e.lastThreshold = now
		return
	}
	k := thresholdUp
	if m < e.threshold {
		k = thresholdDown
	}
	dt := min(float64(now-e.lastThreshold)/1000, 100)
	e.threshold = max(6, min(e.threshold+k*(m-e.threshold)*dt, 600))
	e.lastThreshold = now
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	n := float64(len(xs))
	mx, my = mx/n, my/n
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}
