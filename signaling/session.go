package signaling

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"parley/capture"
	"parley/chatlog"
	"parley/clips"
	"parley/sfu"
)

const (
	// sendQueue is how many messages may wait for a slow client before the
	// session is dropped: a client that cannot keep up must not make the
	// server buffer without bound.
	sendQueue = 256
	// writeTimeout bounds one websocket write.
	writeTimeout = 10 * time.Second
	// closeGrace is how long the server waits for the client's close frame
	// after sending its own.
	closeGrace = time.Second
)

// Session is one websocket connection. Its read loop runs on the HTTP
// handler's goroutine and handles messages one at a time; a second
// goroutine writes.
type Session struct {
	hub    *Hub
	conn   *websocket.Conn
	log    *slog.Logger
	send   chan []byte
	quit   chan struct{} // closed by terminate
	once   sync.Once
	closeC int    // close code, set before quit is closed
	closeR string // close reason

	limiter tokenBucket
	strikes int // consecutive messages refused for rate

	// Set by join, on the read goroutine; read by others under room.mu.
	room  *Room
	id    string
	name  string
	owner string // clips.OwnerOf the owner key
	role  string // RoleParticipant or RoleOperator
	peer  *sfu.Participant
	ip    netip.Addr // the client's address (behind trusted proxies)

	// proven is set when the session proved its name (see admission).
	proven bool

	// headless sessions have no websocket: WHIP publishers.
	headless bool
	whip     *whipPublisher
	endOnce  sync.Once

	recMu      sync.Mutex
	rec        *capture.Recording // the clip being recorded (clip rooms)
	recWait    *recordWait        // a record-start waiting for the published tracks
	archiver   *capture.Archiver  // talk-spurt archive (live rooms with archive on)
	pubSending int                // how many tracks the latest publish offer sends

	left     chan struct{} // closed once the session has left its room
	leftOnce sync.Once
	replaced *Session // during join: the earlier session being replaced
}

func newSession(h *Hub, conn *websocket.Conn, remote string, ip netip.Addr) *Session {
	sc := h.cfg.Signaling
	return &Session{
		hub:     h,
		conn:    conn,
		log:     h.log.With("remote", remote),
		send:    make(chan []byte, sendQueue),
		quit:    make(chan struct{}),
		limiter: newTokenBucket(sc.MessagesPerSecond, sc.MessageBurst),
		left:    make(chan struct{}),
		ip:      ip,
		role:    RoleParticipant,
	}
}

// run serves the session until the connection ends.
func (s *Session) run() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop()
	}()
	s.readLoop()
	s.stopRecording(StopLeft)
	s.leave()
	s.terminate(websocket.CloseNormalClosure, "")
	<-writerDone
	// Read on until the client's close frame or the grace deadline set by
	// the writer: closing with unread data makes the kernel send a reset,
	// which can destroy the close frame before the client reads it.
	for {
		if _, _, err := s.conn.NextReader(); err != nil {
			break
		}
	}
	_ = s.conn.Close()
}

func (s *Session) readLoop() {
	sc := s.hub.cfg.Signaling
	timeout := sc.PongTimeout.D()
	s.conn.SetReadLimit(int64(sc.MaxMessageBytes))
	_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
	s.conn.SetPongHandler(func(string) error {
		return s.conn.SetReadDeadline(time.Now().Add(timeout))
	})
	for {
		typ, data, err := s.conn.ReadMessage()
		if err != nil {
			var ne interface{ Timeout() bool }
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				s.log.Info("session closed: message too big", "limit", sc.MaxMessageBytes)
			case errors.As(err, &ne) && ne.Timeout():
				s.log.Info("session closed: no keep-alive", "timeout", timeout)
				s.terminate(websocket.ClosePolicyViolation, ErrKeepaliveTimeout)
			}
			return
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
		if !s.limiter.allow(time.Now()) {
			s.strikes++
			if s.strikes > 2*sc.MessageBurst {
				s.log.Info("session closed: too many messages")
				s.bye(ErrTooManyMessages, "too many messages; the connection is closed", websocket.ClosePolicyViolation)
				return
			}
			s.sendError(nil, ErrRateLimited, fmt.Sprintf("more than %g messages per second; message dropped", sc.MessagesPerSecond))
			continue
		}
		s.strikes = 0
		if typ != websocket.TextMessage {
			s.sendError(nil, ErrBadJSON, "binary messages are not part of the protocol")
			continue
		}
		if s.handle(data) {
			return
		}
	}
}

