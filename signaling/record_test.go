package signaling

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	wsclient "parley/client"
	"parley/clips"
	"parley/configs"
	"parley/internal/testmedia"
)

// storeHub is a hub with a clip store (and Olga as an operator) in a
// folder of the test's; configure may change the rooms first.
func storeHub(t *testing.T, configure ...func([]configs.Room)) (*Hub, *clips.Store) {
	t.Helper()
	var store *clips.Store
	h := accessHubWith(t, func(c *Config, rooms []configs.Room) {
		for _, f := range configure {
			f(rooms)
		}
		store = clipStore(t, rooms)
		c.Store = store
	})
	return h, store
}

// TestClipPublishDelete: a draft is shown to its author only, until it is
// published; only its author publishes or deletes it, and an operator
// deletes anyone's clip; everyone who saw a clip is told it is gone.
func TestClipPublishDelete(t *testing.T) {
	h, store := storeHub(t)
	annKey := newKey()
	ann, bob, olga := newClient(t, h), newClient(t, h), newClient(t, h)
	ann.join("forum", "ann", map[string]string{"owner_key": annKey, "password": "room pass"})
	bob.join("forum", "bob", map[string]string{"password": "room pass"})
	olga.join("forum", "olga", map[string]string{"password": "op pass"})
	ann.got()
	bob.got()

	draft := addClip(t, store, "forum", "ann", annKey)
	got := ann.waitFor(TypeClipAdded)
	if field(got, "clip", "id") != draft.ID || field(got, "clip", "state") != string(clips.Draft) || field(got, "clip", "draft_token") == "" || got["clip"].(map[string]any)["mine"] != true {
		t.Errorf("the author was shown %v", got)
	}
	bob.expect()
	olga.expect()

	for _, c := range []*client{bob, olga} {
		c.do(map[string]string{"type": "clip-publish", "id": draft.ID})
		c.expect("error:" + ErrForbidden)
	}
	bob.do(map[string]string{"type": "clip-delete", "id": draft.ID})
	bob.expect("error:" + ErrForbidden)

	ann.do(map[string]string{"type": "clip-publish", "id": draft.ID})
	if got := ann.waitFor(TypeClipUpdated); field(got, "clip", "state") != string(clips.Published) || field(got, "clip", "id") != draft.ID {
		t.Errorf("the author was told %v", got)
	}
	for _, c := range []*client{bob, olga} {
		got := c.waitFor(TypeClipAdded)
		if field(got, "clip", "id") != draft.ID || field(got, "clip", "draft_token") != "" || got["clip"].(map[string]any)["mine"] == true {
			t.Errorf("%s was shown %v", c.s.name, got)
		}
	}

	ann.do(map[string]string{"type": "clip-delete", "id": draft.ID})
	for _, c := range []*client{ann, bob, olga} {
		if got := c.waitFor(TypeClipRemoved); got["id"] != draft.ID || got["reason"] != "deleted" {
			t.Errorf("%s was told %v", c.s.name, got)
		}
	}
	for _, typ := range []string{"clip-publish", "clip-delete"} {
		ann.do(map[string]string{"type": typ, "id": draft.ID})
		ann.expect("error:" + ErrNoSuchClip)
		ann.do(map[string]string{"type": typ, "id": "../../etc"})
		ann.expect("error:" + ErrNoSuchClip)
	}

	// An operator deletes someone's clip; a draft deleted is discarded,
	// and only its author was shown it.
	other := addClip(t, store, "forum", "ann", annKey)
	ann.waitFor(TypeClipAdded)
	olga.do(map[string]string{"type": "clip-delete", "id": other.ID})
	if got := ann.waitFor(TypeClipRemoved); got["id"] != other.ID || got["reason"] != "discarded" {
		t.Errorf("the author was told %v", got)
	}
	if _, ok := store.Get("forum", other.ID); ok {
		t.Error("the operator's delete left the clip")
	}
}

