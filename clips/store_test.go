package clips

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/configs"
	"parley/internal/leakcheck"
	"parley/internal/roomdir"
	"parley/internal/testmedia"
)

func TestCatalogRebuiltAfterReopen(t *testing.T) {
	dir := t.TempDir()
	rooms := []configs.Room{testRoom(t, "a", nil), testRoom(t, "b", manual)}
	key := WithMediaKey([]byte("the server's media key")) // the same clip keys after the reopen
	s := openStore(t, dir, rooms, key)
	alice, bob := OwnerOf("alice-key-0123456789abcdef"), OwnerOf("bob-key-0123456789abcdef")
	c1 := record(t, s, "a", alice, 1)
	c2 := record(t, s, "a", bob, 2)
	d1 := record(t, s, "b", alice, 1)
	if d1.State != Draft || d1.DraftToken == "" {
		t.Fatalf("a clip of a manual room: %+v", d1)
	}
	if c1.State != Published || c1.DraftToken != "" {
		t.Fatalf("a clip of an auto room: %+v", c1)
	}
	listA, _ := s.List("a", "")
	listB, _ := s.List("b", alice)
	usage, count := s.Usage("a")
	if len(listA) != 2 || listA[0].ID != c2.ID || len(listB) != 1 || count != 2 || usage != c1.Bytes+c2.Bytes {
		t.Fatalf("before reopen: %v %v %d %d", listA, listB, usage, count)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// On disk: the owner is stored, and nothing temporary is left.
	raw, err := os.ReadFile(filepath.Join(clipDir(dir, "a"), c1.ID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var d diskClip
	if err := json.Unmarshal(raw, &d); err != nil || d.Owner != alice {
		t.Fatalf("stored metadata %s: %v", raw, err)
	}
	for _, room := range []string{"a", "b"} {
		for _, n := range names(t, clipDir(dir, room)) {
			if !strings.HasSuffix(n, ".json") && !strings.HasSuffix(n, ".webm") || strings.HasSuffix(n, ".part.json") {
				t.Errorf("left in %s: %s", room, n)
			}
		}
	}

	s = openStore(t, dir, rooms, key)
	again, _ := s.List("a", "")
	if !reflect.DeepEqual(again, listA) {
		t.Errorf("after reopen:\n%+v\nbefore:\n%+v", again, listA)
	}
	againB, _ := s.List("b", alice)
	if !reflect.DeepEqual(againB, listB) {
		t.Errorf("drafts after reopen:\n%+v\nbefore:\n%+v", againB, listB)
	}
	if u, n := s.Usage("a"); u != usage || n != count {
		t.Errorf("usage after reopen %d/%d, before %d/%d", u, n, usage, count)
	}
	if c, ok := s.Get("a", c1.ID); !ok || c.Owner != alice {
		t.Errorf("Get after reopen: %+v %v", c, ok)
	}
}

func TestClipJSON(t *testing.T) {
	c := Clip{ID: "0123456789abc0123456789abcdef", Room: "a", Owner: OwnerOf("k"), State: Draft, DraftToken: "tok",
		Created: time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.UTC)}
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), c.Owner) || !strings.Contains(string(b), `"created":"2025-01-02T03:04:05.006Z"`) {
		t.Errorf("API JSON: %s", b)
	}
	if v := c.ForViewer(OwnerOf("other")); v.DraftToken != "" {
		t.Errorf("ForViewer(other) keeps the token")
	}
	if v := c.ForViewer(c.Owner); v.DraftToken != "tok" {
		t.Errorf("ForViewer(owner) drops the token")
	}
	if OwnerOf("") != "" || len(OwnerOf("x")) != 64 {
		t.Errorf("OwnerOf")
	}
}

