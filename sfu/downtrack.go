package sfu

import (
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"parley/audiolevel"
)

// DownTrack sends one UpTrack to one subscriber. It implements
// webrtc.TrackLocal, so Pion binds it to the subscriber's connection and
// tells it the SSRC and payload type negotiated there; the packets are
// rewritten to those and otherwise forwarded as they came. Of a simulcast
// track it sends one layer at a time, as one stream (see follower).
type DownTrack struct {
	up   *UpTrack
	sub  *Participant
	conn *subConn // the subscribe connection; nil in benchmarks

	// follow chooses and splices the layers of a simulcast up track; nil
	// for a single layer.
	follow *follower

	binding atomic.Pointer[downBinding]
	sender  *webrtc.RTPSender

	// hdr is the header of the packet being written, and ext its header
	// extensions (see hdrExts), kept here so that writing allocates
	// nothing. Only the up track's forwarding goroutine writes
	// (for simulcast, the layers' goroutines under follow.mu), so one is
	// enough.
	hdr rtp.Header
	ext hdrExts

	// What was sent, for the sender reports.
	packets, octets atomic.Uint64

	// The size at which the subscriber shows the video (SetMaxSize): -1
	// for no preference, 0 for hidden.
	prefW, prefH atomic.Int32
	// told: the subscriber was told that congestion paused the video.
	told atomic.Bool
	// rtxSeq numbers the packets of the RTX stream.
	rtxSeq atomic.Uint32
	// resent is its latest retransmissions (see answerNack).
	resent resendLog
}

type downBinding struct {
	ssrc   uint32
	pt     uint8
	twcc   uint8 // the transport-wide sequence number's extension id; 0 without
	writer webrtc.TrackLocalWriter
	// level is the audio level's extension id on the subscriber's
	// connection, levelIn the publisher's: each packet's level goes on
	// under level. 0 when either side has none (or for video).
	level, levelIn uint8
	// The RTX stream's SSRC and payload type (RFC 4588); 0 without.
	rtxSSRC uint32
	rtxPT   uint8
}

var errCodecNotNegotiated = errors.New("the subscriber does not accept this codec")

// newDownTrack makes a down track of up. Of a simulcast track it starts
// on the lowest layer that flows, whose keyframe is the cheapest to ask
// for, and climbs to the highest once it has sent that keyframe: the
// policy until the subscriber's bandwidth and preferences choose (see
// SetTargetLayer).
func newDownTrack(up *UpTrack, sub *Participant, conn *subConn) *DownTrack {
	d := &DownTrack{up: up, sub: sub, conn: conn}
	d.prefW.Store(-1)
	d.prefH.Store(-1)
	if up.Simulcast() || up.svc != nil {
		d.follow = newFollower(up.bottomLayer(), true)
	}
	if up.svc != nil {
		d.follow.svc = newSVCFollow()
	}
	return d
}

// Layers is the number of layers the track can be switched among: 1 for
// audio and for video without simulcast.
func (d *DownTrack) Layers() int { return d.up.layerCount() }

// SetTargetLayer makes the down track follow layer l (0 the lowest
// resolution; clamped to the layers there are) from that layer's next
// keyframe, which it asks the publisher for; until then the current
// layer goes on. This is what congestion control and the subscriber's
// preferences set; the default policy (see newDownTrack) stops once it
// is called. It does nothing for a track without simulcast.
func (d *DownTrack) SetTargetLayer(l int) {
	f := d.follow
	if f == nil {
		return
	}
	l = max(0, min(l, d.up.maxTarget()))
	f.mu.Lock()
	f.climb = false
	f.cap = int32(l)
	f.target.Store(int32(l))
	f.mu.Unlock()
	if d.needsKeyframe(int32(l)) {
		d.up.keyframeOf(int32(l))
	}
	if d.told.Swap(false) {
		d.sub.sig.VideoPaused(d.up, false)
	}
}

