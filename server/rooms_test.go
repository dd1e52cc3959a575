package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/client"
	"parley/configs"
	"parley/signaling"
)

// logBuffer keeps what a server logs, for a test to look for a line.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// writeRoom writes a room file into dir whole, as the docs ask (a new
// file renamed over the old one): the watcher never reads half of it.
func writeRoom(t *testing.T, dir, name, body string) {
	t.Helper()
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name+".toml")); err != nil {
		t.Fatal(err)
	}
}

const chatRoom = "mode = \"mediaChat\"\ntitle = \"Chat\"\nmax_clip_seconds = 30\n"

// startRoomsServer starts a server whose rooms are the files of a folder
// of the test's (chat and forum), read again every poll (< 0: only on
// ReloadRooms). It returns the folder and the server's log.
func startRoomsServer(t *testing.T, poll time.Duration, mutate func(*configs.Server)) (*testServer, string, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	writeRoom(t, dir, "chat", chatRoom)
	writeRoom(t, dir, "forum", "mode = \"mediaForum\"\n")
	logs := &logBuffer{}
	var w io.Writer = logs
	if os.Getenv("PARLEY_TEST_LOG") != "" {
		w = io.MultiWriter(logs, os.Stderr)
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := startServerLog(t, Options{RoomsPollInterval: poll}, log, func(cfg *configs.Server, _ []configs.Room) {
		cfg.Rooms.Dir = dir
		if mutate != nil {
			mutate(cfg)
		}
	})
	return srv, dir, logs
}

// roomListing GETs /api/rooms/{room}: its status and its settings.
func (s *testServer) roomListing(t *testing.T, room string) (int, configs.Room) {
	t.Helper()
	resp, body := s.fetch(t, "GET", "/api/rooms/"+room, "", nil)
	var r configs.Room
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("GET /api/rooms/%s: %v: %s", room, err, body)
		}
	}
	return resp.StatusCode, r
}

