package signaling

import (
	"encoding/json"
	"net/netip"
	"testing"
)

// client is a session without a websocket for in-package tests: what the
// server queues for it is read from its send queue.
type client struct {
	t *testing.T
	s *Session
}

func newClient(t *testing.T, h *Hub) *client {
	t.Helper()
	s := newSession(h, nil, "test", netip.MustParseAddr("192.0.2.1"))
	t.Cleanup(s.leave)
	return &client{t: t, s: s}
}

// do handles one message given as a JSON object.
func (m *client) do(v any) {
	m.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		m.t.Fatal(err)
	}
	m.s.handle(b)
}

// got returns what the server queued for the session since the last call.
func (m *client) got() []map[string]any {
	var out []map[string]any
	for b, ok := m.s.send.pop(); ok; b, ok = m.s.send.pop() {
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			m.t.Fatalf("invalid JSON queued: %s", b)
		}
		out = append(out, v)
	}
	return out
}

// types lists the types of msgs, with an error's code after a colon.
func types(msgs []map[string]any) []string {
	var out []string
	for _, v := range msgs {
		typ, _ := v["type"].(string)
		if code, ok := v["code"].(string); ok {
			typ += ":" + code
		}
		out = append(out, typ)
	}
	return out
}

func sameList(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestMembership: joins and leaves are told to the others; chat reaches
// the room, a private message its recipient and its sender only; the
// join's refusals.
func TestMembership(t *testing.T) {
	h := testHub(t)
	ann, bob, cy := newClient(t, h), newClient(t, h), newClient(t, h)
	ann.do(map[string]string{"type": "join", "room": "chat", "name": "ann"})
	joined := ann.got()
	if got := types(joined); !sameList(got, []string{"joined"}) {
		t.Fatalf("ann got %v", got)
	}
	if v := joined[0]["protocol"]; v != float64(ProtocolVersion) {
		t.Errorf("joined announces protocol %v, want %d", v, ProtocolVersion)
	}
	bob.do(map[string]string{"type": "join", "room": "chat", "name": "bob"})
	bob.got()
	if got := types(ann.got()); !sameList(got, []string{"participant-joined"}) {
		t.Fatalf("ann got %v when bob joined", got)
	}
	for _, tc := range []struct {
		msg  map[string]string
		want string
	}{
		{map[string]string{"type": "join", "room": "nope", "name": "cy"}, "error:no-room"},
		{map[string]string{"type": "join", "room": "chat", "name": "BOB"}, "error:name-taken"},
		{map[string]string{"type": "join", "room": "chat", "name": "<b>"}, "error:bad-name"},
		{map[string]string{"type": "chat", "text": "too early"}, "error:not-joined"},
	} {
		cy.do(tc.msg)
		if got := types(cy.got()); !sameList(got, []string{tc.want}) {
			t.Errorf("%v: got %v, want %s", tc.msg, got, tc.want)
		}
	}
	cy.do(map[string]string{"type": "join", "room": "chat", "name": "cy"})
	cy.got()
	ann.got()
	bob.got()
	cy.do(map[string]string{"type": "join", "room": "chat", "name": "cy2"})
	if got := types(cy.got()); !sameList(got, []string{"error:already-joined"}) {
		t.Errorf("a second join: %v", got)
	}

	ann.do(map[string]string{"type": "chat", "text": "hello room"})
	for name, m := range map[string]*client{"ann": ann, "bob": bob, "cy": cy} {
		got := m.got()
		if len(got) != 1 || got[0]["type"] != "chat" || got[0]["text"] != "hello room" {
			t.Errorf("%s got %v", name, got)
		}
	}
	ann.do(map[string]string{"type": "chat", "text": "psst", "to": bob.s.id})
	if got := bob.got(); len(got) != 1 || got[0]["text"] != "psst" || got[0]["to"] != bob.s.id {
		t.Errorf("bob got %v", got)
	}
	if got := ann.got(); len(got) != 1 || got[0]["text"] != "psst" {
		t.Errorf("ann (the sender) got %v", got)
	}
	if got := cy.got(); len(got) != 0 {
		t.Errorf("cy read a private message: %v", got)
	}
	ann.do(map[string]string{"type": "chat", "text": "hi", "to": "pnobody"})
	if got := types(ann.got()); !sameList(got, []string{"error:no-such-participant"}) {
		t.Errorf("chat to nobody: %v", got)
	}

	bob.s.leave()
	for name, m := range map[string]*client{"ann": ann, "cy": cy} {
		if got := types(m.got()); !sameList(got, []string{"participant-left"}) {
			t.Errorf("%s got %v when bob left", name, got)
		}
	}
	if !h.Present(ann.s.id) || h.Present(bob.s.id) {
		t.Error("Present does not follow who is in a room")
	}
}

// TestOperatorActions: only an operator kicks; the kicked session is told
// why and the room sees it leave.
func TestOperatorActions(t *testing.T) {
	h := accessHub(t, nil)
	olga, pat := newClient(t, h), newClient(t, h)
	olga.do(map[string]string{"type": "join", "room": "chat", "name": "olga", "password": "op pass"})
	pat.do(map[string]string{"type": "join", "room": "chat", "name": "pat"})
	if got := olga.got(); len(got) == 0 || got[0]["role"] != RoleOperator {
		t.Fatalf("olga joined as %v", got)
	}
	pat.got()
	pat.do(map[string]string{"type": "kick", "to": olga.s.id})
	if got := types(pat.got()); !sameList(got, []string{"error:not-operator"}) {
		t.Errorf("a participant kicks: %v", got)
	}
	olga.do(map[string]string{"type": "kick", "to": pat.s.id})
	if got := types(pat.got()); !sameList(got, []string{"bye:kicked"}) {
		t.Errorf("the kicked one got %v", got)
	}
	select {
	case <-pat.s.quit:
	default:
		t.Error("the kicked session goes on")
	}
}
