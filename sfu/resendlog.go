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
// times, and not within resendAgain of the last time, which a browser's
// second NACK, sent a round trip after the first, is not.
const (
	// maxRetransmit bounds the packets one NACK makes the server send
	// again, so that a subscriber cannot make it send much more than the
	// stream.
	maxRetransmit = 64
	resendMax     = 4
	resendAgain   = 40 * time.Millisecond
	// resendSlots is how many recent sequence numbers the log keeps (a
	// power of two): a stream's last few seconds of video.
	resendSlots = 256
)

// resendLog is one stream's latest retransmissions. Its zero value is
// ready; its slots are made at the first retransmission (audio and most
// videos never have one).
type resendLog struct {
	mu    sync.Mutex
	slots *[resendSlots]resendSlot
}

type resendSlot struct {
	seq   uint16
	count uint8
	at    int64 // unix nanoseconds of the last time it was sent again
}

// allow tells whether packet seq may be sent again at now (unix
// nanoseconds), and counts it if so.
func (l *resendLog) allow(seq uint16, now int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.slots == nil {
		l.slots = new([resendSlots]resendSlot)
	}
	s := &l.slots[seq%resendSlots]
	if s.count == 0 || s.seq != seq {
		*s = resendSlot{seq: seq, count: 1, at: now}
		return true
	}
	if s.count >= resendMax || now-s.at < int64(resendAgain) {
		return false
	}
	s.count++
	s.at = now
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
