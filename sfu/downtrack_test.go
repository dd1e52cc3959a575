package sfu

import (
	"errors"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// bindContext is what Pion tells a track it binds: the codecs the
// subscriber's connection negotiated, and the SSRC and stream to send on.
type bindContext struct {
	codecs []webrtc.RTPCodecParameters
	writer webrtc.TrackLocalWriter
}

func (c bindContext) CodecParameters() []webrtc.RTPCodecParameters { return c.codecs }
func (bindContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter {
	return nil
}
func (bindContext) SSRC() webrtc.SSRC                       { return 4321 }
func (bindContext) SSRCRetransmission() webrtc.SSRC         { return 0 }
func (bindContext) SSRCForwardErrorCorrection() webrtc.SSRC { return 0 }
func (c bindContext) WriteStream() webrtc.TrackLocalWriter  { return c.writer }
func (bindContext) ID() string                              { return "ctx" }
func (bindContext) RTCPReader() interceptor.RTCPReader      { return nil }

func h264(pt webrtc.PayloadType, fmtp string) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{PayloadType: pt,
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp}}
}

// TestBind: a down track takes the subscriber's payload type for the
// publisher's codec (for H.264, of the same profile and packetization
// mode), refuses a connection without it, and once bound forwards packets
// with the subscriber's SSRC and payload type and without header
// extensions.
func TestBind(t *testing.T) {
	const baseline = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	vp8 := webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
	for _, tc := range []struct {
		name   string
		up     webrtc.RTPCodecParameters
		offer  []webrtc.RTPCodecParameters
		wantPT webrtc.PayloadType // 0: refused
	}{
		{"VP8", vp8, []webrtc.RTPCodecParameters{h264(102, baseline), vp8}, 96},
		{"H.264, same profile", h264(102, baseline),
			[]webrtc.RTPCodecParameters{h264(100, "packetization-mode=1;profile-level-id=640c1f"), h264(108, "packetization-mode=1;profile-level-id=42001f")}, 108},
		{"H.264, other packetization mode", h264(102, baseline), []webrtc.RTPCodecParameters{h264(104, "packetization-mode=0;profile-level-id=42e01f")}, 0},
		{"H.264, only another profile", h264(102, baseline), []webrtc.RTPCodecParameters{h264(100, "packetization-mode=1;profile-level-id=640c1f")}, 0},
		{"not offered", vp8, []webrtc.RTPCodecParameters{h264(102, baseline)}, 0},
	} {
		up := newUpTrack("u", nil, webrtc.RTPCodecTypeVideo, tc.up, []layerSource{{remote: &webrtc.TrackRemote{}}})
		d := newDownTrack(up, nil, nil)
		w := &countingWriter{}
		got, err := d.Bind(bindContext{codecs: tc.offer, writer: w})
		if tc.wantPT == 0 {
			if !errors.Is(err, errCodecNotNegotiated) || d.binding.Load() != nil {
				t.Errorf("%s: bound to %d (%v), want refused", tc.name, got.PayloadType, err)
			}
			continue
		}
		if err != nil || got.PayloadType != tc.wantPT {
			t.Errorf("%s: bound to %d (%v), want %d", tc.name, got.PayloadType, err, tc.wantPT)
			continue
		}
		up.attach(d)
		var pkt rtp.Packet
		up.handle(up.layers[0], rawPacket(), &pkt)
		if w.packets != 1 || d.hdr.SSRC != 4321 || d.hdr.PayloadType != uint8(tc.wantPT) || d.hdr.Extension || len(d.hdr.Extensions) != 0 {
			t.Errorf("%s: sent %d packets with header %+v", tc.name, w.packets, d.hdr)
		}
		if pkt.SSRC != 42 || !pkt.Extension {
			t.Errorf("%s: the up track's packet was changed: %+v", tc.name, pkt.Header)
		}
		if err := d.Unbind(bindContext{}); err != nil || d.binding.Load() != nil {
			t.Errorf("%s: still bound after Unbind (%v)", tc.name, err)
		}
		up.handle(up.layers[0], rawPacket(), &pkt)
		if w.packets != 1 {
			t.Errorf("%s: sent after Unbind", tc.name)
		}
	}
}

// TestSameH264Profile: H.264 streams are compatible when their profiles
// (the first byte of profile-level-id; the level may differ) and their
// packetization modes agree.
func TestSameH264Profile(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"profile-level-id=42e01f;packetization-mode=1", "packetization-mode=1;profile-level-id=42001f", true},
		{"profile-level-id=42e01f;packetization-mode=1", "profile-level-id=42E034; packetization-mode=1", true},
		{"profile-level-id=42e01f;packetization-mode=1", "profile-level-id=640c1f;packetization-mode=1", false},
		{"profile-level-id=42e01f;packetization-mode=1", "profile-level-id=42e01f", false},
		{"packetization-mode=1", "profile-level-id=640c1f;packetization-mode=1", true},
		{"", "", true},
	} {
		if got := sameH264Profile(tc.a, tc.b); got != tc.want {
			t.Errorf("sameH264Profile(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
