package sfu

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestScreenMids: the m-sections of an offer marked "a=content:slides"
// are the screens, whatever else their content attribute lists; others
// are not.
func TestScreenMids(t *testing.T) {
	offer := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=content:main\r\na=sendonly\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=content:slides\r\na=sendonly\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=content:alt,slides\r\na=mid:v3\r\na=sendonly\r\n"
	got := slices.Sorted(maps.Keys(screenMids(offer)))
	if !slices.Equal(got, []string{"2", "v3"}) {
		t.Errorf("screens %v, want [2 v3]", got)
	}
	if m := screenMids(strings.ReplaceAll(offer, "slides", "main")); len(m) != 0 {
		t.Errorf("screens %v in an offer without slides", m)
	}
}

// TestScreenShare: a participant shares a screen besides its camera: the
// screen is an up track of its own, told apart from the camera, and
// subscribers get it as a stream of its own (the publisher's id and
// ScreenSuffix) while the camera and the audio keep the publisher's id;
// stopping the share ends the track for them, and the camera goes on.
func TestScreenShare(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	b := join(t, room, "b")
	a := join(t, room, "a")
	a.publish(audio, video)
	ua, cam := upOf(t, a.p, audio), upOf(t, a.p, video)
	screen := a.publishScreen()
	var up *UpTrack
	eventually(t, "a publishes its screen", func() bool {
		for _, u := range a.p.UpTracks() {
			if u.Screen() {
				up = u
				return true
			}
		}
		return false
	})
	if cam.Screen() || ua.Screen() {
		t.Errorf("a's camera or audio taken for a screen")
	}
	if !strings.Contains(up.ID(), "-screen") || up.Kind() != video {
		t.Errorf("the screen is track %s of kind %s", up.ID(), up.Kind())
	}
	waitDowns(t, b.p, ua.ID(), cam.ID(), up.ID())
	b.waitPackets(up.ID(), 10)
	b.waitPackets(cam.ID(), 10)
	for id, want := range map[string]string{ua.ID(): "a", cam.ID(): "a", up.ID(): "a" + ScreenSuffix} {
		if got := b.received(id).from; got != want {
			t.Errorf("track %s came in stream %q, want %q", id, got, want)
		}
	}

	a.stopSending(screen)
	eventually(t, "the screen ends", up.Closed)
	waitDowns(t, b.p, ua.ID(), cam.ID())
	b.waitPackets(cam.ID(), 10)
	if cam.Closed() || ua.Closed() {
		t.Error("stopping the screen ended the camera or the audio")
	}

	// Shared again: a new screen track, on a new transceiver.
	a.publishScreen()
	eventually(t, "a shares its screen again", func() bool {
		for _, u := range a.p.UpTracks() {
			if u.Screen() && !u.Closed() && u != up {
				up = u
				return true
			}
		}
		return false
	})
	waitDowns(t, b.p, ua.ID(), cam.ID(), up.ID())
	b.waitPackets(up.ID(), 10)
	if got := b.received(up.ID()).from; got != "a"+ScreenSuffix {
		t.Errorf("the second screen came in stream %q", got)
	}
}

// TestViewerSeesTheScreen: a viewer following a participant who shares
// a screen receives the screen rather than the camera, and the camera
// again once the share stops.
func TestViewerSeesTheScreen(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	publishTagged(a, 'A', true)
	upOf(t, a.p, video)
	tv := view(t, room, "v1", ViewOptions{}, audio, video)
	tv.waitTag(video, 'A', 20)
	screen := a.publishScreen()
	screen.tag.Store('S')
	screen.vp8.Store(true)
	tv.waitTag(video, 'S', 20)
	a.stopSending(screen)
	tv.waitTag(video, 'A', 20)
	tv.close()
}
