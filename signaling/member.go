package signaling

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"parley/capture"
	"parley/clips"
	"parley/sfu"
)

// A room's members are of several kinds: a websocket Session (someone at
// a client) and a whipPublisher (an encoder that has no websocket). Each
// kind is its own type; what every member has — who it is in its room,
// its media, its recording — is its membership. Every kind is admitted by
// Hub.admit and joins and leaves through its membership.

// member is one kind of room member.
type member interface {
	// sfu.Signaler: the member's media plane speaks to it.
	sfu.Signaler
	// base is the membership of the member.
	base() *membership
	// deliver gives the member a message of the protocol. A member with
	// nobody to tell drops it.
	deliver(msg []byte)
	// goAway ends the member's stay in its room: code says why (an error
	// code of the protocol), closeCode is the websocket close code for a
	// member that has a websocket. Safe under the room's lock.
	goAway(code, message string, closeCode int)
	// welcomeLocked is called when the member is admitted to its room,
	// with everyone in the room, itself last, before the others hear of
	// it. Called locked (room.mu).
	welcomeLocked(peers []Peer, ownerKey string, req json.RawMessage)
	// leavingLocked is called as the member leaves its room, after it is
	// no longer among the room's members. Called locked (room.mu).
	leavingLocked()
}

// membership is the state every kind of member has.
type membership struct {
	hub  *Hub
	self member // the kind of member this is the membership of
	log  *slog.Logger
	ip   netip.Addr // the client's address (behind trusted proxies)

	// Set by join; read by others under room.mu.
	room  *Room
	id    string
	name  string
	owner string // clips.OwnerOf the owner key
	role  string // RoleParticipant or RoleOperator
	peer  *sfu.Participant
	// proven is set when the member proved its name (see admission).
	proven bool

	recMu    sync.Mutex
	rec      *capture.Recording // the clip being recorded (clip rooms)
	archiver *capture.Archiver  // talk-spurt archive (live rooms with archive on)

	speaking bool // what the room was last told (SpeakingChanged); under room.mu
	// station is the member's state as a camera station, nil when it is
	// none (see station.go); under room.mu.
	station *stationState

	left     chan struct{} // closed once the member has left its room
	leftOnce sync.Once
	replaced *membership // during join: the earlier member being replaced
}

func newMembership(h *Hub, self member, log *slog.Logger, ip netip.Addr) *membership {
	return &membership{hub: h, self: self, log: log, ip: ip, role: RoleParticipant, left: make(chan struct{})}
}

func (m *membership) base() *membership { return m }

// enqueue gives the member a message of the protocol.
func (m *membership) enqueue(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		m.log.Error("encode message", "err", err)
		return
	}
	m.self.deliver(b)
}

func (m *membership) sendError(req json.RawMessage, code, message string) {
	m.enqueue(errorMessage{Type: TypeError, Req: req, Code: code, Message: message})
}

func (m *membership) peerInfo() Peer { return Peer{ID: m.id, Name: m.name} }

// joinAs joins room under name. When the name's holder must give way to
// this member (see joinRoom), it waits for the holder to leave, then
// joins in its place.
func (m *membership) joinAs(room *Room, name, ownerKey string, req json.RawMessage) (code, msg string) {
	code, msg = m.joinRoom(room, name, ownerKey, req)
	if code != codeReplacing {
		return code, msg
	}
	select {
	case <-m.replaced.left:
		code, msg = m.joinRoom(room, name, ownerKey, req)
	case <-time.After(replaceWait):
		code = codeReplacing
	}
	m.replaced = nil
	if code == codeReplacing {
		code, msg = ErrNameTaken, fmt.Sprintf("the name %q is in use in this room", name)
	}
	return code, msg
}

// codeReplacing is joinRoom's answer when the name's holder was told to
// go (m.replaced): an earlier member of the same owner key, or one that
// did not prove the name when this one did.
const codeReplacing = "replacing"

// replaceWait bounds the wait for a replaced member to leave.
const replaceWait = 5 * time.Second

