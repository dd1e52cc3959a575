package signaling

import (
	"net/http"
	"testing"
	"time"

	wsclient "parley/client"
	"parley/clips"
	"parley/configs"
	"parley/internal/testmedia"
)

// minClipHub is a hub with a clip store whose chat and videochat rooms
// keep no recording shorter than minMs.
func minClipHub(t *testing.T, minMs int) (*Hub, *clips.Store) {
	t.Helper()
	var store *clips.Store
	h := newHub(t, func(c *Config, rooms []configs.Room) {
		for _, name := range []string{"chat", "videochat"} {
			roomConfig(rooms, name, func(r *configs.Room) { r.MinClipMs = minMs })
		}
		store = clipStore(t, rooms)
		c.Store = store
		c.WHIPConnectTimeout = time.Minute
	})
	return h, store
}

// stopped checks a record-stopped message: its reason, its req, and that
// it carries no clip.
func stopped(t *testing.T, got map[string]any, reason string, req float64) {
	t.Helper()
	if got["type"] != TypeRecordStopped || got["reason"] != reason || got["req"] != req || got["clip"] != nil {
		t.Errorf("got %v, want record-stopped %q with req %v and no clip", got, reason, req)
	}
}

// TestRecordCancel: record-cancel while recording real media discards
// it: the answer is record-stopped "cancelled" with the cancel's req and
// no clip, the store has nothing, and nobody in the room hears of it
// (the next clip the room sees is the one recorded after). A second
// record-cancel has nothing to cancel.
func TestRecordCancel(t *testing.T) {
	testmedia.Opus(t, 1)
	h, store := minClipHub(t, 500)
	ts := serve(t, h)
	bob := wsJoin(t, wsURL(ts), "chat", "bob", wsclient.Options{})
	ann := wsJoin(t, wsURL(ts), "chat", "ann", wsclient.Options{})
	audio := publishAudio(t, ann)
	send := func(v any) {
		t.Helper()
		if err := ann.Send(v); err != nil {
			t.Fatal(err)
		}
	}

	send(map[string]any{"type": "record-start", "req": 1})
	cancelled := field(expectMsg(t, ann, TypeRecording), "id")
	testmedia.Stream(t, audio, nil, 1)
	send(map[string]any{"type": "record-cancel", "req": "slide"})
	got := expectMsg(t, ann, TypeRecordStopped)
	if got["reason"] != StopCancelled || got["req"] != "slide" || got["clip"] != nil {
		t.Errorf("record-cancel answered %v", got)
	}
	if ids := store.IDs("chat"); len(ids) != 0 {
		t.Errorf("a cancelled recording left %v", ids)
	}
	send(map[string]any{"type": "record-cancel", "req": 2})
	m, err := ann.WaitFor(timeout(t), TypeError)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Code string `json:"code"`
		Req  int    `json:"req"`
	}
	if err := m.Decode(&e); err != nil || e.Code != ErrNotRecording || e.Req != 2 {
		t.Errorf("a record-cancel with nothing recorded: %s", m.Raw)
	}

	send(map[string]any{"type": "record-start"})
	kept := field(expectMsg(t, ann, TypeRecording), "id")
	testmedia.Stream(t, audio, nil, 1)
	send(map[string]any{"type": "record-stop"})
	if got := expectMsg(t, ann, TypeRecordStopped); got["reason"] != StopRequested || field(got, "clip", "id") != kept {
		t.Errorf("record-stop answered %v", got)
	}
	if got := expectMsg(t, bob, TypeClipAdded); field(got, "clip", "id") != kept {
		t.Errorf("the first clip shown to the room is %v, want %s (not the cancelled %s)", got, kept, cancelled)
	}
	if ids := store.IDs("chat"); len(ids) != 1 || ids[0] != kept {
		t.Errorf("the store has %v, want only %s", ids, kept)
	}
}

