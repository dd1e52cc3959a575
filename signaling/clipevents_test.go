package signaling

import (
	"testing"

	"parley/clips"
)

// TestClipEventTypes: every event of the clip store has its message of
// the protocol, and every removal reason its documented reason.
func TestClipEventTypes(t *testing.T) {
	for ev, want := range map[string]string{
		clips.EventAdded: "clip-added", clips.EventUpdated: "clip-updated", clips.EventRemoved: "clip-removed",
		clips.EventPlayed: "clip-updated",
	} {
		if got := clipEventTypes[ev]; got != want {
			t.Errorf("store event %q is sent as %q, want %q", ev, got, want)
		}
	}
	for r, want := range map[string]string{
		clips.ReasonDeleted: "deleted", clips.ReasonExpired: "expired", clips.ReasonEvicted: "evicted",
		clips.ReasonDiscarded: "discarded", "something new": "deleted",
	} {
		if got := clipRemovedReason(r); got != want {
			t.Errorf("removal reason %q is sent as %q, want %q", r, got, want)
		}
	}
}

// TestRoomUsage: joined carries what the room's clips take
// (room.used_bytes), and every clip message what they take after its
// change (room_bytes, room_clips): a clip added, a clip deleted.
func TestRoomUsage(t *testing.T) {
	h, store := storeHub(t)
	annKey := newKey()
	ann, bob := newClient(t, h), newClient(t, h)
	if got := ann.join("chat", "ann", map[string]string{"owner_key": annKey}); got["room"].(map[string]any)["used_bytes"] != 0.0 {
		t.Errorf("joined an empty room with used_bytes %v", got["room"].(map[string]any)["used_bytes"])
	}
	c := addClip(t, store, "chat", "ann", annKey)
	u := ann.waitFor(TypeClipAdded)
	if u["room_bytes"] != float64(c.Bytes) || u["room_clips"] != 1.0 || c.Bytes == 0 {
		t.Errorf("after a clip of %d bytes: %v", c.Bytes, u)
	}
	got := bob.join("chat", "bob", nil)
	if used := got["room"].(map[string]any)["used_bytes"]; used != float64(c.Bytes) {
		t.Errorf("bob joined with used_bytes %v, want %d", used, c.Bytes)
	}
	if err := store.Delete("chat", c.ID, c.Owner, false); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*client{ann, bob} {
		if u := m.waitFor(TypeClipRemoved); u["room_bytes"] != 0.0 || u["room_clips"] != 0.0 {
			t.Errorf("%s was told %v after the clip was deleted", m.s.name, u)
		}
	}
}
