package signaling

import (
	"encoding/json"
	"time"

	"parley/sfu"
)

// Calls: one participant calls another in the same room; while the call
// lasts the two receive each other's media through the SFU and nobody
// else receives it (see sfu.Room.SetPartners). A call belongs to the two
// parties' owner keys, not to their connections, so that it survives a
// websocket reconnect: a party that drops is waited for (callRejoinGrace)
// and re-enters the call when it joins again with the same owner key.

// defaultCallTimeout is used when Config.CallTimeout is 0.
const defaultCallTimeout = 30 * time.Second

// Reasons a call ends.
const (
	CallDeclined = "declined"
	CallBusy     = "busy"
	CallTimeout  = "timeout"
	CallHangup   = "hangup"
	CallLeft     = "left"
)

type call struct {
	id       string
	video    bool
	active   bool
	answered time.Time     // when it became active
	parties  [2]*callParty // caller, callee
	ring     *time.Timer
}

type callParty struct {
	owner string
	name  string   // for the call's summary
	s     *Session // nil while reconnecting
	away  *time.Timer
}

type callMessage struct {
	Type   string `json:"type"`
	Call   string `json:"call,omitempty"`
	Peer   *Peer  `json:"peer,omitempty"`
	Video  bool   `json:"video"`
	Reason string `json:"reason,omitempty"`
}

// other is the party that is not s.
func (c *call) other(s *Session) *callParty {
	if c.parties[0].s == s {
		return c.parties[1]
	}
	return c.parties[0]
}

func (c *call) party(s *Session) *callParty {
	if c.parties[0].s == s {
		return c.parties[0]
	}
	if c.parties[1].s == s {
		return c.parties[1]
	}
	return nil
}

// sendCallLocked sends a call message to a party that is present. Called
// locked (room.mu).
func sendCallLocked(p *callParty, msg callMessage) {
	if p.s == nil {
		return
	}
	b, _ := json.Marshal(msg)
	p.s.deliver(b)
}

func peerOf(m *membership) *Peer {
	p := m.peerInfo()
	return &p
}

func (s *Session) callStart(m *clientMessage) {
	room := s.room
	room.mu.Lock()
	target := room.members[m.To]
	// Only someone at a client can be called.
	callee, _ := target.(*Session)
	switch {
	case target == nil:
		room.mu.Unlock()
		s.sendError(m.Req, ErrNoSuchPeer, "the person called is not in the room")
		return
	case target == member(s) || target.base().owner == s.owner:
		room.mu.Unlock()
		s.sendError(m.Req, ErrBadRequest, "you cannot call yourself")
		return
	case room.calls[s.owner] != nil:
		room.mu.Unlock()
		s.sendError(m.Req, ErrInCall, "you are already in a call; hang up first")
		return
	case callee == nil || room.calls[callee.owner] != nil:
		room.mu.Unlock()
		s.enqueue(callMessage{Type: TypeCallEnded, Peer: peerOf(target.base()), Video: m.Video, Reason: CallBusy})
		return
	}
	c := &call{
		id:      newID(),
		video:   m.Video,
		parties: [2]*callParty{{owner: s.owner, name: s.name, s: s}, {owner: callee.owner, name: callee.name, s: callee}},
	}
	room.calls[s.owner], room.calls[callee.owner] = c, c
	c.ring = time.AfterFunc(s.hub.callTimeout(), func() {
		room.mu.Lock()
		defer room.mu.Unlock()
		if !c.active && room.calls[c.parties[0].owner] == c {
			s.hub.endCallLocked(room, c, CallTimeout)
		}
	})
	sendCallLocked(c.parties[0], callMessage{Type: TypeCallRinging, Call: c.id, Peer: peerOf(callee.membership), Video: c.video})
	sendCallLocked(c.parties[1], callMessage{Type: TypeCallIncoming, Call: c.id, Peer: peerOf(s.membership), Video: c.video})
	room.mu.Unlock()
}

// callOf returns the session's call if its id is the one named.
func (s *Session) callOf(m *clientMessage) *call {
	c := s.room.calls[s.owner]
	if c == nil || c.id != m.Call || c.party(s) == nil {
		s.sendError(m.Req, ErrNoSuchCall, "there is no such call")
		return nil
	}
	return c
}

func (s *Session) callAccept(m *clientMessage) {
	room := s.room
	room.mu.Lock()
	c := s.callOf(m)
	if c == nil {
		room.mu.Unlock()
		return
	}
	if c.active || c.parties[1].s != s {
		room.mu.Unlock()
		s.sendError(m.Req, ErrBadRequest, "only the person called can accept, once")
		return
	}
	c.active, c.answered = true, time.Now()
	c.ring.Stop()
	a, b := c.parties[0].s, c.parties[1].s
	s.hub.announceCallLocked(c)
	if a != nil && a.peer != nil && b.peer != nil {
		room.setPartnersLocked(a.peer, b.peer)
	}
	room.mu.Unlock()
}

// partnerChange is a change of the media policy for a call.
type partnerChange struct{ a, b *sfu.Participant }

