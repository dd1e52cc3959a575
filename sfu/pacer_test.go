package sfu

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// pacedOut records what a pacer sends, and when.
type pacedOut struct {
	mu   sync.Mutex
	sent []pacedSent
}

type pacedSent struct {
	kind string // of a down track's packet (see stampedWriter)
	twcc uint16
	ssrc uint32
	seq  uint16
	ts   uint32
	size int
	at   time.Time
}

// emit records the packet, with the transport-wide sequence number the
// caller's storage holds (see send).
func (o *pacedOut) emit(h *rtp.Header, payload []byte, ext *hdrExts, now int64, _ bool) {
	ext.stampHeader(h, 3, uint16(now/1e6))
	o.record(h, payload)
}

func (o *pacedOut) record(h *rtp.Header, payload []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, pacedSent{ssrc: h.SSRC, seq: h.SequenceNumber, ts: h.Timestamp, size: len(payload), at: time.Now()})
}

func (o *pacedOut) all() []pacedSent {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]pacedSent(nil), o.sent...)
}

// send admits a packet and sends it at once if the pacer lets it, as a
// down track does.
func (o *pacedOut) send(p *pacer, ssrc uint32, seq uint16, ts uint32, size int) bool {
	h := rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}
	payload := make([]byte, size)
	if !p.admit(o, &h, payload, time.Now().UnixNano(), false) {
		return false
	}
	o.record(&h, payload)
	return true
}

func fixedRate(r float64) func() float64 { return func() float64 { return r } }

// TestPacerRate: a burst larger than the bucket leaves at the pacing rate,
// in order; what fits goes at once.
func TestPacerRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 400_000
		st := testPacing(t)
		p := newPacer(fixedRate(rate), st)
		defer p.close()
		var out pacedOut
		start := time.Now()
		// A keyframe of 15 packets of 1,000 bytes.
		for i := range 15 {
			out.send(p, 1, uint16(i), 100, 1000)
		}
		if got := len(out.all()); got != 1 {
			t.Fatalf("%d packets sent at once, want the one the bucket holds", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		sent := out.all()
		if len(sent) != 15 {
			t.Fatalf("%d packets sent, want 15", len(sent))
		}
		total := 0.0
		for i, s := range sent {
			if s.seq != uint16(i) {
				t.Fatalf("packet %d sent as %d: out of order", s.seq, i)
			}
			total += float64(s.size + twccHeaderBytes)
			// What left by each packet's time fits the bucket and the
			// rate since.
			if allowed := burst(rate) + rate/8*s.at.Sub(start).Seconds(); total > allowed+1 {
				t.Fatalf("%.0f bytes sent by %v, the budget allows %.0f", total, s.at.Sub(start), allowed)
			}
		}
		last := sent[len(sent)-1].at.Sub(start)
		want := time.Duration((total - burst(rate)) * 8 / rate * float64(time.Second))
		if last < want || last > want+20*time.Millisecond {
			t.Errorf("the last packet left after %v, want about %v", last, want)
		}
		if n := st.paced.Load(); n != 14 {
			t.Errorf("%d packets counted as paced, want 14", n)
		}
		// The bucket refilled: a packet goes at once again.
		if !out.send(p, 1, 15, 200, 1000) {
			t.Errorf("a packet after the queue drained waits")
		}
	})
}

// lateOut is a pacedStream whose sending takes time: each release the
// pacer's timer runs ends later than the pacer planned, as on a busy
// machine whose timers run behind.
type lateOut struct {
	pacedOut
	late time.Duration
}

func (o *lateOut) emit(h *rtp.Header, payload []byte, ext *hdrExts, now int64, probe bool) {
	time.Sleep(o.late)
	o.pacedOut.emit(h, payload, ext, now, probe)
}

