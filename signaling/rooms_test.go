package signaling

import (
	"testing"

	"parley/configs"
)

// TestSetRoom: new settings apply to the next join, those in stay; a
// new mode remakes the room, its members sent away with room-changed; a
// new room can be joined at once.
func TestSetRoom(t *testing.T) {
	h := newHub(t, nil)
	ann := newClient(t, h)
	ann.leaveWhenTold()
	ann.join("chat", "ann", nil)
	rc := h.room("chat").cfg()
	rc.MaxParticipants = 1
	if h.SetRoom(rc) {
		t.Fatal("a new limit remade the room")
	}
	bob := newClient(t, h)
	bob.do(map[string]string{"type": "join", "room": "chat", "name": "bob"})
	bob.expect("error:" + ErrRoomFull)
	if ann.ended() {
		t.Fatal("a new limit sent a member away")
	}

	rc.Mode, rc.MaxParticipants = configs.MediaForum, 10
	if !h.SetRoom(rc) {
		t.Fatal("a new mode did not remake the room")
	}
	if v := ann.waitFor(TypeBye); field(v, "code") != ErrRoomChanged || field(v, "message") != ChangedMessage {
		t.Errorf("bye %v, want %s", v, ErrRoomChanged)
	}
	bob.join("chat", "bob", nil)
	if got := h.room("chat").cfg().Mode; got != configs.MediaForum {
		t.Errorf("mode %s after the change", got)
	}

	extra := rc
	extra.Name = "extra"
	h.SetRoom(extra)
	newClient(t, h).join("extra", "cy", nil)
}

// TestRemoveRoom: a removed room's members are sent away with
// room-removed and the documented message, it is no longer listed, and
// a join of it is no-room, even for a session that found it just before.
func TestRemoveRoom(t *testing.T) {
	h := newHub(t, nil)
	ann := newClient(t, h)
	ann.leaveWhenTold()
	ann.join("chat", "ann", nil)
	if h.RemoveRoom("nope") {
		t.Error("removed a room that does not exist")
	}
	room := h.room("chat")
	if !h.RemoveRoom("chat") {
		t.Fatal("chat not removed")
	}
	if v := ann.waitFor(TypeBye); field(v, "code") != ErrRoomRemoved || field(v, "message") != RemovedMessage {
		t.Errorf("bye %v, want %s", v, ErrRoomRemoved)
	}
	for _, ri := range h.RoomInfos() {
		if ri.Name == "chat" {
			t.Error("a removed room is listed")
		}
	}
	bob := newClient(t, h)
	bob.do(map[string]string{"type": "join", "room": "chat", "name": "bob"})
	bob.expect("error:" + ErrNoRoom)
	if code, _ := bob.s.joinRoom(room, "bob", "", nil); code != ErrNoRoom {
		t.Errorf("a join of the removed room found before: %q, want %s", code, ErrNoRoom)
	}
}
