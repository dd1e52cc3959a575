package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/chatlog"
	"parley/chatlog/chatlogtest"
	"parley/internal/redistest"
)

var chatCfg = chatlogtest.Config

// chatClock is a time source a test moves.
type chatClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *chatClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *chatClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// chatLogs starts two nodes on one Redis and returns their chat logs,
// on clk, and the Redis URL.
func chatLogs(t *testing.T, clk *chatClock) (a, b *ChatLog, url string) {
	t.Helper()
	url = redistest.Start(t)
	a = startNode(t, url, "a", nil, nil).ChatLog(chatCfg)
	b = startNode(t, url, "b", nil, nil).ChatLog(chatCfg)
	a.now, b.now = clk.now, clk.now
	return a, b, url
}

// TestChatHistory: the history one node writes is the one another node
// reads, within the length and age limits; what is not a message in the
// list is skipped, and a key of another type is an error, not a crash.
func TestChatHistory(t *testing.T) {
	clk := &chatClock{t: time.Now()}
	a, b, url := chatLogs(t, clk)
	for i := range 12 {
		if err := a.Append("chat", chatlog.Entry{From: chatlog.Peer{ID: "p1", Name: "ann"}, Text: fmt.Sprint(i), TS: clk.now()}); err != nil {
			t.Fatal(err)
		}
		clk.add(time.Second)
	}
	if got := chatlogtest.Texts(b.History("chat")); got != "7,8,9,10,11" {
		t.Fatalf("node b reads %s", got)
	}
	if got := b.History("other"); len(got) != 0 {
		t.Errorf("another room has %s", chatlogtest.Texts(got))
	}
	rdb := redisClient(t, url)
	ctx := context.Background()
	key := "t:chat:chat:history"
	if n, _ := rdb.LLen(ctx, key).Result(); n != int64(chatCfg.HistoryLength) {
		t.Errorf("the list holds %d entries", n)
	}
	if ttl, _ := rdb.PTTL(ctx, key).Result(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("the list expires in %v, want within history_age", ttl)
	}
	// Garbage among the last entries: skipped, the rest of the last
	// history_length given.
	rdb.RPush(ctx, key, "{not json", `{"text":"no time"}`, strings.Repeat("x", maxChatEntry+1), `{"from":{"id":"p2","name":"bob"},"to_name":"x","text":"a waiting one","ts":"2026-01-01T00:00:00Z"}`)
	if got := chatlogtest.Texts(b.History("chat")); got != "11" {
		t.Errorf("with garbage: %s", got)
	}
	// Age: an hour later nothing is given.
	clk.add(time.Hour)
	if got := b.History("chat"); len(got) != 0 {
		t.Errorf("old history given: %s", chatlogtest.Texts(got))
	}
	// A key of another type: the append fails with a clear error, the
	// history is empty.
	rdb.Del(ctx, key)
	rdb.Set(ctx, key, "a string", 0)
	if err := a.Append("chat", chatlog.Entry{Text: "x", TS: clk.now()}); err == nil || !strings.Contains(err.Error(), "chat history of chat") {
		t.Errorf("append over a string key: %v", err)
	}
	if got := b.History("chat"); len(got) != 0 {
		t.Errorf("history of a string key: %s", chatlogtest.Texts(got))
	}
}

// TestChatOffline: messages left on one node are collected on another,
// as chatlogtest checks them; what is not a message in the list is
// dropped at the next change.
func TestChatOffline(t *testing.T) {
	clk := &chatClock{t: time.Now()}
	a, b, url := chatLogs(t, clk)
	chatlogtest.Offline(t, a, func() chatlogtest.Log { return b }, clk.now, clk.add)
	leave := func(to, text string) error {
		_, err := a.Leave("chat", chatlog.Entry{From: chatlog.Peer{ID: "p1", Name: "ann"}, ToName: to, Text: text, TS: clk.now()})
		return err
	}

	// Garbage in the list is dropped at the next change; the rest stays.
	rdb := redisClient(t, url)
	ctx := context.Background()
	if err := leave("eve", "e0"); err != nil {
		t.Fatal(err)
	}
	rdb.RPush(ctx, "t:chat:chat:offline", "{not json", `{"text":"to nobody","ts":"2026-01-01T00:00:00Z"}`)
	if err := leave("eve", "e1"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Collect("chat", "eve", ""); err != nil || chatlogtest.Texts(got) != "e0,e1" {
		t.Errorf("eve got %s, %v", chatlogtest.Texts(got), err)
	}
	if n, _ := rdb.LLen(ctx, "t:chat:chat:offline").Result(); n != 0 {
		t.Errorf("%d entries left", n)
	}
}

// TestChatOfflineConcurrent: two nodes leaving messages at once never
// keep more than the room's limit, nor lose one they accepted.
func TestChatOfflineConcurrent(t *testing.T) {
	clk := &chatClock{t: time.Now()}
	a, b, _ := chatLogs(t, clk)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() {
			_, err := c.Leave("chat", chatlog.Entry{From: chatlog.Peer{ID: "p", Name: "ann"}, ToName: fmt.Sprint("u", i), Text: fmt.Sprint(i), TS: clk.now()})
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, chatlog.ErrMailboxFull):
				t.Errorf("leave %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != int32(chatCfg.OfflineMaxPerRoom) {
		t.Errorf("%d messages accepted, want %d", ok.Load(), chatCfg.OfflineMaxPerRoom)
	}
	kept := 0
	for i := range 16 {
		got, err := a.Collect("chat", fmt.Sprint("u", i), "")
		if err != nil {
			t.Fatal(err)
		}
		kept += len(got)
	}
	if kept != int(ok.Load()) {
		t.Errorf("%d messages kept of %d accepted", kept, ok.Load())
	}
}
