package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"parley/client"
	"parley/configs"
	"parley/internal/leakcheck"
)

// publisher sends synthetic Opus and VP8 RTP and remembers every payload
// it sent, by codec and sequence number. It answers keyframe requests
// (PLI/FIR) with a VP8 keyframe, as a browser does.
type publisher struct {
	audio, video *webrtc.TrackLocalStaticRTP

	mu       sync.Mutex
	sent     map[string]map[uint16][]byte
	sentAt   map[string]map[uint32]time.Time // when each timestamp was sent, by kind
	last     map[string]uint16               // the latest sequence number sent, by kind
	keyframe bool                            // the next video packet is a keyframe
	plis     int
	nacked   map[uint16]bool // sequence numbers the server asked for again
	rrs      int             // receiver reports from the server
	skip     map[uint16]bool // video sequence numbers never sent
}

func newPublisher(t *testing.T) *publisher {
	t.Helper()
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	if err != nil {
		t.Fatal(err)
	}
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "pub")
	if err != nil {
		t.Fatal(err)
	}
	return &publisher{audio: audio, video: video, sent: map[string]map[uint16][]byte{"audio": {}, "video": {}},
		sentAt: map[string]map[uint32]time.Time{"audio": {}, "video": {}}, last: map[string]uint16{}, keyframe: true,
		nacked: map[uint16]bool{}, skip: map[uint16]bool{}}
}

// readRTCP watches a sender for keyframe requests.
func (p *publisher) readRTCP(s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		p.mu.Lock()
		for _, pkt := range pkts {
			switch pkt := pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.keyframe = true
				p.plis++
			case *rtcp.TransportLayerNack:
				for _, pair := range pkt.Nacks {
					for _, seq := range pair.PacketList() {
						p.nacked[seq] = true
					}
				}
			case *rtcp.ReceiverReport:
				p.rrs++
			}
		}
		p.mu.Unlock()
	}
}

// vp8Payload is a VP8 RTP payload: a one-byte descriptor (start of
// partition) and a frame header whose lowest bit is 0 for a keyframe.
func vp8Payload(key bool, n int) []byte {
	b := make([]byte, 40)
	b[0] = 0x10
	if key {
		b[1], b[2], b[3] = 0x00, 0x00, 0x00
		copy(b[4:], []byte{0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}) // 320x240
	} else {
		b[1] = 0x01
	}
	binary.BigEndian.PutUint32(b[36:], uint32(n))
	return b
}

func isVP8Keyframe(payload []byte) bool {
	return len(payload) > 1 && payload[0]&0x10 != 0 && payload[0]&0x80 == 0 && payload[1]&0x01 == 0
}

// start publishes from c and sends until the test ends, answering
// keyframe requests.
func (p *publisher) start(t *testing.T, c *client.Client) {
	t.Helper()
	senders, err := c.Publish(timeout(t, 5*time.Second), p.audio, p.video)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range senders {
		go p.readRTCP(s)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		p.run(t, stop)
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// run sends 50 audio and 25 video packets per second until stop closes.
// Their timestamps follow the wall clock, as a capture device's do: a
// tick the ticker drops on a starved machine leaves a gap in time, not a
// clock that falls behind the sender reports Pion makes from it.
func (p *publisher) run(t *testing.T, stop <-chan struct{}) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var aseq, vseq uint16 = 1000, 5000
	start := time.Now()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		elapsed := time.Since(start).Seconds()
		ap := make([]byte, 60)
		ap[0] = 0xfc
		binary.BigEndian.PutUint32(ap[1:], uint32(n))
		p.send(t, "audio", p.audio, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: uint32(elapsed * 48000)}, Payload: ap})
		aseq++
		if n%2 == 0 {
			p.mu.Lock()
			key := p.keyframe
			p.keyframe = false
			p.mu.Unlock()
			vp := vp8Payload(key, n)
			p.mu.Lock()
			skip := p.skip[vseq]
			p.mu.Unlock()
			if !skip {
				p.send(t, "video", p.video, &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: vseq, Timestamp: uint32(elapsed * 90000)}, Payload: vp})
			}
			vseq++
		}
	}
}

func (p *publisher) send(t *testing.T, kind string, tr *webrtc.TrackLocalStaticRTP, pkt *rtp.Packet) {
	p.mu.Lock()
	p.sent[kind][pkt.SequenceNumber] = pkt.Payload
	p.sentAt[kind][pkt.Timestamp] = time.Now()
	p.last[kind] = pkt.SequenceNumber
	p.mu.Unlock()
	if err := tr.WriteRTP(pkt); err != nil {
		t.Errorf("write %s: %v", kind, err)
	}
}

// lastSent is the latest sequence number sent of kind.
func (p *publisher) lastSent(kind string) uint16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last[kind]
}

