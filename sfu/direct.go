package sfu

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// subConn is one subscribe connection. Its DownTracks send through it:
// directly once it can (see directSender), through Pion otherwise.
type subConn struct {
	pc     *webrtc.PeerConnection
	direct atomic.Pointer[directSender]
	done   chan struct{} // closed when the connection is replaced or closed
	once   sync.Once

	// client tells whether the server is the DTLS client, from the
	// client's first answer (see noteAnswer); nil before it.
	client atomic.Pointer[bool]

	// cc is the connection's congestion control; nil for a connection
	// that is not a participant's (a viewer's).
	cc *congestion

	// decided is closed once it is known whether the subscriber's RTCP
	// is read on the direct path (rtcpOn; see rtcpReceiver): when DTLS
	// connects, fails or closes, or at once if the path is off.
	decided    chan struct{}
	decideOnce sync.Once
	rtcpOn     atomic.Bool
	downs      downs       // the down tracks by SSRC, for that RTCP
	released   atomic.Bool // Pion's SRTP sessions are closed (see releaseSRTP)
}

func newSubConn(pc *webrtc.PeerConnection) *subConn {
	return &subConn{pc: pc, done: make(chan struct{}), decided: make(chan struct{})}
}

func (c *subConn) decide() { c.decideOnce.Do(func() { close(c.decided) }) }

// readsRTCP waits until it is known where the subscriber's RTCP is read:
// true if a down track is to read it through Pion (see DownTrack.readRTCP),
// false if the shared socket's reader takes it, or the connection ended.
func (c *subConn) readsRTCP() bool {
	select {
	case <-c.decided:
		return !c.rtcpOn.Load()
	case <-c.done:
		return false
	}
}

// rtcpDecided tells, without waiting, whether the subscriber's RTCP is
// known to be read on the direct path.
func (c *subConn) rtcpDecided() bool {
	select {
	case <-c.decided:
		return c.rtcpOn.Load()
	default:
		return false
	}
}

// stamp gives h, a packet with a payload of size bytes sent at now (unix
// nanoseconds), the connection's next transport-wide sequence number, in
// header extension id with ext's storage, and records it in the send
// history; probe marks a probe's duplicate. h may carry the audio level
// already, in ext's storage.
func (c *subConn) stamp(h *rtp.Header, id uint8, ext *hdrExts, size int, now int64, probe bool) {
	hdr := twccHeaderBytes
	if h.Extension {
		hdr += levelHeaderBytes
	}
	seq := c.cc.hist.stamp(size+hdr+int(h.PaddingSize), now, probe)
	ext.stampHeader(h, id, seq)
}

// retire stops what runs for the connection: its sender reports, and
// its pacer, whose queue is dropped.
func (c *subConn) retire() {
	c.once.Do(func() {
		close(c.done)
		if c.cc != nil && c.cc.pacer != nil {
			c.cc.pacer.close()
		}
	})
}

// noteAnswer keeps the DTLS role that the client's first answer sets; a
// renegotiation cannot change it. Called before Pion takes the answer.
func (c *subConn) noteAnswer(sdp string) {
	if client, err := dtlsClient(sdp); err == nil {
		c.client.CompareAndSwap(nil, &client)
	}
}

