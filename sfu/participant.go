package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"parley/audiolevel"
)

// Signaler carries what the media plane has to tell a participant's client.
// Its methods must not block: they are called with locks held.
type Signaler interface {
	// SubscribeOffer delivers the server's offer for the subscribe
	// connection. The client answers with Participant.HandleAnswer.
	SubscribeOffer(sdp string)
	// MediaProblem reports something the client should know about its
	// media: a track refused by the room's policy, or a connection that
	// failed. pc is "publish" or "subscribe".
	MediaProblem(pc, code, message string)
	// TrackPublished tells that the participant publishes a new track.
	TrackPublished(up *UpTrack)
	// SpeakingChanged tells that whether the participant speaks on up
	// (UpTrack.Speaking) may have changed. It may be called twice for one
	// change, from two goroutines: the receiver reads Speaking for the
	// state, so that the last call tells the last state.
	SpeakingChanged(up *UpTrack)
	// VideoPaused tells that congestion control paused (or resumed) the
	// participant's video of up: its downlink does not carry even the
	// lowest layer. Called from the SFU's goroutines; it must not block.
	VideoPaused(up *UpTrack, paused bool)
}

// PC names one of a participant's two connections.
const (
	PCPublish   = "publish"
	PCSubscribe = "subscribe"
)

// gatherTimeout bounds the wait for the server's own ICE candidates, which
// are local addresses and normally take a millisecond.
const gatherTimeout = 2 * time.Second

// ErrNoOffer is returned by HandleAnswer when no subscribe offer is pending.
var ErrNoOffer = errors.New("no subscribe offer is pending")

// ErrLeft is returned by the methods of a participant that has left.
var ErrLeft = errors.New("participant has left")

// Participant is one member of a room: what it publishes and what it
// receives.
type Participant struct {
	ID   string
	Name string

	room *Room
	sig  Signaler
	log  *slog.Logger

	partner *Participant // the other side of a call; guarded by room.mu

	// pubPC is also kept outside mu: keyframe requests are written to it
	// from other participants' goroutines, which may hold their own mu.
	pubPC atomic.Pointer[webrtc.PeerConnection]

	mu          sync.Mutex
	closed      bool
	pub         *webrtc.PeerConnection
	pubRecv     *directReceiver // pub's direct receive side; nil without one
	sub         *webrtc.PeerConnection
	subConn     *subConn // sub's send side
	ups         map[string]*UpTrack
	upSeq       int
	screenMids  map[string]bool                  // the publish offer's m-sections that share a screen
	simGroups   map[string]simGroup              // the publish offer's SIM groups by mid (see simGroups)
	simulcast   map[*webrtc.RTPReceiver]*UpTrack // the simulcast ups, by their receiver
	refused     map[*webrtc.RTPReceiver]bool     // simulcast tracks refused
	downs       map[*UpTrack]*DownTrack
	sizes       map[string][2]int // the size each video is shown at, by up track id (SetVideoSize)
	negotiating bool              // an offer was sent on sub and its answer is awaited
	renegotiate bool              // the tracks changed while negotiating

	// wg counts every goroutine the participant starts or runs on: the
	// up track loops, the RTCP readers, the sender reports and the
	// closing of a failed connection. Leave waits for it, holding no
	// lock. A goroutine is added under mu while closed is false, so that
	// no Add comes after Leave's Wait has begun.
	wg sync.WaitGroup
}

// maxVideoSize bounds the size a subscriber may say it shows a video at.
const maxVideoSize = 16384

// SetVideoSize tells the size, in device pixels, at which the participant
// shows the video of up track id (0 by 0: not at all), now and for the
// down tracks of it made later: the SFU sends no layer larger than
// needed, and no video for a hidden one (see DownTrack.SetMaxSize). It
// reports false for a size out of bounds.
func (p *Participant) SetVideoSize(id string, width, height int) bool {
	if width < 0 || height < 0 || width > maxVideoSize || height > maxVideoSize {
		return false
	}
	p.mu.Lock()
	if p.sizes == nil {
		p.sizes = map[string][2]int{}
	}
	var d *DownTrack
	for up, down := range p.downs {
		if up.id == id {
			d = down
		}
	}
	if d != nil || len(p.sizes) < maxVideoPrefs {
		p.sizes[id] = [2]int{width, height}
	}
	p.mu.Unlock()
	if d != nil {
		d.SetMaxSize(width, height)
	}
	return true
}

