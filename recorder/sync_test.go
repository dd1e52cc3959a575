package recorder

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"

	"parley/clips/probe"
	"parley/internal/testmedia"
)

// firstVideoAt records audio that arrives 300 ms before the video although
// both start at the same instant of the sender's clock, and returns when
// the first video block starts in the clip.
func firstVideoAt(t *testing.T, withSR bool) time.Duration {
	t.Helper()
	audio, video := testmedia.Opus(t, 3), testmedia.VP8(t, 3)
	const aTS, vTS = 1000, 77777
	start := time.Now()
	sr := func(rtpTS uint32) func() (SenderReport, bool) {
		return func() (SenderReport, bool) { return SenderReport{NTP: start, RTP: rtpTS}, withSR }
	}
	path := filepath.Join(t.TempDir(), "sync.webm")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec, err := Start(f, []Track{
		{Codec: opusCodec, SenderReport: sr(aTS)},
		{Codec: vp8Codec, SenderReport: sr(vTS), RequestKeyframe: func() {}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	all := interleave(
		feedsOf(rec.Sink(0), audio, packets(audio, &codecs.OpusPayloader{}, 48000, aTS)),
		feedsOf(rec.Sink(1), video, packets(video, &codecs.VP8Payloader{}, 90000, vTS)),
	)
	// The audio of the first 300 ms arrives, then the network delivers
	// the video late.
	var early, late []feed
	for _, fd := range all {
		if fd.sink.track == 0 && fd.at < 300*time.Millisecond {
			early = append(early, fd)
		} else {
			late = append(late, fd)
		}
	}
	send := func(fs []feed) {
		for _, fd := range fs {
			for _, p := range fd.pkts {
				fd.sink.WriteRTP(p)
			}
		}
	}
	send(early)
	time.Sleep(300 * time.Millisecond)
	send(late)
	if _, err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	first := time.Duration(-1)
	info, err := probe.ReadBlocks(f, func(b probe.Block) error {
		if b.Track == 2 && first < 0 {
			first = b.Timecode
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Tracks) != 2 || first < 0 {
		t.Fatalf("the clip has %d tracks and no video block", len(info.Tracks))
	}
	return first
}

// TestSyncBySenderReports: with sender reports the tracks line up by the
// sender's clock whatever the network did to their arrival; without them
// arrival time is all there is.
func TestSyncBySenderReports(t *testing.T) {
	if at := firstVideoAt(t, true); at > 40*time.Millisecond {
		t.Errorf("with sender reports the video starts at %v, want 0", at)
	}
	if at := firstVideoAt(t, false); at < 250*time.Millisecond {
		t.Errorf("by arrival the video should start about 300 ms in, got %v: the test does not tell the modes apart", at)
	}
}
