package sfu

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"parley/sfu/vp8"
)

// codecKind is what the SFU knows how to read in a video payload.
type codecKind uint8

const (
	codecOther codecKind = iota
	codecVP8
	codecVP9
	codecH264
)

func codecKindOf(mime string) codecKind {
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		return codecVP8
	case strings.EqualFold(mime, webrtc.MimeTypeVP9):
		return codecVP9
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		return codecH264
	}
	return codecOther
}

// packetInfo is what a simulcast layer's packet says to the followers,
// read once per packet by the layer's read loop.
type packetInfo struct {
	// keyframe: the packet begins a keyframe, where a follower may
	// switch to its layer.
	keyframe bool
	vp8ok    bool // vp8 was parsed
	vp8      vp8.Descriptor
}

func (in *packetInfo) read(kind codecKind, payload []byte) {
	switch kind {
	case codecVP8:
		d, err := vp8.Parse(payload)
		in.vp8ok = err == nil
		in.vp8 = d
		in.keyframe = in.vp8ok && d.Keyframe
	case codecVP9:
		in.keyframe = vp9Keyframe(payload)
	case codecH264:
		in.keyframe = h264Keyframe(payload)
	}
}

// vp9Keyframe tells the first packet of a VP9 keyframe: the payload
// descriptor's B (beginning of a frame) set and P (inter-picture
// predicted) clear.
func vp9Keyframe(payload []byte) bool {
	return len(payload) > 0 && payload[0]&0x40 == 0 && payload[0]&0x08 != 0
}

// h264Keyframe tells the packet that begins a keyframe: one that carries
// a sequence parameter set, alone or in a STAP-A, which is how browsers
// and encoders begin an IDR picture. A new layer's picture has its own
// size, so a switch must not begin after its SPS.
func h264Keyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	switch payload[0] & 0x1f {
	case 7:
		return true
	case 24: // STAP-A: 16-bit sizes, each followed by a NAL unit
		for i := 1; i+2 < len(payload); {
			size := int(payload[i])<<8 | int(payload[i+1])
			if size == 0 || i+2+size > len(payload) {
				return false
			}
			if payload[i+2]&0x1f == 7 {
				return true
			}
			i += 2 + size
		}
	}
	return false
}

// epochsKept is how many of a follower's latest layer switches are kept
// to map a NACK back to the packet it names.
const epochsKept = 4

// epoch is a stretch of a follower's stream taken from one layer, and
// the offsets that make that layer continue what came before it.
type epoch struct {
	layer   int32
	start   uint16 // the first sequence number sent in it
	firstIn uint16 // that packet's sequence number in the layer
	seq     uint16 // added to the layer's sequence numbers
	ts      uint32 // added to its timestamps
	pic     uint16 // added to its VP8 picture IDs
	tl0     uint8  // added to its TL0PICIDX
	keyIdx  uint8  // added to its key index
}

// follower makes one continuous stream out of the layers of a simulcast
// up track: for one subscriber (a DownTrack) or for the sinks. It follows
// one layer, cur, and switches to another, target, only at a keyframe of
// that layer, so that the decoder has a picture to start from; until then
// cur continues. Across a switch the stream keeps one SSRC (the
// subscriber's), sequence numbers without a gap or a repeat, timestamps
// that go on by about a frame, and VP8 picture IDs, TL0PICIDX and key
// indexes that go on by one, so that the decoder waits on no frame that
// never comes.
//
// target may be set at any time from any goroutine; everything else is
// guarded by mu, taken by the layers' read loops (each a goroutine) and
// by retransmissions.
type follower struct {
	target atomic.Int32
	cur    atomic.Int32 // -1 before the first keyframe

	mu sync.Mutex
	// climb: once the first keyframe is sent, target becomes the highest
	// layer (see DownTrack.writeLayer).
	climb bool
	// cap is the highest layer a down track's last SetTargetLayer allows
	// when it chooses its layer itself (DownTrack.followFlowing); -1: no
	// cap but the subscriber's preference.
	cap    int32
	epochs [epochsKept]epoch
	n      int // epochs begun; the latest is epochs[(n-1)%epochsKept]
	// The latest packet sent, in sequence order.
	lastSeq                   uint16
	lastTS                    uint32
	lastArrival               int64
	lastPic                   uint16
	lastTL0, lastKeyIdx       uint8
	hasPic, hasTL0, hasKeyIdx bool
	frame                     uint32 // timestamp step between the last two frames: a frame interval

	// svc is the state of a follower of the spatial layers of an SVC
	// track (see svcFollow); nil for simulcast. Its epochs stay unused.
	svc *svcFollow
}

func newFollower(target int32, climb bool) *follower {
	f := &follower{climb: climb, cap: -1}
	f.cur.Store(-1)
	f.target.Store(target)
	return f
}

// wants tells, without the lock, whether a packet of layer l may be for
// this follower.
func (f *follower) wants(l int32) bool { return l == f.cur.Load() || l == f.target.Load() }

// latest is the epoch being sent; nil before the first. Called locked.
func (f *follower) latest() *epoch {
	if f.n == 0 {
		return nil
	}
	return &f.epochs[(f.n-1)%epochsKept]
}