// writeLoop sends queued messages and keep-alive pings until the session
// is terminated, then sends what is still queued and a close frame.
func (s *Session) writeLoop() {
	ping := time.NewTicker(s.hub.cfg.Signaling.PingInterval.D())
	defer ping.Stop()
	for {
		select {
		case b := <-s.send:
			if !s.write(b) {
				s.terminate(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-ping.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				s.terminate(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-s.quit:
			for {
				select {
				case b := <-s.send:
					if !s.write(b) {
						return
					}
					continue
				default:
				}
				break
			}
			if s.closeC != websocket.CloseAbnormalClosure {
				msg := websocket.FormatCloseMessage(s.closeC, s.closeR)
				_ = s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeTimeout))
			}
			// Let the read loop see the client's close frame, or give up.
			_ = s.conn.SetReadDeadline(time.Now().Add(closeGrace))
			return
		}
	}
}

func (s *Session) write(b []byte) bool {
	_ = s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return s.conn.WriteMessage(websocket.TextMessage, b) == nil
}

// terminate ends the session with a close code. Safe to call from any
// goroutine, any number of times; the first call wins.
func (s *Session) terminate(code int, reason string) {
	s.once.Do(func() {
		s.closeC, s.closeR = code, reason
		close(s.quit)
	})
}

// goAway ends a member's stay in its room: a websocket session is told
// why and closed, a WHIP session ended.
func (s *Session) goAway(code, message string) {
	if s.headless {
		s.hub.endLater(s)
		return
	}
	s.bye(code, message, websocket.CloseNormalClosure)
}

// bye tells the client why the server ends the session, then ends it.
func (s *Session) bye(code, message string, closeCode int) {
	s.enqueue(byeMessage{Type: TypeBye, Code: code, Message: message})
	s.terminate(closeCode, code)
}

// enqueue queues a message without blocking. A client too slow to take
// its messages is dropped.
func (s *Session) enqueue(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode message", "err", err)
		return
	}
	s.enqueueBytes(b)
}

func (s *Session) enqueueBytes(b []byte) {
	if s.headless {
		return
	}
	select {
	case <-s.quit:
		return
	default:
	}
	select {
	case s.send <- b:
	default:
		s.log.Info("session closed: client too slow", "queued", len(s.send))
		s.terminate(websocket.CloseTryAgainLater, ErrTooSlow)
	}
}

func (s *Session) sendError(req json.RawMessage, code, message string) {
	s.enqueue(errorMessage{Type: TypeError, Req: req, Code: code, Message: message})
}