// joinRoom makes the member one of room's, tells it and the others, and
// joins the room's media. It returns an error code and message if the
// room refuses.
func (m *membership) joinRoom(room *Room, name, ownerKey string, req json.RawMessage) (code, msg string) {
	room.mu.Lock()
	select {
	case <-m.left:
		// Ended before it could join (a WHIP session that a Shutdown
		// ended): it must not enter the room now.
		room.mu.Unlock()
		return ErrServerShutdown, "the session has ended"
	default:
	}
	if room.removed {
		// Removed or remade since it was looked up (Hub.RemoveRoom).
		room.mu.Unlock()
		return ErrNoRoom, fmt.Sprintf("there is no room %q any more", room.cfg().Name)
	}
	if room.shut && m.role != RoleOperator {
		room.mu.Unlock()
		return ErrRoomClosed, "an operator has closed this room"
	}
	if len(room.members) >= room.cfg().MaxParticipants {
		room.mu.Unlock()
		return ErrRoomFull, fmt.Sprintf("the room is full (%d participants)", room.cfg().MaxParticipants)
	}
	peers := make([]Peer, 0, len(room.members)+1)
	key := nameKey(name)
	for _, om := range room.members {
		o := om.base()
		if nameKey(o.name) == key {
			room.mu.Unlock()
			switch {
			case m.replaced != nil: // a second holder, or the first one back
			case o.owner == clips.OwnerOf(ownerKey):
				m.log.Info("rejoin replaces the earlier member", "room", room.cfg().Name, "participant", o.id)
				om.goAway(ErrReplaced, "you joined this room again from elsewhere", websocket.CloseNormalClosure)
				m.replaced = o
				return codeReplacing, ""
			case m.proven && !o.proven:
				m.log.Info("a proven name takes over from an unproven holder", "room", room.cfg().Name, "participant", o.id, "name", name)
				om.goAway(ErrNameClaimed, fmt.Sprintf("the name %q belongs to someone who has proven it; join under another name", o.name), websocket.CloseNormalClosure)
				m.replaced = o
				return codeReplacing, ""
			}
			return ErrNameTaken, fmt.Sprintf("the name %q is in use in this room", name)
		}
		peers = append(peers, o.peerInfo())
	}
	m.id, m.name, m.room, m.owner = newID(), name, room, clips.OwnerOf(ownerKey)
	peers = append(peers, m.peerInfo())
	m.self.welcomeLocked(peers, ownerKey, req)
	joined, _ := json.Marshal(presenceMessage{Type: TypeParticipantJoined, Participant: m.peerInfo()})
	for _, o := range room.members {
		o.deliver(joined)
	}
	room.members[m.id] = m.self
	if len(room.members) == 1 {
		m.hub.tellLocked(room, RoomEvent{Type: EventRoomStarted, Participant: peerOf(m)})
	}
	m.hub.tellLocked(room, RoomEvent{Type: EventParticipantJoined, Participant: peerOf(m)})
	room.mu.Unlock()
	m.log.Info("joined", "room", room.cfg().Name, "participant", m.id, "name", m.name)

	peer, err := room.media.Join(m.id, m.name, m.self)
	if err != nil {
		m.log.Error("media join", "room", room.cfg().Name, "err", err)
		return ErrInternal, "the room's media is not available"
	}
	room.mu.Lock()
	m.peer = peer
	room.mu.Unlock()
	return "", ""
}

// leave removes the member from its room, if it joined one. Later calls
// do nothing.
func (m *membership) leave() {
	select {
	case <-m.left:
		return
	default:
	}
	defer m.leftOnce.Do(func() { close(m.left) })
	room := m.room
	if room == nil {
		return
	}
	room.mu.Lock()
	delete(room.members, m.id)
	m.self.leavingLocked()
	left, _ := json.Marshal(presenceMessage{Type: TypeParticipantLeft, Participant: m.peerInfo()})
	for _, o := range room.members {
		o.deliver(left)
	}
	if m.id != "" {
		m.hub.tellLocked(room, RoomEvent{Type: EventParticipantLeft, Participant: peerOf(m)})
		if len(room.members) == 0 {
			m.hub.tellLocked(room, RoomEvent{Type: EventRoomFinished, Participant: peerOf(m)})
		}
	}
	room.mu.Unlock()
	if m.peer != nil {
		m.peer.Leave()
	}
	m.recMu.Lock()
	a := m.archiver
	m.archiver = nil
	m.recMu.Unlock()
	if a != nil {
		a.Close()
	}
	m.log.Info("left", "room", room.cfg().Name, "participant", m.id)
}

// VideoPaused implements sfu.Signaler: the member is told that a video
// it receives is paused, or resumed, for its downlink.
func (m *membership) VideoPaused(up *sfu.UpTrack, paused bool) {
	id := ""
	if o := up.Owner(); o != nil {
		id = o.ID
	}
	b, _ := json.Marshal(videoPausedMessage{Type: TypeVideoPaused, ID: id, Track: up.ID(), Paused: paused})
	m.self.deliver(b)
}

// SpeakingChanged implements sfu.Signaler: the room is told when the
// member starts or stops speaking on any of its tracks.
func (m *membership) SpeakingChanged(*sfu.UpTrack) {
	room := m.room
	if room == nil {
		return
	}
	room.mu.Lock()
	defer room.mu.Unlock()
	if m.peer == nil || room.members[m.id] != m.self {
		return
	}
	speaking := false
	for _, up := range m.peer.UpTracks() {
		if up.Speaking() {
			speaking = true
			break
		}
	}
	if speaking == m.speaking {
		return
	}
	m.speaking = speaking
	b, _ := json.Marshal(speakingMessage{Type: TypeSpeaking, ID: m.id, Speaking: speaking})
	for _, o := range room.members {
		o.deliver(b)
	}
}
