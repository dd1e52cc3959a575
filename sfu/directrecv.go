package sfu

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// The direct receive path: a publisher's audio, read off the shared UDP
// socket and decrypted by the SFU itself.
//
// On Pion's path a publisher's packet is handed on four times before the
// layer's goroutine reads it: by the UDP mux's goroutine to the ICE
// candidate's connection, by the ICE agent's reader to the DTLS/SRTP
// demultiplexer, by the demultiplexer's reader to the SRTP session, and by
// the session's reader, once decrypted, to the track's stream. Each hand-
// off is a copy into a buffer, a lock and a wake-up of the next goroutine;
// at 50 recording publishers (2,500 packets a second, each alone) those
// wake-ups, not the packets, are what the server spends its time on. On
// the direct path the socket's reader decrypts the packet and queues it
// for the layer's goroutine: one hand-off; none when the track only
// records (see directStream.handleInline).
//
// (Subscribers' RTCP takes the same way: see rtcpReceiver.)
//
// It covers the audio SSRCs that a publisher's offer declares (an
// m-section with one SSRC and no RTX), on a publish connection whose
// selected candidate pair is on the shared socket, and the RTCP the
// publisher sends from those SSRCs: its sender reports, which would
// otherwise go through the same four hand-offs and one more, to a reader
// per track (see senderRTCP). Everything else stays with Pion: ICE, DTLS,
// the RTCP the server sends, video, SSRCs the offer does not declare,
// connections over TURN or TCP.
//
// An SSRC is claimed when the offer that declares it is taken, before the
// answer that lets the publisher send it; the connection is switched when
// its DTLS connects, before Pion starts its SRTP session. A packet of a
// claimed SSRC may reach Pion all the same: one sent as the handshake
// ends, before this side has seen it end, or one from another address
// while ICE changes the selected pair. The layer then gets it from Pion's
// track (see directStream.feed): Pion's SRTP context and the SFU's each
// keep their own rollover counter for the SSRC, right across any gap
// shorter than 2^15 packets.

// directQueue bounds the packets a direct stream holds for its layer: at
// 50 packets a second, five seconds of audio. When the layer's goroutine
// falls that far behind, new packets are dropped, as a full socket buffer
// would drop them.
const directQueue = 256

// directReceiver is the direct receive side of one publish connection.
type directReceiver struct {
	e *Engine

	mu      sync.Mutex
	streams map[uint32]*directStream // the claimed SSRCs
	addr    netip.AddrPort           // where the connection's packets come from, once registered
	client  bool                     // the server is the DTLS client (its answer's a=setup)
	role    bool                     // client is known
	active  bool                     // the keys are set: the connection was switched
	closed  bool

	// ctx and hdr are the socket reader's only, set before the receiver
	// is first registered.
	ctx *srtp.Context
	hdr rtp.Header
	// rtcp, for a subscribe connection, reads its RTCP; nil for a
	// publish connection.
	rtcp *rtcpReceiver
	// senders, for a publish connection, reads the RTCP of the streams
	// it claims, once the first is bound to the connection's
	// interceptors (see bindRTCP); until then Pion reads it.
	senders atomic.Pointer[senderRTCP]
}

// senderRTCP is the RTCP a publisher sends from the streams the direct
// path claims, read through the connection's interceptors (which note
// its sender reports for the receiver reports that answer them) as
// Pion's RTP receiver reads it, each sender report then kept by its
// stream's layer (see directStream.keepReports). The socket's reading
// goroutine uses it alone.
type senderRTCP struct {
	chain   interceptor.RTCPReader
	pending []byte // the decrypted packet, for the bottom of the chain
	hdr     rtcp.Header
	buf     []byte // the decrypted packet
	out     []byte // the packet read through the chain
	attrs   interceptor.Attributes
}

func newDirectReceiver(e *Engine) *directReceiver {
	return &directReceiver{e: e, streams: map[uint32]*directStream{}}
}