func TestIDsUniqueUnderConcurrency(t *testing.T) {
	dir := t.TempDir()
	room := testRoom(t, "a", func(r *configs.Room) { r.MaxClipCount = 1000 })
	// A clock that does not move: every clip is created in the same
	// millisecond.
	clk := newClock()
	s := openStore(t, dir, []configs.Room{room}, WithClock(clk.Now))
	var ev events
	s.SetNotify(ev.add)
	const n = 64
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := dummyErr(s, "a", "", 100)
			if err != nil {
				t.Error(err)
			}
			ids[i] = c.ID
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		if !ValidID(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
		if !strings.HasPrefix(id, ids[0][:13]) {
			t.Errorf("id %s is not of the same millisecond as %s", id, ids[0])
		}
	}
	if _, count := s.Usage("a"); count != n {
		t.Errorf("%d clips, want %d", count, n)
	}
	if len(ev.list()) != n {
		t.Errorf("%d events, want %d", len(ev.list()), n)
	}
	if got := len(names(t, clipDir(dir, "a"))); got != 2*n {
		t.Errorf("%d files, want %d", got, 2*n)
	}
}

func TestIDsSortByTime(t *testing.T) {
	a := newID(time.UnixMilli(1700000000000))
	b := newID(time.UnixMilli(1700000000001))
	if !(a < b) || len(a) != 29 || !ValidID(a) {
		t.Errorf("ids %s %s", a, b)
	}
	for _, bad := range []string{"", "..", "../x", strings.Repeat("a", 28), strings.Repeat("A", 29), strings.Repeat("a", 28) + "\x00", "/" + strings.Repeat("a", 28)} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q)", bad)
		}
	}
}

func TestCrashLeftoversOnOpen(t *testing.T) {
	dir := t.TempDir()
	rooms := []configs.Room{testRoom(t, "a", nil)}
	s := openStore(t, dir, rooms)
	good := record(t, s, "a", "", 1)
	broken := record(t, s, "a", "", 1)
	noMeta := record(t, s, "a", "", 1)
	noMedia := record(t, s, "a", "", 1)
	s.Close()
	cd := clipDir(dir, "a")
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(cd, name), []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// A crash-safe write that never finished; a metadata file cut short
	// (as a non-crash-safe writer would leave it); media without metadata;
	// metadata without media; a stranger.
	write(good.ID+".json.tmp", `{"id":`)
	write(broken.ID+".json", `{"id": "`+broken.ID+`", "room": "a"`)
	os.Remove(filepath.Join(cd, noMeta.ID+".json"))
	os.Remove(filepath.Join(cd, noMedia.ID+".webm"))
	write("notes.txt", "hello")

	s = openStore(t, dir, rooms)
	list, _ := s.List("a", "")
	if len(list) != 1 || list[0].ID != good.ID {
		t.Fatalf("catalog %+v, want only %s", list, good.ID)
	}
	if got := names(t, cd); !slices.Equal(got, []string{good.ID + ".json", good.ID + ".webm"}) {
		t.Errorf("clips folder: %v", got)
	}
	q := names(t, filepath.Join(dir, "rooms", "a", "quarantine"))
	for _, want := range []string{broken.ID + ".json", broken.ID + ".webm", noMeta.ID + ".webm", noMedia.ID + ".json", "notes.txt"} {
		if !slices.Contains(q, want) {
			t.Errorf("quarantine %v lacks %s", q, want)
		}
	}
}

func TestCountLimitEvictsOldest(t *testing.T) {
	room := testRoom(t, "a", func(r *configs.Room) { r.MaxClipCount = 3 })
	clk := newClock()
	s := openStore(t, t.TempDir(), []configs.Room{room}, WithClock(clk.Now))
	var ev events
	s.SetNotify(ev.add)
	var ids []string
	for range 5 {
		ids = append(ids, dummy(t, s, "a", "", 100).ID)
		clk.Add(time.Millisecond)
	}
	list, _ := s.List("a", "")
	var got []string
	for _, c := range list {
		got = append(got, c.ID)
	}
	if want := []string{ids[4], ids[3], ids[2]}; !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	want := []string{
		EventAdded + ":" + ids[0] + ":", EventAdded + ":" + ids[1] + ":", EventAdded + ":" + ids[2] + ":",
		EventAdded + ":" + ids[3] + ":", EventRemoved + ":" + ids[0] + ":" + ReasonEvicted,
		EventAdded + ":" + ids[4] + ":", EventRemoved + ":" + ids[1] + ":" + ReasonEvicted,
	}
	if got := ev.summary(); !slices.Equal(got, want) {
		t.Errorf("events\n%v\nwant\n%v", got, want)
	}
}

