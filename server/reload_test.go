package server

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"parley/client"
	"parley/configs"
)

// TestReloadLimits: the limits of a server file read again apply to the
// next connection, message, join and WHEP start, while what is open
// keeps working: a lowered max_connections_per_ip refuses the next
// websocket with 429 and keeps those open, a raised one admits it; a
// raised max_chat_length and max_name_length admit the chat message and
// the name refused before; a lowered message burst refuses the next
// message of an open session, a raised rate serves it again; a lowered
// failure burst blocks the next failed join, a raised rate unblocks it;
// a WHEP start rate set from 0 limits the next start.
func TestReloadLimits(t *testing.T) {
	srv := startServer(t, func(cfg *configs.Server, _ []configs.Room) {
		cfg.HTTP.MaxConnectionsPerIP = 4
		cfg.HTTP.WHEPStartsPerMinute = 0
	})
	cfg := srv.cfg
	reload := func(want ...string) {
		t.Helper()
		applied, restart := srv.ReloadServer(cfg)
		if !slices.Equal(applied, want) || len(restart) > 0 {
			t.Fatalf("applied %v and %v needs a restart, want %v applied", applied, restart, want)
		}
	}
	ping := func(c *client.Client, what string) {
		t.Helper()
		if err := c.Send(map[string]string{"type": "ping", "req": "p"}); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, err := c.WaitFor(timeout(t, 0), "pong"); err != nil {
			t.Fatalf("%s: no pong: %v", what, err)
		}
	}
	dial := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), minWait)
		defer cancel()
		c, err := client.Dial(ctx, srv.wsURL(), client.Options{LoopbackOnly: true})
		if err == nil {
			c.Close()
		}
		return err
	}

	// Connections per address: two open, the bound lowered to 2.
	ann, _ := srv.join(t, "chat", "ann", client.Options{})
	bob := srv.dial(t, client.Options{})
	cfg.HTTP.MaxConnectionsPerIP = 2
	reload("http.max_connections_per_ip")
	if err := dial(); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("a third websocket under a bound lowered to 2: %v, want 429", err)
	}
	ping(ann, "an open session after the bound was lowered")
	cfg.HTTP.MaxConnectionsPerIP = 3
	reload("http.max_connections_per_ip")
	if err := dial(); err != nil {
		t.Fatalf("a third websocket under a bound raised to 3: %v", err)
	}
	cfg.HTTP.MaxConnectionsPerIP = 0 // the rest opens more, and closes them
	reload("http.max_connections_per_ip")

	// Chat length: refused at 20 characters, taken at 100.
	cfg.Signaling.MaxChatLength = 20
	reload("signaling.max_chat_length")
	long := strings.Repeat("x", 50)
	_ = ann.Send(map[string]string{"type": "chat", "text": long})
	expectError(t, ann, "bad-request")
	cfg.Signaling.MaxChatLength = 100
	reload("signaling.max_chat_length")
	_ = ann.Send(map[string]string{"type": "chat", "text": long})
	if _, err := ann.WaitFor(timeout(t, 0), "chat"); err != nil {
		t.Fatalf("a chat of 50 characters under a limit raised to 100: %v", err)
	}

	// Name length: a name of 40 characters, refused at 32, taken at 48.
	name := strings.Repeat("n", 40)
	ctx := timeout(t, 0)
	if _, err := bob.Join(ctx, "chat", name); err == nil {
		t.Fatal("a name of 40 characters joined under max_name_length 32")
	} else {
		wantCode(t, err, "bad-name")
	}
	cfg.Signaling.MaxNameLength = 48
	reload("signaling.max_name_length")
	if _, err := bob.Join(ctx, "chat", name); err != nil {
		t.Fatalf("a name of 40 characters under max_name_length 48: %v", err)
	}

	// Message rate: an open session's burst lowered to 2, then its rate
	// raised far enough to refill at once.
	cfg.Signaling.MessageBurst = 2
	cfg.Signaling.MessagesPerSecond = 0.001
	reload("signaling.messages_per_second", "signaling.message_burst")
	ping(ann, "the first message of a burst of 2")
	ping(ann, "the second message of a burst of 2")
	_ = ann.Send(map[string]string{"type": "ping", "req": "p"})
	expectError(t, ann, "rate-limited")
	cfg.Signaling.MessagesPerSecond = 1e9
	reload("signaling.messages_per_second")
	ping(ann, "a message at a rate raised to 1e9 a second")

	// Failed joins: a bad token, charged; the burst lowered to 1 blocks
	// the next; a raised rate unblocks it.
	ip := netip.MustParseAddr("127.0.0.1")
	badToken := func() string {
		_, _, code := srv.joinAs(t, "chat", "", client.Options{Token: "a.b.c"})
		return code
	}
	if code := badToken(); code != "bad-token" {
		t.Fatalf("a bad token: %q", code)
	}
	cfg.Auth.FailureBurst = 1
	cfg.Auth.FailuresPerMinute = 0.001
	reload("auth.failures_per_minute", "auth.failure_burst")
	if code := badToken(); code != "bad-token" {
		t.Fatalf("the one failure left under a burst lowered to 1: %q", code)
	}
	if code := badToken(); code != "too-many-attempts" {
		t.Fatalf("a failure beyond a burst lowered to 1: %q, want too-many-attempts", code)
	}
	cfg.Auth.FailuresPerMinute = 60_000
	reload("auth.failures_per_minute")
	eventually(t, 0, "the address refilled at 1,000 failures a second", func() bool { return !srv.joinFailures.Blocked(ip) })
	if code := badToken(); code != "bad-token" {
		t.Fatalf("a failure after the refill: %q, want bad-token", code)
	}

	// WHEP starts: no bound, then 1 a minute.
	whep := func() int {
		req, _ := http.NewRequest("POST", "http://"+srv.Addr().String()+"/whep/live", strings.NewReader("garbage"))
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 3 {
		if got := whep(); got == http.StatusTooManyRequests {
			t.Fatal("a WHEP start refused with no bound")
		}
	}
	cfg.HTTP.WHEPStartsPerMinute = 1
	reload("http.whep_starts_per_minute")
	if got := whep(); got == http.StatusTooManyRequests {
		t.Fatal("the first WHEP start under a bound of 1 refused")
	}
	if got := whep(); got != http.StatusTooManyRequests {
		t.Fatalf("a second WHEP start under a bound of 1: %d, want 429", got)
	}
}

// TestReloadNeedsRestart: keys that cannot change while the server runs
// are named as needing a restart and keep their value; a limit applied
// with them is in force.
func TestReloadNeedsRestart(t *testing.T) {
	srv := startServer(t, nil)
	cfg := srv.cfg
	cfg.Chat.HistoryLength = 7
	cfg.Auth.TokenSecret = strings.Repeat("s", 40)
	cfg.Signaling.PongTimeout = configs.Duration(2 * srv.cfg.Signaling.PongTimeout.D())
	applied, restart := srv.ReloadServer(cfg)
	if want := []string{"signaling.pong_timeout"}; !slices.Equal(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	if want := []string{"chat.history_length", "auth.token_secret"}; !slices.Equal(restart, want) {
		t.Errorf("needs a restart: %v, want %v", restart, want)
	}
	if srv.running.Chat.HistoryLength != srv.cfg.Chat.HistoryLength || srv.running.Auth.TokenSecret != srv.cfg.Auth.TokenSecret {
		t.Error("a key that needs a restart changed the configuration in force")
	}
	if got := srv.running.Signaling.PongTimeout; got != cfg.Signaling.PongTimeout {
		t.Errorf("the pong timeout in force %v, want %v", got, cfg.Signaling.PongTimeout)
	}
}
