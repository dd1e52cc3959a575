package server

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"parley/client"
)

// TestPathTraversal: room and clip names that try to leave the data
// folder (.., %2e%2e, absolute paths, NUL bytes, backslashes) are refused
// by every endpoint that takes them, and nothing on disk changes.
func TestPathTraversal(t *testing.T) {
	srv := accessServer(t, nil)
	ann, aj := srv.join(t, "chat", "ann", client.Options{})
	// A file outside the data folder that a traversal would reach.
	outside := filepath.Join(filepath.Dir(srv.cfg.Storage.DataDir), "victim.json")
	if err := os.WriteFile(outside, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, filepath.Dir(srv.cfg.Storage.DataDir))

	rooms := []string{"..", "%2e%2e", "%2E%2E", "..%2f..", "%2fetc", "chat%00", "chat%2f..%2f..", "..%5c..", "%00", "chat%2e%2e"}
	ids := []string{"..", "%2e%2e", "..%2f..%2fvictim", "%2fetc%2fpasswd", "0%00", "..%5cvictim", strings.Repeat("%2e", 20)}
	type req struct{ method, path string }
	var reqs []req
	for _, r := range rooms {
		reqs = append(reqs,
			req{"GET", "/api/rooms/" + r},
			req{"GET", "/api/rooms/" + r + "/clips"},
			req{"POST", "/api/rooms/" + r + "/clips"},
			req{"POST", "/whip/" + r},
		)
	}
	for _, id := range ids {
		reqs = append(reqs,
			req{"GET", "/api/rooms/chat/clips/" + id},
			req{"DELETE", "/api/rooms/chat/clips/" + id},
			req{"POST", "/api/rooms/chat/clips/" + id + "/publish"},
			req{"DELETE", "/whip/chat/" + id},
		)
	}
	// The mux answers a path with dot segments by a redirect to its clean
	// form; what matters is that nothing is served or touched.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, r := range reqs {
		hreq, err := http.NewRequest(r.method, "http://"+srv.Addr().String()+r.path, strings.NewReader("x"))
		if err != nil {
			continue // not even a request
		}
		hreq.Header.Set("Authorization", "Bearer "+aj.OwnerKey)
		hreq.Header.Set("Content-Type", "audio/webm")
		resp, err := noFollow.Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 && resp.StatusCode != http.StatusMovedPermanently && resp.StatusCode != http.StatusTemporaryRedirect {
			t.Errorf("%s %s: %s", r.method, r.path, resp.Status)
		}
	}
	// Over the websocket: join and clip messages.
	for _, room := range []string{"..", "../chat", "/etc", "chat\x00", "chat/../chat", `..\chat`} {
		c := srv.dial(t, client.Options{})
		_ = c.Send(map[string]string{"type": "join", "room": room, "name": "eve"})
		expectError(t, c, "no-room")
		c.Close()
	}
	for _, id := range []string{"..", "../../victim", "/etc/passwd", "0\x00", `..\x`} {
		_ = ann.Send(map[string]string{"type": "clip-delete", "id": id})
		expectError(t, ann, "no-such-clip")
	}
	if after := snapshot(t, filepath.Dir(srv.cfg.Storage.DataDir)); !slices.Equal(before, after) {
		t.Errorf("hostile names changed files:\n%v\n%v", before, after)
	}
}

// TestBodyLimits: every endpoint refuses a body over its limit with 413
// before doing anything; uploads are bounded by the room's max_clip_bytes.
func TestBodyLimits(t *testing.T) {
	srv := accessServer(t, nil)
	_, aj := srv.join(t, "chat", "ann", client.Options{})
	before := snapshot(t, srv.cfg.Storage.DataDir)
	big := bytes.Repeat([]byte("a"), 70<<10)
	for _, r := range []struct{ method, path string }{
		{"GET", "/healthz"},
		{"GET", "/api/rooms"},
		{"DELETE", "/api/rooms/chat/clips/0000000000000000000000000000"},
		{"POST", "/api/rooms/chat/clips/0000000000000000000000000000/publish"},
		{"POST", "/whip/chat"},
		{"PATCH", "/whip/chat/pX"},
		{"POST", "/whep/live"},
		{"PATCH", "/whep/live/pX"},
		{"PUT", "/anything"},
	} {
		req, _ := http.NewRequest(r.method, "http://"+srv.Addr().String()+r.path, bytes.NewReader(big))
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("Authorization", "Bearer "+aj.OwnerKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %s with 70 KiB: %s", r.method, r.path, resp.Status)
		}
	}
	// An upload over the room's max_clip_bytes (chat: 20 MB).
	huge := bytes.Repeat([]byte{0x1a}, 21_000_000)
	req, _ := http.NewRequest("POST", "http://"+srv.Addr().String()+"/api/rooms/chat/clips", bytes.NewReader(huge))
	req.Header.Set("Content-Type", "audio/webm")
	req.Header.Set("Authorization", "Bearer "+aj.OwnerKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize upload: %s", resp.Status)
	}
	if after := snapshot(t, srv.cfg.Storage.DataDir); !slices.Equal(before, after) {
		t.Errorf("refused bodies changed the data folder:\n%v\n%v", before, after)
	}
}
