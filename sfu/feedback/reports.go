package feedback

import (
	"time"

	"github.com/pion/rtcp"
)

// A sequence number this far ahead of the highest one received is taken
// as a gap of lost packets, one this far behind as a late packet, and one
// in between as the stream starting over (RFC 3550 appendix A.1).
const (
	maxDropout  = 3000
	maxMisorder = 100
)

// reception is what was received of one stream, for its receiver report
// block (RFC 3550 section 6.4.1 and appendices A.3 and A.8). Guarded by
// the interceptor's lock.
type reception struct {
	clockRate uint32

	started       bool
	base          uint32 // the extended sequence number counted from
	max           uint32 // the highest extended sequence number
	received      uint32 // packets received since base, repeats included
	expectedPrior uint32 // expected and received at the last report
	receivedPrior uint32
	fresh         bool // a packet came since the last report
	jumped        bool // the last packet jumped ahead or far back, to jump-1
	jump          uint16

	// The interarrival jitter, in timestamp units, over the packets that
	// came in order with a new timestamp (the packets of a video frame
	// share one, and were sent together).
	jitter    float64
	lastTS    uint32 // the timestamp of the last packet counted in it
	transit   uint32 // its arrival in timestamp units less its timestamp
	jitterSet bool   // lastTS and transit are set

	lastSR   uint32        // the middle 32 bits of the last sender report's NTP time
	lastSRAt time.Duration // when it came; valid if lastSR is set
}

// packet notes a packet with sequence number seq and timestamp ts that
// arrived at at (from the interceptor's start).
func (r *reception) packet(seq uint16, ts uint32, at time.Duration) {
	r.fresh = true
	if !r.started {
		r.restart(seq)
		r.jitterAt(ts, at)
		r.received++
		return
	}
	delta := seq - uint16(r.max)
	switch {
	case delta == 0: // a repeat
	case delta < maxDropout:
		if seq < uint16(r.max) {
			r.max += 1 << 16 // the sequence number wrapped
		}
		r.max = r.max&^0xffff | uint32(seq)
		r.jitterAt(ts, at)
	case delta > 1<<16-maxMisorder: // late
	case r.jumped && seq == r.jump:
		// Two packets in a row after a jump: the stream started over
		// (a restarted encoder). It is counted from this one, as RFC
		// 3550 does.
		r.restart(seq)
		r.jitterAt(ts, at)
	default:
		// A jump, or a packet from long ago (a retransmission): not
		// counted, unless the next one follows it.
		r.jumped, r.jump = true, seq+1
		return
	}
	r.received++
	r.jumped = false
}

// restart counts the stream afresh from seq, its first packet.
func (r *reception) restart(seq uint16) {
	r.started = true
	r.base, r.max = uint32(seq), uint32(seq)
	r.received = 0 // the caller counts the packet
	r.expectedPrior, r.receivedPrior = 0, 0
	r.jitterSet = false
}

// jitterAt counts a packet that came in order in the jitter (RFC 3550
// section 6.4.1).
func (r *reception) jitterAt(ts uint32, at time.Duration) {
	if r.clockRate == 0 {
		return
	}
	if r.jitterSet && ts == r.lastTS {
		return
	}
	// The arrival in timestamp units: only differences count, modulo
	// 2^32 as the timestamps are.
	arrival := uint32(uint64(at.Microseconds()) * uint64(r.clockRate) / 1e6)
	transit := arrival - ts
	if r.jitterSet {
		d := float64(int32(transit - r.transit))
		if d < 0 {
			d = -d
		}
		r.jitter += (d - r.jitter) / 16
	}
	r.lastTS, r.transit, r.jitterSet = ts, transit, true
}

// senderReport notes the publisher's sender report of the stream, with
// NTP time ntp, that came at at.
func (r *reception) senderReport(ntp uint64, at time.Duration) {
	r.lastSR = uint32(ntp >> 16)
	r.lastSRAt = at
}

// report is the stream's report block at at, and whether there is one:
// only a stream that sent since the last report has one (RFC 3550
// section 6.4).
func (r *reception) report(ssrc uint32, at time.Duration) (rtcp.ReceptionReport, bool) {
	if !r.fresh {
		return rtcp.ReceptionReport{}, false
	}
	r.fresh = false
	expected := r.max - r.base + 1
	lost := int64(expected) - int64(r.received)
	// 24 bits, signed; more received than expected (repeats) is reported
	// as none lost.
	lost = min(max(lost, 0), 0x7fffff)
	expInterval := expected - r.expectedPrior
	recvInterval := r.received - r.receivedPrior
	r.expectedPrior, r.receivedPrior = expected, r.received
	var fraction uint8
	if expInterval > 0 && expInterval > recvInterval {
		// All lost is 256/256, which the 8 bits cannot hold.
		fraction = uint8(min(uint64(expInterval-recvInterval)<<8/uint64(expInterval), 255))
	}
	var delay uint32
	if r.lastSR != 0 {
		// In units of 1/65536 of a second.
		delay = uint32(int64(at-r.lastSRAt) * 65536 / int64(time.Second))
	}
	return rtcp.ReceptionReport{
		SSRC:               ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(lost),
		LastSequenceNumber: r.max,
		Jitter:             uint32(r.jitter),
		LastSenderReport:   r.lastSR,
		Delay:              delay,
	}, true
}