// TestRecordCancelWaiting: a record-start waiting for the tracks of a
// publish connection that is not up yet is cancelled too: it is
// answered (record-stopped "cancelled" with its req) and so is the
// record-cancel, and nothing starts when the wait would have ended.
// With nothing recorded or waiting, record-cancel is not-recording.
func TestRecordCancelWaiting(t *testing.T) {
	h, store := minClipHub(t, 500)
	ann := newClient(t, h)
	ann.join("chat", "ann", nil)
	ann.do(map[string]any{"type": "record-cancel", "req": 1})
	if got := ann.expect("error:" + ErrNotRecording); got[0]["req"] != float64(1) {
		t.Errorf("answered %v", got)
	}

	// An offer that never connects: the publish connection exists, its
	// track never reaches the server.
	ann.do(map[string]any{"type": "offer", "pc": "publish", "sdp": newWHIPPeer(t).offer()})
	ann.expect(TypeAnswer)
	ann.do(map[string]any{"type": "record-start", "req": 2})
	ann.expect() // waiting
	ann.do(map[string]any{"type": "record-cancel", "req": 3})
	got := ann.expect(TypeRecordStopped, TypeRecordStopped)
	stopped(t, got[0], StopCancelled, 2)
	stopped(t, got[1], StopCancelled, 3)
	ann.do(map[string]any{"type": "record-stop", "req": 4})
	ann.expect("error:" + ErrNotRecording)
	ann.do(map[string]any{"type": "record-cancel", "req": 5})
	ann.expect("error:" + ErrNotRecording)
	if ids := store.IDs("chat"); len(ids) != 0 {
		t.Errorf("the store has %v", ids)
	}
}

// TestRecordTooShort: a recording whose media is shorter than the room's
// min_clip_ms is discarded when it stops: the author gets record-stopped
// "too-short" with the minimum and its req, and no clip; the room hears
// of nothing (the next clip it sees is a long enough one). The room's
// settings in joined carry the minimum.
func TestRecordTooShort(t *testing.T) {
	testmedia.Opus(t, 1) // made before the connections, which it would delay
	testmedia.Opus(t, 2)
	h, store := minClipHub(t, 1500)
	ts := serve(t, h)
	bob := wsJoin(t, wsURL(ts), "chat", "bob", wsclient.Options{})
	ann, err := wsclient.Dial(timeout(t), wsURL(ts), wsclient.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ann.Close)
	if err := ann.Send(map[string]any{"type": "join", "room": "chat", "name": "ann"}); err != nil {
		t.Fatal(err)
	}
	joined := expectMsg(t, ann, TypeJoined)
	if room, _ := joined["room"].(map[string]any); room["min_clip_ms"] != float64(1500) {
		t.Errorf("joined.room: %v", joined["room"])
	}
	audio := publishAudio(t, ann)
	send := func(v any) {
		t.Helper()
		if err := ann.Send(v); err != nil {
			t.Fatal(err)
		}
	}

	send(map[string]any{"type": "record-start"})
	short := field(expectMsg(t, ann, TypeRecording), "id")
	testmedia.Stream(t, audio, nil, 1)
	send(map[string]any{"type": "record-stop", "req": 7})
	got := expectMsg(t, ann, TypeRecordStopped)
	if got["reason"] != StopTooShort || got["min_ms"] != float64(1500) || got["req"] != float64(7) || got["clip"] != nil {
		t.Errorf("a short recording: %v", got)
	}
	if ids := store.IDs("chat"); len(ids) != 0 {
		t.Errorf("a short recording left %v", ids)
	}

	send(map[string]any{"type": "record-start"})
	long := field(expectMsg(t, ann, TypeRecording), "id")
	testmedia.Stream(t, audio, nil, 2)
	send(map[string]any{"type": "record-stop"})
	if got := expectMsg(t, ann, TypeRecordStopped); got["reason"] != StopRequested || field(got, "clip", "id") != long {
		t.Errorf("a long enough recording: %v", got)
	}
	if got := expectMsg(t, bob, TypeClipAdded); field(got, "clip", "id") != long {
		t.Errorf("the room was shown %v first, want %s (not the short %s)", got, long, short)
	}
}

// TestWHIPClipTooShort: a WHIP session in a clip room whose media is
// shorter than the room's minimum leaves no clip, and the room hears of
// nothing.
func TestWHIPClipTooShort(t *testing.T) {
	testmedia.Opus(t, 1)
	h, store := minClipHub(t, 1500)
	ts := serve(t, h)
	watcher := newClient(t, h)
	watcher.join("videochat", "watcher", nil)
	p := newWHIPPeer(t)
	resp, answer := whipPost(t, ts.URL, "videochat?name=obs", "", p.offer())
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", resp.Status)
	}
	p.connect(t, answer)
	testmedia.Stream(t, p.audio, nil, 1)
	// DELETE ends the session, and its recording, before it answers.
	if resp, _ := whipDo(t, http.MethodDelete, ts.URL+resp.Header.Get("Location"), "", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	if ids := store.IDs("videochat"); len(ids) != 0 {
		t.Errorf("a short WHIP session left %v", ids)
	}
	for _, m := range watcher.got() {
		if m["type"] == TypeClipAdded {
			t.Errorf("the room was shown %v", m)
		}
	}
}
