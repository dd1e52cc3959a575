package sfu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"parley/audiolevel"
	"parley/internal/leakcheck"
)

// testTimeout bounds every wait for an event: generous, since the tests
// share a busy machine. A wait that runs out fails the test.
const testTimeout = 30 * time.Second

// eventually waits until cond holds, and fails the test if it does not
// within testTimeout.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// lockedBuffer is a log destination safe for the SFU's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// nopSignaler drops everything the SFU tells the client.
type nopSignaler struct{}

func (nopSignaler) SubscribeOffer(string)               {}
func (nopSignaler) MediaProblem(string, string, string) {}
func (nopSignaler) TrackPublished(*UpTrack)             {}
func (nopSignaler) SpeakingChanged(*UpTrack)            {}
func (nopSignaler) VideoPaused(*UpTrack, bool)          {}

// newTestEngine opens an engine on a shared UDP port of 127.0.0.1, closed
// when the test ends; once everything the test opened is closed, no
// goroutine it started may be left (leakcheck). The port is found free and
// then bound by the engine; another process may take it in between, so a
// few are tried. The engines of the direct path read the shared socket
// with a receive window of 1 ms (media.receive_window), those of Pion's
// path without one, so that the media tests cover both ways of reading.
func newTestEngine(t *testing.T, noDirect bool) *Engine {
	t.Helper()
	leakcheck.Check(t)
	for attempt := 0; ; attempt++ {
		probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := probe.LocalAddr().(*net.UDPAddr).Port
		_ = probe.Close()
		cfg := Config{ListenIP: "127.0.0.1", UDPPort: port, NoDirectSend: noDirect, NoDirectReceive: noDirect}
		if !noDirect {
			cfg.ReceiveWindow = time.Millisecond
		}
		e, err := NewEngine(cfg, quietLog())
		if err == nil {
			t.Cleanup(func() { _ = e.Close() })
			return e
		}
		if attempt == 9 {
			t.Fatal(err)
		}
	}
}

// newTestRoom makes a room on e, closed when the test ends (before the
// engine).
func newTestRoom(t *testing.T, e *Engine, opts RoomOptions) *Room {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "r"
	}
	r := NewRoom(e, opts, quietLog())
	t.Cleanup(r.Close)
	return r
}

// sigEvent is what the SFU told a client, in order: a subscribe offer,
// or a media problem.
type sigEvent struct {
	offer    string
	pc, code string
}

// fakeSignaler stands for the signaling session: it queues what the SFU
// sends for the test client to act on, in order, and keeps a record of
// it. Like the real one, it never blocks.
type fakeSignaler struct {
	wake chan struct{} // a token when the queue grew

	mu        sync.Mutex
	queue     []sigEvent
	offers    []string
	problems  []string // "pc code"
	published []*UpTrack
	speaking  []bool // UpTrack.Speaking at each SpeakingChanged
	paused    []bool // each VideoPaused
}

func newFakeSignaler() *fakeSignaler { return &fakeSignaler{wake: make(chan struct{}, 1)} }

func (s *fakeSignaler) push(ev sigEvent) {
	s.queue = append(s.queue, ev)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *fakeSignaler) SubscribeOffer(sdp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offers = append(s.offers, sdp)
	s.push(sigEvent{offer: sdp})
}

func (s *fakeSignaler) MediaProblem(pc, code, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, pc+" "+code)
	s.push(sigEvent{pc: pc, code: code})
}

func (s *fakeSignaler) TrackPublished(up *UpTrack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.published = append(s.published, up)
}

func (s *fakeSignaler) SpeakingChanged(up *UpTrack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.speaking = append(s.speaking, up.Speaking())
}

func (s *fakeSignaler) VideoPaused(_ *UpTrack, paused bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused = append(s.paused, paused)
}

// pauses lists what VideoPaused was told, in order.
func (s *fakeSignaler) pauses() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.paused)
}

// speakingStates lists the states SpeakingChanged saw, in order.
func (s *fakeSignaler) speakingStates() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.speaking)
}

func (s *fakeSignaler) next() (sigEvent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return sigEvent{}, false
	}
	ev := s.queue[0]
	s.queue = s.queue[1:]
	return ev, true
}

