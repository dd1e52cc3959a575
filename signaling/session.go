package signaling

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"parley/chatlog"
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

// Session is one websocket connection: the kind of member that is someone
// at a client. Its read loop runs on the HTTP handler's goroutine and
// handles messages one at a time; a second goroutine writes.
type Session struct {
	*membership
	conn   *websocket.Conn
	send   outbox
	quit   chan struct{} // closed by terminate
	once   sync.Once
	closeC int    // close code, set before quit is closed
	closeR string // close reason

	limiter tokenBucket
	strikes int         // consecutive messages refused for rate
	reports tokenBucket // client-error reports (see clienterrors.go)
	// keepalive is the ping interval and pong timeout the session
	// started with: a reload changes them for later sessions only.
	pingInterval, pongTimeout time.Duration

	// Under recMu.
	recWait    *recordWait // a record-start waiting for the published tracks
	pubSending int         // how many tracks the latest publish offer sends
}

func newSession(h *Hub, conn *websocket.Conn, remote string, ip netip.Addr) *Session {
	sc := h.limit().Signaling
	s := &Session{
		conn:         conn,
		send:         outbox{ready: make(chan struct{}, 1)},
		quit:         make(chan struct{}),
		limiter:      newTokenBucket(sc.MessageBurst),
		reports:      newTokenBucket(reportBurst),
		pingInterval: sc.PingInterval.D(),
		pongTimeout:  sc.PongTimeout.D(),
	}
	s.membership = newMembership(h, s, h.log.With("remote", remote), ip)
	return s
}

