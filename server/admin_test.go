package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"parley/client"
	"parley/configs"
	"parley/signaling"
)

const adminToken = "an-admin-token-of-at-least-32-characters"

// startAdminServer is startRoomsServer (without its watcher) with the
// admin API on, whose token is adminToken, named "ann".
func startAdminServer(t *testing.T, mutate func(*configs.Server)) (*testServer, string, *logBuffer) {
	t.Helper()
	return startRoomsServer(t, -1, func(cfg *configs.Server) {
		cfg.Admin.Tokens = []configs.AdminToken{{Name: "ann", Token: adminToken}}
		if mutate != nil {
			mutate(cfg)
		}
	})
}

// admin makes an admin API request with adminToken and the headers given
// as name, value pairs.
func (s *testServer) admin(t *testing.T, method, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + adminToken}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return s.fetchWith(t, method, path, h, strings.NewReader(body))
}

// TestAdminAuth: the admin API refuses a missing or wrong token (401),
// then, after auth.failure_burst failures, every request from that
// address (429); it is not there without admin tokens, nor on the
// metrics listener.
func TestAdminAuth(t *testing.T) {
	srv, _, logs := startAdminServer(t, func(cfg *configs.Server) {
		cfg.Auth.FailureBurst, cfg.Auth.FailuresPerMinute = 3, 0.001
		cfg.HTTP.MetricsListen = "127.0.0.1:0"
	})
	if resp, body := srv.admin(t, "GET", "/api/admin/rooms", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/admin/rooms with the token: %s %s", resp.Status, body)
	}
	resp, err := http.Get("http://" + srv.MetricsAddr().String() + "/api/admin/rooms")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the metrics listener answers /api/admin/rooms: %s", resp.Status)
	}
	for i, bearer := range []string{"", "wrong", adminToken + "x"} {
		resp, _ := srv.fetch(t, "GET", "/api/admin/rooms", bearer, nil)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("attempt %d, token %q: %s, want 401 with WWW-Authenticate", i+1, bearer, resp.Status)
		}
	}
	resp, _ = srv.fetch(t, "GET", "/api/admin/rooms", "wrong", nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after 3 failures: %s, want 429 with Retry-After", resp.Status)
	}
	if resp, _ := srv.admin(t, "GET", "/api/admin/rooms", ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right token from a blocked address: %s, want 429", resp.Status)
	}
	if !strings.Contains(logs.String(), "admin API: refused") {
		t.Errorf("refusals are not logged:\n%s", logs.String())
	}

	plain := startServer(t, nil)
	if resp, _ := plain.fetch(t, "GET", "/api/admin/rooms", adminToken, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("without admin tokens, /api/admin/rooms: %s, want 404", resp.Status)
	}
}

