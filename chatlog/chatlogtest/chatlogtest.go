// Package chatlogtest checks that a chat log keeps waiting messages as
// package chatlog defines it, for every implementation: chatlog.Store on
// local disk and cluster.ChatLog in Redis run the same checks.
package chatlogtest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"parley/chatlog"
)

// Config is the limits the checks expect the log to have: 3 waiting
// messages per recipient, 4 per room, a day's lifetime, 5 messages of
// history for an hour.
var Config = chatlog.Config{HistoryLength: 5, HistoryAge: time.Hour, OfflineLifetime: 24 * time.Hour, OfflineMaxPerUser: 3, OfflineMaxPerRoom: 4}

// Log is what the checks use of a chat log.
type Log interface {
	Seen(room, name, owner string)
	Leave(room string, e chatlog.Entry) (chatlog.Entry, error)
	Collect(room, name, owner string) ([]chatlog.Entry, error)
}

// Texts lists the texts of es, comma-separated.
func Texts(es []chatlog.Entry) string {
	var b []string
	for _, e := range es {
		b = append(b, e.Text)
	}
	return strings.Join(b, ",")
}

// Offline leaves messages in room "chat" of log, which has Config's
// limits, and collects them from again() (the same log reopened, or
// another node's view of it): a name seen with an owner gets its
// messages for that owner only, once; the limits per recipient and per
// room hold; a message expires after its lifetime. advance moves the
// clock both logs read.
func Offline(t *testing.T, log Log, again func() Log, now func() time.Time, advance func(time.Duration)) {
	t.Helper()
	log.Seen("chat", "Bob", "owner-bob")
	leave := func(to, text string) error {
		_, err := log.Leave("chat", chatlog.Entry{From: chatlog.Peer{ID: "p1", Name: "ann"}, ToName: to, Text: text, TS: now()})
		return err
	}
	for i := range 3 {
		if err := leave("bob", fmt.Sprint("b", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := leave("BOB", "b3"); !errors.Is(err, chatlog.ErrMailboxFull) {
		t.Errorf("fourth for bob: %v", err)
	}
	if err := leave("cyd", "c0"); err != nil {
		t.Fatal(err)
	}
	if err := leave("dan", "d0"); !errors.Is(err, chatlog.ErrMailboxFull) {
		t.Errorf("fifth in the room: %v", err)
	}
	other := again()
	// Someone else under bob's name gets nothing; bob gets his, once.
	if got, _ := other.Collect("chat", "bob", "owner-impostor"); len(got) != 0 {
		t.Errorf("impostor got %s", Texts(got))
	}
	got, err := other.Collect("chat", "bob", "owner-bob")
	if err != nil || Texts(got) != "b0,b1,b2" {
		t.Fatalf("bob got %s, %v", Texts(got), err)
	}
	if got, _ := other.Collect("chat", "bob", "owner-bob"); len(got) != 0 {
		t.Errorf("delivered twice: %s", Texts(got))
	}
	// cyd was never seen: whoever comes as cyd gets it, but not after it
	// expired.
	advance(25 * time.Hour)
	if got, _ := other.Collect("chat", "cyd", "x"); len(got) != 0 {
		t.Errorf("expired message delivered: %s", Texts(got))
	}
}
