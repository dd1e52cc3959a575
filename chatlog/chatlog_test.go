package chatlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/roomdir"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testCfg = Config{HistoryLength: 5, HistoryAge: time.Hour, OfflineLifetime: 24 * time.Hour, OfflineMaxPerUser: 3, OfflineMaxPerRoom: 4}

// openIn opens the chat log of rooms in the data folder dir, as the
// server does: the rooms' folders from roomdir.
func openIn(t *testing.T, dir string, rooms []string, opts ...Option) (*Store, error) {
	t.Helper()
	folders, err := roomdir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer folders.Close()
	return Open(folders, rooms, testCfg, nil, opts...)
}

func open(t *testing.T, dir string, clk *clock) *Store {
	t.Helper()
	s, err := openIn(t, dir, []string{"chat"}, WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestOpenRefuses: a name that is no room name, a room listed twice and
// a chat folder that is a link are refused, and nothing is made for them.
func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, rooms := range [][]string{{"../x"}, {""}, {"a/b"}, {"chat", "chat"}} {
		if s, err := openIn(t, dir, rooms); err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) accepted", rooms)
		}
	}
	if _, err := Open(nil, []string{"chat"}, testCfg, nil); err == nil {
		t.Error("Open accepted no rooms folder")
	}
	if err := os.MkdirAll(filepath.Join(dir, "rooms", "linked"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "chat", "chat"), filepath.Join(dir, "rooms", "linked", "chat")); err != nil {
		t.Fatal(err)
	}
	if s, err := openIn(t, dir, []string{"linked"}); err == nil {
		_ = s.Close()
		t.Error("Open accepted a chat folder that is a link")
	}
	des, _ := os.ReadDir(filepath.Join(dir, "rooms"))
	var made []string
	for _, de := range des {
		made = append(made, de.Name())
	}
	if strings.Join(made, ",") != "chat,linked" {
		t.Errorf("rooms folder holds %v", made)
	}
}

func texts(es []Entry) string {
	var b []string
	for _, e := range es {
		b = append(b, e.Text)
	}
	return strings.Join(b, ",")
}

func TestHistoryLimitsAndRestart(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	s := open(t, dir, clk)
	for i := range 30 {
		if err := s.Append("chat", Entry{From: Peer{ID: "p1", Name: "ann"}, Text: fmt.Sprint(i), TS: clk.Now()}); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
	}
	if got := texts(s.History("chat")); got != "25,26,27,28,29" {
		t.Fatalf("history %s", got)
	}
	// The file is compacted: it never holds more than 4× the length.
	data, _ := os.ReadFile(filepath.Join(dir, "rooms", "chat", "chat", "history.jsonl"))
	if n := strings.Count(string(data), "\n"); n > compactFactor*testCfg.HistoryLength {
		t.Errorf("history file has %d lines", n)
	}
	_ = s.Close()

	// A restart keeps it; a torn last line (a crash mid-write) is skipped.
	f, _ := os.OpenFile(filepath.Join(dir, "rooms", "chat", "chat", "history.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(`{"from":{"id":"p1","name":"ann"},"text":"tor`)
	_ = f.Close()
	s2 := open(t, dir, clk)
	if got := texts(s2.History("chat")); got != "25,26,27,28,29" {
		t.Fatalf("after restart: %s", got)
	}
	// Age: an hour later it is all gone.
	clk.Add(time.Hour)
	if got := s2.History("chat"); len(got) != 0 {
		t.Errorf("old history kept: %s", texts(got))
	}
	if err := s2.Append("nope", Entry{Text: "x", TS: clk.Now()}); err != ErrNoRoom {
		t.Errorf("unknown room: %v", err)
	}
}

// TestHistoryLastLineUnended: a last line that is whole but lacks its
// newline (a copy or a crash that took the line but not its end) is kept,
// and the next message does not run into it: both are there after a
// restart.
func TestHistoryLastLineUnended(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	if err := os.MkdirAll(filepath.Join(dir, "rooms", "chat", "chat"), 0o750); err != nil {
		t.Fatal(err)
	}
	line := `{"from":{"id":"p1","name":"ann"},"text":"one","ts":"2026-01-01T12:00:00Z"}`
	if err := os.WriteFile(filepath.Join(dir, "rooms", "chat", "chat", "history.jsonl"), []byte(line), 0o640); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, clk)
	if got := texts(s.History("chat")); got != "one" {
		t.Fatalf("history %q, want one", got)
	}
	if err := s.Append("chat", Entry{From: Peer{ID: "p1", Name: "ann"}, Text: "two", TS: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s2 := open(t, dir, clk)
	if got := texts(s2.History("chat")); got != "one,two" {
		t.Errorf("after a restart: history %q, want one,two", got)
	}
}

func TestOfflineFileDamaged(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Now()}
	if err := os.MkdirAll(filepath.Join(dir, "rooms", "chat", "chat"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rooms", "chat", "chat", "offline.json"), []byte("{not json"), 0o640); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, clk)
	if got, err := s.Collect("chat", "bob", ""); err != nil || len(got) != 0 {
		t.Fatalf("collect: %v %v", got, err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "rooms", "chat", "chat", "offline.json.bad-*"))
	if len(matches) != 1 {
		t.Errorf("the damaged file was not kept aside: %v", matches)
	}
}

// TestAddRemoveRoom: a room added to an open log keeps history; removed,
// it refuses calls and its files stay, for the room added back to find
// its history again.
func TestAddRemoveRoom(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}
	s := open(t, dir, clk)
	folders, err := roomdir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer folders.Close()
	if err := s.AddRoom(folders, "extra"); err != nil {
		t.Fatal(err)
	}
	if err := s.Append("extra", Entry{From: Peer{Name: "ann"}, Text: "hello", TS: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRoom("extra"); err != nil {
		t.Fatal(err)
	}
	if err := s.Append("extra", Entry{From: Peer{Name: "ann"}, Text: "again", TS: clk.Now()}); !errors.Is(err, ErrNoRoom) {
		t.Errorf("Append to a removed room: %v, want ErrNoRoom", err)
	}
	if err := s.AddRoom(folders, "extra"); err != nil {
		t.Fatal(err)
	}
	if got := texts(s.History("extra")); got != "hello" {
		t.Errorf("the room added back: history %q, want hello", got)
	}
}
