package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// ViewOptions say what a Viewer watches and whom it tells.
type ViewOptions struct {
	// Publisher is the name of the participant whose tracks the viewer
	// receives (case aside); empty follows the room (see Room.sourcesLocked).
	Publisher string
	// OnFailed is called, on a goroutine the viewer owns, when its
	// connection has failed for good: the owner then closes it.
	OnFailed func()
}

// ErrNothingToView is returned by Room.View for an offer that receives
// neither audio nor video.
var ErrNothingToView = errors.New("the offer receives no audio or video")

// Viewer receives a room's live media on a connection the client offered
// (WHEP): one audio and one video stream, whatever the room's publishers
// do. Each stream follows one published track at a time (its source) and
// switches to another as the room's speaker changes, at a keyframe for
// video, as one continuous stream (see viewTrack). A viewer is not a
// participant: it publishes nothing and nobody receives it.
//
// Its goroutines (the RTCP readers of its two senders, its sender reports
// and the call of OnFailed) are waited for by Close.
type Viewer struct {
	ID   string
	room *Room
	opts ViewOptions
	log  *slog.Logger
	pc   *webrtc.PeerConnection
	// conn carries the connection's congestion control (see
	// viewTrack.ccLayers); its done closes with the viewer.
	conn *subConn
	// tracks are the streams the offer receives: at most one audio and
	// one video.
	tracks []*viewTrack
	done   chan struct{} // closed by Close

	mu     sync.Mutex
	closed bool
	source *Participant // the participant followed
	wg     sync.WaitGroup
}

// View answers a viewer's offer: the viewer receives the room's media
// from now on, until Close. The offer must receive audio or video; its
// other sections are refused in the answer.
func (r *Room) View(id, offer string, opts ViewOptions) (*Viewer, string, error) {
	if !r.opts.Live {
		return nil, "", errors.New("nothing is forwarded live in this room")
	}
	pc, err := r.engine.newPeerConnection(false)
	if err != nil {
		return nil, "", fmt.Errorf("new viewer connection: %w", err)
	}
	v := &Viewer{ID: id, room: r, opts: opts, log: r.log.With("viewer", id), pc: pc, done: make(chan struct{})}
	v.conn = newSubConn(pc)
	v.conn.cc = newCongestion(v.ccStreams, v.conn, &r.engine.pacing)
	answer, err := v.start(offer)
	if err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		v.Close()
		return nil, "", ErrRoomClosed
	}
	r.viewers[v] = struct{}{}
	r.engine.viewers.add(v)
	r.mu.Unlock()
	v.startGoroutines()
	r.updateViewers()
	return v, answer, nil
}

// start negotiates the viewer's connection from the client's offer.
func (v *Viewer) start(offer string) (string, error) {
	offer = v.room.engine.filterCandidates(v.log, offer)
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("viewer offer: %w", err)
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if !receives(v.pc, kind) {
			continue
		}
		if kind == webrtc.RTPCodecTypeVideo {
			v.conn.cc.hist.widen()
		}
		t := newViewTrack(v, kind)
		sender, err := v.pc.AddTrack(t)
		if err != nil {
			return "", fmt.Errorf("viewer %s track: %w", kind, err)
		}
		t.sender = sender
		v.tracks = append(v.tracks, t)
	}
	if len(v.tracks) == 0 {
		return "", ErrNothingToView
	}
	v.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			// The keyframes asked for at the start may have come before
			// the viewer could receive them.
			for _, t := range v.tracks {
				t.requestKeyframe()
			}
		case webrtc.PeerConnectionStateFailed:
			v.failed()
		}
	})
	return v.answer()
}

// receives tells whether the offer set on pc has a section of kind that
// the server may send on.
func receives(pc *webrtc.PeerConnection, kind webrtc.RTPCodecType) bool {
	for _, t := range pc.GetTransceivers() {
		if t.Kind() == kind && t.Sender() == nil {
			return true
		}
	}
	return false
}

// answer makes the server's answer, with all its candidates.
func (v *Viewer) answer() (string, error) {
	ans, err := v.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("viewer answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(v.pc)
	if err := v.pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("viewer answer: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
		v.log.Warn("ICE gathering did not complete; sending the candidates found so far")
	}
	return v.pc.LocalDescription().SDP, nil
}

// Restart takes a new offer from the viewer on the same connection: an
// ICE restart (new credentials) or any renegotiation that keeps its
// sections. It returns the server's answer.
func (v *Viewer) Restart(offer string) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return "", ErrLeft
	}
	offer = v.room.engine.filterCandidates(v.log, offer)
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("viewer offer: %w", err)
	}
	return v.answer()
}

