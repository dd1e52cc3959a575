// Package signaling owns the websocket protocol between clients and the
// server and the membership of rooms: admission, presence, chat, calls,
// and the SDP and ICE exchange that drives the media plane (package sfu).
// A room's members are of several kinds (see member): a Session per
// websocket, and a publisher per WHIP session. It also serves the room
// list of the HTTP API. It does not touch media: recording is package
// capture's.
//
// The protocol is documented in docs/protocol.md.
package signaling

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"parley/chatlog"
	"parley/clips"
	"parley/configs"
	"parley/sfu"
)

// Config is what the signaling layer needs from the server configuration.
// Signaling, CallTimeout, CallRejoinGrace and Auth.MaxConnectionsPerIP are
// the limits the hub starts with; SetLimits changes them while it runs.
type Config struct {
	Signaling configs.Signaling
	// AllowedOrigins are accepted on the websocket upgrade besides the
	// server's own origin.
	AllowedOrigins []string
	// ICEServers returns the ICE servers handed to a participant when it
	// joins; nil means none.
	ICEServers func(participantID string) []ICEServer
	// CallTimeout ends an unanswered call (0: 30 s); CallRejoinGrace is
	// how long a call waits for a party whose connection dropped (0: it
	// ends at once).
	CallTimeout     time.Duration
	CallRejoinGrace time.Duration
	// WHIPConnectTimeout ends a WHIP session that has sent no media this
	// long after its offer (0: 10 s).
	WHIPConnectTimeout time.Duration
	// WHIPGrace is how long a WHIP session whose connection failed keeps
	// its place for its publisher to come back; 0 means whipGrace, < 0
	// none.
	WHIPGrace time.Duration
	// Store keeps the clips; nil turns recording off.
	Store *clips.Store
	// BeforeClipEvent, if set, is called with every clip event before
	// the room's sessions are told: a clip is announced once it returns
	// (in a cluster, once the clip is in the bucket).
	BeforeClipEvent func(clips.Event)
	// AlsoOnClipEvent, if set, is called with every clip event after the
	// room's sessions are told (mail notifications).
	AlsoOnClipEvent func(clips.Event)
	// OnRoomEvent, if set, is told of joins, leaves, rooms starting and
	// finishing, and calls ending (RoomEvent), in each room's order. It
	// is called under the room's lock: it must not block.
	OnRoomEvent func(RoomEvent)
	// Auth admits people to rooms (passwords, tokens, operators).
	Auth Auth
	// Chat keeps chat history and messages for people offline; nil keeps
	// nothing.
	Chat ChatLog
	// Placement says which node of a cluster each room lives on; nil
	// (one node alone): every room lives here.
	Placement Placement
}

// ChatLog is the chat memory of the rooms: their recent history and the
// messages waiting for people who are not online (chatlog.Store on local
// disk, cluster.ChatLog in a cluster's Redis). The hub calls it under a
// room's lock, to keep the room's order.
type ChatLog interface {
	// Append adds a room message to the room's history.
	Append(room string, e chatlog.Entry) error
	// History is the room's recent history, oldest first.
	History(room string) []chatlog.Entry
	// Seen records that owner joined under name: messages left for
	// that name wait for that owner only.
	Seen(room, name, owner string)
	// Leave keeps a message for e.ToName, setting its expiry and
	// recipient owner; chatlog.ErrMailboxFull past the limits.
	Leave(room string, e chatlog.Entry) (chatlog.Entry, error)
	// Collect returns and forgets the messages waiting for name (and
	// owner), oldest first.
	Collect(room, name, owner string) ([]chatlog.Entry, error)
}

var _ ChatLog = (*chatlog.Store)(nil)

// Placement is where rooms live in a cluster of nodes (package cluster).
type Placement interface {
	// Place returns "" when the room lives on this node (placing it here
	// if it had no home), else the base URL of the node it lives on.
	Place(ctx context.Context, room string) (string, error)
	// KnownOrigin reports whether origin is a node of the cluster, whose
	// pages open websockets to the nodes their rooms live on.
	KnownOrigin(origin string) bool
}

