package sfu

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"parley/sfu/vp8"
)

// sentPacket is a packet as a subscriber or sink was given it.
type sentPacket struct {
	hdr     rtp.Header
	payload []byte
}

// recordingWriter keeps every packet written to it.
type recordingWriter struct{ pkts []sentPacket }

func (w *recordingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	hdr := *h
	hdr.Extensions = nil
	w.pkts = append(w.pkts, sentPacket{hdr, bytes.Clone(payload)})
	return len(payload), nil
}

func (w *recordingWriter) Write(b []byte) (int, error) { return len(b), nil }

// recordingSink keeps every packet a sink was given.
type recordingSink struct{ w recordingWriter }

func (s *recordingSink) WriteRTP(p *rtp.Packet) { _, _ = s.w.WriteRTP(&p.Header, p.Payload) }

// synthLayer makes the VP8 packets of one simulcast layer: its own SSRC,
// sequence numbers, timestamps, picture IDs and TL0PICIDX, as a browser's
// encoders each have theirs; two packets a frame, the first with the
// frame's start.
type synthLayer struct {
	ssrc uint32
	seq  uint16
	ts   uint32
	pic  uint16
	tl0  uint8
}

func (s *synthLayer) frame(key bool) [][]byte {
	var out [][]byte
	for i := 0; i < 2; i++ {
		b0 := byte(0x80) // X
		if i == 0 {
			b0 |= 0x10 // S, partition 0
		}
		hdr := byte(0x01) // P set: an interframe
		if key {
			hdr = 0x00
		}
		payload := []byte{b0, 0xe0, 0x80 | byte(s.pic>>8), byte(s.pic), s.tl0, 0x00, hdr, byte(s.ssrc / 100), byte(i)}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: s.ssrc, Marker: i == 1},
			Payload: payload}
		raw, err := p.Marshal()
		if err != nil {
			panic(err)
		}
		out = append(out, raw)
		s.seq++
	}
	s.ts += 3000
	s.pic = (s.pic + 1) & 0x7fff
	s.tl0++
	return out
}

// simulcastUp makes a VP8 up track of three layers, all flowing, without
// connections, and the layers' packet makers.
func simulcastUp(t *testing.T) (*UpTrack, []*synthLayer) {
	t.Helper()
	codec := webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
	var streams []layerSource
	for _, rid := range []string{"q", "h", "f"} {
		streams = append(streams, layerSource{rid: rid, remote: &webrtc.TrackRemote{}})
	}
	u := newUpTrack("sim", nil, webrtc.RTPCodecTypeVideo, codec, streams)
	t.Cleanup(u.close)
	for _, l := range u.layers {
		l.started.Store(true)
	}
	// Far apart, and near their wrap, so that a switch that kept any of
	// them would show.
	synth := []*synthLayer{
		{ssrc: 100, seq: 65530, ts: 4294960000, pic: 32760, tl0: 250},
		{ssrc: 200, seq: 1000, ts: 500000, pic: 100, tl0: 7},
		{ssrc: 300, seq: 30000, ts: 9000000, pic: 20000, tl0: 100},
	}
	return u, synth
}

// boundDown attaches a down track of u that writes to w.
func boundDown(u *UpTrack, w *recordingWriter) *DownTrack {
	d := newDownTrack(u, nil, nil)
	d.binding.Store(&downBinding{ssrc: 4321, pt: 97, writer: w})
	u.attach(d)
	return d
}

// sendFrames has every layer send n frames, layer by layer for each frame,
// keyframes on the layers in key.
func sendFrames(u *UpTrack, synth []*synthLayer, n int, key ...int) {
	var pkt rtp.Packet
	for range n {
		for i, s := range synth {
			for _, raw := range s.frame(slices.Contains(key, i)) {
				u.handle(u.layers[i], raw, &pkt)
			}
		}
		key = nil
	}
}

