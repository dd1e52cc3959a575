package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"parley/client"
	"parley/configs"
)

// TestProtocolErrors: each kind of bad input gets its documented error,
// and the server keeps serving everyone else.
func TestProtocolErrors(t *testing.T) {
	srv := startServer(t, func(c *configs.Server, rooms []configs.Room) {
		for i := range rooms {
			if rooms[i].Name == "forum" {
				rooms[i].MaxParticipants = 2
			}
		}
	})
	witness, _ := srv.join(t, "chat", "witness", client.Options{})

	t.Run("malformed JSON", func(t *testing.T) {
		c := srv.dial(t, client.Options{})
		if err := c.SendRaw([]byte(`{"type": "join", `)); err != nil {
			t.Fatal(err)
		}
		expectError(t, c, "bad-json")
		if err := c.SendRaw([]byte(`[1,2,3]`)); err != nil {
			t.Fatal(err)
		}
		expectError(t, c, "bad-json")
	})
	t.Run("unknown type", func(t *testing.T) {
		c := srv.dial(t, client.Options{})
		_ = c.Send(map[string]string{"type": "dance"})
		expectError(t, c, "unknown-type")
		_ = c.Send(map[string]string{"room": "chat"})
		expectError(t, c, "bad-request")
	})
	t.Run("not joined", func(t *testing.T) {
		c := srv.dial(t, client.Options{})
		_ = c.Send(map[string]string{"type": "chat", "text": "hi"})
		expectError(t, c, "not-joined")
	})
	t.Run("no such room", func(t *testing.T) {
		c := srv.dial(t, client.Options{})
		_, err := c.Join(timeout(t, 5*time.Second), "../etc", "ann")
		wantCode(t, err, "no-room")
	})
	t.Run("bad names", func(t *testing.T) {
		c := srv.dial(t, client.Options{})
		for _, name := range []string{"", " ann", "ann ", "<script>", "a\x00b", "x;drop", strings.Repeat("n", 33), "\xff\xfe"} {
			_, err := c.Join(timeout(t, 5*time.Second), "chat", name)
			wantCode(t, err, "bad-name")
		}
		if _, err := c.Join(timeout(t, 5*time.Second), "chat", "Zoë-2.0 ok"); err != nil {
			t.Fatalf("a good name was refused: %v", err)
		}
	})
	t.Run("name taken", func(t *testing.T) {
		c := srv.dial(t, client.Options{})
		_, err := c.Join(timeout(t, 5*time.Second), "chat", "WITNESS")
		wantCode(t, err, "name-taken")
	})
	t.Run("already joined", func(t *testing.T) {
		c, _ := srv.join(t, "walkie", "twice", client.Options{})
		_, err := c.Join(timeout(t, 5*time.Second), "walkie", "again")
		wantCode(t, err, "already-joined")
	})
	t.Run("room full", func(t *testing.T) {
		srv.join(t, "forum", "first", client.Options{})
		srv.join(t, "forum", "second", client.Options{})
		c := srv.dial(t, client.Options{})
		_, err := c.Join(timeout(t, 5*time.Second), "forum", "third")
		wantCode(t, err, "room-full")
	})
	t.Run("bad chat", func(t *testing.T) {
		c, _ := srv.join(t, "walkie", "chatter", client.Options{})
		_ = c.Send(map[string]string{"type": "chat", "text": "   "})
		expectError(t, c, "bad-request")
		_ = c.Send(map[string]string{"type": "chat", "text": strings.Repeat("x", 2001)})
		expectError(t, c, "bad-request")
		_ = c.Send(map[string]string{"type": "chat", "text": "hi", "to": "nobody"})
		expectError(t, c, "no-such-participant")
	})
	t.Run("bad sdp", func(t *testing.T) {
		c, _ := srv.join(t, "walkie", "sdp", client.Options{})
		_ = c.Send(map[string]string{"type": "offer", "pc": "publish", "sdp": "v=0 garbage"})
		expectError(t, c, "bad-sdp")
		_ = c.Send(map[string]string{"type": "offer", "pc": "subscribe", "sdp": "v=0"})
		expectError(t, c, "bad-request")
		_ = c.Send(map[string]string{"type": "answer", "pc": "subscribe", "sdp": "v=0"})
		expectError(t, c, "no-offer")
		_ = c.Send(map[string]any{"type": "candidate", "pc": "publish", "candidate": map[string]string{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}})
		expectError(t, c, "bad-candidate")
	})
	t.Run("oversize message", func(t *testing.T) {
		c := srv.dial(t, client.Options{})
		big := `{"type":"chat","text":"` + strings.Repeat("x", srv.cfg.Signaling.MaxMessageBytes) + `"}`
		_ = c.SendRaw([]byte(big))
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the connection stays open after an oversize message")
		}
		var ce *websocket.CloseError
		if err := c.CloseError(); !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
			t.Fatalf("want close code 1009, got %v", err)
		}
	})
	t.Run("too many messages", func(t *testing.T) {
		c := srv.dial(t, client.Options{})
		burst := srv.cfg.Signaling.MessageBurst
		for i := 0; i < burst+5; i++ {
			_ = c.Send(map[string]string{"type": "ping"})
		}
		expectError(t, c, "rate-limited")
		// Flooding on is answered by closing the connection. A starved
		// test sends slowly enough for the budget to refill in between,
		// so it goes on sending (a bounded number) until it is closed.
	flood:
		for i := 0; i < 50*burst; i++ {
			select {
			case <-c.Done():
				break flood
			default:
			}
			if c.Send(map[string]string{"type": "ping"}) != nil {
				break
			}
		}
		select {
		case <-c.Done():
		case <-timeout(t, minWait).Done():
			t.Fatal("a flooding client stays connected")
		}
		var ce *websocket.CloseError
		if err := c.CloseError(); !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
			t.Fatalf("want close code 1008, got %v", err)
		}
	})

	// After all that, the witness is still served.
	_ = witness.Send(map[string]string{"type": "ping", "req": "1"})
	if _, err := witness.WaitFor(timeout(t, 5*time.Second), "pong"); err != nil {
		t.Fatalf("the witness is no longer served: %v", err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("want error %s, got %v", code, err)
	}
	if e.Message == "" {
		t.Fatalf("error %s has no message", code)
	}
}