func (s *fakeSignaler) problemList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.problems)
}

func (s *fakeSignaler) offerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.offers)
}

func (s *fakeSignaler) lastOffer() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.offers) == 0 {
		return ""
	}
	return s.offers[len(s.offers)-1]
}

func (s *fakeSignaler) publishedList() []*UpTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.published)
}

// Test media: every packet's payload is a function of its kind and
// sequence number, so that a subscriber can check each one it receives;
// every packet carries a header extension, which the SFU must not
// forward.
const (
	audioPayload = 100
	videoPayload = 300
)

func testPayload(kind webrtc.RTPCodecType, seq uint16) []byte {
	n := audioPayload
	if kind == webrtc.RTPCodecTypeVideo {
		n = videoPayload
	}
	p := make([]byte, n)
	binary.BigEndian.PutUint16(p, seq)
	for i := 2; i < n; i++ {
		p[i] = byte(int(seq) + i)
	}
	return p
}

// sendTrack is a track a test client publishes.
type sendTrack struct {
	kind   webrtc.RTPCodecType
	local  *webrtc.TrackLocalStaticRTP
	sender *webrtc.RTPSender
	ssrc   uint32
	seq    uint16 // next sequence number; only the sending goroutine uses it
	ts     uint32
	plis   atomic.Int32           // keyframe requests the SFU sent for it
	twcc   atomic.Int32           // TWCC feedbacks the SFU sent for it
	nacks  atomic.Int32           // NACKs the SFU sent for it
	lsr    atomic.Uint32          // the last sender report that the SFU's latest receiver report of it answers
	skip   atomic.Bool            // the next packet is not sent (lost)
	onPLI  atomic.Pointer[func()] // called at each keyframe request, if set
	// level, when levelID is set (audio), is the audio level sent on
	// every packet (audiolevel.Level, 0..127); with levels set instead,
	// each packet's is testLevel's. paused stops the packets.
	levelID uint8
	level   atomic.Int32
	levels  atomic.Bool
	paused  atomic.Bool
	// vp8: video payloads begin with a VP8 descriptor and frame header,
	// a keyframe every tenth packet and after each PLI; tag, if not 0,
	// is the last byte of every payload, to tell sources apart.
	vp8 atomic.Bool
	tag atomic.Int32
	key atomic.Bool // the next video packet is a keyframe
	// tx is its transceiver; screen marks it as a shared screen's.
	tx     *webrtc.RTPTransceiver
	screen bool
}

// recvTrack is what a test client received of one up track, over every
// subscribe connection it came on. Guarded by the client's mu.
type recvTrack struct {
	from     string // the publisher, from the stream id
	kind     webrtc.RTPCodecType
	ssrc     uint32 // on the latest connection
	conn     int    // the subscribe connection it last came on
	packets  int
	seqs     map[uint16]int // how many times each sequence number came
	lastSeq  uint16
	badData  int // packets whose payload is not the one sent
	extended int // packets with a header extension
	rtx      int // packets that came on the RTX stream (unwrapped by Pion)
	// levelID and twccID are the ids of the audio level and of the
	// transport-wide sequence number on the latest connection; 0 without.
	levelID, twccID uint8
	reports         []rtcp.SenderReport
	kept            []*rtp.Packet // every packet, when the client keeps them
}

// testClient is a client of one participant: a Pion peer on 127.0.0.1
// with the two connections of the SFU's protocol. It answers every
// subscribe offer, replaces its subscribe connection when the SFU says it
// failed, publishes test media, and records what it receives.
type testClient struct {
	t   *testing.T
	id  string
	p   *Participant
	sig *fakeSignaler
	api *webrtc.API

	quit chan struct{}
	wg   sync.WaitGroup // the worker, the sender, the readers

	// neg is held while answer negotiates the subscribe connection and
	// while close closes the connections. Pion's ICE gatherer, closed
	// before it has made its agent, makes one later if a negotiation
	// still running asks for it, and nothing ever closes that agent.
	neg sync.Mutex

	mu       sync.Mutex
	closed   bool
	pub      *webrtc.PeerConnection
	sends    []*sendTrack
	sending  bool
	sub      *webrtc.PeerConnection
	subs     int // subscribe connections made
	old      []*webrtc.PeerConnection
	recv     map[string]*recvTrack // by up track id
	answered int                   // subscribe offers answered
	keep     bool                  // keep every packet received (recvTrack.kept)
	// vp9: videos published from now on are VP9, and paused: the test
	// writes their packets itself.
	vp9 bool
}