// TestAdminRooms: a room made, changed and removed through the admin API
// (its file written whole, applied before the answer); an update needs
// the file's ETag (428 without, 412 stale); a file that does not
// validate is 422 with the error and leaves the file as it was; each
// action is logged with the token's name.
func TestAdminRooms(t *testing.T) {
	srv, dir, logs := startAdminServer(t, nil)
	file := filepath.Join(dir, "extra.toml")
	v1 := "mode = \"mediaChat\"\ntitle = \"Extra\"\n"
	resp, body := srv.admin(t, "PUT", "/api/admin/rooms/extra", v1)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT a new room: %s %s", resp.Status, body)
	}
	tag1 := resp.Header.Get("ETag")
	if code, r := srv.roomListing(t, "extra"); code != http.StatusOK || r.Title != "Extra" {
		t.Fatalf("the new room: %d %+v", code, r)
	}
	if got, _ := os.ReadFile(file); string(got) != v1 {
		t.Errorf("the file holds %q, want %q", got, v1)
	}
	resp, body = srv.admin(t, "GET", "/api/admin/rooms/extra", "")
	if resp.StatusCode != http.StatusOK || string(body) != v1 || resp.Header.Get("ETag") != tag1 {
		t.Errorf("GET the room: %s, ETag %s (want %s): %q", resp.Status, resp.Header.Get("ETag"), tag1, body)
	}
	if resp, _ := srv.admin(t, "PUT", "/api/admin/rooms/extra", v1, "If-None-Match", "*"); resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("PUT If-None-Match: * over a room: %s, want 412", resp.Status)
	}

	v2 := v1 + "max_participants = 3\n"
	if resp, _ := srv.admin(t, "PUT", "/api/admin/rooms/extra", v2); resp.StatusCode != http.StatusPreconditionRequired {
		t.Errorf("update without If-Match: %s, want 428", resp.Status)
	}
	resp, body = srv.admin(t, "PUT", "/api/admin/rooms/extra", v2, "If-Match", tag1)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("update: %s %s", resp.Status, body)
	}
	tag2 := resp.Header.Get("ETag")
	if _, r := srv.roomListing(t, "extra"); r.MaxParticipants != 3 || tag2 == tag1 {
		t.Errorf("after the update: max_participants %d, ETag %s (was %s)", r.MaxParticipants, tag2, tag1)
	}
	// A second editor, who read the first version, cannot overwrite it.
	if resp, _ := srv.admin(t, "PUT", "/api/admin/rooms/extra", v1+"title = \"Mine\"\n", "If-Match", tag1); resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("update with a stale If-Match: %s, want 412", resp.Status)
	}

	bad := "mode = \"mediaChat\"\nmax_clip_bytes = -5\n"
	_, want := configs.ParseRoom("extra.toml", []byte(bad))
	resp, body = srv.admin(t, "PUT", "/api/admin/rooms/extra", bad, "If-Match", tag2)
	var e struct{ Error string }
	_ = json.Unmarshal(body, &e)
	if resp.StatusCode != http.StatusUnprocessableEntity || want == nil || e.Error != want.Error() {
		t.Errorf("PUT an invalid room: %s %q, want 422 %q", resp.Status, e.Error, want)
	}
	if got, _ := os.ReadFile(file); string(got) != v2 {
		t.Errorf("after a refused PUT the file holds %q, want it unchanged", got)
	}

	resp, body = srv.admin(t, "GET", "/api/admin/rooms", "")
	var list struct {
		Rooms []struct {
			Name string `json:"name"`
			ETag string `json:"etag"`
		} `json:"rooms"`
	}
	_ = json.Unmarshal(body, &list)
	found := false
	for _, r := range list.Rooms {
		found = found || (r.Name == "extra" && r.ETag == tag2)
	}
	if resp.StatusCode != http.StatusOK || !found || len(list.Rooms) != 3 {
		t.Errorf("GET /api/admin/rooms: %s %s", resp.Status, body)
	}

	c, _ := srv.join(t, "extra", "bob", client.Options{})
	if resp, _ := srv.admin(t, "DELETE", "/api/admin/rooms/extra", ""); resp.StatusCode != http.StatusPreconditionRequired {
		t.Errorf("DELETE without If-Match: %s, want 428", resp.Status)
	}
	if resp, _ := srv.admin(t, "DELETE", "/api/admin/rooms/extra", "", "If-Match", tag1); resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("DELETE with a stale If-Match: %s, want 412", resp.Status)
	}
	if resp, body := srv.admin(t, "DELETE", "/api/admin/rooms/extra", "", "If-Match", tag2); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s %s", resp.Status, body)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("the deleted room's file: %v", err)
	}
	if code, _ := srv.roomListing(t, "extra"); code != http.StatusNotFound {
		t.Errorf("the deleted room: %d, want 404", code)
	}
	expectBye(t, c, signaling.ErrRoomRemoved)
	for _, line := range []string{"room created", "room updated", "room deleted"} {
		if !strings.Contains(logs.String(), `msg="admin API: `+line+`" by=ann room=extra`) {
			t.Errorf("the log has no %q by ann:\n%s", line, logs.String())
		}
	}
}

// expectBye waits for the bye that ends c's session.
func expectBye(t *testing.T, c *client.Client, code string) {
	t.Helper()
	m, err := c.WaitFor(timeout(t, 5*time.Second), "bye")
	if err != nil {
		t.Fatal(err)
	}
	var bye struct{ Code string }
	_ = m.Decode(&bye)
	if bye.Code != code {
		t.Errorf("bye %s, want %s", bye.Code, code)
	}
}