// maxVideoPrefs bounds the sizes kept for tracks not received (yet).
const maxVideoPrefs = 64

func newParticipant(r *Room, id, name string, sig Signaler) *Participant {
	return &Participant{
		ID:        id,
		Name:      name,
		room:      r,
		sig:       sig,
		log:       r.log.With("participant", id),
		ups:       make(map[string]*UpTrack),
		simulcast: make(map[*webrtc.RTPReceiver]*UpTrack),
		refused:   make(map[*webrtc.RTPReceiver]bool),
		downs:     make(map[*UpTrack]*DownTrack),
	}
}

// HandleOffer takes the client's offer for the publish connection and
// returns the server's answer. A later offer renegotiates the same
// connection (adding video, say); none is needed for push-to-talk.
func (p *Participant) HandleOffer(sdp string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", ErrLeft
	}
	if p.pub == nil {
		pc, err := p.room.engine.newPeerConnection(true)
		if err != nil {
			return "", fmt.Errorf("new publish connection: %w", err)
		}
		pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) { p.onTrack(t, r) })
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateFailed {
				p.publishFailed(pc)
			}
		})
		p.pub = pc
		p.pubPC.Store(pc)
		p.pubRecv = p.room.engine.receiveDirectly(pc)
	}
	pc := p.pub
	sdp = p.filterCandidates(PCPublish, sdp)
	p.screenMids = screenMids(sdp)
	sdp, p.simGroups = simGroups(sdp)
	if p.pubRecv != nil {
		// Claimed before the answer: no packet of them is sent before it.
		p.pubRecv.claim(directSSRCs(sdp))
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return "", fmt.Errorf("publish offer: %w", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("publish answer: %w", err)
	}
	if p.pubRecv != nil {
		p.pubRecv.setRole(answer.SDP)
	}
	return p.setLocalLocked(pc, answer)
}

// setLocalLocked sets a local description and returns it once it holds the
// server's candidates. Called locked.
func (p *Participant) setLocalLocked(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("set local %s: %w", desc.Type, err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
		p.log.Warn("ICE gathering did not complete; sending the candidates found so far")
	}
	return pc.LocalDescription().SDP, nil
}

// HandleAnswer takes the client's answer to the last subscribe offer.
func (p *Participant) HandleAnswer(sdp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrLeft
	}
	if p.sub == nil || !p.negotiating {
		return ErrNoOffer
	}
	sdp = p.filterCandidates(PCSubscribe, sdp)
	p.subConn.noteAnswer(sdp)
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("subscribe answer: %w", err)
	}
	p.negotiating = false
	if p.renegotiate {
		p.renegotiate = false
		p.negotiateLocked()
	}
	return nil
}

// AddCandidate adds a trickled ICE candidate from the client to one of the
// two connections. A candidate that the engine's rule refuses (see
// candidatePolicy) is dropped without an error: browsers trickle their
// host and mDNS candidates as a matter of course.
func (p *Participant) AddCandidate(pc string, c webrtc.ICECandidateInit) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrLeft
	}
	var conn *webrtc.PeerConnection
	switch pc {
	case PCPublish:
		conn = p.pub
	case PCSubscribe:
		conn = p.sub
	default:
		return fmt.Errorf("unknown connection %q", pc)
	}
	if conn == nil || conn.RemoteDescription() == nil {
		return fmt.Errorf("candidate before the %s connection was negotiated", pc)
	}
	if why := p.room.engine.candidateRefusal(c.Candidate); why != "" {
		p.log.Debug("remote candidate dropped", "pc", pc, "candidate", c.Candidate, "why", why)
		return nil
	}
	return conn.AddICECandidate(c)
}

// Publishing reports whether the participant has a publish connection.
func (p *Participant) Publishing() bool { return p.pubPC.Load() != nil }

