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
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// subConn is one subscribe connection. Its DownTracks send through it:
// directly once it can (see directSender), through Pion until then.
type subConn struct {
	pc     *webrtc.PeerConnection
	direct atomic.Pointer[directSender]
	done   chan struct{} // closed when the connection is replaced or closed
	once   sync.Once
}

func newSubConn(pc *webrtc.PeerConnection) *subConn {
	return &subConn{pc: pc, done: make(chan struct{})}
}

// retire stops what runs for the connection (its sender reports).
func (c *subConn) retire() { c.once.Do(func() { close(c.done) }) }

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
// Everything else (ICE checks and keepalives, DTLS, RTCP both ways, the
// packets of a connection the direct path does not cover) stays with Pion.
//
// Once a connection's packets go this way they never go through Pion's
// SRTP session again: the two would disagree on the rollover counter after
// 65,536 packets. If the selected pair leaves the shared socket (ICE-TCP,
// say), the connection is replaced (lost is called).
type directSender struct {
	out  *batchConn
	addr atomic.Pointer[netip.AddrPort] // nil once the pair has left the socket

	mu     sync.Mutex // guards ctx and the buffers
	ctx    *srtp.Context
	hdr    rtp.Header
	plain  [maxPacket]byte
	cipher [maxPacket + 64]byte
}

// writeRTP encrypts and queues one packet and reports whether it did. A
// packet that cannot be sent (too large, no address) is dropped, as the
// network would drop it.
func (s *directSender) writeRTP(h *rtp.Header, payload []byte) bool {
	to := s.addr.Load()
	if to == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := h.MarshalTo(s.plain[:])
	if err != nil || n+len(payload) > len(s.plain) {
		return false
	}
	n += copy(s.plain[n:], payload)
	out, err := s.ctx.EncryptRTP(s.cipher[:0], s.plain[:n], &s.hdr)
	if err != nil {
		return false
	}
	_, err = s.out.WriteToAddrPort(out, *to)
	return err == nil
}

var errNoDirectPath = errors.New("no direct path")

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

// sendKeys makes the SRTP context for what this side of conn sends.
func sendKeys(conn *dtls.Conn, client, cryptex bool) (*srtp.Context, error) {
	dp, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return nil, errors.New("no SRTP protection profile negotiated")
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
		return nil, errors.New("unsupported SRTP protection profile")
	}
	state, ok := conn.ConnectionState()
	if !ok {
		return nil, errors.New("DTLS state not available")
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, client); err != nil {
		return nil, err
	}
	var opts []srtp.ContextOption
	if cryptex {
		opts = append(opts, srtp.Cryptex(srtp.CryptexModeEnabled))
	}
	return srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, profile, opts...)
}

// dtlsClient tells from the remote description's a=setup whether this
// side is the DTLS client (RFC 8842): the remote one answered active, or
// passive.
func dtlsClient(remoteSDP string) (bool, error) {
	var client, server bool
	for _, line := range strings.Split(remoteSDP, "\n") {
		switch strings.TrimSpace(line) {
		case "a=setup:active":
			server = true
		case "a=setup:passive":
			client = true
		}
	}
	if client == server {
		return false, errors.New("remote description sets no single DTLS role")
	}
	return client, nil
}

// startDirect is called once the connection's DTLS is up: it prepares the
// direct sender and switches the connection's DownTracks to it, if the
// selected candidate pair goes through the shared socket. lost is called
// when the pair leaves the socket later.
func (e *Engine) startDirect(c *subConn, conn *dtls.Conn, ice *webrtc.ICETransport, lost func()) error {
	remote := c.pc.CurrentRemoteDescription()
	if remote == nil {
		return errNoDirectPath
	}
	client, err := dtlsClient(remote.SDP)
	if err != nil {
		return err
	}
	// RTP header encryption (RFC 9335) applies to what is sent when the
	// remote side declares that it receives it, as Pion decides.
	cryptex := strings.Contains(remote.SDP, "a=cryptex")
	ctx, err := sendKeys(conn, client, cryptex)
	if err != nil {
		return err
	}
	s := &directSender{out: e.batch, ctx: ctx}
	engaged := atomic.Bool{}
	ice.OnSelectedCandidatePairChange(func(pair *webrtc.ICECandidatePair) {
		if to, ok := e.directAddr(pair); ok {
			s.addr.Store(&to)
			return
		}
		s.addr.Store(nil)
		if engaged.Load() {
			lost()
		}
	})
	pair, err := ice.GetSelectedCandidatePair()
	if err != nil {
		return err
	}
	to, ok := e.directAddr(pair)
	if !ok {
		return errNoDirectPath
	}
	s.addr.CompareAndSwap(nil, &to)
	engaged.Store(true)
	c.direct.Store(s)
	e.direct.Add(1)
	e.log.Debug("subscribe connection sends directly", "to", to.String(), "cryptex", cryptex)
	return nil
}

// DirectConnections is the number of subscribe connections that were
// switched to the direct send path (see directSender) so far.
func (e *Engine) DirectConnections() int64 { return e.direct.Load() }

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
	if e.batch == nil {
		return
	}
	dt := c.pc.SCTP().Transport()
	dt.OnStateChange(func(s webrtc.DTLSTransportState) {
		if s != webrtc.DTLSTransportStateConnected {
			return
		}
		// Called by Pion with the transport locked, right after it set
		// the connection: read it here, do the rest on another goroutine.
		conn, ok := dtlsConnOf(dt)
		if !ok {
			e.log.Warn("DTLS connection not found: subscribers are sent to through Pion's write path")
			return
		}
		go func() {
			if err := e.startDirect(c, conn, dt.ICETransport(), lost); err != nil {
				e.log.Debug("subscribe connection sent to through Pion's write path", "err", err)
			}
		}()
	})
}