// checkContinuous checks that pkts are one stream: one SSRC, sequence
// numbers one apart, timestamps that go on by a frame or so at each new
// frame, and VP8 picture IDs and TL0PICIDX one apart at each new frame.
func checkContinuous(t *testing.T, pkts []sentPacket) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		a, b := pkts[i-1], pkts[i]
		if b.hdr.SSRC != a.hdr.SSRC {
			t.Fatalf("packet %d: SSRC %d after %d", i, b.hdr.SSRC, a.hdr.SSRC)
		}
		if b.hdr.SequenceNumber != a.hdr.SequenceNumber+1 {
			t.Fatalf("packet %d: sequence number %d after %d", i, b.hdr.SequenceNumber, a.hdr.SequenceNumber)
		}
		da, _ := vp8.Parse(a.payload)
		db, _ := vp8.Parse(b.payload)
		if b.hdr.Timestamp == a.hdr.Timestamp {
			if db.Start || db.PictureID != da.PictureID {
				t.Fatalf("packet %d: a new frame (picture %d after %d) with the timestamp of the last", i, db.PictureID, da.PictureID)
			}
			continue
		}
		if step := b.hdr.Timestamp - a.hdr.Timestamp; step == 0 || step > 90000 {
			t.Fatalf("packet %d: timestamp %d after %d", i, b.hdr.Timestamp, a.hdr.Timestamp)
		}
		if !db.Start || db.PictureID != (da.PictureID+1)&0x7fff || db.HasTL0PICIDX && db.TL0PICIDX != da.TL0PICIDX+1 {
			t.Fatalf("packet %d: a new frame with picture %d, TL0PICIDX %d after %d, %d (start %v)",
				i, db.PictureID, db.TL0PICIDX, da.PictureID, da.TL0PICIDX, db.Start)
		}
	}
}

// layerOfPacket tells which synthetic layer a payload came from.
func layerOfPacket(p sentPacket) int { return int(p.payload[7]) - 1 }

// TestLayerSwitching: a subscriber of a simulcast track starts on the
// lowest layer at its first keyframe and climbs to the highest at that
// layer's keyframe; it switches down and up when its target is set, each
// time only at a keyframe of the target layer, the current layer going on
// until then; what it is sent is one continuous stream throughout.
func TestLayerSwitching(t *testing.T) {
	u, synth := simulcastUp(t)
	w := &recordingWriter{}
	d := boundDown(u, w)
	if d.CurrentLayer() != -1 || d.TargetLayer() != 0 || d.Layers() != 3 {
		t.Fatalf("a new down track: current %d, target %d, %d layers", d.CurrentLayer(), d.TargetLayer(), d.Layers())
	}
	sendFrames(u, synth, 3) // no keyframe: nothing to start from
	if len(w.pkts) != 0 {
		t.Fatalf("%d packets sent before any keyframe", len(w.pkts))
	}
	sendFrames(u, synth, 1, 0, 1) // keyframes on the layers below the top
	if d.CurrentLayer() != 0 || d.TargetLayer() != 2 {
		t.Fatalf("after the first keyframes: current %d, target %d; want 0, climbing to 2", d.CurrentLayer(), d.TargetLayer())
	}
	sendFrames(u, synth, 3)
	if d.CurrentLayer() != 0 {
		t.Fatalf("switched to %d without its keyframe", d.CurrentLayer())
	}
	sendFrames(u, synth, 1, 2)
	if d.CurrentLayer() != 2 {
		t.Fatalf("on layer %d after layer 2's keyframe", d.CurrentLayer())
	}
	sendFrames(u, synth, 2)

	d.SetTargetLayer(1)
	sendFrames(u, synth, 2, 0, 2) // keyframes elsewhere do not count
	if d.CurrentLayer() != 2 || d.TargetLayer() != 1 {
		t.Fatalf("current %d, target %d before layer 1's keyframe", d.CurrentLayer(), d.TargetLayer())
	}
	sendFrames(u, synth, 2, 1)
	d.SetTargetLayer(0)
	sendFrames(u, synth, 2, 0)
	d.SetTargetLayer(7) // clamped to the highest
	sendFrames(u, synth, 2, 2)
	d.SetTargetLayer(-3)
	sendFrames(u, synth, 1, 0)
	if d.CurrentLayer() != 0 {
		t.Fatalf("on layer %d at the end, want 0", d.CurrentLayer())
	}

	checkContinuous(t, w.pkts)
	var layers []int
	for _, p := range w.pkts {
		if l := layerOfPacket(p); len(layers) == 0 || layers[len(layers)-1] != l {
			layers = append(layers, l)
		}
	}
	if want := []int{0, 2, 1, 0, 2, 0}; !slices.Equal(layers, want) {
		t.Errorf("layers sent in turn: %v, want %v", layers, want)
	}
	if w.pkts[0].hdr.SSRC != 4321 || w.pkts[0].hdr.PayloadType != 97 {
		t.Errorf("sent with SSRC %d, payload type %d", w.pkts[0].hdr.SSRC, w.pkts[0].hdr.PayloadType)
	}
	// The first layer's numbers pass unchanged.
	if first := uint16(65530); w.pkts[0].hdr.SequenceNumber != first+3*2 {
		t.Errorf("first sequence number %d, want the layer's own", w.pkts[0].hdr.SequenceNumber)
	}
}

