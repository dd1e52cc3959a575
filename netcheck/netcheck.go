// Package netcheck serves the far end of the connectivity check that the
// /check page runs for users: whether their browser reaches the media
// port over UDP, the ICE-TCP fallback and the built-in TURN relay.
//
// POST /api/check starts a check session: its id, and ICE servers with
// TURN credentials minted for that id (the relay accepts them while the
// session lives, as it does a participant's while they are in a room).
// POST /api/check/{id}/{transport} (udp, tcp or relay) takes an SDP offer
// and answers it with an echo connection on the shared media sockets
// (sfu.Engine.Echo), whose candidates are those of the transport alone.
// The page sends on a data channel and waits for its echo.
//
// A session is no room membership: it sees nobody and nobody sees it,
// and it ends, with its connections, Lifetime after it started. What
// one client address can take is bounded: StartsPerMinute sessions (as a
// rate with as large a burst), MaxOffers connections per session, and
// MaxSessions sessions at once on the whole server. Close ends every
// session and waits for nothing else: it owns no goroutine, only timers
// that it stops.
package netcheck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"parley/access"
	"parley/sfu"
	"parley/turn"
)

// ICEServer is an entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// fromTURN is the built-in TURN server's list as the page takes it.
func fromTURN(list []turn.ICEServer) []ICEServer {
	out := make([]ICEServer, 0, len(list))
	for _, s := range list {
		out = append(out, ICEServer(s))
	}
	return out
}

// Config is what a Checker needs.
type Config struct {
	Engine *sfu.Engine
	// ICEServers returns the ICE servers for a session id (the built-in
	// TURN server's with credentials for it: turn.Server.ICEServers);
	// nil means none.
	ICEServers func(id string) []turn.ICEServer
	// TCP tells the page whether the server offers the ICE-TCP fallback.
	TCP     bool
	Proxies access.Proxies
	// Limits; zero values take the defaults below.
	StartsPerMinute int
	MaxSessions     int
	MaxOffers       int
	Lifetime        time.Duration
}

// The defaults of Config's limits: a page makes one session and three
// connections; a user who runs it again and again is still served.
const (
	DefaultStartsPerMinute = 6
	DefaultMaxSessions     = 20
	DefaultMaxOffers       = 6
	DefaultLifetime        = time.Minute
)

// Checker holds the check sessions.
type Checker struct {
	cfg    Config
	log    *slog.Logger
	starts *access.Limiter

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session
	ending   sync.WaitGroup // sessions' ends run by their timers
}

type session struct {
	offers int
	pcs    []*webrtc.PeerConnection
	end    *time.Timer
}

// New returns a Checker.
func New(cfg Config, log *slog.Logger) *Checker {
	if cfg.StartsPerMinute <= 0 {
		cfg.StartsPerMinute = DefaultStartsPerMinute
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxOffers <= 0 {
		cfg.MaxOffers = DefaultMaxOffers
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultLifetime
	}
	return &Checker{cfg: cfg, log: log.With("component", "check"), sessions: make(map[string]*session),
		starts: access.NewLimiter(float64(cfg.StartsPerMinute), cfg.StartsPerMinute)}
}

// Started is the answer to POST /api/check.
type Started struct {
	ID         string      `json:"id"`
	ICEServers []ICEServer `json:"ice_servers"`
	TCP        bool        `json:"tcp"`     // the server offers ICE-TCP
	Seconds    int         `json:"seconds"` // how long the session lives
}

// jsonError answers {"error": msg, "code": code}: the code is stable, for
// the check page to say in its user's language; the message may change.
func jsonError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg, "code": code})
}

