package feedback

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

const extID = 3

// stream is a remote stream of marshalled packets, read in turn.
type stream struct{ pkts [][]byte }

func (s *stream) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	n := copy(b, s.pkts[0])
	s.pkts = s.pkts[1:]
	return n, a, nil
}

func packet(t *testing.T, seq, tseq uint16) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, SSRC: 1234}, Payload: []byte{1, 2, 3}}
	if err := p.Header.SetExtension(extID, []byte{byte(tseq >> 8), byte(tseq)}); err != nil {
		t.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writes keeps what the interceptor sends, from its goroutine.
type writes struct {
	mu   sync.Mutex
	sent [][]rtcp.Packet
}

func (w *writes) Write(p []rtcp.Packet, _ interceptor.Attributes) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, p)
	return 0, nil
}

// writesSoFar is how many writes were sent so far.
func (w *writes) writesSoFar() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.sent)
}

// of is the packets of type T sent so far.
func of[T rtcp.Packet](w *writes) []T {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []T
	for _, ps := range w.sent {
		for _, p := range ps {
			if t, ok := p.(T); ok {
				out = append(out, t)
			}
		}
	}
	return out
}

// TestFeedback reads packets with transport-wide sequence numbers, one
// lost, and checks the feedback sent at the next interval: every number
// from the first, the lost one not received; then no more feedback while
// nothing new arrives; and Close ends its goroutine (the bubble fails if
// one is left).
func TestFeedback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, err := Factory{}.NewInterceptor("")
		if err != nil {
			t.Fatal(err)
		}
		w := &writes{}
		f.BindRTCPWriter(w)
		s := &stream{}
		for i := uint16(0); i < 10; i++ {
			if i != 5 {
				s.pkts = append(s.pkts, packet(t, 500+i, 100+i))
			}
		}
		info := &interceptor.StreamInfo{SSRC: 1234, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: URI, ID: extID}}}
		r := f.BindRemoteStream(info, s)
		buf := make([]byte, 1500)
		for range 9 {
			if _, _, err := r.Read(buf, nil); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(MaxInterval)
		synctest.Wait()
		ccs := of[*rtcp.TransportLayerCC](w)
		if len(ccs) != 1 {
			t.Fatalf("after one interval, %d feedbacks sent", len(ccs))
		}
		cc := ccs[0]
		if cc.MediaSSRC != 1234 || cc.BaseSequenceNumber != 100 || cc.PacketStatusCount != 10 || len(cc.RecvDeltas) != 9 {
			t.Errorf("feedback for SSRC %d from %d, %d packets, %d received; want 1234 from 100, 10, 9",
				cc.MediaSSRC, cc.BaseSequenceNumber, cc.PacketStatusCount, len(cc.RecvDeltas))
		}
		time.Sleep(3 * ReportInterval)
		synctest.Wait()
		if n := len(of[*rtcp.TransportLayerCC](w)); n != 1 {
			t.Errorf("%d feedbacks sent with nothing new", n-1)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestWithoutExtension: a stream without the extension is reported, and
// no feedback is sent for it.
func TestWithoutExtension(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, _ := Factory{}.NewInterceptor("")
		defer f.Close()
		w := &writes{}
		f.BindRTCPWriter(w)
		s := &stream{pkts: [][]byte{packet(t, 1, 1), packet(t, 2, 2)}}
		r := f.BindRemoteStream(&interceptor.StreamInfo{SSRC: 1234, ClockRate: 48000}, s)
		buf := make([]byte, 1500)
		for range 2 {
			if _, _, err := r.Read(buf, nil); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(ReportInterval)
		synctest.Wait()
		if n := len(of[*rtcp.TransportLayerCC](w)); n != 0 {
			t.Errorf("%d feedbacks sent for a stream without transport-wide numbers", n)
		}
		if rrs := of[*rtcp.ReceiverReport](w); len(rrs) != 1 || len(rrs[0].Reports) != 1 || rrs[0].Reports[0].LastSequenceNumber != 2 {
			t.Errorf("reports %+v, want one, up to 2", rrs)
		}
	})
}

func TestSequence(t *testing.T) {
	if _, ok := Sequence(nil); ok {
		t.Error("a sequence number read from nothing")
	}
	if _, ok := Sequence([]byte{1}); ok {
		t.Error("a sequence number read from one byte")
	}
	if s, ok := Sequence([]byte{0x12, 0x34}); !ok || s != 0x1234 {
		t.Errorf("Sequence = %#x, %v", s, ok)
	}
}

// TestInterval: feedback as often as libwebrtc sends it, a twentieth of
// the bitrate at most, between MinInterval and MaxInterval.
func TestInterval(t *testing.T) {
	for _, c := range []struct {
		bytes int
		over  time.Duration
		want  time.Duration
	}{
		{0, 100 * time.Millisecond, MaxInterval},                  // nothing received
		{1000, 250 * time.Millisecond, MaxInterval},               // 32 kbit/s: 272 ms
		{1250, 100 * time.Millisecond, 108800 * time.Microsecond}, // 100 kbit/s
		{12500, 100 * time.Millisecond, MinInterval},              // 1 Mbit/s: 11 ms
	} {
		if got := interval(c.bytes, c.over); got.Round(time.Microsecond) != c.want {
			t.Errorf("interval(%d bytes over %v) = %v, want %v", c.bytes, c.over, got, c.want)
		}
	}
}