// handle processes one message; it returns true when the session should end.
func (s *Session) handle(data []byte) bool {
	var m clientMessage
	if err := json.Unmarshal(data, &m); err != nil {
		s.sendError(nil, ErrBadJSON, "the message is not a JSON object of the protocol: "+err.Error())
		return false
	}
	if len(m.Req) > maxReqBytes {
		s.sendError(nil, ErrBadRequest, fmt.Sprintf("req is longer than %d bytes", maxReqBytes))
		return false
	}
	switch m.Type {
	case TypePing:
		s.enqueue(pongMessage{Type: TypePong, Req: m.Req})
		return false
	case TypeJoin:
		s.join(&m)
		return false
	case TypeLeave:
		return true
	case TypeChat, TypeOffer, TypeAnswer, TypeCandidate, TypeRecordStart, TypeRecordStop, TypeClipPublish, TypeClipDelete,
		TypeCall, TypeCallAccept, TypeCallDecline, TypeHangup, TypeKick, TypeClearClips, TypeCloseRoom, TypeOpenRoom:
		if s.room == nil {
			s.sendError(m.Req, ErrNotJoined, "join a room first")
			return false
		}
	case "":
		s.sendError(m.Req, ErrBadRequest, "the message has no type")
		return false
	default:
		s.sendError(m.Req, ErrUnknownType, fmt.Sprintf("unknown message type %q", truncate(m.Type, 40)))
		return false
	}
	switch m.Type {
	case TypeChat:
		s.chat(&m)
	case TypeOffer:
		s.offer(&m)
	case TypeAnswer:
		s.answer(&m)
	case TypeCandidate:
		s.candidate(&m)
	case TypeRecordStart:
		s.recordStart(&m)
	case TypeRecordStop:
		s.stopRecording(StopRequested)
	case TypeClipPublish:
		s.clipPublish(&m)
	case TypeClipDelete:
		s.clipDelete(&m)
	case TypeCall:
		s.callStart(&m)
	case TypeCallAccept:
		s.callAccept(&m)
	case TypeCallDecline:
		s.callDecline(&m)
	case TypeHangup:
		s.hangup(&m)
	case TypeKick:
		s.kick(&m)
	case TypeClearClips:
		s.clearClips(&m)
	case TypeCloseRoom:
		s.closeRoom(&m, true)
	case TypeOpenRoom:
		s.closeRoom(&m, false)
	}
	return false
}

func (s *Session) join(m *clientMessage) {
	if s.room != nil {
		s.sendError(m.Req, ErrAlreadyJoined, "already in room "+s.room.cfg.Name)
		return
	}
	room := s.hub.rooms[m.Room]
	if room == nil {
		s.sendError(m.Req, ErrNoRoom, fmt.Sprintf("there is no room %q", truncate(m.Room, 64)))
		return
	}
	adm := s.hub.admit(room, credentials{name: m.Name, password: m.Password, token: m.Token, ip: s.ip})
	if adm.code != "" {
		s.sendError(m.Req, adm.code, adm.msg)
		return
	}
	s.role, s.proven = adm.role, adm.proven
	ownerKey := m.OwnerKey
	if ownerKey == "" {
		ownerKey = newKey()
	} else if err := checkOwnerKey(ownerKey); err != nil {
		s.sendError(m.Req, ErrBadOwnerKey, err.Error())
		return
	}
	if code, msg := s.joinAs(room, adm.name, ownerKey, m.Req); code != "" {
		s.sendError(m.Req, code, msg)
	}
}

// joinAs joins room under name. When the name's holder must give way to
// this session (see joinRoom), it waits for the holder to leave, then
// joins in its place.
func (s *Session) joinAs(room *Room, name, ownerKey string, req json.RawMessage) (code, msg string) {
	code, msg = s.joinRoom(room, name, ownerKey, req)
	if code != codeReplacing {
		return code, msg
	}
	select {
	case <-s.replaced.left:
		code, msg = s.joinRoom(room, name, ownerKey, req)
	case <-time.After(replaceWait):
		code = codeReplacing
	}
	s.replaced = nil
	if code == codeReplacing {
		code, msg = ErrNameTaken, fmt.Sprintf("the name %q is in use in this room", name)
	}
	return code, msg
}

// codeReplacing is joinRoom's answer when the name's holder was told to
// go (s.replaced): an earlier session of the same owner key, or one that
// did not prove the name when this one did.
const codeReplacing = "replacing"

// replaceWait bounds the wait for a replaced session to leave.
const replaceWait = 5 * time.Second