// clientAPI is a browser-like Pion API: loopback UDP only, the default
// codecs, no interceptors (no reports nor NACKs but the test's own), and no SRTP
// replay protection so that a retransmission of a packet already received
// is seen. audioExts are header extensions offered for audio before the
// audio level: they take its id, which is then another than the others'.
func clientAPI(t *testing.T, audioExts ...string) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.DisableSRTPReplayProtection(true)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	for _, uri := range audioExts {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	// Offered as browsers offer it; packets carry a level only where a
	// test sets one (sendTrack.level).
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: audiolevel.URI}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	// Offered as browsers offer them, for simulcast (publishSimulcast).
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
}

// join makes a participant of room with a test client, which ends with
// the test.
func join(t *testing.T, room *Room, id string) *testClient {
	t.Helper()
	return joinWith(t, room, id, clientAPI(t))
}

// joinWith is join with a client of api.
func joinWith(t *testing.T, room *Room, id string, api *webrtc.API) *testClient {
	t.Helper()
	c := &testClient{t: t, id: id, sig: newFakeSignaler(), api: api,
		quit: make(chan struct{}), recv: make(map[string]*recvTrack)}
	p, err := room.Join(id, id, c.sig)
	if err != nil {
		t.Fatalf("join %s: %v", id, err)
	}
	c.p = p
	c.wg.Add(1)
	go c.work()
	t.Cleanup(c.close)
	return c
}

// close makes the participant leave and ends the client. Safe to call
// twice.
func (c *testClient) close() {
	c.p.Leave()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	pcs := append(c.old, c.pub, c.sub)
	c.mu.Unlock()
	close(c.quit)
	c.neg.Lock()
	for _, pc := range pcs {
		if pc != nil {
			_ = pc.Close()
		}
	}
	c.neg.Unlock()
	c.wg.Wait()
}

// goLocked starts f on a goroutine of the client unless it is closed.
// Called locked.
func (c *testClient) goLocked(f func()) {
	if c.closed {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// work acts on what the SFU signals, in order.
func (c *testClient) work() {
	defer c.wg.Done()
	for {
		select {
		case <-c.quit:
			return
		case <-c.sig.wake:
		}
		for {
			ev, ok := c.sig.next()
			if !ok {
				break
			}
			if ev.offer != "" {
				c.answer(ev.offer)
			} else if ev.pc == PCSubscribe && ev.code == "media-failed" {
				// A new subscribe connection follows.
				c.mu.Lock()
				if c.sub != nil {
					c.old = append(c.old, c.sub)
					_ = c.sub.Close()
					c.sub = nil
				}
				c.mu.Unlock()
			}
		}
	}
}

func (c *testClient) fail(format string, args ...any) {
	select {
	case <-c.quit:
	default:
		c.t.Errorf("client %s: "+format, append([]any{c.id}, args...)...)
	}
}

// answer answers a subscribe offer, on a new connection if there is none.
func (c *testClient) answer(offer string) {
	c.neg.Lock()
	defer c.neg.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.sub == nil {
		pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			c.mu.Unlock()
			c.fail("new subscribe connection: %v", err)
			return
		}
		c.subs++
		conn := c.subs
		pc.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) { c.onTrack(conn, tr, r) })
		c.sub = pc
	}
	pc := c.sub
	c.mu.Unlock()
	// Pion closes a connection by itself, on a goroutine of its own, when
	// the SFU closes its end (DTLS close_notify): an offer that was on its
	// way then finds it closed, which is no failure of the client's.
	closed := func(err error) bool { return errors.Is(err, webrtc.ErrConnectionClosed) }
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		if !closed(err) {
			c.fail("subscribe offer: %v", err)
		}
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		if !closed(err) {
			c.fail("subscribe answer: %v", err)
		}
		return
	}
	sdp, err := setLocal(pc, answer)
	if err != nil {
		if !closed(err) {
			c.fail("%v", err)
		}
		return
	}
	if err := c.p.HandleAnswer(sdp); err != nil && !errors.Is(err, ErrLeft) {
		c.fail("HandleAnswer: %v", err)
		return
	}
	c.mu.Lock()
	c.answered++
	c.mu.Unlock()
}

