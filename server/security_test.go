package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"parley/access"
	"parley/client"
	"parley/configs"
)

// Tests of the holes a hostile audit found: each drives the server from
// outside, as an attacker would, over real HTTP, websocket and WebRTC.

// TestWHIPOwnerKeyIsSecret: the owner key of a WHIP publisher that came
// with a join token cannot be computed from public facts, so nobody who
// joins the room can claim that publisher's clips.
func TestWHIPOwnerKeyIsSecret(t *testing.T) {
	srv := accessServer(t, nil)
	watcher, _ := srv.join(t, "chat", "watcher", client.Options{})
	p := newMediaPublisher(t, false)
	tok := token(t, access.Claims{Room: "chat", Name: "obs"})
	_, loc := whipPublishAuth(t, srv, "/whip/chat", "Bearer "+tok, p)
	p.stream(t, 1)
	if resp, body := srv.fetch(t, "DELETE", loc, tok, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE %s: %s %s", loc, resp.Status, body)
	}
	m, err := watcher.WaitFor(timeout(t, 10*time.Second), "clip-added")
	if err != nil {
		t.Fatal(err)
	}
	clip := decodeClip(t, m)
	if clip.Author != "obs" {
		t.Fatalf("clip by %q", clip.Author)
	}

	// The key as it used to be derived: a hash of public facts.
	sum := sha256.Sum256([]byte("parley-token-owner\x00chat\x00obs"))
	guessed := base64.RawURLEncoding.EncodeToString(sum[:])
	for _, key := range []string{guessed, "a-guessed-owner-key-that-is-long"} {
		eve, j := srv.join(t, "chat", "eve", client.Options{OwnerKey: key})
		_ = eve.Send(map[string]string{"type": "clip-delete", "id": clip.ID})
		expectError(t, eve, "forbidden")
		if resp, _ := srv.fetch(t, "DELETE", "/api/rooms/chat/clips/"+clip.ID, j.OwnerKey, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("DELETE by a joiner with a guessed owner key: %s", resp.Status)
		}
		eve.Close()
		eventually(t, 5*time.Second, "eve leaves", func() bool { return srv.participants("chat") == 1 })
	}
	if resp, _ := srv.fetch(t, "GET", "/api/rooms/chat/clips/"+clip.ID, "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("the clip is gone: %s", resp.Status)
	}
}

// participants is the participant count of an open room, as listed.
func (s *testServer) participants(room string) int {
	for _, r := range s.Rooms() {
		if r.Name == room {
			return r.Participants
		}
	}
	return -1
}

// TestWHIPResource: a WHIP session is ended only through its own secret
// resource URL, and, when its offer carried a credential, only with it.
func TestWHIPResource(t *testing.T) {
	srv := accessServer(t, nil)
	watcher, _ := srv.join(t, "walkie", "watcher", client.Options{})
	tok := token(t, access.Claims{Room: "walkie", Name: "caster"})
	_, loc := whipPublishAuth(t, srv, "/whip/walkie", "Bearer "+tok, newMediaPublisher(t, false))
	m, err := watcher.WaitFor(timeout(t, 5*time.Second), "participant-joined")
	if err != nil {
		t.Fatal(err)
	}
	var pj struct {
		Participant struct{ ID string } `json:"participant"`
	}
	_ = m.Decode(&pj)
	id := pj.Participant.ID
	if id == "" || strings.Contains(loc, id) {
		t.Fatalf("the resource URL %s holds the public participant id %q", loc, id)
	}
	other := token(t, access.Claims{Room: "walkie", Name: "mallory"})
	for _, tc := range []struct {
		path, bearer string
		status       int
	}{
		{"/whip/walkie/" + id, "", http.StatusNotFound},
		{"/whip/walkie/" + id, tok, http.StatusNotFound},
		{loc, "", http.StatusUnauthorized},
		{loc, other, http.StatusUnauthorized},
		{strings.Replace(loc, "/walkie/", "/chat/", 1), tok, http.StatusNotFound},
	} {
		if resp, _ := srv.fetch(t, "DELETE", tc.path, tc.bearer, nil); resp.StatusCode != tc.status {
			t.Errorf("DELETE %s with %.12q: %s, want %d", tc.path, tc.bearer, resp.Status, tc.status)
		}
	}
	if n := srv.participants("walkie"); n != 2 {
		t.Fatalf("%d participants after the refused DELETEs, want 2", n)
	}
	if resp, _ := srv.fetch(t, "DELETE", loc, tok, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE with the session's credential: %s", resp.Status)
	}
	if _, err := watcher.WaitFor(timeout(t, 5*time.Second), "participant-left"); err != nil {
		t.Fatal(err)
	}
}