// joinRoom makes the session a member of room, tells it and the others,
// and joins the room's media. It returns an error code and message if the
// room refuses.
func (s *Session) joinRoom(room *Room, name, ownerKey string, req json.RawMessage) (code, msg string) {
	room.mu.Lock()
	if room.shut && s.role != RoleOperator {
		room.mu.Unlock()
		return ErrRoomClosed, "an operator has closed this room"
	}
	if len(room.members) >= room.cfg.MaxParticipants {
		room.mu.Unlock()
		return ErrRoomFull, fmt.Sprintf("the room is full (%d participants)", room.cfg.MaxParticipants)
	}
	peers := make([]Peer, 0, len(room.members)+1)
	key := nameKey(name)
	for _, o := range room.members {
		if nameKey(o.name) == key {
			room.mu.Unlock()
			switch {
			case s.replaced != nil: // a second holder, or the first one back
			case o.owner == clips.OwnerOf(ownerKey):
				s.log.Info("rejoin replaces the earlier session", "room", room.cfg.Name, "participant", o.id)
				o.goAway(ErrReplaced, "you joined this room again from elsewhere")
				s.replaced = o
				return codeReplacing, ""
			case s.proven && !o.proven:
				s.log.Info("a proven name takes over from an unproven holder", "room", room.cfg.Name, "participant", o.id, "name", name)
				o.goAway(ErrNameClaimed, fmt.Sprintf("the name %q belongs to someone who has proven it; join under another name", o.name))
				s.replaced = o
				return codeReplacing, ""
			}
			return ErrNameTaken, fmt.Sprintf("the name %q is in use in this room", name)
		}
		peers = append(peers, Peer{ID: o.id, Name: o.name})
	}
	s.id, s.name, s.room, s.owner = newID(), name, room, clips.OwnerOf(ownerKey)
	peers = append(peers, Peer{ID: s.id, Name: s.name})
	var ice []ICEServer
	if s.hub.cfg.ICEServers != nil {
		ice = s.hub.cfg.ICEServers(s.id)
	}
	if ice == nil {
		ice = []ICEServer{}
	}
	info := RoomInfo{Room: room.cfg, Live: room.cfg.Mode.Live(), Participants: len(room.members) + 1}
	history, offline := s.chatMemory(room)
	s.enqueue(joinedMessage{Type: TypeJoined, Req: req, Protocol: ProtocolVersion, ID: s.id, Name: s.name, Room: info, Participants: peers, ICEServers: ice,
		OwnerKey: ownerKey, Role: s.role, History: history, Offline: offline})
	joined, _ := json.Marshal(presenceMessage{Type: TypeParticipantJoined, Participant: Peer{ID: s.id, Name: s.name}})
	for _, o := range room.members {
		o.enqueueBytes(joined)
	}
	room.members[s.id] = s
	room.mu.Unlock()
	s.log.Info("joined", "room", room.cfg.Name, "participant", s.id, "name", s.name, "whip", s.headless)

	peer, err := room.media.Join(s.id, s.name, s)
	if err != nil {
		s.log.Error("media join", "room", room.cfg.Name, "err", err)
		return ErrInternal, "the room's media is not available"
	}
	room.mu.Lock()
	s.peer = peer
	if c := s.callRejoinLocked(); c != nil {
		if o := c.other(s).s; o != nil && o.peer != nil {
			room.setPartnersLocked(peer, o.peer)
		}
	}
	room.mu.Unlock()
	return "", ""
}

// leave removes the session from its room, if it joined one. Later calls
// do nothing.
func (s *Session) leave() {
	select {
	case <-s.left:
		return
	default:
	}
	defer s.leftOnce.Do(func() { close(s.left) })
	room := s.room
	if room == nil {
		return
	}
	room.mu.Lock()
	delete(room.members, s.id)
	s.callLeftLocked()
	left, _ := json.Marshal(presenceMessage{Type: TypeParticipantLeft, Participant: Peer{ID: s.id, Name: s.name}})
	for _, o := range room.members {
		o.enqueueBytes(left)
	}
	room.mu.Unlock()
	if s.peer != nil {
		s.peer.Leave()
	}
	s.recMu.Lock()
	a := s.archiver
	s.archiver = nil
	s.recMu.Unlock()
	if a != nil {
		a.Close()
	}
	s.log.Info("left", "room", room.cfg.Name, "participant", s.id)
}

