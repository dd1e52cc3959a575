package sfu

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"parley/sfu/vp9"
)

// synthSVC makes the packets of a VP9 L3T3_KEY stream as a browser sends
// it in flexible mode: one SSRC; each picture a layer frame per spatial
// layer, of two packets each (B on the first, E on the last), the marker
// on the picture's last; temporal layers 0, 2, 1, 2 in turn; a key
// picture's layers 1 and 2 predicted from the layer below (D), its first
// packet with the scalability structure (320x180, 640x360, 1280x720).
// The switching up point (U) is on every temporal layer 0 picture
// whose number is 4 modulo 8. The frame's first bytes name the packet:
// spatial layer, temporal layer, picture number.
type synthSVC struct {
	seq uint16
	ts  uint32
	pic uint16
}

func (s *synthSVC) picture(key bool) [][]byte {
	tid := [4]byte{0, 2, 1, 2}[s.pic%4]
	var out [][]byte
	for sid := byte(0); sid < 3; sid++ {
		for i := 0; i < 2; i++ {
			b0 := byte(0xb0) // I, L, F
			if !key {
				b0 |= 0x40 // P
			}
			if i == 0 {
				b0 |= 0x08 // B
			} else {
				b0 |= 0x04 // E
			}
			lx := tid<<5 | sid<<1
			if tid == 0 && s.pic%8 == 4 {
				lx |= 0x10 // U
			}
			if key && sid > 0 {
				lx |= 0x01 // D
			}
			payload := []byte{b0, 0x80 | byte(s.pic>>8), byte(s.pic), lx}
			if !key {
				payload = append(payload, 0x02) // P_DIFF 1
			}
			if key && sid == 0 && i == 0 {
				payload[0] |= 0x02 // V
				payload = append(payload, 0x50, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68, 0x05, 0x00, 0x02, 0xd0)
			}
			payload = append(payload, 0xa0|sid, tid, byte(s.pic), byte(i))
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 98, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: 900,
				Marker: sid == 2 && i == 1}, Payload: payload}
			raw, err := p.Marshal()
			if err != nil {
				panic(err)
			}
			out = append(out, raw)
			s.seq++
		}
	}
	s.ts += 3000
	s.pic = (s.pic + 1) & 0x7fff
	return out
}

// svcUp makes a VP9 up track of one stream, flowing, without
// connections; keyframe requests of its stream are counted in *plis.
func svcUp(t *testing.T) (*UpTrack, *synthSVC, *int) {
	t.Helper()
	codec := webrtc.RTPCodecParameters{PayloadType: 98, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}}
	u := newUpTrack("svc", nil, webrtc.RTPCodecTypeVideo, codec, []layerSource{{remote: &webrtc.TrackRemote{}}})
	plis := new(int)
	l := u.layers[0]
	l.keyframe = newThrottle(time.Nanosecond, func() { *plis++ })
	t.Cleanup(u.close)
	l.started.Store(true)
	return u, &synthSVC{seq: 65500, ts: 4294960000, pic: 32760}, plis
}

// sendPictures sends n pictures, the first a key picture if key.
func sendPictures(u *UpTrack, s *synthSVC, n int, key bool) {
	var pkt rtp.Packet
	for range n {
		for _, raw := range s.picture(key) {
			u.handle(u.layers[0], raw, &pkt)
		}
		key = false
	}
}

// svcLayers is the spatial and temporal layer and the picture number of
// a packet synthSVC made.
func svcLayers(p sentPacket) (sid, tid, pic int) {
	d, err := vp9.Parse(p.payload)
	if err != nil {
		panic(err)
	}
	f := p.payload[d.Size:]
	return int(f[0] & 0x0f), int(f[1]), int(f[2])
}