// needsKeyframe tells whether a switch to layer l waits for a keyframe:
// any other simulcast layer (a stream of its own); of an SVC track, a
// higher spatial layer, or the first (a lower one is a part of what the
// subscriber receives).
func (d *DownTrack) needsKeyframe(l int32) bool {
	cur := d.follow.cur.Load()
	if d.follow.svc != nil {
		return cur < 0 || l > cur
	}
	return l != cur
}

// pause stops the video until SetTargetLayer: congestion control's
// answer when not even the lowest layer fits (congested: the subscriber
// is told), or the subscriber's when it does not show the video. When
// it resumes, the stream goes on from where it stopped (see
// follower.begin). It does nothing for a track without simulcast.
func (d *DownTrack) pause(congested bool) {
	f := d.follow
	if f == nil {
		return
	}
	f.mu.Lock()
	f.climb = false
	f.target.Store(-1)
	f.cur.Store(-1)
	f.mu.Unlock()
	if p := d.pacer(); p != nil {
		p.forget(d)
	}
	if congested && !d.told.Swap(true) {
		d.up.pauses.Add(1)
		d.sub.sig.VideoPaused(d.up, true)
	}
}

// Paused tells whether the video is paused: by congestion control, or
// because the subscriber does not show it.
func (d *DownTrack) Paused() bool { return d.follow != nil && d.follow.target.Load() < 0 }

// SetMaxSize tells the size, in device pixels, at which the subscriber
// shows the video; 0 by 0 when it does not show it (a hidden tile). The
// SFU then sends no layer larger than the smallest that covers that size
// (as far as it knows the layers' sizes: VP8's, from their keyframes),
// and no video at all for a hidden tile. It does nothing for a track
// without simulcast.
func (d *DownTrack) SetMaxSize(width, height int) {
	if d.follow == nil {
		return
	}
	d.prefW.Store(int32(max(0, width)))
	d.prefH.Store(int32(max(0, height)))
	top := d.maxLayer()
	switch {
	case top < 0:
		d.pause(false)
	case d.Paused() && !d.told.Load():
		// Shown again: from the lowest layer when congestion control
		// runs (it climbs), else the largest wanted.
		if d.managed() {
			d.SetTargetLayer(int(d.up.bottomLayer()))
		} else {
			d.SetTargetLayer(top)
		}
	case d.Paused():
		// Paused for congestion: congestion control resumes it.
	case !d.managed() || d.TargetLayer() > top:
		d.SetTargetLayer(top)
	}
}

// maxLayer is the largest layer the subscriber's preference allows: the
// top one without a preference; -1 when it does not show the video.
func (d *DownTrack) maxLayer() int {
	top := int(d.up.topLayer())
	w, h := d.prefW.Load(), d.prefH.Load()
	if w < 0 {
		return top
	}
	if w == 0 || h == 0 {
		return -1
	}
	for i := 0; i < top; i++ {
		if lw, lh := d.up.layerSize(i); lw > 0 && (lw >= w || lh >= h) {
			return i
		}
	}
	return top
}

// selfChosen tells whether the track chooses its layer itself, as the
// default policy: without congestion control, or while its connection's
// feedback has not come (or has stopped).
func (d *DownTrack) selfChosen() bool {
	return !d.managed() || d.conn == nil || d.conn.cc == nil || d.conn.cc.lastFeedback.Load() == 0
}