// TestWHIPAdmission: WHIP goes through the websocket join's admission:
// an operator's name and a password room's names need their passwords;
// and a join that proves a name takes it over from a session that did
// not.
func TestWHIPAdmission(t *testing.T) {
	srv := accessServer(t, nil)
	offer := whipOffer(t, newMediaPublisher(t, false)).LocalDescription().SDP
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/whip/chat?name=olga", http.StatusUnauthorized},
		{"/whip/chat?name=OLGA", http.StatusUnauthorized},
		{"/whip/chat?name=%EF%BD%8F%EF%BD%8C%EF%BD%87%EF%BD%81", http.StatusUnauthorized}, // full-width "olga"
		{"/whip/videochat?name=Ann", http.StatusUnauthorized},
		{"/whip/forum?name=pat", http.StatusUnauthorized},
		{"/whip/chat?name=%E3%85%A4", http.StatusBadRequest}, // a Hangul filler: shows nothing
	} {
		if resp, body := srv.whipPost(t, tc.path, "", offer); resp.StatusCode != tc.status {
			t.Errorf("POST %s: %s %s, want %d", tc.path, resp.Status, body, tc.status)
		}
	}
	if _, _, code := srv.joinAs(t, "chat", "olga", client.Options{Password: "operator pass"}); code != "" {
		t.Fatalf("the operator cannot join: %s", code)
	}

	// A WHIP publisher without credentials holds "tim" in an open room;
	// tim comes with a join token and takes the name over.
	watcher, _ := srv.join(t, "walkie", "watcher", client.Options{})
	srv.whipLive(t, "/whip/walkie?name=tim", "")
	if _, err := watcher.WaitFor(timeout(t, 5*time.Second), "participant-joined"); err != nil {
		t.Fatal(err)
	}
	tim, j, code := srv.joinAs(t, "walkie", "", client.Options{Token: token(t, access.Claims{Room: "walkie", Name: "Tim"})})
	if code != "" || j.Name != "Tim" {
		t.Fatalf("the token holder: %q %+v", code, j)
	}
	// A websocket session without credentials gives way the same way.
	if _, _, code := srv.joinAs(t, "walkie", "tim", client.Options{}); code != "name-taken" {
		t.Fatalf("an unproven join took a proven name: %q", code)
	}
	tim.Close()
	eventually(t, 5*time.Second, "tim leaves", func() bool { return srv.participants("walkie") == 1 })
	plain, _ := srv.join(t, "walkie", "tim", client.Options{})
	if _, _, code := srv.joinAs(t, "walkie", "TIM", client.Options{Token: token(t, access.Claims{Room: "walkie", Name: "tim"})}); code != "" {
		t.Fatalf("the token holder: %q", code)
	}
	m, err := plain.WaitFor(timeout(t, 5*time.Second), "bye")
	if err != nil || !strings.Contains(string(m.Raw), `"name-claimed"`) {
		t.Fatalf("the unproven holder was not told: %v %s", err, m.Raw)
	}
}

// whipLive starts a WHIP session that connects and sends a little media,
// so that it stays.
func (s *testServer) whipLive(t *testing.T, path, authz string) string {
	t.Helper()
	p := newMediaPublisher(t, false)
	_, loc := whipPublishAuth(t, s, path, authz, p)
	p.stream(t, 1)
	return loc
}

// TestWHIPFlood: offers that never connect, sent at once from one
// address, are limited per address, and the ones admitted leave the room
// when their connect deadline passes, with nothing left running.
func TestWHIPFlood(t *testing.T) {
	srv := startServerWith(t, Options{WHIPConnectTimeout: 2 * time.Second}, func(_ *configs.Server, rooms []configs.Room) {
		for i := range rooms {
			rooms[i].MaxParticipants = 12
		}
	})
	offer := whipOffer(t, newMediaPublisher(t, false)).LocalDescription().SDP
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		status = map[int]int{}
	)
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := srv.whipPost(t, fmt.Sprintf("/whip/walkie?name=flood%d", i), "", offer)
			mu.Lock()
			status[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if status[http.StatusCreated] > WHIPStartBurst || status[http.StatusCreated]+status[http.StatusTooManyRequests] != 60 {
		t.Fatalf("60 offers at once from one address: %v; want at most %d created, the rest 429", status, WHIPStartBurst)
	}
	if n := srv.participants("walkie"); n >= 12 {
		t.Fatalf("the flood filled the room: %d", n)
	}
	// A real user still gets in, and the sessions that never connected
	// are gone after their deadline.
	srv.join(t, "walkie", "real", client.Options{})
	eventually(t, 15*time.Second, "the unconnected WHIP sessions leave", func() bool { return srv.participants("walkie") == 1 })
}