// placeTimeout bounds a Placement.Place.
const placeTimeout = 5 * time.Second

// WebSocketURL is the websocket endpoint of a node's base URL
// (https://host → wss://host/ws).
func WebSocketURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path = "/ws"
	return u.String()
}

// HasRoom reports whether a room of that name is configured.
func (h *Hub) HasRoom(name string) bool { return h.room(name) != nil }

// Hub holds the rooms and the sessions connected to them.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	engine   *sfu.Engine
	upgrader websocket.Upgrader
	// writeBufs are the sessions' websocket write buffers (see NewHub).
	writeBufs sync.Pool

	// roomsMu guards rooms and names, which SetRoom and RemoveRoom change
	// while the server runs. It is taken alone, or before a room's mu.
	roomsMu sync.RWMutex
	rooms   map[string]*Room
	names   []string                        // sorted room names
	origins atomic.Pointer[map[string]bool] // lower case; see SetAllowedOrigins
	limits  atomic.Pointer[Limits]          // see SetLimits

	mu       sync.Mutex
	closing  bool
	sessions map[*Session]struct{}
	perIP    connLimit
	whips    map[string]*whipPublisher // by resource id
	wheps    map[string]*whepViewer    // by resource id
	wg       sync.WaitGroup
	ending   sync.WaitGroup // WHIP sessions being ended (endLater)
	retiring sync.WaitGroup // removed rooms being closed (RemoveRoom)
	shutOnce sync.Once
	shutDone chan struct{} // closed when Shutdown is over

	clientErrors clientErrorStats // client-error reports (see clienterrors.go)
}

// Room is a configured room: its members and its media plane.
type Room struct {
	conf  atomic.Pointer[configs.Room] // see cfg
	media *sfu.Room

	mu      sync.Mutex
	closed  bool              // the server shut down, or the room was removed
	removed bool              // the room was removed (RemoveRoom)
	shut    bool              // an operator closed the room
	members map[string]member // by participant id
	calls   map[string]*call  // by the owner of each party
	// viewers are the WHEP sessions (whepViewer), counted against
	// max_viewers; toldViewers is the count the members were last told.
	viewers, toldViewers int

	partners     []partnerChange // not applied yet (see setPartnersLocked)
	partnersWake chan struct{}   // wakes applyPartners; closed with the room
	partnersDone chan struct{}   // closed when applyPartners has returned
}

// NewHub creates the rooms. The engine is shared by all of them.
func NewHub(cfg Config, rooms []configs.Room, engine *sfu.Engine, log *slog.Logger) *Hub {
	h := &Hub{
		cfg:      cfg,
		log:      log,
		engine:   engine,
		rooms:    make(map[string]*Room, len(rooms)),
		sessions: make(map[*Session]struct{}),
		whips:    make(map[string]*whipPublisher),
		wheps:    make(map[string]*whepViewer),
		shutDone: make(chan struct{}),
	}
	h.SetAllowedOrigins(cfg.AllowedOrigins)
	h.SetLimits(Limits{
		Signaling:           cfg.Signaling,
		CallTimeout:         cfg.CallTimeout,
		CallRejoinGrace:     cfg.CallRejoinGrace,
		MaxConnectionsPerIP: cfg.Auth.MaxConnectionsPerIP,
	})
	for _, rc := range rooms {
		h.rooms[rc.Name] = h.newRoom(rc)
		h.names = append(h.names, rc.Name)
	}
	sort.Strings(h.names)
	if cfg.Store != nil {
		cfg.Store.SetNotify(func(ev clips.Event) {
			if cfg.BeforeClipEvent != nil {
				cfg.BeforeClipEvent(ev)
			}
			h.onClipEvent(ev)
			if cfg.AlsoOnClipEvent != nil {
				cfg.AlsoOnClipEvent(ev)
			}
		})
	}
	// A session's websocket keeps a small read buffer (a large message
	// takes a few more reads) and takes a write buffer from writeBufs for
	// each message it sends: most sessions are idle most of the time, and
	// two 4 KiB buffers of their own were held for their lifetime. (The
	// HTTP server's 4 KiB reader, which the upgrade would hand over, goes
	// with the request: see ServeHTTP.)
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: &h.writeBufs,
		CheckOrigin:     h.checkOrigin,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	return h
}