// TestLayerRetransmission: a NACK after switches is answered with the
// packet the subscriber was sent under that number, from the layer it
// came from, rewritten as it was; one for a number never sent, or from
// before the switches kept, is not answered.
func TestLayerRetransmission(t *testing.T) {
	u, synth := simulcastUp(t)
	w := &recordingWriter{}
	d := boundDown(u, w)
	d.SetTargetLayer(0)
	sendFrames(u, synth, 2, 0)
	d.SetTargetLayer(2)
	sendFrames(u, synth, 2, 2)
	d.SetTargetLayer(1)
	sendFrames(u, synth, 2, 1)
	sent := slices.Clone(w.pkts)
	checkContinuous(t, sent)

	var seqs []uint16
	for _, i := range []int{0, 3, 4, 7, 8, len(sent) - 1} {
		seqs = append(seqs, sent[i].hdr.SequenceNumber)
	}
	never := sent[len(sent)-1].hdr.SequenceNumber + 1
	nack := &rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers(append(slices.Clone(seqs), never, sent[0].hdr.SequenceNumber-1))}
	d.retransmit(nack, make([]byte, maxPacket))
	again := w.pkts[len(sent):]
	if len(again) != len(seqs) {
		t.Fatalf("%d packets sent again, want %d", len(again), len(seqs))
	}
	for _, p := range again {
		i := slices.IndexFunc(sent, func(s sentPacket) bool { return s.hdr.SequenceNumber == p.hdr.SequenceNumber })
		if i < 0 {
			t.Fatalf("sent again %d, never sent", p.hdr.SequenceNumber)
		}
		if p.hdr.Timestamp != sent[i].hdr.Timestamp || p.hdr.SSRC != 4321 || !bytes.Equal(p.payload, sent[i].payload) {
			t.Errorf("packet %d sent again as %+v % x, first as %+v % x", p.hdr.SequenceNumber, p.hdr, p.payload, sent[i].hdr, sent[i].payload)
		}
	}
}

// TestSimulcastSink: the sinks of a simulcast track get the highest
// layer only, from its keyframe, as one continuous stream, and a keyframe
// of it is what RequestKeyframe asks for.
func TestSimulcastSink(t *testing.T) {
	u, synth := simulcastUp(t)
	s := &recordingSink{}
	u.AddSink(s)
	sendFrames(u, synth, 2, 0, 1)
	if len(s.w.pkts) != 0 {
		t.Fatalf("the sink got %d packets before the top layer's keyframe", len(s.w.pkts))
	}
	sendFrames(u, synth, 3, 2)
	sendFrames(u, synth, 3, 0, 1, 2)
	if len(s.w.pkts) != 12 {
		t.Fatalf("the sink got %d packets, want the top layer's 12", len(s.w.pkts))
	}
	checkContinuous(t, s.w.pkts)
	for _, p := range s.w.pkts {
		if l := layerOfPacket(p); l != 2 || p.hdr.SSRC != 300 {
			t.Fatalf("the sink got a packet of layer %d, SSRC %d", l, p.hdr.SSRC)
		}
	}
}

