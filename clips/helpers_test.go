package clips

import (
	"bytes"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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

// nopWriteCloser keeps testmedia.WriteWebM from closing a pending
// clip's file.
type nopWriteCloser struct{ io.WriteSeeker }

func (nopWriteCloser) Close() error { return nil }

// record stores a clip the way the recorder does: Begin, a WebM written
// into the Pending, Commit.
func record(t testing.TB, s *Store, room, owner string, seconds int) Clip {
	t.Helper()
	p, err := s.Begin(room, Clip{Author: "rec", Owner: owner})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	audio := testmedia.Opus(t, seconds)
	testmedia.WriteWebM(t, nopWriteCloser{p.File()}, audio, nil, true)
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
