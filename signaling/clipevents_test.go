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
