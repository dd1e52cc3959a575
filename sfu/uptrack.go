package sfu

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"parley/audiolevel"
)

// keyframeInterval is the shortest time between two keyframe requests sent
// upstream for one track. Many subscribers asking at once (a room joining, a
// lossy network) must not turn into a storm of keyframes: each costs the
// publisher several times the bitrate of a normal frame.
const keyframeInterval = 500 * time.Millisecond

// Sink receives every RTP packet of an UpTrack besides the subscribers: a
// recorder, say. WriteRTP is called on the forwarding goroutine: it must
// not block, and must copy what it keeps of p.
type Sink interface {
	WriteRTP(p *rtp.Packet)
}

// SenderReport is the mapping of the publisher's wall clock to the track's
// RTP clock, from its latest RTCP sender report, and when the report
// arrived. The mapping holds for the packets sent around that time: a
// push-to-talk sender whose audio clock stands still between talks makes
// it wrong for the next talk until its next report (see recorder.trusted).
type SenderReport struct {
	NTP     time.Time
	RTP     uint32
	Arrival time.Time // local time, with a monotonic reading
}

// UpTrack is a track published by a participant. One goroutine reads it and
// writes every packet to the DownTracks attached to it.
type UpTrack struct {
	id     string
	owner  *Participant
	remote *webrtc.TrackRemote
	codec  webrtc.RTPCodecParameters

	// downs is replaced, never modified, so that the read loop can use it
	// without a lock.
	downs  atomic.Pointer[[]*DownTrack]
	downMu sync.Mutex // serialises writers of downs
	closed atomic.Bool

	sinks  atomic.Pointer[[]Sink]
	sinkMu sync.Mutex
	sr     atomic.Pointer[SenderReport]

	keyframe *throttle
	cache    *packetCache // video only: answers subscribers' NACKs; nil for audio

	// levelID is the header extension id of the publisher's audio level
	// (audiolevel.URI), 0 when it sends none; set before the track is
	// published. speech tells from the levels whether it speaks.
	levelID  uint8
	speechMu sync.Mutex
	speech   *audiolevel.Detector
	speaking atomic.Bool

	packets atomic.Uint64
	// detachedSent counts what the subscribers that left were sent.
	detachedSent atomic.Uint64
	born         time.Time
	last         atomic.Uint64 // see noteArrival
	firstAt      atomic.Int64  // unix nanoseconds of the first packet
	clockFrom    atomic.Int32  // clockUndecided, clockPublisher or clockArrival
}

func newUpTrack(id string, owner *Participant, remote *webrtc.TrackRemote, codec webrtc.RTPCodecParameters) *UpTrack {
	u := &UpTrack{id: id, owner: owner, remote: remote, codec: codec, born: time.Now()}
	if remote.Kind() == webrtc.RTPCodecTypeVideo {
		u.cache = &packetCache{}
	}
	u.keyframe = newThrottle(keyframeInterval, func() {
		owner.writeRTCPUp([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(remote.SSRC())}})
	})
	empty := []*DownTrack{}
	u.downs.Store(&empty)
	noSinks := []Sink{}
	u.sinks.Store(&noSinks)
	return u
}

// ID is unique within the room: the publisher's id and a counter.
func (u *UpTrack) ID() string { return u.id }

// Kind is audio or video.
func (u *UpTrack) Kind() webrtc.RTPCodecType { return u.remote.Kind() }

// Codec is the codec the publisher sends.
func (u *UpTrack) Codec() webrtc.RTPCodecParameters { return u.codec }

// Owner is the participant that publishes the track.
func (u *UpTrack) Owner() *Participant { return u.owner }

// Closed reports whether the track has ended.
func (u *UpTrack) Closed() bool { return u.closed.Load() }

// AudioLevelID is the RTP header extension id under which the publisher
// sends its audio level (audiolevel.URI) on this track; 0 when it sends
// none.
func (u *UpTrack) AudioLevelID() uint8 { return u.levelID }

// Speaking reports whether the publisher speaks on this track now, from
// its audio levels; always false without them.
func (u *UpTrack) Speaking() bool { return u.speaking.Load() }

// hear notes the audio level of a packet that arrived at now.
func (u *UpTrack) hear(now time.Time, pkt *rtp.Packet) {
	l, _, ok := audiolevel.Parse(pkt.GetExtension(u.levelID))
	if !ok {
		return
	}
	u.speechMu.Lock()
	changed := u.speech.Level(now, l)
	u.speaking.Store(u.speech.Speaking())
	u.speechMu.Unlock()
	if changed {
		u.owner.speakingChanged(u)
	}
}

// tickSpeech ends speaking when the levels have said nothing loud for a
// while, or the packets stopped: the room calls it now and then.
func (u *UpTrack) tickSpeech(now time.Time) {
	u.speechMu.Lock()
	changed := u.speech.Tick(now)
	u.speaking.Store(u.speech.Speaking())
	u.speechMu.Unlock()
	if changed {
		u.owner.speakingChanged(u)
	}
}

