package signaling

import (
	"context"
	"errors"
	"testing"
)

// TestShutdownTwice: a Shutdown whose context ended can be retried; the
// retry waits for the same shutdown and returns when it is over.
func TestShutdownTwice(t *testing.T) {
	h := buildHub(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with an ended context: %v", err)
	}
	if err := h.Shutdown(timeout(t)); err != nil {
		t.Fatalf("Shutdown again: %v", err)
	}
}

// TestEndedMemberJoinsNothing: a member that has ended (as a WHIP session
// that a Shutdown ends between its admission and its join) does not
// enter the room afterwards.
func TestEndedMemberJoinsNothing(t *testing.T) {
	h := newHub(t, nil)
	ann := newClient(t, h)
	ann.s.leave()
	ann.do(map[string]string{"type": "join", "room": "chat", "name": "ann"})
	ann.expect("error:" + ErrServerShutdown)
	if n := h.room("chat").info().Participants; n != 0 {
		t.Fatalf("%d in the room", n)
	}
}
