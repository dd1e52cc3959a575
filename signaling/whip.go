package signaling

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"parley/capture"
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

type whipPublisher struct {
	s        *Session
	resource string   // the secret last part of the session's Location
	auth     [32]byte // SHA-256 of the offer's Authorization header
	hasAuth  bool     // the offer had one: ending the session needs it too
	expect   int      // tracks the offer sends
	release  func()   // gives back the session's place in the per-address count

	mu        sync.Mutex
	started   bool // the clip started (clip rooms), or the session ended
	connected bool // a track arrived
	timer     *time.Timer
	deadline  *time.Timer
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
	room := h.rooms[r.PathValue("room")]
	if room == nil {
		http.Error(w, "no such room", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
		http.Error(w, "the offer must be application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	ip := h.cfg.Auth.Proxies.ClientIP(r)
	if !h.cfg.Auth.WHIPStarts.Take(ip) {
		h.log.Info("WHIP refused: too many from one address", "ip", ip)
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many WHIP sessions started from your address; wait a little", http.StatusTooManyRequests)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferBytes))
	if err != nil {
		http.Error(w, "the offer is too large", http.StatusRequestEntityTooLarge)
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
		ownerKey = h.whipOwnerKey(room.cfg.Name, adm.name)
	} else if ownerKey == "" {
		ownerKey = newKey()
	}

	max := h.cfg.Auth.MaxConnectionsPerIP
	h.mu.Lock()
	closing := h.closing
	ok := !closing && h.perIP.take(ip, max)
	h.mu.Unlock()
	switch {
	case closing:
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	case !ok:
		h.log.Info("WHIP refused: too many connections from one address", "ip", ip, "max", max)
		http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
		return
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			h.mu.Lock()
			h.perIP.give(ip, max)
			h.mu.Unlock()
		})
	}

	s := newSession(h, nil, r.RemoteAddr, ip)
	s.headless = true
	s.role, s.proven = adm.role, adm.proven
	wp := &whipPublisher{s: s, resource: newResourceID(), expect: countSending(string(body)), release: release}
	if authz != "" {
		wp.auth, wp.hasAuth = sha256.Sum256([]byte(authz)), true
	}
	s.whip = wp
	if code, msg := s.joinAs(room, adm.name, ownerKey, nil); code != "" {
		release()
		http.Error(w, msg, whipStatus(code))
		return
	}
	answer, err := s.peer.HandleOffer(string(body))
	if err != nil {
		s.endWHIP()
		http.Error(w, "bad offer: "+err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.whips[wp.resource] = s
	h.mu.Unlock()
	wp.mu.Lock()
	if !wp.connected && !wp.started {
		wait := h.cfg.WHIPConnectTimeout
		if wait <= 0 {
			wait = whipConnectWait
		}
		wp.deadline = time.AfterFunc(wait, func() {
			wp.mu.Lock()
			connected := wp.connected
			wp.mu.Unlock()
			if !connected {
				s.log.Info("WHIP session ended: no media", "room", room.cfg.Name, "participant", s.id, "after", wait)
				s.endWHIP()
			}
		})
	}
	wp.mu.Unlock()
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whip/"+room.cfg.Name+"/"+wp.resource)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// HandleWHIPResource serves DELETE (end) and PATCH (trickle, not
// supported: the server's answer holds all its candidates) on
// /whip/{room}/{id}. The id is the session's own secret resource id, not
// its participant id; a session whose offer carried an Authorization
// header is ended only with the same header.
func (h *Hub) HandleWHIPResource(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	s := h.whips[r.PathValue("id")]
	h.mu.Unlock()
	if s == nil || s.room.cfg.Name != r.PathValue("room") {
		http.Error(w, "no such WHIP session", http.StatusNotFound)
		return
	}
	if wp := s.whip; wp.hasAuth {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], wp.auth[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
			http.Error(w, "give the credential that started this WHIP session", http.StatusUnauthorized)
			return
		}
	}
	switch r.Method {
	case http.MethodDelete:
		s.endWHIP()
		w.WriteHeader(http.StatusOK)
	default:
		w.Header().Set("Allow", "DELETE")
		http.Error(w, "only DELETE ends a WHIP session; trickle ICE is not supported", http.StatusMethodNotAllowed)
	}
}

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
// every announced track is there, or after whipWait.
func (wp *whipPublisher) trackPublished() {
	s := wp.s
	wp.mu.Lock()
	defer wp.mu.Unlock()
	wp.connected = true
	if wp.deadline != nil {
		wp.deadline.Stop()
	}
	if wp.started || s.room.cfg.Mode.Live() {
		return
	}
	if ups := s.peer.UpTracks(); len(capture.Pick(ups)) > 0 && len(ups) >= wp.expect {
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

// startLocked is called locked (wp.mu).
func (wp *whipPublisher) startLocked() {
	s := wp.s
	tracks := capture.Pick(s.peer.UpTracks())
	if tracks == nil {
		return
	}
	wp.started = true
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if s.rec != nil {
		return
	}
	if _, err := s.startRecordingLocked(tracks, ""); err != nil {
		s.log.Error("WHIP recording", "err", err)
	}
}

// endLater ends a WHIP session on a goroutine of its own, for callers
// that hold a lock endWHIP takes or run on a goroutine of its media (a
// failed connection). The hub owns that goroutine: Shutdown waits for it.
func (h *Hub) endLater(s *Session) {
	h.ending.Go(s.endWHIP)
}

// endWHIP ends a WHIP session: its clip is stored, its media closed.
func (s *Session) endWHIP() {
	s.endOnce.Do(func() {
		h := s.hub
		wp := s.whip
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
		wp.mu.Unlock()
		s.stopRecording(StopLeft)
		s.leave()
		wp.release()
	})
}
