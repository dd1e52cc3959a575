package sfu

import (
	"fmt"
	"math"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// countingWriter stands for a subscriber's SRTP stream: it only counts,
// and keeps the number of header extensions of the last packet.
type countingWriter struct{ packets, bytes, exts int }

func (w *countingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.packets++
	w.bytes += len(payload)
	w.exts = len(h.Extensions)
	return len(payload), nil
}

func (w *countingWriter) Write(b []byte) (int, error) { return len(b), nil }

// benchUp builds an up track with n bound down tracks writing to
// counters, without connections (with twcc, each on a connection of
// its own with congestion control, so that every packet is stamped with
// a transport-wide sequence number); a video one keeps a packet cache,
// and an audio one's subscribers take the publisher's audio level (as
// rawPacket's, id 1) under id 2.
func benchUp(n int, video, twcc bool) (*UpTrack, []*countingWriter) {
	kind := webrtc.RTPCodecTypeAudio
	if video {
		kind = webrtc.RTPCodecTypeVideo
	}
	u := newUpTrack("bench", nil, kind, webrtc.RTPCodecParameters{PayloadType: 111}, []layerSource{{remote: &webrtc.TrackRemote{}}})
	ws := make([]*countingWriter, n)
	for i := range ws {
		ws[i] = &countingWriter{}
		d := &DownTrack{up: u}
		b := &downBinding{ssrc: uint32(1000 + i), pt: 111, writer: ws[i]}
		if twcc {
			d.conn = &subConn{cc: &congestion{hist: newSendHistory(0)}}
			b.twcc = 3
		}
		if !video {
			b.level, b.levelIn = 2, 1
		}
		d.binding.Store(b)
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
			b.Run(fmt.Sprintf("%s/subscribers=%d", kind, n), func(b *testing.B) { forward(b, raw, n, video, false) })
		}
	}
}

// forward runs handle on raw for an up track with n subscribers (see
// benchUp) b.N times.
func forward(b *testing.B, raw []byte, n int, video, twcc bool) {
	u, ws := benchUp(n, video, twcc)
	forwardUp(b, raw, u, ws, btoi(!video)+btoi(twcc))
}

// forwardUp runs handle on raw for u, whose subscribers write to ws,
// b.N times; each packet written must carry exts header extensions.
func forwardUp(b *testing.B, raw []byte, u *UpTrack, ws []*countingWriter, exts int) {
	n := len(ws)
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
	if ws[0].exts != exts {
		b.Fatalf("wrote packets with %d header extensions, want %d", ws[0].exts, exts)
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "forwarded/s")
}

// BenchmarkForwardTWCC is BenchmarkForward's video with and without
// congestion control: the cost of stamping each packet with its
// connection's transport-wide sequence number and recording it; and its
// audio, whose packets carry the audio level beside it.
func BenchmarkForwardTWCC(b *testing.B) {
	raw := rawPacket()
	for _, twcc := range []bool{false, true} {
		b.Run(fmt.Sprintf("twcc=%v/subscribers=100", twcc), func(b *testing.B) { forward(b, raw, 100, true, twcc) })
	}
	b.Run("audio/twcc=true/subscribers=100", func(b *testing.B) { forward(b, raw, 100, false, true) })
	// Each connection paced, with an estimate that lets every packet go
	// at once (the common case): the cost of asking the pacer.
	b.Run("paced/subscribers=100", func(b *testing.B) {
		u, ws := benchUp(100, true, true)
		for _, d := range *u.downs.Load() {
			cc := d.conn.cc
			cc.pacer = newPacer(cc.pacingRate, testPacing(b))
			cc.estimate.Store(math.Float64bits(1e12))
			cc.lastFeedback.Store(1)
			b.Cleanup(cc.pacer.close)
		}
		forwardUp(b, raw, u, ws, 1)
	})
}

// vp8Raw is a VP8 packet as a browser's simulcast encoder sends it: a
// payload descriptor with a 15-bit picture ID, TL0PICIDX and TID, and
// 1,000 bytes of frame.
func vp8Raw(ssrc uint32, seq uint16, key bool) []byte {
	payload := make([]byte, 1000)
	copy(payload, []byte{0x90, 0xe0, 0x81, 0x23, 0x05, 0x00, 0x01})
	if key {
		payload[6] = 0x00
	}
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 90000, SSRC: ssrc}, Payload: payload}
	_ = p.SetExtension(3, []byte{0x01, 0x02})
	b, _ := p.Marshal()
	return b
}

