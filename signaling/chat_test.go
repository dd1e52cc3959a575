package signaling

import (
	"strings"
	"testing"

	"parley/chatlog"
	"parley/configs"
)

// chatHub is a hub whose chat log is kept in a folder of the test's.
func chatHub(t *testing.T, configure func(*chatlog.Config)) *Hub {
	t.Helper()
	return newHub(t, func(c *Config, rooms []configs.Room) {
		c.Chat = chatStore(t, rooms, configure)
	})
}

// TestChatHistory: a joiner gets the room's earlier messages, oldest
// first; private messages are never among them.
func TestChatHistory(t *testing.T) {
	h := chatHub(t, nil)
	ann, bob := newClient(t, h), newClient(t, h)
	ann.join("chat", "ann", nil)
	bob.join("chat", "bob", nil)
	ann.do(map[string]string{"type": "chat", "text": "one"})
	bob.do(map[string]string{"type": "chat", "text": "two"})
	ann.do(map[string]string{"type": "chat", "text": "secret", "to": bob.s.id})
	ann.do(map[string]string{"type": "chat", "text": "secret too", "to_name": "BOB"})

	cy := newClient(t, h)
	j := cy.join("chat", "cy", nil)
	hist, _ := j["history"].([]any)
	var texts []string
	for _, m := range hist {
		texts = append(texts, field(m.(map[string]any), "text"))
	}
	if strings.Join(texts, ",") != "one,two" {
		t.Errorf("history %v, want one,two", texts)
	}
	if len(hist) > 0 && field(hist[0].(map[string]any), "from", "name") != "ann" {
		t.Errorf("history[0] %v", hist[0])
	}
	if off, _ := j["offline"].([]any); len(off) != 0 {
		t.Errorf("cy had messages waiting: %v", off)
	}
	// Another room has its own history.
	dan := newClient(t, h)
	if hist, _ := dan.join("forum", "dan", nil)["history"].([]any); len(hist) != 0 {
		t.Errorf("forum's history: %v", hist)
	}
}

// TestChatByName: to_name reaches someone of that name in the room at
// once, the same as to; for someone away, the message waits, the sender
// is told it is queued, and it is given once, in joined.offline, to the
// next join under that name.
func TestChatByName(t *testing.T) {
	h := chatHub(t, nil)
	ann, bob, cy := newClient(t, h), newClient(t, h), newClient(t, h)
	ann.join("chat", "ann", nil)
	bob.join("chat", "Bob", nil)
	cy.join("chat", "cy", nil)
	ann.got()
	bob.got()

	ann.do(map[string]string{"type": "chat", "text": "hi bob", "to_name": "ＢＯＢ"})
	got := bob.expect(TypeChat)[0]
	if got["to"] != bob.s.id || got["text"] != "hi bob" || field(got, "from", "id") != ann.s.id {
		t.Errorf("bob got %v", got)
	}
	if mine := ann.expect(TypeChat)[0]; mine["to"] != bob.s.id {
		t.Errorf("the sender's copy %v", mine)
	}
	cy.expect()

	ann.do(map[string]string{"type": "chat", "text": "see you, dan", "to_name": "Dan"})
	q := ann.expect(TypeChat)[0]
	if q["queued"] != true || q["to_name"] != "Dan" || q["text"] != "see you, dan" {
		t.Errorf("the sender's copy of a message left: %v", q)
	}
	bob.expect()
	cy.expect()

	dan := newClient(t, h)
	off, _ := dan.join("chat", "dan", nil)["offline"].([]any)
	if len(off) != 1 {
		t.Fatalf("dan found %v waiting", off)
	}
	m := off[0].(map[string]any)
	if m["offline"] != true || m["text"] != "see you, dan" || field(m, "from", "name") != "ann" || m["type"] != TypeChat {
		t.Errorf("the message that waited: %v", m)
	}
	dan.s.leave()
	again := newClient(t, h)
	if off, _ := again.join("chat", "dan", nil)["offline"].([]any); len(off) != 0 {
		t.Errorf("a message was given twice: %v", off)
	}

	ann.got()
	ann.do(map[string]string{"type": "chat", "text": "x", "to_name": "<dan>"})
	ann.expect("error:" + ErrBadName)
}

