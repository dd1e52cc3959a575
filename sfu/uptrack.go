package sfu

import (
	"errors"
	"io"
	"slices"
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

// UpTrack is a track published by a participant: one RTP stream (a
// layer), or for a simulcast video up to maxLayers of them, ordered from
// the lowest resolution to the highest. One goroutine per layer reads it
// and writes every packet to the DownTracks attached to the track: to all
// of them for a single layer; for simulcast, to those that follow the
// layer (see follower).
type UpTrack struct {
	id     string
	owner  *Participant
	kind   webrtc.RTPCodecType
	codec  webrtc.RTPCodecParameters
	codecK codecKind
	// screen: the video of a shared screen, not a camera (the publisher
	// marked its m-section "a=content:slides"); set before the track is
	// published.
	screen bool
	// layers are fixed when the track is made; a layer's packets flow
	// once the publisher has sent its first (layer.started).
	layers []*layer
	// svc: a VP9 video in one stream, whose spatial and temporal layers
	// subscribers receive some of (see svcTrack); nil otherwise.
	svc *svcTrack

	// downs is replaced, never modified, so that the read loop can use it
	// without a lock.
	downs  atomic.Pointer[[]*DownTrack]
	downMu sync.Mutex // serialises writers of downs
	closed atomic.Bool

	// groups are the track's sinks, by the highest layer they may be
	// given (see sinkGroup): one per layer. Made with the track.
	groups []*sinkGroup
	sinkMu sync.Mutex // serialises the writers of the groups' sinks

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
	// switches counts its subscribers' switches to another layer;
	// pauses, the videos paused for a subscriber's downlink.
	switches, pauses atomic.Uint64

	// loops counts the layers' read loops running, and ending is set once
	// the last has ended: the track is then removed. Guarded by owner.mu.
	loops  int
	ending bool
}

// layerSource is one RTP stream a publisher declared for a track: its rid
// (empty unless rid-based simulcast) and Pion's track for it, or the
// SFU's own stream of its SSRC (SSRC-based simulcast).
type layerSource struct {
	rid    string
	remote rtpStream
}

// newUpTrack makes a track of the given streams, already ordered from
// the lowest resolution to the highest (see rankRIDs).
func newUpTrack(id string, owner *Participant, kind webrtc.RTPCodecType, codec webrtc.RTPCodecParameters, streams []layerSource) *UpTrack {
	u := &UpTrack{id: id, owner: owner, kind: kind, codec: codec, codecK: codecKindOf(codec.MimeType)}
	born := time.Now()
	for i, s := range streams {
		l := &layer{up: u, index: int32(i), rid: s.rid, remote: s.remote,
			streamClock: streamClock{rate: codec.ClockRate, born: born}}
		if kind == webrtc.RTPCodecTypeVideo {
			l.cache = &packetCache{}
		}
		if len(streams) > 1 {
			l.scratch = make([]byte, maxPacket)
		}
		l.keyframe = newThrottle(keyframeInterval, l.sendPLI)
		u.layers = append(u.layers, l)
	}
	for i := range u.layers {
		g := &sinkGroup{cap: int32(i)}
		if len(u.layers) > 1 {
			g.follow = newFollower(0, false)
		}
		noSinks := []Sink{}
		g.sinks.Store(&noSinks)
		u.groups = append(u.groups, g)
	}
	if kind == webrtc.RTPCodecTypeVideo && len(u.layers) == 1 && u.codecK == codecVP9 {
		u.svc = &svcTrack{}
	}
	empty := []*DownTrack{}
	u.downs.Store(&empty)
	return u
}

// sinkGroup is the sinks of an up track that receive the same stream: of
// a simulcast track, one made of its layers up to cap, the highest of
// them that flows (see sinkLayer); of a track of one layer, its packets
// as they come.
type sinkGroup struct {
	cap   int32
	sinks atomic.Pointer[[]Sink] // replaced, never modified
	// follow makes the group's one stream of a simulcast track's layers
	// (nil otherwise); pkt is the packet it makes, guarded by its mu.
	follow *follower
	pkt    rtp.Packet
}

// group returns the sink group of the highest layer at most cap.
func (u *UpTrack) group(cap int) *sinkGroup {
	return u.groups[max(0, min(cap, len(u.groups)-1))]
}

// top is the sink group of the highest layer: what a recording is made of.
func (u *UpTrack) top() *sinkGroup { return u.groups[len(u.groups)-1] }

// ID is unique within the room: the publisher's id and a counter.
func (u *UpTrack) ID() string { return u.id }

// Simulcast reports whether the track has more than one layer.
func (u *UpTrack) Simulcast() bool { return len(u.layers) > 1 }

// Layers lists the rids of the track's layers, from the lowest
// resolution to the highest; one empty rid for a track without
// simulcast.
func (u *UpTrack) Layers() []string {
	rids := make([]string, len(u.layers))
	for i, l := range u.layers {
		rids[i] = l.rid
	}
	return rids
}

// topLayer is the highest layer whose packets flow; 0 when none does.
// For an SVC track, the highest there may be: a target above the layers
// that flow keeps them all.
func (u *UpTrack) topLayer() int32 {
	if u.svc != nil {
		return maxLayers - 1
	}
	for i := len(u.layers) - 1; i > 0; i-- {
		if u.layers[i].started.Load() {
			return int32(i)
		}
	}
	return 0
}

// layerIdle is how long a layer may send nothing before the sinks and
// the subscribers that do not run congestion control leave it for one
// that flows: a browser turns its higher simulcast encodings off while
// its uplink estimate is low (for the first seconds of a camera, or on a
// weak link) and on again later.
const layerIdle = 2 * time.Second

// flowingTop is the highest layer, at most max, that flows at now (see
// layer.flowing); -1 if none does.
func (u *UpTrack) flowingTop(max int32, now time.Time) int32 {
	for i := min(max, int32(u.maxTarget())); i >= 0; i-- {
		if u.layerFlowing(i, now) {
			return i
		}
	}
	return -1
}

// flowingBottom is the lowest layer, at most max, that flows at now;
// max if none below it does.
func (u *UpTrack) flowingBottom(max int32, now time.Time) int32 {
	for i := int32(0); i < max; i++ {
		if u.layerFlowing(i, now) {
			return i
		}
	}
	return max
}

// sinkLayer is the layer that the sinks of a simulcast track given at
// most layer cap follow: the highest up to cap that flows now; else the
// lowest above it that flows; else the highest up to cap that ever did.
func (u *UpTrack) sinkLayer(cap int32, now time.Time) int32 {
	if l := u.flowingTop(cap, now); l >= 0 {
		return l
	}
	for i := cap + 1; i <= int32(u.maxTarget()); i++ {
		if u.layerFlowing(i, now) {
			return i
		}
	}
	return min(u.topLayer(), cap)
}

// layerCount is the number of layers a subscriber may be switched
// among: of an SVC track, the spatial layers known (at least 1).
func (u *UpTrack) layerCount() int {
	if u.svc != nil {
		return max(1, int(u.svc.spatial.Load()))
	}
	return len(u.layers)
}

// maxTarget is the highest layer a subscriber may be set to: of an SVC
// track, the most there may be, so that layers that come later are
// received.
func (u *UpTrack) maxTarget() int {
	if u.svc != nil {
		return maxLayers - 1
	}
	return len(u.layers) - 1
}

// layerFlowing tells whether layer i flows at now (see layer.flowing).
func (u *UpTrack) layerFlowing(i int32, now time.Time) bool {
	if u.svc != nil {
		return u.layers[0].flowing(now) && u.svc.flowing(i, now)
	}
	return u.layers[i].flowing(now)
}

// layerRate is what a subscriber of layer i receives, in bits per
// second (see layer.bitrate and svcTrack.bitrate).
func (u *UpTrack) layerRate(i int, now time.Time) float64 {
	if u.svc != nil {
		return u.svc.bitrate(i, now)
	}
	return u.layers[i].bitrate(now)
}

// layerSize is layer i's picture size; 0 while unknown.
func (u *UpTrack) layerSize(i int) (w, h int32) {
	if u.svc != nil {
		return u.svc.width[i].Load(), u.svc.height[i].Load()
	}
	return u.layers[i].width.Load(), u.layers[i].height.Load()
}

// keyframeOf asks for a keyframe of layer i: of an SVC track, of its
// one stream.
func (u *UpTrack) keyframeOf(i int32) {
	if u.svc != nil {
		i = 0
	}
	u.layers[i].requestKeyframe()
}

// bottomLayer is the lowest layer whose packets flow; 0 when none does.
func (u *UpTrack) bottomLayer() int32 {
	for i, l := range u.layers {
		if l.started.Load() {
			return int32(i)
		}
	}
	return 0
}

// layerOfStream returns the layer read from s, or nil.
func (u *UpTrack) layerOfStream(s rtpStream) *layer {
	for _, l := range u.layers {
		if l.remote == s {
			return l
		}
	}
	return nil
}

// layerOf returns the layer of rid, or nil.
func (u *UpTrack) layerOf(rid string) *layer {
	for _, l := range u.layers {
		if l.rid == rid {
			return l
		}
	}
	return nil
}

// Kind is audio or video.
func (u *UpTrack) Kind() webrtc.RTPCodecType { return u.kind }

// Screen reports whether the track is a shared screen rather than a
// camera: its publisher marked it so in its offer (RFC 4796
// "a=content:slides").
func (u *UpTrack) Screen() bool { return u.screen }

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

// hear notes the audio level of a packet that arrived at now; true if
// the publisher started or stopped speaking with it.
func (u *UpTrack) hear(now time.Time, pkt *rtp.Packet) bool {
	l, _, ok := audiolevel.Parse(pkt.GetExtension(u.levelID))
	if !ok {
		return false
	}
	u.speechMu.Lock()
	changed := u.speech.Level(now, l)
	u.speaking.Store(u.speech.Speaking())
	u.speechMu.Unlock()
	return changed
}

// speakingChanged tells the room that the publisher started or stopped
// speaking on the track.
func (u *UpTrack) speakingChanged() {
	if u.owner != nil {
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

// AddSink makes s receive the track's packets: of a simulcast track, its
// highest layer that flows, as one stream.
func (u *UpTrack) AddSink(s Sink) { u.AddSinkUpTo(s, maxLayers-1) }

// AddSinkUpTo makes s receive the track's packets: of a simulcast track,
// its highest layer up to cap that flows, as one stream (see sinkLayer).
func (u *UpTrack) AddSinkUpTo(s Sink, cap int) {
	u.sinkMu.Lock()
	defer u.sinkMu.Unlock()
	g := u.group(cap)
	old := *g.sinks.Load()
	sinks := append(append(make([]Sink, 0, len(old)+1), old...), s)
	g.sinks.Store(&sinks)
}

// RemoveSink stops sending packets to s. Once it returns, s receives no
// packet that it has not already been given.
func (u *UpTrack) RemoveSink(s Sink) {
	u.sinkMu.Lock()
	defer u.sinkMu.Unlock()
	for _, g := range u.groups {
		old := *g.sinks.Load()
		if !slices.Contains(old, s) {
			continue
		}
		sinks := make([]Sink, 0, len(old))
		for _, x := range old {
			if x != s {
				sinks = append(sinks, x)
			}
		}
		g.sinks.Store(&sinks)
	}
}

// LastSenderReport returns the latest sender report of the track: for a
// simulcast track, of the layer its sinks receive, in the timestamps
// they are given.
func (u *UpTrack) LastSenderReport() (SenderReport, bool) {
	return u.lastSenderReportUpTo(maxLayers - 1)
}

// lastSenderReportUpTo is LastSenderReport for the sinks given at most
// layer cap (see AddSinkUpTo).
func (u *UpTrack) lastSenderReportUpTo(cap int) (SenderReport, bool) {
	l, off := u.layers[0], uint32(0)
	g := u.group(cap)
	if f := g.follow; f != nil {
		f.mu.Lock()
		e := f.latest()
		if e != nil {
			l, off = u.layers[e.layer], e.ts
		} else {
			l = u.layers[u.sinkLayer(g.cap, time.Now())]
		}
		f.mu.Unlock()
	}
	if sr := l.sr.Load(); sr != nil {
		r := *sr
		r.RTP += off
		return r, true
	}
	return SenderReport{}, false
}

// readRTCP keeps the latest sender report of the layer's publisher;
// reading also feeds the receiver-side interceptors. It returns when the
// receiver stops. A layer that the direct receive path reads gets its
// sender reports from there (see senderRTCP) and this reads nothing, or
// what reaches Pion as the path starts.
func (l *layer) readRTCP(recv *webrtc.RTPReceiver) {
	own, _ := l.remote.(*ssrcStream)
	var buf []byte
	if own != nil {
		buf = make([]byte, maxPacket)
	}
	for {
		var pkts []rtcp.Packet
		var err error
		if own != nil {
			pkts, err = own.readRTCP(buf)
		} else if l.rid != "" {
			pkts, _, err = recv.ReadSimulcastRTCP(l.rid)
		} else {
			pkts, _, err = recv.ReadRTCP()
		}
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == uint32(l.remote.SSRC()) {
				l.sr.Store(senderReportOf(sr, time.Now()))
			}
		}
	}
}

// senderReportOf is what a layer keeps of sr, a publisher's sender
// report that came at arrival.
func senderReportOf(sr *rtcp.SenderReport, arrival time.Time) *SenderReport {
	return &SenderReport{NTP: ntpTime(sr.NTPTime), RTP: sr.RTPTime, Arrival: arrival}
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

// forward reads the layer's RTP until it ends and writes each packet to
// the track's subscribers and sinks. It returns when the publisher's
// connection closes.
func (l *layer) forward() {
	buf := make([]byte, maxPacket)
	var pkt rtp.Packet
	if ds, ok := l.remote.(*directStream); ok {
		var inPkt rtp.Packet
		ds.handleInline(func(raw []byte) bool { return l.up.handleAt(l, raw, &inPkt, time.Now()) },
			l.up.lightFanOut, l.up.speakingChanged)
		ds.keepReports(&l.sr)
	}
	for {
		n, _, err := l.remote.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && l.up.owner != nil {
				l.up.owner.log.Debug("up track read ended", "track", l.up.id, "rid", l.rid, "err", err)
			}
			return
		}
		l.up.handle(l, buf[:n], &pkt)
	}
}

// lightFanOut tells whether a packet of the track goes to few enough
// places that the socket's reader may write it itself (see
// directStream.handleInline): no subscriber, a few sinks.
func (u *UpTrack) lightFanOut() bool {
	return len(u.layers) == 1 && len(*u.downs.Load()) == 0 && len(*u.groups[0].sinks.Load()) <= maxInlineSinks
}

// maxInlineSinks is the most sinks of a track that the socket's reader
// writes to itself.
const maxInlineSinks = 4

// handle is the per-packet work of the SFU: parse raw, a packet of layer
// l, into pkt, keep it for retransmissions (video), and write it to every
// subscriber and sink.
func (u *UpTrack) handle(l *layer, raw []byte, pkt *rtp.Packet) {
	if u.handleAt(l, raw, pkt, time.Now()) {
		u.speakingChanged()
	}
}

// handleAt is handle of a packet that arrived at now, but for the room's
// news: it reports whether the publisher started or stopped speaking
// with it, for the caller to tell the room (speakingChanged), which the
// socket's reader leaves to the layer's goroutine (see
// directStream.handleInline).
func (u *UpTrack) handleAt(l *layer, raw []byte, pkt *rtp.Packet, now time.Time) (speech bool) {
	if err := pkt.Unmarshal(raw); err != nil {
		return false
	}
	if pkt.PayloadType != uint8(u.codec.PayloadType) && u.packets.Load() == 0 && u.owner != nil {
		// The codec was taken from the negotiation, before any packet;
		// a publisher that sends another one is not forwarded right.
		u.owner.log.Warn("the publisher sends another codec than negotiated first",
			"track", u.id, "negotiated", u.codec.MimeType, "payload_type", pkt.PayloadType)
	}
	u.packets.Add(1)
	l.noteArrival(now, pkt.Timestamp)
	if u.levelID != 0 {
		speech = u.hear(now, pkt)
	}
	if l.cache != nil {
		l.cache.put(pkt.SequenceNumber, raw)
	}
	l.octets.Add(uint64(len(raw)))
	switch {
	case u.svc != nil:
		u.fanOutSVC(pkt, len(raw), now)
	case len(u.layers) == 1:
		u.fanOut(pkt, now.UnixNano())
	default:
		u.fanOutLayer(l, pkt, now)
	}
	return speech
}

// fanOut writes one packet, arrived at arrival (unix nanoseconds), to
// every subscriber and sink: the per-packet work of the SFU.
func (u *UpTrack) fanOut(pkt *rtp.Packet, arrival int64) {
	for _, d := range *u.downs.Load() {
		d.writeRTP(pkt, arrival)
	}
	for _, s := range *u.groups[0].sinks.Load() {
		s.WriteRTP(pkt)
	}
}

// fanOutLayer writes a packet of layer l of a simulcast track to the
// subscribers that follow l or wait to switch to it, and to the sinks
// if they follow it.
func (u *UpTrack) fanOutLayer(l *layer, pkt *rtp.Packet, now time.Time) {
	var in packetInfo
	in.read(u.codecK, pkt.Payload)
	if in.keyframe && in.vp8ok {
		if w, h, ok := in.vp8.KeyframeSize(pkt.Payload); ok {
			l.width.Store(int32(w))
			l.height.Store(int32(h))
		}
	}
	for _, d := range *u.downs.Load() {
		d.writeLayer(l, pkt, &in, now)
	}
	for _, g := range u.groups {
		if sinks := *g.sinks.Load(); len(sinks) > 0 {
			u.writeSinks(g, sinks, l, pkt, &in, now)
		}
	}
}

// writeSinks gives the sinks of group g of a simulcast track the highest
// layer up to its cap that flows (see sinkLayer), as one continuous
// stream: when a higher layer begins, or the one followed stops, they
// switch at the next keyframe of the new one, which is asked for.
func (u *UpTrack) writeSinks(g *sinkGroup, sinks []Sink, l *layer, pkt *rtp.Packet, in *packetInfo, now time.Time) {
	f := g.follow
	// Whether to follow another layer is looked at on the first packet
	// of a keyframe and the last of each frame, as a subscriber's down
	// track does (followFlowing), not on every packet.
	if pkt.Marker || in.keyframe {
		if top := u.sinkLayer(g.cap, now); top != f.target.Load() {
			f.target.Store(top)
			u.layers[top].requestKeyframe()
		}
	}
	if !f.wants(l.index) {
		return
	}
	f.mu.Lock()
	payload, ok, ask := f.next(l.index, pkt, in, now.UnixNano(), u.codec.ClockRate, &g.pkt.Header, l.scratch)
	if ok {
		g.pkt.Payload = payload
		for _, s := range sinks {
			s.WriteRTP(&g.pkt)
		}
		g.pkt.Payload = nil
	}
	f.mu.Unlock()
	if ask {
		l.requestKeyframe()
	}
}

// sinkPacket reads again, into pkt (its payload in buf), the packet that
// the sinks given at most layer cap were given with sequence number seq,
// from the cache of its layer: for a retransmission to a viewer. False
// if it is no longer there (or the track is audio).
func (u *UpTrack) sinkPacket(cap int, seq uint16, buf []byte, pkt *rtp.Packet) bool {
	l := u.layers[0]
	var e epoch
	f := u.group(cap).follow
	if f != nil {
		var ok bool
		f.mu.Lock()
		e, seq, ok = f.lookup(seq)
		f.mu.Unlock()
		if !ok {
			return false
		}
		l = u.layers[e.layer]
	}
	if l.cache == nil {
		return false
	}
	n := l.cache.get(seq, buf)
	if n == 0 || pkt.Unmarshal(buf[:n]) != nil {
		return false
	}
	if f != nil {
		e.rewriteAgain(u.codecK, pkt)
	}
	return true
}

// RequestKeyframe asks the publisher for a keyframe (PLI), at most once
// per keyframeInterval (see throttle): of the layer the sinks receive,
// for a simulcast track. A subscriber's requests go to the layer it
// follows (DownTrack.requestKeyframe).
func (u *UpTrack) RequestKeyframe() { u.requestKeyframeUpTo(maxLayers - 1) }

// requestKeyframeUpTo is RequestKeyframe for the sinks given at most
// layer cap (see AddSinkUpTo).
func (u *UpTrack) requestKeyframeUpTo(cap int) {
	l := u.layers[0]
	if g := u.group(cap); g.follow != nil {
		l = u.layers[u.sinkLayer(g.cap, time.Now())]
	}
	l.requestKeyframe()
}

// close marks the track ended and stops its pending keyframe requests.
func (u *UpTrack) close() {
	u.closed.Store(true)
	for _, l := range u.layers {
		l.keyframe.Stop()
	}
}
