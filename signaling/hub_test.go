package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"parley/access"
	"parley/configs"
)

// dialWS opens a websocket to the test server with the given headers and
// returns it with the upgrade's status; a refused upgrade gives a nil
// connection.
func dialWS(t *testing.T, url string, header http.Header) (*websocket.Conn, int) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: wait}
	conn, resp, err := d.DialContext(timeout(t), url, header)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if err != nil {
		if resp == nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		return nil, status
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, status
}

// readUntilClose reads messages until the server closes the connection
// and returns them (types, with a code after a colon) and the close frame.
func readUntilClose(t *testing.T, conn *websocket.Conn) ([]string, *websocket.CloseError) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	var got []string
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("after %v: %v, want a close frame", got, err)
			}
			return got, ce
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("invalid JSON: %s", b)
		}
		got = append(got, types([]map[string]any{m})...)
	}
}

// readOne reads one message.
func readOne(t *testing.T, conn *websocket.Conn) map[string]any {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	var m map[string]any
	if err := conn.ReadJSON(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMessageRate: a client may send a burst of messages; the next are
// dropped with rate-limited, and one that goes on past twice the burst is
// sent bye too-many-messages and closed with 1008.
func TestMessageRate(t *testing.T) {
	h := newHub(t, func(c *Config, _ []configs.Room) {
		c.Signaling.MessagesPerSecond = 0.001 // no refill while the test runs
		c.Signaling.MessageBurst = 3
	})
	ts := serve(t, h)
	conn, _ := dialWS(t, wsURL(ts), nil)
	// 3 allowed, 6 refused, and the 7th refusal in a row closes.
	for range 10 {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
	}
	got, ce := readUntilClose(t, conn)
	want := []string{"pong", "pong", "pong"}
	for range 6 {
		want = append(want, "error:"+ErrRateLimited)
	}
	want = append(want, "bye:"+ErrTooManyMessages)
	if !sameList(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if ce.Code != websocket.ClosePolicyViolation {
		t.Errorf("closed with %d, want %d", ce.Code, websocket.ClosePolicyViolation)
	}
}

// TestTokenBucketRefill: the rate refills fractionally: at half a message
// a second, a message is allowed two seconds after the burst is spent,
// not before.
func TestTokenBucketRefill(t *testing.T) {
	b := newTokenBucket(1)
	now := time.Unix(1000, 0)
	if !b.allow(now, 0.5, 1) {
		t.Fatal("the first message refused")
	}
	if b.allow(now.Add(1900*time.Millisecond), 0.5, 1) {
		t.Fatal("a message allowed before its token refilled")
	}
	if !b.allow(now.Add(2000*time.Millisecond), 0.5, 1) {
		t.Fatal("no message allowed once the token refilled")
	}
}

// TestFraming: a binary frame is answered with bad-json and the session
// goes on; a message over max_message_bytes closes it with 1009.
func TestFraming(t *testing.T) {
	h := newHub(t, func(c *Config, _ []configs.Room) { c.Signaling.MaxMessageBytes = 1024 })
	ts := serve(t, h)
	conn, _ := dialWS(t, wsURL(ts), nil)
	if err := conn.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if m := readOne(t, conn); m["type"] != TypeError || m["code"] != ErrBadJSON {
		t.Errorf("a binary frame: %v", m)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","req":1}`)); err != nil {
		t.Fatal(err)
	}
	if m := readOne(t, conn); m["type"] != TypePong || m["req"] != float64(1) {
		t.Errorf("ping: %v", m)
	}
	big := `{"type":"chat","text":"` + strings.Repeat("a", 2000) + `"}`
	if err := conn.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
		t.Fatal(err)
	}
	if _, ce := readUntilClose(t, conn); ce.Code != websocket.CloseMessageTooBig {
		t.Errorf("a message too big closed with %d, want %d", ce.Code, websocket.CloseMessageTooBig)
	}
}

// TestKeepalive: a client that sends nothing and answers no ping for the
// pong timeout is closed with 1008 keepalive-timeout, and the room sees it
// leave.
func TestKeepalive(t *testing.T) {
	h := newHub(t, func(c *Config, _ []configs.Room) {
		c.Signaling.PingInterval = configs.Duration(time.Hour) // no pings to answer
		// Long enough for the join to come first on a busy machine.
		c.Signaling.PongTimeout = configs.Duration(1500 * time.Millisecond)
	})
	ts := serve(t, h)
	watcher := newClient(t, h)
	watcher.join("chat", "watcher", nil)
	conn, _ := dialWS(t, wsURL(ts), nil)
	if err := conn.WriteJSON(map[string]string{"type": "join", "room": "chat", "name": "quiet"}); err != nil {
		t.Fatal(err)
	}
	got, ce := readUntilClose(t, conn)
	if len(got) != 1 || got[0] != TypeJoined {
		t.Errorf("got %v", got)
	}
	if ce.Code != websocket.ClosePolicyViolation || ce.Text != ErrKeepaliveTimeout {
		t.Errorf("closed with %d %q, want %d %q", ce.Code, ce.Text, websocket.ClosePolicyViolation, ErrKeepaliveTimeout)
	}
	watcher.waitFor(TypeParticipantJoined)
	if left := watcher.waitFor(TypeParticipantLeft); field(left, "participant", "name") != "quiet" {
		t.Errorf("watcher was told %v", left)
	}
}

// TestCheckOrigin: the upgrade is refused with 403 for a browser page of
// another origin; the server's own origin (scheme, host and port, the
// scheme's default port made explicit), the configured origins and
// clients without an Origin are accepted.
func TestCheckOrigin(t *testing.T) {
	h := newHub(t, func(c *Config, _ []configs.Room) { c.AllowedOrigins = []string{"https://App.Example"} })
	ts := serve(t, h)
	host := strings.TrimPrefix(ts.URL, "http://")
	_, port, _ := strings.Cut(host, ":")
	for _, tc := range []struct {
		origin string
		proto  string // X-Forwarded-Proto, from an address that is no proxy
		status int
	}{
		{"", "", http.StatusSwitchingProtocols},
		{"http://" + host, "", http.StatusSwitchingProtocols},
		{"HTTP://" + strings.ToUpper(host), "", http.StatusSwitchingProtocols},
		{"https://app.example", "", http.StatusSwitchingProtocols},
		{"http://" + host, "https", http.StatusSwitchingProtocols},
		{"https://" + host, "https", http.StatusForbidden},
		{"https://" + host, "", http.StatusForbidden},
		{"http://localhost:" + port, "", http.StatusForbidden},
		{"http://127.0.0.1", "", http.StatusForbidden},
		{"http://" + host + "/page", "", http.StatusForbidden},
		{"http://user@" + host, "", http.StatusForbidden},
		{"https://app.example.evil", "", http.StatusForbidden},
		{"null", "", http.StatusForbidden},
	} {
		header := http.Header{}
		if tc.origin != "" {
			header.Set("Origin", tc.origin)
		}
		if tc.proto != "" {
			header.Set("X-Forwarded-Proto", tc.proto)
		}
		conn, status := dialWS(t, wsURL(ts), header)
		if status != tc.status {
			t.Errorf("Origin %q (X-Forwarded-Proto %q): %d, want %d", tc.origin, tc.proto, status, tc.status)
		}
		if conn != nil {
			_ = conn.Close()
		}
	}
}

// TestCheckOriginBehindProxy: behind a trusted proxy that says the
// request came over TLS, the server's own origin is https.
func TestCheckOriginBehindProxy(t *testing.T) {
	h := newHub(t, func(c *Config, _ []configs.Room) {
		c.Auth.Proxies = access.Proxies{netip.MustParsePrefix("127.0.0.1/32")}
	})
	ts := serve(t, h)
	host := strings.TrimPrefix(ts.URL, "http://")
	for _, tc := range []struct {
		origin, proto string
		status        int
	}{
		{"https://" + host, "https", http.StatusSwitchingProtocols},
		{"http://" + host, "https", http.StatusForbidden},
		{"http://" + host, "", http.StatusSwitchingProtocols},
	} {
		header := http.Header{"Origin": {tc.origin}}
		if tc.proto != "" {
			header.Set("X-Forwarded-Proto", tc.proto)
		}
		conn, status := dialWS(t, wsURL(ts), header)
		if status != tc.status {
			t.Errorf("Origin %q (X-Forwarded-Proto %q): %d, want %d", tc.origin, tc.proto, status, tc.status)
		}
		if conn != nil {
			_ = conn.Close()
		}
	}
}

// TestConnectionsPerAddress: beyond max_connections_per_ip open
// websockets from one address (as a trusted proxy gives it), the upgrade
// is refused with 429; other addresses are not, and a closed connection
// gives its place back.
func TestConnectionsPerAddress(t *testing.T) {
	h := newHub(t, func(c *Config, _ []configs.Room) {
		c.Auth.MaxConnectionsPerIP = 1
		c.Auth.Proxies = access.Proxies{netip.MustParsePrefix("127.0.0.1/32")}
	})
	ts := serve(t, h)
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	first, status := dialWS(t, wsURL(ts), from("203.0.113.1"))
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("first connection: %d", status)
	}
	if _, status := dialWS(t, wsURL(ts), from("203.0.113.1")); status != http.StatusTooManyRequests {
		t.Errorf("second connection from one address: %d, want 429", status)
	}
	if _, status := dialWS(t, wsURL(ts), from("203.0.113.2")); status != http.StatusSwitchingProtocols {
		t.Errorf("a connection from another address: %d", status)
	}
	// An IPv6 client counts as its /64.
	if _, status := dialWS(t, wsURL(ts), from("2001:db8:1:2::1")); status != http.StatusSwitchingProtocols {
		t.Errorf("an IPv6 connection: %d", status)
	}
	if _, status := dialWS(t, wsURL(ts), from("2001:db8:1:2::ffff")); status != http.StatusTooManyRequests {
		t.Errorf("a second connection from one /64: %d, want 429", status)
	}

	if err := first.WriteJSON(map[string]string{"type": "leave"}); err != nil {
		t.Fatal(err)
	}
	readUntilClose(t, first)
	// The place is given back once the server has closed the session.
	deadline := time.Now().Add(wait)
	for {
		conn, status := dialWS(t, wsURL(ts), from("203.0.113.1"))
		if status == http.StatusSwitchingProtocols {
			_ = conn.Close()
			break
		}
		if status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after the first connection closed: %d", status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestShutdown: every session is told bye server-shutdown and closed with
// 1001; new connections are refused with 503; nothing of the hub keeps
// running.
func TestShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	h := buildHub(t, nil)
	ts := serve(t, h)
	ann, _ := dialWS(t, wsURL(ts), nil)
	idle, _ := dialWS(t, wsURL(ts), nil)
	if err := ann.WriteJSON(map[string]string{"type": "join", "room": "chat", "name": "ann"}); err != nil {
		t.Fatal(err)
	}
	if m := readOne(t, ann); m["type"] != TypeJoined {
		t.Fatalf("join: %v", m)
	}
	// The upgrade is answered before the hub counts the session.
	for deadline := time.Now().Add(wait); h.Sessions() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions, want 2", h.Sessions())
		}
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		done <- h.Shutdown(ctx)
	}()
	for name, conn := range map[string]*websocket.Conn{"ann": ann, "idle": idle} {
		got, ce := readUntilClose(t, conn)
		if !sameList(got, []string{"bye:" + ErrServerShutdown}) || ce.Code != websocket.CloseGoingAway {
			t.Errorf("%s got %v and close %d", name, got, ce.Code)
		}
		_ = conn.Close()
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if n := h.Sessions(); n != 0 {
		t.Errorf("%d sessions after shutdown", n)
	}
	if _, status := dialWS(t, wsURL(ts), nil); status != http.StatusServiceUnavailable {
		t.Errorf("a connection after shutdown: %d, want 503", status)
	}
	ts.Close()
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines run, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRoomList: GET /api/rooms lists every room, sorted, with its title
// and description, how many are in it for open rooms only, whether the
// server has operators, and never a password; GET /api/rooms/{room} gives
// one, 404 for a room that does not exist.
func TestRoomList(t *testing.T) {
	h := accessHubWith(t, nil)
	ts := serve(t, h)
	for _, room := range []string{"chat", "chat", "forum"} {
		c := newClient(t, h)
		c.join(room, "p"+newKey()[:6], map[string]string{"password": "room pass"})
	}
	get := func(path string, v any) *http.Response {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(b), "$2a$") {
			t.Errorf("%s shows a password hash: %s", path, b)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v: %s", path, err, b)
		}
		return resp
	}
	var list struct {
		Rooms []map[string]any `json:"rooms"`
	}
	resp := get("/api/rooms", &list)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", resp.Header)
	}
	var names []string
	for _, r := range list.Rooms {
		names = append(names, r["name"].(string))
	}
	if strings.Join(names, ",") != "chat,forum,live,videochat,walkie" {
		t.Errorf("rooms %v", names)
	}
	byName := map[string]map[string]any{}
	for _, r := range list.Rooms {
		byName[r["name"].(string)] = r
	}
	if n, ok := byName["chat"]["participants"]; !ok || n != float64(2) {
		t.Errorf("chat (open) shows participants %v", n)
	}
	if n, ok := byName["forum"]["participants"]; ok {
		t.Errorf("forum (password) shows participants %v", n)
	}
	if byName["walkie"]["live"] != true || byName["chat"]["live"] != false || byName["forum"]["access"] != configs.AccessPassword {
		t.Errorf("listing %v", list.Rooms)
	}

	var one map[string]any
	if resp := get("/api/rooms/chat", &one); resp.StatusCode != http.StatusOK || one["name"] != "chat" || one["participants"] != float64(2) {
		t.Errorf("GET /api/rooms/chat: %s %v", resp.Status, one)
	}
	one = nil
	if resp := get("/api/rooms/forum", &one); resp.StatusCode != http.StatusOK || one["participants"] != nil {
		t.Errorf("GET /api/rooms/forum: %s %v", resp.Status, one)
	}
	var e map[string]string
	if resp := get("/api/rooms/nope", &e); resp.StatusCode != http.StatusNotFound || e["error"] == "" {
		t.Errorf("GET /api/rooms/nope: %s %v", resp.Status, e)
	}
	for _, r := range list.Rooms {
		if r["operators"] != true || r["title"] == "" || r["description"] == "" {
			t.Errorf("%s: operators %v, title %q, description %q; want operators (the server has one), the demo room's title and description", r["name"], r["operators"], r["title"], r["description"])
		}
	}

	// A server without operator accounts says so: nobody needs a password
	// in an open room.
	list.Rooms = nil
	ts = serve(t, newHub(t, nil))
	get("/api/rooms", &list)
	for _, r := range list.Rooms {
		if r["operators"] != false {
			t.Errorf("%s: operators %v on a server without operators", r["name"], r["operators"])
		}
	}
	one = nil
	if get("/api/rooms/chat", &one); one["operators"] != false {
		t.Errorf("GET /api/rooms/chat: operators %v on a server without operators", one["operators"])
	}
}
