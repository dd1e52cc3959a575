package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"parley/client"
)

// clipFiles lists the files of a room's clips folder.
func (s *testServer) clipFiles(t *testing.T, room string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(s.cfg.Storage.DataDir, "rooms", room, "clips"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// TestRecordCancelLeavesNothing: a Pion publisher records a second of
// real Opus and cancels it over the websocket: the answer is
// record-stopped "cancelled" with its req and no clip, the room's clips
// folder is empty, the catalog too, and the room is shown no clip (the
// first it sees is the one recorded next). The room's minimum is in its
// settings, over the websocket and over HTTP.
func TestRecordCancelLeavesNothing(t *testing.T) {
	srv := startServer(t, nil)
	watcher, _ := srv.join(t, "chat", "watcher", client.Options{})
	c, joined := srv.join(t, "chat", "ann", client.Options{})
	if joined.Room.MinClipMs != 500 {
		t.Errorf("joined.room: %+v", joined.Room)
	}
	var room struct {
		MinClipMs *int `json:"min_clip_ms"`
	}
	resp, body := srv.fetch(t, "GET", "/api/rooms/chat", "", nil)
	if err := json.Unmarshal(body, &room); err != nil || resp.StatusCode != 200 || room.MinClipMs == nil || *room.MinClipMs != 500 {
		t.Errorf("GET /api/rooms/chat: %s %s", resp.Status, body)
	}

	p := newMediaPublisher(t, false)
	p.publish(t, c)
	if err := c.Send(map[string]string{"type": "record-start"}); err != nil {
		t.Fatal(err)
	}
	waitRecording(t, c)
	if len(srv.clipFiles(t, "chat")) == 0 {
		t.Fatal("a recording has no pending file in the clips folder")
	}
	srv.sendAll(t, c.PublishConn(), func() { p.stream(t, 1) })
	if err := c.Send(map[string]any{"type": "record-cancel", "req": 9}); err != nil {
		t.Fatal(err)
	}
	m, err := c.WaitFor(timeout(t, 10*time.Second), "record-stopped")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Req    int             `json:"req"`
		Reason string          `json:"reason"`
		Clip   json.RawMessage `json:"clip"`
	}
	if err := m.Decode(&v); err != nil || v.Req != 9 || v.Reason != "cancelled" || v.Clip != nil {
		t.Errorf("record-cancel answered %s", m.Raw)
	}
	if files := srv.clipFiles(t, "chat"); len(files) != 0 {
		t.Errorf("a cancelled recording left %v in the clips folder", files)
	}
	resp, body = srv.fetch(t, "GET", "/api/rooms/chat/clips", "", nil)
	var list struct{ Clips []clipJSON }
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 || len(list.Clips) != 0 {
		t.Errorf("catalog after a cancel: %s %s", resp.Status, body)
	}

	clip, reason := srv.recordClip(t, c, p, 1, "")
	if reason != "stopped" || clip.ID == "" {
		t.Fatalf("record-stopped: reason %q clip %+v", reason, clip)
	}
	m, err = watcher.WaitFor(timeout(t, 5*time.Second), "clip-added")
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeClip(t, m); got.ID != clip.ID {
		t.Errorf("the room was shown %s first, want %s", got.ID, clip.ID)
	}
	files := srv.clipFiles(t, "chat")
	slices.Sort(files)
	if want := []string{clip.ID + ".json", clip.ID + ".webm"}; !slices.Equal(files, want) {
		t.Errorf("the clips folder has %v, want %v", files, want)
	}
}
