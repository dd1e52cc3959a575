package signaling

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"parley/access"
	"parley/capture"
	"parley/sfu"
)

// WHIP ingest (RFC 9725): POST /whip/{room}?name=NAME with an SDP offer
// makes a publisher that has no websocket. In live rooms it is live like
// any participant; in clip rooms the whole session becomes one clip when
// it ends (DELETE on its Location, or a failed connection).

// maxOfferBytes bounds a WHIP offer.
const maxOfferBytes = 64 << 10

// whipWait is how long a WHIP session in a clip room waits for all the
// tracks its offer announced before it records what it has.
const whipWait = 3 * time.Second

// whipConnectWait is how long a WHIP session may take from its offer to
// its first track before it is ended: a publisher that never connects
// must not hold its name and a place in the room.
const whipConnectWait = 10 * time.Second

// whipPublisher is the kind of member that publishes over WHIP: it has no
// websocket, so it is told nothing, takes no calls and receives nothing.
type whipPublisher struct {
	*membership
	resource string   // the secret last part of the session's Location
	auth     [32]byte // SHA-256 of the offer's Authorization header
	hasAuth  bool     // the offer had one: ending the session needs it too
	expect   int      // tracks the offer sends
	release  func()   // gives back the session's place in the per-address count

	mu        sync.Mutex
	started   bool // the clip started (clip rooms), or the session ended
	connected bool // a track arrived
	// holds keep the packets of the tracks that came while the clip
	// waits for the others, so that it begins at the first packet.
	holds    []*capture.Hold
	timer    *time.Timer
	deadline *time.Timer
	etag     string      // of the ICE session (RFC 9725 4.3.1)
	grace    *time.Timer // ends a session whose connection failed (see MediaProblem)
	endOnce  sync.Once
}

// deliver implements member: there is nobody to tell.
func (wp *whipPublisher) deliver([]byte) {}

// goAway implements member: the WHIP session ends.
func (wp *whipPublisher) goAway(code, message string, closeCode int) {
	wp.log.Info("WHIP session ended", "room", wp.room.cfg().Name, "participant", wp.id, "code", code)
	wp.hub.endLater(wp)
}

// welcomeLocked and leavingLocked implement member: a publisher has no
// chat memory, no calls and nobody to tell.
func (wp *whipPublisher) welcomeLocked([]Peer, string, json.RawMessage) {}
func (wp *whipPublisher) leavingLocked()                                {}

// SubscribeOffer implements sfu.Signaler: a WHIP publisher receives
// nothing.
func (wp *whipPublisher) SubscribeOffer(string) {}

// whipGrace is how long a WHIP session whose connection failed keeps its
// place in the room for its publisher to come back (see takeOver).
const whipGrace = 30 * time.Second

// MediaProblem implements sfu.Signaler: a WHIP session whose connection
// failed ends, unless its publisher comes back within the grace period.
func (wp *whipPublisher) MediaProblem(pc, code, message string) {
	if code == ErrMediaFailed {
		grace := wp.hub.cfg.WHIPGrace
		if grace == 0 {
			grace = whipGrace
		}
		wp.mu.Lock()
		defer wp.mu.Unlock()
		if grace < 0 || !wp.hasAuth {
			// Nobody can prove to be its publisher: it ends now.
			wp.hub.endLater(wp)
			return
		}
		wp.log.Info("WHIP connection failed: waiting for the publisher", "room", wp.room.cfg().Name, "participant", wp.id, "grace", grace)
		if wp.grace != nil {
			wp.grace.Stop()
		}
		wp.grace = time.AfterFunc(grace, func() {
			wp.log.Info("WHIP session ended: the publisher did not come back", "room", wp.room.cfg().Name, "participant", wp.id)
			wp.hub.endLater(wp)
		})
		return
	}
	wp.log.Info("WHIP media problem", "room", wp.room.cfg().Name, "participant", wp.id, "code", code, "message", message)
}

// TrackPublished implements sfu.Signaler: in a clip room the session's
// clip may start; in a live room that archives, the track joins the
// talk-spurt archive.
func (wp *whipPublisher) TrackPublished(up *sfu.UpTrack) {
	wp.trackPublished(up)
	wp.archiveTrack(up)
}