// setLocal sets a local description and returns it with its candidates.
func setLocal(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-time.After(testTimeout):
		return "", io.ErrNoProgress
	}
	return pc.LocalDescription().SDP, nil
}

// onTrack records a track the SFU sends: its packets and its sender
// reports.
func (c *testClient) onTrack(conn int, tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	c.mu.Lock()
	rt := c.recv[tr.ID()]
	if rt == nil {
		rt = &recvTrack{seqs: make(map[uint16]int)}
		c.recv[tr.ID()] = rt
	}
	rt.from, rt.kind, rt.ssrc, rt.conn = tr.StreamID(), tr.Kind(), uint32(tr.SSRC()), conn
	rt.levelID, rt.twccID = extID(r, audiolevel.URI), extID(r, transportCCURI)
	c.goLocked(func() {
		for {
			pkts, _, err := r.ReadRTCP()
			if err != nil {
				return
			}
			c.mu.Lock()
			for _, p := range pkts {
				if sr, ok := p.(*rtcp.SenderReport); ok {
					rt.reports = append(rt.reports, *sr)
				}
			}
			c.mu.Unlock()
		}
	})
	c.goLocked(func() {
		for {
			pkt, attrs, err := tr.ReadRTP()
			if err != nil {
				return
			}
			c.mu.Lock()
			rt.packets++
			if attrs.Get(webrtc.AttributeRtxSsrc) != nil {
				rt.rtx++
			}
			rt.seqs[pkt.SequenceNumber]++
			rt.lastSeq = pkt.SequenceNumber
			if !bytes.Equal(pkt.Payload, testPayload(rt.kind, pkt.SequenceNumber)) {
				rt.badData++
			}
			if pkt.Extension || len(pkt.Extensions) > 0 {
				rt.extended++
			}
			if c.keep {
				rt.kept = append(rt.kept, pkt.Clone())
			}
			c.mu.Unlock()
		}
	})
	c.mu.Unlock()
}

// extID is the id of the header extension uri negotiated on r; 0 without.
func extID(r *webrtc.RTPReceiver, uri string) uint8 {
	for _, x := range r.GetParameters().HeaderExtensions {
		if x.URI == uri {
			return uint8(x.ID)
		}
	}
	return 0
}

// received returns a copy of what the client received of up track id.
func (c *testClient) received(id string) recvTrack {
	c.mu.Lock()
	defer c.mu.Unlock()
	rt := c.recv[id]
	if rt == nil {
		return recvTrack{}
	}
	cp := *rt
	cp.seqs = nil
	cp.reports = slices.Clone(rt.reports)
	cp.kept = slices.Clone(rt.kept)
	return cp
}

// timesReceived is how many times the packet seq of up track id came.
func (c *testClient) timesReceived(id string, seq uint16) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rt := c.recv[id]; rt != nil {
		return rt.seqs[seq]
	}
	return 0
}

// waitPackets waits until the client has received n more packets of up
// track id than it had when called.
func (c *testClient) waitPackets(id string, n int) {
	c.t.Helper()
	from := c.received(id).packets
	eventually(c.t, c.id+" receives "+id, func() bool { return c.received(id).packets >= from+n })
}

// writeRTCP sends RTCP on the subscribe connection.
func (c *testClient) writeRTCP(pkts ...rtcp.Packet) {
	c.t.Helper()
	c.mu.Lock()
	pc := c.sub
	c.mu.Unlock()
	if pc == nil {
		c.t.Fatal("no subscribe connection")
	}
	if err := pc.WriteRTCP(pkts); err != nil {
		c.t.Fatalf("write RTCP: %v", err)
	}
}

// publish adds tracks of the given kinds to the publish connection
// (making it first if needed) and negotiates them with the SFU. Each
// track sends test media every 20 ms until the client ends.
func (c *testClient) publish(kinds ...webrtc.RTPCodecType) []*sendTrack {
	c.t.Helper()
	return c.publishMarked(false, kinds...)
}