// claim makes a stream of each SSRC not claimed yet.
func (r *directReceiver) claim(ssrcs []uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	for _, s := range ssrcs {
		// A stream whose track ended (the publisher stopped it) is
		// made again for an offer that sends the SSRC again.
		if old := r.streams[s]; old != nil && old.ended() {
			delete(r.streams, s)
		}
		if r.streams[s] == nil && len(r.streams) < maxDirectStreams {
			r.streams[s] = newDirectStream(s)
		}
	}
}

// maxDirectStreams bounds the SSRCs one connection may claim: an offer
// may declare many.
const maxDirectStreams = 16

// setRole keeps the DTLS role of the server's answer; a later answer
// cannot change it.
func (r *directReceiver) setRole(answer string) {
	client, err := setupActive(answer) // the server is the client if it answered active
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && !r.role {
		r.client, r.role = client, true
	}
}

// stream returns the stream of ssrc if the connection was switched to
// the direct path: the layer is to read it. Otherwise the claim is let go
// and Pion's track is read as before.
func (r *directReceiver) stream(ssrc uint32) *directStream {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.streams[ssrc]
	if s == nil || r.active {
		return s
	}
	delete(r.streams, ssrc)
	s.close()
	return nil
}

// start switches the connection when its DTLS connects: the keys of what
// the publisher sends, and the address it sends from if the selected pair
// is on the shared socket. Called by Pion with the DTLS transport locked,
// before its SRTP session starts.
func (r *directReceiver) start(dt *webrtc.DTLSTransport, ice *webrtc.ICETransport) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.active {
		return nil
	}
	if !r.role {
		return errors.New("no answer with a DTLS role")
	}
	conn, ok := dtlsConnOf(dt)
	if !ok {
		return errHiddenDTLS
	}
	cfg, err := srtpKeys(conn, r.client)
	if err != nil {
		return err
	}
	r.ctx, err = receiveContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile)
	if err != nil {
		return err
	}
	r.active = true
	ice.OnSelectedCandidatePairChange(func(pair *webrtc.ICECandidatePair) {
		to, ok := r.e.directAddr(pair)
		r.follow(to, ok)
	})
	pair, err := ice.GetSelectedCandidatePair()
	if err != nil {
		return nil
	}
	if to, ok := r.e.directAddr(pair); ok {
		r.registerLocked(to)
	}
	return nil
}

// receiveContext makes the SRTP context that decrypts what a publisher
// sends: with the replay window of Pion's own sessions, and RTP header
// encryption (RFC 9335) accepted, which a publisher uses if both sides
// offered it, and plain headers.
func receiveContext(key, salt []byte, profile srtp.ProtectionProfile) (*srtp.Context, error) {
	return srtp.CreateContext(key, salt, profile, srtp.SRTPReplayProtection(64), srtp.Cryptex(srtp.CryptexModeEnabled))
}

// follow takes the newly selected pair: the connection's packets are read
// directly from its address if it is on the shared socket (ok), through
// Pion otherwise.
func (r *directReceiver) follow(to netip.AddrPort, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.unregisterLocked()
	if ok {
		r.registerLocked(to)
	}
}

func (r *directReceiver) registerLocked(to netip.AddrPort) {
	r.addr = plainAddr(to)
	r.e.setReceiver(r.addr, r, true)
	if r.rtcp != nil {
		r.e.log.Debug("subscribe connection's RTCP read directly", "from", r.addr.String())
	} else {
		r.e.log.Debug("publish connection reads its audio directly", "from", r.addr.String(), "ssrcs", len(r.streams))
	}
}

func (r *directReceiver) unregisterLocked() {
	if r.addr.IsValid() {
		r.e.setReceiver(r.addr, r, false)
		r.addr = netip.AddrPort{}
	}
}

// close stops the direct path for good and ends every stream.
func (r *directReceiver) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	r.unregisterLocked()
	for _, s := range r.streams {
		s.close()
	}
}