// Packets is the number of RTP packets read so far.
func (u *UpTrack) Packets() uint64 { return u.packets.Load() }

func (u *UpTrack) attach(d *DownTrack) {
	u.downMu.Lock()
	defer u.downMu.Unlock()
	old := *u.downs.Load()
	downs := make([]*DownTrack, 0, len(old)+1)
	downs = append(downs, old...)
	downs = append(downs, d)
	u.downs.Store(&downs)
}

func (u *UpTrack) detach(d *DownTrack) {
	u.downMu.Lock()
	defer u.downMu.Unlock()
	old := *u.downs.Load()
	downs := make([]*DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			downs = append(downs, x)
		}
	}
	if len(downs) < len(old) {
		u.detachedSent.Add(d.packets.Load())
	}
	u.downs.Store(&downs)
}

// AddSink makes s receive the track's packets.
func (u *UpTrack) AddSink(s Sink) {
	u.sinkMu.Lock()
	defer u.sinkMu.Unlock()
	old := *u.sinks.Load()
	sinks := append(append(make([]Sink, 0, len(old)+1), old...), s)
	u.sinks.Store(&sinks)
}

// RemoveSink stops sending packets to s. Once it returns, s receives no
// packet that it has not already been given.
func (u *UpTrack) RemoveSink(s Sink) {
	u.sinkMu.Lock()
	defer u.sinkMu.Unlock()
	old := *u.sinks.Load()
	sinks := make([]Sink, 0, len(old))
	for _, x := range old {
		if x != s {
			sinks = append(sinks, x)
		}
	}
	u.sinks.Store(&sinks)
}

// LastSenderReport returns the latest sender report of the track.
func (u *UpTrack) LastSenderReport() (SenderReport, bool) {
	if sr := u.sr.Load(); sr != nil {
		return *sr, true
	}
	return SenderReport{}, false
}

// readRTCP keeps the latest sender report of the publisher; reading also
// feeds the receiver-side interceptors. It returns when the receiver stops.
func (u *UpTrack) readRTCP(recv *webrtc.RTPReceiver) {
	for {
		pkts, _, err := recv.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == uint32(u.remote.SSRC()) {
				u.sr.Store(&SenderReport{NTP: ntpTime(sr.NTPTime), RTP: sr.RTPTime, Arrival: time.Now()})
			}
		}
	}
}

// ntpTime converts a 64-bit NTP timestamp to time.Time. Seconds with the
// top bit clear are taken to be in the era after 2036 (RFC 4330 section
// 3), so times from 1968 to 2104 convert right.
func ntpTime(ntp uint64) time.Time {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := int64(ntp>>32) - ntpEpochOffset
	if ntp>>63 == 0 {
		secs += 1 << 32
	}
	frac := float64(ntp&0xffffffff) / (1 << 32)
	return time.Unix(secs, int64(frac*1e9))
}

// forward reads RTP until the track ends and writes each packet to every
// attached DownTrack. It returns when the publisher's connection closes.
func (u *UpTrack) forward() {
	buf := make([]byte, maxPacket)
	var pkt rtp.Packet
	for {
		n, _, err := u.remote.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				u.owner.log.Debug("up track read ended", "track", u.id, "err", err)
			}
			return
		}
		u.handle(buf[:n], &pkt)
	}
}

// handle is the per-packet work of the SFU: parse raw into pkt, keep it
// for retransmissions (video), and write it to every subscriber and sink.
func (u *UpTrack) handle(raw []byte, pkt *rtp.Packet) {
	if err := pkt.Unmarshal(raw); err != nil {
		return
	}
	if pkt.PayloadType != uint8(u.codec.PayloadType) && u.packets.Load() == 0 && u.owner != nil {
		// The codec was taken from the negotiation, before any packet;
		// a publisher that sends another one is not forwarded right.
		u.owner.log.Warn("the publisher sends another codec than negotiated first",
			"track", u.id, "negotiated", u.codec.MimeType, "payload_type", pkt.PayloadType)
	}
	u.packets.Add(1)
	u.noteArrival(pkt.Timestamp)
	if u.levelID != 0 {
		u.hear(time.Now(), pkt)
	}
	if u.cache != nil {
		u.cache.put(pkt.SequenceNumber, raw)
	}
	u.fanOut(pkt)
}

// fanOut writes one packet to every subscriber and sink: the per-packet
// work of the SFU.
func (u *UpTrack) fanOut(pkt *rtp.Packet) {
	for _, d := range *u.downs.Load() {
		d.writeRTP(pkt)
	}
	for _, s := range *u.sinks.Load() {
		s.WriteRTP(pkt)
	}
}

// RequestKeyframe asks the publisher for a keyframe (PLI), at most once
// per keyframeInterval (see throttle).
func (u *UpTrack) RequestKeyframe() {
	if u.remote.Kind() == webrtc.RTPCodecTypeVideo {
		u.keyframe.Request()
	}
}

// close marks the track ended and stops its pending keyframe request.
func (u *UpTrack) close() {
	u.closed.Store(true)
	u.keyframe.Stop()
}
