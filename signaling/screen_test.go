package signaling

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	wsclient "parley/client"
	"parley/configs"
	"parley/internal/testmedia"
)

// TestScreenNotRecorded: a clip is the microphone and the camera; a
// screen shared besides (marked a=content:slides) is not recorded as
// its video, even with no camera.
func TestScreenNotRecorded(t *testing.T) {
	testmedia.Opus(t, 1)
	testmedia.VP8(t, 1)
	h := accessHubWith(t, func(c *Config, rooms []configs.Room) {
		c.Store = clipStore(t, rooms)
		roomConfig(rooms, "videochat", func(r *configs.Room) { r.Access, r.Passwords = configs.AccessOpen, nil })
	})
	ts := serve(t, h)
	ann := wsJoin(t, wsURL(ts), "videochat", "ann", wsclient.Options{})
	audio := publishAudio(t, ann)
	screen, err := webrtc.NewTrackLocalStaticSample(testmedia.VP8Codec.RTPCodecCapability, "screen", "pub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ann.PublishScreen(timeout(t), screen); err != nil {
		t.Fatal(err)
	}
	// The screen reaches the server once its packets flow.
	testmedia.Stream(t, audio, screen, 1)
	deadline := time.Now().Add(wait)
	for !hasScreen(h.room("videochat")) {
		if time.Now().After(deadline) {
			t.Fatal("the server never had ann's screen")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := ann.Send(map[string]string{"type": "record-start"}); err != nil {
		t.Fatal(err)
	}
	rec := expectMsg(t, ann, TypeRecording)
	if kinds, _ := rec["kinds"].([]any); len(kinds) != 1 || kinds[0] != "audio" {
		t.Errorf("recording %v, want the audio alone", rec)
	}
	testmedia.Stream(t, audio, screen, 1)
	if err := ann.Send(map[string]string{"type": "record-stop"}); err != nil {
		t.Fatal(err)
	}
	expectMsg(t, ann, TypeRecordStopped)
}

// hasScreen reports whether a session of r publishes a screen.
func hasScreen(r *Room) bool {
	r.mu.Lock()
	var ss []*Session
	for _, m := range r.members {
		if s, ok := m.(*Session); ok && s.peer != nil {
			ss = append(ss, s)
		}
	}
	r.mu.Unlock()
	for _, s := range ss {
		for _, up := range s.peer.UpTracks() {
			if up.Screen() {
				return true
			}
		}
	}
	return false
}
