package capture

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"parley/clips"
	"parley/clips/probe"
	"parley/configs"
	"parley/internal/roomdir"
	"parley/internal/testmedia"
	"parley/recorder"
	"parley/sfu"
)

// fakeTrack is an up track fed by the test.
type fakeTrack struct {
	kind      webrtc.RTPCodecType
	codec     webrtc.RTPCodecParameters
	closed    atomic.Bool
	keyframes atomic.Int32
	levelID   uint8 // the audio level extension's id, 0 for none

	mu    sync.Mutex
	sinks []sfu.Sink
}

func newFake(kind webrtc.RTPCodecType) *fakeTrack {
	if kind == webrtc.RTPCodecTypeAudio {
		return &fakeTrack{kind: kind, codec: testmedia.OpusCodec}
	}
	return &fakeTrack{kind: kind, codec: testmedia.VP8Codec}
}

func (f *fakeTrack) Kind() webrtc.RTPCodecType                  { return f.kind }
func (f *fakeTrack) Codec() webrtc.RTPCodecParameters           { return f.codec }
func (f *fakeTrack) Closed() bool                               { return f.closed.Load() }
func (f *fakeTrack) RequestKeyframe()                           { f.keyframes.Add(1) }
func (f *fakeTrack) LastSenderReport() (sfu.SenderReport, bool) { return sfu.SenderReport{}, false }
func (f *fakeTrack) AudioLevelID() uint8                        { return f.levelID }

func (f *fakeTrack) AddSink(s sfu.Sink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sinks = append(f.sinks, s)
}

func (f *fakeTrack) RemoveSink(s sfu.Sink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, k := range f.sinks {
		if k == s {
			f.sinks = append(f.sinks[:i], f.sinks[i+1:]...)
			return
		}
	}
}

func (f *fakeTrack) attached() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sinks)
}

// send writes packets to the track's sinks, as the SFU's forwarding
// loop does.
func (f *fakeTrack) send(pkts []*rtp.Packet) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range pkts {
		for _, s := range f.sinks {
			s.WriteRTP(p)
		}
	}
}

func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// withStore runs f in a synctest bubble with a store of one mediaChat
// room named "r" in a temporary folder. The bubble makes sure every
// goroutine f starts has ended.
func withStore(t *testing.T, f func(t *testing.T, store *clips.Store)) {
	withStoreIn(t, func(t *testing.T, store *clips.Store, _ string) { f(t, store) })
}

// withStoreIn is withStore that also gives f the room's clips folder.
func withStoreIn(t *testing.T, f func(t *testing.T, store *clips.Store, clipsDir string)) {
	room, err := configs.Preset(configs.MediaChat)
	if err != nil {
		t.Fatal(err)
	}
	room.Name = "r"
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		folders, err := roomdir.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		store, err := clips.Open(folders, []configs.Room{room}, testLog())
		folders.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		f(t, store, filepath.Join(dir, "rooms", "r", "clips"))
	})
}

// filesIn lists the files in a folder and under it.
func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, path)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return names
}

// events records the store's events.
type events struct {
	mu   sync.Mutex
	list []clips.Event
}

func watchEvents(store *clips.Store) *events {
	e := &events{}
	store.SetNotify(func(ev clips.Event) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.list = append(e.list, ev)
	})
	return e
}

func (e *events) get() []clips.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]clips.Event(nil), e.list...)
}

// sendAudio sends audio frames to a track in real (bubble) time, one
// every 20 ms.
func sendAudio(a *fakeTrack, frames [][]*rtp.Packet) {
	for _, f := range frames {
		a.send(f)
		time.Sleep(20 * time.Millisecond)
	}
}

// testPackets returns 3 s of Opus and of VP8 as RTP packets, one slice
// per frame.
func testPackets(t *testing.T) (audio, video [][]*rtp.Packet) {
	return testmedia.Packets(testmedia.Opus(t, 3), &codecs.OpusPayloader{}, 48000, 1000),
		testmedia.Packets(testmedia.VP8(t, 3), &codecs.VP8Payloader{}, 90000, 77777)
}