// TestRankRIDs: rids of a known naming are ordered by their names, any
// others by the SDP, highest first; more than three, empty and repeated
// ones are dropped.
func TestRankRIDs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"f", "h", "q"}, []string{"q", "h", "f"}},
		{[]string{"q", "f"}, []string{"q", "f"}},
		{[]string{"H", "l", "m"}, []string{"l", "m", "H"}},
		{[]string{"high", "low", "mid"}, []string{"low", "mid", "high"}},
		{[]string{"r2", "r0", "r1"}, []string{"r0", "r1", "r2"}},
		{[]string{"0", "1", "2"}, []string{"2", "1", "0"}},
		{[]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, []string{"c", "b", "a"}},
		{[]string{"", "x", "x", "y"}, []string{"y", "x"}},
		{nil, nil},
	} {
		if got := rankRIDs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("rankRIDs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestKeyframeDetection: the packet that begins a keyframe, by codec;
// short and malformed payloads are not keyframes.
func TestKeyframeDetection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    codecKind
		payload []byte
		want    bool
	}{
		{"VP8 keyframe", codecVP8, []byte{0x10, 0x00}, true},
		{"VP8 interframe", codecVP8, []byte{0x10, 0x01}, false},
		{"VP8 continuation", codecVP8, []byte{0x00, 0x00}, false},
		{"VP8 cut", codecVP8, []byte{0x90}, false},
		{"VP9 keyframe", codecVP9, []byte{0x08}, true},
		{"VP9 interframe", codecVP9, []byte{0x48}, false},
		{"H.264 SPS", codecH264, []byte{0x67, 0x42}, true},
		{"H.264 STAP-A with SPS", codecH264, []byte{0x78, 0x00, 0x02, 0x09, 0xf0, 0x00, 0x02, 0x67, 0x42}, true},
		{"H.264 STAP-A without", codecH264, []byte{0x78, 0x00, 0x02, 0x09, 0xf0}, false},
		{"H.264 STAP-A lying about sizes", codecH264, []byte{0x78, 0xff, 0xff, 0x67}, false},
		{"H.264 IDR slice alone", codecH264, []byte{0x65, 0x88}, false},
		{"empty", codecH264, nil, false},
		{"other codec", codecOther, []byte{0x00}, false},
	} {
		var in packetInfo
		in.read(tc.kind, tc.payload)
		if in.keyframe != tc.want {
			t.Errorf("%s: keyframe %v, want %v", tc.name, in.keyframe, tc.want)
		}
	}
}

// TestSimulcastHostilePayloads: packets whose payloads are empty, cut
// short or garbage pass through a simulcast track without harm: none
// starts a subscriber's stream, and a stream once started carries them
// unchanged.
func TestSimulcastHostilePayloads(t *testing.T) {
	u, synth := simulcastUp(t)
	w := &recordingWriter{}
	d := boundDown(u, w)
	d.SetTargetLayer(0)
	garbage := [][]byte{nil, {0x80}, {0x90, 0x80}, {0x90, 0xff, 0xff}, {0x90, 0x80, 0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	var pkt rtp.Packet
	send := func() {
		for _, g := range garbage {
			s := synth[0]
			raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: s.ssrc}, Payload: g}).Marshal()
			s.seq++
			u.handle(u.layers[0], raw, &pkt)
		}
	}
	send()
	if len(w.pkts) != 0 {
		t.Fatalf("%d garbage packets started the stream", len(w.pkts))
	}
	sendFrames(u, synth, 1, 0)
	n := len(w.pkts)
	send()
	if len(w.pkts) != n+len(garbage) {
		t.Fatalf("%d of %d garbage packets forwarded once the stream began", len(w.pkts)-n, len(garbage))
	}
	for i, g := range garbage {
		if !bytes.Equal(w.pkts[n+i].payload, g) {
			t.Errorf("garbage payload % x forwarded as % x", g, w.pkts[n+i].payload)
		}
	}
}

