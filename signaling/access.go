package signaling

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gorilla/websocket"

	"parley/access"
	"parley/clips"
	"parley/configs"
)

// Auth is what the signaling layer needs to admit people.
type Auth struct {
	// TokenSecret checks join tokens; empty refuses every token.
	TokenSecret []byte
	// Operators are the operator accounts (see configs.Auth).
	Operators []configs.Operator
	// Failures limits failed joins per client IP; nil limits nothing.
	Failures *access.Limiter
	// Proxies are the reverse proxies whose X-Forwarded-For is believed.
	Proxies access.Proxies
	// MaxConnectionsPerIP bounds the open websockets, WHIP sessions and
	// WHEP viewers of one client address; 0 means no bound. It is the
	// bound the hub starts with (see Limits).
	MaxConnectionsPerIP int
	// WHIPStarts limits the WHIP sessions one client address may start
	// (a rate); nil limits nothing.
	WHIPStarts *access.Limiter
	// WHEPStarts limits the WHEP viewers one client address may start;
	// nil limits nothing.
	WHEPStarts *access.Limiter
}

// Roles, as the joined message reports them.
const (
	RoleParticipant = access.RoleParticipant
	RoleOperator    = access.RoleOperator
)

// dummyHash is compared against when a name has no password and the room
// no other hash to compare with, so that a wrong name costs the same time
// as a wrong password.
const dummyHash = "$2a$12$fd8xdruRAVTyZpDCOXN4dOSB08.WHJLMHJBG6DVisQnHZuCEhAghu"

// credentials are what someone who wants to join shows: the name asked
// for (a join token names its holder itself), a password, a join token,
// and the client's address.
type credentials struct {
	name, password, token string
	ip                    netip.Addr
	// viewer: someone who only watches (WHEP), with no name; a token
	// or the room's shared password admits them.
	viewer bool
}

// admission is the outcome of checking credentials.
type admission struct {
	name string // in normal form C
	role string
	// proven is set when the name itself was proven: by an operator's
	// password, a join token naming it, or the password of that name. A
	// proven join takes the name over from a session that did not prove
	// it.
	proven bool
	code   string // an error code when refused
	msg    string
}

// admit is the one admission check of every kind of member: websocket
// sessions and WHIP publishers go through it alike. It checks the name
// and the credentials for room: an operator's password, a join token, or
// the room's password, as the room's access mode asks. Every check of a
// credential reserves an attempt of the client's address first (see
// access.Limiter), so that concurrent guesses cannot outrun the limit.
func (h *Hub) admit(room *Room, c credentials) admission {
	a := h.cfg.Auth
	maxName := h.limit().Signaling.MaxNameLength
	if !c.viewer && (c.token == "" || c.name != "") {
		name, err := cleanName(c.name, maxName)
		if err != nil {
			return admission{code: ErrBadName, msg: err.Error()}
		}
		c.name = name
	}
	var attempt access.Attempt
	blocked := func() admission {
		h.log.Info("join refused: too many failed attempts", "room", room.cfg().Name, "ip", c.ip)
		return admission{code: ErrTooManyAttempts, msg: "too many failed attempts from your address; wait a minute"}
	}
	reserve := func() bool {
		var ok bool
		attempt, ok = a.Failures.Begin(c.ip)
		return ok
	}
	// refuse leaves the reserved attempt charged: a failure.
	refuse := func(code, msg string) admission {
		h.log.Info("join refused", "room", room.cfg().Name, "name", truncate(c.name, 64), "code", code, "ip", c.ip)
		return admission{code: code, msg: msg}
	}
	admit := func(adm admission) admission {
		attempt.Succeeded()
		return adm
	}

	if c.token != "" {
		if !reserve() {
			return blocked()
		}
		cl, err := access.VerifyToken(a.TokenSecret, c.token, time.Now())
		switch {
		case errors.Is(err, access.ErrTokenExpired):
			return refuse(ErrBadToken, "the join token has expired")
		case err != nil || len(a.TokenSecret) == 0:
			return refuse(ErrBadToken, "the join token is not valid")
		case cl.Room != room.cfg().Name:
			return refuse(ErrBadToken, fmt.Sprintf("the join token is for room %q", truncate(cl.Room, 64)))
		case c.name != "" && !sameName(c.name, cl.Name):
			return refuse(ErrBadToken, fmt.Sprintf("the join token is for the name %q", truncate(cl.Name, 64)))
		}
		name, err := cleanName(cl.Name, maxName)
		if err != nil {
			attempt.Succeeded() // the token is good; its name is not
			return admission{code: ErrBadName, msg: "the token's name: " + err.Error()}
		}
		return admit(admission{name: name, role: cl.Role, proven: true})
	}

	// An operator's name is theirs in every room.
	for _, op := range a.Operators {
		if !c.viewer && sameName(op.Name, c.name) {
			if c.password == "" {
				return admission{code: ErrPasswordRequired, msg: fmt.Sprintf("the name %q belongs to an operator: give its password", c.name)}
			}
			if !reserve() {
				return blocked()
			}
			if !access.VerifyPassword(op.Password, c.password) {
				return refuse(ErrBadPassword, fmt.Sprintf("the name %q belongs to an operator: give its password", c.name))
			}
			return admit(admission{name: c.name, role: RoleOperator, proven: true})
		}
	}

	switch room.cfg().Access {
	case configs.AccessToken:
		return admission{code: ErrTokenRequired, msg: "this room is entered with a join token"}
	case configs.AccessPassword:
		hash, perName := lookupName(room.cfg().Passwords, c.name)
		if !perName {
			hash = room.cfg().Password
		}
		if c.password == "" {
			return admission{code: ErrPasswordRequired, msg: "this room needs a password"}
		}
		if !reserve() {
			return blocked()
		}
		if hash == "" {
			// Spend what checking a listed name's password costs (that
			// hash's own cost), so that the time does not tell which
			// names are listed; the answer is no whatever it says.
			_ = access.VerifyPassword(anyHash(room.cfg().Passwords), c.password)
			return refuse(ErrBadPassword, "this room has no password for that name")
		}
		if !access.VerifyPassword(hash, c.password) {
			return refuse(ErrBadPassword, "wrong password")
		}
		return admit(admission{name: c.name, role: RoleParticipant, proven: perName})
	}
	return admission{name: c.name, role: RoleParticipant}
}

