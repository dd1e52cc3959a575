package signaling

import (
	"testing"
	"testing/synctest"
	"time"

	"parley/configs"
)

// The calls' timers run under synctest: a call's ring and its rejoin
// grace are timers of the hub, and no network is involved while nobody
// publishes media.

const (
	testRing  = 30 * time.Second
	testGrace = 20 * time.Second
)

// caller is a client in a call test with its owner key, to rejoin with.
type caller struct {
	*client
	key string
}

// callRoom joins ann, bob and cy to the chat room of a hub whose calls
// ring for testRing and wait testGrace for a party that dropped.
func callRoom(t *testing.T, grace time.Duration) (h *Hub, ann, bob, cy caller) {
	t.Helper()
	h = newHub(t, func(c *Config, _ []configs.Room) {
		c.CallTimeout, c.CallRejoinGrace = testRing, grace
	})
	join := func(name string) caller {
		c := caller{newClient(t, h), newKey()}
		c.join("chat", name, map[string]string{"owner_key": c.key})
		return c
	}
	ann, bob, cy = join("ann"), join("bob"), join("cy")
	ann.got()
	bob.got()
	return h, ann, bob, cy
}

// ring makes a call b and returns the call's id, checking what both are
// told.
func ring(t *testing.T, a, b caller, video bool) string {
	t.Helper()
	a.do(map[string]any{"type": "call", "to": b.s.id, "video": video})
	r := a.expect(TypeCallRinging)[0]
	in := b.expect(TypeCallIncoming)[0]
	if r["call"] == "" || r["call"] != in["call"] {
		t.Fatalf("ringing %v, incoming %v", r, in)
	}
	if field(r, "peer", "id") != b.s.id || field(in, "peer", "id") != a.s.id || field(in, "peer", "name") != a.s.name {
		t.Errorf("ringing %v, incoming %v", r, in)
	}
	if r["video"] != video || in["video"] != video {
		t.Errorf("video %v: ringing %v, incoming %v", video, r["video"], in["video"])
	}
	return r["call"].(string)
}

// started checks that both parties are told the call is on, each with
// the other's current id.
func started(t *testing.T, id string, a, b caller) {
	t.Helper()
	for _, p := range []struct{ me, other caller }{{a, b}, {b, a}} {
		got := p.me.waitFor(TypeCallStarted)
		if got["call"] != id || field(got, "peer", "id") != p.other.s.id {
			t.Errorf("%s was told %v; the call is %s with %s", p.me.s.name, got, id, p.other.s.id)
		}
	}
}

// ended checks that c was told that the call ended for reason.
func ended(t *testing.T, c caller, id, reason string) {
	t.Helper()
	if got := c.got(); !hasCallEnded(got, id, reason) {
		t.Errorf("%s was told %v, want call-ended %s of %s", c.s.name, types(got), reason, id)
	}
}

// TestCallAccepted: a call rings, is accepted, is busy for a third and
// in-call for its parties, and ends with hangup; the ring's timer ends
// with the ringing.
func TestCallAccepted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, ann, bob, cy := callRoom(t, testGrace)
		id := ring(t, ann, bob, true)
		cy.expect()

		ann.do(map[string]string{"type": "call-accept", "call": id})
		ann.expect("error:" + ErrBadRequest)
		bob.do(map[string]string{"type": "call-accept", "call": "pnot-this-one"})
		bob.expect("error:" + ErrNoSuchCall)
		bob.do(map[string]string{"type": "call-accept", "call": id})
		started(t, id, ann, bob)
		bob.do(map[string]string{"type": "call-accept", "call": id})
		bob.expect("error:" + ErrBadRequest)

		cy.do(map[string]any{"type": "call", "to": ann.s.id, "video": true})
		busy := cy.expect(TypeCallEnded)[0]
		if busy["reason"] != CallBusy || field(busy, "peer", "id") != ann.s.id {
			t.Errorf("a call to someone in a call: %v", busy)
		}
		ann.expect()
		ann.do(map[string]string{"type": "call", "to": cy.s.id})
		ann.expect("error:" + ErrInCall)
		cy.do(map[string]string{"type": "hangup", "call": id})
		cy.expect("error:" + ErrNoSuchCall)

		// The call lasts past the ring's timeout.
		time.Sleep(2 * testRing)
		synctest.Wait()
		ann.expect()
		bob.expect()

		bob.do(map[string]string{"type": "hangup", "call": id})
		ended(t, ann, id, CallHangup)
		ended(t, bob, id, CallHangup)
		ann.do(map[string]string{"type": "hangup", "call": id})
		ann.expect("error:" + ErrNoSuchCall)
		// Free again.
		ring(t, cy, ann, false)
	})
}

// TestCallDeclined: only the person called declines a ringing call; both
// are told.
func TestCallDeclined(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, ann, bob, _ := callRoom(t, testGrace)
		id := ring(t, ann, bob, false)
		ann.do(map[string]string{"type": "call-decline", "call": id})
		ann.expect("error:" + ErrBadRequest)
		bob.do(map[string]string{"type": "call-decline", "call": id})
		ended(t, ann, id, CallDeclined)
		ended(t, bob, id, CallDeclined)
		bob.do(map[string]string{"type": "call-accept", "call": id})
		bob.expect("error:" + ErrNoSuchCall)

		id = ring(t, ann, bob, false)
		bob.do(map[string]string{"type": "call-accept", "call": id})
		started(t, id, ann, bob)
		bob.do(map[string]string{"type": "call-decline", "call": id})
		bob.expect("error:" + ErrBadRequest)
	})
}