func (s *Session) chat(m *clientMessage) {
	if err := checkChat(m.Text, s.hub.cfg.Signaling.MaxChatLength); err != nil {
		s.sendError(m.Req, ErrBadRequest, err.Error())
		return
	}
	now := time.Now()
	from := Peer{ID: s.id, Name: s.name}
	room := s.room
	if m.ToName != "" {
		s.chatByName(m, from, now)
		return
	}
	msg, _ := json.Marshal(chatMessage{Type: TypeChat, From: from, To: m.To, Text: m.Text, TS: timestamp(now)})
	room.mu.Lock()
	defer room.mu.Unlock()
	if m.To == "" {
		for _, o := range room.members {
			o.enqueueBytes(msg)
		}
		if chat := s.hub.cfg.Chat; chat != nil {
			// Under the room's lock, so that the history is in the order
			// the room saw.
			if err := chat.Append(room.cfg.Name, chatlog.Entry{From: chatlog.Peer(from), Text: m.Text, TS: now}); err != nil {
				s.log.Error("chat history", "room", room.cfg.Name, "err", err)
			}
		}
		return
	}
	to := room.members[m.To]
	if to == nil {
		s.sendError(m.Req, ErrNoSuchPeer, "the recipient is not in the room")
		return
	}
	to.enqueueBytes(msg)
	if to != s {
		s.enqueueBytes(msg)
	}
}

// chatByName sends a private message to a name: at once when someone of
// that name is in the room, else kept until they join.
func (s *Session) chatByName(m *clientMessage, from Peer, now time.Time) {
	toName, err := cleanName(m.ToName, s.hub.cfg.Signaling.MaxNameLength)
	if err != nil {
		s.sendError(m.Req, ErrBadName, "to_name: "+err.Error())
		return
	}
	m.ToName = toName // kept as names are, so that its holder finds it
	room := s.room
	room.mu.Lock()
	for _, o := range room.members {
		if sameName(o.name, m.ToName) {
			msg, _ := json.Marshal(chatMessage{Type: TypeChat, From: from, To: o.id, Text: m.Text, TS: timestamp(now)})
			o.enqueueBytes(msg)
			if o != s {
				s.enqueueBytes(msg)
			}
			room.mu.Unlock()
			return
		}
	}
	room.mu.Unlock()
	chat := s.hub.cfg.Chat
	if chat == nil {
		s.sendError(m.Req, ErrNoSuchPeer, "nobody of that name is in the room, and this server keeps no messages")
		return
	}
	_, err = chat.Leave(room.cfg.Name, chatlog.Entry{From: chatlog.Peer(from), ToName: m.ToName, Text: m.Text, TS: now})
	switch {
	case errors.Is(err, chatlog.ErrMailboxFull):
		s.sendError(m.Req, ErrMailboxFull, fmt.Sprintf("too many messages are already waiting for %q", m.ToName))
		return
	case err != nil:
		s.log.Error("offline message", "room", room.cfg.Name, "err", err)
		s.sendError(m.Req, ErrInternal, "the message could not be kept")
		return
	}
	s.enqueue(chatMessage{Type: TypeChat, From: from, ToName: m.ToName, Queued: true, Text: m.Text, TS: timestamp(now)})
}

// chatMemory returns the history and the waiting messages a joiner gets.
// Called locked (room.mu), with the name's holder settled.
func (s *Session) chatMemory(room *Room) (history, offline []chatMessage) {
	history, offline = []chatMessage{}, []chatMessage{}
	chat := s.hub.cfg.Chat
	if chat == nil || s.headless {
		return history, offline
	}
	for _, e := range chat.History(room.cfg.Name) {
		history = append(history, chatMessage{Type: TypeChat, From: Peer(e.From), Text: e.Text, TS: timestamp(e.TS)})
	}
	waiting, err := chat.Collect(room.cfg.Name, s.name, s.owner)
	if err != nil {
		s.log.Error("offline messages", "room", room.cfg.Name, "err", err)
	}
	for _, e := range waiting {
		offline = append(offline, chatMessage{Type: TypeChat, From: Peer(e.From), ToName: e.ToName, Offline: true, Text: e.Text, TS: timestamp(e.TS)})
	}
	chat.Seen(room.cfg.Name, s.name, s.owner)
	return history, offline
}

