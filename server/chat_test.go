package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"parley/client"
	"parley/configs"
)

type chatJSON struct {
	From struct {
		ID, Name string
	}
	To      string
	ToName  string `json:"to_name"`
	Queued  bool
	Offline bool
	Text    string
	TS      string
}

type joinedChat struct {
	History []chatJSON
	Offline []chatJSON
}

func joinChat(t *testing.T, srv *testServer, room, name, key string) (*client.Client, joinedChat) {
	t.Helper()
	c := srv.dial(t, client.Options{})
	msg := map[string]string{"type": "join", "room": room, "name": name}
	if key != "" {
		msg["owner_key"] = key
	}
	_ = c.Send(msg)
	m, err := c.WaitFor(timeout(t, 5*time.Second), "joined")
	if err != nil {
		t.Fatal(err)
	}
	var j joinedChat
	if err := m.Decode(&j); err != nil {
		t.Fatal(err)
	}
	return c, j
}

func chatTexts(cs []chatJSON) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.From.Name+":"+c.Text)
	}
	return strings.Join(out, ",")
}

// TestChatMemory: room chat history and messages left for people offline
// are given to joiners, survive a restart, and are delivered once; private
// messages are never kept.
func TestChatMemory(t *testing.T) {
	dir := t.TempDir()
	withDir := func(cfg *configs.Server, _ []configs.Room) {
		cfg.Storage.DataDir = dir
		cfg.Chat.HistoryLength = 3
		cfg.Chat.OfflineMaxPerUser = 2
	}
	srv := startServer(t, withDir)
	// Bob comes once, so that his name is known with his key.
	bob, bj := srv.join(t, "chat", "bob", client.Options{})
	bob.Close()
	eventually(t, 5*time.Second, "bob leaves", func() bool { return srv.hub.Sessions() == 0 })

	ann, _ := srv.join(t, "chat", "ann", client.Options{})
	cyd, cj := srv.join(t, "chat", "cyd", client.Options{})
	for _, text := range []string{"one", "two", "three", "four"} {
		_ = ann.Send(map[string]string{"type": "chat", "text": text})
		for _, c := range []*client.Client{cyd, ann} {
			if _, err := c.WaitFor(timeout(t, 5*time.Second), "chat"); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = ann.Send(map[string]string{"type": "chat", "to": cj.ID, "text": "private to cyd"})
	for _, c := range []*client.Client{cyd, ann} {
		if _, err := c.WaitFor(timeout(t, 5*time.Second), "chat"); err != nil {
			t.Fatal(err)
		}
	}
	// Left for bob, who is away; the echo says it waits.
	for _, text := range []string{"bob 1", "bob 2"} {
		_ = ann.Send(map[string]string{"type": "chat", "to_name": "Bob", "text": text})
		m, err := ann.WaitFor(timeout(t, 5*time.Second), "chat")
		if err != nil {
			t.Fatal(err)
		}
		var echo chatJSON
		_ = m.Decode(&echo)
		if !echo.Queued || echo.ToName != "Bob" || echo.Text != text {
			t.Errorf("echo %+v", echo)
		}
	}
	_ = ann.Send(map[string]string{"type": "chat", "to_name": "bob", "text": "bob 3"})
	expectError(t, ann, "mailbox-full")
	_ = ann.Send(map[string]string{"type": "chat", "to_name": "<script>", "text": "x"})
	expectError(t, ann, "bad-name")
	// to_name of someone online is a private message at once.
	_ = ann.Send(map[string]string{"type": "chat", "to_name": "CYD", "text": "by name"})
	m, err := cyd.WaitFor(timeout(t, 5*time.Second), "chat")
	if err != nil {
		t.Fatal(err)
	}
	var byName chatJSON
	_ = m.Decode(&byName)
	if byName.To != cj.ID || byName.Text != "by name" || byName.Queued {
		t.Errorf("by name %+v", byName)
	}

	// Restart on the same data.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	srv2 := startServer(t, withDir)

	// Someone else as bob gets the history but not bob's messages.
	imp, ij := joinChat(t, srv2, "chat", "bob", "")
	if got := chatTexts(ij.History); got != "ann:two,ann:three,ann:four" {
		t.Errorf("history after restart: %s", got)
	}
	if len(ij.Offline) != 0 {
		t.Errorf("an impostor got bob's messages: %s", chatTexts(ij.Offline))
	}
	imp.Close()
	eventually(t, 5*time.Second, "the impostor leaves", func() bool { return srv2.hub.Sessions() == 0 })

	// Bob, with his key, gets them, once.
	b2, bj2 := joinChat(t, srv2, "chat", "bob", bj.OwnerKey)
	if got := chatTexts(bj2.Offline); got != "ann:bob 1,ann:bob 2" || !bj2.Offline[0].Offline {
		t.Errorf("bob's waiting messages: %s %+v", got, bj2.Offline)
	}
	b2.Close()
	eventually(t, 5*time.Second, "bob leaves", func() bool { return srv2.hub.Sessions() == 0 })
	_, bj3 := joinChat(t, srv2, "chat", "bob", bj.OwnerKey)
	if len(bj3.Offline) != 0 {
		t.Errorf("delivered twice: %s", chatTexts(bj3.Offline))
	}
	for _, h := range bj3.History {
		if strings.Contains(h.Text, "private") || strings.Contains(h.Text, "bob ") || strings.Contains(h.Text, "by name") {
			t.Errorf("a private message in the history: %+v", h)
		}
	}
}