// TestPacerLate: a pacer whose releases run late still sends at its rate
// while packets wait (it sends what was due meanwhile), and never more
// than its rate, its burst and its catch-up allow.
func TestPacerLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 400_000 // 50 KB/s: a 1,000-byte packet every 20 ms
		st := testPacing(t)
		p := newPacer(fixedRate(rate), st)
		defer p.close()
		out := &lateOut{late: 15 * time.Millisecond}
		start := time.Now()
		const n = 18 // what the queue holds at the rate (pacerMaxDelay)
		for i := range n {
			h := rtp.Header{Version: 2, SSRC: 1, SequenceNumber: uint16(i), Timestamp: uint32(i)}
			if p.admit(out, &h, make([]byte, 1000), time.Now().UnixNano(), false) {
				out.record(&h, make([]byte, 1000))
			}
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		sent := out.all()
		if len(sent) != n || st.dropped.Load() != 0 {
			t.Fatalf("%d packets sent and %d dropped, want %d and none", len(sent), st.dropped.Load(), n)
		}
		total := 0.0
		for _, s := range sent {
			total += float64(s.size + twccHeaderBytes)
			if allowed := burst(rate) + rate/8*(s.at.Sub(start)+pacerCatchUp).Seconds(); total > allowed+1 {
				t.Fatalf("%.0f bytes sent by %v, the budget allows %.0f", total, s.at.Sub(start), allowed)
			}
		}
		// At the rate, the last leaves (total - burst) / rate after the
		// first, give or take one late send; at one packet per late
		// release it took 35 ms a packet, 0.6 s.
		last := sent[n-1].at.Sub(start)
		want := time.Duration((total - burst(rate)) * 8 / rate * float64(time.Second))
		if last > want+2*out.late+pacerTick {
			t.Errorf("the last packet left after %v: at the rate, about %v", last, want)
		}
	})
}

// TestPacerOrder: of two streams, each keeps its order whatever waits,
// and once one packet waits every one after it does.
func TestPacerOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 740 bytes every 5 ms, 1.2 Mbit/s, paced at 1 Mbit/s: some go at
		// once, then more and more wait.
		st := testPacing(t)
		p := newPacer(fixedRate(1e6), st)
		defer p.close()
		var out pacedOut
		now := 0
		for i := range 40 {
			if out.send(p, uint32(1+i%2), uint16(i/2), uint32(i/6), 720) {
				now++
			}
			time.Sleep(5 * time.Millisecond)
		}
		if now == 0 || st.paced.Load() == 0 || st.dropped.Load() != 0 {
			t.Fatalf("%d packets sent at once, %d waited, %d dropped: want some of the first two, none of the last", now, st.paced.Load(), st.dropped.Load())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		next := map[uint32]uint16{}
		for _, s := range out.all() {
			if s.seq != next[s.ssrc] {
				t.Fatalf("stream %d: packet %d sent where %d was next", s.ssrc, s.seq, next[s.ssrc])
			}
			next[s.ssrc]++
		}
		if next[1] != 20 || next[2] != 20 {
			t.Fatalf("sent %v, want 20 of each", next)
		}
	})
}

// TestPacerNoEstimate: without an estimate nothing waits; when the
// estimate goes, what waited goes at once, before what follows.
func TestPacerNoEstimate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rate float64
		p := newPacer(func() float64 { return rate }, testPacing(t))
		defer p.close()
		var out pacedOut
		for i := range 20 {
			if !out.send(p, 1, uint16(i), 1, 1200) {
				t.Fatalf("packet %d waits without an estimate", i)
			}
		}
		rate = 100_000
		for i := 20; i < 25; i++ {
			out.send(p, 1, uint16(i), 2, 1200)
		}
		if p.queued() == 0 {
			t.Fatal("nothing waits at 100 kbit/s")
		}
		rate = 0
		if !out.send(p, 1, 25, 3, 1200) || p.queued() != 0 {
			t.Fatal("the queue stays without an estimate")
		}
		for i, s := range out.all() {
			if s.seq != uint16(i) {
				t.Fatalf("packet %d sent as %d", s.seq, i)
			}
		}
	})
}

// TestPacerBound: the queue holds at most pacerMaxDelay at the pacing
// rate; beyond, the oldest frames are dropped whole, and counted.
func TestPacerBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 200_000 // 10 KB in pacerMaxDelay
		st := testPacing(t)
		p := newPacer(fixedRate(rate), st)
		defer p.close()
		var out pacedOut
		// Five frames of four packets of 1,000 bytes, of two streams
		// (the second's packets between the first's), at once.
		for f := range 5 {
			for i := range 4 {
				out.send(p, 1, uint16(4*f+i), uint32(f), 1000)
			}
			out.send(p, 2, uint16(f), uint32(f), 100)
		}
		limit := rate / 8 * pacerMaxDelay.Seconds()
		p.mu.Lock()
		queued := p.bytes
		p.mu.Unlock()
		if float64(queued) > limit {
			t.Fatalf("%d bytes queued, want at most %.0f", queued, limit)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		sent := out.all()
		frames := map[uint32]int{}
		for _, s := range sent {
			if s.ssrc == 1 {
				frames[s.ts]++
			}
		}
		for f := range uint32(4) {
			// The first frame's head left at once.
			if n := frames[f]; n != 0 && n != 4 && f != 0 {
				t.Errorf("frame %d: %d of its 4 packets sent", f, n)
			}
		}
		if frames[4] != 4 {
			t.Errorf("the last frame: %d of its 4 packets sent", frames[4])
		}
		dropped := 25 - len(sent)
		if dropped == 0 || st.dropped.Load() != uint64(dropped) {
			t.Errorf("%d packets not sent, %d counted as dropped", dropped, st.dropped.Load())
		}
		// A packet cap too: 600 small packets are more than it holds,
		// though their bytes are not.
		q := newPacer(fixedRate(1e6), st)
		defer q.close()
		for i := range 600 {
			out.send(q, 3, uint16(i), uint32(i), 10)
		}
		if n := q.queued(); n > pacerMaxPackets || n < pacerMaxPackets-1 {
			t.Errorf("%d packets queued, want at most %d", n, pacerMaxPackets)
		}
	})
}