// RemoteDescription is the viewer's latest offer.
func (v *Viewer) RemoteDescription() string {
	if d := v.pc.RemoteDescription(); d != nil {
		return d.SDP
	}
	return ""
}

// AddCandidate adds a remote ICE candidate the viewer trickled.
func (v *Viewer) AddCandidate(c webrtc.ICECandidateInit) error {
	if why := v.room.engine.candidateRefusal(c.Candidate); why != "" {
		v.log.Debug("remote candidate dropped", "candidate", c.Candidate, "why", why)
		return nil
	}
	return v.pc.AddICECandidate(c)
}

// Source is the name of the participant the viewer follows, empty when
// there is none.
func (v *Viewer) Source() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.source == nil {
		return ""
	}
	return v.source.Name
}

func (v *Viewer) startGoroutines() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	for _, t := range v.tracks {
		v.wg.Go(t.readRTCP)
	}
	v.wg.Go(func() { v.conn.cc.run(v.senderReports) })
}

// ccStreams lists the viewer's streams, for its congestion control.
func (v *Viewer) ccStreams() []ccStream {
	out := make([]ccStream, len(v.tracks))
	for i, t := range v.tracks {
		out[i] = t
	}
	return out
}

// failed calls OnFailed once, on a goroutine of the viewer's.
func (v *Viewer) failed() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed || v.opts.OnFailed == nil {
		return
	}
	f := v.opts.OnFailed
	v.opts.OnFailed = nil
	v.log.Info("viewer connection failed")
	v.wg.Go(f)
}

// Close ends the viewer: it leaves the room, its connection closes, and
// every goroutine it owns has ended when Close returns. Safe to call
// twice, and from OnFailed.
func (v *Viewer) Close() {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.closed = true
	close(v.done)
	v.conn.retire()
	v.source = nil
	v.mu.Unlock()
	r := v.room
	r.mu.Lock()
	if _, ok := r.viewers[v]; ok {
		delete(r.viewers, v)
		r.engine.viewers.remove(v)
	}
	r.mu.Unlock()
	for _, t := range v.tracks {
		t.follow(nil)
	}
	if err := v.pc.Close(); err != nil {
		v.log.Debug("close viewer connection", "err", err)
	}
	v.wg.Wait()
}

// follow makes the viewer's streams follow audio and video (each may be
// nil: that stream goes on with what it has, or stays silent).
func (v *Viewer) follow(p *Participant, audio, video *UpTrack) {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.source = p
	v.mu.Unlock()
	for _, t := range v.tracks {
		if t.kind == webrtc.RTPCodecTypeAudio {
			t.follow(audio)
		} else {
			t.follow(video)
		}
	}
}

// senderReports sends a sender report for each stream, every
// senderReportInterval on the connection's goroutine (see
// congestion.run).
func (v *Viewer) senderReports(now time.Time) {
	var pkts []rtcp.Packet
	for _, tr := range v.tracks {
		if sr := tr.senderReport(now); sr != nil {
			pkts = append(pkts, sr)
		}
	}
	if len(pkts) > 0 {
		_ = v.pc.WriteRTCP(pkts)
	}
}

// sent is the number of RTP packets sent to the viewer.
func (v *Viewer) sent() uint64 {
	var n uint64
	for _, t := range v.tracks {
		n += t.packets.Load()
	}
	return n
}

// viewTrack is one stream of a viewer. It implements webrtc.TrackLocal:
// Pion binds it to the transceiver the viewer offered and tells it the
// SSRC and the codecs negotiated there. It receives its source's packets
// as a Sink (so, of a simulcast track, one stream of the highest layer
// that flows up to the one congestion control chose: see AddSinkUpTo),
// and makes one stream of its successive sources with a follower whose
// "layers" are the sources, numbered as they come: a switch happens at
// a keyframe of the new source (at once for audio), and sequence
// numbers, timestamps and VP8 picture IDs go on without a jump. A
// switch to another layer of the same source is a switch of source.
type viewTrack struct {
	v      *Viewer
	kind   webrtc.RTPCodecType
	sender *webrtc.RTPSender

	binding atomic.Pointer[viewBinding]

	// upTo is the highest layer of a simulcast source the video may be
	// given, as congestion control chose it (the top one without it);
	// paused stops the video, congested when for congestion.
	upTo              atomic.Int32
	paused, congested atomic.Bool

	mu      sync.Mutex
	f       *follower
	serial  int32
	sinks   map[int32]*viewSink // the source followed and the one switched to
	recent  map[int32]*viewSink // the latest sources, for retransmissions and reports
	hdr     rtp.Header
	ext     hdrExts
	scratch []byte

	packets, octets atomic.Uint64
	rtxSeq          atomic.Uint32
	resent          resendLog // its latest retransmissions (see answerNack)
}

