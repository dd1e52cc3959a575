package feedback

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// TestReception: the report block of a stream's sequence numbers, as RFC
// 3550 appendix A.3 counts them.
func TestReception(t *testing.T) {
	seqs := func(from, to int) []int {
		var s []int
		for i := from; i <= to; i++ {
			s = append(s, i&0xffff)
		}
		return s
	}
	cat := func(ss ...[]int) []int {
		var out []int
		for _, s := range ss {
			out = append(out, s...)
		}
		return out
	}
	for _, c := range []struct {
		name     string
		first    []int // reported once
		then     []int // then the report checked
		max      uint32
		lost     uint32
		fraction uint8
	}{
		{name: "in order", then: seqs(1, 10), max: 10},
		{name: "one lost of ten", then: cat(seqs(1, 3), seqs(5, 10)), max: 10, lost: 1, fraction: 25},
		{name: "wrapped", then: seqs(65530, 65541), max: 1<<16 | 5},
		{name: "reordered", then: []int{1, 2, 4, 3, 5}, max: 5},
		{name: "repeats count as none lost", then: []int{1, 2, 2, 3, 3}, max: 3},
		{name: "interval", first: cat(seqs(1, 5), seqs(8, 10)), then: cat(seqs(11, 15), seqs(18, 20)), max: 20, lost: 4, fraction: 51},
		{name: "a gap within the interval", first: seqs(1, 10), then: []int{110}, max: 110, lost: 99, fraction: 253},
		{name: "late ones", first: seqs(1, 10), then: []int{11, 4, 12}, max: 12},
		{name: "a jump alone is not counted", first: seqs(1, 10), then: []int{11, 20000, 12}, max: 12},
		{name: "a retransmission from long ago is not counted", first: seqs(1000, 1500), then: []int{1501, 700, 1502}, max: 1502},
		{name: "two in a row after a jump start over", first: seqs(1, 10), then: []int{20000, 20001, 20002}, max: 20002},
		{name: "a jump back that goes on starts over", first: seqs(30000, 30010), then: seqs(5, 9), max: 9},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &reception{clockRate: 48000}
			at := time.Duration(0)
			feed := func(s []int) {
				for _, seq := range s {
					at += 20 * time.Millisecond
					r.packet(uint16(seq), uint32(at/time.Millisecond)*48, at)
				}
			}
			feed(c.first)
			if len(c.first) > 0 {
				r.report(7, at)
			}
			feed(c.then)
			rr, ok := r.report(7, at)
			if !ok {
				t.Fatal("no report")
			}
			if rr.SSRC != 7 || rr.LastSequenceNumber != c.max || rr.TotalLost != c.lost || rr.FractionLost != c.fraction {
				t.Errorf("report up to %d (%#x), %d lost, fraction %d/256; want %d, %d, %d/256",
					rr.LastSequenceNumber, rr.LastSequenceNumber, rr.TotalLost, rr.FractionLost, c.max, c.lost, c.fraction)
			}
			if rr.Jitter != 0 {
				t.Errorf("jitter %d for packets that came on time", rr.Jitter)
			}
			if _, ok := r.report(7, at); ok {
				t.Error("a report for a stream that sent nothing since the last one")
			}
		})
	}
}

// TestJitter: packets every 20 ms that come alternately 5 ms early and
// late have a jitter of 10 ms (RFC 3550 section 6.4.1); the packets of a
// video frame, which share a timestamp, count once.
func TestJitter(t *testing.T) {
	r := &reception{clockRate: 48000}
	var at time.Duration
	for i := range 400 {
		ts := uint32(i) * 960
		at = time.Duration(i)*20*time.Millisecond + time.Duration(i%2)*10*time.Millisecond
		r.packet(uint16(i), ts, at)
		r.packet(uint16(i)+1000, ts, at+30*time.Millisecond) // not in order: not counted
	}
	rr, _ := r.report(1, at)
	if rr.Jitter < 475 || rr.Jitter > 480 { // 10 ms at 48 kHz
		t.Errorf("jitter %d, want 480 (10 ms at 48 kHz)", rr.Jitter)
	}

	// One packet 10 ms late moves the estimate a sixteenth of the way.
	one := &reception{clockRate: 48000}
	one.packet(1, 0, 0)
	one.packet(2, 960, 30*time.Millisecond)
	if rr, _ := one.report(1, 0); rr.Jitter != 30 {
		t.Errorf("jitter %d after one packet 10 ms late, want 30 (480/16)", rr.Jitter)
	}

	v := &reception{clockRate: 90000}
	for i := range 400 {
		at := time.Duration(i) * 40 * time.Millisecond
		for j := range 5 { // a frame of 5 packets, sent over 4 ms
			v.packet(uint16(5*i+j), uint32(i)*3600, at+time.Duration(j)*time.Millisecond)
		}
	}
	if rr, _ := v.report(1, 0); rr.Jitter != 0 {
		t.Errorf("jitter %d for frames on time", rr.Jitter)
	}
}

// TestDelaySinceSenderReport: a report answers the last sender report
// with its middle 32 bits and the delay since, in 1/65536 s.
func TestDelaySinceSenderReport(t *testing.T) {
	r := &reception{clockRate: 48000}
	r.packet(1, 0, time.Second)
	if rr, _ := r.report(1, time.Second); rr.LastSenderReport != 0 || rr.Delay != 0 {
		t.Errorf("before a sender report: LSR %#x, DLSR %d", rr.LastSenderReport, rr.Delay)
	}
	r.senderReport(0x0001_2345_6789_abcd, 2*time.Second)
	r.packet(2, 960, 3*time.Second)
	rr, _ := r.report(1, 3500*time.Millisecond)
	if rr.LastSenderReport != 0x2345_6789 || rr.Delay != 98304 {
		t.Errorf("LSR %#x, DLSR %d; want 0x23456789, 98304 (1.5 s)", rr.LastSenderReport, rr.Delay)
	}
}

