package chatlog_test

import (
	"sync"
	"testing"
	"time"

	"parley/chatlog"
	"parley/chatlog/chatlogtest"
	"parley/internal/roomdir"
)

// TestOffline: waiting messages, as chatlogtest checks them, across a
// restart.
func TestOffline(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	advance := func(d time.Duration) { mu.Lock(); at = at.Add(d); mu.Unlock() }
	open := func() *chatlog.Store {
		folders, err := roomdir.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer folders.Close()
		s, err := chatlog.Open(folders, []string{"chat"}, chatlogtest.Config, nil, chatlog.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	s := open()
	chatlogtest.Offline(t, s, func() chatlogtest.Log {
		_ = s.Close()
		return open()
	}, now, advance)
}