func testConfig(store *clips.Store) Config {
	return Config{Store: store, Room: "r", MaxSeconds: 60, MaxBytes: 10 << 20, Log: testLog()}
}

var owner = clips.OwnerOf("0123456789abcdef0123456789abcdef0123456789a")

func TestPick(t *testing.T) {
	a1, a2 := newFake(webrtc.RTPCodecTypeAudio), newFake(webrtc.RTPCodecTypeAudio)
	v1, v2 := newFake(webrtc.RTPCodecTypeVideo), newFake(webrtc.RTPCodecTypeVideo)
	closed := newFake(webrtc.RTPCodecTypeAudio)
	closed.closed.Store(true)
	for _, c := range []struct {
		name string
		in   []*fakeTrack
		want []*fakeTrack
	}{
		{"none", nil, nil},
		{"video only", []*fakeTrack{v1}, nil},
		{"closed audio", []*fakeTrack{closed, v1}, nil},
		{"audio", []*fakeTrack{a1}, []*fakeTrack{a1}},
		{"audio first", []*fakeTrack{v1, closed, a1}, []*fakeTrack{a1, v1}},
		{"one of each", []*fakeTrack{a1, v1, a2, v2}, []*fakeTrack{a1, v1}},
	} {
		got := Pick(c.in)
		if len(got) != len(c.want) {
			t.Errorf("%s: %d tracks, want %d", c.name, len(got), len(c.want))
			continue
		}
		for i := range got {
			if got[i] != Track(c.want[i]) {
				t.Errorf("%s: track %d is not the one expected", c.name, i)
			}
		}
	}
}

// TestRecordingLifecycle records an audio and a video track into a real
// store: the sinks are attached while it records and removed by Finish,
// and the clip is stored with its kind and duration.
func TestRecordingLifecycle(t *testing.T) {
	audio, video := testPackets(t)
	// The publisher sends its audio level (-30 dBov: loudness 50).
	for _, frame := range audio {
		for _, p := range frame {
			if err := p.SetExtension(4, []byte{30}); err != nil {
				t.Fatal(err)
			}
		}
	}
	withStore(t, func(t *testing.T, store *clips.Store) {
		a, v := newFake(webrtc.RTPCodecTypeAudio), newFake(webrtc.RTPCodecTypeVideo)
		a.levelID = 4
		rec, err := Start(testConfig(store), clips.Clip{Author: "ann", Owner: owner, Description: "hello"}, Pick([]*fakeTrack{v, a}),
			func(reason string) { t.Errorf("limit reached: %s", reason) })
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.Kinds(); len(got) != 2 || got[0] != "audio" || got[1] != "video" {
			t.Errorf("Kinds = %v", got)
		}
		if a.attached() != 1 || v.attached() != 1 {
			t.Fatalf("sinks attached: audio %d, video %d", a.attached(), v.attached())
		}
		// 3 s of media, sent in real (bubble) time: audio every 20 ms,
		// video every 40 ms.
		ai, vi := 0, 0
		for at := time.Duration(0); ai < len(audio) || vi < len(video); at += 20 * time.Millisecond {
			if ai < len(audio) {
				a.send(audio[ai])
				ai++
			}
			if vi < len(video) && at%(40*time.Millisecond) == 0 {
				v.send(video[vi])
				vi++
			}
			time.Sleep(20 * time.Millisecond)
		}
		clip, err := rec.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if a.attached() != 0 || v.attached() != 0 {
			t.Errorf("sinks left attached: audio %d, video %d", a.attached(), v.attached())
		}
		if clip.ID != rec.ID() || clip.Kind != clips.KindVideo || clip.Author != "ann" || clip.Description != "hello" {
			t.Errorf("clip = %+v", clip)
		}
		if d := clip.Duration; d < 2.5 || d > 3.5 {
			t.Errorf("duration %gs, want about 3 s", d)
		}
		if len(clip.Waveform) != clips.MinWaveform || clip.Waveform[5] != 50 {
			t.Errorf("waveform %v, want %d values of 50", clip.Waveform, clips.MinWaveform)
		}
		if got, ok := store.Get("r", clip.ID); !ok || got.ID != clip.ID {
			t.Errorf("the store does not have clip %s", clip.ID)
		}
	})
}