// recordingLimit starts a recording on c, which publishes, and returns
// the limit the server gives it, then stops it.
func recordingLimit(t *testing.T, c *client.Client) int {
	t.Helper()
	if err := c.Send(map[string]string{"type": "record-start"}); err != nil {
		t.Fatal(err)
	}
	m, err := c.WaitFor(timeout(t, 5*time.Second), "recording")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		MaxSeconds int `json:"max_seconds"`
	}
	if err := m.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(map[string]string{"type": "record-cancel"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitFor(timeout(t, 5*time.Second), "record-stopped"); err != nil {
		t.Fatal(err)
	}
	return v.MaxSeconds
}

// TestLiveRoomEdit: a room file edited while someone is in the room
// gives the next clip the new limit, without a restart; a broken edit is
// refused with the start-up error, logged, and the room keeps the last
// good settings; a file added makes a room one can join at once.
func TestLiveRoomEdit(t *testing.T) {
	srv, dir, logs := startRoomsServer(t, 20*time.Millisecond, nil)
	c, _ := srv.join(t, "chat", "ann", client.Options{})
	p := newMediaPublisher(t, false)
	p.publish(t, c)
	if got := recordingLimit(t, c); got != 30 {
		t.Fatalf("recording limit %d s, want the file's 30", got)
	}

	writeRoom(t, dir, "chat", strings.Replace(chatRoom, "30", "7", 1))
	eventually(t, 5*time.Second, "the edited limit applies", func() bool {
		_, r := srv.roomListing(t, "chat")
		return r.MaxClipSeconds == 7
	})
	if got := recordingLimit(t, c); got != 7 {
		t.Fatalf("after the edit, recording limit %d s, want 7", got)
	}

	writeRoom(t, dir, "chat", "mode = \"mediaChat\"\nmax_clip_seconds = -1\nmax_clip_secnds = 5\n")
	_, want := configs.ParseRoom(filepath.Join(dir, "chat.toml"), []byte("mode = \"mediaChat\"\nmax_clip_seconds = -1\nmax_clip_secnds = 5\n"))
	eventually(t, 5*time.Second, "the broken file is refused in the log", func() bool {
		return strings.Contains(logs.String(), "room file refused: the room keeps its last good settings")
	})
	if !strings.Contains(logs.String(), "max_clip_secnds") || want == nil {
		t.Errorf("the log does not carry the file's error (%v):\n%s", want, logs.String())
	}
	if _, r := srv.roomListing(t, "chat"); r.MaxClipSeconds != 7 {
		t.Errorf("after a broken edit, max_clip_seconds %d, want the last good 7", r.MaxClipSeconds)
	}
	if got := recordingLimit(t, c); got != 7 {
		t.Errorf("after a broken edit, recording limit %d s, want the last good 7", got)
	}

	writeRoom(t, dir, "extra", "mode = \"mediaChat\"\ntitle = \"Extra\"\n")
	eventually(t, 5*time.Second, "the new room appears", func() bool {
		code, r := srv.roomListing(t, "extra")
		return code == http.StatusOK && r.Title == "Extra"
	})
	srv.join(t, "extra", "bob", client.Options{})
}

// TestRoomRemoved: removing a room's file closes the room: its members
// are told why, it is no longer listed or joinable, and its folder (its
// clips) stays on disk; the file back, the room is back.
func TestRoomRemoved(t *testing.T) {
	srv, dir, _ := startRoomsServer(t, -1, nil)
	c, j := srv.join(t, "chat", "ann", client.Options{})
	media, err := os.ReadFile("testdata/mediarecorder-opus.webm")
	if err != nil {
		t.Fatal(err)
	}
	clip := srv.upload(t, "/api/rooms/chat/clips", j.OwnerKey, "audio/webm", media)
	if err := os.Remove(filepath.Join(dir, "chat.toml")); err != nil {
		t.Fatal(err)
	}
	if err := srv.ReloadRooms(); err != nil {
		t.Fatal(err)
	}
	m, err := c.WaitFor(timeout(t, 5*time.Second), "bye")
	if err != nil {
		t.Fatal(err)
	}
	var bye struct{ Code, Message string }
	_ = m.Decode(&bye)
	if bye.Code != signaling.ErrRoomRemoved || bye.Message != signaling.RemovedMessage {
		t.Errorf("bye %+v, want %s: %q", bye, signaling.ErrRoomRemoved, signaling.RemovedMessage)
	}
	if code, _ := srv.roomListing(t, "chat"); code != http.StatusNotFound {
		t.Errorf("GET a removed room: %d, want 404", code)
	}
	d := srv.dial(t, client.Options{})
	if _, err := d.Join(timeout(t, 5*time.Second), "chat", "bob"); err == nil || !strings.Contains(err.Error(), "no-room") {
		t.Errorf("join a removed room: %v, want no-room", err)
	}
	if _, err := os.Stat(filepath.Join(srv.cfg.Storage.DataDir, "rooms", "chat", "clips", clip.ID+".webm")); err != nil {
		t.Errorf("the removed room's clip: %v", err)
	}

	writeRoom(t, dir, "chat", chatRoom)
	if err := srv.ReloadRooms(); err != nil {
		t.Fatal(err)
	}
	srv.join(t, "chat", "bob", client.Options{})
	if resp, body := srv.fetch(t, "GET", "/api/rooms/chat/clips", "", nil); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), clip.ID) {
		t.Errorf("the room back: its clips %s %s, want %s", resp.Status, body, clip.ID)
	}
}

// TestRoomFileSettles: the watcher takes a change only when two looks in
// a row see it, so that a room file briefly missing (an editor's save)
// does not close its room, and a file being written is not taken
// half-way; a file missing twice closes its room.
func TestRoomFileSettles(t *testing.T) {
	srv, dir, _ := startRoomsServer(t, -1, nil)
	c, _ := srv.join(t, "chat", "ann", client.Options{})
	file := filepath.Join(dir, "chat.toml")
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := srv.lookAtRooms(); err != nil {
		t.Fatal(err)
	}
	writeRoom(t, dir, "chat", chatRoom)
	if err := srv.lookAtRooms(); err != nil {
		t.Fatal(err)
	}
	if code, r := srv.roomListing(t, "chat"); code != http.StatusOK || r.MaxClipSeconds != 30 {
		t.Fatalf("after its file was missing for one look, chat: %d %+v", code, r)
	}

	writeRoom(t, dir, "chat", strings.Replace(chatRoom, "30", "9", 1))
	if err := srv.lookAtRooms(); err != nil {
		t.Fatal(err)
	}
	if _, r := srv.roomListing(t, "chat"); r.MaxClipSeconds != 30 {
		t.Errorf("a change seen once applied: max_clip_seconds %d", r.MaxClipSeconds)
	}
	if err := srv.lookAtRooms(); err != nil {
		t.Fatal(err)
	}
	if _, r := srv.roomListing(t, "chat"); r.MaxClipSeconds != 9 {
		t.Errorf("a change seen twice: max_clip_seconds %d, want 9", r.MaxClipSeconds)
	}

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := srv.lookAtRooms(); err != nil {
			t.Fatal(err)
		}
	}
	expectBye(t, c, signaling.ErrRoomRemoved)
	if code, _ := srv.roomListing(t, "chat"); code != http.StatusNotFound {
		t.Errorf("a file missing twice: chat %d, want 404", code)
	}
}