// PublishOffer is the client's latest offer for the publish connection,
// "" before the first.
func (p *Participant) PublishOffer() string {
	if pc := p.pubPC.Load(); pc != nil {
		if d := pc.RemoteDescription(); d != nil {
			return d.SDP
		}
	}
	return ""
}

// speakingChanged passes a change of up's speaking to the signaler.
func (p *Participant) speakingChanged(up *UpTrack) {
	if p.sig != nil {
		p.sig.SpeakingChanged(up)
	}
	p.room.updateViewers()
}

// requestKeyframes asks the publishers of the video p receives for a
// keyframe of what p is to decode.
func (p *Participant) requestKeyframes() {
	p.mu.Lock()
	downs := make([]*DownTrack, 0, len(p.downs))
	for _, d := range p.downs {
		downs = append(downs, d)
	}
	p.mu.Unlock()
	for _, d := range downs {
		d.requestKeyframe()
	}
}

// UpTracks lists the tracks the participant publishes.
func (p *Participant) UpTracks() []*UpTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	ups := make([]*UpTrack, 0, len(p.ups))
	for _, u := range p.ups {
		ups = append(ups, u)
	}
	return ups
}

// onTrack takes a track the publisher sends: a new up track, or a
// further layer of a simulcast one, whose packets it then forwards until
// the track ends. Pion tells each rid of a simulcast track apart, as its
// first packet arrives; the first makes the up track, with a layer for
// every rid declared (see rankRIDs), and each starts its layer.
func (p *Participant) onTrack(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if t.RID() != "" {
		if p.refused[recv] {
			// Told once, for the first encoding.
			p.mu.Unlock()
			return
		}
		if up := p.simulcast[recv]; up != nil {
			l := up.layerOf(t.RID())
			if l == nil || up.ending || l.started.Load() {
				p.mu.Unlock()
				p.log.Debug("simulcast encoding not forwarded", "track", up.id, "rid", t.RID())
				return
			}
			p.runLayerLocked(up, l, recv)
			return
		}
	}
	if t.Kind() == webrtc.RTPCodecTypeVideo && !p.room.opts.AllowVideo {
		p.refuseLocked(t, recv)
		p.mu.Unlock()
		p.log.Info("video track refused: the room does not allow video")
		p.sig.MediaProblem(PCPublish, "video-not-allowed", "this room does not allow video; the video track is ignored")
		return
	}
	if len(p.ups) >= p.room.opts.MaxUpTracks {
		p.refuseLocked(t, recv)
		p.mu.Unlock()
		p.sig.MediaProblem(PCPublish, "too-many-tracks", fmt.Sprintf("at most %d published tracks", p.room.opts.MaxUpTracks))
		return
	}
	// Before the first packet the track's codec is the first one the
	// negotiation settled on, which is what browsers send.
	codec := t.Codec()
	if codec.MimeType == "" {
		if cs := recv.GetParameters().Codecs; len(cs) > 0 {
			codec = cs[0]
		}
	}
	if codec.MimeType == "" {
		p.mu.Unlock()
		p.log.Warn("track without a negotiated codec ignored")
		return
	}
	streams := []layerSource{{remote: t}}
	if ds := p.directStreamLocked(t, recv, codec); ds != nil {
		streams = []layerSource{{remote: ds}}
	} else if t.RID() != "" {
		streams = simulcastStreams(recv)
	} else if group := p.simGroups[midOf(p.pub, recv)]; t.Kind() == webrtc.RTPCodecTypeVideo && slices.Contains(group.ssrcs, uint32(t.SSRC())) {
		streams = p.ssrcSimulcastStreams(t, recv, codec, group)
	}
	p.upSeq++
	screen := t.Kind() == webrtc.RTPCodecTypeVideo && p.screenMids[midOf(p.pub, recv)]
	what := t.Kind().String()
	if screen {
		what = "screen"
	}
	up := newUpTrack(fmt.Sprintf("%s-%s%d", p.ID, what, p.upSeq), p, t.Kind(), codec, streams)
	up.screen = screen
	l := up.layerOf(t.RID())
	if len(streams) > 1 && t.RID() == "" {
		l = up.layerOfStream(t)
	}
	if l == nil {
		// A rid beyond the layers kept: the track's first packet came
		// on an encoding it does not forward.
		p.mu.Unlock()
		p.log.Debug("simulcast encoding not forwarded", "rid", t.RID())
		return
	}
	if t.Kind() == webrtc.RTPCodecTypeAudio {
		for _, e := range recv.GetParameters().HeaderExtensions {
			if e.URI == audiolevel.URI && e.ID > 0 && e.ID < 256 {
				up.levelID = uint8(e.ID)
				up.speech = audiolevel.NewDetector(audiolevel.DetectorConfig{})
			}
		}
	}
	p.ups[up.id] = up
	if t.RID() != "" {
		p.simulcast[recv] = up
	}
	p.log.Debug("publishing", "track", up.id, "codec", up.codec.MimeType, "layers", up.Layers())
	for _, o := range up.layers {
		s, own := o.remote.(*ssrcStream)
		if !own {
			continue
		}
		// Read on goroutines of their own, as Pion's tracks are.
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.mu.Lock()
			p.runLayerLocked(up, o, recv)
		}()
		if s.rtx != nil {
			p.wg.Go(s.rtx.drain)
		}
	}
	p.runLayerLocked(up, l, recv)
}