// rtpStream is a remote stream whose packets are made on demand.
type rtpStream struct {
	ssrc uint32
	seq  uint16
}

func (s *rtpStream) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	s.seq++
	p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: s.seq, Timestamp: uint32(s.seq) * 960, SSRC: s.ssrc}, Payload: []byte{1}}
	n, err := p.MarshalTo(b)
	return n, a, err
}

// rtcpStream is the connection's RTCP, a packet at a time.
type rtcpStream struct{ pkts []rtcp.Packet }

func (s *rtcpStream) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	raw, err := s.pkts[0].Marshal()
	s.pkts = s.pkts[1:]
	return copy(b, raw), a, err
}

// reporting is an interceptor sending to w, made in a bubble a tenth of
// an interval after the grid of the reports; Close is the test's cleanup.
func reporting(t *testing.T) (interceptor.Interceptor, *writes) {
	time.Sleep(time.Until(time.Now().Truncate(ReportInterval).Add(ReportInterval + ReportInterval/10)))
	f, err := Factory{}.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := &writes{}
	f.BindRTCPWriter(w)
	return f, w
}

// TestReports: every ReportInterval, on the grid every connection shares,
// one receiver report holds a block for each stream that sent since the
// last (31 blocks at most to a packet), answering its sender report; an
// unbound stream is reported no more.
func TestReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, w := reporting(t)
		buf := make([]byte, 1500)
		var readers []interceptor.RTPReader
		var infos []*interceptor.StreamInfo
		for i := range 40 {
			info := &interceptor.StreamInfo{SSRC: uint32(100 + i), ClockRate: 48000}
			infos = append(infos, info)
			readers = append(readers, f.BindRemoteStream(info, &rtpStream{ssrc: info.SSRC}))
		}
		rtcpIn := f.BindRTCPReader(&rtcpStream{pkts: []rtcp.Packet{
			&rtcp.SenderReport{SSRC: 100, NTPTime: 0x0001_2345_6789_0000},
			&rtcp.SenderReport{SSRC: 999, NTPTime: 1 << 40}, // no such stream
		}})
		for range 2 {
			if _, _, err := rtcpIn.Read(buf, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range readers {
			for range 3 {
				if _, _, err := r.Read(buf, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		synctest.Wait()
		if rrs := of[*rtcp.ReceiverReport](w); len(rrs) != 0 {
			t.Fatalf("%d reports sent before the interval", len(rrs))
		}
		start := time.Now()
		time.Sleep(ReportInterval)
		synctest.Wait()
		rrs := of[*rtcp.ReceiverReport](w)
		if len(rrs) != 2 || len(rrs[0].Reports)+len(rrs[1].Reports) != 40 || len(rrs[0].Reports) > 31 || len(rrs[1].Reports) > 31 {
			t.Fatalf("%d reports for 40 streams, want 2 of 31 blocks at most", len(rrs))
		}
		if n := w.writesSoFar(); n != 1 {
			t.Errorf("the reports were sent in %d writes, want one", n)
		}
		for _, rr := range rrs {
			for _, b := range rr.Reports {
				if b.LastSequenceNumber != 3 || b.TotalLost != 0 {
					t.Errorf("block %+v, want up to 3, none lost", b)
				}
				wantLSR, wantDelay := uint32(0), uint32(0)
				if b.SSRC == 100 {
					// Sent on the grid: what is left of the second.
					wantLSR, wantDelay = 0x2345_6789, uint32(time.Now().Truncate(ReportInterval).Sub(start)*65536/time.Second)
				}
				if b.LastSenderReport != wantLSR || b.Delay != wantDelay {
					t.Errorf("stream %d: LSR %#x, DLSR %d; want %#x, %d", b.SSRC, b.LastSenderReport, b.Delay, wantLSR, wantDelay)
				}
			}
		}

		// Only stream 100 sends; stream 101 is unbound.
		if _, _, err := readers[0].Read(buf, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readers[1].Read(buf, nil); err != nil {
			t.Fatal(err)
		}
		f.UnbindRemoteStream(infos[1])
		time.Sleep(ReportInterval)
		synctest.Wait()
		rrs = of[*rtcp.ReceiverReport](w)[2:]
		if len(rrs) != 1 || len(rrs[0].Reports) != 1 || rrs[0].Reports[0].SSRC != 100 || rrs[0].Reports[0].LastSequenceNumber != 4 {
			t.Errorf("reports %+v, want one block, for stream 100 up to 4", rrs)
		}
	})
}

// TestStreamBoundTwice: an SSRC read by two readers (Pion's track and the
// SFU's direct path) is one stream in the reports, with the packets of
// both.
func TestStreamBoundTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, w := reporting(t)
		info := &interceptor.StreamInfo{SSRC: 5, ClockRate: 48000}
		src := &rtpStream{ssrc: 5}
		first := f.BindRemoteStream(info, src)
		second := f.BindRemoteStream(info, src)
		buf := make([]byte, 1500)
		for _, r := range []interceptor.RTPReader{first, second, second, first, second} {
			if _, _, err := r.Read(buf, nil); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(ReportInterval)
		synctest.Wait()
		rrs := of[*rtcp.ReceiverReport](w)
		if len(rrs) != 1 || len(rrs[0].Reports) != 1 {
			t.Fatalf("reports %+v, want one block", rrs)
		}
		if b := rrs[0].Reports[0]; b.LastSequenceNumber != 5 || b.TotalLost != 0 {
			t.Errorf("block %+v, want up to 5, none lost", b)
		}
	})
}