// directSender sends a subscribe connection's RTP itself: it encrypts each
// packet with the connection's SRTP keys and queues it on the shared UDP
// socket for the remote address of the selected ICE candidate pair.
//
// Pion's own path for a packet goes through the sender's interceptors,
// its SRTP session (a lock and a map lookup), the mux endpoint, the ICE
// connection (a check of the agent's state and its selected pair), the
// candidate pair and the UDP mux before it reaches the same socket; at a
// fan-out of hundreds, those layers, each touching its connection's state,
// cost the server more than the encryption and the system call together.
// Its sender reports go the same way. Everything else (ICE checks and
// keepalives, DTLS, the packets of a connection the direct path does not
// cover) stays with Pion; so does the subscriber's RTCP unless the direct
// receive path reads it (see rtcpReceiver), in which case Pion's SRTP
// sessions have nothing left to do and are closed (see releaseSRTP).
//
// A connection is switched before Pion starts its SRTP session, and its
// packets never go through that session: the two would disagree on the
// rollover counter. If the selected pair leaves the shared socket (to
// ICE-TCP, say), sending stops and the connection is replaced; once the
// connection's DTLS closes, sending stops.
type directSender struct {
	out  *batchConn
	addr atomic.Pointer[netip.AddrPort] // nil once ended
	// rtcp reads the subscriber's RTCP off the shared socket, from the
	// same address; nil when the direct receive path is off.
	rtcp *directReceiver

	pairMu sync.Mutex // serialises follow and end
	ended  bool

	mu  sync.Mutex // guards ctx, pkt and hdr
	ctx *srtp.Context
	pkt rtp.Packet // the packet being marshalled
	hdr rtp.Header // its header, parsed again by the encryption
}

// srtpOverhead is what SRTP adds to a packet at most: the 16-byte tag of
// AES-GCM (AES-CM with HMAC-SHA1 adds 10).
const srtpOverhead = 16

// writeRTP encrypts and queues one packet and reports whether it did. A
// packet that cannot be sent (too large, ended, the socket's queue full)
// is dropped, as the network would drop it.
func (s *directSender) writeRTP(h *rtp.Header, payload []byte) bool {
	to := s.addr.Load()
	if to == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A packet, not just the header: the parsed packet keeps its padding
	// apart from its payload, and a padding-only probe must stay valid.
	s.pkt.Header, s.pkt.Payload = *h, payload
	size := s.pkt.MarshalSize()
	if size > maxPacket {
		s.pkt.Payload = nil
		return false
	}
	// Marshalled and encrypted in place, in the buffer it is queued in:
	// no buffers of the connection's own (3 KB each), no copy.
	buf := packetBuffer(size + srtpOverhead)
	n, err := s.pkt.MarshalTo(*buf)
	s.pkt.Payload = nil
	if err != nil {
		freePacketBuffer(buf)
		return false
	}
	out, err := s.ctx.EncryptRTP((*buf)[:n], (*buf)[:n], &s.hdr)
	if err != nil {
		freePacketBuffer(buf)
		return false
	}
	return s.queue(buf, out, *to)
}

// queue queues out, a packet encrypted into buf (a buffer of
// packetBuffer), for to, and reports whether it did.
func (s *directSender) queue(buf *[]byte, out []byte, to netip.AddrPort) bool {
	if &out[0] != &(*buf)[0] { // it did not fit: SRTP made a buffer of its own
		freePacketBuffer(buf)
		queued, _ := s.out.enqueue(out, to)
		return queued
	}
	queued, _ := s.out.enqueueBuffer(buf, len(out), to)
	return queued
}

// follow takes the newly selected pair: its address when it is on the
// shared socket (ok). It reports true when the pair has left the socket
// of a connection that was sending: the caller replaces the connection.
func (s *directSender) follow(to netip.AddrPort, ok bool) (left bool) {
	s.pairMu.Lock()
	defer s.pairMu.Unlock()
	if s.ended {
		return false
	}
	if ok {
		s.addr.Store(&to)
		if s.rtcp != nil {
			s.rtcp.follow(to, true)
		}
		return false
	}
	s.ended = true
	s.addr.Store(nil)
	if s.rtcp != nil {
		s.rtcp.close()
	}
	return true
}

// srtcpOverhead is what SRTCP adds to a compound packet at most: the
// 4-byte index and the 16-byte tag of AES-GCM.
const srtcpOverhead = 20

