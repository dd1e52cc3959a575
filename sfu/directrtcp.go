package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
)

// Subscribers' RTCP on the direct path. A subscribe connection switched to
// the direct send path (see directSender) sends the server only RTCP:
// receiver reports, transport-wide feedback every 50-100 ms, NACKs and
// keyframe requests. On Pion's path each of those is handed on by four
// goroutines (the UDP mux's, the ICE candidate's, the demultiplexer's, the
// SRTCP session's) to a reader per down track, one more for its RTX SSRC.
// Here the shared socket's reader decrypts it with the connection's SRTCP
// keys and acts on it at once: no goroutine per down track, none woken per
// packet. ICE and DTLS stay with Pion.

// rtcpReceiver is the RTCP side of one subscribe connection on the direct
// path. The socket's reading goroutine uses it alone, after register.
type rtcpReceiver struct {
	c   *subConn
	ctx *srtp.Context
	hdr rtcp.Header
	buf []byte // the decrypted packet
	out []byte // a retransmission's packet (see DownTrack.resend)

	onKeyframe func(uint32)                   // keyframe, as a value
	onNack     func(*rtcp.TransportLayerNack) // nack, as a value
}

func newRTCPReceiver(c *subConn, ctx *srtp.Context) *rtcpReceiver {
	r := &rtcpReceiver{c: c, ctx: ctx, buf: make([]byte, maxPacket+64), out: make([]byte, maxPacket)}
	r.onKeyframe, r.onNack = r.keyframe, r.nack
	return r
}

// receiveRTCP takes p, SRTCP from the connection's address: decrypted and
// acted on, each packet by the down track it names. One that fails
// decryption (forged, replayed) is dropped.
func (r *rtcpReceiver) receiveRTCP(p []byte, e *Engine) {
	if len(p) > maxPacket+srtpOverhead+4 {
		e.recvDropped.Add(1)
		return
	}
	plain, err := r.ctx.DecryptRTCP(r.buf[:0], p, &r.hdr)
	if err != nil || len(plain) == 0 || &plain[0] != &r.buf[0] {
		e.recvDropped.Add(1)
		return
	}
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		return
	}
	e.rtcpDirect.Add(1)
	now := time.Now()
	for _, p := range pkts {
		actOnFeedback(p, r.c.cc, now, r.onKeyframe, r.onNack)
	}
}

// keyframe and nack are what the subscriber's keyframe requests and NACKs
// do, for the down track they name (see actOnFeedback); taken as values
// once, in newRTCPReceiver, so that none is made per packet.
func (r *rtcpReceiver) keyframe(ssrc uint32) {
	if d := r.c.down(ssrc); d != nil {
		d.requestKeyframe()
	}
}

func (r *rtcpReceiver) nack(n *rtcp.TransportLayerNack) {
	if d := r.c.down(n.MediaSSRC); d != nil {
		d.retransmit(n, r.out)
	}
}

// downs keeps a subscribe connection's down tracks by the SSRC they are
// sent with, for the RTCP read on the direct path.
type downs struct {
	mu sync.Mutex
	m  map[uint32]*DownTrack
}

func (c *subConn) addDown(ssrc uint32, d *DownTrack) {
	c.downs.mu.Lock()
	defer c.downs.mu.Unlock()
	if c.downs.m == nil {
		c.downs.m = map[uint32]*DownTrack{}
	}
	c.downs.m[ssrc] = d
}

func (c *subConn) removeDown(ssrc uint32, d *DownTrack) {
	c.downs.mu.Lock()
	defer c.downs.mu.Unlock()
	if c.downs.m[ssrc] == d {
		delete(c.downs.m, ssrc)
	}
}

func (c *subConn) down(ssrc uint32) *DownTrack {
	c.downs.mu.Lock()
	defer c.downs.mu.Unlock()
	return c.downs.m[ssrc]
}
