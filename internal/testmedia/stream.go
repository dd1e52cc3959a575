package testmedia

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Stream sends seconds of Opus frames on audio, and of VP8 frames on video
// if it is not nil, paced in real time as a browser sends them.
func Stream(t testing.TB, audio, video *webrtc.TrackLocalStaticSample, seconds int) {
	t.Helper()
	type track struct {
		out    *webrtc.TrackLocalStaticSample
		frames []Frame
		next   int
		at     time.Duration
	}
	tracks := []*track{{out: audio, frames: Opus(t, seconds)}}
	if video != nil {
		tracks = append(tracks, &track{out: video, frames: VP8(t, seconds)})
	}
	start := time.Now()
	for {
		var due *track
		for _, tr := range tracks {
			if tr.next < len(tr.frames) && (due == nil || tr.at < due.at) {
				due = tr
			}
		}
		if due == nil {
			return
		}
		if d := time.Until(start.Add(due.at)); d > 0 {
			time.Sleep(d)
		}
		f := due.frames[due.next]
		if err := due.out.WriteSample(media.Sample{Data: f.Data, Duration: f.Duration}); err != nil {
			t.Fatalf("write sample: %v", err)
		}
		due.at += f.Duration
		due.next++
	}
}
