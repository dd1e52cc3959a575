package sfu

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// A viewer's streams under congestion control (ccStream): its video, of
// a simulcast source, is given the layers up to the one the estimate
// allows (upTo), as a sink of that group (see AddSinkUpTo), and is
// paused when not even the lowest fits; its audio always goes. A viewer
// is told of nothing: it has no signaling; its picture stops and comes
// back.

// source is the sink the stream follows or switches to; nil if none.
func (t *viewTrack) source() *viewSink {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sinks[t.f.target.Load()]
}

func (t *viewTrack) layered() bool {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return false
	}
	s := t.source()
	return s != nil && s.up.Simulcast()
}

// ccLayers says what the stream may be sent at now (see ccStream): the
// layers of its source, all of them shown.
func (t *viewTrack) ccLayers(now time.Time) ccLayers {
	s := t.source()
	if s == nil {
		return ccLayers{}
	}
	up := s.up
	if t.kind != webrtc.RTPCodecTypeVideo || !up.Simulcast() {
		return ccLayers{fixed: up.layers[0].bitrate(now)}
	}
	l := ccLayers{layered: true, count: up.layerCount()}
	for i := range l.count {
		l.rates[i] = up.layerRate(i, now)
		l.flows = l.flows || l.rates[i] > 0
	}
	return l
}

func (t *viewTrack) Paused() bool     { return t.paused.Load() }
func (t *viewTrack) pausedTold() bool { return t.paused.Load() && t.congested.Load() }

// pause stops the video. Nothing is followed until it resumes, and then
// from a keyframe (see SetTargetLayer).
func (t *viewTrack) pause(congested bool) {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.congested.Store(congested)
	if !t.paused.Swap(true) && congested {
		t.v.log.Debug("viewer's video paused: the downlink does not carry it")
	}
	t.f.cur.Store(-1)
	if cc := t.v.conn.cc; cc != nil && cc.pacer != nil {
		cc.pacer.forget(t)
	}
}

// TargetLayer is the highest layer the video may be given; -1 paused.
func (t *viewTrack) TargetLayer() int {
	if t.paused.Load() {
		return -1
	}
	return int(t.upTo.Load())
}

// SetTargetLayer gives the video the layers up to l of its source, from
// the next keyframe of the new ones (which is asked for), and resumes it
// if it was paused.
func (t *viewTrack) SetTargetLayer(l int) {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	l = max(0, min(l, maxLayers-1))
	t.mu.Lock()
	defer t.mu.Unlock()
	resume := t.paused.Load()
	if !resume && int(t.upTo.Load()) == l {
		return
	}
	t.upTo.Store(int32(l))
	if s := t.sinks[t.f.target.Load()]; s != nil {
		t.followLocked(s.up, resume)
	}
	// A paused video follows nothing (see pause): it resumes at the
	// keyframe of the sink just attached.
	t.paused.Store(false)
	t.congested.Store(false)
}

// CurrentLayer is the layer of its source the video is sent now; -1
// paused or before the first.
func (t *viewTrack) CurrentLayer() int {
	if t.paused.Load() {
		return -1
	}
	t.mu.Lock()
	s := t.sinks[t.f.cur.Load()]
	t.mu.Unlock()
	if s == nil {
		return -1
	}
	if f := s.up.group(int(s.upTo)).follow; f != nil {
		return int(f.cur.Load())
	}
	return 0
}

// climbToTop gives the video back the top layer: without feedback.
func (t *viewTrack) climbToTop() { t.SetTargetLayer(maxLayers - 1) }

// duplicate sends again the k-th latest (modulo 8) packet of the stream
// as a probe; 0 when there is none.
func (t *viewTrack) duplicate(k int, buf []byte) int {
	t.mu.Lock()
	seq, started := t.f.lastSeq-uint16(k%8), t.f.n > 0
	t.mu.Unlock()
	if !started {
		return 0
	}
	return t.resend(seq, buf, true)
}
