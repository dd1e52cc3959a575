package signaling

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"parley/clips"
	"parley/configs"
)

// ProtocolVersion is the version of the websocket protocol the server
// speaks, announced in every joined message. It changes when a message a
// client relies on changes incompatibly; added messages and fields do not
// change it (clients ignore what they do not know).
const ProtocolVersion = 1

// Message types, client to server.
const (
	TypeJoin      = "join"
	TypeLeave     = "leave"
	TypeChat      = "chat"
	TypeOffer     = "offer"
	TypeAnswer    = "answer"
	TypeCandidate = "candidate"
	TypePing      = "ping"
	// TypeClientError reports an error on the client's side (see
	// clienterrors.go); it needs no room.
	TypeClientError = "client-error"

	TypeRecordStart = "record-start"
	TypeRecordStop  = "record-stop"
	TypeClipPublish = "clip-publish"
	TypeClipDelete  = "clip-delete"
	TypeClipPlayed  = "clip-played"
	TypeCall        = "call"
	TypeCallAccept  = "call-accept"
	TypeCallDecline = "call-decline"
	TypeHangup      = "hangup"
	TypeVideoSize   = "video-size"
	TypeDownlink    = "downlink"

	TypeRecordCancel = "record-cancel" // ends a recording and discards it

	// Camera stations (station.go); station-command goes both ways.
	TypeStation        = "station"
	TypeStationCommand = "station-command"

	// Operators only.
	TypeKick       = "kick"
	TypeClearClips = "clear-clips"
	TypeCloseRoom  = "close-room"
	TypeOpenRoom   = "open-room"
)

// Message types, server to client (besides chat, offer, answer).
const (
	TypeJoined            = "joined"
	TypeParticipantJoined = "participant-joined"
	TypeParticipantLeft   = "participant-left"
	TypeSpeaking          = "speaking"
	TypeViewers           = "viewers"
	TypeVideoPaused       = "video-paused"
	TypePong              = "pong"
	TypeError             = "error"
	TypeBye               = "bye"
	TypeRecording         = "recording"
	TypeRecordStopped     = "record-stopped"
	TypeClipAdded         = "clip-added"
	TypeClipUpdated       = "clip-updated"
	TypeClipRemoved       = "clip-removed"
	TypeCallRinging       = "call-ringing"
	TypeCallIncoming      = "call-incoming"
	TypeCallStarted       = "call-started"
	TypeCallHeld          = "call-held"
	TypeCallEnded         = "call-ended"
	TypeClipsCleared      = "clips-cleared"
	TypeRoomState         = "room-state"
	TypeStationState      = "station-state"
	// TypeRedirect sends a joiner to the node of a cluster its room
	// lives on; the server then closes the websocket.
	TypeRedirect = "redirect"
)

// Error codes carried by error messages. docs/protocol.md lists them with
// their meaning; a client can rely on them, the message text is for people.
const (
	ErrBadJSON          = "bad-json"
	ErrUnknownType      = "unknown-type"
	ErrBadRequest       = "bad-request"
	ErrRateLimited      = "rate-limited"
	ErrNoRoom           = "no-room"
	ErrBadName          = "bad-name"
	ErrNameTaken        = "name-taken"
	ErrRoomFull         = "room-full"
	ErrNotJoined        = "not-joined"
	ErrAlreadyJoined    = "already-joined"
	ErrNoSuchPeer       = "no-such-participant"
	ErrMailboxFull      = "mailbox-full"
	ErrBadSDP           = "bad-sdp"
	ErrNoOffer          = "no-offer"
	ErrBadCandidate     = "bad-candidate"
	ErrInternal         = "internal"
	ErrServerShutdown   = "server-shutdown"
	ErrReplaced         = "replaced"
	ErrNameClaimed      = "name-claimed"
	ErrKicked           = "kicked"
	ErrRoomClosed       = "room-closed"
	ErrRoomRemoved      = "room-removed"
	ErrRoomChanged      = "room-changed"
	ErrTooManyAttempts  = "too-many-attempts"
	ErrBadToken         = "bad-token"
	ErrTokenRequired    = "token-required"
	ErrBadPassword      = "bad-password"
	ErrPasswordRequired = "password-required"
	ErrNotOperator      = "not-operator"
	ErrTooSlow          = "too-slow"
	ErrVideoNotAllowed  = "video-not-allowed"
	ErrTooManyTracks    = "too-many-tracks"
	ErrMediaFailed      = "media-failed"
	ErrTooManyMessages  = "too-many-messages"
	ErrKeepaliveTimeout = "keepalive-timeout"
	ErrBadOwnerKey      = "bad-owner-key"
	ErrRecordNotAllowed = "record-not-allowed"
	ErrAlreadyRecording = "already-recording"
	ErrNotPublishing    = "not-publishing"
	ErrRecordFailed     = "record-failed"
	ErrEmptyClip        = "empty-clip"
	ErrNotRecording     = "not-recording"
	ErrNoSuchClip       = "no-such-clip"
	ErrForbidden        = "forbidden"
	ErrInCall           = "in-call"
	ErrNoSuchCall       = "no-such-call"

	ErrStationNotAllowed = "station-not-allowed"
	ErrBadSettings       = "bad-settings"
	ErrNotStation        = "not-a-station"
	ErrNotController     = "not-controller"
)

