package sfu

import (
	"slices"
	"testing"

	"github.com/pion/webrtc/v4"

	"parley/audiolevel"
)

// TestSpeaking: the SFU negotiates the audio level with a publisher that
// offers it, tells from the levels whether it speaks, and says when that
// changes: loud packets start it, quiet ones end it, and so do packets
// that stop coming, or the track ending.
func TestSpeaking(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Name: "r", Live: true})
	ann := join(t, room, "ann")
	st := ann.publish(webrtc.RTPCodecTypeAudio)[0]
	if st.levelID == 0 {
		t.Fatal("the answer does not accept the audio level extension")
	}
	up := upOf(t, ann.p, webrtc.RTPCodecTypeAudio)
	if up.AudioLevelID() != st.levelID {
		t.Fatalf("the up track reads levels under id %d; the publisher sends them under %d", up.AudioLevelID(), st.levelID)
	}
	states := func(want ...bool) {
		t.Helper()
		eventually(t, "speaking states "+fmtStates(want), func() bool {
			return slices.Equal(dedupe(ann.sig.speakingStates()), want) && up.Speaking() == want[len(want)-1]
		})
	}
	st.level.Store(int32(audiolevel.Silence))
	n := up.Packets()
	eventually(t, "10 silent packets arrive", func() bool { return up.Packets() >= n+10 })
	if up.Speaking() || len(ann.sig.speakingStates()) != 0 {
		t.Fatal("silence speaks")
	}
	st.level.Store(20)
	states(true)
	st.level.Store(int32(audiolevel.Silence))
	states(true, false)
	// Packets that stop while speaking: the room's ticker ends it.
	st.level.Store(20)
	states(true, false, true)
	st.paused.Store(true)
	states(true, false, true, false)
	// The track ending while speaking ends it.
	st.paused.Store(false)
	states(true, false, true, false, true)
	ann.unpublish()
	states(true, false, true, false, true, false)
	// The room's ticker stops with its last track that has levels.
	eventually(t, "the speech ticker stops", func() bool {
		room.mu.Lock()
		defer room.mu.Unlock()
		return room.ticker == nil
	})
}

// dedupe drops repeated states: a change may be told twice.
func dedupe(s []bool) []bool { return slices.Compact(s) }

func fmtStates(s []bool) string {
	out := ""
	for _, b := range s {
		if b {
			out += "+"
		} else {
			out += "-"
		}
	}
	return out
}