// sentTime is when the packet of kind with timestamp ts was sent.
func (p *publisher) sentTime(kind string, ts uint32) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.sentAt[kind][ts]
	return at, ok
}

func (p *publisher) payload(kind string, seq uint16) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent[kind][seq]
}

// subscriber records what it receives, per kind.
type subscriber struct {
	mu       sync.Mutex
	packets  map[string][]*rtp.Packet
	keyframe bool // a VP8 keyframe came
	// asksKeyframe: while no keyframe has come, each video packet is
	// answered with a keyframe request (PLI), as a browser's decoder asks
	// for one when it gets frames it cannot decode.
	asksKeyframe bool
	ended        map[string]bool
	streamIDs    map[string]string
	srs          int // sender reports from the server
	reports      map[string][]seenReport
	lastAt       map[string]time.Time // arrival of the latest packet
}

// seenReport is a sender report and what the subscriber had received of
// its track when it came.
type seenReport struct {
	sr       rtcp.SenderReport
	received int       // packets received
	lastTS   uint32    // the latest packet's timestamp
	lastAt   time.Time // and its arrival
}

func newSubscriber() *subscriber {
	return &subscriber{packets: map[string][]*rtp.Packet{}, ended: map[string]bool{}, streamIDs: map[string]string{},
		reports: map[string][]seenReport{}, lastAt: map[string]time.Time{}}
}

func (s *subscriber) onTrack(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	kind := tr.Kind().String()
	s.mu.Lock()
	s.streamIDs[kind] = tr.StreamID()
	s.mu.Unlock()
	go func() {
		for {
			pkts, _, err := recv.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if sr, ok := p.(*rtcp.SenderReport); ok {
					s.mu.Lock()
					s.srs++
					if got := s.packets[kind]; len(got) > 0 {
						s.reports[kind] = append(s.reports[kind], seenReport{sr: *sr, received: len(got),
							lastTS: got[len(got)-1].Timestamp, lastAt: s.lastAt[kind]})
					}
					s.mu.Unlock()
				}
			}
		}
	}()
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			s.mu.Lock()
			s.ended[kind] = true
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		s.packets[kind] = append(s.packets[kind], pkt)
		s.lastAt[kind] = time.Now()
		if kind == "video" && isVP8Keyframe(pkt.Payload) {
			s.keyframe = true
		}
		ask := kind == "video" && s.asksKeyframe && !s.keyframe
		s.mu.Unlock()
		if ask {
			_, _ = recv.Transport().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
		}
	}
}

func (s *subscriber) count(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.packets[kind])
}

func (s *subscriber) hasEnded(kind string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended[kind]
}

func (s *subscriber) gotKeyframe() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyframe
}

// got reports whether the packet of kind numbered seq has come.
func (s *subscriber) got(kind string, seq uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	pkts := s.packets[kind]
	for i := len(pkts) - 1; i >= 0; i-- {
		if pkts[i].SequenceNumber == seq {
			return true
		}
	}
	return false
}

// check asserts that everything received is what was sent, with no gap
// in the sequence numbers.
func (s *subscriber) check(t *testing.T, who string, pub *publisher) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, kind := range []string{"audio", "video"} {
		pkts := s.packets[kind]
		if len(pkts) < 10 {
			t.Errorf("%s received %d %s packets, want at least 10", who, len(pkts), kind)
			continue
		}
		for i, pkt := range pkts {
			if i > 0 && pkt.SequenceNumber != pkts[i-1].SequenceNumber+1 {
				t.Errorf("%s %s: sequence gap %d -> %d", who, kind, pkts[i-1].SequenceNumber, pkt.SequenceNumber)
			}
			if want := pub.payload(kind, pkt.SequenceNumber); !bytes.Equal(want, pkt.Payload) {
				t.Errorf("%s %s seq %d: payload differs from what was sent", who, kind, pkt.SequenceNumber)
			}
		}
	}
}