// publishScreen publishes a video as a browser shares a screen: its
// m-section marked "a=content:slides" in the offer the SFU gets.
func (c *testClient) publishScreen() *sendTrack {
	c.t.Helper()
	return c.publishMarked(true, webrtc.RTPCodecTypeVideo)[0]
}

// publishMarked publishes tracks of kinds, marked as a shared screen's
// when screen is set.
func (c *testClient) publishMarked(screen bool, kinds ...webrtc.RTPCodecType) []*sendTrack {
	c.t.Helper()
	c.mu.Lock()
	pc := c.pub
	c.mu.Unlock()
	if pc == nil {
		var err error
		if pc, err = c.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
			c.t.Fatal(err)
		}
		c.mu.Lock()
		c.pub = pc
		c.mu.Unlock()
	}
	var added []*sendTrack
	for _, kind := range kinds {
		codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
		if kind == webrtc.RTPCodecTypeVideo {
			codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
		}
		vp9 := kind == webrtc.RTPCodecTypeVideo && c.vp9
		if vp9 {
			codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}
		}
		local, err := webrtc.NewTrackLocalStaticRTP(codec, fmt.Sprintf("%s-%s%d", c.id, kind, len(c.sends)+len(added)), c.id)
		if err != nil {
			c.t.Fatal(err)
		}
		tr, err := pc.AddTransceiverFromTrack(local, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			c.t.Fatal(err)
		}
		if vp9 { // as a browser told to prefer it
			if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{{RTPCodecCapability: codec}}); err != nil {
				c.t.Fatal(err)
			}
		}
		st := &sendTrack{kind: kind, local: local, sender: tr.Sender(), ssrc: uint32(tr.Sender().GetParameters().Encodings[0].SSRC),
			seq: uint16(1000 * (len(c.sends) + len(added) + 1)), tx: tr, screen: screen}
		st.paused.Store(vp9)
		added = append(added, st)
	}
	c.renegotiatePublish(pc, added...)
	for _, st := range added {
		for _, e := range st.sender.GetParameters().HeaderExtensions {
			if st.kind == webrtc.RTPCodecTypeAudio && e.URI == audiolevel.URI {
				st.levelID = uint8(e.ID)
			}
		}
		st.level.Store(-1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range added {
		c.sends = append(c.sends, st)
		c.goLocked(func() {
			for {
				pkts, _, err := st.sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if pli, ok := p.(*rtcp.PictureLossIndication); ok && pli.MediaSSRC == st.ssrc {
						if f := st.onPLI.Load(); f != nil {
							(*f)()
						}
						st.plis.Add(1)
						st.key.Store(true)
					}
					if cc, ok := p.(*rtcp.TransportLayerCC); ok && cc.MediaSSRC == st.ssrc {
						st.twcc.Add(1)
					}
					if n, ok := p.(*rtcp.TransportLayerNack); ok && n.MediaSSRC == st.ssrc {
						st.nacks.Add(1)
					}
					if rr, ok := p.(*rtcp.ReceiverReport); ok {
						for _, b := range rr.Reports {
							if b.SSRC == st.ssrc {
								st.lsr.Store(b.LastSenderReport)
							}
						}
					}
				}
			}
		})
	}
	if !c.sending {
		c.sending = true
		c.goLocked(c.send)
	}
	return added
}