// receive takes p, a packet from the connection's address, if its SSRC is
// claimed: decrypted and queued for the layer. It reports whether it took
// it; a packet that fails decryption (forged, replayed) is taken and
// dropped. Called on the socket's reading goroutine only.
func (r *directReceiver) receive(p []byte) bool {
	ssrc := binary.BigEndian.Uint32(p[8:12])
	r.mu.Lock()
	s := r.streams[ssrc]
	r.mu.Unlock()
	if s == nil {
		return false
	}
	if len(p) > packetBuf {
		r.e.recvDropped.Add(1)
		return true
	}
	buf := packetBuffer(len(p))
	out, err := r.ctx.DecryptRTP((*buf)[:0], p, &r.hdr)
	if err != nil || len(out) == 0 || &out[0] != &(*buf)[0] {
		freePacketBuffer(buf)
		r.e.recvDropped.Add(1)
		return true
	}
	r.e.recvDirect.Add(1)
	s.push(buf, len(out))
	return true
}

// bindRTCP reads the publisher's RTCP of the claimed streams through ic,
// the connection's interceptors, from now on; once is enough. Called
// with the participant locked.
func (r *directReceiver) bindRTCP(ic interceptor.Interceptor) {
	if r.senders.Load() != nil {
		return
	}
	s := &senderRTCP{buf: make([]byte, maxPacket+64), out: make([]byte, maxPacket+64), attrs: interceptor.Attributes{}}
	s.chain = ic.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n := copy(b, s.pending)
		if n < len(s.pending) {
			return 0, a, io.ErrShortBuffer
		}
		return n, a, nil
	}))
	r.senders.Store(s)
}

// receiveSenderRTCP takes p, SRTCP from the connection's address, if the
// stream that sends it (its sender's SSRC, in the clear) is one the path
// claims: decrypted, read through the connection's interceptors, and its
// sender reports kept by their streams' layers. RTCP from another
// stream (a video's) is left to Pion; one that fails decryption (forged,
// replayed) is taken and dropped. Called on the socket's reading
// goroutine only.
func (r *directReceiver) receiveSenderRTCP(p []byte) bool {
	s := r.senders.Load()
	if s == nil || len(p) < 8 {
		return false
	}
	r.mu.Lock()
	claimed := r.active && r.streams[binary.BigEndian.Uint32(p[4:8])] != nil
	r.mu.Unlock()
	if !claimed {
		return false
	}
	if len(p) > maxPacket+srtpOverhead+4 {
		r.e.recvDropped.Add(1)
		return true
	}
	plain, err := r.ctx.DecryptRTCP(s.buf[:0], p, &s.hdr)
	if err != nil || len(plain) == 0 || &plain[0] != &s.buf[0] {
		r.e.recvDropped.Add(1)
		return true
	}
	s.pending = plain
	clear(s.attrs)
	n, a, err := s.chain.Read(s.out, s.attrs)
	s.pending = nil
	if err != nil {
		return true
	}
	if a == nil {
		a = s.attrs
	}
	pkts, err := a.GetRTCPPackets(s.out[:n])
	if err != nil {
		return true
	}
	r.e.rtcpDirect.Add(1)
	now := time.Now()
	for _, pkt := range pkts {
		sr, ok := pkt.(*rtcp.SenderReport)
		if !ok {
			continue
		}
		r.mu.Lock()
		ds := r.streams[sr.SSRC]
		r.mu.Unlock()
		if ds != nil {
			ds.senderReport(sr, now)
		}
	}
	return true
}

// receiveDirect takes a packet that the shared socket's reader read from
// from, if it is RTP of a claimed SSRC of a switched connection (see
// directReceiver.receive); false leaves it to Pion's UDP mux.
func (e *Engine) receiveDirect(p []byte, from netip.AddrPort) bool {
	// RTP or RTCP (RFC 7983: a first byte of 128-191).
	if len(p) < 12 || p[0]>>6 != 2 {
		return false
	}
	m := e.receivers.Load()
	if m == nil {
		return false
	}
	r := (*m)[plainAddr(from)]
	if r == nil {
		return false
	}
	if p[1] >= 192 && p[1] <= 223 { // RTCP (RFC 5761: these payload types, with the marker bit)
		if r.rtcp == nil {
			return r.receiveSenderRTCP(p)
		}
		r.rtcp.receiveRTCP(p, e)
		return true
	}
	return r.receive(p)
}