// checkSVCStream checks that pkts are one stream without gaps: one SSRC,
// sequence numbers one apart; and that the marker is on the last packet
// of each picture, and only there.
func checkSVCStream(t *testing.T, pkts []sentPacket) {
	t.Helper()
	for i, p := range pkts {
		if p.hdr.SSRC != pkts[0].hdr.SSRC {
			t.Fatalf("packet %d: SSRC %d", i, p.hdr.SSRC)
		}
		if i > 0 && p.hdr.SequenceNumber != pkts[i-1].hdr.SequenceNumber+1 {
			t.Fatalf("packet %d: sequence number %d after %d", i, p.hdr.SequenceNumber, pkts[i-1].hdr.SequenceNumber)
		}
		last := i == len(pkts)-1 || pkts[i+1].hdr.Timestamp != p.hdr.Timestamp
		if p.hdr.Marker != last {
			sid, tid, pic := svcLayers(p)
			t.Fatalf("packet %d (picture %d, S%d T%d): marker %v, last of its picture %v", i, pic, sid, tid, p.hdr.Marker, last)
		}
	}
}

// pictureLayers lists, for each picture sent, its number and the
// highest spatial layer sent of it.
func pictureLayers(pkts []sentPacket) (pics []int, top map[int]int) {
	top = map[int]int{}
	for _, p := range pkts {
		sid, _, pic := svcLayers(p)
		if _, ok := top[pic]; !ok {
			pics = append(pics, pic)
		}
		top[pic] = max(top[pic], sid)
	}
	return pics, top
}

// TestSVCLayers: a subscriber of an SVC track with no preference gets
// every layer from the first key picture; one set to a spatial layer
// gets the layers up to it, the marker on the last packet of the
// highest, its sequence numbers without a gap and the publisher's
// timestamps; a switch down takes effect at the next picture, a switch
// up waits for a key picture and asks for one.
func TestSVCLayers(t *testing.T) {
	u, s, plis := svcUp(t)
	all, one := &recordingWriter{}, &recordingWriter{}
	dAll, dOne := boundDown(u, all), boundDown(u, one)
	dOne.SetTargetLayer(1)
	sendPictures(u, s, 2, false)
	if len(all.pkts)+len(one.pkts) != 0 {
		t.Fatal("packets sent before the first key picture")
	}
	sendPictures(u, s, 4, true)
	if dAll.CurrentLayer() != 2 || dOne.CurrentLayer() != 1 || dAll.Layers() != 3 {
		t.Fatalf("layers %d and %d of %d, want 2 and 1 of 3", dAll.CurrentLayer(), dOne.CurrentLayer(), dAll.Layers())
	}
	if len(all.pkts) != 4*6 || len(one.pkts) != 4*4 {
		t.Fatalf("%d and %d packets for 4 pictures, want 24 and 16", len(all.pkts), len(one.pkts))
	}
	for i, p := range all.pkts {
		if p.hdr.Timestamp != one.pkts[0].hdr.Timestamp+uint32(i/6)*3000 {
			t.Fatalf("packet %d: timestamp %d", i, p.hdr.Timestamp)
		}
	}
	if all.pkts[0].hdr.SSRC != 4321 || all.pkts[0].hdr.PayloadType != 97 {
		t.Errorf("sent with SSRC %d, payload type %d", all.pkts[0].hdr.SSRC, all.pkts[0].hdr.PayloadType)
	}
	if first := uint16(65500 + 2*6); all.pkts[0].hdr.SequenceNumber != first || one.pkts[0].hdr.SequenceNumber != first {
		t.Errorf("first sequence numbers %d and %d, want the publisher's %d", all.pkts[0].hdr.SequenceNumber, one.pkts[0].hdr.SequenceNumber, first)
	}

	dOne.SetTargetLayer(0)
	sendPictures(u, s, 2, false)
	before := *plis
	dOne.SetTargetLayer(2)
	if *plis == before {
		t.Error("no keyframe asked for a higher spatial layer")
	}
	sendPictures(u, s, 2, false)
	if dOne.CurrentLayer() != 0 {
		t.Fatalf("on spatial layer %d before a key picture", dOne.CurrentLayer())
	}
	sendPictures(u, s, 2, true)
	dOne.SetTargetLayer(1)
	sendPictures(u, s, 1, false)
	checkSVCStream(t, all.pkts)
	checkSVCStream(t, one.pkts)
	pics, top := pictureLayers(one.pkts)
	var tops []int
	for _, p := range pics {
		tops = append(tops, top[p])
	}
	// 4 pictures on 1, 4 on 0 (from the switch down to the key picture),
	// 2 on 2 from the key picture, 1 on 1.
	if want := []int{1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 1}; !slices.Equal(tops, want) {
		t.Errorf("highest spatial layer of each picture: %v, want %v", tops, want)
	}
	if u.switches.Load() != 3 {
		t.Errorf("%d switches counted, want 3", u.switches.Load())
	}
	for _, p := range all.pkts {
		if sid, _, _ := svcLayers(p); sid > 2 {
			t.Fatal("a layer that does not exist")
		}
	}
	if _, top := pictureLayers(all.pkts); len(top) != 11 {
		t.Errorf("the subscriber of every layer got %d pictures, want 11", len(top))
	}
}