// newRoom makes a room and starts its goroutine, which the room's close
// (closeRoom) stops.
func (h *Hub) newRoom(rc configs.Room) *Room {
	r := &Room{
		media: sfu.NewRoom(h.engine, sfu.RoomOptions{
			Name:       rc.Name,
			Live:       rc.Mode.Live(),
			AllowVideo: rc.AllowVideo,
		}, h.log),
		members:      make(map[string]member),
		calls:        make(map[string]*call),
		partnersWake: make(chan struct{}, 1),
		partnersDone: make(chan struct{}),
	}
	r.conf.Store(&rc)
	go r.applyPartners()
	return r
}

// cfg is the room's configuration now. SetRoom may replace it at any
// time: what reads it takes the settings in force at that moment (a
// recording, the limits when it starts; a join, the size of the room when
// it joins).
func (r *Room) cfg() configs.Room { return *r.conf.Load() }

// room returns the room of that name, or nil.
func (h *Hub) room(name string) *Room {
	h.roomsMu.RLock()
	defer h.roomsMu.RUnlock()
	return h.rooms[name]
}

// roomList returns the rooms, sorted by name.
func (h *Hub) roomList() []*Room {
	h.roomsMu.RLock()
	defer h.roomsMu.RUnlock()
	out := make([]*Room, 0, len(h.names))
	for _, n := range h.names {
		out = append(out, h.rooms[n])
	}
	return out
}

// Why a room's members are sent away when it is removed or remade.
const (
	RemovedMessage = "the room was removed from the server; its clips are kept"
	ChangedMessage = "the room's mode or video setting changed; join it again"
)

// SetRoom adds a room, or gives a room its new configuration. A new
// configuration applies from the next thing that reads it (cfg): the next
// join is held to the new max_participants, the next recording to the new
// clip limits, the next join to the new access rules; those who are in
// already stay. A change of mode or allow_video, which the room's media
// plane is made with, remakes the room: its members are sent away with
// ErrRoomChanged and may join the new one at once. It reports whether the
// room was remade.
func (h *Hub) SetRoom(rc configs.Room) (remade bool) {
	h.roomsMu.Lock()
	if h.closingNow() {
		h.roomsMu.Unlock()
		return false
	}
	old := h.rooms[rc.Name]
	if old != nil {
		was := old.cfg()
		if was.Mode == rc.Mode && was.AllowVideo == rc.AllowVideo {
			old.conf.Store(&rc)
			h.roomsMu.Unlock()
			h.log.Info("room settings changed", "room", rc.Name)
			return false
		}
	} else {
		h.names = append(h.names, rc.Name)
		sort.Strings(h.names)
	}
	h.rooms[rc.Name] = h.newRoom(rc)
	h.roomsMu.Unlock()
	if old != nil {
		h.retire(old, ErrRoomChanged, ChangedMessage)
		h.log.Info("room remade: its mode or video setting changed", "room", rc.Name, "mode", rc.Mode)
		return true
	}
	h.log.Info("room added", "room", rc.Name, "mode", rc.Mode)
	return false
}