// TestOriginCheck: a page on another origin cannot open a websocket, the
// server's own origin and the configured ones can.
func TestOriginCheck(t *testing.T) {
	srv := startServer(t, func(c *configs.Server, _ []configs.Room) {
		c.HTTP.AllowedOrigins = []string{"https://friend.example"}
	})
	dial := func(origin string) (*http.Response, error) {
		h := http.Header{}
		h.Set("Origin", origin)
		ws, resp, err := websocket.DefaultDialer.DialContext(context.Background(), srv.wsURL(), h)
		if err == nil {
			ws.Close()
		}
		return resp, err
	}
	if _, err := dial("http://" + srv.Addr().String()); err != nil {
		t.Errorf("same origin refused: %v", err)
	}
	if _, err := dial("https://friend.example"); err != nil {
		t.Errorf("allowed origin refused: %v", err)
	}
	resp, err := dial("https://evil.example")
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: want 403, got %v %v", resp, err)
	}
}

// TestPresenceAndChat: joins and leaves are announced, chat reaches the
// room, a private message only its recipient (and its sender).
func TestPresenceAndChat(t *testing.T) {
	srv := startServer(t, nil)
	a, aj := srv.join(t, "chat", "ann", client.Options{})
	b, bj := srv.join(t, "chat", "bob", client.Options{})
	if len(bj.Participants) != 2 {
		t.Fatalf("bob sees %d participants, want 2", len(bj.Participants))
	}
	if bj.ICEServers == nil {
		t.Error("joined has no ice_servers list")
	}
	m, err := a.WaitFor(timeout(t, 5*time.Second), "participant-joined")
	if err != nil {
		t.Fatal(err)
	}
	var pj struct {
		Participant struct{ ID, Name string }
	}
	_ = m.Decode(&pj)
	if pj.Participant.ID != bj.ID || pj.Participant.Name != "bob" {
		t.Errorf("participant-joined = %+v", pj)
	}
	c, cj := srv.join(t, "chat", "cid", client.Options{})

	_ = a.Send(map[string]string{"type": "chat", "text": "hello <b>all</b>"})
	for _, who := range []*client.Client{a, b, c} {
		m, err := who.WaitFor(timeout(t, 5*time.Second), "chat")
		if err != nil {
			t.Fatal(err)
		}
		var cm struct {
			From struct{ ID, Name string }
			To   string
			Text string
			TS   string
		}
		_ = m.Decode(&cm)
		if cm.Text != "hello <b>all</b>" || cm.From.ID != aj.ID || cm.To != "" || cm.TS == "" {
			t.Errorf("chat = %+v", cm)
		}
	}
	_ = a.Send(map[string]string{"type": "chat", "text": "psst", "to": cj.ID})
	for _, who := range []*client.Client{c, a} {
		m, err := who.WaitFor(timeout(t, 5*time.Second), "chat")
		if err != nil {
			t.Fatal(err)
		}
		var cm struct{ To, Text string }
		_ = m.Decode(&cm)
		if cm.Text != "psst" || cm.To != cj.ID {
			t.Errorf("private chat = %+v", cm)
		}
	}
	// Bob must not get it: a later public message is the next chat he sees.
	_ = c.Send(map[string]string{"type": "chat", "text": "public again"})
	m, err = b.WaitFor(timeout(t, 5*time.Second), "chat")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct{ Text string }
	_ = m.Decode(&cm)
	if cm.Text != "public again" {
		t.Errorf("bob received %q: a private message leaked", cm.Text)
	}

	c.Close()
	m, err = a.WaitFor(timeout(t, 5*time.Second), "participant-left")
	if err != nil {
		t.Fatal(err)
	}
	var pl struct {
		Participant struct{ ID string }
	}
	_ = m.Decode(&pl)
	if pl.Participant.ID != cj.ID {
		t.Errorf("participant-left = %+v", pl)
	}
}

