package recorder

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"testing/synctest"
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

// TestRecordStartsAtOnce checks that a clip's first packet is in the
// file as soon as the recorder has taken it, not after a batch of
// packets or the next flush: the clock of the bubble stands still, so
// only the packet itself can have woken the recorder.
func TestRecordStartsAtOnce(t *testing.T) {
	frames := testmedia.Opus(t, 3)
	pkts := testmedia.Packets(frames, &codecs.OpusPayloader{}, 48000, 1000)
	path := filepath.Join(t.TempDir(), "clip.webm")
	synctest.Test(t, func(t *testing.T) {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rec, err := Start(f, []Track{{Codec: testmedia.OpusCodec}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		sink := rec.Sink(0)
		for _, p := range pkts[0] {
			sink.WriteRTP(p)
		}
		synctest.Wait()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, pkts[0][0].Payload) {
			t.Errorf("the first packet is not in the file (%d bytes) once the recorder has taken it", len(data))
		}
		// Once started, the clip is written in batches again: a second
		// packet stays in the queue or the buffer.
		for _, p := range pkts[1] {
			sink.WriteRTP(p)
		}
		synctest.Wait()
		if data, _ := os.ReadFile(path); bytes.Contains(data, pkts[1][0].Payload) {
			t.Errorf("the second packet was written out at once: the recorder wakes per packet")
		}
		// Nor does the housekeeping write it before a flush is due.
		time.Sleep(2 * housekeepEvery)
		synctest.Wait()
		if data, _ := os.ReadFile(path); bytes.Contains(data, pkts[1][0].Payload) {
			t.Errorf("the second packet was written out within %v: the file is flushed more often than every %v", 2*housekeepEvery, flushEvery)
		}
		time.Sleep(flushEvery)
		synctest.Wait()
		if data, _ := os.ReadFile(path); !bytes.Contains(data, pkts[1][0].Payload) {
			t.Errorf("the second packet was not written out after %v", flushEvery)
		}
		if _, err := rec.Stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRecordAllocsPerPacket checks that what a recording allocates does
// not grow with its length: a clip of 80 s allocates no more than one of
// 20 s but for its Cues, whatever the header, the first buffers and the
// close take.
func TestRecordAllocsPerPacket(t *testing.T) {
	frames := testmedia.Opus(t, 3)
	var pkts []*rtp.Packet
	for _, fp := range testmedia.Packets(frames, &codecs.OpusPayloader{}, 48000, 1000) {
		pkts = append(pkts, fp...)
	}
	dir := t.TempDir()
	clip := func(n int) float64 {
		return testing.AllocsPerRun(5, func() {
			f, err := os.Create(filepath.Join(dir, "clip.webm"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rec, err := Start(f, []Track{{Codec: testmedia.OpusCodec}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			sink := rec.Sink(0)
			var q rtp.Packet
			for i := range n {
				p := pkts[i%len(pkts)]
				cycle := i / len(pkts)
				q.Header, q.Payload = p.Header, p.Payload
				q.SequenceNumber += uint16(cycle * len(pkts))
				q.Timestamp += uint32(cycle*len(pkts)) * 960
				sink.WriteRTP(&q)
				if (i+1)%wakeBatch == 0 {
					for rec.queued() > 0 {
						runtime.Gosched()
					}
				}
			}
			res, err := rec.Stop()
			if err != nil || res.Dropped != 0 || res.Frames != n {
				t.Fatalf("%d packets: %d frames, %d dropped, %v", n, res.Frames, res.Dropped, err)
			}
		})
	}
	// Both long enough for the buffers to have grown to what they need.
	short, long := clip(1000), clip(4000)
	// The Cues' slice doubles twice or so, a cue per second.
	if extra := long - short; extra > 8 {
		t.Errorf("a clip of 4000 packets allocates %.0f times, one of 1000 %.0f: %.3f per packet", long, short, extra/3000)
	}
	t.Logf("allocations per clip: %.0f for 1000 packets, %.0f for 4000", short, long)
}

// TestWriteBufferGrows: the write buffer of a recording stays small for
// the few kilobytes a second of audio, flushed every second, and grows to
// writeBuffer for a stream that fills it within the second.
func TestWriteBufferGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		block := make([]byte, 500)
		audio := &countingWriter{w: &discard{}}
		for range 20 {
			for range 10 { // 5 kB a second
				if _, err := audio.Write(block); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(flushEvery)
			if err := audio.flush(); err != nil {
				t.Fatal(err)
			}
		}
		if cap(audio.buf) != minWriteBuffer {
			t.Errorf("audio's buffer holds %d bytes, want %d", cap(audio.buf), minWriteBuffer)
		}
		video := &countingWriter{w: &discard{}}
		for range 400 { // 200 kB at once
			if _, err := video.Write(block); err != nil {
				t.Fatal(err)
			}
		}
		if cap(video.buf) != writeBuffer {
			t.Errorf("video's buffer holds %d bytes, want %d", cap(video.buf), writeBuffer)
		}
		if video.n != 400*int64(len(block)) {
			t.Errorf("%d bytes written, want %d", video.n, 400*len(block))
		}
	})
}
