package signaling

import (
	"testing"

	wsclient "parley/client"
	"parley/clips"
	"parley/configs"
	"parley/internal/testmedia"
)

// stationHub is a hub with a clip store and Olga as an operator, its
// videochat room open to anyone.
func stationHub(t *testing.T) (*Hub, *clips.Store) {
	t.Helper()
	return storeHub(t, func(rooms []configs.Room) {
		roomConfig(rooms, "videochat", func(r *configs.Room) { r.Access, r.Passwords = configs.AccessOpen, nil })
	})
}

var goodSettings = map[string]any{"sensitivity": 80, "min_area": 0.5, "stillness": 5, "max_seconds": 30, "warmup": 2}

// send sends a message of the protocol from c.
func send(t *testing.T, c *wsclient.Client, v any) {
	t.Helper()
	if err := c.Send(v); err != nil {
		t.Fatal(err)
	}
}

// quiet checks that c was sent nothing before the answer to a ping.
func quiet(t *testing.T, c *wsclient.Client) {
	t.Helper()
	send(t, c, map[string]string{"type": "ping"})
	m, err := c.Next(timeout(t))
	if err != nil || m.Type != TypePong {
		t.Fatalf("before pong: %s %v", m.Raw, err)
	}
}

// TestStationControl: the station's owner from another session and the
// room's operators see a station and command it, with who they are;
// anyone else is refused, as are bad commands, bad settings, a target
// that is no station, and a target in another room.
func TestStationControl(t *testing.T) {
	h, _ := stationHub(t)
	ts := serve(t, h)
	key := newKey()
	porch := wsJoin(t, wsURL(ts), "videochat", "porch", wsclient.Options{OwnerKey: key})
	send(t, porch, map[string]any{"type": "station", "station": map[string]any{"active": true, "camera": true, "motion": true, "settings": goodSettings}})
	quiet(t, porch)

	ann := wsJoin(t, wsURL(ts), "videochat", "ann", wsclient.Options{OwnerKey: key})
	olga := wsJoin(t, wsURL(ts), "videochat", "olga", wsclient.Options{Password: "op pass"})
	eve := wsJoin(t, wsURL(ts), "videochat", "eve", wsclient.Options{})
	var porchID string
	for _, c := range []*wsclient.Client{ann, olga} {
		st := expectMsg(t, c, TypeStationState)
		porchID = field(st, "id")
		if field(st, "name") != "porch" || st["active"] != true || st["motion"] != true || st["settings"].(map[string]any)["sensitivity"] != 80.0 {
			t.Errorf("told of the station: %v", st)
		}
	}
	quiet(t, eve) // nobody else hears of it
	var eveID string
	for eveID == "" {
		if m := expectMsg(t, ann, TypeParticipantJoined); field(m, "participant", "name") == "eve" {
			eveID = field(m, "participant", "id")
		}
	}

	// Its owner and an operator command it; it is told by whom.
	send(t, ann, map[string]any{"type": "station-command", "to": porchID, "command": CmdMotionOff})
	if got := expectMsg(t, porch, TypeStationCommand); got["command"] != CmdMotionOff || field(got, "by", "name") != "ann" || field(got, "by", "role") != ControllerOwner {
		t.Errorf("the station got %v", got)
	}
	send(t, olga, map[string]any{"type": "station-command", "to": porchID, "command": CmdSettings, "settings": goodSettings})
	got := expectMsg(t, porch, TypeStationCommand)
	if got["command"] != CmdSettings || field(got, "by", "role") != ControllerOperator || got["settings"].(map[string]any)["stillness"] != 5.0 {
		t.Errorf("the station got %v", got)
	}

	// Its new state goes to its controllers only.
	send(t, porch, map[string]any{"type": "station", "station": map[string]any{"active": true, "camera": true, "motion": false, "settings": goodSettings}})
	for _, c := range []*wsclient.Client{ann, olga} {
		if st := expectMsg(t, c, TypeStationState); st["motion"] != false || field(st, "id") != porchID {
			t.Errorf("told %v", st)
		}
	}
	quiet(t, eve)

	// Refusals.
	send(t, eve, map[string]any{"type": "station-command", "to": porchID, "command": CmdCameraOff})
	expectError(t, eve, ErrNotController)
	bad := map[string]any{"sensitivity": 0, "min_area": 0.5, "stillness": 5, "max_seconds": 30, "warmup": 2}
	send(t, ann, map[string]any{"type": "station-command", "to": porchID, "command": CmdSettings, "settings": bad})
	expectError(t, ann, ErrBadSettings)
	send(t, ann, map[string]any{"type": "station-command", "to": porchID, "command": CmdSettings})
	expectError(t, ann, ErrBadSettings)
	send(t, ann, map[string]any{"type": "station-command", "to": porchID, "command": "self-destruct"})
	expectError(t, ann, ErrBadRequest)
	send(t, olga, map[string]any{"type": "station-command", "to": "pnobody", "command": CmdSnapshot})
	expectError(t, olga, ErrNoSuchPeer)
	quiet(t, porch) // nothing of the refused commands came through

	// A target that is no station, and one in another room.
	send(t, ann, map[string]any{"type": "station-command", "to": eveID, "command": CmdCameraOff})
	expectError(t, ann, ErrNotStation)
	elsewhere := wsJoin(t, wsURL(ts), "chat", "ann2", wsclient.Options{OwnerKey: key})
	send(t, elsewhere, map[string]any{"type": "station-command", "to": porchID, "command": CmdCameraOff})
	expectError(t, elsewhere, ErrNoSuchPeer)
	send(t, porch, map[string]any{"type": "station-command", "to": porchID, "command": CmdCameraOff})
	expectError(t, porch, ErrNotController) // a station does not command itself

	// A station ends: its controllers are told.
	send(t, porch, map[string]any{"type": "station", "station": map[string]any{"active": false}})
	if st := expectMsg(t, ann, TypeStationState); st["active"] != false {
		t.Errorf("told %v", st)
	}
	send(t, ann, map[string]any{"type": "station-command", "to": porchID, "command": CmdCameraOff})
	expectError(t, ann, ErrNotStation)
}

