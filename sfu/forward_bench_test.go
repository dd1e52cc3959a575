package sfu

import (
	"fmt"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// countingWriter stands for a subscriber's SRTP stream: it only counts.
type countingWriter struct{ packets, bytes int }

func (w *countingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.packets++
	w.bytes += len(payload)
	return len(payload), nil
}

func (w *countingWriter) Write(b []byte) (int, error) { return len(b), nil }

// benchUp builds an up track with n bound down tracks writing to
// counters, without connections; a video one keeps a packet cache.
func benchUp(n int, video bool) (*UpTrack, []*countingWriter) {
	kind := webrtc.RTPCodecTypeAudio
	if video {
		kind = webrtc.RTPCodecTypeVideo
	}
	u := newUpTrack("bench", nil, kind, webrtc.RTPCodecParameters{PayloadType: 111}, []layerSource{{remote: &webrtc.TrackRemote{}}})
	ws := make([]*countingWriter, n)
	for i := range ws {
		ws[i] = &countingWriter{}
		d := &DownTrack{up: u}
		d.binding.Store(&downBinding{ssrc: uint32(1000 + i), pt: 111, writer: ws[i]})
		u.attach(d)
	}
	return u, ws
}

// rawPacket is an Opus packet as a browser sends it: with the audio level
// and transport-wide sequence number header extensions.
func rawPacket() []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 7, Timestamp: 960, SSRC: 42}, Payload: make([]byte, 80)}
	_ = p.SetExtension(1, []byte{0x80})
	_ = p.SetExtension(3, []byte{0x01, 0x02})
	b, _ := p.Marshal()
	return b
}

// BenchmarkForward measures the per-packet path of an up track: parse the
// packet, keep it for retransmission (video), rewrite it and write it to
// every subscriber. The SRTP encryption and the socket write that follow
// in a real connection are not in it: cmd/parley-bench measures those.
func BenchmarkForward(b *testing.B) {
	raw := rawPacket()
	for _, video := range []bool{false, true} {
		for _, n := range []int{1, 10, 100, 500} {
			kind := "audio"
			if video {
				kind = "video"
			}
			b.Run(fmt.Sprintf("%s/subscribers=%d", kind, n), func(b *testing.B) {
				u, ws := benchUp(n, video)
				var pkt rtp.Packet
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					u.handle(u.layers[0], raw, &pkt)
				}
				b.StopTimer()
				if ws[0].packets != b.N {
					b.Fatalf("wrote %d packets, want %d", ws[0].packets, b.N)
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "forwarded/s")
			})
		}
	}
}