// setReceiver registers r as the receiver of what comes from addr (add),
// or unregisters it: another connection registered there since stays. The
// map is replaced, never modified, so that the socket's reader looks it
// up without a lock.
func (e *Engine) setReceiver(addr netip.AddrPort, r *directReceiver, add bool) {
	e.receiversMu.Lock()
	defer e.receiversMu.Unlock()
	var cur map[netip.AddrPort]*directReceiver
	if m := e.receivers.Load(); m != nil {
		cur = *m
	}
	if !add && cur[addr] != r {
		return
	}
	next := make(map[netip.AddrPort]*directReceiver, len(cur)+1)
	for a, o := range cur {
		next[a] = o
	}
	if add {
		next[addr] = r
	} else {
		delete(next, addr)
	}
	e.receivers.Store(&next)
}

// plainAddr is addr as a key: an IPv4 address not mapped into IPv6, no
// zone.
func plainAddr(addr netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(addr.Addr().Unmap().WithZone(""), addr.Port())
}

// directStream is one claimed SSRC: the packets the socket's reader
// decrypted, queued for the layer's goroutine, which reads them through
// the connection's interceptors (receiver reports, NACKs, transport-wide
// feedback) as it would read Pion's track.
type directStream struct {
	ssrc uint32

	mu     sync.Mutex
	queue  []queuedPacket
	head   int
	closed bool
	wake   chan struct{} // a token when a packet comes to an empty queue, or at close

	// The inline path (see push), set by handleInline.
	handle  func(raw []byte) bool // the layer's work on a packet read through the interceptors; true: later is due
	light   func() bool           // whether the layer's work is light enough to do inline now
	later   func()                // the work a packet handled inline leaves to the layer's goroutine
	due     bool                  // later is to run
	waiting bool                  // the layer's goroutine waits in pop, holding no packet
	busy    bool                  // a packet is being handled inline
	// pending is the packet handled inline, for the bottom of the
	// interceptors' chain; inBuf and inAttrs are the inline read's. Only
	// the goroutine that set busy uses them.
	pending []byte
	inBuf   []byte
	inAttrs interceptor.Attributes

	// Set by bind, before the layer reads.
	ic    interceptor.Interceptor
	info  *interceptor.StreamInfo
	rtp   interceptor.RTPReader
	attrs interceptor.Attributes
	// hdr is the header of the packet being read through the
	// interceptors, parsed once for all of them (see rtpHeaderKey); used
	// by one reader at a time, as the packet is.
	hdr rtp.Header

	// reports is where the layer keeps the publisher's latest sender
	// report of the stream (see keepReports); nil until it is set.
	reports atomic.Pointer[atomic.Pointer[SenderReport]]
}

type queuedPacket struct {
	buf *[]byte
	n   int
}

func newDirectStream(ssrc uint32) *directStream {
	return &directStream{ssrc: ssrc, wake: make(chan struct{}, 1)}
}

func (s *directStream) SSRC() webrtc.SSRC { return webrtc.SSRC(s.ssrc) }

// bind reads the stream through the connection's interceptors, ic, as a
// stream described by info.
func (s *directStream) bind(ic interceptor.Interceptor, info *interceptor.StreamInfo) {
	s.mu.Lock()
	s.ic, s.info = ic, info
	s.mu.Unlock()
	s.attrs = interceptor.Attributes{}
	s.rtp = ic.BindRemoteStream(info, interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		var n int
		if p := s.pending; p != nil {
			// Only the inline reader: the layer's goroutine is in pop
			// while busy is set.
			s.pending = nil
			if n = copy(b, p); n < len(p) {
				return 0, a, io.ErrShortBuffer
			}
		} else {
			var err error
			if n, err = s.pop(b); err != nil {
				return n, a, err
			}
		}
		if a != nil && rtpHeaderKey != nil {
			if _, err := s.hdr.Unmarshal(b[:n]); err == nil {
				a[rtpHeaderKey] = &s.hdr
			}
		}
		return n, a, nil
	}))
}