// TestLongEpoch: a subscriber that stays on one layer for longer than the
// sequence space goes on receiving every packet, and its NACKs are still
// answered; a packet of its layer from before the switch that comes late
// is dropped.
func TestLongEpoch(t *testing.T) {
	u, synth := simulcastUp(t)
	w := &recordingWriter{}
	d := boundDown(u, w)
	d.SetTargetLayer(0)
	sendFrames(u, synth, 1, 0)
	d.SetTargetLayer(1)
	early := synth[1].frame(false)
	sendFrames(u, synth, 1, 1)
	var pkt rtp.Packet
	n := len(w.pkts)
	u.handle(u.layers[1], early[1], &pkt)
	if len(w.pkts) != n {
		t.Fatal("a packet from before the switch, come late, was sent")
	}
	var in rtp.Packet
	for range 40000 {
		for _, raw := range synth[1].frame(false) {
			u.handle(u.layers[1], raw, &in)
		}
	}
	if got, want := len(w.pkts), n+80000; got != want {
		t.Fatalf("%d packets sent, want %d", got, want)
	}
	last := w.pkts[len(w.pkts)-1]
	d.retransmit(&rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{last.hdr.SequenceNumber - 3})}, make([]byte, maxPacket))
	again := w.pkts[len(w.pkts)-1]
	if again.hdr.SequenceNumber != last.hdr.SequenceNumber-3 || !bytes.Equal(again.payload, w.pkts[len(w.pkts)-5].payload) {
		t.Errorf("NACK for %d answered with %d", last.hdr.SequenceNumber-3, again.hdr.SequenceNumber)
	}
}

// TestPausedKeyframeRequest: a subscriber's keyframe request while its
// video is paused (hidden, or for congestion) asks nothing of the
// publisher, and one after it resumes asks for the layer it follows.
func TestPausedKeyframeRequest(t *testing.T) {
	u, _ := simulcastUp(t)
	d := boundDown(u, &recordingWriter{})
	d.pause(false)
	d.requestKeyframe() // a PLI read from the subscriber: no layer to ask
	if !d.Paused() {
		t.Fatal("not paused")
	}
	d.SetTargetLayer(1)
	d.requestKeyframe()
	if d.TargetLayer() != 1 {
		t.Fatalf("target %d", d.TargetLayer())
	}
}

// sendFramesAt has the layers in on send n frames, a frame every 33 ms
// from at, keyframes in the first on the layers in key; it returns the
// time after the last.
func sendFramesAt(u *UpTrack, synth []*synthLayer, at time.Time, n int, on []int, key ...int) time.Time {
	var pkt rtp.Packet
	for range n {
		for _, i := range on {
			for _, raw := range synth[i].frame(slices.Contains(key, i)) {
				u.handleAt(u.layers[i], raw, &pkt, at)
			}
		}
		key = nil
		at = at.Add(33 * time.Millisecond)
	}
	return at
}