// whipStatus is the HTTP status of a refused WHIP offer.
func whipStatus(code string) int {
	switch code {
	case ErrRoomFull:
		return http.StatusServiceUnavailable
	case ErrNameTaken:
		return http.StatusConflict
	case ErrTooManyAttempts:
		return http.StatusTooManyRequests
	case ErrBadToken, ErrTokenRequired, ErrPasswordRequired, ErrBadPassword:
		return http.StatusUnauthorized
	case ErrRoomClosed:
		return http.StatusForbidden
	case ErrServerShutdown:
		return http.StatusServiceUnavailable
	case ErrInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// HandleWHIP serves POST /whip/{room}. The publisher is admitted exactly
// as a websocket join is (Hub.admit): its name comes from ?name= or from
// the join token given as the bearer token; in an open room, a bearer
// token that is not a join token is the publisher's owner key.
func (h *Hub) HandleWHIP(w http.ResponseWriter, r *http.Request) {
	room := h.room(r.PathValue("room"))
	if room == nil {
		http.Error(w, "no such room", http.StatusNotFound)
		return
	}
	ip := h.cfg.Auth.Proxies.ClientIP(r)
	body, ok := h.readOffer(w, r, ip, h.cfg.Auth.WHIPStarts, "WHIP")
	if !ok {
		return
	}
	authz := r.Header.Get("Authorization")
	bearer, _ := strings.CutPrefix(authz, "Bearer ")
	creds := credentials{name: r.URL.Query().Get("name"), ip: ip}
	var ownerKey string
	switch {
	case strings.Count(bearer, ".") == 2:
		creds.token = bearer // a join token names the publisher
	case bearer != "":
		if checkOwnerKey(bearer) != nil {
			http.Error(w, "the bearer token is neither a join token nor an owner key", http.StatusUnauthorized)
			return
		}
		ownerKey = bearer
	}
	if creds.token == "" && creds.name == "" {
		creds.name = "whip"
	}
	adm := h.admit(room, creds)
	if adm.code != "" {
		if adm.code == ErrTokenRequired || adm.code == ErrPasswordRequired {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
		}
		http.Error(w, adm.msg, whipStatus(adm.code))
		return
	}
	if creds.token != "" {
		ownerKey = h.whipOwnerKey(room.cfg().Name, adm.name)
	} else if ownerKey == "" {
		ownerKey = newKey()
	}

	if authz != "" {
		if wp, peer := h.whipOf(room, adm.name, sha256.Sum256([]byte(authz))); wp != nil && wp.takeOver(w, peer, string(body)) {
			return
		}
	}

	release, ok := h.takeConnection(w, ip, "WHIP")
	if !ok {
		return
	}

	wp := &whipPublisher{resource: newResourceID(), expect: countSending(string(body)), release: release, etag: newETag()}
	wp.membership = newMembership(h, wp, h.log.With("remote", r.RemoteAddr), ip)
	wp.role, wp.proven = adm.role, adm.proven
	if authz != "" {
		wp.auth, wp.hasAuth = sha256.Sum256([]byte(authz)), true
	}
	// Registered before it joins, so that a Shutdown from now on ends it.
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		release()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	h.whips[wp.resource] = wp
	h.mu.Unlock()
	if code, msg := wp.joinAs(room, adm.name, ownerKey, nil); code != "" {
		wp.end()
		http.Error(w, msg, whipStatus(code))
		return
	}
	h.log.Info("WHIP session started", "room", room.cfg().Name, "participant", wp.id, "name", wp.name)
	answer, err := wp.peer.HandleOffer(string(body))
	if err != nil {
		wp.end()
		http.Error(w, "bad offer: "+err.Error(), http.StatusBadRequest)
		return
	}
	wp.armDeadline()
	select {
	case <-wp.left:
		// Ended as it started: kicked, its name claimed, the room closed
		// or the server shut down. It has no resource to answer with.
		http.Error(w, "the WHIP session was ended as it started", http.StatusConflict)
		return
	default:
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whip/"+room.cfg().Name+"/"+wp.resource)
	w.Header().Set("ETag", wp.etag)
	h.iceLinks(w, wp.id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// HandleWHIPResource serves DELETE (end) and PATCH (trickled candidates,
// ICE restart: see patchICE) on /whip/{room}/{id}. The id is the session's own secret resource id, not
// its participant id; a session whose offer carried an Authorization
// header is ended only with the same header.
func (h *Hub) HandleWHIPResource(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	wp := h.whips[r.PathValue("id")]
	h.mu.Unlock()
	if wp == nil || wp.room.cfg().Name != r.PathValue("room") {
		http.Error(w, "no such WHIP session", http.StatusNotFound)
		return
	}
	if !sameCredential(w, r, wp.hasAuth, wp.auth, "WHIP") {
		return
	}
	switch r.Method {
	case http.MethodDelete:
		wp.end()
		w.WriteHeader(http.StatusOK)
	case http.MethodPatch:
		wp.mu.Lock()
		etag := wp.etag
		wp.mu.Unlock()
		if tag := patchICE(w, r, whipICE{wp.peer}, etag); tag != "" {
			wp.mu.Lock()
			wp.etag = tag
			wp.mu.Unlock()
		}
	default:
		w.Header().Set("Allow", "PATCH, DELETE")
		http.Error(w, "PATCH trickles candidates or restarts ICE; DELETE ends the session", http.StatusMethodNotAllowed)
	}
}

// sameCredential tells whether a request to a WHIP or WHEP session (what)
// carries the Authorization header the session was started with (whose
// hash is auth), if it was started with one; if not, it answers 401.
func sameCredential(w http.ResponseWriter, r *http.Request, hasAuth bool, auth [32]byte, what string) bool {
	if !hasAuth {
		return true
	}
	got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
	if subtle.ConstantTimeCompare(got[:], auth[:]) == 1 {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
	http.Error(w, "give the credential that started this "+what+" session", http.StatusUnauthorized)
	return false
}

// whipICE is the publish connection of a WHIP session, as a PATCH
// changes it.
type whipICE struct{ p *sfu.Participant }

func (s whipICE) RemoteDescription() string { return s.p.PublishOffer() }
func (s whipICE) AddCandidate(c webrtc.ICECandidateInit) error {
	return s.p.AddCandidate(sfu.PCPublish, c)
}
func (s whipICE) Restart(offer string) (string, error) { return s.p.HandleOffer(offer) }

// newResourceID returns an unguessable WHIP resource id: 128 random bits.
func newResourceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// countSending counts the m-sections of an offer that send media.
func countSending(sdp string) int {
	n := 0
	inMedia := false
	sending := true
	for _, line := range strings.Split(sdp, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "m="):
			if inMedia && sending {
				n++
			}
			inMedia = strings.HasPrefix(line, "m=audio") || strings.HasPrefix(line, "m=video")
			sending = true
		case line == "a=recvonly" || line == "a=inactive":
			sending = false
		}
	}
	if inMedia && sending {
		n++
	}
	return n
}

// trackPublished starts the clip of a WHIP session in a clip room once
// every announced track is there, or after whipWait; up's packets are
// kept meanwhile.
func (wp *whipPublisher) trackPublished(up *sfu.UpTrack) {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	wp.connected = true
	if wp.deadline != nil {
		wp.deadline.Stop()
	}
	if wp.started || wp.room.cfg().Mode.Live() {
		return
	}
	wp.holds = append(wp.holds, capture.NewHold(up))
	if len(capture.Pick(wp.holds)) > 0 && len(wp.holds) >= wp.expect {
		wp.startLocked()
		return
	}
	if wp.timer == nil {
		wp.timer = time.AfterFunc(whipWait, func() {
			wp.mu.Lock()
			defer wp.mu.Unlock()
			if !wp.started {
				wp.startLocked()
			}
		})
	}
}

// startLocked is called locked (wp.mu). The holds the clip does not
// take are released.
func (wp *whipPublisher) startLocked() {
	tracks := capture.Pick(wp.holds)
	if tracks == nil {
		return
	}
	wp.started = true
	taken := map[capture.Track]bool{}
	for _, t := range tracks {
		taken[t] = true
	}
	for _, h := range wp.holds {
		if !taken[h] {
			h.Release()
		}
	}
	wp.recMu.Lock()
	defer wp.recMu.Unlock()
	if wp.rec != nil {
		return
	}
	if _, err := wp.startRecordingLocked(tracks, "", ""); err != nil {
		wp.log.Error("WHIP recording", "err", err)
	}
}

// armDeadline ends the session if no track arrives on its connection in
// time (whipConnectWait, or Config.WHIPConnectTimeout).
func (wp *whipPublisher) armDeadline() {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	if wp.connected || wp.started {
		return
	}
	wait := wp.hub.cfg.WHIPConnectTimeout
	if wait <= 0 {
		wait = whipConnectWait
	}
	if wp.deadline != nil {
		wp.deadline.Stop()
	}
	wp.deadline = time.AfterFunc(wait, func() {
		wp.mu.Lock()
		connected := wp.connected
		wp.mu.Unlock()
		if !connected {
			wp.log.Info("WHIP session ended: no media", "room", wp.room.cfg().Name, "participant", wp.id, "after", wait)
			wp.end()
		}
	})
}

// readOffer checks and reads the SDP offer of a WHIP or WHEP POST (what
// names which, in logs and errors) from ip, which starts may refuse to
// start another session; false when it answered the request itself.
func (h *Hub) readOffer(w http.ResponseWriter, r *http.Request, ip netip.Addr, starts *access.Limiter, what string) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
		http.Error(w, "the offer must be application/sdp", http.StatusUnsupportedMediaType)
		return nil, false
	}
	if !starts.Take(ip) {
		h.log.Info(what+" refused: too many from one address", "ip", ip)
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many "+what+" sessions started from your address; wait a little", http.StatusTooManyRequests)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferBytes))
	if err != nil {
		http.Error(w, "the offer is too large", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	return body, true
}

// takeConnection takes one of ip's places under
// http.max_connections_per_ip for a WHIP or WHEP session (what); release
// gives it back (once, however often called). False when the request was
// refused, and answered.
func (h *Hub) takeConnection(w http.ResponseWriter, ip netip.Addr, what string) (release func(), ok bool) {
	max := h.limit().MaxConnectionsPerIP
	h.mu.Lock()
	closing := h.closing
	ok = !closing && h.perIP.take(ip, max)
	h.mu.Unlock()
	switch {
	case closing:
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return nil, false
	case !ok:
		h.log.Info(what+" refused: too many connections from one address", "ip", ip, "max", max)
		http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
		return nil, false
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			h.perIP.give(ip)
			h.mu.Unlock()
		})
	}, true
}

// whipOf finds the WHIP session of room published as name with the
// Authorization header whose hash is auth.
// Only a session that has joined (its media participant made) is found:
// its room, name and participant are set, under the room's lock, as it
// joins.
func (h *Hub) whipOf(room *Room, name string, auth [32]byte) (*whipPublisher, *sfu.Participant) {
	h.mu.Lock()
	var same []*whipPublisher
	for _, wp := range h.whips {
		if wp.hasAuth && subtle.ConstantTimeCompare(wp.auth[:], auth[:]) == 1 {
			same = append(same, wp)
		}
	}
	h.mu.Unlock()
	room.mu.Lock()
	defer room.mu.Unlock()
	for _, wp := range same {
		if wp.room == room && wp.peer != nil && sameName(wp.name, name) {
			return wp, wp.peer
		}
	}
	return nil, nil
}

// takeOver gives the session a new publish connection from offer: its
// publisher came back (after its connection failed, or before the server
// noticed), proven by the same name and Authorization header. The
// session keeps its place in the room (its participant id, and the
// viewers who follow it); in a clip room, the clip of the old connection
// is stored and the new one records a clip of its own. The answer has a
// new Location. It reports false if the session ended meanwhile: the
// caller then starts a new one.
func (wp *whipPublisher) takeOver(w http.ResponseWriter, peer *sfu.Participant, offer string) bool {
	select {
	case <-wp.left:
		return false
	default:
	}
	wp.mu.Lock()
	if wp.grace != nil {
		wp.grace.Stop()
		wp.grace = nil
	}
	if wp.timer != nil {
		wp.timer.Stop()
		wp.timer = nil
	}
	wp.mu.Unlock()
	peer.ClosePublish()
	wp.finishRecording(StopLeft, nil)
	wp.mu.Lock()
	for _, hd := range wp.holds {
		hd.Release()
	}
	wp.holds, wp.started, wp.connected = nil, false, false
	wp.expect = countSending(offer)
	wp.etag = newETag()
	etag := wp.etag
	wp.mu.Unlock()
	h := wp.hub
	h.mu.Lock()
	delete(h.whips, wp.resource)
	wp.resource = newResourceID()
	h.whips[wp.resource] = wp
	resource := wp.resource
	h.mu.Unlock()
	answer, err := peer.HandleOffer(offer)
	if err != nil {
		wp.end()
		http.Error(w, "bad offer: "+err.Error(), http.StatusBadRequest)
		return true
	}
	wp.armDeadline()
	wp.log.Info("WHIP publisher came back", "room", wp.room.cfg().Name, "participant", wp.id)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whip/"+wp.room.cfg().Name+"/"+resource)
	w.Header().Set("ETag", etag)
	h.iceLinks(w, wp.id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
	return true
}

// endLater ends a WHIP session on a goroutine of its own, for callers
// that hold a lock end takes or run on a goroutine of its media (a
// failed connection). The hub owns that goroutine: Shutdown waits for it.
func (h *Hub) endLater(wp *whipPublisher) {
	h.ending.Go(wp.end)
}

// end ends a WHIP session: its clip is stored, its media closed.
func (wp *whipPublisher) end() {
	wp.endOnce.Do(func() {
		h := wp.hub
		h.mu.Lock()
		delete(h.whips, wp.resource)
		h.mu.Unlock()
		wp.mu.Lock()
		wp.started = true
		if wp.timer != nil {
			wp.timer.Stop()
		}
		if wp.deadline != nil {
			wp.deadline.Stop()
		}
		if wp.grace != nil {
			wp.grace.Stop()
		}
		holds := wp.holds
		wp.holds = nil
		wp.mu.Unlock()
		wp.finishRecording(StopLeft, nil)
		for _, h := range holds {
			h.Release()
		}
		wp.leave()
		wp.release()
	})
}
