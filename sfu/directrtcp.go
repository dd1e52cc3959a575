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
}

// receiveRTCP takes p, SRTCP from the connection's address: decrypted and
// acted on. One that fails decryption (forged, replayed) is dropped.
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
	r.c.feedback(pkts, r.out)
}

// feedback acts on a subscriber's RTCP: keyframe requests go upstream,
// NACKs are answered (with buf as the packet's buffer), transport-cc
// feedback and REMB go to the congestion control.
func (c *subConn) feedback(pkts []rtcp.Packet, buf []byte) {
	now := time.Now()
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication:
			if d := c.down(p.MediaSSRC); d != nil {
				d.requestKeyframe()
			}
		case *rtcp.FullIntraRequest:
			for _, ssrc := range p.DestinationSSRC() {
				if d := c.down(ssrc); d != nil {
					d.requestKeyframe()
				}
			}
		case *rtcp.TransportLayerNack:
			if d := c.down(p.MediaSSRC); d != nil {
				d.retransmit(p, buf)
			}
		case *rtcp.TransportLayerCC:
			if c.cc != nil {
				c.cc.onFeedback(p, now)
			}
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			if c.cc != nil {
				c.cc.onREMB(p.Bitrate, now)
			}
		}
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