// TestKeepalive: a client that stops answering pings is dropped and the
// room is told.
func TestKeepalive(t *testing.T) {
	srv := startServer(t, func(c *configs.Server, _ []configs.Room) {
		c.Signaling.PingInterval = configs.Duration(100 * time.Millisecond)
		c.Signaling.PongTimeout = configs.Duration(400 * time.Millisecond)
	})
	a := srv.dial(t, client.Options{})
	var pings atomic.Int32
	ws := a.Conn()
	ws.SetPingHandler(func(data string) error {
		pings.Add(1)
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})
	if _, err := a.Join(timeout(t, 5*time.Second), "chat", "alive"); err != nil {
		t.Fatal(err)
	}
	dead := srv.dial(t, client.Options{})
	dead.Conn().SetPingHandler(func(string) error { return nil }) // never pong
	if _, err := dead.Join(timeout(t, 5*time.Second), "chat", "dead"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WaitFor(timeout(t, 5*time.Second), "participant-left"); err != nil {
		t.Fatalf("the dead client was not dropped: %v", err)
	}
	// The live client, which answers pings, stays, through more pings
	// than twice the pong timeout holds.
	answered := pings.Load()
	eventually(t, 10*time.Second, "the live client answers 10 more pings", func() bool { return pings.Load() >= answered+10 })
	_ = a.Send(map[string]string{"type": "ping"})
	if _, err := a.WaitFor(timeout(t, 5*time.Second), "pong"); err != nil {
		t.Fatalf("the live client was dropped: %v", err)
	}
}

// TestShutdownTellsSessions: on shutdown every session gets a bye and a
// going-away close.
func TestShutdownTellsSessions(t *testing.T) {
	srv := startServer(t, nil)
	a, _ := srv.join(t, "chat", "ann", client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := a.WaitFor(timeout(t, 5*time.Second), "bye")
	if err != nil {
		t.Fatal(err)
	}
	var bye struct{ Code string }
	_ = m.Decode(&bye)
	if bye.Code != "server-shutdown" {
		t.Errorf("bye code %q", bye.Code)
	}
	<-a.Done()
	var ce *websocket.CloseError
	if err := a.CloseError(); !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("want close 1001, got %v", err)
	}
}

// TestSecurityHeaders: every response carries the security headers, and
// the API's policy allows nothing to run.
func TestSecurityHeaders(t *testing.T) {
	srv := startServer(t, nil)
	for _, path := range []string{"/", "/healthz", "/api/rooms", "/api/rooms/nope", "/api/rooms/chat/clips"} {
		resp, _ := srv.fetch(t, "GET", path, "", nil)
		for _, h := range []string{"X-Content-Type-Options", "Content-Security-Policy", "Referrer-Policy", "X-Frame-Options"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("GET %s: no %s", path, h)
			}
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if path != "/" && !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: CSP allows inline code: %q", path, csp)
		}
	}
}