// followFlowing keeps a track that chooses its own layer on one that
// flows (see layer.flowing): the highest that its preference and the
// last SetTargetLayer allow. It leaves a layer that stopped (a browser
// turns its higher encodings off and on with its uplink estimate) and
// goes back up when a higher one flows again, at the new layer's
// keyframe, which it asks for. Called on the first packet of a keyframe
// and the last of each frame of a layer the track does not follow, so
// that it costs little.
func (d *DownTrack) followFlowing(now time.Time) {
	top := int32(d.maxLayer())
	if top < 0 || d.Paused() {
		return
	}
	f := d.follow
	f.mu.Lock()
	if f.cap >= 0 {
		top = min(top, f.cap)
	}
	if d.awaitingFeedback() {
		// Congestion control will choose, from the lowest layer: until
		// its first feedback the track stays there (a larger layer
		// could overflow the subscriber's link before any feedback
		// says so), leaving it only if it stops.
		top = d.up.flowingBottom(top, now)
	}
	want := d.up.flowingTop(top, now)
	cur, target := f.cur.Load(), f.target.Load()
	if want < 0 {
		f.mu.Unlock()
		return
	}
	if cur < 0 || f.climb {
		// Not begun, or climbing from its first layer: that start is
		// kept unless the layer it waits for has stopped.
		if d.up.layerFlowing(target, now) {
			f.mu.Unlock()
			return
		}
		if cur < 0 {
			want = d.up.flowingBottom(want, now)
		}
	}
	if want == target {
		f.mu.Unlock()
		return
	}
	f.target.Store(want)
	f.climb = false
	f.mu.Unlock()
	if want != cur {
		d.up.keyframeOf(want)
	}
}

// awaitingFeedback tells whether congestion control is to choose the
// layers but has no feedback yet.
func (d *DownTrack) awaitingFeedback() bool {
	if !d.managed() || d.conn == nil || d.conn.cc == nil {
		return false
	}
	cc := d.conn.cc
	return cc.lastFeedback.Load() == 0 && !cc.fellBack.Load()
}

// managed tells whether congestion control chooses the layers: the
// subscriber accepted transport-cc, and its feedback comes (or will: if
// it never does, the prober gives the track back to the default policy).
func (d *DownTrack) managed() bool {
	b := d.binding.Load()
	return b != nil && b.twcc != 0
}

// climbToTop gives the track back to the default policy: the top layer
// the subscriber's preference allows, from the current one's next
// keyframe or the lowest's. For a subscriber whose feedback stopped or
// never came.
func (d *DownTrack) climbToTop() {
	f := d.follow
	top := d.maxLayer()
	if f == nil || top < 0 {
		return
	}
	f.mu.Lock()
	f.cap = -1
	was := f.target.Load()
	if f.cur.Load() < 0 {
		// Paused, or not begun: from the lowest layer's keyframe, then up.
		f.target.Store(min(d.up.bottomLayer(), int32(top)))
		f.climb = true
	} else {
		f.target.Store(int32(top))
		f.climb = false
	}
	target := f.target.Load()
	f.mu.Unlock()
	if d.needsKeyframe(target) && target != was {
		d.up.keyframeOf(target)
	}
	if d.told.Swap(false) {
		d.sub.sig.VideoPaused(d.up, false)
	}
}

// TargetLayer is the layer the down track follows or switches to.
func (d *DownTrack) TargetLayer() int {
	if d.follow == nil {
		return 0
	}
	return int(d.follow.target.Load())
}

// CurrentLayer is the layer the down track sends now; -1 before the
// first keyframe of a simulcast track.
func (d *DownTrack) CurrentLayer() int {
	if d.follow == nil {
		return 0
	}
	return int(d.follow.cur.Load())
}

// requestKeyframe asks for a keyframe of what the subscriber is to
// decode next: the layer it switches to, or the one it follows; nothing
// while its video is paused (a decoder waiting for a picture asks all
// the same).
func (d *DownTrack) requestKeyframe() {
	if d.follow == nil {
		d.up.layers[0].requestKeyframe()
		return
	}
	if t := d.follow.target.Load(); t >= 0 {
		d.up.keyframeOf(t)
	}
}