// TestPacerClose: close drops what waits, stops the timer and leaves no
// goroutine (synctest.Test fails on one left); a packet admitted after
// goes at once.
func TestPacerClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(fixedRate(100_000), testPacing(t))
		var out pacedOut
		for i := range 10 {
			out.send(p, 1, uint16(i), 1, 1000)
		}
		time.Sleep(20 * time.Millisecond)
		p.close()
		n := len(out.all())
		time.Sleep(time.Second)
		synctest.Wait()
		if got := len(out.all()); got != n {
			t.Fatalf("%d packets sent after close", got-n)
		}
		if p.queued() != 0 {
			t.Fatal("packets left queued after close")
		}
		if !out.send(p, 1, 10, 2, 1000) {
			t.Fatal("a packet waits after close")
		}
	})
}

// TestPacerAllocs: admitting a packet allocates nothing, whether it goes
// at once, waits, or waits and is released.
func TestPacerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("with the race detector, sync.Pool drops buffers at random")
	}
	h := rtp.Header{Version: 2, SSRC: 1}
	payload := make([]byte, 1000)
	var out pacedOut
	out.sent = make([]pacedSent, 0, 100_000)

	fast := newPacer(fixedRate(1e12), testPacing(t))
	defer fast.close()
	if n := testing.AllocsPerRun(1000, func() {
		h.SequenceNumber++
		if !fast.admit(&out, &h, payload, time.Now().UnixNano(), false) {
			t.Fatal("a packet waits at 1 Tbit/s")
		}
	}); n != 0 {
		t.Errorf("%v allocations per packet sent at once, want 0", n)
	}

	// A full queue: each packet drops the oldest frame and waits.
	slow := newPacer(fixedRate(1), testPacing(t))
	defer slow.close()
	for range pacerMaxPackets {
		h.SequenceNumber++
		h.Timestamp++
		slow.admit(&out, &h, payload[:1], time.Now().UnixNano(), false)
	}
	if n := testing.AllocsPerRun(1000, func() {
		h.SequenceNumber++
		h.Timestamp++
		if slow.admit(&out, &h, payload, time.Now().UnixNano(), false) {
			t.Fatal("a packet goes at once at 1 bit/s")
		}
	}); n != 0 {
		t.Errorf("%v allocations per packet queued, want 0", n)
	}

	synctest.Test(t, func(t *testing.T) {
		p := newPacer(fixedRate(1e6), testPacing(t))
		defer p.close()
		var out pacedOut
		out.sent = make([]pacedSent, 0, 10_000)
		if n := testing.AllocsPerRun(100, func() {
			for range 8 {
				h.SequenceNumber++
				p.admit(&out, &h, payload, time.Now().UnixNano(), false)
			}
			time.Sleep(100 * time.Millisecond) // released
			synctest.Wait()
		}); n != 0 {
			t.Errorf("%v allocations per 8 packets queued and released, want 0", n)
		}
		if len(out.sent) < 700 {
			t.Errorf("%d packets released, want about 700", len(out.sent))
		}
	})
}

// stampedWriter records what a down track writes: the transport-wide
// sequence number of each packet, and when.
type stampedWriter struct {
	kind string
	log  *pacedOut
}

func (w stampedWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	ext := h.GetExtension(3)
	w.log.mu.Lock()
	defer w.log.mu.Unlock()
	w.log.sent = append(w.log.sent, pacedSent{kind: w.kind, twcc: uint16(ext[0])<<8 | uint16(ext[1]), at: time.Now()})
	return len(payload), nil
}

func (w stampedWriter) Write(b []byte) (int, error) { return len(b), nil }