// TestChatWaitsForItsKey: a message left for a name last seen with an
// owner key waits for that key; someone else under the name does not get
// it.
func TestChatWaitsForItsKey(t *testing.T) {
	h := chatHub(t, nil)
	key := newKey()
	ann, dan := newClient(t, h), newClient(t, h)
	ann.join("chat", "ann", nil)
	dan.join("chat", "dan", map[string]string{"owner_key": key})
	dan.s.leave()
	ann.got()
	ann.do(map[string]string{"type": "chat", "text": "for dan's eyes", "to_name": "dan"})
	ann.expect(TypeChat)

	impostor := newClient(t, h)
	if off, _ := impostor.join("chat", "dan", nil)["offline"].([]any); len(off) != 0 {
		t.Errorf("another key read dan's message: %v", off)
	}
	impostor.s.leave()
	real := newClient(t, h)
	if off, _ := real.join("chat", "dan", map[string]string{"owner_key": key})["offline"].([]any); len(off) != 1 {
		t.Errorf("dan's own key found %v", off)
	}
}

// TestChatMailboxFull: beyond offline_max_per_user messages waiting for
// one name, more are refused with mailbox-full.
func TestChatMailboxFull(t *testing.T) {
	h := chatHub(t, func(c *chatlog.Config) { c.OfflineMaxPerUser = 2 })
	ann := newClient(t, h)
	ann.join("chat", "ann", nil)
	for i := range 2 {
		ann.do(map[string]string{"type": "chat", "text": "note " + string(rune('1'+i)), "to_name": "dan"})
		ann.expect(TypeChat)
	}
	ann.do(map[string]string{"type": "chat", "text": "one more", "to_name": "dan"})
	ann.expect("error:" + ErrMailboxFull)
	ann.do(map[string]string{"type": "chat", "text": "for eve", "to_name": "eve"})
	ann.expect(TypeChat)
}

// TestChatWithoutMemory: a server without a chat log gives empty history
// and refuses messages for people away.
func TestChatWithoutMemory(t *testing.T) {
	h := newHub(t, nil)
	ann, bob := newClient(t, h), newClient(t, h)
	ann.join("chat", "ann", nil)
	ann.do(map[string]string{"type": "chat", "text": "nobody keeps this"})
	ann.expect(TypeChat)
	j := bob.join("chat", "bob", nil)
	if hist, ok := j["history"].([]any); !ok || len(hist) != 0 {
		t.Errorf("history %v, want an empty list", j["history"])
	}
	if off, ok := j["offline"].([]any); !ok || len(off) != 0 {
		t.Errorf("offline %v, want an empty list", j["offline"])
	}
	ann.got()
	ann.do(map[string]string{"type": "chat", "text": "later", "to_name": "dan"})
	ann.expect("error:" + ErrNoSuchPeer)
}

// TestChatText: chat text must be plain, non-empty text within the
// configured length.
func TestChatText(t *testing.T) {
	h := newHub(t, func(c *Config, _ []configs.Room) { c.Signaling.MaxChatLength = 10 })
	ann, bob := newClient(t, h), newClient(t, h)
	ann.join("chat", "ann", nil)
	bob.join("chat", "bob", nil)
	ann.got()
	for _, text := range []string{"", "   ", "a\x00b", "\x1b[31mred", strings.Repeat("é", 11)} {
		ann.do(map[string]string{"type": "chat", "text": text})
		ann.expect("error:" + ErrBadRequest)
	}
	bob.expect()
	for _, text := range []string{"two\nlines", "tab\there", strings.Repeat("é", 10)} {
		ann.do(map[string]string{"type": "chat", "text": text})
		if got := bob.expect(TypeChat)[0]; got["text"] != text {
			t.Errorf("sent %q, bob got %v", text, got["text"])
		}
		ann.got()
	}
}