// Bind is called by Pion once the subscriber's connection has negotiated
// the track.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := d.up.codec
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if strings.EqualFold(want.MimeType, webrtc.MimeTypeH264) && !sameH264Profile(c.SDPFmtpLine, want.SDPFmtpLine) {
			continue
		}
		b := &downBinding{ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), writer: ctx.WriteStream()}
		b.rtxSSRC, b.rtxPT = rtxOf(ctx, c)
		b.twcc = twccOf(ctx, d.conn)
		if b.levelIn = d.up.levelID; b.levelIn != 0 {
			b.level = levelOf(ctx)
		}
		if f := d.follow; f != nil && b.twcc != 0 {
			// Congestion control chooses the layers (and climbs), once
			// the subscriber's feedback comes.
			f.mu.Lock()
			f.climb = false
			f.mu.Unlock()
		}
		d.binding.Store(b)
		if d.conn != nil {
			d.conn.addDown(b.ssrc, d)
		}
		// A new video subscriber cannot decode anything until the next
		// keyframe. On a connection not yet up, it is asked for once the
		// connection is (Participant.requestKeyframes): one asked for now
		// would come before the subscriber can receive it, and the
		// throttle would then hold back the one it can (up to
		// keyframeInterval, most of a join's wait for a picture).
		if d.conn == nil || d.conn.pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
			d.requestKeyframe()
		}
		return c, nil
	}
	return webrtc.RTPCodecParameters{}, errCodecNotNegotiated
}

// Unbind is called by Pion when the track is removed or the connection closes.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	if b := d.binding.Swap(nil); b != nil && d.conn != nil {
		d.conn.removeDown(b.ssrc, d)
	}
	return nil
}

// ID is the id of the up track; unique within the subscriber's connection.
func (d *DownTrack) ID() string { return d.up.id }

// RID is empty: a subscriber receives one layer of a simulcast track at
// a time, as one stream.
func (d *DownTrack) RID() string { return "" }

// ScreenSuffix ends the stream id of a shared screen's track: the
// publisher's participant id followed by it.
const ScreenSuffix = ".screen"

// StreamID is the publisher's participant id, so that a client can tell
// whose track it receives; for a shared screen, the id followed by
// ScreenSuffix, so that the screen is a stream of its own, shown apart
// from the camera, and the camera keeps its lip sync with the audio.
func (d *DownTrack) StreamID() string {
	if d.up.screen {
		return d.up.owner.ID + ScreenSuffix
	}
	return d.up.owner.ID
}

// Kind is the up track's kind.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.up.kind }

// rewrite makes h, a copy of the publisher's header, this subscriber's:
// its SSRC and payload type, and none of the publisher's header
// extensions, whose ids were negotiated on another connection (the audio
// level and the transport-wide sequence number are added after, under
// this connection's ids: see writeRTP and send).
func (b *downBinding) rewrite(h *rtp.Header) {
	h.SSRC, h.PayloadType = b.ssrc, b.pt
	h.Extension, h.Extensions, h.ExtensionProfile = false, nil, 0
}

// writeRTP forwards one packet, arrived at arrival (unix nanoseconds),
// with the publisher's audio level if it has one and the subscriber
// accepted it. The header is copied so that the up track's packet is
// left as it was for the next subscriber. Called only on the up track's
// forwarding goroutine.
func (d *DownTrack) writeRTP(p *rtp.Packet, arrival int64) {
	b := d.binding.Load()
	if b == nil {
		return
	}
	d.hdr = p.Header
	b.rewrite(&d.hdr)
	if b.level != 0 {
		d.ext.addLevel(&d.hdr, b.level, p.GetExtension(b.levelIn))
	}
	d.send(b, &d.hdr, p.Payload, arrival, &d.ext, false)
}

