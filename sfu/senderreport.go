package sfu

import (
	"time"

	"github.com/pion/rtcp"
)

// senderReportInterval is how often a subscribe connection reports on
// each track it sends (RTCP sender reports, RFC 3550 6.4.1).
const senderReportInterval = time.Second

// senderReports sends a sender report for each track of the subscribe
// connection c every senderReportInterval until c is retired. The SFU
// writes them itself because its packets do not all pass through Pion's
// interceptors (see directSender).
func (p *Participant) senderReports(c *subConn) {
	t := time.NewTicker(senderReportInterval)
	defer t.Stop()
	var downs []*DownTrack
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			downs = downs[:0]
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
			if len(pkts) > 0 {
				_ = c.pc.WriteRTCP(pkts)
			}
		}
	}
}

// senderReport is the down track's sender report at now, or nil before
// its first packet. The NTP and RTP times are a pair of the track's
// clock (see UpTrack.clock); the counts are what this subscriber was sent.
func (d *DownTrack) senderReport(now time.Time) *rtcp.SenderReport {
	b := d.binding.Load()
	packets := d.packets.Load()
	if b == nil || packets == 0 {
		return nil
	}
	at, ts, ok := d.up.clock(now)
	if !ok {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC:        b.ssrc,
		NTPTime:     ntpTimestamp(at),
		RTPTime:     ts,
		PacketCount: uint32(packets),
		OctetCount:  uint32(d.octets.Load()),
	}
}

// clock returns a wall-clock time and the RTP timestamp of the track at
// that time. The publisher's own pair, from its latest sender report, is
// best: audio and video from one publisher then keep the lip sync of their
// capture. Without one, the RTP time at now is extrapolated from the
// latest packet's arrival. ok is false before any packet.
func (u *UpTrack) clock(now time.Time) (time.Time, uint32, bool) {
	if sr := u.sr.Load(); sr != nil {
		return sr.NTP, sr.RTP, true
	}
	last := u.last.Load()
	if last == 0 {
		return time.Time{}, 0, false
	}
	at := u.born.Add(time.Duration(last>>32-1) * time.Millisecond)
	elapsed := now.Sub(at).Seconds() * float64(u.codec.ClockRate)
	return now, uint32(last) + uint32(int64(elapsed)), true
}

// noteArrival records the latest packet's RTP timestamp and arrival time,
// in one word so that clock reads a consistent pair: milliseconds since
// the track began (plus one, so that zero means none) and the timestamp.
func (u *UpTrack) noteArrival(ts uint32) {
	ms := uint64(time.Since(u.born)/time.Millisecond) + 1
	u.last.Store(ms<<32 | uint64(ts))
}

// ntpTimestamp converts t to a 64-bit NTP timestamp.
func ntpTimestamp(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}