// TestPacedDownTracks: on a paced connection, a burst of video waits in
// the pacer while the audio sent meanwhile leaves at once; each packet
// takes its transport-wide sequence number, and its send time in the
// history, when it leaves.
func TestPacedDownTracks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 300_000
		st := testPacing(t)
		conn := &subConn{cc: &congestion{hist: newSendHistory(time.Now().UnixNano())}}
		conn.cc.pacer = newPacer(fixedRate(rate), st)
		defer conn.cc.pacer.close()
		var sent pacedOut
		track := func(kind webrtc.RTPCodecType, ssrc uint32) *UpTrack {
			u := newUpTrack(kind.String(), nil, kind, webrtc.RTPCodecParameters{PayloadType: 111}, []layerSource{{remote: &webrtc.TrackRemote{}}})
			d := &DownTrack{up: u, conn: conn}
			d.binding.Store(&downBinding{ssrc: ssrc, pt: 111, twcc: 3, writer: stampedWriter{kind: kind.String(), log: &sent}})
			u.attach(d)
			return u
		}
		video, audio := track(webrtc.RTPCodecTypeVideo, 1), track(webrtc.RTPCodecTypeAudio, 2)
		var pkt rtp.Packet
		start := time.Now()
		for i := range 10 {
			video.handle(video.layers[0], vp8Raw(42, uint16(i), i == 0), &pkt)
		}
		raw := rawPacket()
		for range 5 {
			audio.handle(audio.layers[0], raw, &pkt)
		}
		log := sent.all()
		audioNow := 0
		for _, p := range log {
			if p.kind == "audio" {
				audioNow++
			}
		}
		if audioNow != 5 || len(log) > 7 {
			t.Fatalf("sent at once: %d audio packets of 5 and %d video ones of 10, want all the audio and a few of the video", audioNow, len(log)-audioNow)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		log = sent.all()
		if len(log) != 15 {
			t.Fatalf("%d packets sent, want 15", len(log))
		}
		for i, p := range log {
			if p.twcc != uint16(i) {
				t.Fatalf("packet %d sent with transport-wide number %d: not stamped as it left", i, p.twcc)
			}
			at, _, _, ok := conn.cc.hist.sent(p.twcc)
			if !ok || at != p.at.Sub(start).Microseconds() {
				t.Fatalf("packet %d recorded as sent at %d µs, sent at %v", i, at, p.at.Sub(start))
			}
		}
		if last := log[len(log)-1].at.Sub(start); last < 150*time.Millisecond {
			t.Errorf("the tenth video packet of 1 KB left %v after the first at %d kbit/s", last, rate/1000)
		}
		if st.paced.Load() == 0 {
			t.Error("no packet counted as paced")
		}
	})
}

// TestPacerForget: a stream paused sends nothing of what it had queued;
// the others' packets go on in order.
func TestPacerForget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(fixedRate(400_000), testPacing(t))
		defer p.close()
		var paused, other pacedOut
		for i := range 6 {
			paused.send(p, 1, uint16(i), 1, 1000)
			other.send(p, 2, uint16(i), 1, 1000)
		}
		before := len(paused.all())
		p.forget(&paused)
		time.Sleep(time.Second)
		synctest.Wait()
		if n := len(paused.all()); n != before {
			t.Errorf("%d packets of a forgotten stream sent after", n-before)
		}
		for i, s := range other.all() {
			if s.seq != uint16(i) {
				t.Fatalf("packet %d sent as %d", s.seq, i)
			}
		}
		if n := len(other.all()); n != 6 {
			t.Errorf("%d packets of the other stream sent, want 6", n)
		}
	})
}

// hookOut is a pacedOut that runs hook at the first packet a pacer
// releases to it.
type hookOut struct {
	pacedOut
	hook func()
}

func (o *hookOut) emit(h *rtp.Header, payload []byte, ext *hdrExts, now int64, probe bool) {
	if f := o.hook; f != nil {
		o.hook = nil
		f()
	}
	o.pacedOut.emit(h, payload, ext, now, probe)
}

// testPacing is what pacers of a test share; the test's end (in a
// synctest bubble, before the bubble's) stops its clock.
func testPacing(t testing.TB) *pacing {
	st := new(pacing)
	t.Cleanup(st.clock.stop)
	return st
}

