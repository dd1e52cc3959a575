package signaling

import (
	"testing"

	"parley/clips"
	"parley/configs"
)

// TestKickRefusals: an operator kicks someone in the room, not itself and
// not someone absent.
func TestKickRefusals(t *testing.T) {
	h := accessHubWith(t, nil)
	olga := newClient(t, h)
	olga.join("chat", "olga", map[string]string{"password": "op pass"})
	olga.do(map[string]string{"type": "kick", "to": olga.s.id})
	olga.expect("error:" + ErrNoSuchPeer)
	olga.do(map[string]string{"type": "kick", "to": "pnobody"})
	olga.expect("error:" + ErrNoSuchPeer)
	if olga.ended() {
		t.Error("an operator kicked itself")
	}
}

// TestClearClips: an operator deletes every clip of the room; everyone is
// told of each removal and the operator how many went. Others may not.
func TestClearClips(t *testing.T) {
	var store *clips.Store
	h := accessHubWith(t, func(c *Config, rooms []configs.Room) {
		store = clipStore(t, rooms)
		c.Store = store
	})
	olga, pat := newClient(t, h), newClient(t, h)
	olga.join("chat", "olga", map[string]string{"password": "op pass"})
	patKey := newKey()
	pat.join("chat", "pat", map[string]string{"owner_key": patKey})
	olga.got()
	a := addClip(t, store, "chat", "pat", patKey)
	b := addClip(t, store, "chat", "pat", patKey)
	other := addClip(t, store, "forum", "pat", patKey)
	for _, c := range []*client{olga, pat} {
		c.waitFor(TypeClipAdded)
		c.waitFor(TypeClipAdded)
	}

	pat.do(map[string]string{"type": "clear-clips"})
	pat.expect("error:" + ErrNotOperator)
	olga.do(map[string]string{"type": "clear-clips", "req": "c1"})
	got := olga.got()
	removed := map[string]bool{}
	cleared := -1.0
	for _, m := range got {
		switch m["type"] {
		case TypeClipRemoved:
			removed[m["id"].(string)] = true
		case TypeClipsCleared:
			cleared, _ = m["count"].(float64)
		}
	}
	if cleared != 2 || !removed[a.ID] || !removed[b.ID] || len(removed) != 2 {
		t.Errorf("the operator was told %v", got)
	}
	if got := pat.got(); len(got) != 2 || got[0]["type"] != TypeClipRemoved || got[1]["type"] != TypeClipRemoved {
		t.Errorf("pat was told %v", got)
	}
	if ids := store.IDs("chat"); len(ids) != 0 {
		t.Errorf("clips left in the room: %v", ids)
	}
	if _, ok := store.Get("forum", other.ID); !ok {
		t.Error("clearing one room deleted another's clip")
	}
}

// TestClearClipsWithoutStore: a server that keeps no clips says so.
func TestClearClipsWithoutStore(t *testing.T) {
	h := accessHubWith(t, nil)
	olga := newClient(t, h)
	olga.join("chat", "olga", map[string]string{"password": "op pass"})
	olga.do(map[string]string{"type": "clear-clips"})
	olga.expect("error:" + ErrInternal)
}

// TestCloseRoom: an operator closes the room: everyone else is sent away
// with bye room-closed and new joins are refused, operators' excepted,
// until an operator opens it again. An operator who joins is told the
// room is closed, and every operator in the room hears when another one
// opens or closes it.
func TestCloseRoom(t *testing.T) {
	h := accessHubWith(t, nil)
	olga, pat, other := newClient(t, h), newClient(t, h), newClient(t, h)
	olga.join("chat", "olga", map[string]string{"password": "op pass"})
	pat.join("chat", "pat", nil)
	other.join("forum", "pat", map[string]string{"password": "room pass"})
	olga.got()

	pat.do(map[string]string{"type": "close-room"})
	pat.expect("error:" + ErrNotOperator)
	pat.do(map[string]string{"type": "open-room"})
	pat.expect("error:" + ErrNotOperator)

	olga.do(map[string]string{"type": "close-room", "req": "r1"})
	state := olga.expect(TypeRoomState)[0]
	if state["closed"] != true || state["req"] != "r1" {
		t.Errorf("room-state %v", state)
	}
	pat.expect("bye:" + ErrRoomClosed)
	if !pat.ended() || other.ended() {
		t.Error("close-room ended the wrong sessions")
	}
	again := newClient(t, h)
	again.do(map[string]string{"type": "join", "room": "chat", "name": "pat2"})
	again.expect("error:" + ErrRoomClosed)
	op2 := newClient(t, h)
	joined := op2.join("chat", "mod", map[string]string{"token": signedToken(t, "chat", "mod", RoleOperator)})
	if room, _ := joined["room"].(map[string]any); room["closed"] != true {
		t.Errorf("an operator joining a closed room was told %v", joined["room"])
	}
	elsewhere := newClient(t, h)
	elsewhere.join("walkie", "pat3", nil)
	olga.expect(TypeParticipantJoined)

	op2.do(map[string]string{"type": "open-room"})
	if state := op2.expect(TypeRoomState)[0]; state["closed"] != false {
		t.Errorf("room-state %v", state)
	}
	if state := olga.expect(TypeRoomState)[0]; state["closed"] != false || state["req"] != nil {
		t.Errorf("the other operator was told %v", state)
	}
	joined = again.join("chat", "pat2", nil)
	if room, _ := joined["room"].(map[string]any); room["closed"] != false {
		t.Errorf("joining an open room told %v", joined["room"])
	}
	if got := elsewhere.got(); len(got) != 0 {
		t.Errorf("an operator's open-room reached another room: %v", got)
	}
}
