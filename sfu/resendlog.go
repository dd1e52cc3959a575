package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// Answering NACKs. A receiver asks again for a packet it still misses:
// a browser after about a round trip, up to ten times; some receivers
// every 100 ms until the packet leaves their log (Pion's, which also
// keeps asking for a packet that its RTX stream brought, seconds long).
// Answered every time, a few lost packets of such a receiver made the
// server send its video a third more, the repeats of repeats queueing in
// the connection's pacer behind the media. So each stream remembers its
// latest retransmissions: a packet is sent again at most resendMax
// times, and not within resendAgain of the last time (a second NACK that
// quick crossed the first retransmission on its way).
const (
	// maxRetransmit bounds the packets one NACK makes the server send
	// again, so that a subscriber cannot make it send much more than the
	// stream.
	maxRetransmit = 64
	resendMax     = 4
	resendAgain   = 40 * time.Millisecond
	// resendForget: a packet last sent again longer ago than this is one
	// of a later round of the sequence numbers (they wrap at 65,536: 30 s
	// at 2,200 packets a second, a 25 Mbit/s video). It is far longer
	// than a receiver asks for a packet: forgotten after 3 s, a Pion
	// receiver's packets were sent again four more times every 3 s, as
	// it asks until a packet leaves its log of 512 (6 s of an 800 kbit/s
	// video, longer for a slower one), and its 200 WHEP viewers cost the
	// server 3% more packets.
	resendForget = 30 * time.Second
	// resendSlots is how many sequence numbers the log tells apart (a
	// power of two): twice what a track's cache keeps (cacheSize), so
	// that two packets the cache holds never share a slot.
	resendSlots = 2 * cacheSize
)

// resendLog is one stream's latest retransmissions. Its zero value is
// ready; its slots are made at the first retransmission (audio and most
// videos never have one).
type resendLog struct {
	mu    sync.Mutex
	slots *[resendSlots]resendSlot
}

// resendSlot is 8 bytes: 8 KB of slots per stream that was asked for a
// retransmission.
type resendSlot struct {
	seq   uint16
	count uint8
	at    uint32 // milliseconds (modulo 2^32) of the last time it was sent again
}

// allow tells whether packet seq may be sent again at now (unix
// nanoseconds), and counts it if so.
func (l *resendLog) allow(seq uint16, now int64) bool {
	ms := uint32(now / 1e6)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.slots == nil {
		l.slots = new([resendSlots]resendSlot)
	}
	s := &l.slots[seq%resendSlots]
	since := time.Duration(ms-s.at) * time.Millisecond // wraps with the clock
	if s.count == 0 || s.seq != seq || since >= resendForget {
		*s = resendSlot{seq: seq, count: 1, at: ms}
		return true
	}
	if s.count >= resendMax || since < resendAgain {
		return false
	}
	s.count++
	s.at = ms
	return true
}

// answerNack sends again, with resend, the packets nack asks for that
// log allows, at most maxRetransmit of them; buf is resend's buffer.
func answerNack(nack *rtcp.TransportLayerNack, log *resendLog, resend func(seq uint16, buf []byte, probe bool) int, buf []byte) {
	sent := 0
	now := time.Now().UnixNano()
	for _, pair := range nack.Nacks {
		for _, seq := range pair.PacketList() {
			if sent == maxRetransmit {
				return
			}
			if log.allow(seq, now) && resend(seq, buf, false) > 0 {
				sent++
			}
		}
	}
}