// run serves the session until the connection ends.
func (s *Session) run() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop()
	}()
	s.readLoop()
	s.stopRecording(StopLeft, nil)
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
	timeout := s.pongTimeout
	_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
	s.conn.SetPongHandler(func(string) error {
		return s.conn.SetReadDeadline(time.Now().Add(timeout))
	})
	for {
		// The size limit in force when the read of a message begins, and
		// the other limits in force when it has arrived (Hub.SetLimits).
		limit := s.hub.limit().Signaling.MaxMessageBytes
		s.conn.SetReadLimit(int64(limit))
		typ, data, err := s.conn.ReadMessage()
		sc := s.hub.limit().Signaling
		if err != nil {
			var ne interface{ Timeout() bool }
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				s.log.Info("session closed: message too big", "limit", limit)
			case errors.As(err, &ne) && ne.Timeout():
				s.log.Info("session closed: no keep-alive", "timeout", timeout)
				s.terminate(websocket.ClosePolicyViolation, ErrKeepaliveTimeout)
			}
			return
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
		if !s.limiter.allow(time.Now(), sc.MessagesPerSecond, sc.MessageBurst) {
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
	ping := time.NewTicker(s.pingInterval)
	defer ping.Stop()
	for {
		select {
		case <-s.send.ready:
			for b, ok := s.send.pop(); ok; b, ok = s.send.pop() {
				if !s.write(b) {
					s.terminate(websocket.CloseAbnormalClosure, "")
					return
				}
			}
		case <-ping.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				s.terminate(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-s.quit:
			for b, ok := s.send.pop(); ok; b, ok = s.send.pop() {
				if !s.write(b) {
					return
				}
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

// goAway implements member: the client is told why, and the session
// closed.
func (s *Session) goAway(code, message string, closeCode int) {
	s.bye(code, message, closeCode)
}

// bye tells the client why the server ends the session, then ends it.
func (s *Session) bye(code, message string, closeCode int) {
	s.enqueue(byeMessage{Type: TypeBye, Code: code, Message: message})
	s.terminate(closeCode, code)
}

// deliver implements member: it queues a message without blocking. A
// client too slow to take its messages is dropped.
func (s *Session) deliver(b []byte) {
	select {
	case <-s.quit:
		return
	default:
	}
	if !s.send.push(b) {
		s.log.Info("session closed: client too slow", "queued", sendQueue)
		s.terminate(websocket.CloseTryAgainLater, ErrTooSlow)
	}
}

// outbox is a session's queue of messages for its client, at most
// sendQueue of them. Its room grows with what waits and goes when the
// writer has taken everything: a channel of sendQueue slots cost every
// session 6 KB for its lifetime, and most sessions have nothing waiting
// most of the time.
type outbox struct {
	mu    sync.Mutex
	msgs  [][]byte
	ready chan struct{} // one slot: something was queued since the writer last looked
}

// push queues b, unless sendQueue messages wait already.
func (o *outbox) push(b []byte) bool {
	o.mu.Lock()
	if len(o.msgs) >= sendQueue {
		o.mu.Unlock()
		return false
	}
	o.msgs = append(o.msgs, b)
	o.mu.Unlock()
	select {
	case o.ready <- struct{}{}:
	default:
	}
	return true
}

// pop takes the oldest message, if any.
func (o *outbox) pop() ([]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.msgs) == 0 {
		return nil, false
	}
	b := o.msgs[0]
	o.msgs[0] = nil
	o.msgs = o.msgs[1:]
	if len(o.msgs) == 0 {
		o.msgs = nil // the room goes with the last message
	}
	return b, true
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
	case TypeClientError:
		s.clientError(&m, time.Now())
		return false
	case TypeChat, TypeOffer, TypeAnswer, TypeCandidate, TypeRecordStart, TypeRecordStop, TypeRecordCancel, TypeClipPublish, TypeClipDelete, TypeClipPlayed,
		TypeCall, TypeCallAccept, TypeCallDecline, TypeHangup, TypeKick, TypeClearClips, TypeCloseRoom, TypeOpenRoom, TypeVideoSize, TypeDownlink,
		TypeStation, TypeStationCommand:
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
		s.stopRecording(StopRequested, m.Req)
	case TypeRecordCancel:
		s.cancelRecording(m.Req)
	case TypeClipPublish:
		s.clipPublish(&m)
	case TypeClipDelete:
		s.clipDelete(&m)
	case TypeClipPlayed:
		s.clipPlayed(&m)
	case TypeCall:
		s.callStart(&m)
	case TypeCallAccept:
		s.callAccept(&m)
	case TypeCallDecline:
		s.callDecline(&m)
	case TypeHangup:
		s.hangup(&m)
	case TypeVideoSize:
		s.videoSize(&m)
	case TypeDownlink:
		s.downlink(&m)
	case TypeStation:
		s.stationUpdate(&m)
	case TypeStationCommand:
		s.stationCommand(&m)
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
		s.sendError(m.Req, ErrAlreadyJoined, "already in room "+s.room.cfg().Name)
		return
	}
	room := s.hub.room(m.Room)
	if room == nil {
		s.sendError(m.Req, ErrNoRoom, fmt.Sprintf("there is no room %q", truncate(m.Room, 64)))
		return
	}
	if s.placedElsewhere(room, m.Req) {
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
		return
	}
	s.rejoinCall()
}

// placedElsewhere sends the client to the node of the cluster the room
// lives on, and reports whether it did (or could not tell where the room
// lives, which the client is told). The node the room lives on checks
// the joiner's credentials.
func (s *Session) placedElsewhere(room *Room, req json.RawMessage) bool {
	p := s.hub.cfg.Placement
	if p == nil {
		return false
	}
	name := room.cfg().Name
	ctx, cancel := context.WithTimeout(context.Background(), placeTimeout)
	owner, err := p.Place(ctx, name)
	cancel()
	if err != nil {
		s.log.Warn("join: where the room lives is unknown", "room", name, "err", err)
		s.sendError(req, ErrInternal, "the server cannot tell where the room lives now; try again")
		return true
	}
	if owner == "" {
		return false
	}
	s.enqueue(redirectMessage{Type: TypeRedirect, Req: req, Room: name, URL: WebSocketURL(owner)})
	s.terminate(websocket.CloseNormalClosure, TypeRedirect)
	return true
}

// welcomeLocked implements member: the session is told it has joined,
// with the room's chat memory. Called locked (room.mu).
func (s *Session) welcomeLocked(peers []Peer, ownerKey string, req json.RawMessage) {
	room := s.room
	var ice []ICEServer
	if s.hub.cfg.ICEServers != nil {
		ice = s.hub.cfg.ICEServers(s.id)
	}
	if ice == nil {
		ice = []ICEServer{}
	}
	info := RoomInfo{Room: room.cfg(), Live: room.cfg().Mode.Live(), Participants: len(room.members) + 1, Closed: room.shut}
	if store := s.hub.cfg.Store; store != nil {
		// The store's lock is never held while this one is taken.
		info.UsedBytes, _ = store.Usage(room.cfg().Name)
	}
	history, offline := s.chatMemory(room)
	s.enqueue(joinedMessage{Type: TypeJoined, Req: req, Protocol: ProtocolVersion, ID: s.id, Name: s.name, Room: info, Participants: peers, ICEServers: ice,
		OwnerKey: ownerKey, Role: s.role, History: history, Offline: offline})
	s.tellStationsLocked()
}

// leavingLocked implements member: a call of the session's waits for it
// or ends. Called locked (room.mu).
func (s *Session) leavingLocked() { s.callLeftLocked() }

func (s *Session) chat(m *clientMessage) {
	if err := checkChat(m.Text, s.hub.limit().Signaling.MaxChatLength); err != nil {
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
			o.deliver(msg)
		}
		if chat := s.hub.cfg.Chat; chat != nil {
			// Under the room's lock, so that the history is in the order
			// the room saw.
			if err := chat.Append(room.cfg().Name, chatlog.Entry{From: chatlog.Peer(from), Text: m.Text, TS: now}); err != nil {
				s.log.Error("chat history", "room", room.cfg().Name, "err", err)
			}
		}
		return
	}
	to := room.members[m.To]
	if to == nil {
		s.sendError(m.Req, ErrNoSuchPeer, "the recipient is not in the room")
		return
	}
	to.deliver(msg)
	if to != member(s) {
		s.deliver(msg)
	}
}

// chatByName sends a private message to a name: at once when someone of
// that name is in the room, else kept until they join.
func (s *Session) chatByName(m *clientMessage, from Peer, now time.Time) {
	toName, err := cleanName(m.ToName, s.hub.limit().Signaling.MaxNameLength)
	if err != nil {
		s.sendError(m.Req, ErrBadName, "to_name: "+err.Error())
		return
	}
	m.ToName = toName // kept as names are, so that its holder finds it
	room := s.room
	room.mu.Lock()
	for _, om := range room.members {
		if o := om.base(); sameName(o.name, m.ToName) {
			msg, _ := json.Marshal(chatMessage{Type: TypeChat, From: from, To: o.id, Text: m.Text, TS: timestamp(now)})
			om.deliver(msg)
			if om != member(s) {
				s.deliver(msg)
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
	_, err = chat.Leave(room.cfg().Name, chatlog.Entry{From: chatlog.Peer(from), ToName: m.ToName, Text: m.Text, TS: now})
	switch {
	case errors.Is(err, chatlog.ErrMailboxFull):
		s.sendError(m.Req, ErrMailboxFull, fmt.Sprintf("too many messages are already waiting for %q", m.ToName))
		return
	case err != nil:
		s.log.Error("offline message", "room", room.cfg().Name, "err", err)
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
	if chat == nil {
		return history, offline
	}
	for _, e := range chat.History(room.cfg().Name) {
		history = append(history, chatMessage{Type: TypeChat, From: Peer(e.From), Text: e.Text, TS: timestamp(e.TS)})
	}
	waiting, err := chat.Collect(room.cfg().Name, s.name, s.owner)
	if err != nil {
		s.log.Error("offline messages", "room", room.cfg().Name, "err", err)
	}
	for _, e := range waiting {
		offline = append(offline, chatMessage{Type: TypeChat, From: Peer(e.From), ToName: e.ToName, Offline: true, Text: e.Text, TS: timestamp(e.TS)})
	}
	chat.Seen(room.cfg().Name, s.name, s.owner)
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

// videoSize takes the size at which the client shows a video it
// receives: the SFU sends no larger layer than that needs, and none for a
// hidden one.
func (s *Session) videoSize(m *clientMessage) {
	if m.Track == "" || m.Width == nil || m.Height == nil {
		s.sendError(m.Req, ErrBadRequest, "video-size needs track, width and height")
		return
	}
	if s.peer == nil {
		return
	}
	if !s.peer.SetVideoSize(m.Track, *m.Width, *m.Height) {
		s.sendError(m.Req, ErrBadRequest, "width and height are pixels, from 0 to 16384")
	}
}

// downlink answers with what the server knows of the member's downlink.
func (s *Session) downlink(m *clientMessage) {
	out := downlinkMessage{Type: TypeDownlink, Req: m.Req, Videos: []videoLayer{}}
	if s.peer != nil {
		d := s.peer.Downlink()
		out.Estimate = int64(d.Estimate)
		for _, v := range d.Videos {
			out.Videos = append(out.Videos, videoLayer{Track: v.Track, Layer: v.Layer, Target: v.Target, Layers: v.Layers, Paused: v.Paused, Hidden: v.Hidden})
		}
	}
	s.enqueue(out)
}

// SubscribeOffer implements sfu.Signaler.
func (s *Session) SubscribeOffer(sdp string) {
	s.enqueue(sdpMessage{Type: TypeOffer, PC: sfu.PCSubscribe, SDP: sdp})
}

// TrackPublished implements sfu.Signaler: a record-start waiting for the
// session's tracks may start, and in live rooms that archive, the track
// joins the session's talk-spurt archive.
func (s *Session) TrackPublished(up *sfu.UpTrack) {
	s.recordWaitTrack()
	s.archiveTrack(up)
}

// MediaProblem implements sfu.Signaler: the client is told.
func (s *Session) MediaProblem(pc, code, message string) {
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