// setPartnersLocked queues a change of call partners for the media plane.
// The changes are applied in the order they were decided, on the room's
// own goroutine (applyPartners), because each means renegotiations that
// must not hold room.mu. Queuing never blocks. Called locked (room.mu).
func (r *Room) setPartnersLocked(a, b *sfu.Participant) {
	if r.closed {
		return
	}
	r.partners = append(r.partners, partnerChange{a, b})
	select {
	case r.partnersWake <- struct{}{}:
	default: // already woken; it takes the whole queue
	}
}

// applyPartners applies the queued partner changes until the room closes.
func (r *Room) applyPartners() {
	defer close(r.partnersDone)
	for range r.partnersWake {
		r.mu.Lock()
		changes := r.partners
		r.partners = nil
		r.mu.Unlock()
		for _, ch := range changes {
			r.media.SetPartners(ch.a, ch.b)
		}
	}
}

// announceCallLocked tells both parties that the call is on, with each
// other's current participant id. Called locked (room.mu).
func (h *Hub) announceCallLocked(c *call) {
	a, b := c.parties[0], c.parties[1]
	if a.s == nil || b.s == nil {
		return
	}
	sendCallLocked(a, callMessage{Type: TypeCallStarted, Call: c.id, Peer: peerOf(b.s.membership), Video: c.video})
	sendCallLocked(b, callMessage{Type: TypeCallStarted, Call: c.id, Peer: peerOf(a.s.membership), Video: c.video})
}

func (s *Session) callDecline(m *clientMessage) {
	room := s.room
	room.mu.Lock()
	defer room.mu.Unlock()
	c := s.callOf(m)
	if c == nil {
		return
	}
	if c.active || c.parties[1].s != s {
		s.sendError(m.Req, ErrBadRequest, "only a ringing call can be declined, by the person called")
		return
	}
	s.hub.endCallLocked(room, c, CallDeclined)
}

func (s *Session) hangup(m *clientMessage) {
	room := s.room
	room.mu.Lock()
	defer room.mu.Unlock()
	if c := s.callOf(m); c != nil {
		s.hub.endCallLocked(room, c, CallHangup)
	}
}

// endCallLocked ends a call, tells the parties and gives them back to the
// room's media policy. Called locked (room.mu).
func (h *Hub) endCallLocked(room *Room, c *call, reason string) {
	for _, p := range c.parties {
		if room.calls[p.owner] == c {
			delete(room.calls, p.owner)
		}
		if p.away != nil {
			p.away.Stop()
		}
		sendCallLocked(p, callMessage{Type: TypeCallEnded, Call: c.id, Video: c.video, Reason: reason})
	}
	c.ring.Stop()
	h.tellLocked(room, RoomEvent{Type: EventCallEnded, Call: c.summary(reason)})
	if c.active {
		for _, p := range c.parties {
			if p.s != nil && p.s.peer != nil {
				room.setPartnersLocked(p.s.peer, nil)
			}
		}
	}
}

// callLeftLocked handles a party's session ending: a ringing call ends;
// an active call waits callRejoinGrace for the party to come back. Called
// locked (room.mu).
func (s *Session) callLeftLocked() {
	room := s.room
	c := room.calls[s.owner]
	if c == nil {
		return
	}
	p := c.party(s)
	if p == nil {
		return
	}
	if !c.active {
		p.s = nil
		s.hub.endCallLocked(room, c, CallLeft)
		return
	}
	other := c.other(s)
	p.s = nil
	sendCallLocked(other, callMessage{Type: TypeCallHeld, Call: c.id, Video: c.video, Reason: "reconnecting"})
	p.away = time.AfterFunc(s.hub.callRejoinGrace(), func() {
		room.mu.Lock()
		defer room.mu.Unlock()
		if room.calls[p.owner] == c && p.s == nil {
			s.hub.endCallLocked(room, c, CallLeft)
		}
	})
}

// rejoinCall puts a session that has joined back into its call, if one
// waits for its owner key, and connects the two parties' media again.
func (s *Session) rejoinCall() {
	room := s.room
	room.mu.Lock()
	defer room.mu.Unlock()
	if room.members[s.id] != member(s) {
		return // gone again
	}
	if c := s.callRejoinLocked(); c != nil {
		if o := c.other(s).s; o != nil && o.peer != nil && s.peer != nil {
			room.setPartnersLocked(s.peer, o.peer)
		}
	}
}

// callRejoinLocked puts a session that joins back into its call, if one
// waits for its owner key. It returns the call. Called locked (room.mu).
func (s *Session) callRejoinLocked() *call {
	c := s.room.calls[s.owner]
	if c == nil || !c.active {
		return nil
	}
	for _, p := range c.parties {
		if p.owner == s.owner && p.s == nil {
			p.s = s
			if p.away != nil {
				p.away.Stop()
				p.away = nil
			}
			s.hub.announceCallLocked(c)
			return c
		}
	}
	return nil
}

func (h *Hub) callTimeout() time.Duration {
	if d := h.limit().CallTimeout; d > 0 {
		return d
	}
	return defaultCallTimeout
}

func (h *Hub) callRejoinGrace() time.Duration { return h.limit().CallRejoinGrace }