// writeRTCP encrypts and queues one compound RTCP packet: the
// connection's sender reports. It reports whether it did.
func (s *directSender) writeRTCP(pkts []rtcp.Packet) bool {
	to := s.addr.Load()
	if to == nil {
		return false
	}
	raw, err := rtcp.Marshal(pkts)
	if err != nil || len(raw)+srtcpOverhead > packetBuf {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	buf := packetBuffer(len(raw) + srtcpOverhead)
	out, err := s.ctx.EncryptRTCP((*buf)[:0], raw, nil)
	if err != nil {
		freePacketBuffer(buf)
		return false
	}
	return s.queue(buf, out, *to)
}

// end stops sending for good.
func (s *directSender) end() {
	s.pairMu.Lock()
	defer s.pairMu.Unlock()
	s.ended = true
	s.addr.Store(nil)
	if s.rtcp != nil {
		s.rtcp.close()
	}
}

var (
	errNoDirectPath = errors.New("the selected candidate pair is not on the shared UDP socket")
	errHiddenDTLS   = errors.New("the DTLS connection is not where this version of Pion was expected to keep it")
)

// dtlsConnOf returns the DTLS connection of t. Pion does not export it;
// its SRTP keys are derived from it. ok is false if this version of Pion
// keeps it otherwise: the connection then stays on Pion's path, and
// TestDirectPath fails.
func dtlsConnOf(t *webrtc.DTLSTransport) (*dtls.Conn, bool) {
	f := reflect.ValueOf(t).Elem().FieldByName("conn")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*dtls.Conn]() || f.IsNil() {
		return nil, false
	}
	return (*dtls.Conn)(f.UnsafePointer()), true
}

// srtpKeys derives the SRTP keys of both sides of conn, and its profile;
// client tells whether this side is the DTLS client.
func srtpKeys(conn *dtls.Conn, client bool) (srtp.Config, error) {
	dp, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return srtp.Config{}, errors.New("no SRTP protection profile negotiated")
	}
	var profile srtp.ProtectionProfile
	switch dp {
	case dtls.SRTP_AEAD_AES_128_GCM:
		profile = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AEAD_AES_256_GCM:
		profile = srtp.ProtectionProfileAeadAes256Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return srtp.Config{}, errors.New("unsupported SRTP protection profile")
	}
	state, ok := conn.ConnectionState()
	if !ok {
		return srtp.Config{}, errors.New("DTLS state not available")
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, client); err != nil {
		return srtp.Config{}, err
	}
	return cfg, nil
}

// dtlsClient tells from the remote description's a=setup whether this
// side is the DTLS client (RFC 8842): the remote one answered passive.
func dtlsClient(remoteSDP string) (bool, error) {
	active, err := setupActive(remoteSDP)
	return !active, err
}

// setupActive tells whether a description's a=setup is active (its side
// is the DTLS client) or passive; an error if it sets neither or both.
func setupActive(sdp string) (bool, error) {
	var active, passive bool
	for _, line := range strings.Split(sdp, "\n") {
		switch strings.TrimSpace(line) {
		case "a=setup:active":
			active = true
		case "a=setup:passive":
			passive = true
		}
	}
	if active == passive {
		return false, errors.New("the description sets no single DTLS role")
	}
	return active, nil
}

// startDirect switches c to a directSender if its selected candidate pair
// is on the shared socket. It is called when c's DTLS connects (see
// watchDirect), with the DTLS transport locked.
func (e *Engine) startDirect(c *subConn, dt *webrtc.DTLSTransport, ice *webrtc.ICETransport, lost func()) error {
	client := c.client.Load()
	if client == nil {
		return errors.New("no answer with a DTLS role")
	}
	conn, ok := dtlsConnOf(dt)
	if !ok {
		return errHiddenDTLS
	}
	keys, err := srtpKeys(conn, *client)
	if err != nil {
		return err
	}
	ctx, err := srtp.CreateContext(keys.Keys.LocalMasterKey, keys.Keys.LocalMasterSalt, keys.Profile)
	if err != nil {
		return err
	}
	s := &directSender{out: e.batch, ctx: ctx}
	if e.directRecv {
		// The replay window of Pion's own sessions.
		rctx, err := srtp.CreateContext(keys.Keys.RemoteMasterKey, keys.Keys.RemoteMasterSalt, keys.Profile,
			srtp.SRTCPReplayProtection(64))
		if err != nil {
			return err
		}
		s.rtcp = newDirectReceiver(e)
		s.rtcp.active = true
		s.rtcp.rtcp = newRTCPReceiver(c, rctx)
	}
	// Held until the first pair is taken, so that a change of pair
	// reported meanwhile is applied after it, not before.
	s.pairMu.Lock()
	ice.OnSelectedCandidatePairChange(func(pair *webrtc.ICECandidatePair) {
		to, ok := e.directAddr(pair)
		if s.follow(to, ok) {
			lost()
		}
	})
	var to netip.AddrPort
	pair, err := ice.GetSelectedCandidatePair()
	if err == nil {
		to, ok = e.directAddr(pair)
	}
	if err != nil || !ok {
		s.ended = true
		s.pairMu.Unlock()
		return errNoDirectPath
	}
	s.addr.Store(&to)
	if s.rtcp != nil {
		s.rtcp.follow(to, true)
		c.rtcpOn.Store(true)
	}
	s.pairMu.Unlock()
	c.direct.Store(s)
	e.direct.Add(1)
	e.log.Debug("subscribe connection sends directly", "to", to.String())
	return nil
}

