package sfu

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"parley/audiolevel"
	"parley/internal/testmedia"
)

// twccAPI is a browser-like client API that sends transport-wide
// congestion control feedback on what it receives, as browsers do. With
// a net, its sockets are there (see nsNet); without, on loopback.
func twccAPI(t *testing.T, n transport.Net) *webrtc.API {
	t.Helper()
	return subscriberAPI(t, n, false)
}

// subscriberAPI is twccAPI, with VP8's RTX stream when rtx is set: the
// probes then go on it, and the client's feedback names, as a browser's
// does, the SSRC of the last packet received, the RTX SSRC after a
// probe packet.
func subscriberAPI(t *testing.T, n transport.Net, rtx bool) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.DisableSRTPReplayProtection(true)
	if n != nil {
		se.SetNet(n)
		se.SetIPFilter(func(ip net.IP) bool { return !ip.IsLoopback() })
	} else {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	// Opus and VP8 without RTX: the probes are repeats on the media
	// stream, which a client without replay protection reports in its
	// feedback (browsers' RTX, left out of theirs, is the e2e tests').
	me := &webrtc.MediaEngine{}
	for _, c := range []struct {
		mime string
		rate uint32
		ch   uint16
		pt   webrtc.PayloadType
		kind webrtc.RTPCodecType
	}{{webrtc.MimeTypeOpus, 48000, 2, 111, webrtc.RTPCodecTypeAudio}, {webrtc.MimeTypeVP8, 90000, 0, 96, webrtc.RTPCodecTypeVideo}} {
		err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: c.mime, ClockRate: c.rate, Channels: c.ch,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}, PayloadType: c.pt}, c.kind)
		if err != nil {
			t.Fatal(err)
		}
	}
	if rtx {
		err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000,
			SDPFmtpLine: "apt=96"}, PayloadType: 97}, webrtc.RTPCodecTypeVideo)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: audiolevel.URI}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureTWCCSender(me, ir); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir))
}

// vp8Ladder makes the layers of a simulcast video as a browser's encoder
// sends them: each size at its own bitrate (kbit/s), held to it.
func vp8Ladder(t *testing.T, seconds int, sizes []string, kbps []int) [][]testmedia.Frame {
	t.Helper()
	var out [][]testmedia.Frame
	for i, size := range sizes {
		rate := fmt.Sprintf("%dk", kbps[i])
		path := testmedia.MakeMedia(t, fmt.Sprintf("ladder%d.ivf", i),
			"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=%s:rate=25:duration=%d", size, seconds),
			// Noise, so that the encoder needs all of its bitrate.
			"-vf", "noise=alls=12:allf=t",
			"-c:v", "libvpx", "-b:v", rate, "-minrate", rate, "-maxrate", rate, "-bufsize", rate,
			"-g", "50", "-keyint_min", "50", "-deadline", "realtime", "-cpu-used", "8")
		out = append(out, readIVFFrames(t, path))
	}
	return out
}

// publishLadder makes c publish a simulcast ladder (640, 320 and 160
// pixels wide at 1200, 400 and 120 kbit/s) and waits for every layer to
// flow; it returns the up track.
func publishLadder(t *testing.T, c *testClient) *UpTrack {
	t.Helper()
	frames := vp8Ladder(t, 4, []string{"640x360", "320x180", "160x90"}, []int{1200, 400, 120})
	c.publishSimulcast([]string{"f", "h", "q"}, frames)
	up := upOf(t, c.p, video)
	eventually(t, "every layer flows", func() bool {
		return up.layers[0].started.Load() && up.layers[1].started.Load() && up.layers[2].started.Load()
	})
	return up
}

// shapedEngine is an engine in link's server namespace, with a room, and
// the nets of both namespaces.
func shapedEngine(t *testing.T, link *shapedLink) (*Engine, *Room, transport.Net, transport.Net) {
	t.Helper()
	var e *Engine
	var err error
	if derr := link.server.do(func() {
		e, err = NewEngine(Config{ListenIP: "10.99.0.1", UDPPort: 40000, CandidateAllow: []string{"10.99.0.0/24"}}, quietLog())
	}); derr != nil || err != nil {
		t.Fatal(derr, err)
	}
	t.Cleanup(func() { _ = e.Close() })
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	return e, room, newNSNet(t, link.server), newNSNet(t, link.client)
}

