package server

import (
	"encoding/binary"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"parley/client"
)

// dropOnce is an interceptor that drops one incoming video packet, the
// first time it sees it, as a lossy network would, and sees it come again
// on the RTX stream.
type dropOnce struct {
	interceptor.NoOp
	after int // drop the packet after this many video packets
	t     *testing.T

	mu      sync.Mutex
	seen    int
	dropped bool
	ssrc    uint32
	seq     uint16
	again   bool // the dropped packet came back, on the RTX stream
}

func (d *dropOnce) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }

func (d *dropOnce) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	if !strings.HasPrefix(info.MimeType, "video/") {
		return reader
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, a, err := reader.Read(b, a)
			if err != nil || n < 4 {
				return n, a, err
			}
			var pkt rtp.Packet
			if pkt.Unmarshal(b[:n]) != nil {
				return n, a, err
			}
			d.mu.Lock()
			drop := false
			switch {
			case !d.dropped:
				d.seen++
				if drop = d.seen > d.after; drop {
					d.dropped, d.ssrc, d.seq = true, pkt.SSRC, pkt.SequenceNumber
				}
			case pkt.SSRC == d.ssrc && pkt.SequenceNumber == d.seq:
				t := d.t
				d.mu.Unlock()
				t.Error("the lost packet came again on the media stream, not on RTX")
				return n, a, err
			case pkt.SSRC != d.ssrc && len(pkt.Payload) >= 2 && binary.BigEndian.Uint16(pkt.Payload) == d.seq:
				d.again = true // RFC 4588: the original sequence number first
			}
			d.mu.Unlock()
			if !drop {
				return n, a, err
			}
		}
	})
}

func (d *dropOnce) recovered() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.again
}

// TestRTCP: NACKs are answered towards subscribers (on their RTX stream)
// and generated towards
// the publisher; sender and receiver reports flow both ways.
func TestRTCP(t *testing.T) {
	srv := startServer(t, nil)
	drop := &dropOnce{after: 10, t: t}
	sub := newSubscriber()
	srv.join(t, "live", "sue", client.Options{
		OnTrack:            sub.onTrack,
		Interceptors:       []interceptor.Factory{drop},
		NoReplayProtection: true,
	})
	pub := newPublisher(t)
	pub.skip[5020] = true // the server will miss this one and ask for it
	p, _ := srv.join(t, "live", "pat", client.Options{})
	pub.start(t, p)

	eventually(t, 5*time.Second, "the packet the subscriber lost is retransmitted after its NACK", drop.recovered)
	eventually(t, 5*time.Second, "the server NACKs the packet the publisher never sent", func() bool {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return pub.nacked[5020]
	})
	eventually(t, 5*time.Second, "the publisher receives receiver reports", func() bool {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return pub.rrs > 0
	})
	eventually(t, 5*time.Second, "the subscriber receives sender reports", func() bool {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		return sub.srs > 0
	})
}
