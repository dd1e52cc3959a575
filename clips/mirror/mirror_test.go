package mirror_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/clips"
	"parley/clips/mirror"
	"parley/internal/leakcheck"
	"parley/internal/s3test"
	"parley/objstore"
)

const room = "lobby"

// Clip ids and an owner, as package clips makes them.
var (
	idA   = "0190000000001" + "aaaaaaaaaaaaaaaa"
	idB   = "0190000000002" + "bbbbbbbbbbbbbbbb"
	idC   = "0190000000003" + "cccccccccccccccc"
	owner = strings.Repeat("0f", 32)
)

func TestIDs(t *testing.T) {
	for _, id := range []string{idA, idB, idC} {
		if !clips.ValidID(id) {
			t.Fatalf("%s is not a clip id", id)
		}
	}
	if clips.OwnerOf("k") == "" || len(clips.OwnerOf("k")) != len(owner) {
		t.Fatalf("owner %s is not shaped like OwnerOf's", owner)
	}
}

// requests is a transport that records the PUT and DELETE requests it
// carries and fails those that fail says to fail: a PUT or DELETE with an
// error, a GET with an answer cut after a few bytes, a HEAD with a size
// one byte larger.
type requests struct {
	mu   sync.Mutex
	log  []string // "PUT clips/<id>.webm": method and name in the room
	fail func(method, name string) bool
}

func (q *requests) RoundTrip(req *http.Request) (*http.Response, error) {
	_, name, _ := strings.Cut(req.URL.Path, "/rooms/"+room+"/")
	q.mu.Lock()
	fail := q.fail != nil && q.fail(req.Method, name)
	if !fail && (req.Method == http.MethodPut || req.Method == http.MethodDelete) {
		q.log = append(q.log, req.Method+" "+name)
	}
	q.mu.Unlock()
	if !fail {
		return http.DefaultTransport.RoundTrip(req)
	}
	switch req.Method {
	case http.MethodGet:
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err == nil {
			resp.Body = cutBody{io.LimitReader(resp.Body, 3), resp.Body}
		}
		return resp, err
	case http.MethodHead:
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err == nil {
			resp.ContentLength++
			resp.Header.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
		}
		return resp, err
	}
	return nil, errors.New("injected failure")
}

type cutBody struct {
	io.Reader
	io.Closer
}

// take returns the requests recorded since the last take.
func (q *requests) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.log
	q.log = nil
	return l
}

func (q *requests) failing(f func(method, name string) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fail = f
}