// rtpHeaderKey is the key under which Pion's interceptors keep a
// packet's parsed header in its attributes (see
// interceptor.Attributes.GetRTPHeader), which each parses into a new
// header if it is not there: one allocation per packet. It is
// unexported; this is it, found by asking for a header. Nil if it could
// not be found.
var rtpHeaderKey = func() any {
	a := interceptor.Attributes{}
	if _, err := a.GetRTPHeader([]byte{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}); err != nil || len(a) != 1 {
		return nil
	}
	for k := range a {
		return k
	}
	return nil
}()

// handleInline lets push do the layer's work, handle, on the pushing
// goroutine (the socket's reader) rather than hand the packet to the
// layer's goroutine, whenever light says that work is light and the
// layer's goroutine has nothing queued: one wake-up less per packet.
// What may wait on others (telling the room that the publisher started
// or stopped speaking: its locks, its members' queues) is not for the
// reader, which serves every connection: when handle reports it due, the
// layer's goroutine runs later, as it waits for its next packet.
func (s *directStream) handleInline(handle func(raw []byte) bool, light func() bool, later func()) {
	s.mu.Lock()
	s.handle, s.light, s.later = handle, light, later
	s.inBuf, s.inAttrs = make([]byte, maxPacket), interceptor.Attributes{}
	s.mu.Unlock()
}

// keepReports sets where the stream's sender reports that the direct
// path reads are kept: to, the layer's.
func (s *directStream) keepReports(to *atomic.Pointer[SenderReport]) { s.reports.Store(to) }

// senderReport keeps sr, the publisher's sender report of the stream,
// which came at now.
func (s *directStream) senderReport(sr *rtcp.SenderReport, now time.Time) {
	if to := s.reports.Load(); to != nil {
		to.Store(senderReportOf(sr, now))
	}
}

// Read reads the next packet, through the interceptors; io.EOF once the
// stream is closed.
func (s *directStream) Read(b []byte) (int, interceptor.Attributes, error) {
	clear(s.attrs)
	return s.rtp.Read(b, s.attrs)
}

// push queues a packet, buf[:n], whose buffer the stream then owns.
func (s *directStream) push(buf *[]byte, n int) {
	s.mu.Lock()
	if s.closed || len(s.queue)-s.head >= directQueue {
		s.mu.Unlock()
		freePacketBuffer(buf)
		return
	}
	empty := len(s.queue) == s.head
	// Handled here only when the layer's goroutine holds no packet, has
	// no work left for it, and no packet waits for it: the packets of a
	// stream are handled one at a time, in order.
	if empty && s.waiting && !s.busy && !s.due && s.handle != nil && s.light() {
		s.busy = true
		s.mu.Unlock()
		s.runInline(buf, n)
		return
	}
	s.queue = append(s.queue, queuedPacket{buf, n})
	s.mu.Unlock()
	if empty {
		s.signal()
	}
}

// runInline reads buf[:n] through the interceptors and hands it to the
// layer's work; busy is set.
func (s *directStream) runInline(buf *[]byte, n int) {
	s.pending = (*buf)[:n]
	clear(s.inAttrs)
	m, _, err := s.rtp.Read(s.inBuf, s.inAttrs)
	s.pending = nil
	freePacketBuffer(buf)
	due := err == nil && s.handle(s.inBuf[:m])
	s.mu.Lock()
	s.busy = false
	s.due = s.due || due
	wake := len(s.queue) > s.head || s.due
	s.mu.Unlock()
	if wake {
		s.signal()
	}
}

