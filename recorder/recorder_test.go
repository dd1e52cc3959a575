package recorder

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"parley/internal/testmedia"
)

type feed struct {
	at   time.Duration // media time of the frame
	sink *Sink
	pkts []*rtp.Packet
}

// interleave orders the frames of both tracks by media time, as they would
// arrive.
func interleave(tracks ...[]feed) []feed {
	var out []feed
	idx := make([]int, len(tracks))
	for {
		best := -1
		for i, tr := range tracks {
			if idx[i] < len(tr) && (best < 0 || tr[idx[i]].at < tracks[best][idx[best]].at) {
				best = i
			}
		}
		if best < 0 {
			return out
		}
		out = append(out, tracks[best][idx[best]])
		idx[best]++
	}
}

func feedsOf(sink *Sink, frames []testmedia.Frame, pkts [][]*rtp.Packet) []feed {
	var out []feed
	var at time.Duration
	for i, f := range frames {
		out = append(out, feed{at: at, sink: sink, pkts: pkts[i]})
		at += f.Duration
	}
	return out
}

func record(t *testing.T, withVideo bool, opts Options, mutate func([]feed) []feed) (string, Result, error) {
	t.Helper()
	audio := testmedia.Opus(t, 3)
	tracks := []Track{{Codec: testmedia.OpusCodec}}
	if withVideo {
		tracks = append(tracks, Track{Codec: testmedia.VP8Codec, RequestKeyframe: func() {}})
	}
	path := filepath.Join(t.TempDir(), "clip.webm")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec, err := Start(f, tracks, opts)
	if err != nil {
		t.Fatal(err)
	}
	feeds := [][]feed{feedsOf(rec.Sink(0), audio, testmedia.Packets(audio, &codecs.OpusPayloader{}, 48000, 1000))}
	if withVideo {
		video := testmedia.VP8(t, 3)
		feeds = append(feeds, feedsOf(rec.Sink(1), video, testmedia.Packets(video, &codecs.VP8Payloader{}, 90000, 77777)))
	}
	all := interleave(feeds...)
	if mutate != nil {
		all = mutate(all)
	}
	for _, fd := range all {
		for _, p := range fd.pkts {
			fd.sink.WriteRTP(p)
		}
	}
	res, err := rec.Stop()
	return path, res, err
}

func checkClip(t *testing.T, path string, res Result, wantCodecs []string, want time.Duration) {
	t.Helper()
	r := testmedia.Judge(t, path)
	if len(r.Codecs) != len(wantCodecs) {
		t.Fatalf("streams %v, want %v", r.Codecs, wantCodecs)
	}
	for i := range wantCodecs {
		if r.Codecs[i] != wantCodecs[i] {
			t.Errorf("streams %v, want %v", r.Codecs, wantCodecs)
		}
	}
	if d := math.Abs(r.Duration - want.Seconds()); d > 0.1 {
		t.Errorf("ffprobe duration %.3fs, want %.3fs ±0.1", r.Duration, want.Seconds())
	}
	if d := math.Abs(res.Duration.Seconds() - want.Seconds()); d > 0.1 {
		t.Errorf("measured duration %v, want %v ±0.1s", res.Duration, want)
	}
	if r.DecodeErrors != "" {
		t.Errorf("ffmpeg reports errors:\n%s", r.DecodeErrors)
	}
	if r.MkvDuration == 0 || !r.Cues {
		t.Errorf("mkvmerge: duration %.3f, cues %v: the clip is not seekable", r.MkvDuration, r.Cues)
	}
}

func TestRecordAudio(t *testing.T) {
	path, res, err := record(t, false, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != "audio" || res.Mime != `audio/webm; codecs="opus"` {
		t.Errorf("kind %s mime %s", res.Kind, res.Mime)
	}
	checkClip(t, path, res, []string{"opus"}, 3*time.Second)
}

func TestRecordAudioVideo(t *testing.T) {
	path, res, err := record(t, true, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != "video" || res.Mime != `video/webm; codecs="vp8, opus"` {
		t.Errorf("kind %s mime %s", res.Kind, res.Mime)
	}
	checkClip(t, path, res, []string{"opus", "vp8"}, 3*time.Second)
}

// TestRecordReordered: packets swapped in pairs come out in order.
func TestRecordReordered(t *testing.T) {
	path, res, err := record(t, false, Options{}, func(f []feed) []feed {
		for i := 0; i+1 < len(f); i += 2 {
			f[i], f[i+1] = f[i+1], f[i]
		}
		return f
	})
	if err != nil {
		t.Fatal(err)
	}
	checkClip(t, path, res, []string{"opus"}, 3*time.Second)
}

// TestRecordVideoStartsAtKeyframe: video frames before the first keyframe
// are dropped, and the audio before it is kept.
func TestRecordVideoStartsAtKeyframe(t *testing.T) {
	path, res, err := record(t, true, Options{}, func(f []feed) []feed {
		// Drop the first video keyframe: video then starts at the second.
		for i, fd := range f {
			if fd.sink.track == 1 {
				return append(f[:i], f[i+1:]...)
			}
		}
		return f
	})
	if err != nil {
		t.Fatal(err)
	}
	checkClip(t, path, res, []string{"opus", "vp8"}, 3*time.Second)
}

func TestRecordLimits(t *testing.T) {
	var reason string
	path, res, err := record(t, false, Options{MaxDuration: time.Second, OnLimit: func(r string) { reason = r }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reason != LimitSeconds {
		t.Errorf("limit reason %q", reason)
	}
	checkClip(t, path, res, []string{"opus"}, time.Second)

	reason = ""
	const maxBytes = 40000
	path, _, err = record(t, true, Options{MaxBytes: maxBytes, MaxDuration: 10 * time.Second, OnLimit: func(r string) { reason = r }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reason != LimitBytes {
		t.Errorf("limit reason %q", reason)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > maxBytes {
		t.Errorf("clip has %d bytes, limit %d", st.Size(), maxBytes)
	}
}

func TestRecordNothing(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x.webm"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec, err := Start(f, []Track{{Codec: testmedia.OpusCodec}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Stop(); err != ErrEmpty {
		t.Fatalf("want ErrEmpty, got %v", err)
	}
	if _, err := Start(f, []Track{{Codec: testmedia.VP8Codec}}, Options{}); err == nil {
		t.Fatal("a video-only recording was accepted")
	}
}

// fullDisk is a file that takes limit bytes, then fails as a full disk.
type fullDisk struct {
	limit, n int64
}

func (f *fullDisk) Write(b []byte) (int, error) {
	if f.n+int64(len(b)) > f.limit {
		return 0, syscall.ENOSPC
	}
	f.n += int64(len(b))
	return len(b), nil
}

func (f *fullDisk) Seek(off int64, whence int) (int64, error) { return off, nil }

// TestRecordWriteError: a write that fails, even one held in the write
// buffer until the end, makes Stop report it.
func TestRecordWriteError(t *testing.T) {
	frames := testmedia.Opus(t, 3)
	pkts := testmedia.Packets(frames, &codecs.OpusPayloader{}, 48000, 1000)
	for _, limit := range []int64{100, 20_000} {
		rec, err := Start(&fullDisk{limit: limit}, []Track{{Codec: testmedia.OpusCodec}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		sink := rec.Sink(0)
		for _, fp := range pkts {
			for _, p := range fp {
				sink.WriteRTP(p)
			}
		}
		if _, err := rec.Stop(); !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("disk full after %d bytes: Stop returned %v", limit, err)
		}
	}
}