// BenchmarkForwardSimulcast measures the per-packet path of a VP8 track
// with one layer and with three, n subscribers spread evenly over the
// three (each switched to its layer before the timing): parse, keep for
// retransmission, and for simulcast read the payload descriptor and,
// for each subscriber of the packet's layer, rewrite its numbers and
// descriptor. The packets of the three layers come in turn. ns/forwarded
// is the time per packet written to a subscriber, the figure to compare.
func BenchmarkForwardSimulcast(b *testing.B) {
	codec := webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
	for _, layers := range []int{1, 3} {
		for _, n := range []int{3, 30, 300} {
			b.Run(fmt.Sprintf("layers=%d/subscribers=%d", layers, n), func(b *testing.B) {
				streams := []layerSource{{remote: &webrtc.TrackRemote{}}}
				if layers == 3 {
					streams = []layerSource{{"q", &webrtc.TrackRemote{}}, {"h", &webrtc.TrackRemote{}}, {"f", &webrtc.TrackRemote{}}}
				}
				u := newUpTrack("bench", nil, webrtc.RTPCodecTypeVideo, codec, streams)
				defer u.close()
				ws := make([]*countingWriter, n)
				for i := range ws {
					ws[i] = &countingWriter{}
					d := newDownTrack(u, nil, nil)
					d.binding.Store(&downBinding{ssrc: uint32(1000 + i), pt: 96, writer: ws[i]})
					if d.follow != nil {
						d.follow.climb = false
						d.follow.target.Store(int32(i % layers))
					}
					u.attach(d)
				}
				raws := make([][]byte, layers)
				seqs := make([]uint16, layers)
				var pkt rtp.Packet
				for l := range layers {
					u.layers[l].started.Store(true)
					seqs[l] = uint16(1000 * l)
					u.handle(u.layers[l], vp8Raw(uint32(l+1), seqs[l], true), &pkt)
					raws[l] = vp8Raw(uint32(l+1), seqs[l], false)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					l := i % layers
					seqs[l]++
					raw := raws[l]
					raw[2], raw[3] = byte(seqs[l]>>8), byte(seqs[l])
					u.handle(u.layers[l], raw, &pkt)
				}
				b.StopTimer()
				forwarded := 0
				for _, w := range ws {
					forwarded += w.packets
				}
				if want := b.N * n / layers; forwarded < want-n {
					b.Fatalf("forwarded %d packets, want about %d", forwarded, want)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(forwarded), "ns/forwarded")
				b.ReportMetric(float64(forwarded)/b.Elapsed().Seconds(), "forwarded/s")
			})
		}
	}
}

// BenchmarkForwardSVC measures the per-packet path of a VP9 L3T3_KEY
// track in one stream, n subscribers spread evenly over its three
// spatial layers: parse, keep for retransmission, read the payload
// descriptor, and for each subscriber decide, renumber and write, or
// drop. The packets come as a browser sends them: a picture of one
// packet per spatial layer. ns/forwarded is the time per packet written
// to a subscriber, to compare with BenchmarkForwardSimulcast.
func BenchmarkForwardSVC(b *testing.B) {
	codec := webrtc.RTPCodecParameters{PayloadType: 98, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}}
	for _, n := range []int{3, 30, 300} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			u := newUpTrack("bench", nil, webrtc.RTPCodecTypeVideo, codec, []layerSource{{remote: &webrtc.TrackRemote{}}})
			defer u.close()
			u.layers[0].started.Store(true)
			ws := make([]*countingWriter, n)
			for i := range ws {
				ws[i] = &countingWriter{}
				d := newDownTrack(u, nil, nil)
				d.binding.Store(&downBinding{ssrc: uint32(1000 + i), pt: 98, writer: ws[i]})
				d.SetTargetLayer(i % 3)
				u.attach(d)
			}
			raws := make([][]byte, 3)
			var pkt rtp.Packet
			seq := uint16(0)
			for sid := range 3 {
				// B and E (one packet per layer frame); the key picture's
				// P clear, the others' set with one reference.
				payload := make([]byte, 1000)
				copy(payload, []byte{0xbc, 0x81, 0x23, byte(sid << 1)})
				u.handle(u.layers[0], vp9Raw(seq, uint32(0), sid == 2, payload), &pkt)
				seq++
				delta := make([]byte, 1000)
				copy(delta, []byte{0xfc, 0x81, 0x24, byte(sid << 1), 0x02})
				raws[sid] = vp9Raw(0, 3000, sid == 2, delta)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				raw := raws[i%3]
				raw[2], raw[3] = byte(seq>>8), byte(seq)
				seq++
				u.handle(u.layers[0], raw, &pkt)
			}
			b.StopTimer()
			forwarded := 0
			for _, w := range ws {
				forwarded += w.packets
			}
			// Subscriber k of 3 gets layers 0 to k: 6 of every 9 packets.
			if want := b.N * n * 2 / 3; forwarded < want-2*n {
				b.Fatalf("forwarded %d packets, want about %d", forwarded, want)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(forwarded), "ns/forwarded")
			b.ReportMetric(float64(forwarded)/b.Elapsed().Seconds(), "forwarded/s")
		})
	}
}

// vp9Raw is a VP9 packet of one SSRC with payload, the marker set if
// marker.
func vp9Raw(seq uint16, ts uint32, marker bool, payload []byte) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 98, SequenceNumber: seq, Timestamp: ts, SSRC: 7, Marker: marker}, Payload: payload}
	_ = p.SetExtension(3, []byte{0x01, 0x02})
	raw, _ := p.Marshal()
	return raw
}