// TestCallRefused: nobody calls themselves, someone not in the room, or
// before joining.
func TestCallRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, ann, _, _ := callRoom(t, testGrace)
		ann.do(map[string]string{"type": "call", "to": ann.s.id})
		ann.expect("error:" + ErrBadRequest)
		ann.do(map[string]string{"type": "call", "to": "pnobody"})
		ann.expect("error:" + ErrNoSuchPeer)
		// The same owner key in another window is oneself too.
		twin := newClient(t, h)
		twin.join("chat", "ann 2", map[string]string{"owner_key": ann.key})
		twin.do(map[string]string{"type": "call", "to": ann.s.id})
		twin.expect("error:" + ErrBadRequest)
		out := newClient(t, h)
		out.do(map[string]string{"type": "call", "to": ann.s.id})
		out.expect("error:" + ErrNotJoined)
	})
}

// TestCallRingTimeout: a call unanswered for the call timeout ends with
// timeout for both, not a moment before.
func TestCallRingTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, ann, bob, _ := callRoom(t, testGrace)
		id := ring(t, ann, bob, false)
		time.Sleep(testRing - time.Millisecond)
		synctest.Wait()
		ann.expect()
		bob.expect()
		time.Sleep(time.Millisecond)
		synctest.Wait()
		ended(t, ann, id, CallTimeout)
		ended(t, bob, id, CallTimeout)
		ring(t, ann, bob, false) // neither is in a call any more
	})
}

// TestCallRingingPartyLeaves: a ringing call ends with left when either
// party leaves.
func TestCallRingingPartyLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, ann, bob, cy := callRoom(t, testGrace)
		id := ring(t, ann, bob, false)
		bob.s.leave()
		ended(t, ann, id, CallLeft)
		cy.got()
		id = ring(t, cy, ann, false)
		cy.s.leave()
		ended(t, ann, id, CallLeft)
	})
}

func hasCallEnded(msgs []map[string]any, id, reason string) bool {
	for _, m := range msgs {
		if m["type"] == TypeCallEnded && m["call"] == id && m["reason"] == reason {
			return true
		}
	}
	return false
}

// TestCallRejoin: when a party of an active call drops, the other is told
// the call is held; the party joining again with its owner key within the
// grace is back in the call, with its new id, and the call goes on past
// the grace.
func TestCallRejoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, ann, bob, _ := callRoom(t, testGrace)
		id := ring(t, ann, bob, false)
		bob.do(map[string]string{"type": "call-accept", "call": id})
		started(t, id, ann, bob)

		bob.s.leave()
		held := ann.expect(TypeCallHeld, TypeParticipantLeft)[0]
		if held["call"] != id || held["reason"] != "reconnecting" {
			t.Errorf("ann was told %v", held)
		}
		time.Sleep(testGrace - time.Millisecond)
		synctest.Wait()
		ann.expect()

		back := caller{newClient(t, h), bob.key}
		back.do(map[string]string{"type": "join", "room": "chat", "name": "bob", "owner_key": bob.key})
		got := back.expect(TypeJoined, TypeCallStarted)
		if got[1]["call"] != id || field(got[1], "peer", "id") != ann.s.id {
			t.Errorf("bob, back, was told %v", got[1])
		}
		if a := ann.expect(TypeParticipantJoined, TypeCallStarted)[1]; a["call"] != id || field(a, "peer", "id") != back.s.id {
			t.Errorf("ann was told %v when bob came back as %s", a, back.s.id)
		}
		if back.s.id == bob.s.id {
			t.Error("the rejoin kept its old id")
		}
		time.Sleep(2 * testGrace)
		synctest.Wait()
		ann.expect()
		back.expect()
		back.do(map[string]string{"type": "hangup", "call": id})
		ended(t, ann, id, CallHangup)
		ended(t, back, id, CallHangup)
	})
}

// TestCallGraceExpires: a party that does not come back within the grace
// ends the call with left; coming back later finds no call.
func TestCallGraceExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, ann, bob, cy := callRoom(t, testGrace)
		id := ring(t, ann, bob, false)
		bob.do(map[string]string{"type": "call-accept", "call": id})
		started(t, id, ann, bob)
		ann.s.leave()
		bob.expect(TypeCallHeld, TypeParticipantLeft)
		time.Sleep(testGrace)
		synctest.Wait()
		ended(t, bob, id, CallLeft)

		back := caller{newClient(t, h), ann.key}
		back.join("chat", "ann", map[string]string{"owner_key": ann.key})
		back.expect()
		bob.expect(TypeParticipantJoined)
		cy.got()
		ring(t, cy, bob, false)
	})
}

// TestCallNoGrace: with no rejoin grace, an active call ends as soon as a
// party drops.
func TestCallNoGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, ann, bob, _ := callRoom(t, 0)
		id := ring(t, ann, bob, false)
		bob.do(map[string]string{"type": "call-accept", "call": id})
		started(t, id, ann, bob)
		bob.s.leave()
		synctest.Wait()
		if got := ann.got(); !hasCallEnded(got, id, CallLeft) {
			t.Errorf("ann was told %v", types(got))
		}
	})
}