// newBucket returns a client of s's bucket, under the prefix "parley",
// whose requests go through a recording transport.
func newBucket(t *testing.T, s s3test.Server) (*objstore.Client, *requests) {
	t.Helper()
	q := &requests{}
	c, err := objstore.New(objstore.Config{
		Endpoint: s.Endpoint, Bucket: s.Bucket, Region: s.Region,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey, PathStyle: true,
		Prefix: "parley", Timeout: 5 * time.Second, Transport: q,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	return c, q
}

// fixture is a bucket and a node's Mirror and room folder.
type fixture struct {
	s    s3test.Server
	c    *objstore.Client
	q    *requests
	m    *mirror.Mirror
	logs *bytes.Buffer // what m logs: it logs in its caller's goroutine
	root *os.Root
}

func setup(t *testing.T) fixture {
	t.Helper()
	leakcheck.Check(t)
	f := fixture{s: s3test.Start(t), logs: new(bytes.Buffer)}
	f.c, f.q = newBucket(t, f.s)
	f.m = mirror.New(f.c, slog.New(slog.NewTextHandler(f.logs, nil)))
	f.root = roomFolder(t)
	return f
}

// node returns another node's Mirror of the bucket and room folder.
func (f fixture) node(t *testing.T) (*mirror.Mirror, *os.Root) {
	return mirror.New(f.c, slog.New(slog.DiscardHandler)), roomFolder(t)
}

// roomFolder returns a room's folder, opened as a Root.
func roomFolder(t *testing.T) *os.Root {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"clips", "played"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

var mtime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// write writes name with a modification time of its own, so that a
// rewrite of the same size is seen as a change.
func write(t *testing.T, root *os.Root, name, data string) {
	t.Helper()
	if err := root.WriteFile(name, []byte(data), 0o640); err != nil {
		t.Fatal(err)
	}
	mtime = mtime.Add(time.Second)
	if err := root.Chtimes(name, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// addClip writes a clip's media and metadata.
func addClip(t *testing.T, root *os.Root, id, ext string) {
	t.Helper()
	write(t, root, "clips/"+id+ext, "media of "+id)
	write(t, root, "clips/"+id+".json", `{"id":"`+id+`"}`)
}

func removeClip(t *testing.T, root *os.Root, id, ext string) {
	t.Helper()
	for _, name := range []string{"clips/" + id + ext, "clips/" + id + ".json"} {
		if err := root.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
}

// files returns the regular files of a room's folder under clips/,
// played/ and quarantine/, with their contents.
func files(t *testing.T, root *os.Root) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, d := range []string{"clips", "played", "quarantine"} {
		entries, err := os.ReadDir(filepath.Join(root.Name(), d))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			data, err := root.ReadFile(d + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			out[d+"/"+e.Name()] = string(data)
		}
	}
	return out
}

// objects returns the room's objects in the bucket, with their contents.
func objects(t *testing.T, c *objstore.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	l, err := c.List(ctx, "rooms/"+room+"/", 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	for _, o := range l.Objects {
		obj, err := c.Open(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(o.Key, "rooms/"+room+"/")] = string(data)
	}
	return out
}

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func pull(t *testing.T, m *mirror.Mirror, root *os.Root) mirror.Result {
	t.Helper()
	res, err := m.Pull(context.Background(), room, root, mirror.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Pulled(room) {
		t.Fatal("not pulled after a Pull")
	}
	return res
}

func push(t *testing.T, m *mirror.Mirror, root *os.Root, onlyNew bool) mirror.Result {
	t.Helper()
	res, err := m.Push(context.Background(), room, root, onlyNew)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestPushAndPull(t *testing.T) {
	f := setup(t)
	c, q, m, root := f.c, f.q, f.m, f.root

	same(t, "pull of an empty bucket", pull(t, m, root), mirror.Result{})
	addClip(t, root, idA, ".webm")
	write(t, root, "played/"+owner+".json", `{"clips":[]}`)
	// Never mirrored: files being written, quarantine, a symbolic link.
	write(t, root, "clips/"+idB+".part", "recording")
	write(t, root, "clips/"+idB+".part.json", "{}")
	write(t, root, "clips/"+idA+".json.tmp", "{}")
	if err := root.Mkdir("quarantine", 0o750); err != nil {
		t.Fatal(err)
	}
	write(t, root, "quarantine/x", "x")
	if err := root.Symlink("/etc/hostname", "clips/"+idC+".webm"); err != nil {
		t.Fatal(err)
	}
	same(t, "first push", push(t, m, root, false), mirror.Result{Put: 3})
	same(t, "requests of the first push", q.take(), []string{
		"PUT clips/" + idA + ".webm", "PUT clips/" + idA + ".json", "PUT played/" + owner + ".json"})
	same(t, "bucket after the first push", objects(t, c), map[string]string{
		"clips/" + idA + ".webm":    "media of " + idA,
		"clips/" + idA + ".json":    `{"id":"` + idA + `"}`,
		"played/" + owner + ".json": `{"clips":[]}`,
	})
	same(t, "push without change", push(t, m, root, false), mirror.Result{})
	same(t, "requests of a push without change", q.take(), []string(nil))

	// A clip added, one removed, the played file rewritten in place.
	addClip(t, root, idB, ".ogg")
	removeClip(t, root, idA, ".webm")
	write(t, root, "played/"+owner+".json", `{"clips":["`+idB+`"]}`)
	same(t, "second push", push(t, m, root, false), mirror.Result{Put: 3, Deleted: 2})
	same(t, "requests of the second push", q.take(), []string{
		"PUT clips/" + idB + ".ogg", "PUT clips/" + idB + ".json", "PUT played/" + owner + ".json",
		"DELETE clips/" + idA + ".json", "DELETE clips/" + idA + ".webm"})
	want := map[string]string{
		"clips/" + idB + ".ogg":     "media of " + idB,
		"clips/" + idB + ".json":    `{"id":"` + idB + `"}`,
		"played/" + owner + ".json": `{"clips":["` + idB + `"]}`,
	}
	same(t, "bucket after the second push", objects(t, c), want)

	// Another node takes the room over into an empty folder.
	m2, other := f.node(t)
	same(t, "pull into an empty folder", pull(t, m2, other), mirror.Result{Fetched: 3})
	same(t, "pulled folder", files(t, other), want)
	same(t, "pull again", pull(t, m2, other), mirror.Result{})
	same(t, "push after a pull", push(t, m2, other, false), mirror.Result{})
	same(t, "requests after a pull", q.take(), []string(nil))
}

func TestPushFailures(t *testing.T) {
	f := setup(t)
	c, q, m, root := f.c, f.q, f.m, f.root
	pull(t, m, root)

	// The media cannot be put: its metadata is not put either, the
	// played file is.
	q.failing(func(method, name string) bool { return method == http.MethodPut && strings.HasSuffix(name, ".webm") })
	addClip(t, root, idA, ".webm")
	write(t, root, "played/"+owner+".json", `{}`)
	res, err := m.Push(context.Background(), room, root, false)
	if err == nil || !strings.Contains(err.Error(), idA+".webm") {
		t.Fatalf("push with its media failing: %v", err)
	}
	same(t, "push with its media failing", res, mirror.Result{Put: 1})
	same(t, "bucket after a failed media", objects(t, c), map[string]string{"played/" + owner + ".json": `{}`})
	q.failing(nil)
	q.take()
	same(t, "push again", push(t, m, root, false), mirror.Result{Put: 2})
	same(t, "requests of the retry", q.take(), []string{"PUT clips/" + idA + ".webm", "PUT clips/" + idA + ".json"})

	// The metadata cannot be deleted: the media stays too.
	q.failing(func(method, name string) bool { return method == http.MethodDelete && strings.HasSuffix(name, ".json") })
	removeClip(t, root, idA, ".webm")
	if _, err := m.Push(context.Background(), room, root, false); err == nil {
		t.Fatal("push with a failing delete: no error")
	}
	if got := objects(t, c); len(got) != 3 {
		t.Fatalf("bucket after a failed delete: %v", got)
	}
	q.failing(nil)
	q.take()
	same(t, "push again", push(t, m, root, false), mirror.Result{Deleted: 2})
	same(t, "requests of the retry", q.take(), []string{"DELETE clips/" + idA + ".json", "DELETE clips/" + idA + ".webm"})

	// A new clip whose metadata could not be put by a Push of only the
	// new (a node that handed the room over) is completed by the next
	// one: its media alone in the bucket is no clip.
	q.failing(func(method, name string) bool { return method == http.MethodPut && strings.HasSuffix(name, ".json") })
	addClip(t, root, idB, ".webm")
	if _, err := m.Push(context.Background(), room, root, true); err == nil {
		t.Fatal("push of only the new with its metadata failing: no error")
	}
	q.failing(nil)
	q.take()
	same(t, "push of only the new again", push(t, m, root, true), mirror.Result{Put: 1})
	same(t, "requests of the retry of only the new", q.take(), []string{"PUT clips/" + idB + ".json"})
}

func TestPullStaleLocal(t *testing.T) {
	f := setup(t)
	m, logs, root := f.m, f.logs, f.root
	pull(t, m, root)
	addClip(t, root, idA, ".webm")
	addClip(t, root, idB, ".webm")
	push(t, m, root, false)
	m.Forget(room)
	if m.Pulled(room) {
		t.Fatal("pulled after Forget")
	}
	if _, err := m.Push(context.Background(), room, root, false); !errors.Is(err, mirror.ErrNotPulled) {
		t.Fatalf("push after Forget: %v", err)
	}

	// Another node holds the room and deletes clip A.
	m2, other := f.node(t)
	pull(t, m2, other)
	removeClip(t, other, idA, ".webm")
	same(t, "other node's push", push(t, m2, other, false), mirror.Result{Deleted: 2})

	// Meanwhile the first node's folder got files the bucket never had,
	// and clip A's metadata changed after it was pushed.
	write(t, root, "clips/"+idA+".json", `{"id":"`+idA+`","title":"changed"}`)
	addClip(t, root, idC, ".ogg")
	write(t, root, "played/"+owner+".json", `{}`)
	if err := root.Mkdir("quarantine", 0o750); err != nil {
		t.Fatal(err)
	}
	write(t, root, "quarantine/"+idC+".ogg", "taken")
	res := pull(t, m, root)
	same(t, "pull over stale files", res, mirror.Result{Deleted: 1, SetAside: 4})
	got := files(t, root)
	for _, name := range slices.Collect(maps.Keys(got)) {
		if strings.HasPrefix(name, "quarantine/"+idC+".ogg.") {
			got["quarantine/"+idC+".ogg.N"] = got[name] // a new name: the first was taken
			delete(got, name)
		}
	}
	same(t, "folder after the pull", got, map[string]string{
		"clips/" + idB + ".webm":               "media of " + idB,
		"clips/" + idB + ".json":               `{"id":"` + idB + `"}`,
		"quarantine/" + idA + ".json":          `{"id":"` + idA + `","title":"changed"}`,
		"quarantine/" + idC + ".ogg":           "taken",
		"quarantine/" + idC + ".ogg.N":         "media of " + idC,
		"quarantine/" + idC + ".json":          `{"id":"` + idC + `"}`,
		"quarantine/played-" + owner + ".json": `{}`,
	})
	if n := strings.Count(logs.String(), "moved to quarantine"); n != 4 {
		t.Fatalf("%d log lines of quarantine, want 4:\n%s", n, logs)
	}
	same(t, "push after the pull", push(t, m, root, false), mirror.Result{})
}

func TestOnlyNewAndFetch(t *testing.T) {
	f := setup(t)
	c, q, m, root := f.c, f.q, f.m, f.root
	pull(t, m, root)
	addClip(t, root, idA, ".webm")
	write(t, root, "played/"+owner+".json", `{}`)
	push(t, m, root, false)

	// The room moves to another node.
	m2, other := f.node(t)
	same(t, "pull", pull(t, m2, other), mirror.Result{Fetched: 3})
	ids, res, err := m2.Fetch(context.Background(), room, other, mirror.Limits{})
	if err != nil || len(ids) != 0 || res != (mirror.Result{}) {
		t.Fatalf("fetch with nothing new: %v %v %v", ids, res, err)
	}

	// The first node finishes clips after the handover, and its folder
	// changed otherwise: only the new clips go.
	q.take()
	addClip(t, root, idB, ".ogg")
	addClip(t, root, idC, ".webm")
	write(t, root, "played/"+owner+".json", `{"clips":["`+idA+`"]}`)
	write(t, root, "clips/"+idA+".json", `{"id":"`+idA+`","title":"late"}`)
	if err := root.Remove("clips/" + idA + ".webm"); err != nil {
		t.Fatal(err)
	}
	same(t, "push of only the new", push(t, m, root, true), mirror.Result{Put: 4})
	same(t, "requests of only the new", q.take(), []string{
		"PUT clips/" + idB + ".ogg", "PUT clips/" + idC + ".webm", "PUT clips/" + idB + ".json", "PUT clips/" + idC + ".json"})

	// The node that holds the room fetches them; a clip whose metadata
	// is not in the bucket yet waits.
	if err := c.Delete(context.Background(), "rooms/"+room+"/clips/"+idC+".json"); err != nil {
		t.Fatal(err)
	}
	// A clip whose metadata fails to download is not left half
	// fetched, and is fetched by the next Fetch.
	q.failing(func(method, name string) bool { return method == http.MethodGet && name == "clips/"+idB+".json" })
	ids, _, err = m2.Fetch(context.Background(), room, other, mirror.Limits{})
	if err == nil || len(ids) != 0 {
		t.Fatalf("fetch with a failing download: %v %v", ids, err)
	}
	if got := files(t, other); len(got) != 3 {
		t.Fatalf("folder after a failed fetch: %v", got)
	}
	q.failing(nil)
	ids, res, err = m2.Fetch(context.Background(), room, other, mirror.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "fetched ids", ids, []string{idB})
	same(t, "fetch", res, mirror.Result{Fetched: 2})
	same(t, "fetched files", files(t, other), map[string]string{
		"clips/" + idA + ".webm":    "media of " + idA,
		"clips/" + idA + ".json":    `{"id":"` + idA + `"}`,
		"played/" + owner + ".json": `{}`,
		"clips/" + idB + ".ogg":     "media of " + idB,
		"clips/" + idB + ".json":    `{"id":"` + idB + `"}`,
	})
	ids, _, err = m2.Fetch(context.Background(), room, other, mirror.Limits{})
	if err != nil || len(ids) != 0 {
		t.Fatalf("fetch again: %v %v", ids, err)
	}
	// The fetched clip is in the state: nothing to push.
	same(t, "push after fetch", push(t, m2, other, false), mirror.Result{})
}

func TestHostileBucket(t *testing.T) {
	f := setup(t)
	c, m, logs, root := f.c, f.m, f.logs, f.root
	ctx := context.Background()
	for _, key := range []string{"rooms/" + room + "/notes.txt", "rooms/" + room + "/clips/" + idA + ".webm.bak", "rooms/" + room + "/clips/x.json"} {
		if _, err := c.Put(ctx, key, strings.NewReader("x"), 1, "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	// A .json too large to read, put behind the server's back, over a
	// local file of that name.
	big := filepath.Join(f.s.Dir, f.s.Bucket, "parley", "rooms", room, "clips", idB+".json")
	if err := os.WriteFile(big, bytes.Repeat([]byte(" "), 1<<20+1), 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, root, "clips/"+idB+".json", "{}")
	same(t, "pull of a hostile bucket", pull(t, m, root), mirror.Result{})
	same(t, "folder", files(t, root), map[string]string{"clips/" + idB + ".json": "{}"})
	for _, line := range []string{"notes.txt", idA + ".webm.bak", "clips/x.json", "too large"} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("no log line of %s:\n%s", line, logs)
		}
	}
}

func TestNotPulled(t *testing.T) {
	f := setup(t)
	c, m, root := f.c, f.m, f.root
	addClip(t, root, idA, ".webm")
	if m.Pulled(room) {
		t.Fatal("pulled before any Pull")
	}
	if _, err := m.Push(context.Background(), room, root, true); !errors.Is(err, mirror.ErrNotPulled) {
		t.Fatalf("push: %v", err)
	}
	if _, _, err := m.Fetch(context.Background(), room, root, mirror.Limits{}); !errors.Is(err, mirror.ErrNotPulled) {
		t.Fatalf("fetch: %v", err)
	}
	if got := objects(t, c); len(got) != 0 {
		t.Fatalf("bucket: %v", got)
	}
	if _, err := m.Pull(context.Background(), "../x", root, mirror.Limits{}); err == nil {
		t.Fatal("pull of a bad room name: no error")
	}
}

func TestPullFails(t *testing.T) {
	f := setup(t)
	c, q, m, root := f.c, f.q, f.m, f.root
	pull(t, m, root)
	addClip(t, root, idA, ".webm")
	addClip(t, root, idB, ".ogg")
	push(t, m, root, false)

	// The store's answer for one media ends early: that clip fails,
	// leaving nothing behind (its metadata is not fetched), the others
	// are; the room has no state.
	m2, other := f.node(t)
	q.failing(func(method, name string) bool { return method == http.MethodGet && name == "clips/"+idA+".webm" })
	res, err := m2.Pull(context.Background(), room, other, mirror.Limits{})
	if err == nil || !strings.Contains(err.Error(), idA+".webm") {
		t.Fatalf("pull with a short answer: %v", err)
	}
	same(t, "pull with a short answer", res, mirror.Result{Fetched: 2})
	if m2.Pulled(room) {
		t.Fatal("pulled after a failed pull")
	}
	if _, err := m2.Push(context.Background(), room, other, false); !errors.Is(err, mirror.ErrNotPulled) {
		t.Fatalf("push after a failed pull: %v", err)
	}
	got := files(t, other)
	if len(got) != 2 {
		t.Fatalf("folder after a failed pull: %v", got)
	}
	if _, err := other.Lstat("clips/" + idA + ".webm.tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file after a failed download: %v", err)
	}
	// The object's size differs from the listing's.
	q.failing(func(method, name string) bool { return method == http.MethodHead && name == "clips/"+idA+".webm" })
	if _, err := m2.Pull(context.Background(), room, other, mirror.Limits{}); err == nil || !strings.Contains(err.Error(), "the listing said") {
		t.Fatalf("pull with a size unlike the listing's: %v", err)
	}
	if got := files(t, other); len(got) != 2 {
		t.Fatalf("folder after a failed pull: %v", got)
	}
	// Local media of another size is replaced.
	q.failing(nil)
	write(t, other, "clips/"+idA+".webm", "cut")
	same(t, "pull again", pull(t, m2, other), mirror.Result{Fetched: 2})
	same(t, "folder", files(t, other), objects(t, c))

	// An unreachable bucket.
	q.failing(func(string, string) bool { return true })
	if _, err := m2.Pull(context.Background(), room, other, mirror.Limits{}); err == nil || m2.Pulled(room) {
		t.Fatalf("pull of an unreachable bucket: %v, pulled %v", err, m2.Pulled(room))
	}
}

// TestRooms: calls for different rooms run in parallel, each room's
// state its own.
func TestRooms(t *testing.T) {
	f := setup(t)
	rooms := map[string]*os.Root{"a": roomFolder(t), "b": roomFolder(t), "c": roomFolder(t), "d": roomFolder(t)}
	// each runs call for every room at once and returns its errors.
	each := func(call func(name string, root *os.Root) error) error {
		errs := make(chan error, len(rooms))
		for name, root := range rooms {
			go func() { errs <- call(name, root) }()
		}
		var all []error
		for range rooms {
			all = append(all, <-errs)
		}
		return errors.Join(all...)
	}
	ctx := context.Background()
	if err := each(func(name string, root *os.Root) error {
		_, err := f.m.Pull(ctx, name, root, mirror.Limits{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, root := range rooms {
		addClip(t, root, idA, ".webm")
	}
	if err := each(func(name string, root *os.Root) error {
		res, err := f.m.Push(ctx, name, root, false)
		if err == nil && res != (mirror.Result{Put: 2}) {
			err = fmt.Errorf("room %s: push %+v", name, res)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	l, err := f.c.List(ctx, "rooms/", 100)
	if err != nil || len(l.Objects) != 8 {
		t.Fatalf("bucket: %v %v", l.Objects, err)
	}
}

// A node that takes the room up while another node is putting a clip
// (its media in the bucket, its metadata not yet) leaves that clip alone,
// and takes it in whole by a later Fetch; it never deletes its media.
func TestPullDuringAPut(t *testing.T) {
	f := setup(t)
	c, m, root := f.c, f.m, f.root
	ctx := context.Background()
	pull(t, m, root)
	addClip(t, root, idA, ".webm")
	// The other node's push, halfway: the media is in, the metadata not.
	media, err := root.Open("clips/" + idA + ".webm")
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	if _, err := c.PutFile(ctx, "rooms/"+room+"/clips/"+idA+".webm", media, "video/webm"); err != nil {
		t.Fatal(err)
	}
	m2, other := f.node(t)
	same(t, "pull during a put", pull(t, m2, other), mirror.Result{})
	same(t, "folder after a pull during a put", files(t, other), map[string]string{})
	// The put ends; the node that took the room up fetches the clip.
	push(t, m, root, true)
	ids, res, err := m2.Fetch(ctx, room, other, mirror.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "fetched ids", ids, []string{idA})
	same(t, "fetch", res, mirror.Result{Fetched: 2})
	same(t, "push after fetch", push(t, m2, other, false), mirror.Result{})
	same(t, "bucket", objects(t, c), map[string]string{
		"clips/" + idA + ".webm": "media of " + idA,
		"clips/" + idA + ".json": `{"id":"` + idA + `"}`,
	})
}

// A bucket cannot put more on the node's disk than Limits allow: Pull
// takes the newest clips that fit, then the played files that fit, and
// the other clips are evicted as the room would; Fetch takes what fits,
// and the rest later.
func TestLimits(t *testing.T) {
	f := setup(t)
	c, m, root := f.c, f.m, f.root
	ctx := context.Background()
	idD := "0190000000004" + "dddddddddddddddd"
	pull(t, m, root)
	addClip(t, root, idA, ".webm")
	addClip(t, root, idB, ".webm")
	addClip(t, root, idC, ".webm")
	write(t, root, "clips/"+idD+".webm", strings.Repeat("x", 1000)) // the newest, too large
	write(t, root, "clips/"+idD+".json", `{"id":"`+idD+`"}`)
	write(t, root, "played/"+owner+".json", `{}`)
	push(t, m, root, false)
	bucket := objects(t, c)

	m2, other := f.node(t)
	clip := int64(len("media of "+idA) + len(`{"id":"`+idA+`"}`))
	lim := mirror.Limits{Bytes: 2*clip + 1} // not the played file's 2 bytes
	res, err := m2.Pull(ctx, room, other, lim)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "pull within limits", res, mirror.Result{Fetched: 4})
	same(t, "folder within limits", slices.Sorted(maps.Keys(files(t, other))), []string{
		"clips/" + idB + ".json", "clips/" + idB + ".webm", "clips/" + idC + ".json", "clips/" + idC + ".webm"})
	// The clips that did not fit are evicted, as the room would: Fetch
	// does not take them, the next Push deletes them.
	ids, _, err := m2.Fetch(ctx, room, other, lim)
	if err != nil || len(ids) != 0 {
		t.Fatalf("fetch after a pull within limits: %v %v", ids, err)
	}
	same(t, "push after a pull within limits", push(t, m2, other, false), mirror.Result{Deleted: 4})
	for _, id := range []string{idA, idD} {
		delete(bucket, "clips/"+id+".webm")
		delete(bucket, "clips/"+id+".json")
	}
	same(t, "bucket after a pull within limits", objects(t, c), bucket)

	// New clips: Fetch takes what fits, and nothing with no room at all.
	idE := "0190000000005" + "eeeeeeeeeeeeeeee"
	addClip(t, root, idE, ".webm")
	push(t, m, root, true)
	ids, _, err = m2.Fetch(ctx, room, other, mirror.Limits{Bytes: -1})
	if err != nil || len(ids) != 0 {
		t.Fatalf("fetch with no room: %v %v", ids, err)
	}
	ids, _, err = m2.Fetch(ctx, room, other, mirror.Limits{Bytes: clip})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "fetched within limits", ids, []string{idE})
}
