// Package transportcc answers a publisher's transport-wide sequence
// numbers with TWCC feedback (draft-holmer-rmcat-transport-wide-cc-
// extensions-01), from which a browser estimates its uplink: an
// interceptor of publish connections, in place of Pion's.
//
// Pion's hands every packet that carries a sequence number to a goroutine
// of its own over a channel, and that goroutine wakes for each: at a
// publisher's 50 audio packets a second, one more goroutine hand-off per
// packet on the read path, which on a server receiving from many
// publishers costs more than the packet's own work. Here the packet's
// arrival is noted by the reading goroutine itself, under a lock, and the
// one goroutine per connection wakes only to send the feedback, at an
// interval that follows the bitrate received (MinInterval to
// MaxInterval). The feedback itself is built by Pion's twcc.Recorder.
//
// It owns that goroutine: it starts when the connection binds its RTCP
// writer and Close stops it and waits for it.
package transportcc

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"

	"parley/internal/tick"
)

// URI names the header extension of the transport-wide sequence number.
const URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

// How often feedback is sent: as libwebrtc does, often enough for a fast
// stream's estimate (every 50 ms at a megabit and more), and no more than
// a twentieth of the bitrate received for a slow one (every 250 ms for an
// audio stream of 32 kbit/s). Fifty audio publishers would otherwise
// cost the server 500 feedbacks a second, each an encryption and a send.
const (
	MinInterval = 50 * time.Millisecond
	MaxInterval = 250 * time.Millisecond
	// feedbackBits is the size of a feedback packet, encrypted and sent,
	// as libwebrtc counts it.
	feedbackBits = 68 * 8
)

// Factory makes the interceptor of each connection.
type Factory struct{}

// NewInterceptor implements interceptor.Factory.
func (Factory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &Interceptor{start: time.Now(), done: make(chan struct{})}, nil
}

// interval is the time until the next feedback after one that covered
// bytes received over d.
func interval(bytes int, d time.Duration) time.Duration {
	if bytes <= 0 || d <= 0 {
		return MaxInterval
	}
	bps := float64(bytes) * 8 / d.Seconds()
	return min(max(time.Duration(feedbackBits/(0.05*bps)*float64(time.Second)), MinInterval), MaxInterval)
}

// Interceptor is one connection's: it notes the arrival of each packet
// with a transport-wide sequence number and sends the feedback.
type Interceptor struct {
	interceptor.NoOp
	start time.Time // arrival times are counted from it

	mu     sync.Mutex
	rec    *twcc.Recorder // nil until the RTCP writer is bound
	bytes  int            // received since the last feedback; a packet was noted if > 0
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// BindRTCPWriter starts the goroutine that sends the feedback.
func (i *Interceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed || i.rec != nil {
		return w
	}
	i.rec = twcc.NewRecorder(rand.Uint32())
	i.wg.Add(1)
	go i.send(w)
	return w
}

// BindRemoteStream notes the arrival of the stream's packets that carry
// a transport-wide sequence number, on the goroutine that reads them.
func (i *Interceptor) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == URI {
			id = uint8(e.ID)
			break
		}
	}
	if id == 0 {
		return reader
	}
	ssrc := info.SSRC
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if a == nil {
			a = make(interceptor.Attributes)
		}
		// The other interceptors of the chain parsed the header already;
		// the attributes keep it.
		h, err := a.GetRTPHeader(b[:n])
		if err != nil {
			return n, a, nil // not for this interceptor to refuse
		}
		seq, ok := Sequence(h.GetExtension(id))
		if !ok {
			return n, a, nil
		}
		at := time.Since(i.start).Microseconds()
		i.mu.Lock()
		if i.rec != nil {
			i.rec.Record(ssrc, seq, at)
			i.bytes += n
		}
		i.mu.Unlock()
		return n, a, nil
	})
}

// Sequence reads a transport-wide sequence number from the payload of
// its header extension.
func Sequence(ext []byte) (uint16, bool) {
	if len(ext) < 2 {
		return 0, false
	}
	return uint16(ext[0])<<8 | uint16(ext[1]), true
}

func (i *Interceptor) send(w interceptor.RTCPWriter) {
	defer i.wg.Done()
	// The feedback is sent on a grid of MinInterval shared by every
	// connection (at most one interval after the last, and less by up to
	// MinInterval), so that an idle server wakes once for all of them.
	last := time.Now()
	t := time.NewTimer(tick.Within(last, MaxInterval, MinInterval))
	defer t.Stop()
	for {
		var now time.Time
		select {
		case <-i.done:
			return
		case now = <-t.C:
		}
		i.mu.Lock()
		bytes := i.bytes
		i.bytes = 0
		var pkts []rtcp.Packet
		if bytes > 0 {
			pkts = i.rec.BuildFeedbackPacket()
		}
		i.mu.Unlock()
		if len(pkts) > 0 {
			_, _ = w.Write(pkts, nil) // a connection that closed; Close ends the loop
		}
		wait := interval(bytes, now.Sub(last))
		last = now
		t.Reset(tick.Within(time.Now(), wait, MinInterval))
	}
}

// Close stops the feedback and waits for its goroutine.
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
