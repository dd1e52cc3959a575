package server

import (
	"encoding/binary"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"

	"parley/client"
)

// dropOnce is an interceptor that drops one incoming video packet, the
// first time it sees it, as a lossy network would.
type dropOnce struct {
	interceptor.NoOp
	after int // drop the packet after this many video packets

	mu      sync.Mutex
	seen    int
	dropped bool
	seq     uint16
	again   bool // the dropped packet came back
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
			seq := binary.BigEndian.Uint16(b[2:4])
			d.mu.Lock()
			d.seen++
			drop := !d.dropped && d.seen > d.after
			if drop {
				d.dropped, d.seq = true, seq
			} else if d.dropped && seq == d.seq {
				d.again = true
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

// TestRTCP: NACKs are answered towards subscribers and generated towards
// the publisher; sender and receiver reports flow both ways.
func TestRTCP(t *testing.T) {
	srv := startServer(t, nil)
	drop := &dropOnce{after: 10}
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