func TestCongestionClimbsOnAFreeLink(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	up := publishLadder(t, join(t, room, "a"))
	b := joinWith(t, room, "b", twccAPI(t, nil))
	waitDowns(t, b.p, up.ID())
	d := downOf(b.p, up)
	start := time.Now()
	eventually(t, "b starts on the lowest layer", func() bool { return d.CurrentLayer() == 0 })
	eventually(t, "b, with congestion control, climbs to the top layer", func() bool { return d.CurrentLayer() == 2 })
	t.Logf("top layer after %v; estimate %.0f kbit/s", time.Since(start).Round(10*time.Millisecond), b.p.subConn.cc.Estimate()/1000)
	// The layer switched to at an estimate that covered it then; its
	// bitrate moves (a keyframe every 2 s), and the estimate follows
	// what arrives.
	eventually(t, "the estimate covers the top layer", func() bool {
		return b.p.subConn.cc.Estimate() >= up.layers[2].bitrate(time.Now())
	})
	if got := b.sig.pauses(); len(got) != 0 {
		t.Fatalf("video paused on a free link: %v", got)
	}
	st := e.Stats()
	if st.LayerDowns != [maxLayers]int{0, 0, 1} || st.LayerSwitches < 1 || len(st.Estimates) != 1 || st.Estimates[0] < 900_000 || st.PausedDowns != 0 {
		t.Fatalf("stats %+v: want one down track on the top layer after a switch, one estimate", st)
	}
}

// TestProbeFeedbackOnRTX: a subscriber with an RTX stream is probed on
// it, and its feedback on the probe, addressed to the RTX SSRC, reaches
// the estimator: the probes prove the link by themselves.
func TestProbeFeedbackOnRTX(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	up := publishLadder(t, join(t, room, "a"))
	b := joinWith(t, room, "b", subscriberAPI(t, nil, true))
	waitDowns(t, b.p, up.ID())
	d := downOf(b.p, up)
	eventually(t, "b's down track has an RTX stream", func() bool {
		bd := d.binding.Load()
		return bd != nil && bd.rtxSSRC != 0 && bd.twcc != 0
	})
	cc := b.p.subConn.cc
	eventually(t, "b climbs to the top layer", func() bool { return d.CurrentLayer() == 2 })
	t.Logf("probes proven %d, tried for real %d; last probe: %d packets sent, %d reported",
		cc.proved.Load(), cc.trials.Load(), cc.probeSent.Load(), cc.probeSeen.Load())
	if cc.proved.Load() == 0 || cc.trials.Load() != 0 {
		t.Fatalf("%d probes proven by the feedback and %d tried for real as it left most of them out: want only the first",
			cc.proved.Load(), cc.trials.Load())
	}
}

// windowLoss is the share of the sequence numbers from the first to the
// last of pkts that never came, and pkts without repeats, in order.
func windowLoss(pkts []*rtp.Packet) (float64, []*rtp.Packet) {
	seen := map[uint16]bool{}
	var unique []*rtp.Packet
	for _, p := range pkts {
		if !seen[p.SequenceNumber] {
			seen[p.SequenceNumber] = true
			unique = append(unique, p)
		}
	}
	if len(unique) < 2 {
		return 0, unique
	}
	first := unique[0].SequenceNumber
	slices.SortFunc(unique, func(a, b *rtp.Packet) int {
		return int(int16(a.SequenceNumber-first)) - int(int16(b.SequenceNumber-first))
	})
	span := int(uint16(unique[len(unique)-1].SequenceNumber-unique[0].SequenceNumber)) + 1
	return 1 - float64(len(unique))/float64(span), unique
}

// fromKeyframe drops the packets before the first keyframe, and the
// frames that lack a packet with the ones that follow them until the
// next keyframe: what a decoder that waits for a keyframe after a loss
// is given.
func fromKeyframe(pkts []*rtp.Packet) (kept []*rtp.Packet, dropped int) {
	ok := false
	for i := 0; i < len(pkts); {
		j := i
		for j < len(pkts) && pkts[j].Timestamp == pkts[i].Timestamp {
			j++
		}
		frame := pkts[i:j]
		whole := frame[len(frame)-1].Marker && (i == 0 || pkts[i-1].SequenceNumber+1 == frame[0].SequenceNumber)
		for k := 1; k < len(frame); k++ {
			whole = whole && frame[k-1].SequenceNumber+1 == frame[k].SequenceNumber
		}
		if _, key := keyframeWidth(frame[0].Payload); key && whole {
			ok = true
		} else if !whole {
			ok = false
		}
		if ok {
			kept = append(kept, frame...)
		} else {
			dropped++
		}
		i = j
	}
	return kept, dropped
}