// TestLiveForwarding: a publisher's Opus and VP8 reach two subscribers
// byte for byte and without gaps; a late joiner, asking for a keyframe as
// a browser does while it has none, gets one (how soon is measured by
// parley-bench, docs/performance.md); the subscribers' tracks end when
// the publisher leaves; and once everyone has left, no goroutine is left
// behind.
func TestLiveForwarding(t *testing.T) {
	srv := startServer(t, nil)
	leakcheck.Check(t)

	subA, subB, late := newSubscriber(), newSubscriber(), newSubscriber()
	late.asksKeyframe = true
	a, _ := srv.join(t, "live", "alice", client.Options{OnTrack: subA.onTrack})
	b, _ := srv.join(t, "live", "bob", client.Options{OnTrack: subB.onTrack})

	pub := newPublisher(t)
	p, pj := srv.join(t, "live", "pat", client.Options{})
	senders, err := p.Publish(timeout(t, 5*time.Second), pub.audio, pub.video)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range senders {
		go pub.readRTCP(s)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		pub.run(t, stop)
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}()

	eventually(t, 5*time.Second, "both subscribers receive audio and video", func() bool {
		return subA.count("audio") > 0 && subB.count("audio") > 0 && subA.count("video") > 0 && subB.count("video") > 0
	})

	l, _ := srv.join(t, "live", "lee", client.Options{OnTrack: late.onTrack})
	eventually(t, 10*time.Second, "the late joiner receives a keyframe", late.gotKeyframe)
	eventually(t, 10*time.Second, "the late joiner receives 10 packets of each kind", func() bool {
		return late.count("audio") >= 10 && late.count("video") >= 10
	})

	close(stop)
	<-done
	eventually(t, 10*time.Second, "the publisher's last packets reach every subscriber", func() bool {
		for _, s := range []*subscriber{subA, subB, late} {
			if !s.got("audio", pub.lastSent("audio")) || !s.got("video", pub.lastSent("video")) {
				return false
			}
		}
		return true
	})
	subA.check(t, "alice", pub)
	subB.check(t, "bob", pub)
	late.check(t, "lee", pub)
	for _, s := range []*subscriber{subA, subB, late} {
		s.mu.Lock()
		if s.streamIDs["audio"] != pj.ID {
			t.Errorf("received stream id %q, want the publisher's id %q", s.streamIDs["audio"], pj.ID)
		}
		s.mu.Unlock()
	}

	p.Close()
	eventually(t, 5*time.Second, "the subscribers' tracks end when the publisher leaves", func() bool {
		for _, s := range []*subscriber{subA, subB, late} {
			if !s.hasEnded("audio") || !s.hasEnded("video") {
				return false
			}
		}
		return true
	})

	a.Close()
	b.Close()
	l.Close()
	eventually(t, 5*time.Second, "the room empties", func() bool { return srv.hub.Sessions() == 0 })
}

// TestPushToTalkGap: a publisher that stops sending and starts again (its
// sender's track replaced by nothing and back) needs no renegotiation,
// and the first packets after the gap reach the subscriber.
func TestPushToTalkGap(t *testing.T) {
	srv := startServer(t, nil)
	sub := newSubscriber()
	s, _ := srv.join(t, "walkie", "sam", client.Options{OnTrack: sub.onTrack})
	p, _ := srv.join(t, "walkie", "pat", client.Options{})
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	if err != nil {
		t.Fatal(err)
	}
	senders, err := p.Publish(timeout(t, 5*time.Second), audio)
	if err != nil {
		t.Fatal(err)
	}
	seq := uint16(1)
	talk := func(n int) {
		for i := 0; i < n; i++ {
			if err := audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: []byte{0xfc, byte(seq)}}); err != nil {
				t.Fatal(err)
			}
			seq++
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Talk until the subscriber hears it.
	eventually(t, 5*time.Second, "the subscriber hears the first spurt", func() bool {
		talk(1)
		return sub.count("audio") > 0
	})
	talk(10)
	lastBeforeGap := seq - 1
	eventually(t, 5*time.Second, "the last packet before the gap arrives", func() bool { return sub.got("audio", lastBeforeGap) })
	heard := sub.count("audio")
	offersBefore := s.Offers()
	if err := senders[0].ReplaceTrack(nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the talker is silent for a second
	if err := senders[0].ReplaceTrack(audio); err != nil {
		t.Fatal(err)
	}
	firstAfterGap := seq
	talk(3)
	eventually(t, 5*time.Second, "the first packets after the gap arrive", func() bool { return sub.count("audio") >= heard+3 })
	sub.mu.Lock()
	got := sub.packets["audio"][heard].SequenceNumber
	sub.mu.Unlock()
	if got != firstAfterGap {
		t.Errorf("the first packet heard after the gap has seq %d, want %d", got, firstAfterGap)
	}
	if s.Offers() != offersBefore {
		t.Errorf("the gap caused %d renegotiations", s.Offers()-offersBefore)
	}
}

// TestDirectPath: subscribers reached over the shared UDP socket are sent
// to by the SFU itself (directSender), one over ICE-TCP through Pion; all
// three get every packet byte for byte, and the sender reports, which the
// SFU writes for both paths, count what was sent and map RTP time to wall
// time as the packets arrive. With media.direct_send off, every subscriber
// is sent to through Pion, as well.
func TestDirectPath(t *testing.T) {
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprintf("direct_send=%v", direct), func(t *testing.T) {
			srv := startServer(t, func(cfg *configs.Server, _ []configs.Room) {
				cfg.Media.TCPPort = freeTCPPort(t)
				cfg.Media.DirectSend = direct
			})
			a, b, c := newSubscriber(), newSubscriber(), newSubscriber()
			srv.join(t, "live", "a", client.Options{OnTrack: a.onTrack})
			srv.join(t, "live", "b", client.Options{OnTrack: b.onTrack})
			srv.join(t, "live", "c", client.Options{OnTrack: c.onTrack, TCPOnly: true})
			pub := newPublisher(t)
			p, _ := srv.join(t, "live", "pat", client.Options{})
			pub.start(t, p)
			eventually(t, 10*time.Second, "every subscriber gets 3 sender reports of each kind", func() bool {
				for _, s := range []*subscriber{a, b, c} {
					s.mu.Lock()
					n := min(len(s.reports["audio"]), len(s.reports["video"]))
					s.mu.Unlock()
					if n < 3 {
						return false
					}
				}
				return true
			})
			var want int64
			if direct {
				want = 2 // the UDP ones
			}
			if n := srv.engine.Stats().DirectConnections; n != want {
				t.Errorf("%d subscribe connections send directly, want %d", n, want)
			}
			for name, s := range map[string]*subscriber{"a": a, "b": b, "c (TCP)": c} {
				s.check(t, name, pub)
				s.checkReports(t, name, pub)
			}
		})
	}
}

