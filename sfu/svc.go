package sfu

import (
	"time"

	"sync/atomic"

	"github.com/pion/rtp"

	"parley/sfu/vp9"
)

// A VP9 video in one RTP stream may carry several spatial layers (SVC: a
// browser's scalabilityMode L3T3_KEY, L2T3…), each picture made of one
// layer frame per spatial layer, and several temporal layers, each
// picture of one. Its up track has one layer (one stream) and an
// svcTrack; each subscriber's down track has a follower whose layers
// are the spatial layers (target, cur) and whose svcFollow drops the
// packets of the spatial and temporal layers above its own. Allocation
// and preferences see the spatial layers as they see simulcast layers.

// svcTrack is what an up track knows of the layers of its VP9 stream.
// Written by the track's read loop, read by anyone.
type svcTrack struct {
	// spatial is the number of spatial layers: from the latest
	// scalability structure, or the highest spatial layer seen since,
	// at most maxLayers; 0 before either.
	spatial atomic.Int32
	// The layers' sizes from the latest scalability structure; 0 while
	// unknown.
	width, height [maxLayers]atomic.Int32
	// Each spatial layer's first and latest packet (unix nanoseconds),
	// and its own bytes.
	firstAt, lastAt [maxLayers]atomic.Int64
	rates           [maxLayers]rateMeter
}

// svcInfo is what a packet of an SVC track says to the followers, read
// once per packet by the track's read loop.
type svcInfo struct {
	ok       bool // the descriptor was read
	sid, tid uint8
	// picture: the first packet of a picture; keyframe: of a key
	// picture; switchUp: of a picture from which a higher temporal
	// layer may be decoded; end: the last packet of a layer frame.
	picture, keyframe, switchUp, end bool
}

// read reads payload's descriptor and notes its layer's bytes (size,
// the whole packet's), arrival and, from a scalability structure, the
// layers and their sizes.
func (s *svcTrack) read(payload []byte, size int, now time.Time, in *svcInfo) {
	d, err := vp9.Parse(payload)
	if err != nil {
		*in = svcInfo{}
		return
	}
	*in = svcInfo{ok: true, sid: d.SID, tid: d.TID, picture: d.PictureStart(), keyframe: d.Keyframe(),
		switchUp: d.SwitchingUp, end: d.End}
	if d.HasSS {
		n := min(d.SS.SpatialLayers, maxLayers)
		s.spatial.Store(int32(n))
		for i := range maxLayers {
			w, h := int32(0), int32(0)
			if d.SS.HasSizes && i < n {
				w, h = int32(d.SS.Width[i]), int32(d.SS.Height[i])
			}
			s.width[i].Store(w)
			s.height[i].Store(h)
		}
	}
	if int(d.SID) >= maxLayers {
		return
	}
	if sp := int32(d.SID) + 1; sp > s.spatial.Load() {
		s.spatial.Store(sp)
	}
	at := now.UnixNano()
	s.firstAt[d.SID].CompareAndSwap(0, at)
	s.lastAt[d.SID].Store(at)
	s.rates[d.SID].octets.Add(uint64(size))
}

// flowing tells whether spatial layer i flows at now (see
// layer.flowing).
func (s *svcTrack) flowing(i int32, now time.Time) bool {
	at := s.lastAt[i].Load()
	return at != 0 && now.UnixNano()-at <= int64(layerIdle)
}

// bitrate is what a subscriber of spatial layer i receives: the layer's
// own bytes and those of the layers below it, all forwarded; 0 when
// the layer itself does not flow.
func (s *svcTrack) bitrate(i int, now time.Time) float64 {
	if !s.flowing(int32(i), now) {
		return 0
	}
	var r float64
	for l := 0; l <= i; l++ {
		r += s.rates[l].bitrate(now, s.firstAt[l].Load())
	}
	return r
}

