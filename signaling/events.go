package signaling

import "time"

// The room events told to Config.OnRoomEvent (the operator's webhooks).
const (
	EventParticipantJoined = "participant.joined"
	EventParticipantLeft   = "participant.left"
	EventRoomStarted       = "room.started"  // its first member joined
	EventRoomFinished      = "room.finished" // its last member left
	EventCallEnded         = "call.ended"
)

// RoomEvent is a change in a room's life. It is made under the room's
// lock, so that a room's events are told in the order they happened; its
// JSON form is the "data" of a webhook's event.
type RoomEvent struct {
	Type string `json:"-"`
	Room string `json:"-"`
	// Participant is who joined or left (and, for room.started and
	// room.finished, the first to join and the last to leave).
	Participant *Peer `json:"participant,omitempty"`
	// Participants is how many members the room has after the change.
	Participants int `json:"participants"`
	// Call is the call that ended.
	Call *CallSummary `json:"call,omitempty"`
}

// CallSummary describes a call that ended.
type CallSummary struct {
	ID       string   `json:"id"`
	Video    bool     `json:"video"`
	Parties  []string `json:"parties"`  // the caller's name, then the callee's
	Answered bool     `json:"answered"` // accepted before it ended
	// Seconds is how long it lasted from its acceptance (0 if never).
	Seconds float64 `json:"seconds"`
	Reason  string  `json:"reason"` // hangup, declined, timeout, left
}

// tellLocked tells OnRoomEvent. Called locked (room.mu); OnRoomEvent must
// not block nor call the hub.
func (h *Hub) tellLocked(room *Room, ev RoomEvent) {
	if h.cfg.OnRoomEvent == nil {
		return
	}
	ev.Room = room.cfg().Name
	ev.Participants = len(room.members)
	h.cfg.OnRoomEvent(ev)
}

// summary is c's summary as it ends now for reason.
func (c *call) summary(reason string) *CallSummary {
	cs := &CallSummary{ID: c.id, Video: c.video, Parties: []string{c.parties[0].name, c.parties[1].name},
		Answered: c.active, Reason: reason}
	if c.active {
		cs.Seconds = time.Since(c.answered).Round(time.Millisecond).Seconds()
	}
	return cs
}