// checkReports asserts that each sender report counts about what the
// subscriber had received when it came, that the counts grow, and that its
// RTP-to-wall-clock mapping puts the latest packet within 300 ms of when
// the publisher sent it (the publisher and the server share this machine's
// clock). Sending time, not arrival: on a starved machine a packet can be
// late by more than that, which is not the mapping's error.
func (s *subscriber) checkReports(t *testing.T, who string, pub *publisher) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for kind, rate := range map[string]float64{"audio": 48000, "video": 90000} {
		var prev uint32
		for i, r := range s.reports[kind] {
			if d := int(r.sr.PacketCount) - r.received; d < -50 || d > 50 {
				t.Errorf("%s %s report %d counts %d packets; %d had been received", who, kind, i, r.sr.PacketCount, r.received)
			}
			if r.sr.PacketCount < prev || r.sr.OctetCount == 0 {
				t.Errorf("%s %s report %d: %d packets after %d, %d octets", who, kind, i, r.sr.PacketCount, prev, r.sr.OctetCount)
			}
			prev = r.sr.PacketCount
			at := ntpToTime(r.sr.NTPTime).Add(time.Duration(float64(int32(r.lastTS-r.sr.RTPTime)) / rate * float64(time.Second)))
			sent, ok := pub.sentTime(kind, r.lastTS)
			if !ok {
				t.Errorf("%s %s report %d: the latest packet (timestamp %d) was never sent", who, kind, i, r.lastTS)
				continue
			}
			if d := at.Sub(sent); d < -300*time.Millisecond || d > 300*time.Millisecond {
				t.Errorf("%s %s report %d maps the latest packet to %v from its sending (arrived %v after it)", who, kind, i, d, r.lastAt.Sub(sent))
			}
		}
	}
}

// ntpToTime converts a 64-bit NTP timestamp.
func ntpToTime(ntp uint64) time.Time {
	secs := int64(ntp>>32) - 2208988800
	return time.Unix(secs, int64((ntp&0xffffffff)*1e9>>32))
}

// TestSlowSubscriber: subscribers that take their media slowly, over UDP
// and over ICE-TCP, hold up nobody: another subscriber still receives
// every packet, in order and unchanged.
func TestSlowSubscriber(t *testing.T) {
	srv := startServer(t, func(cfg *configs.Server, _ []configs.Room) { cfg.Media.TCPPort = freeTCPPort(t) })
	fast := newSubscriber()
	srv.join(t, "live", "fast", client.Options{OnTrack: fast.onTrack})
	var udpReads, tcpReads atomic.Int64
	slow := func(reads *atomic.Int64) func(*webrtc.TrackRemote, *webrtc.RTPReceiver) {
		return func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				reads.Add(1)
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	srv.join(t, "live", "slow-udp", client.Options{OnTrack: slow(&udpReads)})
	srv.join(t, "live", "slow-tcp", client.Options{OnTrack: slow(&tcpReads), TCPOnly: true})
	pub := newPublisher(t)
	p, _ := srv.join(t, "live", "pat", client.Options{})
	pub.start(t, p)
	eventually(t, 10*time.Second, "the fast subscriber gets 3 s of audio", func() bool { return fast.count("audio") >= 150 })
	if udpReads.Load() == 0 || tcpReads.Load() == 0 {
		t.Fatalf("the slow subscribers read %d (UDP) and %d (TCP) packets: the test shows nothing", udpReads.Load(), tcpReads.Load())
	}
	fast.check(t, "fast", pub)
}
