package sfu

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// viewerLoss is the share of the sequence numbers of the video packets
// a test viewer received from the n-th on that never came.
func viewerLoss(tv *testViewer, from int) (float64, int) {
	got := tv.packets(webrtc.RTPCodecTypeVideo)[from:]
	seen := map[uint16]bool{}
	for _, p := range got {
		seen[p.seq] = true
	}
	if len(got) < 2 {
		return 0, len(got)
	}
	lo, hi := got[0].seq, got[0].seq
	for _, p := range got {
		if int16(p.seq-lo) < 0 {
			lo = p.seq
		}
		if int16(p.seq-hi) > 0 {
			hi = p.seq
		}
	}
	span := int(uint16(hi-lo)) + 1
	return 1 - float64(len(seen))/float64(span), len(seen)
}

// TestViewerCongestion: a WHEP viewer that sends transport-cc feedback
// is congestion-controlled like a participant: behind 300 kbit/s it
// settles on the lowest layer of a simulcast publisher and receives it
// with little loss, while a viewer on a free link climbs to the top;
// lifted, it climbs too; below the lowest layer its video pauses, and
// resumes once the link allows.
func TestViewerCongestion(t *testing.T) {
	link := newShapedLink(t)
	_, room, serverNet, clientNet := shapedEngine(t, link)
	publishLadder(t, joinWith(t, room, "a", twccAPI(t, serverNet)))
	link.shape(t, "300kbit")
	free := viewWith(t, room, "free", ViewOptions{}, subscriberAPI(t, serverNet, true), webrtc.RTPCodecTypeVideo)
	weak := viewWith(t, room, "weak", ViewOptions{}, subscriberAPI(t, clientNet, true), webrtc.RTPCodecTypeVideo)
	fv, wv := free.v.tracks[0], weak.v.tracks[0]
	start := time.Now()
	var climbed, settled time.Duration
	eventually(t, "the free viewer climbs to the top layer, the weak one settles on the lowest", func() bool {
		if climbed == 0 && fv.CurrentLayer() == 2 {
			climbed = time.Since(start)
		}
		if settled == 0 && weak.v.conn.cc.Estimate() > 0 && wv.TargetLayer() == 0 && wv.CurrentLayer() == 0 {
			settled = time.Since(start)
		}
		return climbed > 0 && settled > 0
	})
	t.Logf("the weak viewer settled after %v (estimate %.0f kbit/s), the free one on the top layer after %v",
		settled.Round(10*time.Millisecond), weak.v.conn.cc.Estimate()/1000, climbed.Round(10*time.Millisecond))

	// Eight seconds on the lowest layer, with little loss.
	from := len(weak.packets(webrtc.RTPCodecTypeVideo))
	watchUntil := time.Now().Add(8 * time.Second)
	for time.Now().Before(watchUntil) {
		if wv.CurrentLayer() != 0 || fv.CurrentLayer() != 2 {
			t.Fatalf("layers changed while settled: weak %d, free %d", wv.CurrentLayer(), fv.CurrentLayer())
		}
		time.Sleep(50 * time.Millisecond)
	}
	loss, n := viewerLoss(weak, from)
	t.Logf("weak viewer: %d packets in 8 s, loss %.2f%%", n, loss*100)
	// The lowest layer is about 27 packets a second: half of them is
	// the bar, the publisher's ticks being late on a busy machine.
	if loss >= 0.01 || n < 110 {
		t.Errorf("weak viewer: %d packets in 8 s with %.2f%% lost, want about 220 with under 1%%", n, loss*100)
	}

	link.unshape(t)
	start = time.Now()
	eventually(t, "the weak viewer climbs to the top layer once the link is free", func() bool { return wv.CurrentLayer() == 2 })
	t.Logf("back on the top layer %v after the shaping was lifted", time.Since(start).Round(10*time.Millisecond))

	link.shape(t, "60kbit")
	eventually(t, "the weak viewer's video pauses", wv.Paused)
	link.unshape(t)
	eventually(t, "the weak viewer's video resumes", func() bool { return !wv.Paused() && wv.CurrentLayer() >= 0 })
	before := len(weak.packets(webrtc.RTPCodecTypeVideo))
	eventually(t, "the resumed video flows", func() bool { return len(weak.packets(webrtc.RTPCodecTypeVideo)) > before+50 })
}