type viewBinding struct {
	ssrc   uint32
	codecs []webrtc.RTPCodecParameters
	writer webrtc.TrackLocalWriter
	twcc   uint8 // the transport-wide sequence number's extension id; 0 without
	level  uint8 // the audio level's extension id (audio); 0 without
	// The RTX stream's SSRC; 0 without. Its payload type is the one whose
	// apt is the source's codec's (see rtxPayloadType).
	rtxSSRC uint32
}

// viewSink is a viewTrack's sink on one of its sources.
type viewSink struct {
	t      *viewTrack
	up     *UpTrack
	serial int32
	upTo   int32 // the sink group it is in (see AddSinkUpTo)
	pt     int16 // the payload type of up's codec on the viewer's connection; -1: not negotiated; 0: not looked up
}

func (s *viewSink) WriteRTP(p *rtp.Packet) { s.t.write(s, p) }

func newViewTrack(v *Viewer, kind webrtc.RTPCodecType) *viewTrack {
	f := newFollower(-1, false)
	t := &viewTrack{v: v, kind: kind, f: f, sinks: map[int32]*viewSink{}, recent: map[int32]*viewSink{},
		scratch: make([]byte, maxPacket)}
	t.upTo.Store(maxLayers - 1)
	return t
}

// Bind is called by Pion once the viewer's connection has negotiated the
// stream: the codecs it may carry, each source's in its payload type.
func (t *viewTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	if len(codecs) == 0 {
		return webrtc.RTPCodecParameters{}, errCodecNotNegotiated
	}
	b := &viewBinding{ssrc: uint32(ctx.SSRC()), codecs: codecs, writer: ctx.WriteStream()}
	b.rtxSSRC = uint32(ctx.SSRCRetransmission())
	b.twcc = twccOf(ctx, t.v.conn)
	b.level = levelOf(ctx)
	if b.twcc != 0 && t.kind == webrtc.RTPCodecTypeVideo && t.v.conn.cc.lastFeedback.Load() == 0 {
		// Congestion control chooses the layer once the viewer's
		// feedback comes; until then, the lowest (see awaitingFeedback).
		t.upTo.Store(0)
	}
	t.binding.Store(b)
	t.mu.Lock()
	for _, s := range t.sinks {
		s.pt = 0 // looked up again
	}
	t.mu.Unlock()
	t.requestKeyframe()
	return codecs[0], nil
}

// Unbind is called by Pion when the connection closes.
func (t *viewTrack) Unbind(webrtc.TrackLocalContext) error {
	t.binding.Store(nil)
	return nil
}

func (t *viewTrack) ID() string                { return t.kind.String() }
func (t *viewTrack) RID() string               { return "" }
func (t *viewTrack) StreamID() string          { return "parley" }
func (t *viewTrack) Kind() webrtc.RTPCodecType { return t.kind }

// payloadType finds the payload type of codec c among the negotiated
// ones; -1 if the viewer did not accept it.
func (b *viewBinding) payloadType(c webrtc.RTPCodecParameters) int16 {
	for _, n := range b.codecs {
		if !strings.EqualFold(n.MimeType, c.MimeType) {
			continue
		}
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeH264) && !sameH264Profile(n.SDPFmtpLine, c.SDPFmtpLine) {
			continue
		}
		return int16(n.PayloadType)
	}
	return -1
}

// follow makes the stream switch to up (nil: to nothing new; the source
// followed goes on until it ends). The sink of a source switched to is
// attached at once; the previous one is detached when the switch
// happens (see write).
func (t *viewTrack) follow(up *UpTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.followLocked(up, false)
}