// TestSVCTemporal: fewer temporal layers take effect at the next
// picture; more only at a switching up point (or a key picture).
func TestSVCTemporal(t *testing.T) {
	u, s, _ := svcUp(t)
	w := &recordingWriter{}
	d := boundDown(u, w)
	sendPictures(u, s, 1, true) // picture 32760 (4 mod 8 is 32764)
	d.SetTargetTemporal(0)
	sendPictures(u, s, 3, false) // 32761-32763: temporal layers 2, 1, 2
	d.SetTargetTemporal(2)
	sendPictures(u, s, 4, false) // 32764 (U), then 2, 1, 2
	checkSVCStream(t, w.pkts)
	var got []int
	for _, p := range w.pkts {
		if _, _, pic := svcLayers(p); len(got) == 0 || got[len(got)-1] != pic {
			got = append(got, pic)
		}
	}
	// Picture numbers modulo 256, as synthSVC names them.
	if want := []int{32760 % 256, 32764 % 256, 32765 % 256, 32766 % 256, 32767 % 256}; !slices.Equal(got, want) {
		t.Errorf("pictures sent %v, want %v", got, want)
	}
	// Without a switching up point, the lower rate goes on.
	d.SetTargetTemporal(0)
	sendPictures(u, s, 1, false)
	d.SetTargetTemporal(1)
	n := len(w.pkts)
	s.pic = 1 // temporal layers 2, 1, 2
	sendPictures(u, s, 3, false)
	for _, p := range w.pkts[n:] {
		if _, tid, _ := svcLayers(p); tid > 0 {
			t.Fatalf("temporal layer %d sent without a switching up point", tid)
		}
	}
	n = len(w.pkts)
	sendPictures(u, s, 4, false) // 4 (U), 5, 6, 7: temporal layers 0, 2, 1, 2
	got = nil
	for _, p := range w.pkts[n:] {
		if _, _, pic := svcLayers(p); len(got) == 0 || got[len(got)-1] != pic {
			got = append(got, pic)
		}
	}
	if want := []int{4, 6}; !slices.Equal(got, want) {
		t.Errorf("pictures sent from the switching up point %v, want %v", got, want)
	}
	checkSVCStream(t, w.pkts)
}

// TestSVCRetransmission: a NACK of a number the subscriber was sent is
// answered with the publisher's packet it was, with the marker it was
// sent with; a number never sent, or too old, is not answered.
func TestSVCRetransmission(t *testing.T) {
	u, s, _ := svcUp(t)
	w := &recordingWriter{}
	d := boundDown(u, w)
	d.SetTargetLayer(0)
	sendPictures(u, s, 6, true)
	sent := slices.Clone(w.pkts)
	buf := make([]byte, maxPacket)
	for _, p := range sent {
		w.pkts = nil
		if d.resend(p.hdr.SequenceNumber, buf, false) == 0 || len(w.pkts) != 1 {
			t.Fatalf("packet %d not sent again", p.hdr.SequenceNumber)
		}
		again := w.pkts[0]
		if again.hdr.SequenceNumber != p.hdr.SequenceNumber || again.hdr.Marker != p.hdr.Marker ||
			again.hdr.Timestamp != p.hdr.Timestamp || string(again.payload) != string(p.payload) {
			t.Fatalf("packet %d sent again as %+v % x, was %+v % x", p.hdr.SequenceNumber, again.hdr, again.payload, p.hdr, p.payload)
		}
	}
	last := sent[len(sent)-1].hdr.SequenceNumber
	w.pkts = nil
	if d.resend(last+1, buf, false) != 0 || d.resend(last-svcMapSize, buf, false) != 0 {
		t.Error("a number not sent (or no longer kept) answered")
	}
}