// writeLayer forwards a packet of layer l of a simulcast track, if the
// down track follows that layer or switches to it at this packet (see
// follower). Called only on the layers' forwarding goroutines.
func (d *DownTrack) writeLayer(l *layer, p *rtp.Packet, in *packetInfo, now time.Time) {
	f := d.follow
	if !f.wants(l.index) {
		// A keyframe's first packet or a frame's last of a layer not
		// followed: a look at whether to follow it (followFlowing).
		if !(p.Marker || in.keyframe) || !d.selfChosen() {
			return
		}
		d.followFlowing(now)
		if !f.wants(l.index) {
			return
		}
	}
	arrival := now.UnixNano()
	b := d.binding.Load()
	if b == nil {
		return
	}
	f.mu.Lock()
	was := f.cur.Load()
	payload, ok, ask := f.next(l.index, p, in, arrival, d.up.codec.ClockRate, &d.hdr, l.scratch)
	if was >= 0 && f.cur.Load() != was {
		d.up.switches.Add(1)
	}
	climbTo := int32(-1)
	if ok {
		b.rewrite(&d.hdr)
		d.send(b, &d.hdr, payload, arrival, &d.ext, false)
		if f.climb {
			f.climb = false
			if top := int32(d.maxLayer()); top >= 0 && top != f.target.Load() {
				f.target.Store(top)
				climbTo = top
			}
		}
	}
	f.mu.Unlock()
	if ask {
		l.requestKeyframe()
	}
	if climbTo >= 0 {
		d.up.layers[climbTo].requestKeyframe()
	}
}

// send sends one rewritten packet: at once, or, video that the
// connection's pacer holds back, when the pacer releases it (see emit).
func (d *DownTrack) send(b *downBinding, h *rtp.Header, payload []byte, now int64, ext *hdrExts, probe bool) {
	if p := d.pacer(); p != nil && !p.admit(d, h, payload, now, probe) {
		return
	}
	d.transmit(b, h, payload, now, ext, probe)
}

// pacer is the pacer of the track's connection, for video; nil for audio
// or without one.
func (d *DownTrack) pacer() *pacer {
	if d.conn == nil || d.conn.cc == nil || d.up.kind != webrtc.RTPCodecTypeVideo {
		return nil
	}
	return d.conn.cc.pacer
}

// emit writes a packet the pacer held back, now that it leaves.
func (d *DownTrack) emit(h *rtp.Header, payload []byte, ext *hdrExts, now int64, probe bool) {
	if b := d.binding.Load(); b != nil {
		d.transmit(b, h, payload, now, ext, probe)
	}
}

// transmit writes one rewritten packet: directly when the connection allows
// it (see directSender), through Pion's SRTP session otherwise. With
// congestion control the packet takes the connection's next transport-
// wide sequence number, stamped into h with ext's storage, and now (unix
// nanoseconds, the time the packet is sent within microseconds) is
// recorded as its send time. Only what was sent is counted for the
// sender reports: Pion drops packets written before its SRTP session is
// ready.
func (d *DownTrack) transmit(b *downBinding, h *rtp.Header, payload []byte, now int64, ext *hdrExts, probe bool) {
	if b.twcc != 0 {
		d.conn.stamp(h, b.twcc, ext, len(payload), now, probe)
	}
	var sent bool
	if s := d.direct(); s != nil {
		sent = s.writeRTP(h, payload)
	} else {
		n, err := b.writer.WriteRTP(h, payload)
		sent = n > 0 && err == nil
	}
	if sent && h.SSRC == b.ssrc { // not the RTX stream's: the reports are the media stream's
		d.packets.Add(1)
		d.octets.Add(uint64(len(payload)))
	}
}

func (d *DownTrack) direct() *directSender {
	if d.conn == nil {
		return nil
	}
	return d.conn.direct.Load()
}

// readRTCP reads the subscriber's RTCP for this track until the sender
// stops. Keyframe requests are passed upstream; NACKs are answered from
// the up track's packet cache. Reading also feeds the interceptors.
// The feedback addressed to the track's RTX SSRC is read beside it, once
// the first RTCP shows the connection's SRTP session up (see rtxFeedback).
func (d *DownTrack) readRTCP() {
	var cc *congestion
	if d.conn != nil {
		if !d.conn.readsRTCP() {
			return // the shared socket's reader takes it (see rtcpReceiver)
		}
		cc = d.conn.cc
	}
	var rtx rtxFeedback
	defer rtx.stop()
	readFeedback(d.sender, d.requestKeyframe, d.retransmit, cc, func() {
		if b := d.binding.Load(); b != nil && b.twcc != 0 {
			rtx.start(d.sender, b.rtxSSRC, cc, d.sub.log)
		}
	})
}