// next makes h and the returned payload the follower's copy of packet p
// of layer l, arrived at arrival (unix nanoseconds), switching to l if
// it is the target and p begins a keyframe; ok is false for a packet not
// to send. ask is true for the last packet of a frame of the target
// layer that was not a keyframe: the caller asks for one again (the
// throttle keeps that to one request per interval). A rewritten VP8
// payload is written to scratch. Called locked.
func (f *follower) next(l int32, p *rtp.Packet, in *packetInfo, arrival int64, rate uint32, h *rtp.Header, scratch []byte) (payload []byte, ok, ask bool) {
	if l != f.cur.Load() {
		if l != f.target.Load() {
			return nil, false, false
		}
		if !in.keyframe {
			return nil, false, p.Marker
		}
		f.begin(l, p, in, arrival, rate)
	}
	e := f.latest()
	out := p.SequenceNumber + e.seq
	// A packet from before the switch came late: dropped. Told apart as
	// older than the last one sent and before the epoch's start, while
	// the epoch is young (less than half the sequence space sent): past
	// that, every number is the epoch's own.
	if int16(out-f.lastSeq) <= 0 && int16(out-e.start) < 0 && int16(f.lastSeq-e.start) >= 0 {
		return nil, false, false
	}
	*h = p.Header
	h.SequenceNumber = out
	h.Timestamp = p.Timestamp + e.ts
	payload = p.Payload
	d := &in.vp8
	var pic uint16
	var tl0, keyIdx uint8
	if in.vp8ok {
		pic = (d.PictureID + e.pic) & d.PictureIDMask()
		tl0, keyIdx = d.TL0PICIDX+e.tl0, (d.KeyIdx+e.keyIdx)&0x1f
		if (d.HasPictureID || d.HasTL0PICIDX || d.HasKeyIdx) && len(p.Payload) <= len(scratch) {
			payload = scratch[:copy(scratch, p.Payload)]
			d.Rewrite(payload, pic, tl0, keyIdx)
		}
	}
	first := f.n == 1 && h.SequenceNumber == e.start
	if first || int16(h.SequenceNumber-f.lastSeq) > 0 {
		if step := h.Timestamp - f.lastTS; !first && step != 0 && step < rate {
			f.frame = step
		}
		f.lastSeq, f.lastTS, f.lastArrival = h.SequenceNumber, h.Timestamp, arrival
		if in.vp8ok {
			f.hasPic, f.lastPic = d.HasPictureID, pic
			f.hasTL0, f.lastTL0 = d.HasTL0PICIDX, tl0
			f.hasKeyIdx, f.lastKeyIdx = d.HasKeyIdx, keyIdx
		}
	}
	return payload, true, false
}

// maxGap bounds the time a switch may skip in the timestamps: a layer
// that paused longer still resumes this far after the last frame.
const maxGap = 60 // seconds

// begin starts an epoch on layer l at p, the first packet of a
// keyframe. The first epoch passes the layer's numbers unchanged; each
// later one goes on from the last packet sent: the next sequence number,
// a timestamp a frame interval later (or as much later as the packets
// arrived, if more), the next picture ID, TL0PICIDX and key index.
// Called locked.
func (f *follower) begin(l int32, p *rtp.Packet, in *packetInfo, arrival int64, rate uint32) {
	e := epoch{layer: l, firstIn: p.SequenceNumber, start: p.SequenceNumber}
	if f.n > 0 {
		e.start = f.lastSeq + 1
		e.seq = e.start - p.SequenceNumber
		step := f.frame
		if step == 0 {
			step = rate / 30
		}
		if gap := arrival - f.lastArrival; gap > 0 {
			gap = min(gap, maxGap*1e9)
			if ticks := uint32(gap * int64(rate) / 1e9); ticks > step {
				step = ticks
			}
		}
		e.ts = f.lastTS + max(step, 1) - p.Timestamp
		if d := &in.vp8; in.vp8ok {
			if f.hasPic && d.HasPictureID {
				e.pic = f.lastPic + 1 - d.PictureID
			}
			if f.hasTL0 && d.HasTL0PICIDX {
				e.tl0 = f.lastTL0 + 1 - d.TL0PICIDX
			}
			if f.hasKeyIdx && d.HasKeyIdx {
				e.keyIdx = f.lastKeyIdx + 1 - d.KeyIdx
			}
		}
	}
	f.epochs[f.n%epochsKept] = e
	f.n++
	f.cur.Store(l)
}

// lookup finds the epoch that sent sequence number seq, and the layer's
// sequence number of that packet: an epoch sent the numbers from its
// start to the next one's (the latest, to the last packet sent). Called
// locked.
func (f *follower) lookup(seq uint16) (epoch, uint16, bool) {
	if f.n == 0 {
		return epoch{}, 0, false
	}
	end := f.lastSeq + 1
	for i := 0; i < min(f.n, epochsKept); i++ {
		e := f.epochs[(f.n-1-i)%epochsKept]
		if seq-e.start < end-e.start {
			return e, seq - e.seq, true
		}
		end = e.start
	}
	return epoch{}, 0, false
}

// rewriteAgain makes packet p, taken again from the cache of e's layer,
// what it was when sent in epoch e: for a retransmission. Its payload is
// rewritten in place.
func (e *epoch) rewriteAgain(kind codecKind, p *rtp.Packet) {
	p.SequenceNumber += e.seq
	p.Timestamp += e.ts
	if kind != codecVP8 {
		return
	}
	if d, err := vp8.Parse(p.Payload); err == nil {
		d.Rewrite(p.Payload, (d.PictureID+e.pic)&d.PictureIDMask(), d.TL0PICIDX+e.tl0, (d.KeyIdx+e.keyIdx)&0x1f)
	}
}
