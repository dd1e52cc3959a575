package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// TestResendLog: a packet is sent again at most resendMax times, not
// twice within resendAgain, whatever is asked for beside it of what the
// cache holds; a sequence number that takes its slot later, or comes
// round again, starts afresh.
func TestResendLog(t *testing.T) {
	var l resendLog
	at := time.Unix(1_700_000_000, 0).UnixNano()
	if !l.allow(100, at) {
		t.Fatal("the first retransmission was refused")
	}
	if l.allow(100, at+int64(resendAgain)/2) {
		t.Error("a repeat within resendAgain was allowed")
	}
	if !l.allow(101, at) {
		t.Error("another packet was refused")
	}
	// Asked for every 100 ms with every other packet the cache holds:
	// none takes 100's slot.
	n := 1
	for i := 1; i <= 10; i++ {
		now := at + int64(i)*int64(100*time.Millisecond)
		for k := 1; k < cacheSize; k++ {
			l.allow(uint16(100+k), now)
			l.allow(uint16(100-k), now)
		}
		if l.allow(100, now) {
			n++
		}
	}
	if n != resendMax {
		t.Errorf("sent again %d times, want %d", n, resendMax)
	}
	// The sequence numbers come round (65,536 packets, minutes later):
	// the same number is another packet.
	if !l.allow(100, at+int64(15*time.Minute)) {
		t.Error("a packet whose number came round was refused")
	}
	// The same slot, a later packet (the sequence numbers went round it).
	if !l.allow(100+resendSlots, at+int64(15*time.Minute)+int64(resendAgain)) {
		t.Error("a later packet in a used slot was refused")
	}
}

// TestAnswerNack: a NACK repeated at once is not answered again, the
// packets it names are sent again in order, and one NACK sends at most
// maxRetransmit.
func TestAnswerNack(t *testing.T) {
	var l resendLog
	var sent []uint16
	resend := func(seq uint16, _ []byte, probe bool) int {
		if probe {
			t.Fatal("a retransmission marked as a probe")
		}
		sent = append(sent, seq)
		return 100
	}
	nack := &rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{10, 12, 13})}
	answerNack(nack, &l, resend, nil)
	answerNack(nack, &l, resend, nil)
	if len(sent) != 3 || sent[0] != 10 || sent[1] != 12 || sent[2] != 13 {
		t.Errorf("sent %v, want [10 12 13] once", sent)
	}
	sent = nil
	many := make([]uint16, 0, 200)
	for s := range uint16(200) {
		many = append(many, 1000+s)
	}
	answerNack(&rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers(many)}, &l, resend, nil)
	if len(sent) != maxRetransmit {
		t.Errorf("one NACK sent %d packets again, want %d", len(sent), maxRetransmit)
	}
}