// readFeedback reads a sender's RTCP until it stops: keyframe requests
// (PLI, FIR) call keyframe, NACKs retransmit, with a buffer of maxPacket
// bytes made at the first; transport-cc feedback and REMB go to cc, the
// connection's congestion control, if it has one. first, if not nil, is
// called once, after the first read.
func readFeedback(sender *webrtc.RTPSender, keyframe func(), retransmit func(*rtcp.TransportLayerNack, []byte), cc *congestion, first func()) {
	var buf []byte
	onKeyframe := func(uint32) { keyframe() }
	onNack := func(n *rtcp.TransportLayerNack) {
		if buf == nil {
			buf = make([]byte, maxPacket)
		}
		retransmit(n, buf)
	}
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		if first != nil {
			first()
			first = nil
		}
		for _, p := range pkts {
			actOnFeedback(p, cc, time.Now(), onKeyframe, onNack)
		}
	}
}

// actOnFeedback acts on one packet of a subscriber's RTCP: keyframe
// requests (PLI, FIR) call keyframe with each SSRC they name, NACKs call
// nack; transport-cc feedback and REMB go to cc, the connection's
// congestion control, if it has one.
func actOnFeedback(p rtcp.Packet, cc *congestion, now time.Time, keyframe func(ssrc uint32), nack func(*rtcp.TransportLayerNack)) {
	switch p := p.(type) {
	case *rtcp.PictureLossIndication:
		keyframe(p.MediaSSRC)
	case *rtcp.FullIntraRequest:
		for _, e := range p.FIR {
			keyframe(e.SSRC)
		}
	case *rtcp.TransportLayerNack:
		nack(p)
	case *rtcp.TransportLayerCC:
		if cc != nil {
			cc.onFeedback(p, now)
		}
	case *rtcp.ReceiverEstimatedMaximumBitrate:
		if cc != nil {
			cc.onREMB(p.Bitrate, now)
		}
	}
}

// retransmit sends again the packets a NACK asks for that are still in
// the up track's cache (and that its resend log allows), rewritten for
// this subscriber: of a simulcast track, each from the layer it was sent
// from, as it was sent, on the RTX stream when the subscriber has one.
// Called on the RTCP goroutine, so it parses into a packet of its own.
func (d *DownTrack) retransmit(nack *rtcp.TransportLayerNack, buf []byte) {
	if d.up.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	answerNack(nack, &d.resent, d.resend, buf)
}

// resend sends again the packet this subscriber was sent as seq, if it
// is still in the up track's cache, rewritten as it was sent: of a
// simulcast track, from the layer it was sent from, on the RTX stream
// when the subscriber has one (a receiver's SRTP replay check refuses a
// packet on the media stream that is far older than the latest, or
// already came); probe marks a probe's duplicate rather than a
// retransmission. It returns the
// payload's size; 0 if it sent nothing. It parses into a packet of its
// own, with buf as its buffer, so it may run beside the forwarding.
func (d *DownTrack) resend(seq uint16, buf []byte, probe bool) int {
	b := d.binding.Load()
	if d.up.kind != webrtc.RTPCodecTypeVideo || b == nil {
		return 0
	}
	l, in := d.up.layers[0], seq
	var e epoch
	var marker bool
	if f := d.follow; f != nil && f.svc != nil {
		var ok bool
		f.mu.Lock()
		in, marker, ok = f.svc.lookup(seq)
		f.mu.Unlock()
		if !ok {
			return 0
		}
	} else if f != nil {
		var ok bool
		f.mu.Lock()
		e, in, ok = f.lookup(seq)
		f.mu.Unlock()
		if !ok {
			return 0
		}
		l = d.up.layers[e.layer]
	}
	n := l.cache.get(in, buf)
	if n == 0 {
		return 0
	}
	var pkt rtp.Packet
	if pkt.Unmarshal(buf[:n]) != nil {
		return 0
	}
	if f := d.follow; f != nil && f.svc != nil {
		pkt.SequenceNumber, pkt.Marker = seq, marker
	} else if f != nil {
		e.rewriteAgain(d.up.codecK, &pkt)
	}
	b.rewrite(&pkt.Header)
	payload := pkt.Payload
	if b.rtxSSRC != 0 {
		payload = toRTX(&pkt, b.rtxSSRC, b.rtxPT, uint16(d.rtxSeq.Add(1)))
	}
	var ext hdrExts
	d.send(b, &pkt.Header, payload, time.Now().UnixNano(), &ext, probe)
	return len(payload)
}

