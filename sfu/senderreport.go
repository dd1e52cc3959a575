package sfu

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// senderReportInterval is how often a subscribe connection reports on
// each track it sends (RTCP sender reports, RFC 3550 6.4.1).
const senderReportInterval = time.Second

// reportsPerPacket bounds the sender reports sent in one compound RTCP
// packet: 16 of 28 bytes, under 500 bytes with SRTCP's overhead.
const reportsPerPacket = 16

// clockWait is how long after a track's first packet its sender reports
// wait for the publisher's own (see UpTrack.clock). Browsers send their
// first sender report for audio within about 2.5 seconds.
const clockWait = 5 * time.Second

// senderReports sends a sender report for each track of the subscribe
// connection c, every senderReportInterval on the connection's
// goroutine (see congestion.run). The SFU writes them itself because its
// packets do not all pass through Pion's interceptors (see
// directSender).
func (p *Participant) senderReports(c *subConn, now time.Time) {
	// The same tick closes Pion's SRTP sessions once they started, if
	// nothing goes through them.
	if c.releaseSRTP() {
		p.log.Debug("subscribe connection's SRTP sessions in Pion closed: all its packets take the direct path")
	}
	var downs []*DownTrack
	p.mu.Lock()
	for _, d := range p.downs {
		if d.conn == c {
			downs = append(downs, d)
		}
	}
	p.mu.Unlock()
	var pkts []rtcp.Packet
	for _, d := range downs {
		if sr := d.senderReport(now); sr != nil {
			pkts = append(pkts, sr)
		}
	}
	// A compound packet per few tracks, well under the MTU; on the direct
	// path when the connection sends on it (Pion's SRTCP session may be
	// closed: see releaseSRTP).
	direct := c.direct.Load()
	for len(pkts) > 0 {
		n := min(len(pkts), reportsPerPacket)
		if direct != nil {
			direct.writeRTCP(pkts[:n])
		} else {
			_ = c.pc.WriteRTCP(pkts[:n])
		}
		pkts = pkts[n:]
	}
}

// senderReport is the down track's sender report at now, or nil before
// its first packet. The NTP and RTP times are a pair of the clock of the
// layer it follows (see streamClock), in its own timestamps; the counts
// are what this subscriber was sent.
func (d *DownTrack) senderReport(now time.Time) *rtcp.SenderReport {
	b := d.binding.Load()
	packets := d.packets.Load()
	if b == nil || packets == 0 {
		return nil
	}
	l, off := d.up.layers[0], uint32(0)
	if f := d.follow; f != nil {
		f.mu.Lock()
		e := f.latest()
		if e != nil {
			l, off = d.up.layers[e.layer], e.ts
		}
		f.mu.Unlock()
		if e == nil {
			return nil
		}
	}
	at, ts, ok := l.clock(now)
	if !ok {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC:        b.ssrc,
		NTPTime:     ntpTimestamp(at),
		RTPTime:     ts + off,
		PacketCount: uint32(packets),
		OctetCount:  uint32(d.octets.Load()),
	}
}

// streamClock is the clock of one RTP stream of a publisher (a layer):
// its latest sender report and its latest packet's arrival.
type streamClock struct {
	rate uint32    // the codec's clock rate
	born time.Time // when the track was made

	sr        atomic.Pointer[SenderReport]
	last      atomic.Uint64 // see noteArrival
	firstAt   atomic.Int64  // unix nanoseconds of the first packet
	clockFrom atomic.Int32  // clockUndecided, clockPublisher or clockArrival
}

// Where a track's sender reports take their clock from, decided once per
// track so that a receiver never sees the mapping jump.
const (
	clockUndecided = iota
	clockPublisher // the publisher's own sender reports
	clockArrival   // the arrival of the packets
)

// clock returns a wall-clock time and the RTP timestamp of the stream at
// that time. The publisher's own pair, from its latest sender report, is
// best: audio and video from one publisher then keep the lip sync of their
// capture. A publisher that has sent none by clockWait after its first
// packet never will, it is assumed: its tracks' RTP time at now is then
// extrapolated from the latest packet's arrival, for the rest of the
// track. ok is false while undecided.
func (u *streamClock) clock(now time.Time) (time.Time, uint32, bool) {
	switch u.clockFrom.Load() {
	case clockPublisher:
		sr := u.sr.Load()
		return sr.NTP, sr.RTP, true
	case clockArrival:
		return u.arrivalClock(now)
	}
	if u.sr.Load() != nil {
		u.clockFrom.CompareAndSwap(clockUndecided, clockPublisher)
		return u.clock(now)
	}
	first := u.firstAt.Load()
	if first == 0 || now.Sub(time.Unix(0, first)) < clockWait {
		return time.Time{}, 0, false
	}
	u.clockFrom.CompareAndSwap(clockUndecided, clockArrival)
	return u.clock(now)
}

// arrivalClock extrapolates the RTP time at now from the latest packet.
func (u *streamClock) arrivalClock(now time.Time) (time.Time, uint32, bool) {
	last := u.last.Load()
	if last == 0 {
		return time.Time{}, 0, false
	}
	elapsed := float64(u.ageAt(last, now)) / 1000 * float64(u.rate)
	return now, uint32(last) + uint32(int64(elapsed)), true
}

// ageAt is how long before now, in milliseconds, the packet noted in
// last (a value of u.last) arrived; 0 if it came after now was taken.
func (u *streamClock) ageAt(last uint64, now time.Time) uint32 {
	ms := uint32(last>>32) & arrivalMask
	age := (u.msSinceBorn(now) - ms) & arrivalMask
	if age > arrivalMask/2 { // the packet came after now was taken
		age = 0
	}
	return age
}

// silentFor tells whether the stream has sent nothing for longer than d
// before now, after a first packet: false before it.
func (u *streamClock) silentFor(d time.Duration, now time.Time) bool {
	last := u.last.Load()
	return last != 0 && time.Duration(u.ageAt(last, now))*time.Millisecond > d
}

// arrivalMask keeps 31 bits of milliseconds (24.8 days, wrapping): ages
// are taken modulo it.
const arrivalMask = 1<<31 - 1

func (u *streamClock) msSinceBorn(t time.Time) uint32 {
	return uint32(t.Sub(u.born)/time.Millisecond) & arrivalMask
}

// noteArrival records the latest packet's RTP timestamp and arrival, in
// one word so that arrivalClock reads a consistent pair: a bit that says
// there is one, 31 bits of milliseconds since the track began, and the
// timestamp. The first arrival is kept too.
func (u *streamClock) noteArrival(now time.Time, ts uint32) {
	if u.firstAt.Load() == 0 {
		u.firstAt.CompareAndSwap(0, now.UnixNano())
	}
	u.last.Store(1<<63 | uint64(u.msSinceBorn(now))<<32 | uint64(ts))
}

// ntpTimestamp converts t to a 64-bit NTP timestamp.
func ntpTimestamp(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}
