package clips

import (
	"bytes"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"

	"parley/configs"
	"parley/internal/roomdir"
	"parley/internal/testmedia"
)

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testRoom is the mediaChat preset named name, changed by mut.
func testRoom(t testing.TB, name string, mut func(r *configs.Room)) configs.Room {
	t.Helper()
	r, err := configs.Preset(configs.MediaChat)
	if err != nil {
		t.Fatal(err)
	}
	r.Name = name
	if mut != nil {
		mut(&r)
	}
	return r
}

func manual(r *configs.Room) { r.Mode = configs.MediaForum; r.Publish = configs.PublishManual }

// openIn opens a store in the data folder dir, as the server does: the
// rooms' folders from roomdir.
func openIn(t testing.TB, dir string, rooms []configs.Room, opts ...Option) (*Store, error) {
	t.Helper()
	folders, err := roomdir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer folders.Close()
	return Open(folders, rooms, testLog(t), opts...)
}

// openStore opens a store that the test closes at its end.
func openStore(t testing.TB, dir string, rooms []configs.Room, opts ...Option) *Store {
	t.Helper()
	s, err := openIn(t, dir, rooms, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 11, 23, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// events collects a store's events.
type events struct {
	mu  sync.Mutex
	evs []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

func (e *events) list() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.evs...)
}

// summary is "type:id:reason" of each event.
func (e *events) summary() []string {
	var out []string
	for _, ev := range e.list() {
		out = append(out, ev.Type+":"+ev.Clip.ID+":"+ev.Reason)
	}
	return out
}

var opusHeadStereo = []byte{'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 2, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0}

// nopWriteCloser gives ebml-go a writer it may close.
type nopWriteCloser struct{ io.WriteSeeker }

func (nopWriteCloser) Close() error { return nil }

// writeWebM writes audio (and video) frames with ebml-go's block writer to
// w. With cues it writes like the recorder (SeekHead, Cues, Duration);
// without, like Chrome's MediaRecorder: unknown-size Segment and Clusters,
// no Cues, no Duration.
func writeWebM(t testing.TB, w io.WriteCloser, audio, video []testmedia.Frame, cues bool) {
	t.Helper()
	tracks := []webm.TrackEntry{{
		Name: "audio", TrackNumber: 1, TrackUID: 1, CodecID: "A_OPUS", TrackType: 2,
		CodecPrivate: opusHeadStereo, Audio: &webm.Audio{SamplingFrequency: 48000, Channels: 2},
	}}
	main := uint64(1)
	if video != nil {
		tracks = append(tracks, webm.TrackEntry{
			Name: "video", TrackNumber: 2, TrackUID: 2, CodecID: "V_VP8", TrackType: 1,
			Video: &webm.Video{PixelWidth: 320, PixelHeight: 240},
		})
		main = 2
	}
	opts := []mkvcore.BlockWriterOption{
		mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: 1000000, MuxingApp: "test", WritingApp: "test"}),
		mkvcore.WithMinMaxClusterDuration(main, 1000, 5000),
	}
	if cues {
		opts = append(opts, mkvcore.WithSeekHead(true), mkvcore.WithCues(4096))
	}
	ws, err := webm.NewSimpleBlockWriter(w, tracks, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var at, vat time.Duration
	vi := 0
	for _, f := range audio {
		for vi < len(video) && vat <= at {
			if _, err := ws[1].Write(video[vi].Keyframe, vat.Milliseconds(), video[vi].Data); err != nil {
				t.Fatal(err)
			}
			vat += video[vi].Duration
			vi++
		}
		if _, err := ws[0].Write(true, at.Milliseconds(), f.Data); err != nil {
			t.Fatal(err)
		}
		at += f.Duration
	}
	for _, w := range ws {
		w.Close()
	}
}

// webmBytes returns frames written by writeWebM.
func webmBytes(t testing.TB, audio, video []testmedia.Frame, cues bool) []byte {
	f, err := os.CreateTemp(t.TempDir(), "*.webm")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writeWebM(t, nopWriteCloser{f}, audio, video, cues)
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// record stores a clip the way the recorder does: Begin, a WebM written
// into the Pending, Commit.
func record(t testing.TB, s *Store, room, owner string, seconds int) Clip {
	t.Helper()
	p, err := s.Begin(room, Clip{Author: "rec", Owner: owner})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	audio := testmedia.Opus(t, seconds)
	writeWebM(t, nopWriteCloser{p.File()}, audio, nil, true)
	c, err := p.Commit(time.Duration(len(audio))*20*time.Millisecond, KindAudio, `audio/webm; codecs="opus"`)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return c
}

// dummy stores a clip of size bytes that is not media (Commit does not
// parse): for limits and concurrency.
func dummy(t testing.TB, s *Store, room, owner string, size int) Clip {
	t.Helper()
	c, err := dummyErr(s, room, owner, size)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dummyErr is dummy for goroutines other than the test's.
func dummyErr(s *Store, room, owner string, size int) (Clip, error) {
	p, err := s.Begin(room, Clip{Author: "dummy", Owner: owner})
	if err != nil {
		return Clip{}, err
	}
	if _, err := p.File().Write(bytes.Repeat([]byte{'x'}, size)); err != nil {
		p.Abort()
		return Clip{}, err
	}
	return p.Commit(time.Second, KindAudio, `audio/webm; codecs="opus"`)
}

// makeMedia runs ffmpeg with args and returns the output file.
func makeMedia(t testing.TB, name string, args ...string) string {
	t.Helper()
	ffmpeg := testmedia.RequireTool(t, "ffmpeg", "ffmpeg")
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(ffmpeg, append(append([]string{"-nostdin", "-v", "error", "-y"}, args...), out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, b)
	}
	return out
}

var (
	sine3   = []string{"-f", "lavfi", "-i", "sine=frequency=440:duration=3"}
	testsrc = []string{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=15:duration=3"}
)

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// ffprobeDuration is the duration ffprobe reads from a file.
func ffprobeDuration(t testing.TB, path string) float64 {
	t.Helper()
	ffprobe := testmedia.RequireTool(t, "ffprobe", "ffmpeg")
	out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe %s: duration %q", path, out)
	}
	return f
}

// tree lists every file under dir with its size, for before/after
// comparisons.
func tree(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			lines = append(lines, rel+"/")
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		lines = append(lines, rel+" "+strconv.FormatInt(fi.Size(), 10))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// clipDir is the clips folder of a room.
func clipDir(dir, room string) string { return filepath.Join(dir, "rooms", room, "clips") }

// names lists the file names in a folder.
func names(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

// bearerAuth is the tests' auth: "Authorization: Bearer <key>" is the
// owner OwnerOf(key), named after the key; a key that starts with
// "reader" is a reader (no owner), as a join token's holder is.
func bearerAuth(r *http.Request, room string) (Caller, bool) {
	key, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found || key == "" {
		return Caller{}, false
	}
	if strings.HasPrefix(key, "reader") {
		return Caller{Author: "user " + key}, true
	}
	return Caller{Owner: OwnerOf(key), Author: "user " + key, Operator: strings.HasPrefix(key, "operator")}, true
}

// server serves the store's API on a mux, as the real server mounts it.
func server(t testing.TB, s *Store) *httptest.Server {
	mux := http.NewServeMux()
	Routes(mux, s.Handler(bearerAuth))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request with an optional bearer key.
func do(t testing.TB, method, url, key string, body io.Reader, contentType string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readBody(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