// RemoveRoom removes a room: joins to it are refused as to a room that
// does not exist, its members are sent away with ErrRoomRemoved and
// RemovedMessage, its viewers ended, and its media closed once they have
// gone. Its clips and chat stay on disk (their stores are the caller's).
// It reports whether there was such a room.
func (h *Hub) RemoveRoom(name string) bool {
	h.roomsMu.Lock()
	r := h.rooms[name]
	if r == nil || h.closingNow() {
		h.roomsMu.Unlock()
		return false
	}
	delete(h.rooms, name)
	h.names = slices.DeleteFunc(h.names, func(n string) bool { return n == name })
	h.roomsMu.Unlock()
	h.retire(r, ErrRoomRemoved, RemovedMessage)
	h.log.Info("room removed", "room", name)
	return true
}

// closingNow reports whether the hub is shutting down.
func (h *Hub) closingNow() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closing
}

// retire sends a room's members and viewers away and closes the room
// once they have left, on a goroutine that Shutdown waits for. The room
// is no longer in h.rooms: nobody can join it meanwhile.
func (h *Hub) retire(r *Room, code, message string) {
	r.mu.Lock()
	r.removed = true
	out := make([]member, 0, len(r.members))
	for _, m := range r.members {
		out = append(out, m)
	}
	r.mu.Unlock()
	for _, m := range out {
		m.goAway(code, message, websocket.CloseNormalClosure)
	}
	h.endViewers(r)
	h.retiring.Go(func() {
		for _, m := range out {
			<-m.base().left
		}
		r.close()
	})
}

// close ends the room's calls and its partner goroutine, and closes its
// media. Its members have left.
func (r *Room) close() {
	r.mu.Lock()
	r.closed = true
	for _, c := range r.calls {
		c.ring.Stop()
		for _, p := range c.parties {
			if p.away != nil {
				p.away.Stop()
			}
		}
	}
	close(r.partnersWake)
	r.mu.Unlock()
	<-r.partnersDone
	r.media.Close()
}

// SetAllowedOrigins sets the origins accepted on the websocket upgrade
// besides the server's own (Config.AllowedOrigins), from the next upgrade
// on.
func (h *Hub) SetAllowedOrigins(origins []string) {
	m := make(map[string]bool, len(origins))
	for _, o := range origins {
		m[strings.ToLower(o)] = true
	}
	h.origins.Store(&m)
}

// Limits are the limits that a reload of the server file changes while
// the hub runs (SetLimits). Each is read where it is used, so that it
// applies from the next thing it limits:
//   - Signaling.MaxMessageBytes, MessagesPerSecond, MessageBurst: each
//     session's next message (a session's token bucket keeps the tokens
//     it has, up to the new burst, and refills at the new rate);
//   - Signaling.PingInterval and PongTimeout: sessions opened from then
//     on; an open session keeps the pair it started with, so that its
//     keep-alive stays consistent;
//   - Signaling.MaxNameLength: the next join or name given (the names
//     in use stay); MaxChatLength: the next chat message;
//   - CallTimeout: calls that ring from then on (0: 30 s);
//     CallRejoinGrace: a party whose connection drops from then on;
//   - MaxConnectionsPerIP: the next websocket, WHIP or WHEP session
//     (0: no bound); those open stay, even above a lowered bound.
type Limits struct {
	Signaling           configs.Signaling
	CallTimeout         time.Duration
	CallRejoinGrace     time.Duration
	MaxConnectionsPerIP int
}

// SetLimits puts limits in force (see Limits).
func (h *Hub) SetLimits(limits Limits) { h.limits.Store(&limits) }

// limit is the limits in force.
func (h *Hub) limit() *Limits { return h.limits.Load() }

// checkOrigin accepts requests without an Origin (non-browser clients),
// from the server's own origin, and from the configured origins. A
// browser page elsewhere must not be able to join on its visitor's behalf.
// The server's own origin is the scheme, host and port the request came
// to: https when it came over TLS (directly, or as a trusted proxy says),
// so that a page served over plain HTTP by anyone on the path cannot
// speak for the HTTPS site.
func (h *Hub) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	scheme := "http"
	if h.cfg.Auth.Proxies.Secure(r) {
		scheme = "https"
	}
	if u, err := url.Parse(origin); err == nil && u.Path == "" && u.User == nil &&
		strings.EqualFold(u.Scheme, scheme) && hostPort(u.Host, scheme) == hostPort(r.Host, scheme) {
		return true
	}
	if (*h.origins.Load())[strings.ToLower(origin)] {
		return true
	}
	if p := h.cfg.Placement; p != nil && p.KnownOrigin(origin) {
		return true // a page of another node of the cluster
	}
	h.log.Info("websocket refused: origin not allowed", "origin", origin, "host", r.Host, "remote", r.RemoteAddr)
	return false
}

