package sfu

import (
	"log/slog"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// A browser addresses each transport-cc feedback packet to the SSRC of
// the last packet it received: after a probe packet, which goes on the
// RTX stream, to the RTX SSRC. Pion opens an RTCP read stream for a
// sender's media SSRC only and drops what comes for any other, so the
// feedback on a probe would mostly be lost, and the probe prove nothing.
// rtxFeedback opens the read stream of the RTX SSRC itself and passes its
// feedback to the connection's congestion control.
type rtxFeedback struct {
	stream *srtp.ReadStreamSRTCP
	done   chan struct{}
}

// start reads the RTCP for sender's RTX SSRC rtxSSRC (none if 0), for
// congestion control cc, on a goroutine that stop ends and waits for.
// Called once the connection's SRTP session is up (the first RTCP of
// the track came), before any probe is sent (see probeWarmup).
func (r *rtxFeedback) start(sender *webrtc.RTPSender, rtxSSRC uint32, cc *congestion, log *slog.Logger) {
	if cc == nil || rtxSSRC == 0 || r.stream != nil {
		return
	}
	sess, ok := srtcpSessionOf(sender.Transport())
	if !ok {
		log.Warn("the SRTCP session is not where this version of Pion was expected to keep it: probes' feedback is partly lost")
		return
	}
	s, err := sess.OpenReadStream(rtxSSRC)
	if err != nil {
		return
	}
	r.stream, r.done = s, make(chan struct{})
	go func() {
		defer close(r.done)
		buf := make([]byte, maxPacket)
		for {
			n, err := s.Read(buf)
			if err != nil {
				return
			}
			pkts, err := rtcp.Unmarshal(buf[:n])
			if err != nil {
				continue
			}
			for _, p := range pkts {
				if fb, ok := p.(*rtcp.TransportLayerCC); ok {
					cc.onFeedback(fb, time.Now())
				}
			}
		}
	}()
}

// stop closes the read stream and waits for its reader.
func (r *rtxFeedback) stop() {
	if r.stream == nil {
		return
	}
	_ = r.stream.Close()
	<-r.done
}

// srtcpSessionOf returns the SRTCP session of t, which Pion does not
// export. ok is false before the session starts, or if this version of
// Pion keeps it otherwise (TestProbeFeedbackOnRTX then fails).
func srtcpSessionOf(t *webrtc.DTLSTransport) (*srtp.SessionSRTCP, bool) {
	if t == nil {
		return nil, false
	}
	f := reflect.ValueOf(t).Elem().FieldByName("srtcpSession")
	if !f.IsValid() || f.Type() != reflect.TypeFor[atomic.Value]() {
		return nil, false
	}
	s, ok := (*atomic.Value)(f.Addr().UnsafePointer()).Load().(*srtp.SessionSRTCP)
	return s, ok && s != nil
}