// TestAdminSessions: the admin API lists who is in a room, kicks one of
// them, deletes anyone's clip, and makes a join token that admits to a
// token room.
func TestAdminSessions(t *testing.T) {
	srv, dir, logs := startAdminServer(t, nil)
	c, j := srv.join(t, "chat", "bob", client.Options{})
	resp, body := srv.admin(t, "GET", "/api/admin/rooms/chat/sessions", "")
	var got struct{ Sessions []signaling.Member }
	_ = json.Unmarshal(body, &got)
	if resp.StatusCode != http.StatusOK || len(got.Sessions) != 1 || got.Sessions[0].Name != "bob" || got.Sessions[0].ID != j.ID {
		t.Fatalf("sessions: %s %s", resp.Status, body)
	}

	media, err := os.ReadFile("testdata/mediarecorder-opus.webm")
	if err != nil {
		t.Fatal(err)
	}
	clip := srv.upload(t, "/api/rooms/chat/clips", j.OwnerKey, "audio/webm", media)
	if resp, body := srv.admin(t, "DELETE", "/api/admin/rooms/chat/clips/"+clip.ID, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete bob's clip: %s %s", resp.Status, body)
	}
	if _, err := c.WaitFor(timeout(t, 5*time.Second), "clip-removed"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := srv.admin(t, "DELETE", "/api/admin/rooms/chat/clips/"+clip.ID, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("delete it again: %s, want 404", resp.Status)
	}

	if resp, _ := srv.admin(t, "DELETE", "/api/admin/rooms/chat/sessions/nobody", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("kick nobody: %s, want 404", resp.Status)
	}
	if resp, body := srv.admin(t, "DELETE", "/api/admin/rooms/chat/sessions/"+j.ID, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("kick: %s %s", resp.Status, body)
	}
	expectBye(t, c, signaling.ErrKicked)

	writeRoom(t, dir, "vip", "mode = \"mediaChat\"\naccess = \"token\"\n")
	if err := srv.ReloadRooms(); err != nil {
		t.Fatal(err)
	}
	resp, body = srv.admin(t, "POST", "/api/admin/rooms/vip/tokens", `{"name": "tom", "ttl": "1h"}`)
	var tok struct {
		Token   string
		Expires int64
	}
	_ = json.Unmarshal(body, &tok)
	if resp.StatusCode != http.StatusCreated || tok.Token == "" || tok.Expires < time.Now().Add(50*time.Minute).Unix() {
		t.Fatalf("make a token: %s %s", resp.Status, body)
	}
	d := srv.dial(t, client.Options{})
	if _, err := d.Join(timeout(t, 5*time.Second), "vip", "tom"); err == nil {
		t.Error("joined a token room without a token")
	}
	srv.join(t, "vip", "tom", client.Options{Token: tok.Token})
	if resp, _ := srv.admin(t, "POST", "/api/admin/rooms/vip/tokens", `{"name": "tom", "ttl": "-1h"}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a token with a negative ttl: %s, want 400", resp.Status)
	}
	for _, line := range []string{`msg="admin API: clip deleted" by=ann`, `by="admin API: ann"`, `msg="admin API: join token made" by=ann room=vip name=tom`} {
		if !bytes.Contains([]byte(logs.String()), []byte(line)) {
			t.Errorf("the log has no %q:\n%s", line, logs.String())
		}
	}
}

// TestReloadServer: a server file read again applies its admin tokens,
// allowed origins and log level at once, and names every other key
// changed as needing a restart, which keeps its value.
func TestReloadServer(t *testing.T) {
	level := new(slog.LevelVar)
	srv := startServerLog(t, Options{LogLevel: level}, testLogger(), func(cfg *configs.Server, _ []configs.Room) {
		cfg.Admin.Tokens = []configs.AdminToken{{Name: "ann", Token: adminToken}}
	})
	origin := http.Header{"Origin": {"https://friends.example.org"}}
	if _, _, err := websocket.DefaultDialer.Dial(srv.wsURL(), origin); err == nil {
		t.Fatal("a websocket from an origin not allowed was accepted")
	}

	cfg := srv.cfg
	cfg.Admin.Tokens = []configs.AdminToken{{Name: "bo", Token: adminToken + "-new"}}
	cfg.HTTP.AllowedOrigins = []string{"https://friends.example.org"}
	cfg.Log.Level = "debug"
	cfg.HTTP.Listen = "127.0.0.1:1"
	applied, restart := srv.ReloadServer(cfg)
	if want := []string{"http.allowed_origins", "admin.tokens", "log.level"}; !slices.Equal(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	if want := []string{"http.listen"}; !slices.Equal(restart, want) {
		t.Errorf("needs a restart: %v, want %v", restart, want)
	}
	if level.Level() != slog.LevelDebug {
		t.Errorf("log level %v, want debug", level.Level())
	}
	if resp, _ := srv.fetch(t, "GET", "/api/admin/rooms", adminToken, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old admin token: %s, want 401", resp.Status)
	}
	if resp, _ := srv.fetch(t, "GET", "/api/admin/rooms", adminToken+"-new", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the new admin token: %s, want 200", resp.Status)
	}
	ws, _, err := websocket.DefaultDialer.Dial(srv.wsURL(), origin)
	if err != nil {
		t.Fatalf("a websocket from an origin now allowed: %v", err)
	}
	ws.Close()

	cfg.Admin.Tokens = []configs.AdminToken{}
	srv.ReloadServer(cfg)
	if resp, _ := srv.fetch(t, "GET", "/api/admin/rooms", adminToken+"-new", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("without admin tokens: %s, want 404 (off)", resp.Status)
	}
}
