package recorder

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"

	"parley/audiolevel"
	"parley/internal/testmedia"
)

// TestRecordWaveform: the waveform of a clip follows the audio levels its
// publisher sent (loud, silent, quieter: a second each), with the video
// that holds the audio back until its keyframe; a track without levels
// gives no waveform.
func TestRecordWaveform(t *testing.T) {
	const id = 3
	audio := testmedia.Opus(t, 3)
	video := testmedia.VP8(t, 3)
	path := filepath.Join(t.TempDir(), "clip.webm")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec, err := Start(f, []Track{{Codec: testmedia.OpusCodec, AudioLevelID: id}, {Codec: testmedia.VP8Codec, RequestKeyframe: func() {}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	apkts := testmedia.Packets(audio, &codecs.OpusPayloader{}, 48000, 1000)
	var at time.Duration
	for i, fr := range audio {
		level := byte(10) // loudness 83
		switch {
		case at >= 2*time.Second:
			level = 40 // 33
		case at >= time.Second:
			level = byte(audiolevel.Silence)
		}
		for _, p := range apkts[i] {
			if err := p.Header.SetExtension(id, []byte{0x80 | level}); err != nil {
				t.Fatal(err)
			}
		}
		at += fr.Duration
	}
	all := interleave(feedsOf(rec.Sink(0), audio, apkts),
		feedsOf(rec.Sink(1), video, testmedia.Packets(video, &codecs.VP8Payloader{}, 90000, 77777)))
	for _, fd := range all {
		for _, p := range fd.pkts {
			fd.sink.WriteRTP(p)
		}
	}
	res, err := rec.Stop()
	if err != nil {
		t.Fatal(err)
	}
	w := res.Waveform
	if len(w) != audiolevel.MinSlices {
		t.Fatalf("waveform of %d slices for %v, want %d: %v", len(w), res.Duration, audiolevel.MinSlices, w)
	}
	n := len(w)
	for i, v := range w {
		// A slice that straddles a change may show either side.
		third := i * 3 / n
		if (i+1)*3/n != third || i*3%n == 0 && i > 0 {
			continue
		}
		want := []int{83, 0, 33}[third]
		if v != want {
			t.Errorf("slice %d (of the %s second) = %d, want %d; waveform %v", i, []string{"first", "second", "third"}[third], v, want, w)
		}
	}

	_, plain, err := record(t, false, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Waveform != nil {
		t.Errorf("a track without levels has a waveform: %v", plain.Waveform)
	}
}
