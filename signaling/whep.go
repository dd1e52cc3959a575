package signaling

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/pion/webrtc/v4"

	"parley/sfu"
)

// WHEP (WebRTC-HTTP Egress Protocol, the shape of RFC 9725 for playback):
// POST /whep/{room} with a receive-only offer makes a viewer of the
// room's live stream (sfu.Viewer), which is not a member: it has no name,
// is told nothing, and the room sees only how many watch (viewersMessage).

// whepViewer is one WHEP session.
type whepViewer struct {
	hub      *Hub
	room     *Room
	viewer   *sfu.Viewer
	resource string   // the secret last part of the session's Location
	auth     [32]byte // SHA-256 of the offer's Authorization header
	hasAuth  bool
	release  func() // gives back the session's place in the per-address count

	mu      sync.Mutex
	etag    string // of the ICE session (RFC 9725 4.3.1)
	endOnce sync.Once
}

// HandleWHEP serves POST /whep/{room}. In a live room whose access is
// open anyone may watch; in a password room the bearer token is the
// room's password; in a token room, a join token for the room. ?name=
// follows one publisher; without it, the room's speaker.
func (h *Hub) HandleWHEP(w http.ResponseWriter, r *http.Request) {
	room := h.room(r.PathValue("room"))
	if room == nil {
		http.Error(w, "no such room", http.StatusNotFound)
		return
	}
	if !room.cfg().Mode.Live() || room.cfg().MaxViewers == 0 {
		http.Error(w, "this room has no live stream to watch: WHEP serves the live rooms (audioStream, videoStream) that allow viewers", http.StatusForbidden)
		return
	}
	ip := h.cfg.Auth.Proxies.ClientIP(r)
	body, ok := h.readOffer(w, r, ip, h.cfg.Auth.WHEPStarts, "WHEP")
	if !ok {
		return
	}
	authz := r.Header.Get("Authorization")
	bearer, _ := strings.CutPrefix(authz, "Bearer ")
	creds := credentials{viewer: true, ip: ip}
	if strings.Count(bearer, ".") == 2 {
		creds.token = bearer
	} else {
		creds.password = bearer
	}
	if adm := h.admit(room, creds); adm.code != "" {
		if adm.code == ErrTokenRequired || adm.code == ErrPasswordRequired {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
		}
		http.Error(w, adm.msg, whipStatus(adm.code))
		return
	}
	name := r.URL.Query().Get("name")
	if name != "" {
		var err error
		if name, err = cleanName(name, h.limit().Signaling.MaxNameLength); err != nil {
			http.Error(w, "name: "+err.Error(), http.StatusBadRequest)
			return
		}
	}

	release, ok := h.takeConnection(w, ip, "WHEP")
	if !ok {
		return
	}
	wv := &whepViewer{hub: h, room: room, resource: newResourceID(), release: release, etag: newETag()}
	if authz != "" {
		wv.auth, wv.hasAuth = sha256.Sum256([]byte(authz)), true
	}

	// The viewer is counted against max_viewers and registered before its
	// connection is made, so that a Shutdown from now on ends it.
	room.mu.Lock()
	full := room.viewers >= room.cfg().MaxViewers
	gone := room.closed || room.removed || room.shut
	if !full && !gone {
		room.viewers++
	}
	room.mu.Unlock()
	switch {
	case gone:
		release()
		http.Error(w, "the room is closed", http.StatusForbidden)
		return
	case full:
		release()
		w.Header().Set("Retry-After", "30")
		http.Error(w, fmt.Sprintf("the room has its %d viewers already", room.cfg().MaxViewers), http.StatusServiceUnavailable)
		return
	}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		wv.uncount()
		release()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	h.wheps[wv.resource] = wv
	h.mu.Unlock()
	v, answer, err := room.media.View("v"+newID()[1:], string(body), sfu.ViewOptions{
		Publisher: name,
		OnFailed:  func() { h.ending.Go(wv.end) },
	})
	if err != nil {
		wv.end()
		status := http.StatusBadRequest
		if errors.Is(err, sfu.ErrRoomClosed) {
			status = http.StatusForbidden
		}
		http.Error(w, "cannot watch: "+err.Error(), status)
		return
	}
	wv.mu.Lock()
	wv.viewer = v
	wv.mu.Unlock()
	h.mu.Lock()
	_, live := h.wheps[wv.resource]
	h.mu.Unlock()
	if !live { // ended as it started (the server shuts down)
		v.Close()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	room.tellViewers()
	h.log.Info("WHEP viewer started", "room", room.cfg().Name, "viewer", v.ID, "follows", name)
	h.iceLinks(w, v.ID)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whep/"+room.cfg().Name+"/"+wv.resource)
	w.Header().Set("ETag", wv.etag)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// iceLinks adds a Link header per ICE server URL (RFC 9725 4.6).
func (h *Hub) iceLinks(w http.ResponseWriter, id string) {
	if h.cfg.ICEServers == nil {
		return
	}
	for _, s := range h.cfg.ICEServers(id) {
		for _, u := range s.URLs {
			link := "<" + u + `>; rel="ice-server"`
			if s.Username != "" {
				link += fmt.Sprintf(`; username=%q; credential=%q; credential-type="password"`, s.Username, s.Credential)
			}
			w.Header().Add("Link", link)
		}
	}
}

// HandleWHEPResource serves PATCH (trickled candidates, ICE restart) and
// DELETE (end) on /whep/{room}/{id}. A session whose offer carried an
// Authorization header answers only to the same header.
func (h *Hub) HandleWHEPResource(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	wv := h.wheps[r.PathValue("id")]
	h.mu.Unlock()
	if wv == nil || wv.room.cfg().Name != r.PathValue("room") {
		http.Error(w, "no such WHEP session", http.StatusNotFound)
		return
	}
	if !sameCredential(w, r, wv.hasAuth, wv.auth, "WHEP") {
		return
	}
	switch r.Method {
	case http.MethodDelete:
		wv.end()
		w.WriteHeader(http.StatusOK)
	case http.MethodPatch:
		wv.mu.Lock()
		v := wv.viewer
		wv.mu.Unlock()
		if v == nil {
			http.Error(w, "the session is starting", http.StatusConflict)
			return
		}
		etag := patchICE(w, r, v, wv.currentETag())
		if etag != "" {
			wv.mu.Lock()
			wv.etag = etag
			wv.mu.Unlock()
		}
	default:
		w.Header().Set("Allow", "PATCH, DELETE")
		http.Error(w, "PATCH trickles candidates or restarts ICE; DELETE ends the session", http.StatusMethodNotAllowed)
	}
}

func (wv *whepViewer) currentETag() string {
	wv.mu.Lock()
	defer wv.mu.Unlock()
	return wv.etag
}

// iceSession is the part of a WHIP or WHEP session that a PATCH changes.
type iceSession interface {
	RemoteDescription() string
	AddCandidate(webrtc.ICECandidateInit) error
	Restart(offer string) (string, error)
}

// patchICE serves a PATCH of a session whose ICE session has the entity
// tag etag (RFC 9725 4.3): new ICE credentials restart ICE and are
// answered (200) with the server's new ones, and a new entity tag that it
// returns; candidates alone are added (204). If-Match must name the
// current entity tag, or "*" for a restart.
func patchICE(w http.ResponseWriter, r *http.Request, s iceSession, etag string) (newTag string) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, sdpFragType) {
		http.Error(w, "a PATCH is "+sdpFragType, http.StatusUnsupportedMediaType)
		return ""
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFragBytes))
	if err != nil {
		http.Error(w, "the fragment is too large", http.StatusRequestEntityTooLarge)
		return ""
	}
	f, err := parseSDPFrag(string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return ""
	}
	ufrag, _ := iceCredentials(s.RemoteDescription())
	restart := f.ufrag != "" && f.ufrag != ufrag
	if m := r.Header.Get("If-Match"); m != "" && m != etag && !(restart && m == "*") {
		http.Error(w, "the ICE session has changed (If-Match does not match its ETag)", http.StatusPreconditionFailed)
		return ""
	}
	if !restart {
		for _, c := range f.candidates {
			mid := c.mid
			if err := s.AddCandidate(webrtc.ICECandidateInit{Candidate: c.value, SDPMid: &mid}); err != nil {
				http.Error(w, "candidate: "+err.Error(), http.StatusBadRequest)
				return ""
			}
		}
		w.WriteHeader(http.StatusNoContent)
		return ""
	}
	answer, err := s.Restart(restartOffer(s.RemoteDescription(), f))
	if err != nil {
		http.Error(w, "ICE restart: "+err.Error(), http.StatusBadRequest)
		return ""
	}
	newTag = newETag()
	w.Header().Set("Content-Type", sdpFragType)
	w.Header().Set("ETag", newTag)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, answerFrag(answer))
	return newTag
}

