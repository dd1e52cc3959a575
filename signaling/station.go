package signaling

import (
	"encoding/json"
	"fmt"

	"parley/configs"
)

// A camera station is a session that watches its camera for motion and
// records a clip while it sees some (the motion detection runs in the
// client). It tells the server its state (station); the members allowed
// to control it — the same owner from another device, and the room's
// operators — are told that state (station-state) and may send it
// commands (station-command), which the server checks and forwards with
// who sent them. Nobody else hears of it, or may command it.

// Station commands.
const (
	CmdCameraOn  = "camera-on"
	CmdCameraOff = "camera-off"
	CmdMotionOn  = "motion-on"
	CmdMotionOff = "motion-off"
	CmdSettings  = "settings"
	CmdSnapshot  = "snapshot"
)

var stationCommands = map[string]bool{
	CmdCameraOn: true, CmdCameraOff: true, CmdMotionOn: true, CmdMotionOff: true,
	CmdSettings: true, CmdSnapshot: true,
}

// Roles of a station's controller, as the station is told (by.role).
const (
	ControllerOwner    = "owner"
	ControllerOperator = "operator"
)

// StationSettings are a station's motion detection settings. The client
// uses them; the server only checks that they are in bounds.
type StationSettings struct {
	// Sensitivity 1..100: a pixel changed when its grey level moved by
	// more than 101 - Sensitivity (of 255) between two frames.
	Sensitivity int `json:"sensitivity"`
	// MinArea 0.01..50: motion is more than this percentage of the
	// frame's pixels changed.
	MinArea float64 `json:"min_area"`
	// Stillness 1..600: seconds without motion that end a clip.
	Stillness int `json:"stillness"`
	// MaxSeconds 3..3600: the longest clip of one event; a longer event
	// goes on in a new clip. The room's max_clip_seconds bounds it too.
	MaxSeconds int `json:"max_seconds"`
	// Warmup 0..60: seconds after the camera (re)opens during which
	// changes are not motion.
	Warmup int `json:"warmup"`
}

func (st *StationSettings) check() error {
	switch {
	case st.Sensitivity < 1 || st.Sensitivity > 100:
		return fmt.Errorf("sensitivity must be 1 to 100, got %d", st.Sensitivity)
	case !(st.MinArea >= 0.01 && st.MinArea <= 50):
		return fmt.Errorf("min_area must be 0.01 to 50 (percent), got %g", st.MinArea)
	case st.Stillness < 1 || st.Stillness > 600:
		return fmt.Errorf("stillness must be 1 to 600 seconds, got %d", st.Stillness)
	case st.MaxSeconds < 3 || st.MaxSeconds > 3600:
		return fmt.Errorf("max_seconds must be 3 to 3600, got %d", st.MaxSeconds)
	case st.Warmup < 0 || st.Warmup > 60:
		return fmt.Errorf("warmup must be 0 to 60 seconds, got %d", st.Warmup)
	}
	return nil
}

// stationState is what a station says of itself (client message station)
// and what its controllers are told.
type stationState struct {
	// Active: the session is a station; false ends it.
	Active    bool             `json:"active"`
	Camera    bool             `json:"camera"`
	Motion    bool             `json:"motion"`
	Recording bool             `json:"recording"`
	Settings  *StationSettings `json:"settings,omitempty"`
}

// stationStateMessage tells a controller of a station's state.
type stationStateMessage struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
	stationState
}

// stationCommandMessage is a command forwarded to a station, with who
// sent it.
type stationCommandMessage struct {
	Type     string           `json:"type"`
	Command  string           `json:"command"`
	Settings *StationSettings `json:"settings,omitempty"`
	By       controller       `json:"by"`
}

type controller struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"` // ControllerOwner or ControllerOperator
}