// followLocked is follow, locked. Of up it follows the layers up to the
// one chosen now (upTo); again makes a new sink even on the same ones,
// for a switch at their next keyframe (the video resumes after a pause).
func (t *viewTrack) followLocked(up *UpTrack, again bool) {
	cur, target := t.f.cur.Load(), t.f.target.Load()
	if up == nil {
		if t.v.isClosed() {
			for serial, s := range t.sinks {
				s.up.RemoveSink(s)
				delete(t.sinks, serial)
			}
			return
		}
		// A pending switch is given up; the source followed goes on.
		if target != cur {
			t.dropSinkLocked(target)
			t.f.target.Store(cur)
		}
		return
	}
	upTo := up.group(int(t.upTo.Load())).cap
	if s := t.sinks[target]; s != nil && s.up == up && s.upTo == upTo && !again {
		return // already there, or switching to it
	}
	if target != cur {
		t.dropSinkLocked(target)
	}
	if s := t.sinks[cur]; s != nil && s.up == up && s.upTo == upTo && !again {
		t.f.target.Store(cur) // back to the one followed
		return
	}
	t.serial++
	s := &viewSink{t: t, up: up, serial: t.serial, upTo: upTo}
	t.sinks[s.serial] = s
	t.recent[s.serial] = s
	for serial := range t.recent {
		if serial <= t.serial-epochsKept-1 {
			delete(t.recent, serial)
		}
	}
	t.f.target.Store(s.serial)
	up.AddSinkUpTo(s, int(upTo))
	up.requestKeyframeUpTo(int(upTo))
}

// dropSinkLocked detaches the sink numbered serial. Called locked.
func (t *viewTrack) dropSinkLocked(serial int32) {
	if s := t.sinks[serial]; s != nil {
		s.up.RemoveSink(s)
		delete(t.sinks, serial)
	}
}

func (v *Viewer) isClosed() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.closed
}

// write sends a packet of one of the stream's sources, if the stream
// follows that source or switches to it at this packet. Called on the
// source's forwarding goroutine.
func (t *viewTrack) write(s *viewSink, p *rtp.Packet) {
	b := t.binding.Load()
	if b == nil || !t.f.wants(s.serial) || t.paused.Load() {
		return
	}
	var in packetInfo
	if t.kind == webrtc.RTPCodecTypeAudio {
		in.keyframe = true // audio may switch at any packet
	} else {
		in.read(s.up.codecK, p.Payload)
	}
	t.mu.Lock()
	if s.pt == 0 {
		s.pt = b.payloadType(s.up.codec)
		if s.pt < 0 {
			t.v.log.Info("the viewer does not accept the codec of the source", "codec", s.up.codec.MimeType)
		}
	}
	if s.pt < 0 {
		t.mu.Unlock()
		return
	}
	was := t.f.cur.Load()
	payload, ok, ask := t.f.next(s.serial, p, &in, time.Now().UnixNano(), s.up.codec.ClockRate, &t.hdr, t.scratch)
	if ok {
		if now := t.f.cur.Load(); now != was {
			t.dropSinkLocked(was)
		}
		t.hdr.SSRC, t.hdr.PayloadType = b.ssrc, uint8(s.pt)
		t.hdr.Extension, t.hdr.Extensions, t.hdr.ExtensionProfile = false, nil, 0
		if b.level != 0 && s.up.levelID != 0 {
			// The source's audio level, under the viewer's id.
			t.ext.addLevel(&t.hdr, b.level, p.GetExtension(s.up.levelID))
		}
		t.send(b, &t.hdr, payload, &t.ext, false)
	}
	t.mu.Unlock()
	if ask {
		s.up.requestKeyframeUpTo(int(s.upTo))
	}
}

// send sends one packet: at once, or, video that the connection's pacer
// holds back, when the pacer releases it (see emit).
func (t *viewTrack) send(b *viewBinding, h *rtp.Header, payload []byte, ext *hdrExts, probe bool) {
	now := time.Now().UnixNano()
	if cc := t.v.conn.cc; t.kind == webrtc.RTPCodecTypeVideo && cc != nil && cc.pacer != nil && !cc.pacer.admit(t, h, payload, now, probe) {
		return
	}
	t.transmit(b, h, payload, ext, now, probe)
}

// emit writes a packet the pacer held back, now that it leaves.
func (t *viewTrack) emit(h *rtp.Header, payload []byte, ext *hdrExts, now int64, probe bool) {
	if b := t.binding.Load(); b != nil {
		t.transmit(b, h, payload, ext, now, probe)
	}
}

// transmit writes one packet through Pion and counts it (for the media
// stream's sender reports: not one of the RTX stream's); with congestion
// control, stamped with the connection's next transport-wide sequence
// number (in ext's storage) as sent at now (unix nanoseconds), probe
// marking a probe's duplicate.
func (t *viewTrack) transmit(b *viewBinding, h *rtp.Header, payload []byte, ext *hdrExts, now int64, probe bool) {
	if b.twcc != 0 {
		t.v.conn.stamp(h, b.twcc, ext, len(payload), now, probe)
	}
	if n, err := b.writer.WriteRTP(h, payload); n > 0 && err == nil && h.SSRC == b.ssrc {
		t.packets.Add(1)
		t.octets.Add(uint64(len(payload)))
	}
}

