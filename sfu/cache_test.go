package sfu

import (
	"bytes"
	"testing"
)

func TestPacketCache(t *testing.T) {
	var c packetCache
	buf := make([]byte, maxPacket)
	if c.get(1, buf) != 0 {
		t.Fatal("an empty cache returned a packet")
	}
	pkt := func(seq uint16) []byte { return bytes.Repeat([]byte{byte(seq)}, 100+int(seq%50)) }
	// Sequence numbers that wrap around 65535.
	for i := 0; i < cacheSize+10; i++ {
		seq := uint16(65500) + uint16(i)
		c.put(seq, pkt(seq))
	}
	first := uint16(65500)
	last := first + uint16(cacheSize+9) // wrapped past 65535
	for _, seq := range []uint16{last, last - 1, last - cacheSize + 1} {
		if n := c.get(seq, buf); n == 0 || !bytes.Equal(buf[:n], pkt(seq)) {
			t.Errorf("seq %d: got %d bytes, want its packet", seq, n)
		}
	}
	// Overwritten by a later packet in the same slot, or never seen.
	for _, seq := range []uint16{last - cacheSize, 65500, last + 1} {
		if n := c.get(seq, buf); n != 0 {
			t.Errorf("seq %d: got %d bytes of a packet no longer kept", seq, n)
		}
	}
	// Too large to keep, or too large for the caller's buffer.
	c.put(30000, make([]byte, maxPacket+1))
	if c.get(30000, buf) != 0 {
		t.Error("an oversized packet was kept")
	}
	c.put(30001, make([]byte, 200))
	if c.get(30001, make([]byte, 100)) != 0 {
		t.Error("a packet was cut to fit a small buffer")
	}
}
