package sfu

import (
	"log/slog"
	"strings"
	"testing"
)

// TestSubscribeOfferOnClosingConnection: a change of tracks that races the
// subscribe connection's closing is logged, but not as an error.
func TestSubscribeOfferOnClosingConnection(t *testing.T) {
	var out lockedBuffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := NewEngine(Config{ListenIP: "127.0.0.1", UDPPortMin: 44000, UDPPortMax: 44999}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	room := NewRoom(e, RoomOptions{Name: "r"}, log)
	defer room.Close()
	p, err := room.Join("a", "ann", nopSignaler{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Leave()
	pc, err := e.newPeerConnection(false)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.sub = pc
	p.negotiateLocked()
	p.sub = nil
	p.mu.Unlock()
	logged := out.String()
	if strings.Contains(logged, "level=ERROR") {
		t.Errorf("an offer on a closed connection is logged as an error:\n%s", logged)
	}
	if !strings.Contains(logged, "the connection is closing") {
		t.Errorf("the offer that was not made is not logged:\n%s", logged)
	}
}