func TestByteBudgetEvictsOldestPublishedFirst(t *testing.T) {
	room := testRoom(t, "a", func(r *configs.Room) {
		manual(r)
		r.MaxClipBytes = 1500
		r.MaxRoomBytes = 3500
		r.MaxClipCount = 100
	})
	clk := newClock()
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{room}, WithClock(clk.Now))
	var ev events
	s.SetNotify(ev.add)
	alice := OwnerOf("alice-key-0123456789abcdef")
	add := func(publish bool) string {
		clk.Add(time.Millisecond)
		c := dummy(t, s, "a", alice, 1000)
		if publish {
			if _, err := s.Publish("a", c.ID, alice); err != nil {
				t.Fatal(err)
			}
		}
		return c.ID
	}
	draft := add(false) // the oldest clip, a draft
	p1 := add(true)
	p2 := add(true)
	p3 := add(true) // 4000 bytes: the oldest published one goes, not the older draft
	kept := func() []string {
		list, _ := s.List("a", alice)
		var out []string
		for _, c := range list {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	if got, want := kept(), []string{draft, p2, p3}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	d2 := add(false) // p2 goes
	d3 := add(false) // p3 goes
	if got, want := kept(), []string{draft, d2, d3}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	d4 := add(false) // only drafts left: the oldest draft goes, never the new one
	if got, want := kept(), []string{d2, d3, d4}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	if bytes, count := s.Usage("a"); bytes != 3000 || count != 3 {
		t.Errorf("usage %d bytes, %d clips", bytes, count)
	}
	var removed []string
	for _, e := range ev.list() {
		if e.Type == EventRemoved {
			if e.Reason != ReasonEvicted {
				t.Errorf("reason %q", e.Reason)
			}
			removed = append(removed, e.Clip.ID)
		}
	}
	if want := []string{p1, p2, p3, draft}; !slices.Equal(removed, want) {
		t.Errorf("evicted %v, want %v", removed, want)
	}
	if n := len(names(t, clipDir(dir, "a"))); n != 6 {
		t.Errorf("%d files on disk, want 6", n)
	}
	_ = p1
}

func TestLifetime(t *testing.T) {
	t.Run("never listed once expired", func(t *testing.T) {
		room := testRoom(t, "a", func(r *configs.Room) { r.ClipLifetime = configs.Duration(time.Hour) })
		clk := newClock()
		dir := t.TempDir()
		s := openStore(t, dir, []configs.Room{room}, WithClock(clk.Now))
		c := dummy(t, s, "a", "", 100)
		if !c.Expires.Equal(c.Created.Add(time.Hour)) {
			t.Errorf("expires %s, created %s", c.Expires, c.Created)
		}
		clk.Add(time.Hour)
		if list, _ := s.List("a", ""); len(list) != 0 {
			t.Errorf("listed after expiry: %v", list)
		}
		if _, ok := s.Get("a", c.ID); ok {
			t.Error("Get after expiry")
		}
		if _, _, err := s.OpenMedia("a", c.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenMedia after expiry: %v", err)
		}
		s.sweep()
		if n := names(t, clipDir(dir, "a")); len(n) != 0 {
			t.Errorf("after the sweep: %v", n)
		}
	})
	t.Run("sweeper on a timer", func(t *testing.T) {
		room := testRoom(t, "a", func(r *configs.Room) { r.ClipLifetime = configs.Duration(200 * time.Millisecond) })
		dir := t.TempDir()
		s := openStore(t, dir, []configs.Room{room}, WithSweepInterval(20*time.Millisecond))
		var ev events
		s.SetNotify(ev.add)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s.Start(ctx)
		c := dummy(t, s, "a", "", 100)
		deadline := time.Now().Add(10 * time.Second)
		for len(names(t, clipDir(dir, "a"))) > 0 {
			if time.Now().After(deadline) {
				t.Fatal("the sweeper did not remove the expired clip")
			}
			time.Sleep(10 * time.Millisecond)
		}
		deadline = time.Now().Add(10 * time.Second)
		want := []string{EventAdded + ":" + c.ID + ":", EventRemoved + ":" + c.ID + ":" + ReasonExpired}
		for !slices.Equal(ev.summary(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("events %v, want %v", ev.summary(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestCommitTooBig(t *testing.T) {
	room := testRoom(t, "a", func(r *configs.Room) { r.MaxClipBytes = 2048 })
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{room})
	p, err := s.Begin("a", Clip{Author: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if n := names(t, clipDir(dir, "a")); !slices.Equal(n, []string{p.ID() + ".part", p.ID() + ".part.json"}) {
		t.Errorf("after Begin: %v", n)
	}
	p.File().Write(make([]byte, 4096))
	if _, err := p.Commit(time.Second, KindAudio, `audio/webm; codecs="opus"`); !errors.Is(err, ErrTooBig) {
		t.Fatalf("Commit: %v, want ErrTooBig", err)
	}
	if n := names(t, clipDir(dir, "a")); len(n) != 0 {
		t.Errorf("left: %v", n)
	}
	if _, err := p.Commit(time.Second, KindAudio, `audio/webm`); !errors.Is(err, ErrDone) {
		t.Errorf("second Commit: %v", err)
	}
	p.Abort() // no-op

	p, _ = s.Begin("a", Clip{})
	p.Abort()
	if n := names(t, clipDir(dir, "a")); len(n) != 0 {
		t.Errorf("after Abort: %v", n)
	}
	if _, err := s.Begin("nope", Clip{}); !errors.Is(err, ErrUnknownRoom) {
		t.Errorf("Begin in an unknown room: %v", err)
	}
	if _, err := s.Begin("a", Clip{Owner: "raw-key"}); err == nil {
		t.Error("Begin accepted a raw key as owner")
	}
}

func TestOwnershipInStore(t *testing.T) {
	s := openStore(t, t.TempDir(), []configs.Room{testRoom(t, "a", manual)})
	alice, bob := OwnerOf("alice-key-0123456789abcdef"), OwnerOf("bob-key-0123456789abcdef")
	var ev events
	s.SetNotify(ev.add)
	c := dummy(t, s, "a", alice, 10)
	if _, err := s.Publish("a", c.ID, bob); !errors.Is(err, ErrForbidden) {
		t.Errorf("Publish by another: %v", err)
	}
	if _, err := s.Publish("a", c.ID, ""); !errors.Is(err, ErrForbidden) {
		t.Errorf("Publish by nobody: %v", err)
	}
	if err := s.Delete("a", c.ID, bob, false); !errors.Is(err, ErrForbidden) {
		t.Errorf("Delete by another: %v", err)
	}
	p, err := s.Publish("a", c.ID, alice)
	if err != nil || p.State != Published || p.DraftToken != "" {
		t.Fatalf("Publish: %+v %v", p, err)
	}
	if list, _ := s.List("a", bob); len(list) != 1 {
		t.Errorf("published clip not listed for others")
	}
	if _, err := s.Publish("a", c.ID, alice); err != nil {
		t.Errorf("Publish twice: %v", err)
	}
	// Only the publication itself is marked as making the clip visible.
	var marks []string
	for _, e := range ev.list() {
		marks = append(marks, fmt.Sprintf("%s:%v", e.Type, e.Published))
	}
	if want := "clip-added:false clip-updated:true"; strings.Join(marks, " ") != want {
		t.Errorf("events %v, want %s", marks, want)
	}
	if err := s.Delete("a", c.ID, bob, true); err != nil {
		t.Errorf("Delete by an operator: %v", err)
	}
	if err := s.Delete("a", c.ID, alice, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete twice: %v", err)
	}
	d := dummy(t, s, "a", alice, 10)
	if err := s.Delete("a", d.ID, alice, false); err != nil {
		t.Errorf("Delete a draft: %v", err)
	}
	want := []string{
		EventAdded + ":" + c.ID + ":", EventUpdated + ":" + c.ID + ":", EventRemoved + ":" + c.ID + ":" + ReasonDeleted,
		EventAdded + ":" + d.ID + ":", EventRemoved + ":" + d.ID + ":" + ReasonDiscarded,
	}
	if got := ev.summary(); !slices.Equal(got, want) {
		t.Errorf("events\n%v\nwant\n%v", got, want)
	}
	for _, e := range ev.list() {
		if e.Clip.Owner != alice || e.Clip.Room != "a" {
			t.Errorf("event without owner or room: %+v", e)
		}
	}
}

func TestEventsOutsideTheLockInOrder(t *testing.T) {
	s := openStore(t, t.TempDir(), []configs.Room{testRoom(t, "a", func(r *configs.Room) { r.MaxClipCount = 1000 })})
	var (
		mu   sync.Mutex
		seen []string
	)
	// The callback calls the store: it must not deadlock.
	s.SetNotify(func(e Event) {
		s.Usage("a")
		s.List("a", "")
		mu.Lock()
		seen = append(seen, e.Type+":"+e.Clip.ID)
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				c, err := dummyErr(s, "a", "", 10)
				if err != nil {
					t.Error(err)
					return
				}
				if err := s.Delete("a", c.ID, "", true); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 80 {
		t.Fatalf("%d events, want 80", len(seen))
	}
	// Per clip, added comes before removed.
	at := map[string]int{}
	for i, e := range seen {
		typ, id, _ := strings.Cut(e, ":")
		if typ == EventAdded {
			at[id] = i
		} else if j, ok := at[id]; !ok || j > i {
			t.Fatalf("removed before added: %s", id)
		}
	}
}

func TestTextCleaned(t *testing.T) {
	s := openStore(t, t.TempDir(), []configs.Room{testRoom(t, "a", nil)})
	long := strings.Repeat("é", 600)
	p, err := s.Begin("a", Clip{Author: "\x1b[31mEve\u202e\x00", Description: "line one\nline two\x07 <b>" + long})
	if err != nil {
		t.Fatal(err)
	}
	p.File().Write([]byte("x"))
	c, err := p.Commit(time.Second, KindAudio, `audio/webm; codecs="opus"`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Author != "[31mEve" {
		t.Errorf("author %q", c.Author)
	}
	if !strings.HasPrefix(c.Description, "line one line two <b>éé") || len([]rune(c.Description)) != MaxDescription {
		t.Errorf("description %q (%d characters)", c.Description[:30], len([]rune(c.Description)))
	}
}

// TestGoroutinesStop: the store's goroutines (the sweeper, an upload's
// writers) end with Close (leakcheck).
func TestGoroutinesStop(t *testing.T) {
	leakcheck.Check(t)
	s, err := openIn(t, t.TempDir(), []configs.Room{testRoom(t, "a", nil)}, WithSweepInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	s.Start(context.Background()) // a second Start does nothing
	record(t, s, "a", "", 1)
	// An upload runs ebml-go's writer goroutines: they end with it.
	if _, err := s.Upload("a", "x", "", "", bytes.NewReader(testmedia.WebM(t, testmedia.Opus(t, 1), testmedia.VP8(t, 1), false))); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Begin("a", Clip{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Begin after Close: %v", err)
	}
}

func TestOpenRefusesBadRooms(t *testing.T) {
	bad := testRoom(t, "../escape", nil)
	if _, err := openIn(t, t.TempDir(), []configs.Room{bad}); err == nil {
		t.Error("Open accepted a room named ../escape")
	}
	a := testRoom(t, "a", nil)
	if _, err := openIn(t, t.TempDir(), []configs.Room{a, a}); err == nil {
		t.Error("Open accepted a room twice")
	}
	if _, err := Open(nil, []configs.Room{a}, nil); err == nil {
		t.Error("Open accepted no rooms folder")
	}
	// A clips folder that is a link (here to the room's quarantine) is
	// refused, and what it points to is left alone.
	dir := t.TempDir()
	q := filepath.Join(dir, "rooms", "a", "quarantine")
	if err := os.MkdirAll(q, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(q, "kept.webm"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("quarantine", clipDir(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := openIn(t, dir, []configs.Room{a}); err == nil {
		t.Error("Open accepted a clips folder that is a link")
	}
	if got := names(t, q); !slices.Equal(got, []string{"kept.webm"}) {
		t.Errorf("quarantine now holds %v", got)
	}
}

// TestAddRemoveRoom: a room added to an open store keeps clips as any
// other; new settings apply to the next clip, while a clip begun before
// keeps the limits it began with, and what is over a lowered
// max_clip_count is evicted at once; a room removed refuses calls and
// keeps its clips on disk, which the room finds again when it is added
// back.
func TestAddRemoveRoom(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{testRoom(t, "a", nil)})
	folders, err := roomdir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer folders.Close()
	b := testRoom(t, "b", nil)
	if err := s.AddRoom(folders, b); err != nil {
		t.Fatal(err)
	}
	first := dummy(t, s, "b", "", 4000)
	dummy(t, s, "b", "", 4000)

	p, err := s.Begin("b", Clip{Author: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.File().Write(bytes.Repeat([]byte{'x'}, 4000)); err != nil {
		t.Fatal(err)
	}
	lower := b
	lower.MaxClipBytes, lower.MaxClipCount = 2000, 2
	if err := s.AddRoom(folders, lower); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(time.Second, KindAudio, `audio/webm; codecs="opus"`); err != nil {
		t.Errorf("a clip begun under the old limit: %v", err)
	}
	if _, err := dummyErr(s, "b", "", 4000); !errors.Is(err, ErrTooBig) {
		t.Errorf("a clip begun under the new limit: %v, want ErrTooBig", err)
	}
	if _, n := s.Usage("b"); n != 2 {
		t.Errorf("after max_clip_count lowered to 2 and a clip added: %d clips", n)
	}
	if _, ok := s.Get("b", first.ID); ok {
		t.Error("the oldest clip was not evicted")
	}

	s.RemoveRoom("b")
	if _, err := s.List("b", ""); !errors.Is(err, ErrUnknownRoom) {
		t.Errorf("List of a removed room: %v", err)
	}
	if err := s.AddRoom(folders, lower); err != nil {
		t.Fatal(err)
	}
	if list, err := s.List("b", ""); err != nil || len(list) != 2 {
		t.Errorf("the room added back: %d clips, %v; want its 2", len(list), err)
	}
}

// TestTrigger: a clip's trigger is kept through Begin, Commit and a
// reopen; one this version does not know is dropped at Begin, and on
// disk drops the trigger, not the clip.
func TestTrigger(t *testing.T) {
	dir := t.TempDir()
	rooms := []configs.Room{testRoom(t, "a", nil)}
	s := openStore(t, dir, rooms)
	begin := func(trigger string) Clip {
		t.Helper()
		p, err := s.Begin("a", Clip{Author: "porch", Trigger: trigger})
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.Commit(time.Second, KindVideo, `video/webm; codecs="vp8,opus"`)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	motion, snap, odd := begin(TriggerMotion), begin(TriggerSnapshot), begin("doorbell")
	if motion.Trigger != TriggerMotion || snap.Trigger != TriggerSnapshot || odd.Trigger != "" {
		t.Errorf("triggers %q %q %q", motion.Trigger, snap.Trigger, odd.Trigger)
	}
	if b, _ := json.Marshal(motion); !strings.Contains(string(b), `"trigger":"motion"`) {
		t.Errorf("API JSON: %s", b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A later version's trigger on disk.
	path := filepath.Join(clipDir(dir, "a"), odd.ID+".json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(raw), `"kind"`, `"trigger":"doorbell","kind"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, rooms)
	for _, want := range []Clip{motion, snap, odd} {
		if c, ok := s.Get("a", want.ID); !ok || c.Trigger != want.Trigger {
			t.Errorf("after reopen %s: %+v %v, want trigger %q", want.ID, c, ok, want.Trigger)
		}
	}
}