// TestPasswordGuessesAtOnce: wrong passwords sent at once from one
// address are checked no more often than the failure limit allows, for
// room passwords and operator passwords alike, and an IPv6 client is
// limited by its /64.
func TestPasswordGuessesAtOnce(t *testing.T) {
	srv := accessServer(t, func(cfg *configs.Server, _ []configs.Room) {
		cfg.Auth.FailureBurst = 3
		cfg.HTTP.TrustedProxies = []string{"127.0.0.1/32"}
	})
	guess := func(room, name, password, from string) string {
		h := http.Header{}
		h.Set("X-Forwarded-For", from)
		_, _, code := srv.joinAs(t, room, name, client.Options{Password: password, Header: h})
		return code
	}
	for i, tc := range []struct{ room, name, from string }{
		{"forum", "pat", "192.0.2.1"},
		{"chat", "olga", "192.0.2.2"},
	} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[string]int{}
		for j := range 18 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := guess(tc.room, tc.name, fmt.Sprintf("wrong %d %d", i, j), tc.from)
				mu.Lock()
				codes[c]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes["bad-password"] > 3 || codes["bad-password"]+codes["too-many-attempts"] != 18 {
			t.Errorf("18 wrong passwords at once for %s in %s: %v; want at most 3 checked", tc.name, tc.room, codes)
		}
		if c := guess("forum", "quinn", "room pass", tc.from); c != "too-many-attempts" {
			t.Errorf("the right password right after: %q", c)
		}
	}
	// Each address of one /64 is one client.
	for i := range 3 {
		if c := guess("forum", "pat", "wrong", fmt.Sprintf("2001:db8:7:7::%x", i+1)); c != "bad-password" {
			t.Fatalf("guess %d: %q", i, c)
		}
	}
	if c := guess("forum", "pat", "room pass", "2001:db8:7:7:ffff::1"); c != "too-many-attempts" {
		t.Errorf("a fresh address in the same /64: %q", c)
	}
	if c := guess("forum", "pat", "room pass", "2001:db8:7:8::1"); c != "" {
		t.Errorf("another /64: %q", c)
	}
}

// TestNameRules: names that look alike are one name, and names that show
// nothing are refused.
func TestNameRules(t *testing.T) {
	srv := startServer(t, nil)
	srv.join(t, "chat", "Zoë", client.Options{}) // composed ë
	for _, name := range []string{"Zoe\u0308", "ZOË", "ｚｏë"} {
		if _, _, code := srv.joinAs(t, "chat", name, client.Options{}); code != "name-taken" {
			t.Errorf("join as %q next to Zoë: %q, want name-taken", name, code)
		}
	}
	for _, name := range []string{"\u0301\u0301", "\u3164", "\u115f\u1160", "\uffa0", "a\u200bb", "\u200d"} {
		if _, _, code := srv.joinAs(t, "chat", name, client.Options{}); code != "bad-name" {
			t.Errorf("join as %+q: %q, want bad-name", name, code)
		}
	}
	_, j, code := srv.joinAs(t, "chat", "Rene\u0301", client.Options{})
	if code != "" || j.Name != "René" {
		t.Errorf("a decomposed name is kept as %+q (%q), want it composed", j.Name, code)
	}
}

// TestOriginScheme: the websocket's Origin must match the scheme the
// server is reached by, not only its host.
func TestOriginScheme(t *testing.T) {
	srv := startServer(t, func(c *configs.Server, _ []configs.Room) {
		c.HTTP.TrustedProxies = []string{"127.0.0.1/32"}
	})
	host := srv.Addr().String()
	dial := func(origin, proto string) int {
		h := http.Header{}
		h.Set("Origin", origin)
		if proto != "" {
			h.Set("X-Forwarded-Proto", proto)
		}
		ws, resp, err := websocket.DefaultDialer.DialContext(context.Background(), srv.wsURL(), h)
		if err == nil {
			ws.Close()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	for _, tc := range []struct {
		origin, proto string
		want          int
	}{
		{"http://" + host, "", http.StatusSwitchingProtocols},
		{"https://" + host, "", http.StatusForbidden},
		{"https://" + host, "https", http.StatusSwitchingProtocols},
		{"http://" + host, "https", http.StatusForbidden},
		{"http://" + strings.ToUpper(host), "", http.StatusSwitchingProtocols},
		{"ws://" + host, "", http.StatusForbidden},
		{"null", "", http.StatusForbidden},
	} {
		if got := dial(tc.origin, tc.proto); got != tc.want {
			t.Errorf("Origin %s (proto %q): %d, want %d", tc.origin, tc.proto, got, tc.want)
		}
	}
}
