package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// getRoom GETs /api/rooms/{room} of p: the status and its max_clip_seconds.
func getRoom(t *testing.T, p *parleyProcess, room string) (int, int) {
	t.Helper()
	resp, err := http.Get(p.url + "/api/rooms/" + room)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		MaxClipSeconds int `json:"max_clip_seconds"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("GET /api/rooms/%s: %v: %s", room, err, body)
		}
	}
	return resp.StatusCode, r.MaxClipSeconds
}

// adminWorks tells whether the admin API of p takes token: parley admin
// lists the rooms with it, or fails with the API's 401.
func adminWorks(t *testing.T, p *parleyProcess, token string) bool {
	t.Helper()
	_, _, err := runAdminErr("-url", p.url, "-token", token, "rooms")
	if err != nil && !strings.Contains(err.Error(), "401") {
		t.Fatalf("parley admin rooms: %v", err)
	}
	return err == nil
}

// hup sends SIGHUP to p and waits for it to say it reads its files again.
func hup(t *testing.T, p *parleyProcess) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLine(t, p.lines, "SIGHUP: reading the configuration again")
}

// TestSIGHUPReload runs the binary and changes its files under it: a room
// file edited and a new one are in force after SIGHUP, as the HTTP API
// shows; a server file that does not validate is refused with its error
// logged and nothing of it applies (the old admin token still works, the
// new one does not), the server running on; a valid one applies its live
// key (the admin token) and logs the key that needs a restart.
func TestSIGHUPReload(t *testing.T) {
	rooms := t.TempDir()
	writeFile := func(path, body string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil { // whole, as the docs ask
			t.Fatal(err)
		}
	}
	writeFile(filepath.Join(rooms, "chat.toml"), "mode = \"mediaChat\"\nmax_clip_seconds = 30\n")
	const (
		oldToken = "the-first-admin-token-of-the-sighup-test"
		newToken = "the-second-admin-token-of-the-sighup-test"
	)
	tokens := func(token string) string {
		return fmt.Sprintf("[rooms]\ndir = %q\n[[admin.tokens]]\nname = \"ops\"\ntoken = %q\n", rooms, token)
	}
	p := startParley(t, t.TempDir(), tokens(oldToken))
	data, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	base, _, _ := strings.Cut(string(data), "[rooms]")

	if status, secs := getRoom(t, p, "chat"); status != http.StatusOK || secs != 30 {
		t.Fatalf("chat before: %d, max_clip_seconds %d", status, secs)
	}
	if status, _ := getRoom(t, p, "club"); status != http.StatusNotFound {
		t.Fatalf("club before: %d, want 404", status)
	}
	writeFile(filepath.Join(rooms, "chat.toml"), "mode = \"mediaChat\"\nmax_clip_seconds = 45\n")
	writeFile(filepath.Join(rooms, "club.toml"), "mode = \"mediaForum\"\n")
	hup(t, p)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, secs := getRoom(t, p, "chat")
		club, _ := getRoom(t, p, "club")
		if secs == 45 && club == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: chat's max_clip_seconds %d (want 45), club %d (want 200)", secs, club)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Refused whole: the new token is a live key, but the file does not
	// validate.
	writeFile(p.config, base+tokens(newToken)+"[signaling]\nmax_chat_length = 0\n")
	hup(t, p)
	line := waitLine(t, p.lines, "server file refused: the server keeps its settings")
	if !strings.Contains(line, p.config) || !strings.Contains(line, "signaling.max_chat_length") {
		t.Errorf("the refusal does not name the file and the key: %s", line)
	}
	if !adminWorks(t, p, oldToken) {
		t.Error("the old admin token is refused after a refused server file")
	}
	if adminWorks(t, p, newToken) {
		t.Error("the new admin token of a refused server file is taken")
	}
	if status, secs := getRoom(t, p, "chat"); status != http.StatusOK || secs != 45 {
		t.Errorf("chat after a refused server file: %d, max_clip_seconds %d", status, secs)
	}

	// Valid: the token applies at once, chat.history_length waits for a
	// restart.
	writeFile(p.config, base+tokens(newToken)+"[chat]\nhistory_length = 10\n")
	hup(t, p)
	waitLine(t, p.lines, "server file reloaded: applied")
	waitLine(t, p.lines, "needs a restart\" key=chat.history_length")
	if !adminWorks(t, p, newToken) {
		t.Error("the new admin token is refused after SIGHUP")
	}
	if adminWorks(t, p, oldToken) {
		t.Error("the old admin token is still taken after SIGHUP")
	}
}
