package sfu

import "sync"

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
}

// trackStats keeps the live up tracks and the counts of those that ended.
type trackStats struct {
	mu                          sync.Mutex
	ups                         map[*UpTrack]struct{}
	endedReceived, endedForward uint64
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
	st := Stats{DirectConnections: e.direct.Load()}
	if e.batch != nil {
		st.SocketSent, st.SocketDropped = e.batch.sent.Load(), e.batch.dropped.Load()
	}
	viewers, viewed := e.viewers.read()
	st.Viewers = viewers
	e.tracks.mu.Lock()
	defer e.tracks.mu.Unlock()
	st.ReceivedPackets, st.ForwardedPackets = e.tracks.endedReceived, e.tracks.endedForward+viewed
	for u := range e.tracks.ups {
		st.UpTracks++
		st.DownTracks += len(*u.downs.Load())
		for _, s := range *u.sinks.Load() {
			if _, viewer := s.(*viewSink); !viewer {
				st.RecordedTracks++
				break
			}
		}
		st.ReceivedPackets += u.packets.Load()
		st.ForwardedPackets += u.forwarded()
	}
	return st
}
