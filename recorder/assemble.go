package recorder

import (
	"github.com/pion/rtp"
)

// assembler puts one track's RTP packets back in order and joins them into
// frames. It holds a window of a few hundred packets: a ring indexed by
// sequence number. (Pion's samplebuilder, which does the same, keeps two
// arrays of 65,536 pointers, 1 MiB per recorded track, which was most of
// the memory of a server recording many clips.)
//
// A frame is complete when its packets, from a partition head to a
// partition tail of one timestamp, are all present. A missing packet is
// waited for until maxLate newer packets have come or the packets held
// span maxDelay of RTP time; then it is given up, with the frame it
// belonged to.
//
// The assembler owns the packets it is given until it gives them back
// through release, each exactly once: dropped, given up, or joined into a
// frame. A frame's data is appended to a buffer from buffer, which then
// belongs to whoever pops the frame.
type assembler struct {
	dep      rtp.Depacketizer
	slots    []*rtp.Packet // len is a power of two; index seq & mask
	mask     uint16
	maxLate  uint16
	maxDelay uint32 // in RTP clock ticks

	started bool
	taken   bool        // the head has moved: something was taken or given up
	jump    *rtp.Packet // a packet far outside the window, awaiting a second
	head    uint16      // oldest sequence number not yet taken
	newest  uint16      // newest sequence number held
	ready   []frame     // complete frames, from ready[popped]
	popped  int

	release func(*rtp.Packet) // gives back a packet; nil: none
	buffer  func() []byte     // an empty buffer for a frame; nil: a new one
	unused  func([]byte)      // gives back a buffer of a frame dropped; nil: none
}

type frame struct {
	data []byte
	ts   uint32
}

// newAssembler makes an assembler with a window of window packets (a
// power of two, at least 2*maxLate).
func newAssembler(dep rtp.Depacketizer, window, maxLate uint16, maxDelay uint32) *assembler {
	if window == 0 || window&(window-1) != 0 || window/2 < maxLate {
		panic("assembler: the window must be a power of two of at least 2*maxLate")
	}
	return &assembler{dep: dep, slots: make([]*rtp.Packet, window), mask: window - 1, maxLate: maxLate, maxDelay: maxDelay}
}

// push takes a packet. A duplicate, or one older than what was already
// taken, is dropped. Two packets in a row far outside the window (the
// sender's sequence jumped) end what is held and start again from them;
// a single stray one is dropped.
func (a *assembler) push(p *rtp.Packet) {
	seq := p.SequenceNumber
	if a.started {
		d := int16(seq - a.head)
		switch {
		case d < 0 && !a.taken && a.newest-seq <= a.mask:
			a.head = seq // the first packets came out of order
		case d < 0 && d >= -int16(a.mask):
			a.drop(p) // late: its place was given up or taken
			return
		case d < 0 || uint16(d) > a.mask:
			if a.jump == nil || a.jump.SequenceNumber+1 != seq {
				a.drop(a.jump)
				a.jump = p
				return
			}
			first := a.jump
			a.assemble(true)
			a.started, a.jump = false, nil
			a.push(first)
		}
	}
	a.drop(a.jump)
	a.jump = nil
	if !a.started {
		a.started, a.taken, a.head, a.newest = true, false, seq, seq
	}
	if int16(seq-a.newest) > 0 {
		a.newest = seq
	}
	if a.slots[seq&a.mask] != nil {
		a.drop(p) // a duplicate
		return
	}
	a.slots[seq&a.mask] = p
	a.assemble(false)
}

// drop gives back a packet that is not kept; nil is none.
func (a *assembler) drop(p *rtp.Packet) {
	if p != nil && a.release != nil {
		a.release(p)
	}
}

// pop returns the next complete frame, or false.
func (a *assembler) pop() (frame, bool) {
	if a.popped == len(a.ready) {
		return frame{}, false
	}
	f := a.ready[a.popped]
	a.ready[a.popped] = frame{}
	if a.popped++; a.popped == len(a.ready) {
		a.ready, a.popped = a.ready[:0], 0 // the array is reused
	}
	return f, true
}

// flush gives up every missing packet: the complete frames held become
// ready, the incomplete ones are dropped.
func (a *assembler) flush() {
	if a.started {
		a.assemble(true)
	}
}

// assemble takes complete frames from the head of the window. With all,
// it gives up missing packets at once.
func (a *assembler) assemble(all bool) {
	for a.head != a.newest+1 {
		p := a.slots[a.head&a.mask]
		if p == nil {
			if !all && !a.giveUp() {
				return
			}
			a.advance()
			continue
		}
		if !a.dep.IsPartitionHead(p.Payload) {
			// The rest of a frame whose start was lost; before anything
			// was taken, its start may still come.
			if !a.taken && !all && !a.giveUp() {
				return
			}
			a.drop(p)
			a.slots[a.head&a.mask] = nil
			a.advance()
			continue
		}
		end, ok := a.frameEnd()
		if !ok {
			if !all && !a.giveUp() {
				return
			}
			// Give up the incomplete frame: its packets up to the gap.
			for a.head != end {
				a.drop(a.slots[a.head&a.mask])
				a.slots[a.head&a.mask] = nil
				a.advance()
			}
			continue
		}
		a.take(end)
	}
}

// frameEnd finds the frame that starts at head: ok with the sequence
// number after its last packet, or not ok with that of the first missing
// one. The frame ends at a partition tail, or before a packet of another
// timestamp.
func (a *assembler) frameEnd() (uint16, bool) {
	first := a.slots[a.head&a.mask]
	for s := a.head; ; s++ {
		p := a.slots[s&a.mask]
		if p == nil {
			return s, false
		}
		if p.Timestamp != first.Timestamp {
			return s, true
		}
		if a.dep.IsPartitionTail(p.Marker, p.Payload) {
			return s + 1, true
		}
		if s == a.newest {
			return s + 1, false // the tail has not come yet
		}
	}
}

// giveUp tells whether the packet missing at the head (or in the frame
// starting there) has been waited for long enough.
func (a *assembler) giveUp() bool {
	if a.newest-a.head >= a.maxLate {
		return true
	}
	newest := a.slots[a.newest&a.mask]
	if newest == nil {
		return true
	}
	for s := a.head; s != a.newest; s++ {
		if p := a.slots[s&a.mask]; p != nil {
			d := int32(newest.Timestamp - p.Timestamp)
			return d > int32(a.maxDelay) || d < -int32(a.maxDelay)
		}
	}
	return false
}

func (a *assembler) advance() { a.head, a.taken = a.head+1, true }

// take makes the packets from head to end one frame. A packet whose
// payload does not parse spoils the frame, which is dropped; an empty one
// (padding) adds nothing.
func (a *assembler) take(end uint16) {
	f := frame{ts: a.slots[a.head&a.mask].Timestamp}
	if a.buffer != nil {
		f.data = a.buffer()
	}
	ok := true
	for s := a.head; s != end; s++ {
		i := s & a.mask
		if payload := a.slots[i].Payload; len(payload) > 0 && ok {
			chunk, err := a.dep.Unmarshal(payload)
			ok = err == nil
			f.data = append(f.data, chunk...)
		}
		a.drop(a.slots[i])
		a.slots[i] = nil
	}
	a.head, a.taken = end, true
	if ok && len(f.data) > 0 {
		a.ready = append(a.ready, f)
	} else if a.unused != nil {
		a.unused(f.data)
	}
}