// TestRecordRefusals: record-start where it cannot record.
func TestRecordRefusals(t *testing.T) {
	h, _ := storeHub(t)
	ann := newClient(t, h)
	ann.join("walkie", "ann", nil)
	ann.do(map[string]string{"type": "record-start"})
	ann.expect("error:" + ErrRecordNotAllowed)
	ann.s.leave()

	bob := newClient(t, h)
	bob.join("chat", "bob", nil)
	bob.do(map[string]string{"type": "record-start", "description": strings.Repeat("d", 501)})
	bob.expect("error:" + ErrBadRequest)
	bob.do(map[string]string{"type": "record-start", "description": "nothing published"})
	bob.expect("error:" + ErrNotPublishing)
	bob.do(map[string]string{"type": "record-stop"})
	bob.expect("error:" + ErrNotRecording)

	noStore := newHub(t, nil)
	cy := newClient(t, noStore)
	cy.join("chat", "cy", nil)
	cy.do(map[string]string{"type": "record-start"})
	cy.expect("error:" + ErrRecordNotAllowed)
}

// wsJoin connects a websocket client of the test server and joins.
func wsJoin(t *testing.T, url, room, name string, opts wsclient.Options) *wsclient.Client {
	t.Helper()
	opts.LoopbackOnly = true
	c, err := wsclient.Dial(timeout(t), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if _, err := c.Join(timeout(t), room, name); err != nil {
		t.Fatalf("%s joins %s: %v", name, room, err)
	}
	return c
}

// publishAudio publishes an Opus track from c and waits until its
// connection is up.
func publishAudio(t *testing.T, c *wsclient.Client) *webrtc.TrackLocalStaticSample {
	t.Helper()
	audio, err := webrtc.NewTrackLocalStaticSample(testmedia.OpusCodec.RTPCodecCapability, "audio", "pub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(timeout(t), audio); err != nil {
		t.Fatal(err)
	}
	pc := c.PublishConn()
	deadline := time.Now().Add(wait)
	for pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("the publish connection is %s", pc.ConnectionState())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return audio
}

// expectMsg waits for a message of c of the type, failing on an error
// message first.
func expectMsg(t *testing.T, c *wsclient.Client, typ string) map[string]any {
	t.Helper()
	ctx := timeout(t)
	for {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		var v map[string]any
		if err := m.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if m.Type == typ {
			return v
		}
		if m.Type == TypeError {
			t.Fatalf("waiting for %s: %s", typ, m.Raw)
		}
	}
}

// expectError waits for an error message of c and checks its code.
func expectError(t *testing.T, c *wsclient.Client, code string) {
	t.Helper()
	m, err := c.WaitFor(timeout(t), TypeError)
	if err != nil {
		t.Fatal(err)
	}
	var e wsclient.Error
	if err := m.Decode(&e); err != nil || e.Code != code {
		t.Fatalf("error %s, want %s", m.Raw, code)
	}
}

// TestRecord: record-start and record-stop around real Opus from a
// WebRTC publisher make a clip of the room, which its author is told of
// and (in a room that publishes at once) everyone sees; a second
// record-start while recording is refused; a recording with no media
// stores nothing.
func TestRecord(t *testing.T) {
	testmedia.Opus(t, 1) // made before the connections, which it would delay
	h, store := storeHub(t)
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
	rec := expectMsg(t, ann, TypeRecording)
	if n, _ := rec["max_seconds"].(float64); rec["req"] != float64(1) || n <= 0 || field(rec, "id") == "" {
		t.Errorf("recording %v", rec)
	}
	send(map[string]string{"type": "record-start"})
	expectError(t, ann, ErrAlreadyRecording)
	send(map[string]string{"type": "record-stop"})
	expectError(t, ann, ErrEmptyClip)
	if ids := store.IDs("chat"); len(ids) != 0 {
		t.Errorf("an empty recording stored %v", ids)
	}

	send(map[string]string{"type": "record-start", "description": "a tone"})
	rec = expectMsg(t, ann, TypeRecording)
	if kinds, _ := rec["kinds"].([]any); len(kinds) != 1 || kinds[0] != "audio" {
		t.Errorf("recording %v", rec)
	}
	testmedia.Stream(t, audio, nil, 1)
	send(map[string]string{"type": "record-stop"})
	stopped := expectMsg(t, ann, TypeRecordStopped)
	id := field(stopped, "clip", "id")
	if stopped["reason"] != StopRequested || id != rec["id"] || field(stopped, "clip", "description") != "a tone" || field(stopped, "clip", "author") != "ann" {
		t.Errorf("record-stopped %v; recording %v", stopped, rec)
	}
	if d, _ := stopped["clip"].(map[string]any)["duration"].(float64); d < 0.5 {
		t.Errorf("a second of media made a clip of %v s", d)
	}
	if got := expectMsg(t, bob, TypeClipAdded); field(got, "clip", "id") != id || field(got, "clip", "state") != string(clips.Published) {
		t.Errorf("bob was shown %v", got)
	}
	if c, ok := store.Get("chat", id); !ok || c.Bytes == 0 {
		t.Errorf("the store has %+v", c)
	}
}

// TestRecordLeft: a recording is stopped and kept when its author's
// connection ends.
func TestRecordLeft(t *testing.T) {
	testmedia.Opus(t, 1)
	h, store := storeHub(t)
	ts := serve(t, h)
	bob := wsJoin(t, wsURL(ts), "chat", "bob", wsclient.Options{})
	ann := wsJoin(t, wsURL(ts), "chat", "ann", wsclient.Options{})
	audio := publishAudio(t, ann)
	if err := ann.Send(map[string]string{"type": "record-start"}); err != nil {
		t.Fatal(err)
	}
	rec := expectMsg(t, ann, TypeRecording)
	testmedia.Stream(t, audio, nil, 1)
	ann.Close()
	got := expectMsg(t, bob, TypeClipAdded)
	if field(got, "clip", "id") != rec["id"] || field(got, "clip", "author") != "ann" {
		t.Errorf("bob was shown %v; recording %v", got, rec)
	}
	if _, ok := store.Get("chat", field(got, "clip", "id")); !ok {
		t.Error("the clip is not in the store")
	}
}

// TestRecordStartAtConnect: a record-start sent the moment the publish
// connection is up records the camera too. The server registers each
// track of the connection on its own goroutine, and a record-start that
// came between the microphone's and the camera's used to make a voice
// clip; it waits for every track the offer sends.
func TestRecordStartAtConnect(t *testing.T) {
	h, _ := storeHub(t, func(rooms []configs.Room) {
		for i := range rooms {
			if rooms[i].Name == "chat" {
				rooms[i].AllowVideo = true
			}
		}
	})
	ts := serve(t, h)
	for i := range 12 {
		ann := wsJoin(t, wsURL(ts), "chat", fmt.Sprintf("ann %d", i), wsclient.Options{})
		audio, err := webrtc.NewTrackLocalStaticSample(testmedia.OpusCodec.RTPCodecCapability, "audio", "pub")
		if err != nil {
			t.Fatal(err)
		}
		video, err := webrtc.NewTrackLocalStaticSample(testmedia.VP8Codec.RTPCodecCapability, "video", "pub")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ann.Publish(timeout(t), audio, video); err != nil {
			t.Fatal(err)
		}
		pc := ann.PublishConn()
		connected := make(chan struct{})
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateConnected {
				close(connected)
			}
		})
		if pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
			select {
			case <-connected:
			case <-timeout(t).Done():
				t.Fatalf("the publish connection is %s", pc.ConnectionState())
			}
		}
		if err := ann.Send(map[string]string{"type": "record-start"}); err != nil {
			t.Fatal(err)
		}
		rec := expectMsg(t, ann, TypeRecording)
		if kinds, _ := rec["kinds"].([]any); len(kinds) != 2 || kinds[0] != "audio" || kinds[1] != "video" {
			t.Fatalf("try %d: recording %v", i, rec)
		}
		ann.Close()
	}
}
