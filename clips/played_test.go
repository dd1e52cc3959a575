package clips

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/configs"
)

// playedDir is the played folder of a room.
func playedDir(dir, room string) string { return filepath.Join(dir, "rooms", room, "played") }

// playedOf returns, for each clip id, whether owner sees it played in the
// room's catalog.
func playedOf(t *testing.T, s *Store, room, owner string) map[string]bool {
	t.Helper()
	list, err := s.List(room, owner)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, c := range list {
		out[c.ID] = c.Played
	}
	return out
}

// readPlayedFile reads the played file of owner in dir's room r.
func readPlayedFile(t *testing.T, dir, owner string) (playedFile, bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(playedDir(dir, "r"), owner+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return playedFile{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var pf playedFile
	if err := json.Unmarshal(data, &pf); err != nil {
		t.Fatalf("played file of %s: %v", owner[:8], err)
	}
	return pf, true
}

// TestMarkPlayed: a clip played by someone is played for them alone, on
// every view of theirs; one's own clips are always played; marking
// again, or one's own clip, changes nothing; unknown clips and others'
// drafts do not exist; the owner's other sessions hear of it
// (EventPlayed).
func TestMarkPlayed(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{testRoom(t, "r", nil), testRoom(t, "forum", manual)})
	var evs events
	s.SetNotify(evs.add)
	ann, bob, cat := OwnerOf("ann's key, 22 chars or more"), OwnerOf("bob's key, 22 chars or more"), OwnerOf("cat's key, 22 chars or more")
	a := dummy(t, s, "r", ann, 10)
	b := dummy(t, s, "r", cat, 10)

	if err := s.MarkPlayed("r", a.ID, bob); err != nil {
		t.Fatalf("MarkPlayed: %v", err)
	}
	for _, c := range []struct {
		who    string
		owner  string
		played map[string]bool
	}{
		{"bob", bob, map[string]bool{a.ID: true, b.ID: false}},
		{"ann", ann, map[string]bool{a.ID: true, b.ID: false}}, // her own
		{"cat", cat, map[string]bool{a.ID: false, b.ID: true}}, // his own
		{"a reader", "", map[string]bool{a.ID: false, b.ID: false}},
	} {
		if got := playedOf(t, s, "r", c.owner); !equalMaps(got, c.played) {
			t.Errorf("%s sees played %v, want %v", c.who, got, c.played)
		}
	}
	got := evs.list()
	if len(got) != 3 || got[2].Type != EventPlayed || got[2].Clip.ID != a.ID || !got[2].Played[bob] || len(got[2].Played) != 1 {
		t.Fatalf("events %v", evs.summary())
	}
	if v := got[2].ForViewer(bob); !v.Played || v.Mine || v.DraftToken != "" {
		t.Errorf("bob's view of the event: %+v", v)
	}
	if v := got[2].ForViewer(cat); v.Played {
		t.Errorf("cat's view of bob's event: %+v", v)
	}

	// Again, or one's own: nothing new.
	for _, m := range []struct{ id, owner string }{{a.ID, bob}, {a.ID, ann}} {
		if err := s.MarkPlayed("r", m.id, m.owner); err != nil {
			t.Errorf("MarkPlayed(%s): %v", m.id, err)
		}
	}
	if n := len(evs.list()); n != 3 {
		t.Errorf("marking again or one's own made events: %v", evs.summary())
	}
	if _, ok := readPlayedFile(t, dir, ann); ok {
		t.Error("marking one's own clip wrote a file")
	}

	// Unknown, malformed, someone else's draft: no such clip. One's own
	// draft: nothing to do.
	draft := dummy(t, s, "forum", ann, 10)
	for _, m := range []struct{ room, id, owner string }{
		{"r", strings.Repeat("f", 29), bob}, {"r", "../../x", bob}, {"forum", draft.ID, bob},
	} {
		if err := s.MarkPlayed(m.room, m.id, m.owner); !errors.Is(err, ErrNotFound) {
			t.Errorf("MarkPlayed(%s, %q) = %v, want ErrNotFound", m.room, m.id, err)
		}
	}
	if err := s.MarkPlayed("forum", draft.ID, ann); err != nil {
		t.Errorf("marking one's own draft: %v", err)
	}
	if err := s.MarkPlayed("nowhere", a.ID, bob); !errors.Is(err, ErrUnknownRoom) {
		t.Errorf("unknown room: %v", err)
	}
	if err := s.MarkPlayed("r", a.ID, "bob's raw key"); err == nil {
		t.Error("a raw key was taken as an owner")
	}

	// A clip published after a draft is shown to its listeners as played.
	if _, err := s.Publish("forum", draft.ID, ann); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPlayed("forum", draft.ID, bob); err != nil {
		t.Fatal(err)
	}
	if got := playedOf(t, s, "forum", bob); !got[draft.ID] {
		t.Errorf("bob sees %v", got)
	}
}

func equalMaps(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestPlayedSurvivesReopen: what an owner played is on disk once marked,
// under OwnerOf the key and never the key, and the store opened again
// shows it.
func TestPlayedSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	rooms := []configs.Room{testRoom(t, "r", nil)}
	s, err := openIn(t, dir, rooms)
	if err != nil {
		t.Fatal(err)
	}
	const bobKey = "bob-secret-key-0123456789"
	bob := OwnerOf(bobKey)
	a := dummy(t, s, "r", OwnerOf("ann's key, 22 chars or more"), 10)
	b := dummy(t, s, "r", OwnerOf("ann's key, 22 chars or more"), 10)
	if err := s.MarkPlayed("r", a.ID, bob); err != nil {
		t.Fatal(err)
	}
	// Written before MarkPlayed returned, not only at Close.
	if pf, ok := readPlayedFile(t, dir, bob); !ok || pf.Owner != bob || !slices.Equal(pf.Clips, []string{a.ID}) {
		t.Errorf("bob's file: %+v, %v", pf, ok)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tree(t, dir), bobKey) {
		t.Error("a raw owner key is in a file name")
	}
	s2 := openStore(t, dir, rooms)
	if got := playedOf(t, s2, "r", bob); !got[a.ID] || got[b.ID] {
		t.Errorf("after reopening bob sees %v", got)
	}
	if ids := s2.IDs("r"); len(ids) != 2 {
		t.Errorf("the room has %v", ids)
	}
}

// TestPlayedPruned: a clip deleted, expired or evicted leaves everyone's
// played clips, in memory at once and on disk by the next save; a clip
// gone while the server was down is dropped as the files are read.
func TestPlayedPruned(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	rooms := []configs.Room{testRoom(t, "r", func(r *configs.Room) { r.MaxClipCount = 3 })}
	s, err := openIn(t, dir, rooms, WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	ann := OwnerOf("ann's key, 22 chars or more")
	bob, cat := OwnerOf("bob's key, 22 chars or more"), OwnerOf("cat's key, 22 chars or more")
	a := dummy(t, s, "r", ann, 10)
	clk.Add(time.Minute)
	b := dummy(t, s, "r", ann, 10)
	c := dummy(t, s, "r", ann, 10)
	for _, o := range []string{bob, cat} {
		for _, id := range []string{a.ID, b.ID, c.ID} {
			if err := s.MarkPlayed("r", id, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Deleted.
	if err := s.Delete("r", b.ID, ann, false); err != nil {
		t.Fatal(err)
	}
	// Evicted: the room keeps three clips; a is the oldest.
	d := dummy(t, s, "r", ann, 10)
	dummy(t, s, "r", ann, 10)
	if got := playedOf(t, s, "r", bob); len(got) != 3 || !got[c.ID] || got[d.ID] {
		t.Errorf("bob sees %v, want c played and the two others not", got)
	}
	s.sweep()
	for _, o := range []string{bob, cat} {
		if pf, _ := readPlayedFile(t, dir, o); !slices.Equal(pf.Clips, []string{c.ID}) {
			t.Errorf("after a sweep the file of %s holds %v, want only %s", o[:8], pf.Clips, c.ID)
		}
	}
	// Expired: every clip, at the next sweep.
	clk.Add(rooms[0].ClipLifetime.D())
	s.sweep()
	if pf, _ := readPlayedFile(t, dir, bob); len(pf.Clips) != 0 {
		t.Errorf("after expiry bob's file holds %v", pf.Clips)
	}
	e := dummy(t, s, "r", ann, 10)
	f := dummy(t, s, "r", ann, 10)
	for _, id := range []string{e.ID, f.ID} {
		if err := s.MarkPlayed("r", id, bob); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Gone while the server was down.
	for _, ext := range []string{".webm", ".json"} {
		if err := os.Remove(filepath.Join(clipDir(dir, "r"), e.ID+ext)); err != nil {
			t.Fatal(err)
		}
	}
	s2 := openStore(t, dir, rooms, WithClock(clk.Now))
	if got := playedOf(t, s2, "r", bob); len(got) != 1 || !got[f.ID] {
		t.Errorf("after reopening bob sees %v", got)
	}
	if pf, _ := readPlayedFile(t, dir, bob); !slices.Equal(pf.Clips, []string{f.ID}) {
		t.Errorf("after reopening bob's file holds %v, want only %s", pf.Clips, f.ID)
	}
}

// TestPlayedOwnerCap: a room remembers at most so many owners; a new one
// makes the least recently active one forgotten, its file removed, and a
// store opened with a lower cap keeps the most recently active.
func TestPlayedOwnerCap(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	rooms := []configs.Room{testRoom(t, "r", nil)}
	s, err := openIn(t, dir, rooms, WithClock(clk.Now), WithPlayedOwners(2))
	if err != nil {
		t.Fatal(err)
	}
	a := dummy(t, s, "r", OwnerOf("ann's key, 22 chars or more"), 10)
	b := dummy(t, s, "r", OwnerOf("ann's key, 22 chars or more"), 10)
	o1, o2, o3 := OwnerOf("first key, 22 chars or more"), OwnerOf("second key, 22 chars or more"), OwnerOf("third key, 22 chars or more")
	mark := func(id, owner string) {
		t.Helper()
		clk.Add(time.Second)
		if err := s.MarkPlayed("r", id, owner); err != nil {
			t.Fatal(err)
		}
	}
	mark(a.ID, o1)
	mark(a.ID, o2)
	mark(b.ID, o1) // o1 is the more recently active
	mark(a.ID, o3) // o2 goes
	for o, want := range map[string]bool{o1: true, o2: false, o3: true} {
		if got := playedOf(t, s, "r", o)[a.ID]; got != want {
			t.Errorf("owner %s: played %v, want %v", o[:8], got, want)
		}
		if _, ok := readPlayedFile(t, dir, o); ok != want {
			t.Errorf("owner %s: file kept %v, want %v", o[:8], ok, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, rooms, WithClock(clk.Now), WithPlayedOwners(1))
	if !playedOf(t, s2, "r", o3)[a.ID] || playedOf(t, s2, "r", o1)[a.ID] {
		t.Error("with a cap of one, the most recently active owner should be the one kept")
	}
	if got := names(t, playedDir(dir, "r")); !slices.Equal(got, []string{o3 + ".json"}) {
		t.Errorf("played folder: %v", got)
	}
}

// TestPlayedCorrupt: a played file that makes no sense is set aside in
// quarantine with its owner's clips shown as unplayed; good files,
// clips, and the room are untouched; a played folder that is a file is
// set aside too.
func TestPlayedCorrupt(t *testing.T) {
	dir := t.TempDir()
	rooms := []configs.Room{testRoom(t, "r", nil)}
	s, err := openIn(t, dir, rooms)
	if err != nil {
		t.Fatal(err)
	}
	a := dummy(t, s, "r", OwnerOf("ann's key, 22 chars or more"), 10)
	owners := make([]string, 6)
	for i := range owners {
		owners[i] = OwnerOf(strings.Repeat(string(rune('a'+i)), 30))
		if err := s.MarkPlayed("r", a.ID, owners[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	pd := playedDir(dir, "r")
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(pd, name), []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write(owners[1]+".json", `{"owner":`)                                              // cut short
	write(owners[2]+".json", `{"owner":"`+owners[3]+`","clips":["`+a.ID+`"]}`)         // another's
	write(owners[3]+".json", `{"owner":"`+owners[3]+`","clips":["../../etc/passwd"]}`) // a bad id
	write(owners[4]+".json", `{"owner":"`+owners[4]+`","clips":["`+a.ID+`"],"pad":"`+strings.Repeat("x", 1<<20)+`"}`)
	write("notes.txt", "hello")
	write(owners[5]+".json.tmp", "half")

	s2 := openStore(t, dir, rooms)
	if ids := s2.IDs("r"); !slices.Equal(ids, []string{a.ID}) {
		t.Errorf("the room has %v", ids)
	}
	for i, o := range owners {
		want := i == 0 || i == 5
		if got := playedOf(t, s2, "r", o)[a.ID]; got != want {
			t.Errorf("owner %d: played %v, want %v", i, got, want)
		}
	}
	kept := []string{owners[0] + ".json", owners[5] + ".json"}
	slices.Sort(kept)
	if got := names(t, pd); !slices.Equal(got, kept) {
		t.Errorf("played folder: %v", got)
	}
	q := names(t, filepath.Join(dir, "rooms", "r", "quarantine"))
	for _, want := range []string{"played-notes.txt", "played-" + owners[1] + ".json", "played-" + owners[4] + ".json"} {
		if !slices.Contains(q, want) {
			t.Errorf("quarantine has %v, not %s", q, want)
		}
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	// A file where the folder belongs.
	if err := os.RemoveAll(pd); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pd, []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	s3 := openStore(t, dir, rooms)
	if err := s3.MarkPlayed("r", a.ID, owners[0]); err != nil {
		t.Fatal(err)
	}
	if _, ok := readPlayedFile(t, dir, owners[0]); !ok {
		t.Error("no played file after the folder was remade")
	}
	if !slices.Contains(names(t, filepath.Join(dir, "rooms", "r", "quarantine")), "played") {
		t.Error("the file in the folder's place was not set aside")
	}
}

// TestHeardLive: a clip committed with HeardLive is played, from its
// clip-added on, for those who heard it, not for its owner's sake nor
// for names that are not owners; the marks survive Close. A draft is
// played for nobody.
func TestHeardLive(t *testing.T) {
	dir := t.TempDir()
	rooms := []configs.Room{testRoom(t, "r", nil), testRoom(t, "forum", manual)}
	s, err := openIn(t, dir, rooms)
	if err != nil {
		t.Fatal(err)
	}
	var evs events
	s.SetNotify(evs.add)
	ann, bob, cat := OwnerOf("ann's key, 22 chars or more"), OwnerOf("bob's key, 22 chars or more"), OwnerOf("cat's key, 22 chars or more")
	commit := func(room string) Clip {
		t.Helper()
		p, err := s.Begin(room, Clip{Author: "ann", Owner: ann})
		if err != nil {
			t.Fatal(err)
		}
		p.HeardLive(func() []string { return []string{ann, bob, "", "not an owner"} })
		if _, err := p.File().Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		c, err := p.Commit(time.Second, KindAudio, `audio/webm; codecs="opus"`)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := commit("r")
	ev := evs.list()[0]
	if ev.Type != EventAdded || len(ev.Played) != 1 || !ev.Played[bob] {
		t.Errorf("clip-added: %+v", ev)
	}
	if !ev.ForViewer(bob).Played || ev.ForViewer(cat).Played || !ev.ForViewer(ann).Played {
		t.Error("the event's views are wrong")
	}
	draft := commit("forum")
	if ev := evs.list()[1]; ev.Played != nil {
		t.Errorf("a draft's clip-added has played %v", ev.Played)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, rooms)
	if !playedOf(t, s2, "r", bob)[c.ID] || playedOf(t, s2, "r", cat)[c.ID] {
		t.Error("after reopening, the live listener's mark is lost or another's made")
	}
	if _, err := s2.Publish("forum", draft.ID, ann); err != nil {
		t.Fatal(err)
	}
	if playedOf(t, s2, "forum", bob)[draft.ID] {
		t.Error("a draft heard live is played")
	}
}

// TestPlayedOverHTTP: the catalog tells each caller, by its owner key,
// which clips it has played; a caller without one sees none played.
func TestPlayedOverHTTP(t *testing.T) {
	s := openStore(t, t.TempDir(), []configs.Room{testRoom(t, "r", nil)})
	srv := server(t, s)
	const annKey, bobKey = "ann-key-0123456789abcdef", "bob-key-0123456789abcdef"
	a := dummy(t, s, "r", OwnerOf(annKey), 10)
	b := dummy(t, s, "r", OwnerOf(annKey), 10)
	if err := s.MarkPlayed("r", a.ID, OwnerOf(bobKey)); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]map[string]bool{
		bobKey:   {a.ID: true, b.ID: false},
		annKey:   {a.ID: true, b.ID: true},
		"reader": {a.ID: false, b.ID: false},
		"":       {a.ID: false, b.ID: false},
	} {
		resp := do(t, "GET", srv.URL+"/api/rooms/r/clips", key, nil, "")
		var body struct {
			Clips []map[string]any `json:"clips"`
		}
		if err := json.Unmarshal(readBody(t, resp), &body); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, c := range body.Clips {
			p, ok := c["played"].(bool)
			if !ok {
				t.Errorf("caller %q: clip %v has no played", key, c["id"])
			}
			got[c["id"].(string)] = p
		}
		if !equalMaps(got, want) {
			t.Errorf("caller %q sees played %v, want %v", key, got, want)
		}
	}
}

// TestSavePlayed: the marks of those who heard a clip live are written
// at the next sweep, or at once by SavePlayed.
func TestSavePlayed(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{testRoom(t, "r", nil)})
	ann, bob := OwnerOf("ann's key, 22 chars or more"), OwnerOf("bob's key, 22 chars or more")
	p, err := s.Begin("r", Clip{Author: "ann", Owner: ann})
	if err != nil {
		t.Fatal(err)
	}
	p.HeardLive(func() []string { return []string{bob} })
	if _, err := p.File().Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(time.Second, KindAudio, `audio/webm; codecs="opus"`); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "rooms", "r", "played", bob+".json")
	if _, err := os.Stat(file); err == nil {
		t.Fatal("the mark was written before a sweep or SavePlayed; the test shows nothing")
	}
	if err := s.SavePlayed("r"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("after SavePlayed: %v", err)
	}
	if err := s.SavePlayed("nope"); !errors.Is(err, ErrUnknownRoom) {
		t.Errorf("SavePlayed of an unknown room: %v", err)
	}
}