// TestSVCReordered: a packet that comes after a later one takes the
// number kept for it, so that the stream has no gap; a late packet of a
// layer not sent leaves the hole it would have filled, and the next
// packets go on from there; a repeat is sent once.
func TestSVCReordered(t *testing.T) {
	u, s, _ := svcUp(t)
	w := &recordingWriter{}
	d := boundDown(u, w)
	d.SetTargetLayer(1)
	var pkt rtp.Packet
	key := s.picture(true)
	order := []int{0, 2, 1, 3, 1, 5, 4}
	for _, i := range order {
		u.handle(u.layers[0], key[i], &pkt)
	}
	var seqs []uint16
	for _, p := range w.pkts {
		seqs = append(seqs, p.hdr.SequenceNumber)
	}
	if want := []uint16{65500, 65502, 65501, 65503}; !slices.Equal(seqs, want) {
		t.Errorf("sent %v, want %v", seqs, want)
	}
	// Spatial layer 2's first packet comes after its second: its number
	// was given before it was known to be dropped.
	sendPictures(u, s, 1, false)
	if n := w.pkts[4].hdr.SequenceNumber; n != 65505 {
		t.Errorf("the next picture begins at %d, want 65505 (65504 the hole)", n)
	}
	checkSVCStream(t, w.pkts[4:])
}

// TestSVCPreferences: the scalability structure's sizes bound the layer
// a small tile receives; each layer costs its own bytes and those below
// it; congestion control pauses and resumes an SVC video as a simulcast
// one.
func TestSVCPreferences(t *testing.T) {
	u, s, _ := svcUp(t)
	w := &recordingWriter{}
	d := boundDown(u, w)
	sendPictures(u, s, 30, true)
	for _, tc := range []struct{ w, h, want int }{{320, 180, 0}, {600, 300, 1}, {1920, 1080, 2}, {0, 0, -1}} {
		d.prefW.Store(int32(tc.w))
		d.prefH.Store(int32(tc.h))
		if got := d.maxLayer(); got != tc.want {
			t.Errorf("a tile of %dx%d: layer %d, want %d", tc.w, tc.h, got, tc.want)
		}
	}
	now := time.Now()
	var rates [3]float64
	for i := range rates {
		rates[i] = u.layerRate(i, now)
	}
	if rates[0] <= 0 || rates[1] <= rates[0] || rates[2] <= rates[1] {
		t.Errorf("rates of the layers %v: each above the one below", rates)
	}
	if u.layerRate(2, now.Add(3*layerIdle)) != 0 {
		t.Error("a layer that stopped still costs")
	}
	d.SetMaxSize(320, 180)
	if d.TargetLayer() != 0 {
		t.Errorf("target %d for a small tile", d.TargetLayer())
	}
	n := len(w.pkts)
	sendPictures(u, s, 1, false)
	for _, p := range w.pkts[n:] {
		if sid, _, _ := svcLayers(p); sid > 0 {
			t.Fatal("a layer above the tile's sent")
		}
	}
	d.pause(false)
	n = len(w.pkts)
	sendPictures(u, s, 2, true)
	if len(w.pkts) != n {
		t.Error("a paused video sent")
	}
	d.SetTargetLayer(1)
	sendPictures(u, s, 1, true)
	if _, top := pictureLayers(w.pkts[n:]); len(top) != 1 {
		t.Errorf("resumed with %d pictures, want 1", len(top))
	}
}

