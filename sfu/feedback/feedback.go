// Package feedback tells a publisher what the server receives from it: an
// interceptor of publish connections that sends receiver reports (RFC
// 3550 section 6.4.2), from which a browser counts its loss and round
// trip, and TWCC feedback (draft-holmer-rmcat-transport-wide-cc-
// extensions-01), from which it estimates its uplink. It takes the place
// of Pion's receiver report and TWCC interceptors.
//
// Pion's TWCC interceptor hands every packet that carries a sequence
// number to a goroutine of its own over a channel, and that goroutine
// wakes for each: at a publisher's 50 audio packets a second, one more
// goroutine hand-off per packet on the read path, which on a server
// receiving from many publishers costs more than the packet's own work.
// Its receiver report interceptor keeps a goroutine per connection that
// wakes every second at its own moment, and sends a packet for each
// stream. Here the packet's arrival is noted by the reading goroutine
// itself, under one lock for both, and the one goroutine per connection
// wakes only to send: the feedback at an interval that follows the
// bitrate received (MinInterval to MaxInterval), and the reports of all
// the connection's streams in one packet every ReportInterval, with the
// feedback; both on grids every connection shares (see internal/tick), so
// that the connections of a server wake together. The feedback itself is
// built by Pion's twcc.Recorder.
//
// It owns that goroutine: it starts when the connection binds its RTCP
// writer and Close stops it and waits for it.
package feedback

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"

	"parley/internal/tick"
)

// ReportInterval is how often the receiver reports are sent, as Pion's
// interceptor sent them.
const ReportInterval = time.Second

// Factory makes the interceptor of each connection.
type Factory struct{}

// NewInterceptor implements interceptor.Factory.
func (Factory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &Interceptor{start: time.Now(), ssrc: rand.Uint32(), streams: map[uint32]*reception{}, done: make(chan struct{})}, nil
}

// Interceptor is one connection's: it notes the arrival of each packet
// of the connection's streams and sends the reports and the feedback.
type Interceptor struct {
	interceptor.NoOp
	start time.Time // arrival times are counted from it
	ssrc  uint32    // the sender SSRC of what it sends

	mu      sync.Mutex
	streams map[uint32]*reception // by SSRC
	rec     *twcc.Recorder        // nil until the RTCP writer is bound
	bytes   int                   // received with a transport-wide number since the last feedback; one was noted if > 0
	closed  bool
	done    chan struct{}
	wg      sync.WaitGroup
}

// BindRTCPWriter starts the goroutine that sends the reports and the
// feedback.
func (i *Interceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed || i.rec != nil {
		return w
	}
	i.rec = twcc.NewRecorder(i.ssrc)
	i.wg.Add(1)
	go i.send(w)
	return w
}

// BindRemoteStream notes the arrival of each of the stream's packets, on
// the goroutine that reads them: for its reports, and for the feedback if
// it carries a transport-wide sequence number.
func (i *Interceptor) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == URI {
			id = uint8(e.ID)
			break
		}
	}
	ssrc := info.SSRC
	// A stream bound twice (the SFU's direct receive path reads the
	// packets of an SSRC that Pion's track reads too, the few that reach
	// it) is counted once, all its packets together.
	i.mu.Lock()
	r := i.streams[ssrc]
	if r == nil {
		r = &reception{clockRate: info.ClockRate}
		i.streams[ssrc] = r
	}
	i.mu.Unlock()
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if a == nil {
			a = make(interceptor.Attributes)
		}
		// The direct receive path parsed the header already, and the
		// attributes keep it.
		h, err := a.GetRTPHeader(b[:n])
		if err != nil {
			return n, a, nil // not for this interceptor to refuse
		}
		tseq, counted := uint16(0), false
		if id != 0 {
			tseq, counted = Sequence(h.GetExtension(id))
		}
		at := time.Since(i.start)
		i.mu.Lock()
		r.packet(h.SequenceNumber, h.Timestamp, at)
		if counted && i.rec != nil {
			i.rec.Record(ssrc, tseq, at.Microseconds())
			i.bytes += n
		}
		i.mu.Unlock()
		return n, a, nil
	})
}

// UnbindRemoteStream stops reporting the stream.
func (i *Interceptor) UnbindRemoteStream(info *interceptor.StreamInfo) {
	i.mu.Lock()
	defer i.mu.Unlock()
	delete(i.streams, info.SSRC)
}

// BindRTCPReader notes the publisher's sender reports, which the receiver
// reports answer (their LSR and DLSR give the publisher its round trip).
func (i *Interceptor) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if a == nil {
			a = make(interceptor.Attributes)
		}
		pkts, err := a.GetRTCPPackets(b[:n])
		if err != nil {
			return n, a, nil // not for this interceptor to refuse
		}
		at := time.Since(i.start)
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				i.mu.Lock()
				if r := i.streams[sr.SSRC]; r != nil {
					r.senderReport(sr.NTPTime, at)
				}
				i.mu.Unlock()
			}
		}
		return n, a, nil
	})
}

func (i *Interceptor) send(w interceptor.RTCPWriter) {
	defer i.wg.Done()
	// The feedback is sent on a grid of MinInterval shared by every
	// connection (at most one interval after the last, and less by up to
	// MinInterval), and the reports on the multiples of ReportInterval,
	// which are on that grid too: an idle server wakes once for all of
	// them.
	last := time.Now()
	nextReport := tick.Next(last, ReportInterval)
	t := time.NewTimer(min(tick.Within(last, MaxInterval, MinInterval), time.Until(nextReport)))
	defer t.Stop()
	for {
		var now time.Time
		select {
		case <-i.done:
			return
		case now = <-t.C:
		}
		report := !now.Before(nextReport)
		i.mu.Lock()
		bytes := i.bytes
		i.bytes = 0
		var pkts []rtcp.Packet
		if report {
			at := now.Sub(i.start)
			var reports []rtcp.ReceptionReport
			for ssrc, r := range i.streams {
				if rr, ok := r.report(ssrc, at); ok {
					reports = append(reports, rr)
				}
			}
			// A receiver report holds 31 blocks at most.
			for len(reports) > 0 {
				n := min(len(reports), 31)
				pkts = append(pkts, &rtcp.ReceiverReport{SSRC: i.ssrc, Reports: reports[:n:n]})
				reports = reports[n:]
			}
			nextReport = tick.Next(now, ReportInterval)
		}
		if bytes > 0 {
			pkts = append(pkts, i.rec.BuildFeedbackPacket()...)
		}
		i.mu.Unlock()
		if len(pkts) > 0 {
			_, _ = w.Write(pkts, nil) // a connection that closed; Close ends the loop
		}
		wait := interval(bytes, now.Sub(last))
		last = now
		now = time.Now()
		t.Reset(min(tick.Within(now, wait, MinInterval), nextReport.Sub(now)))
	}
}

// Close stops the goroutine and waits for it.
func (i *Interceptor) Close() error {
	i.mu.Lock()
	if !i.closed {
		i.closed = true
		close(i.done)
	}
	i.mu.Unlock()
	i.wg.Wait()
	return nil
}
