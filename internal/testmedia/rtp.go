package testmedia

import (
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The codecs of Opus and VP8 as a publisher's track has them.
var (
	OpusCodec = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}}
	VP8Codec  = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
)

// Packets turns frames into RTP packets, one slice per frame, with a
// given first timestamp.
func Packets(frames []Frame, payloader rtp.Payloader, clock uint32, ts0 uint32) [][]*rtp.Packet {
	p := rtp.NewPacketizer(1200, 96, 1234, payloader, rtp.NewRandomSequencer(), clock)
	out := make([][]*rtp.Packet, len(frames))
	ts := ts0
	for i, f := range frames {
		samples := uint32(f.Duration.Seconds() * float64(clock))
		pkts := p.Packetize(f.Data, samples)
		for _, pk := range pkts {
			pk.Timestamp = ts
		}
		out[i] = pkts
		ts += samples
	}
	return out
}