// directStreamLocked returns the direct stream of t, an audio track of
// pub, if the connection reads it on the direct receive path (see
// directReceiver), bound to the connection's interceptors and fed what
// reaches Pion's track. Called locked.
func (p *Participant) directStreamLocked(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver, codec webrtc.RTPCodecParameters) *directStream {
	if p.pubRecv == nil || t.Kind() != webrtc.RTPCodecTypeAudio || t.RID() != "" || t.SSRC() == 0 {
		return nil
	}
	ds := p.pubRecv.stream(uint32(t.SSRC()))
	if ds == nil {
		return nil
	}
	ic, ok := interceptorOf(p.pub)
	if !ok {
		p.log.Warn("publishers are read through Pion's slower read path", "err", errHiddenSessions)
		ds.close()
		return nil
	}
	ds.bind(ic, streamInfo(uint32(t.SSRC()), codec, recv, true))
	p.pubRecv.bindRTCP(ic)
	p.wg.Go(func() { ds.feed(t) })
	return ds
}

// ssrcSimulcastStreams lists the layers of a video whose encodings the
// offer groups by SSRC (see simGroups): t, Pion's track of one of them,
// and the SFU's own streams of the others, the highest maxLayers kept.
// Should the others not open, t alone.
func (p *Participant) ssrcSimulcastStreams(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver, codec webrtc.RTPCodecParameters, group simGroup) []layerSource {
	alone := []layerSource{{remote: t}}
	ssrcs := group.ssrcs
	if len(ssrcs) > maxLayers {
		ssrcs = ssrcs[len(ssrcs)-maxLayers:]
	}
	var streams []layerSource
	for _, ssrc := range ssrcs {
		if ssrc == uint32(t.SSRC()) {
			streams = append(streams, layerSource{remote: t})
			continue
		}
		s, err := openSSRCStream(p.pub, recv, codec, ssrc)
		if err == nil && group.rtx[ssrc] != 0 {
			s.rtx, err = openSSRCStream(p.pub, recv, codec, group.rtx[ssrc])
		}
		if err != nil {
			p.log.Warn("simulcast encoding not read", "ssrc", ssrc, "err", err)
			if s != nil {
				s.close()
			}
			closeOwnStreams(streams)
			return alone
		}
		streams = append(streams, layerSource{remote: s})
	}
	if !slices.ContainsFunc(streams, func(s layerSource) bool { return s.remote == rtpStream(t) }) {
		closeOwnStreams(streams)
		return alone
	}
	return streams
}

// closeOwnStreams closes the SFU's own streams among streams.
func closeOwnStreams(streams []layerSource) {
	for _, s := range streams {
		if o, ok := s.remote.(*ssrcStream); ok {
			o.close()
		}
	}
}