// TestRejoinReplacesLostSession: a client whose connection was lost joins
// again under its name with its owner key while the server still holds
// the old connection. The old session is told to go (bye "replaced") and
// the new one takes the name; the room sees one leave and one join.
// Without the key the name stays taken.
func TestRejoinReplacesLostSession(t *testing.T) {
	srv := startServer(t, nil)
	a, aj := srv.join(t, "chat", "ann", client.Options{})
	b, _ := srv.join(t, "chat", "bob", client.Options{})

	imp := srv.dial(t, client.Options{})
	_ = imp.Send(map[string]string{"type": "join", "room": "chat", "name": "Ann"})
	expectError(t, imp, "name-taken")

	a2, a2j := srv.join(t, "chat", "ann", client.Options{OwnerKey: aj.OwnerKey})
	if a2j.ID == aj.ID || a2j.OwnerKey != aj.OwnerKey {
		t.Fatalf("rejoin: id %s (was %s), key kept %v", a2j.ID, aj.ID, a2j.OwnerKey == aj.OwnerKey)
	}
	m, err := a.WaitFor(timeout(t, 5*time.Second), "bye")
	if err != nil {
		t.Fatalf("the old session was not told: %v", err)
	}
	var bye struct{ Code, Message string }
	_ = m.Decode(&bye)
	if bye.Code != "replaced" || bye.Message == "" {
		t.Errorf("bye %+v", bye)
	}
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the old connection stays open")
	}
	var left, joined struct{ Participant struct{ ID, Name string } }
	m, err = b.WaitFor(timeout(t, 5*time.Second), "participant-left")
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Decode(&left)
	m, err = b.WaitFor(timeout(t, 5*time.Second), "participant-joined")
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Decode(&joined)
	if left.Participant.ID != aj.ID || joined.Participant.ID != a2j.ID {
		t.Errorf("bob saw %s leave and %s join; want %s and %s", left.Participant.ID, joined.Participant.ID, aj.ID, a2j.ID)
	}
	// The old session's end is counted once its goroutines have ended,
	// which may be after its client saw the connection close.
	eventually(t, 5*time.Second, "3 sessions (ann, bob, the refused one)", func() bool { return srv.hub.Sessions() == 3 })

	// The same again, the name typed in another case.
	_, a3j := srv.join(t, "chat", "ANN", client.Options{OwnerKey: aj.OwnerKey})
	if _, err := a2.WaitFor(timeout(t, 5*time.Second), "bye"); err != nil {
		t.Fatalf("second replacement: %v", err)
	}
	if a3j.Name != "ANN" {
		t.Errorf("joined as %q", a3j.Name)
	}
}