// TestRoomFileOldTime: the watcher skips reading a file whose metadata
// did not change, yet takes an edit that leaves it an old modification
// time (a copy that keeps its source's times).
func TestRoomFileOldTime(t *testing.T) {
	srv, dir, _ := startRoomsServer(t, -1, nil)
	file := filepath.Join(dir, "chat.toml")
	setTime := func(at time.Time) {
		t.Helper()
		if err := os.Chtimes(file, at, at); err != nil {
			t.Fatal(err)
		}
	}
	look := func() {
		t.Helper()
		if err := srv.lookAtRooms(); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	setTime(old)
	look()
	look()
	if err := os.WriteFile(file, []byte(strings.Replace(chatRoom, "30", "19", 1)), 0o644); err != nil { // the same size
		t.Fatal(err)
	}
	setTime(old.Add(-time.Minute))
	look()
	look()
	if _, r := srv.roomListing(t, "chat"); r.MaxClipSeconds != 19 {
		t.Errorf("an edit with an old time: max_clip_seconds %d, want 19", r.MaxClipSeconds)
	}
}

// TestRoomReloadOnRequest: without the watcher (as on SIGHUP), a changed
// max_participants holds the next join; a changed mode remakes the room,
// whose members are told; an empty folder is refused and every room
// stays.
func TestRoomReloadOnRequest(t *testing.T) {
	srv, dir, logs := startRoomsServer(t, -1, nil)
	srv.join(t, "chat", "ann", client.Options{})
	writeRoom(t, dir, "chat", chatRoom+"max_participants = 1\n")
	if err := srv.ReloadRooms(); err != nil {
		t.Fatal(err)
	}
	d := srv.dial(t, client.Options{})
	if _, err := d.Join(timeout(t, 5*time.Second), "chat", "bob"); err == nil || !strings.Contains(err.Error(), "room-full") {
		t.Errorf("join a room made for 1: %v, want room-full", err)
	}

	f, _ := srv.join(t, "forum", "cy", client.Options{})
	writeRoom(t, dir, "forum", "mode = \"mediaChat\"\n")
	if err := srv.ReloadRooms(); err != nil {
		t.Fatal(err)
	}
	m, err := f.WaitFor(timeout(t, 5*time.Second), "bye")
	if err != nil {
		t.Fatal(err)
	}
	var bye struct{ Code string }
	_ = m.Decode(&bye)
	if bye.Code != signaling.ErrRoomChanged {
		t.Errorf("bye %s, want %s", bye.Code, signaling.ErrRoomChanged)
	}
	if _, r := srv.roomListing(t, "forum"); r.Mode != configs.MediaChat {
		t.Errorf("forum's mode %s, want the new mediaChat", r.Mode)
	}
	srv.join(t, "forum", "cy", client.Options{})

	for _, n := range []string{"chat", "forum"} {
		if err := os.Remove(filepath.Join(dir, n+".toml")); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.ReloadRooms(); err == nil {
		t.Error("an empty rooms folder was accepted")
	}
	if code, _ := srv.roomListing(t, "chat"); code != http.StatusOK {
		t.Errorf("after an empty folder, chat: %d, want it kept", code)
	}
	if !strings.Contains(logs.String(), "rooms folder refused") {
		t.Errorf("the empty folder is not logged:\n%s", logs.String())
	}
}

// BenchmarkReloadRoomsUnchanged is what the watcher costs every second
// with 100 room files that did not change: each read and hashed.
func BenchmarkReloadRoomsUnchanged(b *testing.B) {
	dir := b.TempDir()
	for i := range 100 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("room%03d.toml", i)), []byte(chatRoom), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cfg := configs.Default()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Media.UDPPort, cfg.Media.TCPPort = 0, 0
	cfg.Media.UDPPortMin, cfg.Media.UDPPortMax = 40000, 40100
	cfg.Storage.DataDir = b.TempDir()
	cfg.TURN.Enabled = false
	cfg.Rooms.Dir = dir
	rooms, err := configs.LoadRooms(dir)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewWith(cfg, rooms, Options{RoomsPollInterval: -1}, testLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		if err := srv.ReloadRooms(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRoomsWatched: on Linux the rooms folder is watched: a quiet folder
// is not looked at every interval, and a change is taken all the same; a
// room file that is a link is looked at every interval, for its target's
// edits, which the watch does not see.
func TestRoomsWatched(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("folders are watched on Linux only")
	}
	const poll = 20 * time.Millisecond
	srv, dir, _ := startRoomsServer(t, poll, nil)
	rf := srv.roomFiles
	eventually(t, 5*time.Second, "the watcher's first look", func() bool { return rf.looks.Load() > 0 })
	// Ten intervals of a quiet folder: a slower machine only looks less.
	before := rf.looks.Load()
	time.Sleep(10 * poll)
	if n := rf.looks.Load() - before; n > 1 {
		t.Errorf("%d looks at a quiet watched folder in 10 intervals, want at most 1", n)
	}
	writeRoom(t, dir, "chat", strings.Replace(chatRoom, "30", "9", 1))
	eventually(t, 5*time.Second, "the edit is taken", func() bool {
		_, r := srv.roomListing(t, "chat")
		return r.MaxClipSeconds == 9
	})

	// A link to a file outside the folder, then that file edited.
	target := filepath.Join(t.TempDir(), "linked.toml")
	if err := os.WriteFile(target, []byte("mode = \"mediaChat\"\ntitle = \"Linked\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "linked.toml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the linked room appears", func() bool {
		code, r := srv.roomListing(t, "linked")
		return code == http.StatusOK && r.Title == "Linked"
	})
	// Looked at every interval again: five more looks well within the
	// watched folder's own period (watchedLook).
	from, deadline := rf.looks.Load(), time.Now().Add(watchedLook/2)
	for rf.looks.Load() < from+5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d looks in %v with a linked room file, want 5", rf.looks.Load()-from, watchedLook/2)
		}
		time.Sleep(poll)
	}
	tmp := target + ".tmp"
	if err := os.WriteFile(tmp, []byte("mode = \"mediaChat\"\ntitle = \"Edited\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, target); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the linked file's edit is taken", func() bool {
		_, r := srv.roomListing(t, "linked")
		return r.Title == "Edited"
	})
}

// TestRoomsLinkRepointed: a rooms folder named through a symbolic link
// that a deployment points at another folder is taken at once, not at the
// watched folder's own period (watchedLook), and watched there.
func TestRoomsLinkRepointed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("folders are watched on Linux only")
	}
	const poll = 20 * time.Millisecond
	top := t.TempDir()
	link := filepath.Join(top, "current")
	srv, _, _ := startRoomsServer(t, poll, func(cfg *configs.Server) {
		if err := os.Symlink(cfg.Rooms.Dir, link); err != nil {
			t.Fatal(err)
		}
		cfg.Rooms.Dir = link
	})
	rf := srv.roomFiles
	eventually(t, 5*time.Second, "the watcher's first look", func() bool { return rf.looks.Load() > 0 })
	// Quiet: the next look of its own is watchedLook away.
	for n := int64(-1); n != rf.looks.Load(); {
		n = rf.looks.Load()
		time.Sleep(5 * poll)
	}
	next := filepath.Join(top, "next")
	if err := os.Mkdir(next, 0o755); err != nil {
		t.Fatal(err)
	}
	writeRoom(t, next, "other", "mode = \"mediaChat\"\ntitle = \"Next\"\n")
	tmp := filepath.Join(top, ".current.tmp")
	if err := os.Symlink(next, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	took := func(what, room, title string) {
		t.Helper()
		deadline := time.Now().Add(watchedLook / 2)
		for {
			if code, r := srv.roomListing(t, room); code == http.StatusOK && r.Title == title {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not taken in %v", what, watchedLook/2)
			}
			time.Sleep(poll)
		}
	}
	took("the link pointed at another folder", "other", "Next")
	writeRoom(t, next, "other", "mode = \"mediaChat\"\ntitle = \"Edited\"\n")
	took("an edit in the folder the link points at now", "other", "Edited")
}