// screenMids returns the mids of the m-sections of a publish offer that
// share a screen: those marked "a=content:slides" (RFC 4796), as a
// client marks the video of a screen it shares, so that subscribers are
// given it apart from the camera (see DownTrack.StreamID).
func screenMids(offer string) map[string]bool {
	var mids map[string]bool
	for _, section := range strings.Split(offer, "\nm=")[1:] {
		mid, slides := "", false
		for _, line := range strings.Split(section, "\n") {
			line = strings.TrimSuffix(line, "\r")
			if v, ok := strings.CutPrefix(line, "a=mid:"); ok {
				mid = v
			} else if v, ok := strings.CutPrefix(line, "a=content:"); ok {
				for _, c := range strings.Split(v, ",") {
					slides = slides || c == "slides"
				}
			}
		}
		if slides && mid != "" {
			if mids == nil {
				mids = make(map[string]bool)
			}
			mids[mid] = true
		}
	}
	return mids
}

// midOf returns the mid of the transceiver of recv on pc, empty when
// it has none.
func midOf(pc *webrtc.PeerConnection, recv *webrtc.RTPReceiver) string {
	if pc == nil {
		return ""
	}
	for _, tr := range pc.GetTransceivers() {
		if tr.Receiver() == recv {
			return tr.Mid()
		}
	}
	return ""
}

// refuseLocked notes that the encodings of a simulcast track are refused,
// so that the publisher is told once. Called locked.
func (p *Participant) refuseLocked(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	if t.RID() != "" {
		p.refused[recv] = true
	}
}

// simulcastStreams lists the layers of a simulcast receiver, ordered by
// rankRIDs.
func simulcastStreams(recv *webrtc.RTPReceiver) []layerSource {
	byRID := map[string]*webrtc.TrackRemote{}
	var declared []string
	for _, tr := range recv.Tracks() {
		if tr != nil && byRID[tr.RID()] == nil {
			byRID[tr.RID()] = tr
			declared = append(declared, tr.RID())
		}
	}
	var streams []layerSource
	for _, rid := range rankRIDs(declared) {
		streams = append(streams, layerSource{rid: rid, remote: byRID[rid]})
	}
	return streams
}

// runLayerLocked starts layer l of up and forwards its packets until it
// ends: the first layer publishes the track in the room, the last to end
// removes it. Called locked; it unlocks.
func (p *Participant) runLayerLocked(up *UpTrack, l *layer, recv *webrtc.RTPReceiver) {
	first := up.loops == 0
	up.loops++
	l.started.Store(true)
	p.wg.Add(2)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		l.readRTCP(recv)
	}()

	defer p.wg.Done()
	if first {
		p.room.addUp(up)
		if p.sig != nil {
			p.sig.TrackPublished(up)
		}
	}
	l.forward()
	if _, own := l.remote.(*ssrcStream); !own {
		// Pion's track ended (the publisher stopped it, or the
		// connection closed): so do the SFU's own streams of the same
		// video, which Pion does not close.
		for _, o := range up.layers {
			if s, ok := o.remote.(*ssrcStream); ok {
				s.close()
			}
		}
	}
	p.mu.Lock()
	up.loops--
	last := up.loops == 0
	if last {
		up.ending = true
		if p.simulcast[recv] == up {
			delete(p.simulcast, recv)
		}
	}
	p.mu.Unlock()
	if !last {
		return
	}
	p.room.removeUp(up)
	p.mu.Lock()
	delete(p.ups, up.id)
	p.mu.Unlock()
}

// writeRTCPUp sends RTCP to the publisher, on the publish connection.
func (p *Participant) writeRTCPUp(pkts []rtcp.Packet) {
	if pc := p.pubPC.Load(); pc != nil {
		_ = pc.WriteRTCP(pkts)
	}
}

// subscribe starts sending the given up tracks to p and renegotiates.
func (p *Participant) subscribe(ups []*UpTrack) {
	if len(ups) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.addDownsLocked(ups) {
		p.negotiateLocked()
	}
}