// fanOutSVC writes a packet of an SVC track to its subscribers, each
// with the layers it follows, and whole to the sinks.
func (u *UpTrack) fanOutSVC(pkt *rtp.Packet, size int, now time.Time) {
	var in svcInfo
	u.svc.read(pkt.Payload, size, now, &in)
	for _, d := range *u.downs.Load() {
		d.writeSVC(pkt, &in, now)
	}
	for _, s := range *u.groups[0].sinks.Load() {
		s.WriteRTP(pkt)
	}
}

// allTemporal is the temporal target that keeps every temporal layer.
const allTemporal = 7

// svcMapSize is how many of the latest sequence numbers a follower of
// an SVC track maps both ways: as many as the packet cache keeps, since
// a NACK of an older packet cannot be answered.
const svcMapSize = cacheSize

// svcGapKept bounds the sequence numbers skipped at once (lost on the
// way in, or reordered) whose numbers are kept for their packets to
// come late; past it, those that come are dropped.
const svcGapKept = 64

// svcFollow is a follower's state for an SVC track: its temporal layers,
// and the renumbering of what it sends. Guarded by the follower's mu but
// for targetT.
type svcFollow struct {
	targetT atomic.Int32 // the highest temporal layer wanted
	curT    int32        // the highest temporal layer sent now
	begun   bool         // a packet was seen
	lastIn  uint16       // the newest sequence number seen
	// offset is what is taken from a new packet's sequence number: the
	// packets dropped since the first sent.
	offset uint16
	fwd    [svcMapSize]svcSeq // by the publisher's number
	back   [svcMapSize]svcSeq // by the subscriber's number
}

// svcSeq pairs a packet's sequence number from the publisher (in) with
// the subscriber's (out). marker is the marker bit it was sent with;
// sent: it was (a number may be given before its packet comes).
type svcSeq struct {
	in, out     uint16
	valid, sent bool
	marker      bool
}

func newSVCFollow() *svcFollow {
	s := &svcFollow{curT: allTemporal}
	s.targetT.Store(allTemporal)
	return s
}

// keeps tells whether the follower sends a packet of these layers now.
// Called locked.
func (f *follower) keeps(in *svcInfo) bool {
	cur := f.cur.Load()
	return in.ok && cur >= 0 && int32(in.sid) <= cur && int32(in.tid) <= f.svc.curT
}

// switchSVC applies the targets at the first packet of a picture: a
// lower layer at once; a higher spatial layer, or the first, only at a
// key picture (the layer frames of a picture that is not one are
// predicted from the same layer's earlier ones, which were not sent),
// and a higher temporal layer at a key picture or a switching up point.
// top is the highest spatial layer the subscriber's preference allows,
// for the default climb. It returns true while a key picture is waited
// for. Called locked.
func (f *follower) switchSVC(in *svcInfo, top int32) (ask bool) {
	s := f.svc
	if in.keyframe && f.climb {
		f.climb = false
		if top >= 0 {
			f.target.Store(top)
		}
	}
	target, cur := f.target.Load(), f.cur.Load()
	switch {
	case target < 0:
		f.cur.Store(-1)
		return false
	case in.keyframe && target != cur:
		f.cur.Store(target)
	case target < cur:
		f.cur.Store(target)
	case target > cur:
		ask = true
	}
	tT := s.targetT.Load()
	switch {
	case in.keyframe || tT < s.curT:
		s.curT = tT
	case tT > s.curT && in.switchUp && int32(in.tid) <= s.curT:
		s.curT = tT
	}
	return ask
}