// TestStationRefusals: a station needs a room that records video and
// publishes at once, and settings in bounds; only a station records on a
// trigger.
func TestStationRefusals(t *testing.T) {
	h, _ := stationHub(t)
	ts := serve(t, h)
	for room, opts := range map[string]wsclient.Options{"forum": {Password: "room pass"}, "walkie": {}} {
		c := wsJoin(t, wsURL(ts), room, "cam", opts)
		send(t, c, map[string]any{"type": "station", "station": map[string]any{"active": true, "settings": goodSettings}})
		expectError(t, c, ErrStationNotAllowed)
	}
	c := wsJoin(t, wsURL(ts), "videochat", "cam", wsclient.Options{})
	for _, s := range []map[string]any{
		nil,
		{"sensitivity": 50, "min_area": 0, "stillness": 5, "max_seconds": 30, "warmup": 2},
		{"sensitivity": 50, "min_area": 1, "stillness": 601, "max_seconds": 30, "warmup": 2},
		{"sensitivity": 50, "min_area": 1, "stillness": 5, "max_seconds": 2, "warmup": 2},
		{"sensitivity": 50, "min_area": 1, "stillness": 5, "max_seconds": 30, "warmup": -1},
		{"sensitivity": 101, "min_area": 1, "stillness": 5, "max_seconds": 30, "warmup": 2},
	} {
		send(t, c, map[string]any{"type": "station", "station": map[string]any{"active": true, "settings": s}})
		expectError(t, c, ErrBadSettings)
	}
	send(t, c, map[string]any{"type": "station"})
	expectError(t, c, ErrBadRequest)
	send(t, c, map[string]any{"type": "record-start", "trigger": clips.TriggerMotion})
	expectError(t, c, ErrNotStation)
	send(t, c, map[string]any{"type": "station", "station": map[string]any{"active": true, "settings": goodSettings}})
	send(t, c, map[string]any{"type": "record-start", "trigger": "doorbell"})
	expectError(t, c, ErrBadRequest)
}

// TestStationMotionClip: a station's recording on motion is an ordinary
// clip of the room, by the station's name, marked as motion-triggered in
// what the station and the room are told and in the store.
func TestStationMotionClip(t *testing.T) {
	testmedia.Opus(t, 1)
	h, store := stationHub(t)
	ts := serve(t, h)
	bob := wsJoin(t, wsURL(ts), "videochat", "bob", wsclient.Options{})
	porch := wsJoin(t, wsURL(ts), "videochat", "porch", wsclient.Options{})
	audio := publishAudio(t, porch)
	send(t, porch, map[string]any{"type": "station", "station": map[string]any{"active": true, "camera": true, "motion": true, "settings": goodSettings}})
	send(t, porch, map[string]any{"type": "record-start", "trigger": clips.TriggerMotion})
	expectMsg(t, porch, TypeRecording)
	testmedia.Stream(t, audio, nil, 1)
	send(t, porch, map[string]string{"type": "record-stop"})
	stopped := expectMsg(t, porch, TypeRecordStopped)
	id := field(stopped, "clip", "id")
	if field(stopped, "clip", "trigger") != clips.TriggerMotion || field(stopped, "clip", "author") != "porch" {
		t.Errorf("record-stopped %v", stopped)
	}
	if got := expectMsg(t, bob, TypeClipAdded); field(got, "clip", "id") != id || field(got, "clip", "trigger") != clips.TriggerMotion {
		t.Errorf("bob was shown %v", got)
	}
	if c, ok := store.Get("videochat", id); !ok || c.Trigger != clips.TriggerMotion {
		t.Errorf("the store has %+v", c)
	}
}
