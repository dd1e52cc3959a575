package signaling

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
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
	// MaxConnectionsPerIP bounds the open websockets of one client IP;
	// 0 means no bound.
	MaxConnectionsPerIP int
}

// Roles, as the joined message reports them.
const (
	RoleParticipant = access.RoleParticipant
	RoleOperator    = access.RoleOperator
)

// dummyHash is compared against when a name has no password, so that a
// wrong name costs the same time as a wrong password.
const dummyHash = "$2a$12$fd8xdruRAVTyZpDCOXN4dOSB08.WHJLMHJBG6DVisQnHZuCEhAghu"

// admission is the outcome of checking a join's credentials.
type admission struct {
	name string
	role string
	code string // an error code when refused
	msg  string
}

// admit checks m's credentials for room: an operator's password, a join
// token, or the room's password, as the room's access mode asks. It
// counts failures per client IP and refuses an IP that failed too often.
func (s *Session) admit(room *Room, m *clientMessage) admission {
	a := s.hub.cfg.Auth
	ip := s.ip
	refuse := func(code, msg string) admission {
		a.Failures.Fail(ip)
		s.log.Info("join refused", "room", room.cfg.Name, "name", truncate(m.Name, 64), "code", code, "ip", ip)
		return admission{code: code, msg: msg}
	}
	if (m.Token != "" || m.Password != "") && a.Failures.Blocked(ip) {
		s.log.Info("join refused: too many failed attempts", "room", room.cfg.Name, "ip", ip)
		return admission{code: ErrTooManyAttempts, msg: "too many failed attempts from your address; wait a minute"}
	}

	if m.Token != "" {
		c, err := access.VerifyToken(a.TokenSecret, m.Token, time.Now())
		switch {
		case errors.Is(err, access.ErrTokenExpired):
			return refuse(ErrBadToken, "the join token has expired")
		case err != nil || len(a.TokenSecret) == 0:
			return refuse(ErrBadToken, "the join token is not valid")
		case c.Room != room.cfg.Name:
			return refuse(ErrBadToken, fmt.Sprintf("the join token is for room %q", truncate(c.Room, 64)))
		case m.Name != "" && !strings.EqualFold(m.Name, c.Name):
			return refuse(ErrBadToken, fmt.Sprintf("the join token is for the name %q", truncate(c.Name, 64)))
		}
		return admission{name: c.Name, role: c.Role}
	}

	// An operator's name is theirs in every room.
	for _, op := range a.Operators {
		if strings.EqualFold(op.Name, m.Name) {
			if !access.VerifyPassword(op.Password, m.Password) {
				return refuse(ErrBadPassword, fmt.Sprintf("the name %q belongs to an operator: give its password", m.Name))
			}
			return admission{name: m.Name, role: RoleOperator}
		}
	}

	switch room.cfg.Access {
	case configs.AccessToken:
		return admission{code: ErrTokenRequired, msg: "this room is entered with a join token"}
	case configs.AccessPassword:
		hash, ok := lookupFold(room.cfg.Passwords, m.Name)
		if !ok {
			hash = room.cfg.Password
		}
		if hash == "" {
			access.VerifyPassword(dummyHash, m.Password)
			return refuse(ErrBadPassword, "this room has no password for that name")
		}
		if m.Password == "" {
			return admission{code: ErrPasswordRequired, msg: "this room needs a password"}
		}
		if !access.VerifyPassword(hash, m.Password) {
			return refuse(ErrBadPassword, "wrong password")
		}
	}
	return admission{name: m.Name, role: RoleParticipant}
}

// lookupFold finds name in m, ignoring case.
func lookupFold(m map[string]string, name string) (string, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
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
	if o == nil || o == s {
		s.sendError(m.Req, ErrNoSuchPeer, "there is no such participant")
		return
	}
	s.log.Info("kick", "room", room.cfg.Name, "operator", s.name, "participant", o.id, "name", o.name)
	if o.headless {
		go o.endWHIP()
		return
	}
	o.bye(ErrKicked, "an operator removed you from the room", websocket.ClosePolicyViolation)
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
	for _, id := range store.IDs(s.room.cfg.Name) {
		if err := store.Delete(s.room.cfg.Name, id, "", true); err == nil {
			n++
		} else if !errors.Is(err, clips.ErrNotFound) {
			s.log.Error("clear clips", "room", s.room.cfg.Name, "clip", id, "err", err)
		}
	}
	s.log.Info("clips cleared", "room", s.room.cfg.Name, "operator", s.name, "clips", n)
	s.enqueue(clearedMessage{Type: TypeClipsCleared, Req: m.Req, Count: n})
}

// closeRoom sends everyone but operators away and refuses joins until an
// operator opens the room again; openRoom undoes it.
func (s *Session) closeRoom(m *clientMessage, closed bool) {
	if !s.operator(m) {
		return
	}
	room := s.room
	room.mu.Lock()
	room.shut = closed
	var out []*Session
	if closed {
		for _, o := range room.members {
			if o.role != RoleOperator {
				out = append(out, o)
			}
		}
	}
	room.mu.Unlock()
	s.log.Info("room closed by an operator", "room", room.cfg.Name, "operator", s.name, "closed", closed)
	for _, o := range out {
		if o.headless {
			go o.endWHIP()
			continue
		}
		o.bye(ErrRoomClosed, "an operator closed the room", websocket.CloseNormalClosure)
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

// connLimit counts open websockets per client IP.
type connLimit struct {
	n map[netip.Addr]int
}

func (c *connLimit) take(ip netip.Addr, max int) bool {
	if max <= 0 {
		return true
	}
	if c.n == nil {
		c.n = make(map[netip.Addr]int)
	}
	if c.n[ip] >= max {
		return false
	}
	c.n[ip]++
	return true
}

func (c *connLimit) give(ip netip.Addr, max int) {
	if max <= 0 {
		return
	}
	if c.n[ip] <= 1 {
		delete(c.n, ip)
		return
	}
	c.n[ip]--
}

// whipToken checks a WHIP publisher's join token for room. It returns
// the claims, or an HTTP status and message.
func (h *Hub) whipToken(room *Room, token string, ip netip.Addr) (access.Claims, int, string) {
	a := h.cfg.Auth
	if a.Failures.Blocked(ip) {
		return access.Claims{}, http.StatusTooManyRequests, "too many failed attempts from your address; wait a minute"
	}
	c, err := access.VerifyToken(a.TokenSecret, token, time.Now())
	switch {
	case errors.Is(err, access.ErrTokenExpired):
		a.Failures.Fail(ip)
		return c, http.StatusUnauthorized, "the join token has expired"
	case err != nil || len(a.TokenSecret) == 0:
		a.Failures.Fail(ip)
		return c, http.StatusUnauthorized, "the join token is not valid"
	case c.Room != room.cfg.Name:
		a.Failures.Fail(ip)
		return c, http.StatusForbidden, fmt.Sprintf("the join token is for room %q", truncate(c.Room, 64))
	}
	return c, 0, ""
}

// tokenOwnerKey is the owner key of a token holder without one of its
// own (a WHIP publisher): derived from the room and name, so that all of
// that name's WHIP clips have one owner.
func tokenOwnerKey(c access.Claims) string {
	sum := sha256.Sum256([]byte("parley-token-owner\x00" + c.Room + "\x00" + strings.ToLower(c.Name)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