// TestRecordingEmpty: a recording that got no media stores nothing.
func TestRecordingEmpty(t *testing.T) {
	withStore(t, func(t *testing.T, store *clips.Store) {
		a := newFake(webrtc.RTPCodecTypeAudio)
		rec, err := Start(testConfig(store), clips.Clip{Owner: owner}, []Track{a}, func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		clip, err := rec.Finish()
		if !errors.Is(err, ErrEmpty) || clip.ID != "" {
			t.Errorf("Finish = %+v, %v; want ErrEmpty", clip, err)
		}
		if ids := store.IDs("r"); len(ids) != 0 {
			t.Errorf("the store has %v", ids)
		}
		if a.attached() != 0 {
			t.Error("sink left attached")
		}
	})
}

// TestRecordingCancel: a cancelled recording, with media or without,
// attached or fed, leaves nothing: no clip in the catalog, no file in the
// room's clips folder (neither the media nor its metadata), no event.
// A recording finished afterwards is stored and announced as usual.
func TestRecordingCancel(t *testing.T) {
	audio, _ := testPackets(t)
	withStoreIn(t, func(t *testing.T, store *clips.Store, dir string) {
		ev := watchEvents(store)
		for _, c := range []struct {
			name   string
			frames int
			fed    bool
		}{
			{"media", 50, false},
			{"no media", 0, false},
			{"fed", 50, true},
		} {
			a := newFake(webrtc.RTPCodecTypeAudio)
			start := Start
			if c.fed {
				start = StartFed
			}
			rec, err := start(testConfig(store), clips.Clip{Author: "ann", Owner: owner}, []Track{a}, func(string) {})
			if err != nil {
				t.Fatal(err)
			}
			if len(filesIn(t, dir)) == 0 {
				t.Fatalf("%s: a recording has no pending file", c.name)
			}
			if c.fed {
				for _, f := range audio[:c.frames] {
					for _, p := range f {
						rec.sinks[0].WriteRTP(p)
					}
					time.Sleep(20 * time.Millisecond)
				}
			} else {
				sendAudio(a, audio[:c.frames])
			}
			rec.Cancel()
			synctest.Wait()
			if a.attached() != 0 {
				t.Errorf("%s: sink left attached", c.name)
			}
			if ids := store.IDs("r"); len(ids) != 0 {
				t.Errorf("%s: the store has %v", c.name, ids)
			}
			if files := filesIn(t, dir); len(files) != 0 {
				t.Errorf("%s: files left: %v", c.name, files)
			}
			if got := ev.get(); len(got) != 0 {
				t.Errorf("%s: events %+v", c.name, got)
			}
		}

		a := newFake(webrtc.RTPCodecTypeAudio)
		rec, err := Start(testConfig(store), clips.Clip{Author: "ann", Owner: owner}, []Track{a}, func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		sendAudio(a, audio[:50])
		clip, err := rec.Finish()
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := ev.get(); len(got) != 1 || got[0].Type != clips.EventAdded || got[0].Clip.ID != clip.ID {
			t.Errorf("after a finished recording: events %+v", got)
		}
	})
}

// TestRecordingTooShort: a recording whose media is shorter than the
// room's minimum is discarded by Finish (ErrTooShort): nothing in the
// catalog or the folder, no event. One as long as the minimum, or with
// no minimum set, is kept.
func TestRecordingTooShort(t *testing.T) {
	audio, _ := testPackets(t)
	withStoreIn(t, func(t *testing.T, store *clips.Store, dir string) {
		ev := watchEvents(store)
		record := func(min time.Duration, frames int) (clips.Clip, error) {
			cfg := testConfig(store)
			cfg.MinDuration = min
			a := newFake(webrtc.RTPCodecTypeAudio)
			rec, err := Start(cfg, clips.Clip{Author: "ann", Owner: owner}, []Track{a}, func(string) {})
			if err != nil {
				t.Fatal(err)
			}
			sendAudio(a, audio[:frames])
			clip, err := rec.Finish()
			if a.attached() != 0 {
				t.Error("sink left attached")
			}
			synctest.Wait()
			return clip, err
		}

		// Half a second of media against a minimum of one.
		clip, err := record(time.Second, 25)
		if !errors.Is(err, ErrTooShort) || clip.ID != "" {
			t.Fatalf("Finish = %+v, %v; want ErrTooShort", clip, err)
		}
		if ids := store.IDs("r"); len(ids) != 0 {
			t.Errorf("the store has %v", ids)
		}
		if files := filesIn(t, dir); len(files) != 0 {
			t.Errorf("files left: %v", files)
		}
		if got := ev.get(); len(got) != 0 {
			t.Errorf("events %+v", got)
		}

		// Enough media, and no minimum at all: both kept.
		for _, min := range []time.Duration{250 * time.Millisecond, 0} {
			clip, err := record(min, 25)
			if err != nil || clip.ID == "" {
				t.Fatalf("minimum %s: Finish = %+v, %v", min, clip, err)
			}
		}
		if ids := store.IDs("r"); len(ids) != 2 {
			t.Errorf("the store has %v, want two clips", ids)
		}
		if got := ev.get(); len(got) != 2 {
			t.Errorf("events %+v, want two", got)
		}
	})
}

// TestRecordingBackstop: a recording whose media stopped arriving is
// ended by the backstop, 2 s after the room's clip limit.
func TestRecordingBackstop(t *testing.T) {
	withStore(t, func(t *testing.T, store *clips.Store) {
		cfg := testConfig(store)
		cfg.MaxSeconds = 5
		limit := make(chan string, 1)
		start := time.Now()
		rec, err := Start(cfg, clips.Clip{Owner: owner}, []Track{newFake(webrtc.RTPCodecTypeAudio)}, func(reason string) { limit <- reason })
		if err != nil {
			t.Fatal(err)
		}
		if reason := <-limit; reason != recorder.LimitSeconds || time.Since(start) != 7*time.Second {
			t.Errorf("limit %q after %v; want %q after 7s", reason, time.Since(start), recorder.LimitSeconds)
		}
		if _, err := rec.Finish(); !errors.Is(err, ErrEmpty) {
			t.Errorf("Finish: %v", err)
		}
	})
}

// TestRecordingBackstopPutOff: media that comes late (a stalled machine
// delivers 3 s of it over 10.5 s) puts the backstop off while it comes,
// up to twice the limit: the clip keeps all of it.
func TestRecordingBackstopPutOff(t *testing.T) {
	audio, _ := testPackets(t)
	withStore(t, func(t *testing.T, store *clips.Store) {
		cfg := testConfig(store)
		cfg.MaxSeconds = 5
		limit := make(chan string, 1)
		start := time.Now()
		a := newFake(webrtc.RTPCodecTypeAudio)
		rec, err := Start(cfg, clips.Clip{Owner: owner}, []Track{a}, func(reason string) { limit <- reason })
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range audio {
			a.send(f)
			time.Sleep(70 * time.Millisecond)
		}
		// The last packet came at 10.43 s; the backstop, due at 7 s, was
		// put off while packets came, and fires 2 s after the last one
		// once it looks again (13 s).
		if reason := <-limit; reason != recorder.LimitSeconds || time.Since(start) != 13*time.Second {
			t.Errorf("limit %q after %v; want %q after 13s", reason, time.Since(start), recorder.LimitSeconds)
		}
		clip, err := rec.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if clip.Duration < 2.9 {
			t.Errorf("the clip lasts %gs, want the 3 s sent", clip.Duration)
		}
	})
}

// TestArchiveSpurts: each talk spurt becomes a clip; a silence of
// spurtGap ends one, video alone does not start one, and Close stores
// the spurt in progress and waits for the archiver's goroutine.
func TestArchiveSpurts(t *testing.T) {
	audio, video := testPackets(t)
	withStore(t, func(t *testing.T, store *clips.Store) {
		cfg := testConfig(store)
		var started atomic.Int32
		a := NewArchiver(func(tracks []Track, onLimit func(string)) (*Recording, error) {
			started.Add(1)
			return StartFed(cfg, clips.Clip{Author: "ann", Owner: owner}, tracks, onLimit)
		}, testLog())
		at, vt := newFake(webrtc.RTPCodecTypeAudio), newFake(webrtc.RTPCodecTypeVideo)
		a.Add(at)
		a.Add(vt)
		a.Add(at) // once is enough
		if at.attached() != 1 || vt.attached() != 1 {
			t.Fatalf("sinks attached: audio %d, video %d", at.attached(), vt.attached())
		}
		// Video alone: no spurt.
		for _, p := range video[:25] {
			vt.send(p)
			time.Sleep(40 * time.Millisecond)
		}
		synctest.Wait()
		if n := started.Load(); n != 0 {
			t.Fatalf("video alone started %d spurts", n)
		}
		// Three spurts of 1 s of voice (with video), 2 s apart; the last
		// is still going when the archiver closes.
		spurt := func(from int) {
			for i := from; i < from+50; i++ {
				at.send(audio[i])
				if i%2 == 0 {
					vt.send(video[i/2])
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		spurt(0)
		time.Sleep(2 * spurtGap)
		synctest.Wait()
		if ids := store.IDs("r"); len(ids) != 1 {
			t.Fatalf("after a spurt and a silence the store has %v, want one clip", ids)
		}
		spurt(50)
		time.Sleep(2 * spurtGap)
		spurt(100)
		a.Close()
		if at.attached() != 0 || vt.attached() != 0 {
			t.Errorf("sinks left attached: audio %d, video %d", at.attached(), vt.attached())
		}
		if n := started.Load(); n != 3 {
			t.Errorf("%d spurts started, want 3", n)
		}
		ids := store.IDs("r")
		if len(ids) != 3 {
			t.Fatalf("the store has %v, want three clips", ids)
		}
		for _, id := range ids {
			c, _ := store.Get("r", id)
			if c.Author != "ann" || c.Duration < 0.8 || c.Duration > 1.2 {
				t.Errorf("clip %s: author %q, duration %gs; want ann, about 1 s", id, c.Author, c.Duration)
			}
		}
	})
}

// TestArchiveShortSpurt: a talk spurt shorter than the room's minimum
// is not archived; a longer one is.
func TestArchiveShortSpurt(t *testing.T) {
	audio, _ := testPackets(t)
	withStoreIn(t, func(t *testing.T, store *clips.Store, dir string) {
		cfg := testConfig(store)
		cfg.MinDuration = 1500 * time.Millisecond
		a := NewArchiver(func(tracks []Track, onLimit func(string)) (*Recording, error) {
			return StartFed(cfg, clips.Clip{Author: "ann", Owner: owner}, tracks, onLimit)
		}, testLog())
		at := newFake(webrtc.RTPCodecTypeAudio)
		a.Add(at)
		sendAudio(at, audio[:25]) // half a second
		time.Sleep(2 * spurtGap)
		synctest.Wait()
		if ids := store.IDs("r"); len(ids) != 0 {
			t.Errorf("a short spurt was archived: %v", ids)
		}
		if files := filesIn(t, dir); len(files) != 0 {
			t.Errorf("a short spurt left files: %v", files)
		}
		sendAudio(at, audio[25:125]) // two seconds
		a.Close()
		ids := store.IDs("r")
		if len(ids) != 1 {
			t.Fatalf("the store has %v, want the long spurt", ids)
		}
		if c, _ := store.Get("r", ids[0]); c.Duration < 1.5 {
			t.Errorf("the archived spurt lasts %gs", c.Duration)
		}
	})
}

// TestArchiveFirstSpurtWaitsForVideo: a session's first spurt starts
// before the camera's first packet has made its track known; the spurt
// waits for it a moment, keeps the voice that came meanwhile, and is
// recorded with video. A voice alone starts its spurt after spurtSettle,
// with nothing lost.
func TestArchiveFirstSpurtWaitsForVideo(t *testing.T) {
	audio, video := testPackets(t)
	withStore(t, func(t *testing.T, store *clips.Store) {
		cfg := testConfig(store)
		var kinds [][]string
		var mu sync.Mutex
		// archiver records the spurts of author, noting their kinds.
		archiver := func(author string) *Archiver {
			return NewArchiver(func(tracks []Track, onLimit func(string)) (*Recording, error) {
				rec, err := StartFed(cfg, clips.Clip{Author: author, Owner: owner}, tracks, onLimit)
				if err == nil {
					mu.Lock()
					kinds = append(kinds, rec.Kinds())
					mu.Unlock()
				}
				return rec, err
			}, testLog())
		}
		a := archiver("ann")
		at, vt := newFake(webrtc.RTPCodecTypeAudio), newFake(webrtc.RTPCodecTypeVideo)
		a.Add(at)
		for i := range 50 {
			at.send(audio[i])
			if i == 3 {
				a.Add(vt) // the camera's first packet, 60 ms after the voice
			}
			if i >= 3 && i%2 == 1 {
				vt.send(video[i/2])
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(2 * spurtGap)
		synctest.Wait()
		// A participant without a camera.
		b := archiver("bob")
		bt := newFake(webrtc.RTPCodecTypeAudio)
		b.Add(bt)
		for i := range 50 {
			bt.send(audio[i])
			time.Sleep(20 * time.Millisecond)
		}
		a.Close()
		b.Close()
		mu.Lock()
		defer mu.Unlock()
		if len(kinds) != 2 || len(kinds[0]) != 2 || len(kinds[1]) != 1 {
			t.Fatalf("spurts recorded %v, want [audio video] then [audio]", kinds)
		}
		for _, id := range store.IDs("r") {
			c, _ := store.Get("r", id)
			if c.Duration < 0.9 || c.Duration > 1.1 {
				t.Errorf("clip %s by %s lasts %gs, want about 1 s: the voice before the spurt started is kept", id, c.Author, c.Duration)
			}
		}
	})
}

// TestArchiveHeardBy: a talk spurt is stored as played for those who
// heard it live, as Config.HeardBy names them when the clip is stored,
// and for nobody else.
func TestArchiveHeardBy(t *testing.T) {
	audio, _ := testPackets(t)
	bob, cat, dan := clips.OwnerOf("bob's key, 22 chars or more"), clips.OwnerOf("cat's key, 22 chars or more"), clips.OwnerOf("dan's key, 22 chars or more")
	withStore(t, func(t *testing.T, store *clips.Store) {
		var mu sync.Mutex
		present := []string{owner, bob}
		cfg := testConfig(store)
		cfg.HeardBy = func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), present...)
		}
		a := NewArchiver(func(tracks []Track, onLimit func(string)) (*Recording, error) {
			return StartFed(cfg, clips.Clip{Author: "ann", Owner: owner}, tracks, onLimit)
		}, testLog())
		at := newFake(webrtc.RTPCodecTypeAudio)
		a.Add(at)
		for i := range 50 {
			at.send(audio[i])
			if i == 25 {
				mu.Lock()
				present = append(present, cat) // cat comes in as ann talks
				mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
		a.Close()
		ids := store.IDs("r")
		if len(ids) != 1 {
			t.Fatalf("the store has %v, want one clip", ids)
		}
		for who, want := range map[string]bool{bob: true, cat: true, dan: false, owner: true} {
			list, err := store.List("r", who)
			if err != nil || len(list) != 1 {
				t.Fatalf("List: %v, %v", list, err)
			}
			if list[0].Played != want {
				t.Errorf("owner %s: played %v, want %v", who[:8], list[0].Played, want)
			}
		}
	})
}

// TestHoldLateStart: a recording that starts a second after the voice
// and half a second after the camera, on Holds (as a WHIP session's
// does), begins at the voice's first packet, with the camera's frames
// half a second in, where they came (the recorder shows the first one
// from the start: see recorder's videoLead).
func TestHoldLateStart(t *testing.T) {
	audio, video := testPackets(t)
	withStore(t, func(t *testing.T, store *clips.Store) {
		a, v := newFake(webrtc.RTPCodecTypeAudio), newFake(webrtc.RTPCodecTypeVideo)
		ha := NewHold(a)
		var hv *Hold
		var rec *Recording
		for i := range 100 { // 2 s of 20 ms frames
			if i == 25 {
				hv = NewHold(v)
			}
			if i == 50 {
				var err error
				rec, err = Start(testConfig(store), clips.Clip{Author: "obs", Owner: owner}, Pick([]*Hold{hv, ha}),
					func(reason string) { t.Errorf("limit reached: %s", reason) })
				if err != nil {
					t.Fatal(err)
				}
			}
			a.send(audio[i])
			if i >= 25 && i%2 == 1 {
				v.send(video[(i-25)/2])
			}
			time.Sleep(20 * time.Millisecond)
		}
		clip, err := rec.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if d := clip.Duration; d < 1.9 || d > 2.1 {
			t.Errorf("duration %gs, want 2 s: the voice before the recording started is kept", d)
		}
		if a.attached() != 1 || v.attached() != 1 {
			t.Errorf("holds attached: audio %d, video %d, want 1 each until released", a.attached(), v.attached())
		}
		// Nothing is kept after the recording.
		a.send(audio[0])
		if n := len(ha.kept); n != 0 {
			t.Errorf("the hold kept %d packets after its recording", n)
		}
		ha.Release()
		hv.Release()
		if a.attached() != 0 || v.attached() != 0 {
			t.Errorf("released holds still attached: audio %d, video %d", a.attached(), v.attached())
		}
		f, _, err := store.OpenMedia("r", clip.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		at := map[uint64][]time.Duration{}
		if _, err := probe.ReadBlocks(f, func(b probe.Block) error {
			at[b.Track] = append(at[b.Track], b.Timecode)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// Track 1 is the audio, 2 the video; the video's second frame
		// came 540 ms after the voice.
		if len(at[1]) < 2 || len(at[2]) < 2 || at[1][0] != 0 || at[2][1] < 500*time.Millisecond || at[2][1] > 580*time.Millisecond {
			t.Fatalf("frames at %v (audio) and %v (video), want the audio from 0 and the video's second frame at 540ms", at[1], at[2])
		}
	})
}

// TestHoldBound: a Hold keeps at most maxHeld packets, the latest, and
// hands them over in order with the times they came.
func TestHoldBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newFake(webrtc.RTPCodecTypeAudio)
		h := NewHold(a)
		start := time.Now()
		for i := range maxHeld + 100 {
			a.send([]*rtp.Packet{{Header: rtp.Header{SequenceNumber: uint16(i)}, Payload: []byte{1}}})
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Second)
		s := &timedSink{}
		h.AddSink(s)
		if len(s.seqs) != maxHeld || s.seqs[0] != 100 || s.seqs[len(s.seqs)-1] != maxHeld+99 {
			t.Fatalf("handed over %d packets, from %d to %d; want %d from 100", len(s.seqs), s.seqs[0], s.seqs[len(s.seqs)-1], maxHeld)
		}
		if d := s.at[0].Sub(start); d != 100*time.Millisecond {
			t.Errorf("the first packet handed over came %v after the start, want 100ms", d)
		}
		a.send([]*rtp.Packet{{Header: rtp.Header{SequenceNumber: 9999}, Payload: []byte{1}}})
		if s.seqs[len(s.seqs)-1] != 9999 || !s.at[len(s.at)-1].Equal(time.Now()) {
			t.Error("a packet after the hand-over did not pass as it came")
		}
		h.Release()
		if a.attached() != 0 {
			t.Error("released hold still attached")
		}
	})
}

// timedSink notes the packets it is given and when they came.
type timedSink struct {
	seqs []uint16
	at   []time.Time
}

func (s *timedSink) WriteRTP(p *rtp.Packet) { s.WriteRTPAt(p, time.Now()) }

func (s *timedSink) WriteRTPAt(p *rtp.Packet, at time.Time) {
	s.seqs = append(s.seqs, p.SequenceNumber)
	s.at = append(s.at, at)
}
