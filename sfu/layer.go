package sfu

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// maxLayers is the most simulcast layers one published video has; the
// encodings a publisher declares beyond them are not read.
const maxLayers = 3

// layer is one RTP stream of an up track: the only one of an audio track
// or a plain video, or one of the simulcast encodings of a video (a
// resolution of the same picture, with an SSRC, sequence numbers and
// timestamps of its own). Its packets are read by a goroutine of its own
// (forward) once the publisher has sent its first one.
type layer struct {
	up     *UpTrack
	index  int32  // 0 is the lowest resolution
	rid    string // the encoding's rid; empty for a plain track
	remote rtpStream

	cache    *packetCache // video only: answers subscribers' NACKs
	keyframe *throttle    // PLIs for this layer's SSRC
	started  atomic.Bool  // its packets are read

	// scratch holds the payload being rewritten for a subscriber of a
	// simulcast track; only the layer's read loop uses it.
	scratch []byte

	streamClock

	// The picture size of the layer's latest keyframe; 0 while unknown
	// (before one, or for a codec whose size the SFU does not read).
	width, height atomic.Int32

	// octets counts the bytes of the layer's packets, for its bitrate.
	rateMeter
}

// rateMeter measures the bitrate of a stream of packets whose bytes are
// added to octets.
type rateMeter struct {
	octets atomic.Uint64
	rateMu sync.Mutex
	rateAt time.Time // the last sample of octets; zero before the first
	rateOf uint64    // octets then
	rate   float64   // bits per second over the last rateSpan
}

// rateSpan is the time over which a layer's bitrate is measured.
const rateSpan = time.Second

// bitrate is the layer's bitrate in bits per second over about the last
// rateSpan (since its first packet, at first): what congestion control
// counts a subscriber of it costs. 0 for a layer that does not flow.
func (l *layer) bitrate(now time.Time) float64 {
	if !l.started.Load() {
		return 0
	}
	return l.rateMeter.bitrate(now, l.firstAt.Load())
}

// bitrate is the rate in bits per second over about the last rateSpan,
// or since first (unix nanoseconds; 0 if unknown) at the first call.
func (m *rateMeter) bitrate(now time.Time, first int64) float64 {
	octets := m.octets.Load()
	m.rateMu.Lock()
	defer m.rateMu.Unlock()
	if m.rateAt.IsZero() {
		if first != 0 && now.UnixNano() > first {
			m.rate = float64(octets) * 8 / now.Sub(time.Unix(0, first)).Seconds()
		}
		m.rateAt, m.rateOf = now, octets
		return m.rate
	}
	if el := now.Sub(m.rateAt); el >= rateSpan {
		m.rate = float64(octets-m.rateOf) * 8 / el.Seconds()
		m.rateAt, m.rateOf = now, octets
	}
	return m.rate
}

// flowing tells whether the layer flows at now: it has begun, and has
// not been silent for longer than layerIdle since.
func (l *layer) flowing(now time.Time) bool {
	return l.started.Load() && !l.silentFor(layerIdle, now)
}

// requestKeyframe asks the publisher for a keyframe of this layer, at
// most once per keyframeInterval (see throttle).
func (l *layer) requestKeyframe() {
	if l.up.kind == webrtc.RTPCodecTypeVideo && l.started.Load() {
		l.keyframe.Request()
	}
}

func (l *layer) sendPLI() {
	if l.up.owner != nil {
		l.up.owner.writeRTCPUp([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(l.remote.SSRC())}})
	}
}

// ridLadders are the rid names whose meaning is known, each from the
// lowest resolution to the highest: LiveKit's and Pion's (quarter, half,
// full), the usual low-medium-high, and mediasoup's.
var ridLadders = [][]string{
	{"q", "h", "f"},
	{"l", "m", "h"},
	{"low", "mid", "high"},
	{"low", "medium", "high"},
	{"r0", "r1", "r2"},
}

// rankRIDs orders the rids a publisher declared (in the order of its
// a=rid lines) from the lowest resolution to the highest, and keeps at
// most maxLayers of them. Names from one of ridLadders are ranked by
// name (case aside); any others are taken in the order of the SDP,
// highest first, as the WebRTC specification's examples and OBS list
// them. Empty and repeated rids are dropped; the kept rids beyond
// maxLayers are the first ones declared.
func rankRIDs(declared []string) []string {
	var rids []string
	for _, r := range declared {
		if r != "" && !slices.Contains(rids, r) && len(rids) < maxLayers {
			rids = append(rids, r)
		}
	}
	for _, ladder := range ridLadders {
		rank := make([]int, len(rids))
		known := true
		for i, r := range rids {
			rank[i] = slices.IndexFunc(ladder, func(s string) bool { return strings.EqualFold(s, r) })
			known = known && rank[i] >= 0
		}
		if known {
			out := slices.Clone(rids)
			slices.SortFunc(out, func(a, b string) int { return rank[slices.Index(rids, a)] - rank[slices.Index(rids, b)] })
			return out
		}
	}
	slices.Reverse(rids)
	return rids
}
