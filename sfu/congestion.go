package sfu

import (
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Congestion control of a subscribe connection. Every packet the SFU
// sends on it carries a transport-wide sequence number (see sendHistory);
// the subscriber's transport-cc feedback says when each arrived, and bwe
// turns that into an estimate of the downlink. allocate then chooses the
// layers of the subscriber's simulcast videos that fit in it, pausing a
// video when not even its lowest layer fits; its audio always goes
// through. Before a switch to a larger layer the estimate must have
// grown to cover it: when it has not, the prober sends copies of recent
// packets (on the subscriber's RTX stream when it has one; receivers drop
// them as repeats) at the rate the larger layer needs, and the feedback
// shows whether the link carries it (the feedback on the RTX stream's
// packets comes addressed to its SSRC: see rtxFeedback).
//
// A subscriber that did not negotiate transport-cc, or never sends its
// feedback, keeps the default policy (see newDownTrack): the top layer.

const (
	allocateInterval = 250 * time.Millisecond
	// allocShare is the part of the estimate the videos are given: the
	// rest is headroom for retransmissions and the estimate's error.
	allocShare = 0.9
	// upgradeAfter is how many allocations in a row must want a larger
	// layer before the switch: a switch costs a keyframe.
	upgradeAfter = 2

	probeDuration = 800 * time.Millisecond
	probeStep     = 3.0
	probeHeadroom = 1.2
	// probeQueueMax is how much the media's delay may grow (in µs, over
	// half a second) before a probe stops: a fifth of the 200 ms a
	// router's queue holds, at most.
	probeQueueMax = 40_000
	// probeSettle is how long after a probe its queue may still show in
	// the feedback: the bottleneck's queue (about 200 ms at most in a
	// router) drained, and the feedback on it come back.
	probeSettle     = time.Second
	probeTick       = 10 * time.Millisecond
	probeBackoffMin = time.Second
	// probeProvenWait: after a probe that succeeded, the next comes as
	// soon as the feedback on this one is in: a link that has room gets
	// its layers in a few steps.
	probeProvenWait = 300 * time.Millisecond
	probeBackoffMax = 5 * time.Second
	trialBackoffMax = 30 * time.Second
	// feedbackTimeout: a connection that negotiated transport-cc but
	// sends no feedback on what it was sent for this long goes back to
	// the default policy.
	feedbackTimeout = 3 * time.Second
	// A paused video is tried again on its lowest layer after
	// resumeBackoffMin, then after twice as long each time it is paused
	// again, up to resumeBackoffMax: with nothing sent, nothing shows
	// whether the link has recovered.
	resumeBackoffMin = 2 * time.Second
	resumeBackoffMax = 30 * time.Second
	// proberTick is the beat of the connection's housekeeping (see
	// run): the sender reports' too.
	proberTick = senderReportInterval
	// probeWarmup: no probe in the first second of feedback. What
	// arrives is measured over a window that must fill first (a probe's
	// size and the floor that protects the media from it are made of
	// it), and the join's first keyframes are still in the link's queue.
	probeWarmup = time.Second
)

// ccStream is a stream that congestion control gives its share of the
// estimate: a participant's down track (DownTrack) or a viewer's stream.
type ccStream interface {
	// ccLayers says what the stream may be sent at now. A stream whose
	// size cannot be chosen (audio, a video without layers) has fixed,
	// its bitrate. A video with layers has count layers, the bitrate of
	// each (0 where it does not flow or is above what the subscriber
	// shows), hidden when the subscriber shows none, and flows when one
	// of its layers flows, shown or not.
	ccLayers(now time.Time) ccLayers
	// layered: a video with layers to choose from.
	layered() bool
	// Paused: its video is paused (or not begun); pausedTold: for
	// congestion, and the subscriber was told.
	Paused() bool
	pausedTold() bool
	// pause stops its video; tell: for congestion, to be told.
	pause(tell bool)
	TargetLayer() int
	SetTargetLayer(l int)
	CurrentLayer() int
	// climbToTop gives the stream back to the default policy.
	climbToTop()
	// duplicate sends again, as a probe, the k-th latest (modulo 8)
	// packet it sent, and returns its size; 0 when there is none.
	duplicate(k int, buf []byte) int
}

// ccLayers is what ccStream.ccLayers says.
type ccLayers struct {
	layered       bool
	fixed         float64
	count         int
	rates         [maxLayers]float64
	hidden, flows bool
}

// congestion is one subscribe connection's congestion control.
type congestion struct {
	// streams lists the streams sent on the connection now.
	streams func() []ccStream
	conn    *subConn
	hist    *sendHistory

	mu  sync.Mutex // guards est and the probe floor
	est *bwe
	// While a probe runs and for probeSettle after it, the estimate is
	// not lowered below floor: 95% of what arrived before the probe
	// began. A probe that overshoots the link fills its queue, and the
	// over-use and losses that follow are the probe's, not the media's,
	// which the link carried before it; the next over-use after that
	// time lowers the estimate as any does.
	floor      float64
	floorUntil int64 // unix nanoseconds
	refHigh    int64 // the reference time's wraps, in its units
	lastRef    int64
	hasRef     bool

	estimate     atomic.Uint64 // math.Float64bits of the latest estimate
	lastFeedback atomic.Int64  // unix nanoseconds; 0 before any
	// firstFeedback is when the feedback began (again, after fellBack).
	firstFeedback time.Time // guarded by allocMu
	// fellBack: the feedback never came or stopped (see run), and the
	// tracks went back to the default policy.
	fellBack atomic.Bool
	overuse  atomic.Bool // the delay trend said over-use: a probe stops
	// lossy: at the estimate's last look at loss, more than lossLow of
	// the media was lost, and no probe ran in the window it looked at.
	lossy atomic.Bool
	// The last probe: the packets it sent, those of them the feedback
	// reported (received or lost), and whether it stopped for over-use.
	probeSent, probeSeen atomic.Int64
	probeOver            atomic.Bool
	// The probes' verdicts so far: proven by the feedback, or tried for
	// real as the feedback left most of them out.
	proved, trials atomic.Int64

	allocMu      sync.Mutex // one allocation at a time; guards what follows
	lastAlloc    time.Time
	wantUp       map[ccStream]int // allocations in a row that wanted more
	nextProbe    time.Time
	probeBackoff time.Duration
	probeWant    float64 // the estimate the running probe is to prove
	trialBackoff time.Duration
	proven       float64 // the estimate the last probe that succeeded showed

	// A paused video's retrial: when, after how long the next, and the
	// estimate its lowest layer needed.
	resumeAt      time.Time
	resumeBackoff time.Duration
	resumeNeed    float64

	probes chan float64 // probe requests (a rate, bits per second) to run
	// probing is the rate the running probe adds (math.Float64bits of
	// bits per second); 0 between probes.
	probing atomic.Uint64

	// pacer paces the connection's video (see pacer); nil in benchmarks
	// and tests that make a congestion of their own.
	pacer *pacer
}

// newCongestion makes a connection's congestion control, its pacer
// counting in stats.
func newCongestion(streams func() []ccStream, conn *subConn, stats *pacing) *congestion {
	c := &congestion{
		streams: streams, conn: conn,
		hist:          newSendHistory(time.Now().UnixNano()),
		est:           newBWE(),
		wantUp:        map[ccStream]int{},
		probeBackoff:  probeBackoffMin,
		trialBackoff:  probeBackoffMin,
		resumeBackoff: resumeBackoffMin,
		probes:        make(chan float64, 1),
	}
	c.pacer = newPacer(c.pacingRate, stats)
	return c
}

// pacingRate is the rate the connection's video is paced at, bits per
// second: pacingFactor times the estimate, and what a running probe adds
// to it; 0 (not paced) without an estimate.
func (c *congestion) pacingRate() float64 {
	est := c.Estimate()
	if est <= 0 {
		return 0
	}
	return pacingFactor * (est + math.Float64frombits(c.probing.Load()))
}

// feedbackScratch is where onFeedback unpacks a feedback packet. One
// per connection would keep, for the connection's lifetime, room for the
// largest feedback it ever got (hundreds of packets after a stall); the
// pool keeps as many as are in use at once.
type feedbackScratch struct {
	results []packetResult
	pkts    []ccPacket
}

var feedbackScratchPool = sync.Pool{New: func() any { return new(feedbackScratch) }}

// Estimate is the latest estimate of the downlink in bits per second; 0
// before any feedback.
func (c *congestion) Estimate() float64 {
	if c.lastFeedback.Load() == 0 {
		return 0
	}
	return math.Float64frombits(c.estimate.Load())
}

// onFeedback takes one transport-cc feedback packet.
func (c *congestion) onFeedback(fb *rtcp.TransportLayerCC, now time.Time) {
	c.mu.Lock()
	// The reference time is 24 bits of 64 ms: unwrapped, so that
	// arrivals of successive feedbacks compare.
	ref := int64(fb.ReferenceTime)
	if c.hasRef && ref < c.lastRef && c.lastRef-ref > 1<<23 {
		c.refHigh += 1 << 24
	}
	c.lastRef, c.hasRef = ref, true
	scratch := feedbackScratchPool.Get().(*feedbackScratch)
	defer feedbackScratchPool.Put(scratch)
	scratch.results = feedbackResults(fb, scratch.results[:0])
	pkts := scratch.pkts[:0]
	for _, r := range scratch.results {
		at, size, probe, ok := c.hist.sent(r.seq)
		if !ok {
			continue
		}
		pkts = append(pkts, ccPacket{send: at, arrival: r.arrival + c.refHigh*64000, size: size, received: r.received, probe: probe})
		if probe {
			c.probeSeen.Add(1)
		}
	}
	scratch.pkts = pkts
	est := c.est.update(pkts, now.UnixMicro())
	if now.UnixNano() < c.floorUntil && c.est.rate < c.floor {
		c.est.rate = c.floor
		est = c.est.estimate()
	}
	lost := 0
	for _, p := range pkts {
		if !p.received {
			lost++
		}
	}
	if c.est.usage == usageOver || lost*5 > len(pkts) || c.est.delays.growth() > probeQueueMax {
		// A queue grows, or packets are lost: a probe stops. The delay
		// trend needs a while to say over-use; a queue that grew by
		// probeQueueMax in half a second stops it before it is full.
		c.overuse.Store(true)
	}
	acked := c.est.ackedRate()
	if c.est.lastLoss == now.UnixMicro() {
		// Just judged. Losses in a window that a probe overlapped are
		// the probe's, or may be: its queue took the media's room. They
		// do not make the link lossy, as the floor keeps them from
		// lowering the estimate; if the link loses packets without one,
		// the next judgement says so.
		probed := c.est.lossFrom*1000 < c.floorUntil
		c.lossy.Store(c.est.loss > lossLow && !probed)
	}
	c.mu.Unlock()
	c.estimate.Store(math.Float64bits(est))
	c.lastFeedback.Store(now.UnixNano())
	c.allocate(est, acked, now, false)
}

// onREMB takes the receiver's own estimate.
func (c *congestion) onREMB(bitrate float32, now time.Time) {
	c.mu.Lock()
	c.est.remb = float64(bitrate)
	est, acked := c.est.estimate(), c.est.ackedRate()
	c.mu.Unlock()
	c.estimate.Store(math.Float64bits(est))
	c.lastFeedback.Store(now.UnixNano())
	c.allocate(est, acked, now, false)
}

// videoChoice is one video down track of the subscriber in an
// allocation.
type videoChoice struct {
	d      ccStream
	rates  [maxLayers]float64 // each layer's bitrate; 0 when it does not flow or is not wanted
	count  int                // its layers
	hidden bool               // the subscriber does not show it
	choice int                // -1: paused
}

// allocate chooses the subscriber's layers for estimate est (bits per
// second), what arrived lately being acked, at most once per
// allocateInterval unless forced.
func (c *congestion) allocate(est, acked float64, now time.Time, force bool) {
	if !c.allocMu.TryLock() {
		return
	}
	defer c.allocMu.Unlock()
	if !force && now.Sub(c.lastAlloc) < allocateInterval {
		return
	}
	c.lastAlloc = now
	budget := est * allocShare
	var videos []videoChoice
	for _, d := range c.streams() {
		l := d.ccLayers(now)
		if !l.layered {
			// Audio always goes; a video without layers cannot be made
			// smaller.
			budget -= l.fixed
			continue
		}
		if !l.flows && !l.hidden {
			// The publisher sends nothing now (a camera turned off):
			// nothing to choose, and no pause to tell of; when it sends
			// again, the layer followed resumes at its keyframe.
			continue
		}
		videos = append(videos, videoChoice{d: d, rates: l.rates, count: l.count, hidden: l.hidden, choice: -1})
	}
	if len(videos) == 0 {
		return
	}
	if !c.lossy.Load() {
		// Delay alone slows a video down; it does not stop one. A link
		// that does not carry even the lowest layers loses packets once
		// its queue is full, and then the video pauses; a queue that
		// grew for a while (a burst, a probe, the jitter of a busy
		// path) costs the larger layers, not the picture.
		keep := 0.0
		for _, v := range videos {
			if lo := v.above(-1); lo >= 0 && !v.hidden && !v.d.Paused() {
				keep += v.rates[lo]
			}
		}
		budget = max(budget, keep)
	}
	left, next := chooseLayers(videos, budget)
	for _, v := range videos {
		if v.choice < 0 && !v.hidden && (!v.d.pausedTold() || force) {
			// A pause (or a retrial that did not resume): tried again
			// later, with the estimate the lowest layer needs, and some
			// more, its bitrate moving.
			c.resumeAt = now.Add(c.resumeBackoff)
			c.resumeBackoff = min(2*c.resumeBackoff, resumeBackoffMax)
			c.resumeNeed = 1.25 * (est*allocShare - left + v.rates[max(0, v.above(-1))]) / allocShare
		}
	}
	for i := range videos {
		c.apply(&videos[i])
	}
	// The feedback began (or came back after the tracks fell back to
	// the default policy): probeWarmup counts from here.
	if c.fellBack.CompareAndSwap(true, false) || c.firstFeedback.IsZero() {
		c.firstFeedback = now
	}
	// What the next step up would need: probe for it. The link must
	// carry what is sent now and the step; the probe adds the difference.
	if next > 0 && acked > 0 && now.Sub(c.firstFeedback) >= probeWarmup && now.After(c.nextProbe) {
		sending := est*allocShare - left
		if c.probeWant > 0 {
			// The last probe's verdict.
			switch {
			case est >= c.probeWant*0.95:
				c.probeBackoff, c.trialBackoff = probeProvenWait, probeBackoffMin
				c.resumeBackoff = resumeBackoffMin
				c.proven = est
				c.proved.Add(1)
			case c.probeSent.Load() > 0 && 4*c.probeSeen.Load() < 3*c.probeSent.Load() && !c.probeOver.Load() && !c.overuse.Load():
				// The feedback left most of the probe's packets out (a
				// receiver that does not report them all, or feedback
				// lost on the way), so the estimate could not measure
				// it; but nothing went
				// wrong while it ran and since: the media's delay did not
				// grow, nothing was lost. The step is tried for real, and
				// congestion control takes it back if the link does not
				// carry it; the next such trial waits twice as long.
				c.mu.Lock()
				c.est.rate = max(c.est.rate, c.probeWant)
				c.mu.Unlock()
				c.probeBackoff = c.trialBackoff
				c.trialBackoff = min(2*c.trialBackoff, trialBackoffMax)
				c.trials.Add(1)
			default:
				c.probeBackoff = max(probeBackoffMin, min(2*c.probeBackoff, probeBackoffMax))
			}
		}
		// At most three times what is proven at a time: a probe that
		// fails overshoots the link by less, so that its queue holds it
		// and little is lost. Proven is what arrives, or what the last
		// probe that succeeded showed (as long as the estimate holds it),
		// where the estimate alone may be a guess (the first one).
		// Within that, what every video's top layer needs (so that a
		// link with room gets them in one switch, not one layer at a
		// time), and a fifth more: the layers' bitrates move (an SVC
		// layer's, the sum of those below it, most), and a probe that
		// proved just a step's cost of a moment ago would leave the
		// step out of reach a moment later.
		base := max(acked, sending, min(est, c.proven))
		want := min(probeHeadroom*(sending+max(next, toTop(videos)))/allocShare, probeStep*base)
		c.probeWant = want
		c.mu.Lock()
		c.floor, c.floorUntil = 0.95*acked, now.Add(probeDuration+probeSettle).UnixNano()
		c.mu.Unlock()
		c.nextProbe = now.Add(probeDuration + c.probeBackoff)
		select {
		case c.probes <- want - sending:
		default:
		}
	}
}

// chooseLayers gives each video the lowest layer that flows, as budget
// allows, then raises them one layer at a time, round robin, while the
// budget allows. It returns what is left of the budget and the cost of
// the cheapest step up that did not fit (0 when every video has its top
// layer).
func chooseLayers(videos []videoChoice, budget float64) (left, next float64) {
	for i := range videos {
		v := &videos[i]
		if lo := v.above(-1); lo >= 0 && v.rates[lo] <= budget {
			v.choice = lo
			budget -= v.rates[lo]
		}
	}
	for raised := true; raised; {
		raised = false
		for i := range videos {
			v := &videos[i]
			up := v.above(v.choice)
			if up < 0 {
				continue
			}
			cost := v.rates[up]
			if v.choice >= 0 {
				cost -= v.rates[v.choice]
			}
			if cost <= budget {
				v.choice = up
				budget -= cost
				raised = true
			} else if next == 0 || cost < next {
				next = cost
			}
		}
	}
	return budget, next
}

// toTop is what the videos shown need more to be each on its highest
// layer that flows.
func toTop(videos []videoChoice) float64 {
	more := 0.0
	for i := range videos {
		v := &videos[i]
		top := v.choice
		for l := v.choice + 1; l < maxLayers; l++ {
			if v.rates[l] > 0 {
				top = l
			}
		}
		if v.hidden || top == v.choice {
			continue
		}
		more += v.rates[top]
		if v.choice >= 0 {
			more -= v.rates[v.choice]
		}
	}
	return more
}

// above is the lowest flowing layer above l; -1 if none.
func (v *videoChoice) above(l int) int {
	for i := l + 1; i < v.count; i++ {
		if v.rates[i] > 0 {
			return i
		}
	}
	return -1
}

// apply sets a video's layer: at once when lower or paused, after
// upgradeAfter allocations in a row that wanted it when higher.
func (c *congestion) apply(v *videoChoice) {
	d := v.d
	if v.choice < 0 {
		delete(c.wantUp, d)
		d.pause(!v.hidden)
		return
	}
	cur := d.TargetLayer()
	if d.Paused() || v.choice < cur {
		delete(c.wantUp, d)
		d.SetTargetLayer(v.choice)
		return
	}
	if v.choice == cur {
		delete(c.wantUp, d)
		d.SetTargetLayer(cur) // ends the default climb, if it still runs
		return
	}
	c.wantUp[d]++
	if c.wantUp[d] >= upgradeAfter {
		delete(c.wantUp, d)
		d.SetTargetLayer(v.choice)
	}
}

// run sends the probes allocate asks for until the connection ends;
// it also tries paused videos again (see resumeBackoffMin), and gives a
// connection that sends no feedback on what it is sent back to the
// default policy. It runs on a goroutine of its own, owned by the
// participant or the viewer.
//
// The same goroutine sends the connection's sender reports (report, at
// each tick): a goroutine of its own per connection cost its stack, a few
// kilobytes, for a task of a few microseconds a second. A probe (at most
// probeDuration) delays them by as much.
func (c *congestion) run(report func(now time.Time)) {
	// Not on a grid shared with the other connections (see internal/tick):
	// a thousand subscribers' reports at the same instant would hold up
	// forwarding for that long, and their estimators would take the
	// delay for congestion.
	t := time.NewTicker(proberTick)
	defer t.Stop()
	var buf []byte
	// What was sent, and the latest feedback, at the last look.
	var seenSeq uint32
	var seenFeedback int64
	var seenAt time.Time
	for {
		select {
		case <-c.conn.done:
			return
		case now := <-t.C:
			report(now)
			if now.Sub(seenAt) >= feedbackTimeout {
				seq, fb := c.hist.seq.Load(), c.lastFeedback.Load()
				if !seenAt.IsZero() && seq != seenSeq && fb == seenFeedback {
					c.lastFeedback.Store(0)
					c.fellBack.Store(true)
					for _, d := range c.streams() {
						d.climbToTop()
					}
				}
				seenSeq, seenFeedback, seenAt = seq, fb, now
			}
			c.retryPaused(now)
		case rate := <-c.probes:
			if buf == nil {
				buf = make([]byte, maxPacket)
			}
			if !c.probe(rate, buf) {
				return
			}
		}
	}
}

// retryPaused resumes the paused videos on their lowest layer when their
// retrial is due: the estimate is raised to what that layer needs, and
// the feedback on it shows whether the link carries it now.
func (c *congestion) retryPaused(now time.Time) {
	if c.lastFeedback.Load() == 0 {
		return
	}
	paused := false
	for _, d := range c.streams() {
		paused = paused || d.pausedTold()
	}
	c.allocMu.Lock()
	due, need := paused && now.After(c.resumeAt), c.resumeNeed
	c.allocMu.Unlock()
	if !due {
		return
	}
	c.mu.Lock()
	c.est.rate = max(c.est.rate, need)
	est, acked := c.est.estimate(), c.est.ackedRate()
	c.mu.Unlock()
	c.estimate.Store(math.Float64bits(est))
	c.allocate(est, acked, now, true)
}

// probe sends duplicates at rate bits per second for probeDuration, or
// until the feedback shows a queue growing: the link does not carry it,
// and more would cost the media losses. It returns false if the
// connection ended.
func (c *congestion) probe(rate float64, buf []byte) bool {
	if rate <= 0 {
		return true
	}
	c.overuse.Store(false)
	c.probeSent.Store(0)
	c.probeSeen.Store(0)
	defer func() { c.probeOver.Store(c.overuse.Load()) }()
	// The copies are of the video sent on the highest layer, chosen once
	// for the probe.
	src := c.probeSource()
	if src == nil {
		return true
	}
	c.probing.Store(math.Float64bits(rate))
	defer c.probing.Store(0)
	t := time.NewTicker(probeTick)
	defer t.Stop()
	start := time.Now()
	var sent float64 // bytes
	k := 0
	for {
		select {
		case <-c.conn.done:
			return false
		case now := <-t.C:
			el := now.Sub(start)
			if el >= probeDuration || c.overuse.Load() {
				return true
			}
			for sent < rate/8*el.Seconds() {
				n := src.duplicate(k, buf)
				if n == 0 {
					return true // nothing to send copies of
				}
				sent += float64(n)
				c.probeSent.Add(1)
				k++
			}
		}
	}
}

// probeSource is the connection's video with layers sent on the highest
// layer, whose latest packets a probe copies; nil if there is none.
func (c *congestion) probeSource() ccStream {
	var best ccStream
	for _, d := range c.streams() {
		if d.layered() && (best == nil || d.CurrentLayer() > best.CurrentLayer()) {
			best = d
		}
	}
	return best
}

// ccStreams lists the participant's down tracks on conn.
func (p *Participant) ccStreams(conn *subConn) []ccStream {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ccStream, 0, len(p.downs))
	for _, d := range p.downs {
		if d.conn == conn {
			out = append(out, d)
		}
	}
	return out
}