func TestCongestionConstrainedSubscriber(t *testing.T) {
	link := newShapedLink(t)
	e, room, serverNet, clientNet := shapedEngine(t, link)
	up := publishLadder(t, joinWith(t, room, "a", twccAPI(t, serverNet)))
	link.shape(t, "300kbit")
	b := joinWith(t, room, "b", twccAPI(t, serverNet))
	c := joinWith(t, room, "c", twccAPI(t, serverNet))
	s := joinWith(t, room, "s", twccAPI(t, clientNet))
	for _, x := range []*testClient{b, c, s} {
		waitDowns(t, x.p, up.ID())
	}
	db, dc, ds := downOf(b.p, up), downOf(c.p, up), downOf(s.p, up)
	start := time.Now()
	var free, settled time.Duration
	eventually(t, "the unconstrained subscribers climb to the top layer, the constrained one settles on the lowest", func() bool {
		if free == 0 && db.CurrentLayer() == 2 && dc.CurrentLayer() == 2 {
			free = time.Since(start)
		}
		if settled == 0 && s.p.subConn.cc.Estimate() > 0 && ds.TargetLayer() == 0 && ds.CurrentLayer() == 0 {
			settled = time.Since(start)
		}
		return free > 0 && settled > 0
	})
	t.Logf("the constrained subscriber settled after %v (estimate %.0f kbit/s), the others on the top layer after %v",
		settled.Round(10*time.Millisecond), s.p.subConn.cc.Estimate()/1000, free.Round(10*time.Millisecond))

	// Eight seconds on the lowest layer: what arrives is whole and
	// decodes; the others keep the top layer.
	s.mu.Lock()
	s.keep = true
	s.mu.Unlock()
	watchUntil := time.Now().Add(8 * time.Second)
	for time.Now().Before(watchUntil) {
		if ds.CurrentLayer() != 0 || db.CurrentLayer() != 2 || dc.CurrentLayer() != 2 {
			t.Fatalf("layers changed while settled: constrained %d, others %d and %d", ds.CurrentLayer(), db.CurrentLayer(), dc.CurrentLayer())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	s.keep = false
	s.mu.Unlock()
	loss, got := windowLoss(s.received(up.ID()).kept)
	st := e.Stats()
	t.Logf("constrained: %d packets in 8 s, loss %.2f%%, estimate %.0f kbit/s; %d video packets paced, %d dropped by a pacer, since the start",
		len(got), loss*100, s.p.subConn.cc.Estimate()/1000, st.PacedPackets, st.PacerDropped)
	if loss >= 0.01 {
		t.Errorf("loss %.2f%% on the lowest layer after settling, want under 1%%", loss*100)
	}
	whole, dropped := fromKeyframe(got)
	path, n := writeIVF(t, whole)
	if n < 100 {
		t.Errorf("%d whole frames in 8 s (%d incomplete), want about 200", n, dropped)
	}
	if errs := decodeErrors(t, path); errs != "" {
		t.Errorf("what the constrained subscriber received does not decode: %s", errs)
	}

	// Lifted: back up to the top layer.
	link.unshape(t)
	start = time.Now()
	eventually(t, "the constrained subscriber climbs back to the top layer", func() bool { return ds.CurrentLayer() == 2 })
	t.Logf("back on the top layer %v after the shaping was lifted", time.Since(start).Round(10*time.Millisecond))

	// Below the lowest layer: paused, and told so; tried again now and
	// then, and resumed for good once lifted.
	link.shape(t, "60kbit")
	eventually(t, "the video is paused", func() bool { return ds.Paused() })
	if st := e.Stats(); st.CongestionPauses < 1 {
		t.Errorf("stats %+v: no pause counted", st)
	}
	if got := s.sig.pauses(); len(got) == 0 || !got[0] {
		t.Fatalf("told %v, want a pause first", got)
	}
	link.unshape(t)
	eventually(t, "the video resumes", func() bool { return !ds.Paused() && ds.CurrentLayer() >= 0 })
	got = nil
	told := s.sig.pauses()
	for i, p := range told {
		if p != (i%2 == 0) {
			t.Fatalf("told %v: pauses and resumes do not alternate", told)
		}
	}
	if told[len(told)-1] {
		t.Fatalf("told %v, want a resume last", told)
	}
}

// TestVideoSize: a subscriber that shows a video small gets the smallest
// layer that covers its size, one that hides it gets none (and is not
// told of a pause: it asked), and a larger size brings the top layer
// back; with congestion control choosing the layers, and without.
func TestVideoSize(t *testing.T) {
	frames := vp8Sizes(t, 2, "320x240", "160x120", "80x60")
	for _, cc := range []bool{false, true} {
		t.Run(fmt.Sprintf("cc=%v", cc), func(t *testing.T) {
			e := newTestEngine(t, false)
			room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
			a := join(t, room, "a")
			sim := a.publishSimulcast([]string{"f", "h", "q"}, frames)
			up := upOf(t, a.p, video)
			eventually(t, "every layer's size is known", func() bool {
				return up.layers[0].width.Load() == 80 && up.layers[1].width.Load() == 160 && up.layers[2].width.Load() == 320
			})
			api := clientAPI(t)
			if cc {
				api = twccAPI(t, nil)
			}
			b := joinWith(t, room, "b", api)
			waitDowns(t, b.p, up.ID())
			d := downOf(b.p, up)
			eventually(t, "b climbs to the top layer", func() bool { return d.CurrentLayer() == 2 })

			if !b.p.SetVideoSize(up.ID(), 150, 100) {
				t.Fatal("a size in bounds refused")
			}
			eventually(t, "b gets the layer that covers 150x100", func() bool { return d.CurrentLayer() == 1 })
			b.p.SetVideoSize(up.ID(), 0, 0)
			eventually(t, "a hidden video is not sent", func() bool { return d.Paused() })
			if st := e.Stats(); st.HiddenDowns != 1 || st.PausedDowns != 0 || st.CongestionPauses != 0 {
				t.Fatalf("stats %+v: want one hidden video, none paused", st)
			}
			dl := b.p.Downlink()
			if len(dl.Videos) != 1 || !dl.Videos[0].Hidden || dl.Videos[0].Paused || dl.Videos[0].Target != -1 || dl.Videos[0].Layers != 3 {
				t.Fatalf("downlink %+v of a hidden video", dl)
			}
			if cc != (dl.Estimate > 0) {
				t.Fatalf("estimate %.0f with congestion control %v", dl.Estimate, cc)
			}
			sent, sentFrames := d.packets.Load(), sim.sent.Load()
			eventually(t, "a sends ten more frames", func() bool { return sim.sent.Load() >= sentFrames+10 })
			if n := d.packets.Load() - sent; n > 2 {
				t.Fatalf("%d packets of a hidden video sent", n)
			}
			sent = d.packets.Load()
			b.p.SetVideoSize(up.ID(), 1920, 1080)
			// The layer is taken as its keyframe is rewritten, a moment
			// before the packet is sent and counted.
			eventually(t, "b gets the top layer again, and is sent it", func() bool {
				return d.CurrentLayer() == 2 && d.packets.Load() > sent
			})
			if got := b.sig.pauses(); len(got) != 0 {
				t.Fatalf("b was told of pauses %v it asked for", got)
			}
			if b.p.SetVideoSize(up.ID(), -1, 10) || b.p.SetVideoSize(up.ID(), 20000, 10) {
				t.Fatal("a size out of bounds taken")
			}
		})
	}
}

// TestChooseLayers: the budget gives each video its lowest layer first,
// then raises them in turn; what is left, the cheapest step that did not
// fit, and what the videos need more to be each on its top layer.
func TestChooseLayers(t *testing.T) {
	u, _ := simulcastUp(t)
	d := newDownTrack(u, nil, nil)
	for _, c := range []struct {
		budget           float64
		rates            [][maxLayers]float64
		hidden           []bool
		choice           []int
		left, next, more float64
	}{
		{600, [][maxLayers]float64{{100, 300, 900}, {100, 300, 0}}, []bool{false, false}, []int{1, 1}, 0, 600, 600},
		{150, [][maxLayers]float64{{100, 300, 900}, {100, 300, 900}}, []bool{false, false}, []int{0, -1}, 50, 100, 800 + 900},
		{2000, [][maxLayers]float64{{100, 300, 900}, {}}, []bool{false, true}, []int{2, -1}, 1100, 0, 0},
		{50, [][maxLayers]float64{{100, 300, 900}}, []bool{false}, []int{-1}, 50, 100, 900},
	} {
		videos := make([]videoChoice, len(c.rates))
		for i := range videos {
			videos[i] = videoChoice{d: d, rates: c.rates[i], count: d.Layers(), hidden: c.hidden[i], choice: -1}
		}
		left, next := chooseLayers(videos, c.budget)
		var choice []int
		for _, v := range videos {
			choice = append(choice, v.choice)
		}
		if !slices.Equal(choice, c.choice) || left != c.left || next != c.next || toTop(videos) != c.more {
			t.Errorf("budget %.0f, rates %v: layers %v, left %.0f, next %.0f, to the top %.0f; want %v, %.0f, %.0f, %.0f",
				c.budget, c.rates, choice, left, next, toTop(videos), c.choice, c.left, c.next, c.more)
		}
	}
}