// TestFollowsFlowingLayer: a browser turns its top simulcast encoding off
// and on again with its uplink estimate. The sinks (the recorder) and a
// subscriber without congestion control leave the top layer once it has
// sent nothing for layerIdle, at the next keyframe of the highest layer
// that flows, and go back up at the top layer's keyframe when it flows
// again; each gets one continuous stream throughout.
func TestFollowsFlowingLayer(t *testing.T) {
	u, synth := simulcastUp(t)
	s := &recordingSink{}
	u.AddSink(s)
	w := &recordingWriter{}
	d := boundDown(u, w)
	all := []int{0, 1, 2}

	at := sendFramesAt(u, synth, time.Now(), 1, all, 0, 1, 2)
	at = sendFramesAt(u, synth, at, 3, all, 2)
	if got := layerOfPacket(s.w.pkts[len(s.w.pkts)-1]); got != 2 || d.CurrentLayer() != 2 {
		t.Fatalf("all layers flowing: the sink on layer %d, the subscriber on %d; want 2", got, d.CurrentLayer())
	}
	before := len(s.w.pkts)
	// The top layer stops; a keyframe of the middle one before layerIdle
	// is not taken.
	at = sendFramesAt(u, synth, at, 10, []int{0, 1}, 1)
	if len(s.w.pkts) != before || d.CurrentLayer() != 2 {
		t.Fatalf("the top layer stopped for 0.3 s: the sink got %d packets more, the subscriber is on %d", len(s.w.pkts)-before, d.CurrentLayer())
	}
	at = sendFramesAt(u, synth, at, int(layerIdle/(33*time.Millisecond)), []int{0, 1})
	if u.top().follow.target.Load() != 1 || d.TargetLayer() != 1 {
		t.Fatalf("the top layer stopped for layerIdle: the sink's target %d, the subscriber's %d; want 1", u.top().follow.target.Load(), d.TargetLayer())
	}
	at = sendFramesAt(u, synth, at, 3, []int{0, 1}, 1)
	if got := layerOfPacket(s.w.pkts[len(s.w.pkts)-1]); got != 1 || d.CurrentLayer() != 1 {
		t.Fatalf("after the middle layer's keyframe: the sink on layer %d, the subscriber on %d; want 1", got, d.CurrentLayer())
	}
	// The top layer comes back with a keyframe.
	sendFramesAt(u, synth, at, 3, all, 2)
	if got := layerOfPacket(s.w.pkts[len(s.w.pkts)-1]); got != 2 || d.CurrentLayer() != 2 {
		t.Fatalf("the top layer back: the sink on layer %d, the subscriber on %d; want 2", got, d.CurrentLayer())
	}

	for name, pkts := range map[string][]sentPacket{"sink": s.w.pkts, "subscriber": w.pkts} {
		var layers []int
		from := 0
		for i, p := range pkts {
			l := layerOfPacket(p)
			if len(layers) > 0 && layers[len(layers)-1] == l {
				continue
			}
			layers = append(layers, l)
			if i == 0 {
				continue
			}
			// Each layer's stretch is one stream, and the next goes on
			// from it; the time the top layer was gone shows as a gap in
			// the timestamps. The sinks are given each layer's SSRC.
			checkContinuous(t, pkts[from:i])
			from = i
			a, b := pkts[i-1], pkts[i]
			da, _ := vp8.Parse(a.payload)
			db, _ := vp8.Parse(b.payload)
			if b.hdr.SequenceNumber != a.hdr.SequenceNumber+1 || db.PictureID != (da.PictureID+1)&0x7fff ||
				int32(b.hdr.Timestamp-a.hdr.Timestamp) <= 0 || name == "subscriber" && b.hdr.SSRC != a.hdr.SSRC {
				t.Errorf("%s: at the switch to layer %d, %+v %+v after %+v %+v", name, l, b.hdr, db, a.hdr, da)
			}
		}
		checkContinuous(t, pkts[from:])
		if n := len(layers); n < 3 || !slices.Equal(layers[n-3:], []int{2, 1, 2}) {
			t.Errorf("%s: layers in turn %v, want them to end with 2, 1, 2", name, layers)
		}
	}
}

// TestAwaitsFeedback: a subscriber whose connection negotiated
// transport-cc stays on the lowest layer until its first feedback,
// however many larger layers flow (one could overflow its link before
// any feedback says so); once the feedback is given up on, it climbs to
// the top as a subscriber without congestion control does.
func TestAwaitsFeedback(t *testing.T) {
	u, synth := simulcastUp(t)
	conn := &subConn{done: make(chan struct{})}
	conn.cc = &congestion{hist: newSendHistory(time.Now().UnixNano())}
	d := newDownTrack(u, nil, conn)
	w := &recordingWriter{}
	d.binding.Store(&downBinding{ssrc: 4321, pt: 97, writer: w, twcc: 5})
	u.attach(d)
	all := []int{0, 1, 2}

	at := sendFramesAt(u, synth, time.Now(), 1, all, 0, 1, 2)
	at = sendFramesAt(u, synth, at, 20, all, 0, 1, 2)
	if d.CurrentLayer() != 0 || d.TargetLayer() != 0 || len(w.pkts) == 0 {
		t.Fatalf("before any feedback: on layer %d, target %d, %d packets sent; want the lowest layer", d.CurrentLayer(), d.TargetLayer(), len(w.pkts))
	}
	conn.cc.fellBack.Store(true)
	d.climbToTop()
	sendFramesAt(u, synth, at, 3, all, 2)
	if d.CurrentLayer() != 2 {
		t.Fatalf("feedback given up on: on layer %d, want the top", d.CurrentLayer())
	}
}
