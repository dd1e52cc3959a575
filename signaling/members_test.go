package signaling

import (
	"strings"
	"testing"

	"parley/configs"
)

// TestJoined: the joined message gives the joiner its id, its name as
// kept, everyone in the room, the ICE servers made for its id, its role
// and an owner key (a new one when it brought none, its own otherwise).
func TestJoined(t *testing.T) {
	var iceFor []string
	h := newHub(t, func(c *Config, _ []configs.Room) {
		c.ICEServers = func(id string) []ICEServer {
			iceFor = append(iceFor, id)
			return []ICEServer{{URLs: []string{"turn:relay.example:3478"}, Username: "u-" + id, Credential: "c"}}
		}
	})
	ann, bob := newClient(t, h), newClient(t, h)
	aj := ann.join("chat", "Rene\u0301", map[string]string{"req": "7"})
	if aj["name"] != "René" || aj["id"] != ann.s.id || aj["role"] != RoleParticipant {
		t.Errorf("joined %v", aj)
	}
	if key, _ := aj["owner_key"].(string); checkOwnerKey(key) != nil {
		t.Errorf("a joiner without a key got owner key %q", key)
	}
	ice, _ := aj["ice_servers"].([]any)
	if len(ice) != 1 || field(ice[0].(map[string]any), "username") != "u-"+ann.s.id {
		t.Errorf("ice_servers %v; made for %v", aj["ice_servers"], iceFor)
	}
	key := newKey()
	bj := bob.join("chat", "bob", map[string]string{"owner_key": key})
	if bj["owner_key"] != key {
		t.Errorf("bob brought key %s, joined with %v", key, bj["owner_key"])
	}
	ps, _ := bj["participants"].([]any)
	var names []string
	for _, p := range ps {
		names = append(names, field(p.(map[string]any), "name"))
	}
	if strings.Join(names, ",") != "René,bob" && strings.Join(names, ",") != "bob,René" {
		t.Errorf("bob sees participants %v", names)
	}
	if n := field(bj, "room", "name"); n != "chat" {
		t.Errorf("joined.room is %v", bj["room"])
	}
	if got := bj["room"].(map[string]any)["participants"]; got != float64(2) {
		t.Errorf("joined.room.participants = %v, want 2", got)
	}
	pj := ann.expect(TypeParticipantJoined)[0]
	if field(pj, "participant", "id") != bob.s.id || field(pj, "participant", "name") != "bob" {
		t.Errorf("ann was told %v", pj)
	}

	cy := newClient(t, h)
	cy.do(map[string]string{"type": "join", "room": "chat", "name": "cy", "owner_key": "short"})
	cy.expect("error:" + ErrBadOwnerKey)
	cy.do(map[string]string{"type": "join", "room": "chat", "name": "cy", "owner_key": strings.Repeat("k", 21) + "!"})
	cy.expect("error:" + ErrBadOwnerKey)
	if h.Present(cy.s.id) || cy.s.room != nil {
		t.Error("a refused join is in the room")
	}
}

// TestLeave: leave ends the session; the room is told once, however often
// the session leaves.
func TestLeave(t *testing.T) {
	h := newHub(t, nil)
	ann, bob := newClient(t, h), newClient(t, h)
	ann.join("walkie", "ann", nil)
	bob.join("walkie", "bob", nil)
	ann.got()
	if !bob.s.handle([]byte(`{"type":"leave"}`)) {
		t.Fatal("leave does not end the session")
	}
	bob.s.leave()
	bob.s.leave()
	if got := ann.expect(TypeParticipantLeft)[0]; field(got, "participant", "id") != bob.s.id {
		t.Errorf("ann was told %v", got)
	}
	if h.Present(bob.s.id) {
		t.Error("bob is still present")
	}
	if got := h.RoomInfos(); got[len(got)-1].Name != "walkie" || got[len(got)-1].Participants != 1 {
		t.Errorf("room infos after bob left: %+v", got)
	}
}

// TestRoomFull: a room takes at most max_participants members; a place
// freed is taken again.
func TestRoomFull(t *testing.T) {
	h := newHub(t, func(_ *Config, rooms []configs.Room) {
		roomConfig(rooms, "chat", func(r *configs.Room) { r.MaxParticipants = 2 })
	})
	a, b, c := newClient(t, h), newClient(t, h), newClient(t, h)
	a.join("chat", "a", nil)
	b.join("chat", "b", nil)
	c.do(map[string]string{"type": "join", "room": "chat", "name": "c"})
	c.expect("error:" + ErrRoomFull)
	a.s.leave()
	c.join("chat", "c", nil)
}

// TestRejoinReplaces: the same owner key joining again under its name
// ends the earlier session with bye replaced, and the room sees the old
// id leave and the new one join; another key gets name-taken.
func TestRejoinReplaces(t *testing.T) {
	h := newHub(t, nil)
	key := newKey()
	old, watcher := newClient(t, h), newClient(t, h)
	old.leaveWhenTold()
	old.join("chat", "ann", map[string]string{"owner_key": key})
	watcher.join("chat", "bob", nil)
	old.got()

	thief := newClient(t, h)
	thief.do(map[string]string{"type": "join", "room": "chat", "name": "ANN", "owner_key": newKey()})
	thief.expect("error:" + ErrNameTaken)
	if old.ended() {
		t.Fatal("a join with another key ended the holder")
	}

	back := newClient(t, h)
	bj := back.join("chat", "ann", map[string]string{"owner_key": key})
	old.expect("bye:" + ErrReplaced)
	if !old.ended() {
		t.Error("the replaced session goes on")
	}
	got := watcher.expect(TypeParticipantLeft, TypeParticipantJoined)
	if field(got[0], "participant", "id") != old.s.id || field(got[1], "participant", "id") != back.s.id {
		t.Errorf("the room saw %v", got)
	}
	if bj["id"] == old.s.id || !h.Present(back.s.id) || h.Present(old.s.id) {
		t.Errorf("the rejoin did not take the place: joined %v", bj["id"])
	}
}

// TestProvenNameTakesOver: a join that proves a name (here a join token)
// takes it from a holder that did not: the holder gets bye name-claimed
// and the room sees it leave.
func TestProvenNameTakesOver(t *testing.T) {
	h := accessHubWith(t, nil)
	plain, watcher := newClient(t, h), newClient(t, h)
	plain.leaveWhenTold()
	plain.join("chat", "tim", nil)
	watcher.join("chat", "w", nil)
	plain.got()
	proven := newClient(t, h)
	pj := proven.join("chat", "", map[string]string{"token": signedToken(t, "chat", "Tim", "")})
	if pj["name"] != "Tim" {
		t.Errorf("joined as %v", pj["name"])
	}
	plain.expect("bye:" + ErrNameClaimed)
	watcher.expect(TypeParticipantLeft, TypeParticipantJoined)

	// Now proven, the name is kept against another proof.
	again := newClient(t, h)
	again.do(map[string]string{"type": "join", "room": "chat", "token": signedToken(t, "chat", "tim", "")})
	again.expect("error:" + ErrNameTaken)
	if proven.ended() {
		t.Error("a second proof ended the proven holder")
	}
}