// sameH264Profile compares the profile-level-id and packetization-mode of
// two H.264 fmtp lines: a decoder that expects another profile cannot
// decode the stream.
func sameH264Profile(a, b string) bool {
	pa, pb := fmtpValue(a, "profile-level-id"), fmtpValue(b, "profile-level-id")
	if len(pa) >= 4 && len(pb) >= 4 && !strings.EqualFold(pa[:2], pb[:2]) {
		return false
	}
	return fmtpValue(a, "packetization-mode") == fmtpValue(b, "packetization-mode")
}

func fmtpValue(line, key string) string {
	for _, kv := range strings.Split(line, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// rtxOf returns the SSRC and payload type of the RTX stream negotiated
// for codec c (RFC 4588: the RTX codec whose apt is c's payload type);
// 0 without one.
func rtxOf(ctx webrtc.TrackLocalContext, c webrtc.RTPCodecParameters) (uint32, uint8) {
	ssrc := uint32(ctx.SSRCRetransmission())
	if ssrc == 0 {
		return 0, 0
	}
	if pt, ok := rtxPayloadType(ctx.CodecParameters(), uint8(c.PayloadType)); ok {
		return ssrc, pt
	}
	return 0, 0
}

// rtxPayloadType finds, among codecs, the payload type of the RTX codec
// whose apt is pt.
func rtxPayloadType(codecs []webrtc.RTPCodecParameters, pt uint8) (uint8, bool) {
	for _, r := range codecs {
		if strings.EqualFold(r.MimeType, webrtc.MimeTypeRTX) && fmtpValue(r.SDPFmtpLine, "apt") == strconv.Itoa(int(pt)) {
			return uint8(r.PayloadType), true
		}
	}
	return 0, false
}

// twccOf returns the id of the transport-wide sequence number's header
// extension negotiated for the track, if conn runs congestion control;
// 0 otherwise.
func twccOf(ctx webrtc.TrackLocalContext, conn *subConn) uint8 {
	if conn == nil || conn.cc == nil {
		return 0
	}
	for _, x := range ctx.HeaderExtensions() {
		if x.URI == transportCCURI {
			return uint8(x.ID)
		}
	}
	return 0
}

// levelOf returns the id of the audio level's header extension
// (audiolevel.URI) negotiated for the track; 0 without.
func levelOf(ctx webrtc.TrackLocalContext) uint8 {
	for _, x := range ctx.HeaderExtensions() {
		if x.URI == audiolevel.URI {
			return uint8(x.ID)
		}
	}
	return 0
}

// toRTX makes pkt a packet of the RTX stream (ssrc, pt), numbered seq:
// the original sequence number goes before the payload (RFC 4588
// section 4). It returns the new payload.
func toRTX(pkt *rtp.Packet, ssrc uint32, pt uint8, seq uint16) []byte {
	payload := make([]byte, 2+len(pkt.Payload))
	payload[0], payload[1] = byte(pkt.SequenceNumber>>8), byte(pkt.SequenceNumber)
	copy(payload[2:], pkt.Payload)
	pkt.SSRC, pkt.PayloadType, pkt.SequenceNumber = ssrc, pt, seq
	return payload
}