// hostPort is host with the scheme's default port made explicit, in
// lower case.
func hostPort(host, scheme string) string {
	host = strings.ToLower(host)
	if h, p, err := net.SplitHostPort(host); err == nil {
		return net.JoinHostPort(h, p)
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// ServeHTTP upgrades GET /ws to a websocket session.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	closing := h.closing
	h.mu.Unlock()
	if closing {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	ip := h.cfg.Auth.Proxies.ClientIP(r)
	max := h.limit().MaxConnectionsPerIP
	h.mu.Lock()
	ok := h.perIP.take(ip, max)
	h.mu.Unlock()
	if !ok {
		h.log.Info("websocket refused: too many connections from one address", "ip", ip, "max", max)
		http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
		return
	}
	release := func() {
		h.mu.Lock()
		h.perIP.give(ip)
		h.mu.Unlock()
	}
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		release()
		return // the upgrader has answered
	}
	s := newSession(h, conn, r.RemoteAddr, ip)
	h.mu.Lock()
	if h.closing {
		h.perIP.give(ip)
		h.mu.Unlock()
		_ = conn.Close()
		return
	}
	h.sessions[s] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	// The session runs on a goroutine of the hub's (Shutdown waits for
	// it), and the HTTP server's for this request ends here: what that
	// keeps for a request (its response writer and 4 KiB write buffer,
	// the request) would otherwise stay for the session's lifetime.
	go func() {
		defer func() {
			h.mu.Lock()
			delete(h.sessions, s)
			h.perIP.give(ip)
			h.mu.Unlock()
			h.wg.Done()
		}()
		s.run()
	}()
}

// Shutdown tells every session that the server is going away, closes them
// and the rooms' media, and waits for them until ctx ends. A second call
// (a retry after ctx ended) waits for the same shutdown.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.shutOnce.Do(h.shutdown)
	select {
	case <-h.shutDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdown starts the hub's shutdown; shutDone is closed when it is over.
// The goroutine that waits for the sessions is the hub's: Shutdown waits
// for it.
func (h *Hub) shutdown() {
	h.mu.Lock()
	h.closing = true
	for s := range h.sessions {
		s.bye(ErrServerShutdown, "the server is shutting down", websocket.CloseGoingAway)
	}
	whips := make([]*whipPublisher, 0, len(h.whips))
	for _, wp := range h.whips {
		whips = append(whips, wp)
	}
	wheps := make([]*whepViewer, 0, len(h.wheps))
	for _, wv := range h.wheps {
		wheps = append(wheps, wv)
	}
	h.mu.Unlock()
	for _, wp := range whips {
		wp.end()
	}
	for _, wv := range wheps {
		wv.end()
	}
	go func() {
		h.wg.Wait()
		for _, r := range h.roomList() {
			r.close()
		}
		h.retiring.Wait()
		// After the media: a WHIP connection that fails as it closes
		// asks for its session's end (endLater) no later than that.
		h.ending.Wait()
		close(h.shutDone)
	}()
}

// Sessions is the number of open websocket sessions.
func (h *Hub) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

func (r *Room) info() RoomInfo {
	r.mu.Lock()
	n := len(r.members)
	v := r.viewers
	closed := r.shut
	r.mu.Unlock()
	return RoomInfo{Room: r.cfg(), Live: r.cfg().Mode.Live(), Participants: n, Viewers: v, Closed: closed}
}

// RoomInfos lists the rooms, sorted by name, with how many are in each:
// for the server's own use (metrics, logs); clients get HandleRooms.
func (h *Hub) RoomInfos() []RoomInfo {
	rooms := h.roomList()
	out := make([]RoomInfo, 0, len(rooms))
	for _, r := range rooms {
		out = append(out, r.info())
	}
	return out
}

// HandleRooms serves GET /api/rooms: every room's listing, which leaves
// out the presence of rooms that are not open.
func (h *Hub) HandleRooms(w http.ResponseWriter, r *http.Request) {
	infos := h.RoomInfos()
	rooms := make([]roomListing, len(infos))
	for i, ri := range infos {
		rooms[i] = ri.listing(len(h.cfg.Auth.Operators) > 0)
	}
	writeJSON(w, http.StatusOK, struct {
		Rooms []roomListing `json:"rooms"`
	}{rooms})
}

// HandleRoom serves GET /api/rooms/{room}: the room's listing.
func (h *Hub) HandleRoom(w http.ResponseWriter, r *http.Request) {
	room := h.room(r.PathValue("room"))
	if room == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such room"})
		return
	}
	writeJSON(w, http.StatusOK, room.info().listing(len(h.cfg.Auth.Operators) > 0))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Present reports whether a participant of that id is in a room now. The
// TURN server asks it so that a participant's relay credentials stop
// working once it has left.
func (h *Hub) Present(participantID string) bool {
	for _, r := range h.roomList() {
		r.mu.Lock()
		_, ok := r.members[participantID]
		r.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// Member is one member of a room, as the admin API lists them.
type Member struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"` // RoleParticipant or RoleOperator
}

// Members lists a room's members, sorted by name; false if there is no
// such room.
func (h *Hub) Members(room string) ([]Member, bool) {
	r := h.room(room)
	if r == nil {
		return nil, false
	}
	r.mu.Lock()
	out := make([]Member, 0, len(r.members))
	for _, m := range r.members {
		b := m.base()
		out = append(out, Member{ID: b.id, Name: b.name, Role: b.role})
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name+"\x00"+a.ID, b.Name+"\x00"+b.ID) })
	return out, true
}

// Kick sends a member of a room away as an operator's kick does (bye
// ErrKicked). by names who did it, for the log. It reports whether there
// was such a member.
func (h *Hub) Kick(room, id, by string) bool {
	r := h.room(room)
	if r == nil {
		return false
	}
	r.mu.Lock()
	o := r.members[id]
	r.mu.Unlock()
	if o == nil {
		return false
	}
	h.log.Info("kick", "room", room, "by", by, "participant", id, "name", o.base().name)
	o.goAway(ErrKicked, "an operator removed you from the room", websocket.ClosePolicyViolation)
	return true
}

// MovedMessage is why a WHIP publisher's session ends when its room
// moves to another node of the cluster.
const MovedMessage = "the room moved to another node of the cluster; publish there"

// Redirect sends a room's members on this node to another node of the
// cluster, whose websocket is wsURL: each websocket session gets a
// redirect message and is closed (its client joins there), a WHIP
// publisher's session ends (ErrServerShutdown, MovedMessage), and the
// room's viewers are ended. It returns how many members were sent.
func (h *Hub) Redirect(room, wsURL string) int {
	r := h.room(room)
	if r == nil {
		return 0
	}
	r.mu.Lock()
	out := make([]member, 0, len(r.members))
	for _, m := range r.members {
		out = append(out, m)
	}
	r.mu.Unlock()
	for _, m := range out {
		if s, ok := m.(*Session); ok {
			s.enqueue(redirectMessage{Type: TypeRedirect, Room: room, URL: wsURL})
			s.terminate(websocket.CloseNormalClosure, TypeRedirect)
			continue
		}
		m.goAway(ErrServerShutdown, MovedMessage, websocket.CloseGoingAway)
	}
	h.endViewers(r)
	return len(out)
}