// TestPacerClock: one clock releases many pacers at their rates; a pacer
// whose packet is due before the clock's next round wakes it; the clock's
// goroutine ends once nothing has waited for pacerIdle; and once the
// clock is stopped, nothing waits.
func TestPacerClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := testPacing(t)
		const rate = 400_000 // a 1,000-byte packet every 20 ms
		var outs [20]pacedOut
		ps := make([]*pacer, len(outs))
		start := time.Now()
		for i := range ps {
			ps[i] = newPacer(fixedRate(rate), st)
			defer ps[i].close()
			for k := range 10 {
				outs[i].send(ps[i], 1, uint16(k), uint32(k), 1000)
			}
		}
		time.Sleep(time.Second)
		synctest.Wait()
		for i := range outs {
			sent := outs[i].all()
			if len(sent) != 10 {
				t.Fatalf("pacer %d sent %d packets, want 10", i, len(sent))
			}
			last := sent[9].at.Sub(start)
			want := time.Duration((10*float64(1000+twccHeaderBytes) - burst(rate)) * 8 / rate * float64(time.Second))
			if last < want-pacerTick || last > want+2*pacerTick {
				t.Errorf("pacer %d: the last packet left after %v, at the rate about %v", i, last, want)
			}
		}

		// A slow pacer makes the clock sleep pacerMaxWait; a fast one's
		// packet, due sooner, wakes it.
		slow := newPacer(fixedRate(10_000), st)
		defer slow.close()
		var so, fo pacedOut
		so.send(slow, 1, 0, 0, 1000)
		so.send(slow, 1, 1, 1, 1000)
		time.Sleep(3 * time.Millisecond)
		fast := newPacer(fixedRate(2_000_000), st)
		defer fast.close()
		fo.send(fast, 2, 0, 0, 1200)
		fo.send(fast, 2, 1, 0, 1200)
		added := time.Now()
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		if sent := fo.all(); len(sent) != 2 || sent[1].at.Sub(added) > 8*time.Millisecond {
			t.Fatalf("the fast pacer's second packet: %+v, want it sent within 8 ms", sent)
		}
		slow.close()

		// A pacer that gets packets during a round (here from a stream's
		// emit) is released when they are due, not at the round the
		// others planned.
		slow2 := newPacer(fixedRate(10_000), st)
		defer slow2.close()
		fast2 := newPacer(fixedRate(2_000_000), st)
		defer fast2.close()
		var fo2 pacedOut
		trigger := &hookOut{hook: func() {
			fo2.send(fast2, 3, 0, 0, 1200)
			fo2.send(fast2, 3, 1, 0, 1200)
		}}
		for i := range 3 {
			// The first goes at once; the second waits, and its release
			// runs the hook; the third keeps the pacer on the list.
			h := rtp.Header{Version: 2, SSRC: 4, SequenceNumber: uint16(i), Timestamp: uint32(i)}
			slow2.admit(trigger, &h, make([]byte, 1000), time.Now().UnixNano(), false)
		}
		for i := 0; len(fo2.all()) == 0; i++ {
			if i == 2000 {
				t.Fatal("the slow pacer's second packet never left")
			}
			time.Sleep(time.Millisecond)
		}
		hooked := fo2.all()[0].at
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		if sent := fo2.all(); len(sent) != 2 || sent[1].at.Sub(hooked) > 8*time.Millisecond {
			t.Fatalf("the packets admitted during a round: %+v, want the second sent within 8 ms of the first", sent)
		}
		slow2.close()

		// Idle: the goroutine ends.
		time.Sleep(pacerMaxWait + pacerIdle + pacerTick)
		synctest.Wait()
		st.clock.mu.Lock()
		running := st.clock.running
		st.clock.mu.Unlock()
		if running {
			t.Error("the clock runs on with nothing to release")
		}

		// Stopped while packets wait: they go at once.
		st2 := testPacing(t)
		var out2 pacedOut
		q := newPacer(fixedRate(100_000), st2)
		defer q.close()
		for i := range 5 {
			out2.send(q, 1, uint16(i), 1, 1000)
		}
		if q.queued() == 0 {
			t.Fatal("nothing waits at 100 kbit/s")
		}
		st2.clock.stop()
		if n := len(out2.all()); n != 5 || q.queued() != 0 {
			t.Errorf("after the clock stopped with packets waiting, %d of 5 sent, %d still wait", n, q.queued())
		}
		out2.send(q, 1, 5, 2, 1000)
		if n := len(out2.all()); n != 6 || q.queued() != 0 {
			t.Errorf("a packet after the clock stopped: %d of 6 sent, %d wait", n, q.queued())
		}

		// Stopped: a packet over the budget goes at once.
		st.clock.stop()
		var out pacedOut
		p := newPacer(fixedRate(100_000), st)
		defer p.close()
		for i := range 5 {
			out.send(p, 1, uint16(i), 1, 1000)
		}
		if n := len(out.all()); n != 5 || p.queued() != 0 {
			t.Errorf("after the clock stopped, %d of 5 packets sent and %d wait", n, p.queued())
		}
	})
}
