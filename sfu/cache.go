package sfu

import "sync"

// cacheSize is how many recent packets of a video track are kept for
// retransmission: about 2 s of a 2 Mbit/s stream, more than the time a
// NACK is worth answering in.
const cacheSize = 512

// maxPacket is the largest RTP packet kept; a track reads into buffers of
// this size, so nothing larger arrives.
const maxPacket = 1500

// packetCache keeps the last cacheSize packets of an up track as they
// arrived. Subscribers' NACKs are answered from it: the SFU forwards
// sequence numbers unchanged, so one copy of each packet serves every
// subscriber, where a NACK responder per subscriber would copy every
// packet once per subscriber.
type packetCache struct {
	mu    sync.Mutex
	slots []cacheSlot // allocated on the first packet
}

type cacheSlot struct {
	seq uint16
	n   int // length of the packet in buf; 0 = empty
	buf [maxPacket]byte
}

// put keeps a copy of packet raw, whose sequence number is seq.
func (c *packetCache) put(seq uint16, raw []byte) {
	if len(raw) > maxPacket {
		return
	}
	c.mu.Lock()
	if c.slots == nil {
		c.slots = make([]cacheSlot, cacheSize)
	}
	s := &c.slots[int(seq)%cacheSize]
	s.seq = seq
	s.n = copy(s.buf[:], raw)
	c.mu.Unlock()
}

// get copies the packet with sequence number seq into dst and returns
// its length, or 0 when it is no longer (or never was) in the cache.
func (c *packetCache) get(seq uint16, dst []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		return 0
	}
	s := &c.slots[int(seq)%cacheSize]
	if s.n == 0 || s.seq != seq || len(dst) < s.n {
		return 0
	}
	return copy(dst, s.buf[:s.n])
}