func (s *directStream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pop takes the next packet into b, waiting for one.
func (s *directStream) pop(b []byte) (int, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.waiting = false
			s.mu.Unlock()
			return 0, io.EOF
		}
		if s.due && !s.busy {
			s.due, s.waiting = false, false
			s.mu.Unlock()
			s.later()
			continue
		}
		if !s.busy && s.head < len(s.queue) {
			s.waiting = false
			p := s.queue[s.head]
			s.queue[s.head] = queuedPacket{}
			s.head++
			if s.head == len(s.queue) {
				s.queue, s.head = s.queue[:0], 0
			}
			s.mu.Unlock()
			n := copy(b, (*p.buf)[:p.n])
			freePacketBuffer(p.buf)
			if n < p.n {
				return 0, io.ErrShortBuffer
			}
			return n, nil
		}
		s.waiting = true
		s.mu.Unlock()
		<-s.wake
	}
}

// ended tells whether the stream was closed.
func (s *directStream) ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// close ends the stream: what is queued is dropped, reads return io.EOF.
// Safe to call twice.
func (s *directStream) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for _, p := range s.queue[s.head:] {
		freePacketBuffer(p.buf)
	}
	s.queue, s.head = nil, 0
	ic, info := s.ic, s.info
	s.mu.Unlock()
	s.signal()
	if ic != nil {
		ic.UnbindRemoteStream(info)
	}
}

// feed reads Pion's track of the stream's SSRC, t, until it ends and
// queues what Pion got: the packets that reached Pion despite the claim
// (see the top of this file). Its end, when the publisher stops the track
// or the connection closes, ends the stream.
func (s *directStream) feed(t *webrtc.TrackRemote) {
	defer s.close()
	buf := make([]byte, maxPacket)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if n > packetBuf {
			continue
		}
		b := packetBuffer(n)
		copy(*b, buf[:n])
		s.push(b, n)
	}
}

// directSSRCs lists the SSRCs of an offer that the direct receive path
// may claim: that of each audio m-section declaring one SSRC and no SSRC
// group.
func directSSRCs(offer string) []uint32 {
	var out []uint32
	for i, section := range strings.Split(offer, "\nm=") {
		if i == 0 || !strings.HasPrefix(section, "audio ") {
			continue
		}
		var ssrcs []uint32
		grouped := false
		for _, line := range strings.Split(section, "\n") {
			line = strings.TrimRight(line, "\r")
			if strings.HasPrefix(line, "a=ssrc-group:") {
				grouped = true
			} else if v, ok := strings.CutPrefix(line, "a=ssrc:"); ok {
				id, _, _ := strings.Cut(v, " ")
				if s := parseSSRCs(id); len(s) == 1 && !slices.Contains(ssrcs, s[0]) {
					ssrcs = append(ssrcs, s[0])
				}
			}
		}
		if len(ssrcs) == 1 && !grouped {
			out = append(out, ssrcs[0])
		}
	}
	return out
}

// receiveDirectly prepares the direct receive side of pc, a new publish
// connection: switched when its DTLS connects (see directReceiver.start),
// ended when it closes. Nil when the direct receive path is off.
func (e *Engine) receiveDirectly(pc *webrtc.PeerConnection) *directReceiver {
	if !e.directRecv {
		return nil
	}
	r := newDirectReceiver(e)
	dt := pc.SCTP().Transport()
	ice := dt.ICETransport()
	dt.OnStateChange(func(st webrtc.DTLSTransportState) {
		switch st {
		case webrtc.DTLSTransportStateConnected:
			if err := r.start(dt, ice); errors.Is(err, errHiddenDTLS) {
				e.log.Warn("publishers are read through Pion's slower read path", "err", err)
			} else if err != nil {
				e.log.Debug("publish connection read through Pion's read path", "err", err)
			}
		case webrtc.DTLSTransportStateClosed, webrtc.DTLSTransportStateFailed:
			r.close()
		}
	})
	return r
}