// clientMessage is every message a client may send; which fields matter
// depends on Type. Unknown fields are ignored, so that newer clients can
// talk to older servers.
type clientMessage struct {
	Type      string          `json:"type"`
	Req       json.RawMessage `json:"req,omitempty"`
	Room      string          `json:"room,omitempty"`
	Name      string          `json:"name,omitempty"`
	Text      string          `json:"text,omitempty"`
	To        string          `json:"to,omitempty"`
	PC        string          `json:"pc,omitempty"`
	SDP       string          `json:"sdp,omitempty"`
	Candidate *iceCandidate   `json:"candidate,omitempty"`
	OwnerKey  string          `json:"owner_key,omitempty"`
	// ToName is the recipient of a chat message by name (someone who may
	// be offline).
	ToName string `json:"to_name,omitempty"`
	// Password and Token are join credentials (see Auth).
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
	// Description is a clip's description (record-start); ID a clip's id.
	Description string `json:"description,omitempty"`
	ID          string `json:"id,omitempty"`
	// Call names a call; Video asks for a video call.
	Call  string `json:"call,omitempty"`
	Video bool   `json:"video,omitempty"`
	// Track, Width and Height: the size a video received is shown at
	// (video-size).
	Track  string `json:"track,omitempty"`
	Width  *int   `json:"width,omitempty"`
	Height *int   `json:"height,omitempty"`
	// Trigger marks a station's recording (record-start): "motion" or
	// "snapshot".
	Trigger string `json:"trigger,omitempty"`
	// Station is a station's state (station); Command and Settings a
	// command to the station To (station-command).
	Station  *stationState    `json:"station,omitempty"`
	Command  string           `json:"command,omitempty"`
	Settings *StationSettings `json:"settings,omitempty"`
	// Kind, Message and Source: an error report (client-error).
	Kind    string `json:"kind,omitempty"`
	Message string `json:"message,omitempty"`
	Source  string `json:"source,omitempty"`
}

type iceCandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Peer is a participant as others see it.
type Peer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ICEServer is an entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// RoomInfo is a room's configuration as clients see it, with its
// effective limits, and how many are in it. Members get it whole (in
// joined); the HTTP room list shows it as its listing.
type RoomInfo struct {
	configs.Room
	Live         bool `json:"live"`
	Participants int  `json:"participants"`
	Viewers      int  `json:"viewers"` // watching over WHEP (live rooms)
	// UsedBytes is what the room's clips (drafts included) take of its
	// max_room_bytes when the member joins; clip messages tell changes
	// (clipMessage.RoomBytes).
	UsedBytes int64 `json:"used_bytes"`
	// Closed says an operator has closed the room: only operators are
	// in it, and only they may join (see closeRoom).
	Closed bool `json:"closed"`
}

// roomListing is a room as GET /api/rooms and GET /api/rooms/{room} show
// it to anyone: a room whose access is not open does not tell how many
// are in it (its presence is for its members). Operators says whether
// the server has operator accounts, which may join every room with their
// password: the entry page offers a password field for them only then.
type roomListing struct {
	configs.Room
	Live         bool `json:"live"`
	Participants *int `json:"participants,omitempty"`
	Viewers      *int `json:"viewers,omitempty"`
	Operators    bool `json:"operators"`
}

func (ri RoomInfo) listing(operators bool) roomListing {
	l := roomListing{Room: ri.Room, Live: ri.Live, Operators: operators}
	if ri.Access == configs.AccessOpen {
		n, v := ri.Participants, ri.Viewers
		l.Participants, l.Viewers = &n, &v
	}
	return l
}

type joinedMessage struct {
	Type         string          `json:"type"`
	Req          json.RawMessage `json:"req,omitempty"`
	Protocol     int             `json:"protocol"` // ProtocolVersion
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Room         RoomInfo        `json:"room"`
	Participants []Peer          `json:"participants"`
	ICEServers   []ICEServer     `json:"ice_servers"`
	// OwnerKey is the client's secret identity: the one it sent, or a new
	// one when it sent none. Clips recorded by the session belong to it.
	OwnerKey string `json:"owner_key"`
	// Role is "participant" or "operator".
	Role string `json:"role"`
	// History is the room's recent chat, oldest first; Offline the
	// messages that waited for this name while it was away.
	History []chatMessage `json:"history"`
	Offline []chatMessage `json:"offline"`
}

