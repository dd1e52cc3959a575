package sfu

import (
	"sync"

	"github.com/pion/interceptor"
)

// onDemand makes a connection's interceptor of inner only when a remote
// stream that it serves is bound: Pion's NACK generator ticks ten times a
// second from its connection's start, also on a connection that publishes
// only audio, for which NACKs are not negotiated (registerNackFeedback).
// Fifty such publishers cost the server 500 timer wake-ups a second for
// nothing.
type onDemand struct {
	inner interceptor.Factory
	// wants tells whether a stream needs the interceptor.
	wants func(*interceptor.StreamInfo) bool
}

// NewInterceptor implements interceptor.Factory.
func (f onDemand) NewInterceptor(id string) (interceptor.Interceptor, error) {
	return &onDemandInterceptor{f: f, id: id}, nil
}

type onDemandInterceptor struct {
	interceptor.NoOp
	f  onDemand
	id string

	mu     sync.Mutex
	writer interceptor.RTCPWriter
	inner  interceptor.Interceptor // nil until a stream wants it
	closed bool
}

func (o *onDemandInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writer = w
	if o.inner != nil {
		return o.inner.BindRTCPWriter(w)
	}
	return w
}

func (o *onDemandInterceptor) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if !o.f.wants(info) {
		return r
	}
	o.mu.Lock()
	if o.inner == nil && !o.closed {
		in, err := o.f.inner.NewInterceptor(o.id)
		if err != nil {
			o.mu.Unlock()
			return r
		}
		o.inner = in
		if o.writer != nil {
			in.BindRTCPWriter(o.writer)
		}
	}
	in := o.inner
	o.mu.Unlock()
	if in == nil {
		return r
	}
	return in.BindRemoteStream(info, r)
}

func (o *onDemandInterceptor) UnbindRemoteStream(info *interceptor.StreamInfo) {
	o.mu.Lock()
	in := o.inner
	o.mu.Unlock()
	if in != nil {
		in.UnbindRemoteStream(info)
	}
}

func (o *onDemandInterceptor) Close() error {
	o.mu.Lock()
	o.closed = true
	in := o.inner
	o.mu.Unlock()
	if in != nil {
		return in.Close()
	}
	return nil
}

// wantsNack tells whether a stream negotiated NACKs.
func wantsNack(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}