// directAddr is the remote address of pair when its local side is the
// shared UDP socket.
func (e *Engine) directAddr(pair *webrtc.ICECandidatePair) (netip.AddrPort, bool) {
	if pair == nil || pair.Local == nil || pair.Remote == nil || e.batch == nil {
		return netip.AddrPort{}, false
	}
	l, r := pair.Local, pair.Remote
	if l.Protocol != webrtc.ICEProtocolUDP || r.Protocol != webrtc.ICEProtocolUDP || l.Typ == webrtc.ICECandidateTypeRelay {
		return netip.AddrPort{}, false
	}
	if a, ok := e.batch.LocalAddr().(*net.UDPAddr); !ok || int(l.Port) != a.Port {
		return netip.AddrPort{}, false
	}
	ip, err := netip.ParseAddr(r.Address)
	if err != nil || r.Port == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, r.Port), true
}

// watchDirect makes c's DownTracks send directly once its DTLS is up and
// its selected candidate pair goes through the shared socket; lost is
// called if the pair leaves it afterwards.
func (e *Engine) watchDirect(c *subConn, lost func()) {
	if e.batch == nil || e.noDirect {
		c.decide()
		return
	}
	dt := c.pc.SCTP().Transport()
	ice := dt.ICETransport()
	dt.OnStateChange(func(st webrtc.DTLSTransportState) {
		switch st {
		case webrtc.DTLSTransportStateConnected:
			// Pion calls this with the transport locked, right after it
			// set the DTLS connection and before it starts its SRTP
			// session: switched here, the connection never sends a packet
			// through that session.
			if err := e.startDirect(c, dt, ice, lost); errors.Is(err, errHiddenDTLS) {
				e.log.Warn("subscribers are sent to through Pion's slower write path", "err", err)
			} else if err != nil {
				e.log.Debug("subscribe connection sent to through Pion's write path", "err", err)
			}
			c.decide()
		case webrtc.DTLSTransportStateClosed, webrtc.DTLSTransportStateFailed:
			if s := c.direct.Load(); s != nil {
				s.end()
			}
			c.decide()
		}
	})
}

// releaseSRTP closes Pion's SRTP and SRTCP sessions of a connection that
// sends on the direct path and whose RTCP the shared socket's reader
// takes: nothing reaches them or goes through them any more, and each
// held a goroutine reading into an 8 KiB buffer, a goroutine waiting for
// streams Pion was not told of, and their buffers (some 40 KB of the
// server's memory per subscriber). It is called at each of the
// connection's sender-report ticks and closes them once Pion has started
// them (right after DTLS connects); a connection on Pion's path keeps
// them. It reports whether it closed them.
func (c *subConn) releaseSRTP() bool {
	if c.direct.Load() == nil || !c.rtcpOn.Load() || c.released.Load() {
		return false
	}
	rtpSess, rtcpSess, ok := srtpSessionsOf(c.pc.SCTP().Transport())
	if !ok || !c.released.CompareAndSwap(false, true) {
		return false
	}
	_ = rtpSess.Close()
	_ = rtcpSess.Close()
	return true
}
