package capture

import (
	"sync"
	"time"

	"github.com/pion/rtp"

	"parley/sfu"
)

// maxHeld bounds the packets a Hold keeps: past it the oldest go (the
// recorder asks for a keyframe if the first went). 1,024 is 3 s, which
// a WHIP session waits for its tracks at most, of a 3 Mbit/s camera,
// and with an audio track's fits in the recorder's queue.
const maxHeld = 1024

// A Hold is a Track whose packets are kept from the moment it is made
// until a recording takes them, so that a recording that starts late
// still begins at the track's first packet: a WHIP session records
// once all the tracks its offer announced have arrived, and the first
// arrives earlier. Each packet keeps its arrival time, which the
// recorder uses to place it. The recording's sink, added with AddSink,
// first gets what was kept, then every packet as it comes; once the
// recording removes its sink the Hold keeps nothing more. Release
// detaches it from its track.
type Hold struct {
	Track

	mu       sync.Mutex
	kept     []heldPacket
	sink     sfu.Sink
	released bool // a sink came and went, or Release: keep nothing
}

type heldPacket struct {
	pkt *rtp.Packet
	at  time.Time
}

// arrivalWriter is a sink that takes a packet's arrival time
// (recorder.Sink).
type arrivalWriter interface {
	WriteRTPAt(p *rtp.Packet, arrival time.Time)
}

// NewHold starts keeping t's packets.
func NewHold(t Track) *Hold {
	h := &Hold{Track: t}
	t.AddSink(h)
	return h
}

// WriteRTP implements sfu.Sink: the packet goes to the recording's sink,
// or is kept until one comes.
func (h *Hold) WriteRTP(p *rtp.Packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.sink != nil:
		h.sink.WriteRTP(p)
	case h.released:
	default:
		if len(h.kept) == maxHeld {
			h.kept[0] = heldPacket{}
			h.kept = h.kept[1:]
		}
		cp := &rtp.Packet{Header: p.Header.Clone(), Payload: append([]byte(nil), p.Payload...)}
		h.kept = append(h.kept, heldPacket{pkt: cp, at: time.Now()})
	}
}

// AddSink gives s what was kept, with its arrival times if s takes them,
// then every packet as it comes. A Hold feeds one sink; a second one
// replaces the first.
func (h *Hold) AddSink(s sfu.Sink) {
	h.mu.Lock()
	defer h.mu.Unlock()
	aw, timed := s.(arrivalWriter)
	for _, k := range h.kept {
		if timed {
			aw.WriteRTPAt(k.pkt, k.at)
		} else {
			s.WriteRTP(k.pkt)
		}
	}
	h.kept = nil
	h.sink = s
}

// RemoveSink stops feeding s; the Hold keeps nothing after it.
func (h *Hold) RemoveSink(s sfu.Sink) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sink == s {
		h.sink = nil
		h.released = true
	}
}

// Release detaches the Hold from its track and drops what it kept.
func (h *Hold) Release() {
	h.Track.RemoveSink(h)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kept, h.sink, h.released = nil, nil, true
}