// renegotiatePublish sends a new offer on the publish connection, with
// the m-sections of the screens it sends marked "a=content:slides", and
// applies the SFU's answer; added are tracks not yet among c.sends.
func (c *testClient) renegotiatePublish(pc *webrtc.PeerConnection, added ...*sendTrack) {
	c.t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	sdp, err := setLocal(pc, offer)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	sends := append(slices.Clone(c.sends), added...)
	c.mu.Unlock()
	for _, tr := range pc.GetTransceivers() {
		for _, st := range sends {
			if st.tx == tr && st.screen {
				mid := "a=mid:" + tr.Mid() + "\r\n"
				sdp = strings.Replace(sdp, mid, mid+"a=content:slides\r\n", 1)
			}
		}
	}
	answer, err := c.p.HandleOffer(sdp)
	if err != nil {
		c.t.Fatalf("HandleOffer: %v", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		c.t.Fatal(err)
	}
}

// stopSending stops sending st and renegotiates, as a browser whose user
// stops sharing a screen.
func (c *testClient) stopSending(st *sendTrack) {
	c.t.Helper()
	c.mu.Lock()
	pc := c.pub
	c.sends = slices.DeleteFunc(c.sends, func(x *sendTrack) bool { return x == st })
	c.mu.Unlock()
	if err := pc.RemoveTrack(st.sender); err != nil {
		c.t.Fatal(err)
	}
	c.renegotiatePublish(pc)
}

// writePublishRTCP sends RTCP on the publish connection.
func (c *testClient) writePublishRTCP(pkts ...rtcp.Packet) {
	c.t.Helper()
	c.mu.Lock()
	pc := c.pub
	c.mu.Unlock()
	if pc == nil {
		c.t.Fatal("no publish connection")
	}
	if err := pc.WriteRTCP(pkts); err != nil {
		c.t.Fatalf("write RTCP: %v", err)
	}
}

// unpublish closes the publish connection, as a client that lost it.
func (c *testClient) unpublish() {
	c.mu.Lock()
	pc := c.pub
	c.pub, c.sends = nil, nil
	c.mu.Unlock()
	if pc != nil {
		_ = pc.Close()
	}
}

// send writes test media on every published track until the client ends.
func (c *testClient) send() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-tick.C:
		}
		c.mu.Lock()
		sends := slices.Clone(c.sends)
		c.mu.Unlock()
		for _, st := range sends {
			if st.paused.Load() {
				continue
			}
			if st.skip.Swap(false) {
				st.seq++
			}
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: st.seq, Timestamp: st.ts},
				Payload: testPayload(st.kind, st.seq)}
			if st.kind == webrtc.RTPCodecTypeVideo && st.vp8.Load() {
				key := st.key.Swap(false) || st.seq%10 == 0
				pkt.Payload[0], pkt.Payload[1] = 0x10, 0x01 // start of a partition; an interframe
				if key {
					pkt.Payload[1] = 0x00
				}
			}
			if tag := st.tag.Load(); tag != 0 {
				pkt.Payload[len(pkt.Payload)-1] = byte(tag)
			}
			_ = pkt.SetExtension(5, []byte{0x42})
			if l := st.level.Load(); l >= 0 && st.levelID != 0 {
				_ = pkt.SetExtension(st.levelID, []byte{0x80 | byte(l)})
			} else if l, ok := testLevel(st.seq); ok && st.levels.Load() && st.levelID != 0 {
				_ = pkt.SetExtension(st.levelID, []byte{l})
			}
			_ = st.local.WriteRTP(pkt)
			st.seq++
			if st.kind == webrtc.RTPCodecTypeVideo {
				st.ts += 3000
			} else {
				st.ts += 960
			}
		}
	}
}

// testLevel is the audio level byte (RFC 6464: the voice bit and the
// level) that a track sending levels (sendTrack.levels) puts on its
// packet seq: a level that changes from packet to packet, the voice bit
// on every third, and none on every fourth packet.
func testLevel(seq uint16) (byte, bool) {
	if seq%4 == 0 {
		return 0, false
	}
	l := byte(seq % 128)
	if seq%3 == 0 {
		l |= 0x80
	}
	return l, true
}

// upOf returns the up track of kind that p publishes, waiting for it.
func upOf(t *testing.T, p *Participant, kind webrtc.RTPCodecType) *UpTrack {
	t.Helper()
	var up *UpTrack
	eventually(t, p.ID+" publishes "+kind.String(), func() bool {
		for _, u := range p.UpTracks() {
			if u.Kind() == kind {
				up = u
				return true
			}
		}
		return false
	})
	return up
}

// downsOf lists the ids of the up tracks that p receives, sorted.
func downsOf(p *Participant) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for up := range p.downs {
		ids = append(ids, up.id)
	}
	slices.Sort(ids)
	return ids
}

// settled reports whether p has no subscribe offer awaiting its answer.
func settled(p *Participant) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.negotiating && !p.renegotiate
}