// setSubscriptions makes p receive exactly ups, with one renegotiation.
func (p *Participant) setSubscriptions(ups []*UpTrack) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	keep := make(map[*UpTrack]bool, len(ups))
	for _, up := range ups {
		keep[up] = true
	}
	changed := false
	for up := range p.downs {
		if !keep[up] {
			p.removeDownLocked(up)
			changed = true
		}
	}
	if p.addDownsLocked(ups) {
		changed = true
	}
	if changed {
		p.negotiateLocked()
	}
}

// addDownsLocked adds down tracks for the ups p does not receive yet and
// reports whether it added any. Called locked.
func (p *Participant) addDownsLocked(ups []*UpTrack) bool {
	fresh := ups[:0:0]
	for _, up := range ups {
		if !up.closed.Load() && p.downs[up] == nil {
			fresh = append(fresh, up)
		}
	}
	if len(fresh) == 0 {
		return false
	}
	ups = fresh
	if p.sub == nil {
		pc, err := p.room.engine.newPeerConnection(false)
		if err != nil {
			p.log.Error("new subscribe connection", "err", err)
			return false
		}
		conn := newSubConn(pc)
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			switch s {
			case webrtc.PeerConnectionStateFailed:
				p.subscribeFailed(pc)
			case webrtc.PeerConnectionStateConnected:
				// The keyframes asked for when the tracks were bound may
				// have come before the subscriber could receive them.
				p.requestKeyframes()
			}
		})
		p.sub = pc
		p.subConn = conn
		conn.cc = newCongestion(func() []ccStream { return p.ccStreams(conn) }, conn, &p.room.engine.pacing)
		p.room.engine.watchDirect(p.subConn, func() { p.subscribeFailed(pc) })
		p.wg.Add(1)
		go func(c *subConn) {
			defer p.wg.Done()
			c.cc.run(func(now time.Time) { p.senderReports(c, now) })
		}(p.subConn)
	}
	added := false
	for _, up := range ups {
		if up.closed.Load() || p.downs[up] != nil {
			continue
		}
		d := newDownTrack(up, p, p.subConn)
		if size, ok := p.sizes[up.id]; ok {
			d.SetMaxSize(size[0], size[1])
		}
		sender, err := p.sub.AddTrack(d)
		if err != nil {
			p.log.Error("add down track", "track", up.id, "err", err)
			continue
		}
		d.sender = sender
		p.downs[up] = d
		up.attach(d)
		if p.subConn.rtcpDecided() {
			// The shared socket's reader takes the subscriber's RTCP.
			added = true
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			d.readRTCP()
		}()
		added = true
	}
	p.widenHistoryLocked()
	return added
}

// widenHistoryLocked gives the subscribe connection's send history its
// full length once it carries video or more than audioHistoryTracks
// tracks. Called locked.
func (p *Participant) widenHistoryLocked() {
	if p.subConn == nil || p.subConn.cc == nil {
		return
	}
	n := 0
	for up, d := range p.downs {
		if d.conn != p.subConn {
			continue
		}
		if n++; up.Kind() == webrtc.RTPCodecTypeVideo || n > audioHistoryTracks {
			p.subConn.cc.hist.widen()
			return
		}
	}
}

// unsubscribe stops sending up to p and renegotiates.
func (p *Participant) unsubscribe(up *UpTrack) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.removeDownLocked(up) && !p.closed {
		p.negotiateLocked()
	}
}

// removeDownLocked stops sending up to p; it reports whether p received
// it. Called locked.
func (p *Participant) removeDownLocked(up *UpTrack) bool {
	d := p.downs[up]
	if d == nil {
		return false
	}
	delete(p.downs, up)
	up.detach(d)
	if p.closed || p.sub == nil {
		return true
	}
	if err := p.sub.RemoveTrack(d.sender); err != nil {
		p.log.Debug("remove down track", "track", up.id, "err", err)
	}
	return true
}