func (s *Session) offer(m *clientMessage) {
	if m.PC != sfu.PCPublish {
		s.sendError(m.Req, ErrBadRequest, `offers are sent on the "publish" connection; the server offers on "subscribe"`)
		return
	}
	if m.SDP == "" {
		s.sendError(m.Req, ErrBadSDP, "the offer has no sdp")
		return
	}
	answer, err := s.peer.HandleOffer(m.SDP)
	if err != nil {
		s.sendError(m.Req, ErrBadSDP, err.Error())
		return
	}
	s.recMu.Lock()
	s.pubSending = countSending(m.SDP)
	s.recMu.Unlock()
	s.enqueue(sdpMessage{Type: TypeAnswer, Req: m.Req, PC: sfu.PCPublish, SDP: answer})
}

func (s *Session) answer(m *clientMessage) {
	if m.PC != sfu.PCSubscribe {
		s.sendError(m.Req, ErrBadRequest, `answers are sent on the "subscribe" connection`)
		return
	}
	if err := s.peer.HandleAnswer(m.SDP); err != nil {
		code := ErrBadSDP
		if errors.Is(err, sfu.ErrNoOffer) {
			code = ErrNoOffer
		}
		s.sendError(m.Req, code, err.Error())
	}
}

func (s *Session) candidate(m *clientMessage) {
	if m.Candidate == nil {
		s.sendError(m.Req, ErrBadCandidate, "the message has no candidate")
		return
	}
	if m.Candidate.Candidate == "" {
		return // end of candidates
	}
	c := webrtc.ICECandidateInit{
		Candidate:        m.Candidate.Candidate,
		SDPMid:           m.Candidate.SDPMid,
		SDPMLineIndex:    m.Candidate.SDPMLineIndex,
		UsernameFragment: m.Candidate.UsernameFragment,
	}
	if err := s.peer.AddCandidate(m.PC, c); err != nil {
		s.sendError(m.Req, ErrBadCandidate, err.Error())
	}
}

// SubscribeOffer implements sfu.Signaler.
func (s *Session) SubscribeOffer(sdp string) {
	s.enqueue(sdpMessage{Type: TypeOffer, PC: sfu.PCSubscribe, SDP: sdp})
}

// TrackPublished implements sfu.Signaler: in live rooms that archive, the
// new track joins the participant's talk-spurt archive; a WHIP session in
// a clip room may start its clip, and a record-start waiting for the
// session's audio track starts.
func (s *Session) TrackPublished(up *sfu.UpTrack) {
	if s.whip != nil {
		s.whip.trackPublished()
	}
	s.recordWaitTrack()
	room := s.room
	if room == nil || !room.cfg.Mode.Live() || !room.cfg.Archive || s.hub.cfg.Store == nil {
		return
	}
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if s.archiver == nil {
		s.archiver = s.newArchiver()
	}
	s.archiver.Add(up)
}

// MediaProblem implements sfu.Signaler. A WHIP session whose connection
// failed has ended.
func (s *Session) MediaProblem(pc, code, message string) {
	if s.headless && code == ErrMediaFailed {
		s.hub.endLater(s)
		return
	}
	s.enqueue(errorMessage{Type: TypeError, Code: code, Message: message, PC: pc})
}

// newID returns an unguessable participant id.
func newID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return "p" + base64.RawURLEncoding.EncodeToString(b[:])
}

// newKey returns a new owner key: 256 random bits.
func newKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
