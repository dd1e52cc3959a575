package sfu

import (
	"sync"
	"time"
)

// Stats are the media plane's counters and gauges, for monitoring. They
// are read from the tracks when asked for: counting costs the per-packet
// path nothing.
type Stats struct {
	UpTracks       int // published tracks now
	DownTracks     int // tracks sent to subscribers now
	RecordedTracks int // published tracks being recorded now
	Viewers        int // viewers (WHEP) now

	ReceivedPackets  uint64 // RTP packets read from publishers
	ForwardedPackets uint64 // RTP packets sent to subscribers and viewers, retransmissions included

	DirectConnections int64  // subscribe connections switched to the direct send path
	SocketSent        uint64 // packets sent on the shared UDP socket
	SocketDropped     uint64 // packets the shared UDP socket's queue or the kernel dropped

	// Publishers' packets read on the direct receive path, and those it
	// dropped: forged, replayed, too large (see directReceiver).
	DirectReceived, DirectReceiveDropped uint64
	// RTCP packets read on the direct path: subscribers' (see
	// rtcpReceiver) and publishers' of the streams it reads (see
	// senderRTCP); those dropped count among DirectReceiveDropped.
	DirectRTCP uint64

	// Video packets that waited in a subscriber's pacer, and those its
	// full queue dropped (see pacer).
	PacedPackets, PacerDropped uint64

	// Simulcast down tracks now by the layer they send (0 the lowest),
	// and those paused for congestion or hidden by their subscriber.
	LayerDowns           [maxLayers]int
	PausedDowns          int
	HiddenDowns          int
	LayerSwitches        uint64 // switches of a simulcast down track to another layer
	CongestionPauses     uint64 // videos paused for a subscriber's downlink
	CongestionControlled int    // subscribe connections (and viewers) whose feedback drives their layers now
	// Estimates are the downlink estimates of those connections, bits
	// per second.
	Estimates []float64
}

// trackStats keeps the live up tracks and the counts of those that ended.
type trackStats struct {
	mu                          sync.Mutex
	ups                         map[*UpTrack]struct{}
	endedReceived, endedForward uint64
	endedSwitches, endedPauses  uint64
}

func (t *trackStats) add(u *UpTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ups == nil {
		t.ups = make(map[*UpTrack]struct{})
	}
	t.ups[u] = struct{}{}
}

func (t *trackStats) remove(u *UpTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.ups[u]; !ok {
		return
	}
	delete(t.ups, u)
	t.endedReceived += u.packets.Load()
	t.endedForward += u.forwarded()
	t.endedSwitches += u.switches.Load()
	t.endedPauses += u.pauses.Load()
}

// forwarded is what the track sent to its subscribers: those attached
// now and those that left. Read under downMu, which detach holds while it
// moves a subscriber's count from one to the other, so that no read
// counts it twice or not at all.
func (u *UpTrack) forwarded() uint64 {
	u.downMu.Lock()
	defer u.downMu.Unlock()
	n := u.detachedSent.Load()
	for _, d := range *u.downs.Load() {
		n += d.packets.Load()
	}
	return n
}

// Stats returns the engine's counters now.
func (e *Engine) Stats() Stats {
	st := Stats{DirectConnections: e.direct.Load(), PacedPackets: e.pacing.paced.Load(), PacerDropped: e.pacing.dropped.Load(),
		DirectReceived: e.recvDirect.Load(), DirectReceiveDropped: e.recvDropped.Load(), DirectRTCP: e.rtcpDirect.Load()}
	if e.batch != nil {
		st.SocketSent, st.SocketDropped = e.batch.sent.Load(), e.batch.dropped.Load()
	}
	viewers, viewed := e.viewers.read()
	st.Viewers = viewers
	e.tracks.mu.Lock()
	defer e.tracks.mu.Unlock()
	st.ReceivedPackets, st.ForwardedPackets = e.tracks.endedReceived, e.tracks.endedForward+viewed
	st.LayerSwitches, st.CongestionPauses = e.tracks.endedSwitches, e.tracks.endedPauses
	now := time.Now().UnixNano()
	conns := map[*congestion]bool{}
	for u := range e.tracks.ups {
		st.UpTracks++
		st.DownTracks += len(*u.downs.Load())
		st.LayerSwitches += u.switches.Load()
		st.CongestionPauses += u.pauses.Load()
		for _, d := range *u.downs.Load() {
			if d.conn != nil && d.conn.cc != nil {
				if cc := d.conn.cc; !conns[cc] && cc.lastFeedback.Load() > now-int64(feedbackTimeout) {
					conns[cc] = true
					st.Estimates = append(st.Estimates, cc.Estimate())
				}
			}
			if d.follow == nil {
				continue
			}
			switch cur := d.follow.cur.Load(); {
			case d.told.Load():
				st.PausedDowns++
			case d.Paused():
				st.HiddenDowns++
			case cur >= 0 && int(cur) < maxLayers:
				st.LayerDowns[cur]++
			}
		}
		if recordedBy(u) {
			st.RecordedTracks++
		}
		st.ReceivedPackets += u.packets.Load()
		st.ForwardedPackets += u.forwarded()
	}
	st.Estimates = e.viewers.estimates(now, st.Estimates)
	return st
}

// recordedBy reports whether one of u's sinks is not a viewer's: a
// recording.
func recordedBy(u *UpTrack) bool {
	for _, g := range u.groups {
		for _, s := range *g.sinks.Load() {
			if _, viewer := s.(*viewSink); !viewer {
				return true
			}
		}
	}
	return false
}