// TestSVCHostilePayloads: packets whose descriptors are empty, cut or
// garbage are not sent and change no layer; the stream goes on without
// a gap.
func TestSVCHostilePayloads(t *testing.T) {
	u, s, _ := svcUp(t)
	w := &recordingWriter{}
	boundDown(u, w)
	sendPictures(u, s, 1, true)
	var pkt rtp.Packet
	for _, payload := range [][]byte{nil, {0x80}, {0xa0, 0x01}, {0x02, 0x08, 0x01}, {0xff, 0xff, 0xff, 0xff, 0xff}} {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 98, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: 900}, Payload: payload}
		raw, _ := p.Marshal()
		u.handle(u.layers[0], raw, &pkt)
		s.seq++
	}
	sendPictures(u, s, 2, false)
	if len(w.pkts) != 3*6 {
		t.Fatalf("%d packets sent, want 18", len(w.pkts))
	}
	checkSVCStream(t, w.pkts)
	if u.svc.spatial.Load() != 3 {
		t.Errorf("%d spatial layers after garbage, want 3", u.svc.spatial.Load())
	}
}

// TestSVCConnections: a publisher's VP9 stream of three spatial layers,
// over real connections, reaches a subscriber with no preference whole
// and one with a small tile as its lowest spatial layer alone, each as
// one stream without gaps with the marker at each picture's end; a
// NACK of the small one's is answered with the packet it names.
func TestSVCConnections(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	a.mu.Lock()
	a.vp9 = true
	a.mu.Unlock()
	st := a.publish(webrtc.RTPCodecTypeVideo)[0]
	up := upOf(t, a.p, video)
	if up.svc == nil {
		t.Fatalf("a VP9 video of %s is not forwarded as SVC", up.Codec().MimeType)
	}
	// The publisher: a picture every 30 ms, a key picture when asked and
	// every 100.
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		s := &synthSVC{seq: 100, ts: 1000, pic: 1}
		tick := time.NewTicker(30 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			for _, raw := range s.picture(st.key.Swap(false) || n%100 == 0) {
				var p rtp.Packet
				if p.Unmarshal(raw) == nil {
					_ = st.local.WriteRTP(&p)
				}
			}
		}
	}()
	defer func() { close(quit); <-done }()

	b, c := join(t, room, "b"), join(t, room, "c")
	for _, x := range []*testClient{b, c} {
		x.mu.Lock()
		x.keep = true
		x.mu.Unlock()
		waitDowns(t, x.p, up.ID())
	}
	eventually(t, "the layers' sizes are known", func() bool { return up.svc.width[2].Load() == 1280 })
	db, dc := downOf(b.p, up), downOf(c.p, up)
	dc.SetMaxSize(320, 180)
	eventually(t, "b receives every layer, c the lowest", func() bool { return db.CurrentLayer() == 2 && dc.CurrentLayer() == 0 })
	from := map[*testClient]int{b: len(b.received(up.ID()).kept), c: len(c.received(up.ID()).kept)}
	b.waitPackets(up.ID(), from[b]+60)
	c.waitPackets(up.ID(), from[c]+20)
	for _, x := range []*testClient{b, c} {
		var pkts []sentPacket
		for _, p := range x.received(up.ID()).kept[from[x]:] {
			pkts = append(pkts, sentPacket{p.Header, p.Payload})
		}
		// From a picture's start to the last one's end: the first
		// packets may end a picture, the last begin one.
		for len(pkts) > 0 {
			if d, err := vp9.Parse(pkts[0].payload); err == nil && d.PictureStart() {
				break
			}
			pkts = pkts[1:]
		}
		for len(pkts) > 0 && !pkts[len(pkts)-1].hdr.Marker {
			pkts = pkts[:len(pkts)-1]
		}
		checkSVCStream(t, pkts)
		want := 2
		if x == c {
			want = 0
		}
		pics, tops := pictureLayers(pkts)
		for _, pic := range pics {
			if tops[pic] != want {
				t.Errorf("%s: picture %d up to spatial layer %d, want %d", x.id, pic, tops[pic], want)
			}
		}
		if len(pics) < 5 {
			t.Errorf("%s: %d whole pictures", x.id, len(pics))
		}
	}
	kept := c.received(up.ID()).kept
	last := kept[len(kept)-1]
	c.writeRTCP(&rtcp.TransportLayerNack{MediaSSRC: last.SSRC, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{last.SequenceNumber})})
	eventually(t, "the NACKed packet comes again", func() bool { return c.timesReceived(up.ID(), last.SequenceNumber) == 2 })
}
