package signaling

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"parley/configs"
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

type whipPublisher struct {
	s       *Session
	expect  int // tracks the offer sends
	mu      sync.Mutex
	started bool
	timer   *time.Timer
}

// HandleWHIP serves POST /whip/{room}.
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferBytes))
	if err != nil {
		http.Error(w, "the offer is too large", http.StatusRequestEntityTooLarge)
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "whip"
	}
	if err := checkName(name, h.cfg.Signaling.MaxNameLength); err != nil {
		http.Error(w, "name: "+err.Error(), http.StatusBadRequest)
		return
	}
	ip := h.cfg.Auth.Proxies.ClientIP(r)
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	ownerKey, role := bearer, RoleParticipant
	if strings.Count(bearer, ".") == 2 {
		// A join token: it names the publisher; its clips belong to the
		// token's room and name.
		c, status, msg := h.whipToken(room, bearer, ip)
		if status != 0 {
			http.Error(w, msg, status)
			return
		}
		name, role = c.Name, c.Role
		ownerKey = tokenOwnerKey(c)
	} else if room.cfg.Access != configs.AccessOpen {
		http.Error(w, "this room needs a join token as the bearer token", http.StatusUnauthorized)
		return
	}
	if ownerKey != "" && checkOwnerKey(ownerKey) != nil {
		http.Error(w, "the bearer token is not an owner key", http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	closing := h.closing
	h.mu.Unlock()
	if closing {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}

	s := newSession(h, nil, r.RemoteAddr, ip)
	s.headless = true
	s.role = role
	wp := &whipPublisher{s: s, expect: countSending(string(body))}
	s.whip = wp
	if ownerKey == "" {
		ownerKey = newKey()
	}
	if code, msg := s.joinRoom(room, name, ownerKey, nil); code != "" {
		status := http.StatusBadRequest
		switch code {
		case ErrRoomFull:
			status = http.StatusServiceUnavailable
		case ErrNameTaken:
			status = http.StatusConflict
		}
		http.Error(w, msg, status)
		return
	}
	answer, err := s.peer.HandleOffer(string(body))
	if err != nil {
		s.endWHIP()
		http.Error(w, "bad offer: "+err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.whips[s.id] = s
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whip/"+room.cfg.Name+"/"+s.id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// HandleWHIPResource serves DELETE (end) and PATCH (trickle, not
// supported: the server's answer holds all its candidates) on
// /whip/{room}/{id}.
func (h *Hub) HandleWHIPResource(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	s := h.whips[r.PathValue("id")]
	h.mu.Unlock()
	if s == nil || s.room.cfg.Name != r.PathValue("room") {
		http.Error(w, "no such WHIP session", http.StatusNotFound)
		return
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
	if s.room.cfg.Mode.Live() {
		return
	}
	wp.mu.Lock()
	defer wp.mu.Unlock()
	if wp.started {
		return
	}
	if len(recordTracks(s.peer)) > 0 && len(s.peer.UpTracks()) >= wp.expect {
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
	ups := recordTracks(s.peer)
	if ups == nil {
		return
	}
	wp.started = true
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if s.rec != nil {
		return
	}
	rec, err := s.startRecording(ups, "", func(reason string) { s.stopRecording(reason) })
	if err != nil {
		s.log.Error("WHIP recording", "err", err)
		return
	}
	s.rec = rec
}

// endWHIP ends a WHIP session: its clip is stored, its media closed.
func (s *Session) endWHIP() {
	s.endOnce.Do(func() {
		h := s.hub
		h.mu.Lock()
		delete(h.whips, s.id)
		h.mu.Unlock()
		if wp := s.whip; wp != nil {
			wp.mu.Lock()
			wp.started = true
			if wp.timer != nil {
				wp.timer.Stop()
			}
			wp.mu.Unlock()
		}
		s.stopRecording(StopLeft)
		s.leave()
	})
}