// negotiateLocked sends a new subscribe offer, or notes that one is needed
// once the pending one is answered. Called locked.
func (p *Participant) negotiateLocked() {
	if p.closed || p.sub == nil {
		return
	}
	if p.negotiating {
		p.renegotiate = true
		return
	}
	offer, err := p.sub.CreateOffer(nil)
	sdp := ""
	if err == nil {
		sdp, err = p.setLocalLocked(p.sub, offer)
	}
	if err != nil {
		// A change of tracks can race the connection's closing (the
		// client left, or the connection failed): that is no error.
		if errors.Is(err, webrtc.ErrConnectionClosed) || p.sub.ConnectionState() == webrtc.PeerConnectionStateClosed {
			p.log.Debug("no subscribe offer: the connection is closing", "err", err)
			return
		}
		p.log.Error("subscribe offer", "err", err)
		return
	}
	p.negotiating = true
	p.sig.SubscribeOffer(sdp)
}

// ClosePublish closes the publish connection, if any: its tracks end,
// and the next offer makes a new one. For a publisher that comes back on
// another connection (WHIP) while the server still holds the old.
func (p *Participant) ClosePublish() {
	p.mu.Lock()
	pc := p.pub
	p.pub = nil
	p.pubPC.Store(nil)
	p.closeRecvLocked()
	p.mu.Unlock()
	if pc != nil {
		_ = pc.Close()
	}
}

// closeRecvLocked ends the direct receive side of the publish connection
// that goes. Called locked.
func (p *Participant) closeRecvLocked() {
	if p.pubRecv != nil {
		p.pubRecv.close()
		p.pubRecv = nil
	}
}

// publishFailed tears down a publish connection whose ICE or DTLS failed.
// Its tracks end; the client may publish again with a new offer.
func (p *Participant) publishFailed(pc *webrtc.PeerConnection) {
	p.mu.Lock()
	if p.pub != pc {
		p.mu.Unlock()
		return
	}
	p.pub = nil
	p.pubPC.Store(nil)
	p.closeRecvLocked()
	// Added under mu while p.pub is set, hence before Leave's Wait.
	p.wg.Add(1)
	p.mu.Unlock()
	p.log.Info("publish connection failed")
	p.sig.MediaProblem(PCPublish, "media-failed", "the publish connection failed; send a new offer to publish again")
	// Closed on a goroutine of its own: this is called from the
	// connection's own state callback.
	go func() {
		defer p.wg.Done()
		_ = pc.Close()
	}()
}

// subscribeFailed replaces a subscribe connection whose ICE or DTLS failed
// by a new one carrying the same tracks.
func (p *Participant) subscribeFailed(pc *webrtc.PeerConnection) {
	p.mu.Lock()
	if p.sub != pc || p.closed {
		p.mu.Unlock()
		return
	}
	for up, d := range p.downs {
		up.detach(d)
	}
	p.downs = make(map[*UpTrack]*DownTrack)
	p.sub = nil
	p.subConn.retire()
	p.subConn = nil
	p.negotiating, p.renegotiate = false, false
	// Added under mu before closed is set, hence before Leave's Wait.
	p.wg.Add(1)
	p.mu.Unlock()
	p.log.Info("subscribe connection failed; offering a new one")
	p.sig.MediaProblem(PCSubscribe, "media-failed", "the subscribe connection failed; a new offer follows")
	go func() {
		defer p.wg.Done()
		_ = pc.Close()
		p.room.resubscribe(p)
	}()
}

// Leave removes the participant from the room, closes its connections and
// waits until every goroutine it owns has ended. Safe to call twice.
func (p *Participant) Leave() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	pub, sub := p.pub, p.sub
	p.pub, p.sub = nil, nil
	p.closeRecvLocked()
	if p.subConn != nil {
		p.subConn.retire()
		p.subConn = nil
	}
	p.pubPC.Store(nil)
	for up, d := range p.downs {
		up.detach(d)
	}
	p.downs = nil
	p.mu.Unlock()

	p.room.remove(p)
	// Closing the publish connection ends the up tracks, whose loops then
	// remove them from every subscriber.
	if pub != nil {
		if err := pub.Close(); err != nil {
			p.log.Debug("close publish connection", "err", err)
		}
	}
	if sub != nil {
		if err := sub.Close(); err != nil {
			p.log.Debug("close subscribe connection", "err", err)
		}
	}
	p.wg.Wait()
}