type presenceMessage struct {
	Type        string `json:"type"`
	Participant Peer   `json:"participant"`
}

// speakingMessage tells the room that a participant started or stopped
// speaking.
type speakingMessage struct {
	Type     string `json:"type"`
	ID       string `json:"id"`
	Speaking bool   `json:"speaking"`
}

// videoPausedMessage tells a subscriber that the server paused (or
// resumed) one video it receives: its downlink does not carry even the
// video's lowest layer.
type videoPausedMessage struct {
	Type   string `json:"type"`
	ID     string `json:"id"`    // the publisher
	Track  string `json:"track"` // the track's id, as in the subscribe offer
	Paused bool   `json:"paused"`
}

// downlinkMessage answers downlink: what the server estimates the
// member's downlink at, and the layer it sends of each simulcast video.
type downlinkMessage struct {
	Type     string          `json:"type"`
	Req      json.RawMessage `json:"req,omitempty"`
	Estimate int64           `json:"estimate"` // bits per second; 0 without feedback
	Videos   []videoLayer    `json:"videos"`
}

type videoLayer struct {
	Track  string `json:"track"`
	Layer  int    `json:"layer"`  // sent now, 0 the lowest; -1 none
	Target int    `json:"target"` // switched to at its next keyframe; -1 paused
	Layers int    `json:"layers"`
	Paused bool   `json:"paused"` // for congestion
	Hidden bool   `json:"hidden"` // by video-size 0 by 0
}

type chatMessage struct {
	Type string `json:"type"`
	From Peer   `json:"from"`
	To   string `json:"to,omitempty"`
	// ToName names the recipient of a message left for someone offline;
	// Queued marks the sender's copy of one, Offline the recipient's.
	ToName  string `json:"to_name,omitempty"`
	Queued  bool   `json:"queued,omitempty"`
	Offline bool   `json:"offline,omitempty"`
	Text    string `json:"text"`
	TS      string `json:"ts"`
}

type sdpMessage struct {
	Type string          `json:"type"`
	Req  json.RawMessage `json:"req,omitempty"`
	PC   string          `json:"pc"`
	SDP  string          `json:"sdp"`
}

type errorMessage struct {
	Type    string          `json:"type"`
	Req     json.RawMessage `json:"req,omitempty"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	PC      string          `json:"pc,omitempty"`
}

type pongMessage struct {
	Type string          `json:"type"`
	Req  json.RawMessage `json:"req,omitempty"`
}

// redirectMessage answers a join for a room that lives on another node:
// URL is that node's websocket, where the client joins again.
type redirectMessage struct {
	Type string          `json:"type"`
	Req  json.RawMessage `json:"req,omitempty"`
	Room string          `json:"room"`
	URL  string          `json:"url"`
}

type byeMessage struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

type clipMessage struct {
	Type string      `json:"type"`
	Clip *clips.Clip `json:"clip,omitempty"`
	// For clip-removed: the id and why.
	ID     string `json:"id,omitempty"`
	Reason string `json:"reason,omitempty"`
	// RoomBytes and RoomClips are what the room's clips (drafts
	// included) take after the change, against max_room_bytes and
	// max_clip_count.
	RoomBytes int64 `json:"room_bytes"`
	RoomClips int   `json:"room_clips"`
}

// checkOwnerKey accepts the owner keys clients make: 22 to 128 characters
// of the URL-safe base64 alphabet (at least 128 bits of randomness).
func checkOwnerKey(k string) error {
	if n := len(k); n < 22 || n > 128 {
		return fmt.Errorf("the owner key must have 22 to 128 characters")
	}
	for _, r := range k {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("the owner key may hold only A-Z, a-z, 0-9, - and _")
		}
	}
	return nil
}

// maxReqBytes bounds the client's request tag, which the server echoes.
const maxReqBytes = 64

// checkChat validates a chat text.
func checkChat(text string, max int) error {
	if strings.TrimSpace(text) == "" {
		return fmt.Errorf("the message is empty")
	}
	if !utf8.ValidString(text) {
		return fmt.Errorf("the message is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(text); n > max {
		return fmt.Errorf("the message has %d characters; at most %d are allowed", n, max)
	}
	for _, r := range text {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return fmt.Errorf("the message contains a control character")
		}
	}
	return nil
}