// HandleStart serves POST /api/check.
func (c *Checker) HandleStart(w http.ResponseWriter, r *http.Request) {
	ip := c.cfg.Proxies.ClientIP(r)
	if !c.starts.Take(ip) {
		w.Header().Set("Retry-After", "60")
		jsonError(w, http.StatusTooManyRequests, "too-many-checks", "too many checks from your address; try again in a minute")
		return
	}
	id := newID()
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		jsonError(w, http.StatusServiceUnavailable, "stopping", "the server is stopping")
		return
	case len(c.sessions) >= c.cfg.MaxSessions:
		c.mu.Unlock()
		w.Header().Set("Retry-After", "60")
		jsonError(w, http.StatusServiceUnavailable, "busy", "too many checks under way; try again in a minute")
		return
	}
	s := &session{}
	c.sessions[id] = s
	s.end = time.AfterFunc(c.cfg.Lifetime, func() {
		c.mu.Lock()
		if c.closed { // Close ends it
			c.mu.Unlock()
			return
		}
		c.ending.Add(1)
		c.mu.Unlock()
		defer c.ending.Done()
		c.end(id)
	})
	c.mu.Unlock()
	c.log.Debug("check started", "id", id, "client", ip)
	out := Started{ID: id, ICEServers: []ICEServer{}, TCP: c.cfg.TCP, Seconds: int(c.cfg.Lifetime / time.Second)}
	if c.cfg.ICEServers != nil {
		out.ICEServers = fromTURN(c.cfg.ICEServers(id))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

// HandleOffer serves POST /api/check/{id}/{transport}: the body is an SDP
// offer, the answer an SDP answer.
func (c *Checker) HandleOffer(w http.ResponseWriter, r *http.Request) {
	id, transport := r.PathValue("id"), r.PathValue("transport")
	var only string
	switch transport {
	case "udp", "relay": // the relay reaches the media port over UDP
		only = "udp"
	case "tcp":
		only = "tcp"
	default:
		jsonError(w, http.StatusNotFound, "bad-transport", "the transport is udp, tcp or relay")
		return
	}
	c.mu.Lock()
	s := c.sessions[id]
	switch {
	case s == nil:
		c.mu.Unlock()
		jsonError(w, http.StatusNotFound, "check-ended", "no such check, or it has ended: start again")
		return
	case s.offers >= c.cfg.MaxOffers:
		c.mu.Unlock()
		jsonError(w, http.StatusTooManyRequests, "check-used", "this check has made all its connections: start again")
		return
	}
	s.offers++
	c.mu.Unlock()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
		jsonError(w, http.StatusUnsupportedMediaType, "bad-offer", "the offer is application/sdp")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || !strings.HasPrefix(string(body), "v=0") {
		jsonError(w, http.StatusBadRequest, "bad-offer", "the body is not an SDP offer")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	pc, answer, err := c.cfg.Engine.Echo(ctx, string(body), only)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "bad-offer", fmt.Sprintf("the offer was refused: %v", err))
		return
	}
	c.mu.Lock()
	if c.sessions[id] != s { // ended meanwhile
		c.mu.Unlock()
		_ = pc.Close()
		jsonError(w, http.StatusNotFound, "check-ended", "the check has ended: start again")
		return
	}
	s.pcs = append(s.pcs, pc)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// end ends a session and closes its connections.
func (c *Checker) end(id string) {
	c.mu.Lock()
	s := c.sessions[id]
	delete(c.sessions, id)
	c.mu.Unlock()
	if s == nil {
		return
	}
	s.end.Stop()
	for _, pc := range s.pcs {
		_ = pc.Close()
	}
}

// Present reports whether id is a check session under way: the TURN
// server accepts the credentials minted for it.
func (c *Checker) Present(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.sessions[id]
	return ok
}

// Sessions is how many check sessions are under way.
func (c *Checker) Sessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

// Close ends every session, and waits for those ending by themselves;
// later ones are refused.
func (c *Checker) Close() {
	c.mu.Lock()
	c.closed = true
	ids := make([]string, 0, len(c.sessions))
	for id := range c.sessions {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.end(id)
	}
	c.ending.Wait()
}

// newID is a session's id, which is also the TURN credentials' participant.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "check-" + hex.EncodeToString(b[:])
}