// waitDowns waits until p receives exactly the up tracks ids, and its
// client has answered the offer that says so.
func waitDowns(t *testing.T, p *Participant, ids ...string) {
	t.Helper()
	slices.Sort(ids)
	eventually(t, p.ID+" receives exactly "+strings.Join(ids, ", "), func() bool {
		return slices.Equal(downsOf(p), ids) && settled(p)
	})
}

// ownedGoroutines are the functions that run on the goroutines package
// sfu starts for a participant (or on Pion's that a participant counts):
// none may be left once the participant has left.
var ownedGoroutines = []string{
	"parley/sfu.(*congestion).run",
	"parley/sfu.(*DownTrack).readRTCP",
	"parley/sfu.(*layer).readRTCP",
	"parley/sfu.(*layer).forward",
	"parley/sfu.(*Participant).subscribeFailed.func",
	"parley/sfu.(*Participant).publishFailed.func",
	"parley/sfu.(*Room).resubscribe",
	"parley/sfu.(*throttle).Request.func",
	"parley/sfu.(*pacer).release",
	"parley/sfu.(*Room).Close.func",
}

// goroutines returns the stacks of the other goroutines that match.
func goroutines(match func(stack string) bool) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := strings.Split(string(buf), "\n\n")
	var found []string
	for _, s := range stacks[1:] { // the first is this goroutine
		if match(s) {
			found = append(found, s)
		}
	}
	return found
}

// ownedRunning returns the stacks of goroutines running one of fns. A
// goroutine whose top frame stands on the closing brace of its function
// has run its body and its deferred calls (the WaitGroup's Done among
// them) and only has to exit: it does not count.
func ownedRunning(fns []string) []string {
	return goroutines(func(s string) bool {
		for _, f := range fns {
			if strings.Contains(s, f) {
				return !exiting(s)
			}
		}
		return false
	})
}

// exiting reports whether the top frame of stack s stands on a line that
// is only a closing brace.
func exiting(s string) bool {
	lines := strings.Split(s, "\n")
	if len(lines) < 3 { // header, function, file:line
		return false
	}
	loc := strings.TrimSpace(lines[2])
	if i := strings.LastIndex(loc, " +0x"); i >= 0 {
		loc = loc[:i]
	}
	colon := strings.LastIndex(loc, ":")
	if colon < 0 {
		return false
	}
	n, err := strconv.Atoi(loc[colon+1:])
	if err != nil {
		return false
	}
	src, err := os.ReadFile(loc[:colon])
	if err != nil {
		return false
	}
	text := strings.Split(string(src), "\n")
	if n < 1 || n > len(text) {
		return false
	}
	l := strings.TrimSpace(text[n-1])
	return l == "}" || l == "}()"
}

// mediaGoroutines returns the stacks of goroutines in the SFU's code (not
// its tests) or in Pion's.
func mediaGoroutines() []string {
	return goroutines(func(s string) bool {
		if strings.Contains(s, "github.com/pion/") {
			return true
		}
		for _, l := range strings.Split(s, "\n") {
			l = strings.TrimSpace(l)
			if strings.Contains(l, "/sfu/") && strings.Contains(l, ".go:") && !strings.Contains(l, "_test.go:") {
				return true
			}
		}
		return false
	})
}

// TestExiting: a goroutine parked on its function's closing brace is
// exiting; one inside its body is not.
func TestExiting(t *testing.T) {
	_, file, line, _ := runtime.Caller(0)
	body := fmt.Sprintf("goroutine 7 [runnable]:\nparley/sfu.f()\n\t%s:%d +0x1c\ncreated by x", file, line)
	if exiting(body) {
		t.Errorf("a frame in a body is taken for one exiting:\n%s", body)
	}
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	brace := 0
	for i, l := range strings.Split(string(src), "\n") {
		if i+1 > line && strings.TrimSpace(l) == "}" {
			brace = i + 1
			break
		}
	}
	end := fmt.Sprintf("goroutine 7 [runnable]:\nparley/sfu.f()\n\t%s:%d +0x1c\ncreated by x", file, brace)
	if !exiting(end) {
		t.Errorf("a frame on a closing brace is not taken for one exiting:\n%s", end)
	}
}