// anyHash is one of the hashes of m, or dummyHash when m has none.
func anyHash(m map[string]string) string {
	for _, h := range m {
		return h
	}
	return dummyHash
}

// lookupName finds name in m (see sameName).
func lookupName(m map[string]string, name string) (string, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if sameName(k, name) {
			return v, true
		}
	}
	return "", false
}

// Operator actions.

func (s *Session) operator(m *clientMessage) bool {
	if s.role != RoleOperator {
		s.sendError(m.Req, ErrNotOperator, "only an operator may do that")
		return false
	}
	return true
}

// kick removes a participant from the room.
func (s *Session) kick(m *clientMessage) {
	if !s.operator(m) {
		return
	}
	room := s.room
	room.mu.Lock()
	o := room.members[m.To]
	room.mu.Unlock()
	if o == nil || o == member(s) {
		s.sendError(m.Req, ErrNoSuchPeer, "there is no such participant")
		return
	}
	s.log.Info("kick", "room", room.cfg().Name, "operator", s.name, "participant", o.base().id, "name", o.base().name)
	o.goAway(ErrKicked, "an operator removed you from the room", websocket.ClosePolicyViolation)
}

// clearClips deletes every clip of the room.
func (s *Session) clearClips(m *clientMessage) {
	if !s.operator(m) {
		return
	}
	store := s.hub.cfg.Store
	if store == nil {
		s.sendError(m.Req, ErrInternal, "this server keeps no clips")
		return
	}
	n := 0
	for _, id := range store.IDs(s.room.cfg().Name) {
		if err := store.Delete(s.room.cfg().Name, id, "", true); err == nil {
			n++
		} else if !errors.Is(err, clips.ErrNotFound) {
			s.log.Error("clear clips", "room", s.room.cfg().Name, "clip", id, "err", err)
		}
	}
	s.log.Info("clips cleared", "room", s.room.cfg().Name, "operator", s.name, "clips", n)
	s.enqueue(clearedMessage{Type: TypeClipsCleared, Req: m.Req, Count: n})
}

// closeRoom sends everyone but operators away and refuses joins until an
// operator opens the room again; openRoom undoes it. Every operator in
// the room is told the room's new state, so that each one's controls
// follow.
func (s *Session) closeRoom(m *clientMessage, closed bool) {
	if !s.operator(m) {
		return
	}
	room := s.room
	state, _ := json.Marshal(roomStateMessage{Type: TypeRoomState, Closed: closed})
	room.mu.Lock()
	room.shut = closed
	var out []member
	for _, o := range room.members {
		switch {
		case o.base().role != RoleOperator:
			if closed {
				out = append(out, o)
			}
		case o != member(s):
			o.deliver(state)
		}
	}
	room.mu.Unlock()
	s.log.Info("room closed by an operator", "room", room.cfg().Name, "operator", s.name, "closed", closed)
	for _, o := range out {
		o.goAway(ErrRoomClosed, "an operator closed the room", websocket.CloseNormalClosure)
	}
	if closed {
		s.hub.endViewers(room)
	}
	s.enqueue(roomStateMessage{Type: TypeRoomState, Req: m.Req, Closed: closed})
}

type clearedMessage struct {
	Type  string `json:"type"`
	Req   any    `json:"req,omitempty"`
	Count int    `json:"count"`
}

type roomStateMessage struct {
	Type   string `json:"type"`
	Req    any    `json:"req,omitempty"`
	Closed bool   `json:"closed"`
}

// connLimit counts the open websockets, WHIP sessions and WHEP viewers
// of each client address (access.ClientKey: an IPv6 client is its /64).
// It counts them even with no bound, so that a bound set while the server
// runs (SetLimits) counts those already open.
type connLimit struct {
	n map[netip.Addr]int
}

// take counts one more connection of ip, unless ip has max open already
// (max <= 0: no bound).
func (c *connLimit) take(ip netip.Addr, max int) bool {
	ip = access.ClientKey(ip)
	if c.n == nil {
		c.n = make(map[netip.Addr]int)
	}
	if max > 0 && c.n[ip] >= max {
		return false
	}
	c.n[ip]++
	return true
}

// give counts one connection of ip less.
func (c *connLimit) give(ip netip.Addr) {
	ip = access.ClientKey(ip)
	if c.n[ip] <= 1 {
		delete(c.n, ip)
		return
	}
	c.n[ip]--
}

// whipOwnerKey is the owner key of a WHIP publisher that came with a
// join token: one key per room and name, so that all of that name's WHIP
// clips have one owner, and keyed by the server's secret, so that nobody
// else can compute it and claim those clips.
func (h *Hub) whipOwnerKey(room, name string) string {
	key := access.DeriveKey(h.cfg.Auth.TokenSecret, "whip-owner")
	return base64.RawURLEncoding.EncodeToString(access.MAC(key, room, nameKey(name)))
}