// requestKeyframe asks the source switched to (or followed) for a
// keyframe.
func (t *viewTrack) requestKeyframe() {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	t.mu.Lock()
	s := t.sinks[t.f.target.Load()]
	t.mu.Unlock()
	if s != nil {
		s.up.requestKeyframeUpTo(int(s.upTo))
	}
}

// readRTCP reads the viewer's RTCP for this stream until the connection
// closes: keyframe requests go to the source, NACKs are answered from
// its cache, transport-cc feedback goes to the connection's congestion
// control, that addressed to the RTX SSRC too (see rtxFeedback).
func (t *viewTrack) readRTCP() {
	var rtx rtxFeedback
	defer rtx.stop()
	cc := t.v.conn.cc
	readFeedback(t.sender, t.requestKeyframe, t.retransmit, cc, func() {
		if b := t.binding.Load(); b != nil && b.twcc != 0 {
			rtx.start(t.sender, b.rtxSSRC, cc, t.v.log)
		}
	})
}

// retransmit sends again the video packets a NACK asks for that are still
// in their source's cache (and that its resend log allows), as they were
// sent, on the RTX stream when the viewer has one.
func (t *viewTrack) retransmit(nack *rtcp.TransportLayerNack, buf []byte) {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	answerNack(nack, &t.resent, t.resend, buf)
}

// resend sends again the video packet sent as seq, if it is still in its
// source's cache, as it was sent, on the RTX stream when the viewer has
// one (see DownTrack.resend); probe marks a probe's duplicate. It returns
// the payload's size; 0 if it sent nothing.
func (t *viewTrack) resend(seq uint16, buf []byte, probe bool) int {
	b := t.binding.Load()
	if t.kind != webrtc.RTPCodecTypeVideo || b == nil {
		return 0
	}
	t.mu.Lock()
	e, in, ok := t.f.lookup(seq)
	s := t.recent[e.layer]
	t.mu.Unlock()
	if !ok || s == nil {
		return 0
	}
	var pkt rtp.Packet
	if !s.up.sinkPacket(int(s.upTo), in, buf, &pkt) {
		return 0
	}
	pt := b.payloadType(s.up.codec)
	if pt < 0 {
		return 0
	}
	e.rewriteAgain(s.up.codecK, &pkt)
	pkt.SSRC, pkt.PayloadType = b.ssrc, uint8(pt)
	pkt.Extension, pkt.Extensions, pkt.ExtensionProfile = false, nil, 0
	payload := pkt.Payload
	if rtxPT, ok := rtxPayloadType(b.codecs, uint8(pt)); b.rtxSSRC != 0 && ok {
		payload = toRTX(&pkt, b.rtxSSRC, rtxPT, uint16(t.rtxSeq.Add(1)))
	}
	var ext hdrExts
	t.send(b, &pkt.Header, payload, &ext, probe)
	return len(payload)
}

// senderReport is the stream's sender report at now, from the report of
// the source it sends, in its own timestamps; nil before it sends or
// while the source has sent none.
func (t *viewTrack) senderReport(time.Time) *rtcp.SenderReport {
	b := t.binding.Load()
	packets := t.packets.Load()
	if b == nil || packets == 0 {
		return nil
	}
	t.mu.Lock()
	e := t.f.latest()
	var src *viewSink
	var off uint32
	if e != nil {
		src, off = t.recent[e.layer], e.ts
	}
	t.mu.Unlock()
	if src == nil {
		return nil
	}
	sr, ok := src.up.lastSenderReportUpTo(int(src.upTo))
	if !ok {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC:        b.ssrc,
		NTPTime:     ntpTimestamp(sr.NTP),
		RTPTime:     sr.RTP + off,
		PacketCount: uint32(packets),
		OctetCount:  uint32(t.octets.Load()),
	}
}

// Viewers is the number of viewers of the room.
func (r *Room) Viewers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.viewers)
}