// stationRoom tells whether a room may have stations: a clip room with
// video whose clips are published as they are recorded (a station's
// drafts would wait for someone to publish them, and nobody watches it).
func stationRoom(rc configs.Room) bool {
	return !rc.Mode.Live() && rc.AllowVideo && rc.Publish != configs.PublishManual
}

// controlRole returns how c may control the station st: as its owner,
// as an operator, or not at all (""). Nobody controls itself.
func controlRole(c, st *membership) string {
	switch {
	case c == st:
		return ""
	case c.owner != "" && c.owner == st.owner:
		return ControllerOwner
	case c.role == RoleOperator:
		return ControllerOperator
	}
	return ""
}

// stationUpdate handles station: the session becomes a station, tells
// its state, or stops being one. Its controllers are told.
func (s *Session) stationUpdate(m *clientMessage) {
	room := s.room
	if m.Station == nil {
		s.sendError(m.Req, ErrBadRequest, "station needs a station object")
		return
	}
	st := *m.Station
	if st.Active {
		if !stationRoom(room.cfg()) || s.hub.cfg.Store == nil {
			s.sendError(m.Req, ErrStationNotAllowed, "a camera station needs a room that records video clips and publishes them at once")
			return
		}
		if st.Settings == nil {
			s.sendError(m.Req, ErrBadSettings, "a station tells its settings")
			return
		}
		if err := st.Settings.check(); err != nil {
			s.sendError(m.Req, ErrBadSettings, err.Error())
			return
		}
	} else {
		st = stationState{}
	}
	room.mu.Lock()
	defer room.mu.Unlock()
	if !st.Active && s.station == nil {
		return
	}
	if st.Active {
		s.station = &st
	} else {
		s.station = nil
	}
	b, _ := json.Marshal(stationStateMessage{Type: TypeStationState, ID: s.id, Name: s.name, stationState: st})
	for _, om := range room.members {
		if controlRole(om.base(), s.membership) != "" {
			om.deliver(b)
		}
	}
}

// tellStationsLocked gives a joiner the state of every station of the
// room it may control. Called locked (room.mu).
func (s *Session) tellStationsLocked() {
	for _, om := range s.room.members {
		o := om.base()
		if o.station == nil || controlRole(s.membership, o) == "" {
			continue
		}
		s.enqueue(stationStateMessage{Type: TypeStationState, ID: o.id, Name: o.name, stationState: *o.station})
	}
}

// stationCommand handles station-command: a command to the station m.To,
// forwarded if the sender may control it.
func (s *Session) stationCommand(m *clientMessage) {
	if !stationCommands[m.Command] {
		s.sendError(m.Req, ErrBadRequest, fmt.Sprintf("unknown station command %q", truncate(m.Command, 40)))
		return
	}
	if m.Command == CmdSettings {
		if m.Settings == nil {
			s.sendError(m.Req, ErrBadSettings, "the settings command needs settings")
			return
		}
		if err := m.Settings.check(); err != nil {
			s.sendError(m.Req, ErrBadSettings, err.Error())
			return
		}
	} else {
		m.Settings = nil
	}
	room := s.room
	room.mu.Lock()
	defer room.mu.Unlock()
	om := room.members[m.To]
	if om == nil {
		s.sendError(m.Req, ErrNoSuchPeer, "there is no such participant in the room")
		return
	}
	st := om.base()
	if st.station == nil {
		s.sendError(m.Req, ErrNotStation, st.name+" is not a camera station")
		return
	}
	role := controlRole(s.membership, st)
	if role == "" {
		s.sendError(m.Req, ErrNotController, "only the station's owner and the room's operators may control it")
		return
	}
	s.log.Info("station command", "room", room.cfg().Name, "station", st.id, "command", m.Command, "by", s.id, "role", role)
	b, _ := json.Marshal(stationCommandMessage{Type: TypeStationCommand, Command: m.Command, Settings: m.Settings,
		By: controller{ID: s.id, Name: s.name, Role: role}})
	om.deliver(b)
}