// nextSVC decides whether the follower sends packet p of an SVC track,
// and with which sequence number and marker bit: the packets of layers
// above its own are dropped and the later ones renumbered so that the
// subscriber sees no gap, and the marker ends each picture at the last
// packet of the highest spatial layer sent. Numbers the publisher
// skipped keep theirs, for packets that come late. ask is true while a
// key picture is waited for. Called locked.
func (f *follower) nextSVC(p *rtp.Packet, in *svcInfo, top int32) (out uint16, marker, ok, ask bool) {
	s := f.svc
	seq := p.SequenceNumber
	if !s.begun {
		s.begun, s.lastIn = true, seq-1
	}
	if int16(seq-s.lastIn) <= 0 {
		// Late, or a repeat: sent with the number kept for it.
		e := &s.fwd[seq%svcMapSize]
		if !e.valid || e.in != seq || e.sent || !f.keeps(in) {
			return 0, false, false, false
		}
		marker = f.marks(p, in)
		f.sent(e, marker)
		return e.out, marker, true, false
	}
	for x := s.lastIn + 1; x != seq && x-s.lastIn <= svcGapKept; x++ {
		s.fwd[x%svcMapSize] = svcSeq{in: x, out: x - s.offset, valid: true}
	}
	s.lastIn = seq
	if in.picture {
		ask = f.switchSVC(in, top)
	}
	e := &s.fwd[seq%svcMapSize]
	if !f.keeps(in) {
		if f.n > 0 { // before the first packet sent, numbers are free
			s.offset++
		}
		e.valid = false
		return 0, false, false, ask
	}
	*e = svcSeq{in: seq, out: seq - s.offset, valid: true}
	marker = f.marks(p, in)
	f.sent(e, marker)
	if f.n == 0 || int16(e.out-f.lastSeq) > 0 {
		f.lastSeq = e.out
	}
	f.n = 1
	return e.out, marker, true, ask
}

// marks is the marker bit of a packet sent: the publisher's (the end of
// its picture), or the end of the layer frame of the highest spatial
// layer sent. Called locked.
func (f *follower) marks(p *rtp.Packet, in *svcInfo) bool {
	return p.Marker || in.end && int32(in.sid) == f.cur.Load()
}

// sent records that e's packet was sent with marker. Called locked.
func (f *follower) sent(e *svcSeq, marker bool) {
	e.sent, e.marker = true, marker
	f.svc.back[e.out%svcMapSize] = *e
}

// lookupSVC finds the publisher's number of the packet sent as seq, and
// its marker bit. Called locked.
func (s *svcFollow) lookup(seq uint16) (in uint16, marker, ok bool) {
	e := s.back[seq%svcMapSize]
	if !e.valid || !e.sent || e.out != seq {
		return 0, false, false
	}
	return e.in, e.marker, true
}

// writeSVC forwards a packet of an SVC track if the down track keeps
// its layers (see follower.nextSVC). Called only on the track's
// forwarding goroutine.
func (d *DownTrack) writeSVC(p *rtp.Packet, in *svcInfo, now time.Time) {
	b := d.binding.Load()
	if b == nil {
		return
	}
	f := d.follow
	top := int32(-1)
	if in.keyframe {
		top = int32(d.maxLayer())
	}
	arrival := now.UnixNano()
	f.mu.Lock()
	was := f.cur.Load()
	out, marker, ok, ask := f.nextSVC(p, in, top)
	if now := f.cur.Load(); was >= 0 && now >= 0 && now != was {
		d.up.switches.Add(1)
	}
	if ok {
		d.hdr = p.Header
		d.hdr.SequenceNumber, d.hdr.Marker = out, marker
		b.rewrite(&d.hdr)
		d.send(b, &d.hdr, p.Payload, arrival, &d.ext, false)
	}
	f.mu.Unlock()
	if ask {
		d.up.layers[0].requestKeyframe()
	}
}

// SetTargetTemporal makes the down track of an SVC track send the
// temporal layers up to t (0 the lowest frame rate), from the next
// picture for fewer, from the next switching up point or key picture
// for more. It does nothing for another track.
func (d *DownTrack) SetTargetTemporal(t int) {
	if f := d.follow; f != nil && f.svc != nil {
		f.svc.targetT.Store(int32(max(0, min(t, allTemporal))))
	}
}