// ccLayers says what the down track may be sent at now (see ccStream).
func (d *DownTrack) ccLayers(now time.Time) ccLayers {
	up := d.up
	if !d.layered() {
		return ccLayers{fixed: up.layers[0].bitrate(now)}
	}
	l := ccLayers{layered: true, count: d.Layers()}
	top := d.maxLayer()
	l.hidden = top < 0
	for i := range up.layerCount() {
		r := up.layerRate(i, now)
		l.flows = l.flows || r > 0
		if i <= top {
			l.rates[i] = r
		}
	}
	return l
}

func (d *DownTrack) layered() bool {
	return d.up.kind == webrtc.RTPCodecTypeVideo && d.follow != nil
}

func (d *DownTrack) pausedTold() bool { return d.told.Load() }

// duplicate sends again the k-th latest (modulo 8) packet the down track
// sent, as a probe (see resend); 0 when there is none.
func (d *DownTrack) duplicate(k int, buf []byte) int {
	f := d.follow
	if f == nil {
		return 0
	}
	f.mu.Lock()
	seq := f.lastSeq - uint16(k%8)
	started := f.n > 0
	f.mu.Unlock()
	if !started {
		return 0
	}
	return d.resend(seq, buf, true)
}

// Downlink is what congestion control knows of a participant's downlink
// and does with it, for the participant's own view of its connection.
type Downlink struct {
	// Estimate is the downlink's estimate in bits per second; 0 without
	// feedback (congestion control does not run).
	Estimate float64
	Videos   []VideoLayer
}

// VideoLayer is the layer the participant receives of one simulcast
// video.
type VideoLayer struct {
	Track  string // the up track's id
	Layer  int    // the layer sent now (0 the lowest); -1 for none
	Target int    // the layer switched to at its next keyframe; -1 paused
	Layers int
	// Paused: for congestion (the participant was told); Hidden: because
	// the participant does not show it.
	Paused, Hidden bool
}

// Downlink tells what the participant's downlink is estimated at and
// which layer of each of its simulcast videos it receives.
func (p *Participant) Downlink() Downlink {
	var out Downlink
	p.mu.Lock()
	if c := p.subConn; c != nil && c.cc != nil {
		out.Estimate = c.cc.Estimate()
	}
	for up, d := range p.downs {
		if d.follow == nil {
			continue
		}
		out.Videos = append(out.Videos, VideoLayer{Track: up.id, Layer: d.CurrentLayer(), Target: d.TargetLayer(),
			Layers: d.Layers(), Paused: d.told.Load(), Hidden: d.maxLayer() < 0})
	}
	p.mu.Unlock()
	slices.SortFunc(out.Videos, func(a, b VideoLayer) int { return strings.Compare(a.Track, b.Track) })
	return out
}