// updateViewers makes every viewer follow what the room shows it now.
func (r *Room) updateViewers() {
	type choice struct {
		v            *Viewer
		p            *Participant
		audio, video *UpTrack
	}
	r.mu.Lock()
	if len(r.viewers) == 0 {
		r.mu.Unlock()
		return
	}
	choices := make([]choice, 0, len(r.viewers))
	for v := range r.viewers {
		p, a, vid := r.sourcesLocked(v)
		choices = append(choices, choice{v, p, a, vid})
	}
	r.mu.Unlock()
	for _, c := range choices {
		c.v.follow(c.p, c.audio, c.video)
	}
}

// sourcesLocked chooses what v receives: the audio of one participant,
// its source, and a video. The source is the named publisher if v has
// one; else whoever speaks now (the one followed, if several do); else
// the one followed while it still publishes; else a publisher with
// video, else one with audio. The video is the source's (its shared
// screen rather than its camera), or, if it has
// none, the one v receives while it lasts (a streamer's picture stays
// while someone without a camera speaks), else any. Participants in a
// call are private to it: never a source. Called locked (r.mu).
func (r *Room) sourcesLocked(v *Viewer) (*Participant, *UpTrack, *UpTrack) {
	audio := map[*Participant]*UpTrack{}
	video := map[*Participant]*UpTrack{}
	speaking := map[*Participant]bool{}
	for up := range r.ups {
		p := up.owner
		if up.Closed() || p == nil || p.partner != nil {
			continue
		}
		m := audio
		if up.kind == webrtc.RTPCodecTypeVideo {
			m = video
		}
		// A shared screen is what the others see large: it is the
		// participant's picture while it lasts.
		if old := m[p]; old == nil || up.screen && !old.screen || up.screen == old.screen && up.id < old.id {
			m[p] = up
		}
		if up.Speaking() {
			speaking[p] = true
		}
	}
	publishes := func(p *Participant) bool { return p != nil && (audio[p] != nil || video[p] != nil) }
	// first picks, of the participants that pass, the one with the
	// smallest id, so that the choice does not depend on map order.
	first := func(pass func(*Participant) bool) *Participant {
		var best *Participant
		for _, m := range []map[*Participant]*UpTrack{video, audio} {
			for p := range m {
				if pass(p) && (best == nil || p.ID < best.ID) {
					best = p
				}
			}
		}
		return best
	}
	v.mu.Lock()
	cur := v.source
	v.mu.Unlock()
	var src *Participant
	switch {
	case v.opts.Publisher != "":
		src = first(func(p *Participant) bool { return strings.EqualFold(p.Name, v.opts.Publisher) })
	case speaking[cur]:
		src = cur
	case len(speaking) > 0:
		src = first(func(p *Participant) bool { return speaking[p] })
	case publishes(cur):
		src = cur
	default:
		src = first(func(p *Participant) bool { return video[p] != nil })
		if src == nil {
			src = first(func(*Participant) bool { return true })
		}
	}
	if src == nil {
		return nil, nil, nil
	}
	vid := video[src]
	if vid == nil && v.opts.Publisher == "" {
		if now := v.videoSource(); now != nil && !now.Closed() && video[now.owner] == now {
			vid = now
		} else if p := first(func(p *Participant) bool { return video[p] != nil }); p != nil {
			vid = video[p]
		}
	}
	return src, audio[src], vid
}

// videoSource is the video track the viewer receives or switches to.
func (v *Viewer) videoSource() *UpTrack {
	for _, t := range v.tracks {
		if t.kind != webrtc.RTPCodecTypeVideo {
			continue
		}
		t.mu.Lock()
		s := t.sinks[t.f.target.Load()]
		t.mu.Unlock()
		if s != nil {
			return s.up
		}
	}
	return nil
}

// viewerStats keeps the live viewers and the packets sent to those that
// left.
type viewerStats struct {
	mu    sync.Mutex
	live  map[*Viewer]struct{}
	ended uint64
}

func (s *viewerStats) add(v *Viewer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		s.live = make(map[*Viewer]struct{})
	}
	s.live[v] = struct{}{}
}

func (s *viewerStats) remove(v *Viewer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live[v]; ok {
		delete(s.live, v)
		s.ended += v.sent()
	}
}

// estimates appends to out the downlink estimates of the viewers whose
// feedback drives their layers at now (unix nanoseconds).
func (s *viewerStats) estimates(now int64, out []float64) []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v := range s.live {
		if cc := v.conn.cc; cc.lastFeedback.Load() > now-int64(feedbackTimeout) {
			out = append(out, cc.Estimate())
		}
	}
	return out
}

// read returns the number of live viewers and the packets sent to all.
func (s *viewerStats) read() (int, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.ended
	for v := range s.live {
		n += v.sent()
	}
	return len(s.live), n
}