// newETag is a new entity tag for an ICE session.
func newETag() string { return `"` + newResourceID() + `"` }

// end ends a WHEP session: its viewer closes and its places are given
// back. Safe to call twice and from the viewer's own OnFailed.
func (wv *whepViewer) end() {
	wv.endOnce.Do(func() {
		h := wv.hub
		h.mu.Lock()
		delete(h.wheps, wv.resource)
		h.mu.Unlock()
		wv.mu.Lock()
		v := wv.viewer
		wv.mu.Unlock()
		if v != nil {
			v.Close()
		}
		wv.uncount()
		wv.release()
		wv.room.tellViewers()
		if v != nil {
			h.log.Info("WHEP viewer ended", "room", wv.room.cfg().Name, "viewer", v.ID)
		}
	})
}

// endViewers ends the WHEP sessions of room (an operator closed it).
func (h *Hub) endViewers(room *Room) {
	h.mu.Lock()
	var out []*whepViewer
	for _, wv := range h.wheps {
		if wv.room == room {
			out = append(out, wv)
		}
	}
	h.mu.Unlock()
	for _, wv := range out {
		wv.end()
	}
}

// uncount gives back the viewer's place under max_viewers.
func (wv *whepViewer) uncount() {
	wv.room.mu.Lock()
	wv.room.viewers--
	wv.room.mu.Unlock()
}

// viewersMessage tells a room's members how many watch it over WHEP.
type viewersMessage struct {
	Type  string `json:"type"`
	Count int    `json:"count"`
}

// tellViewers tells the members how many viewers there are now, if that
// changed since they were last told.
func (r *Room) tellViewers() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.viewers == r.toldViewers {
		return
	}
	r.toldViewers = r.viewers
	b, _ := json.Marshal(viewersMessage{Type: TypeViewers, Count: r.viewers})
	for _, m := range r.members {
		m.deliver(b)
	}
}
