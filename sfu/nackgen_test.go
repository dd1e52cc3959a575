package sfu

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// countingFactory makes interceptors that count what is bound to them.
type countingFactory struct{ made []*countingInterceptor }

func (f *countingFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	c := &countingInterceptor{}
	f.made = append(f.made, c)
	return c, nil
}

type countingInterceptor struct {
	interceptor.NoOp
	writers, streams, unbound, closed int
}

func (c *countingInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	c.writers++
	return w
}

func (c *countingInterceptor) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	c.streams++
	return r
}

func (c *countingInterceptor) UnbindRemoteStream(*interceptor.StreamInfo) { c.unbound++ }

func (c *countingInterceptor) Close() error { c.closed++; return nil }

// TestOnDemand: the NACK generator of a connection is made at its first
// stream that negotiated NACKs, bound to the connection's RTCP writer,
// and closed with the connection; a connection of audio alone has none.
func TestOnDemand(t *testing.T) {
	inner := &countingFactory{}
	f := onDemand{inner: inner, wants: wantsNack}
	audioInfo := &interceptor.StreamInfo{SSRC: 1, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "transport-cc"}}}
	videoInfo := &interceptor.StreamInfo{SSRC: 2, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}
	w := interceptor.RTCPWriterFunc(func([]rtcp.Packet, interceptor.Attributes) (int, error) { return 0, nil })

	audioOnly, _ := f.NewInterceptor("a")
	audioOnly.BindRTCPWriter(w)
	audioOnly.BindRemoteStream(audioInfo, nil)
	audioOnly.UnbindRemoteStream(audioInfo)
	audioOnly.Close()
	if len(inner.made) != 0 {
		t.Fatalf("a connection of audio alone made %d NACK generators", len(inner.made))
	}

	both, _ := f.NewInterceptor("b")
	both.BindRTCPWriter(w)
	both.BindRemoteStream(audioInfo, nil)
	both.BindRemoteStream(videoInfo, nil)
	both.BindRemoteStream(videoInfo, nil)
	both.UnbindRemoteStream(videoInfo)
	both.Close()
	if len(inner.made) != 1 {
		t.Fatalf("%d NACK generators made for a connection with video", len(inner.made))
	}
	if g := inner.made[0]; g.writers != 1 || g.streams != 2 || g.unbound != 1 || g.closed != 1 {
		t.Errorf("the generator had %d writers, %d streams, %d unbound, closed %d times; want 1, 2, 1, 1", g.writers, g.streams, g.unbound, g.closed)
	}
}
