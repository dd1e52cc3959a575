package sfu

import (
	"errors"
	"testing"

	"github.com/pion/webrtc/v4"
)

// TestParticipantRefusals: what a participant refuses, before it has
// connections and once it has left, and what a room refuses.
func TestParticipantRefusals(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Name: "hall", Live: true})
	if room.Name() != "hall" {
		t.Errorf("room name %q", room.Name())
	}
	p, err := room.Join("a", "ann", nopSignaler{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := room.Join("a", "another ann", nopSignaler{}); err == nil {
		t.Error("a second participant with the same id joined")
	}
	if n := room.Participants(); n != 1 {
		t.Errorf("%d participants, want 1", n)
	}
	if p.Publishing() || len(p.UpTracks()) != 0 {
		t.Error("publishing before any offer")
	}
	if err := p.HandleAnswer("v=0\r\n"); !errors.Is(err, ErrNoOffer) {
		t.Errorf("an answer with no offer pending: %v, want ErrNoOffer", err)
	}
	cand := webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}
	if err := p.AddCandidate("data", cand); err == nil {
		t.Error("a candidate for an unknown connection was taken")
	}
	for _, pc := range []string{PCPublish, PCSubscribe} {
		if err := p.AddCandidate(pc, cand); err == nil {
			t.Errorf("a %s candidate before the connection was negotiated was taken", pc)
		}
	}
	if _, err := p.HandleOffer("not an offer"); err == nil {
		t.Error("a publish offer that does not parse was answered")
	}

	p.Leave()
	p.Leave()
	if n := room.Participants(); n != 0 {
		t.Errorf("%d participants once the only one left", n)
	}
	if _, err := p.HandleOffer("v=0\r\n"); !errors.Is(err, ErrLeft) {
		t.Errorf("an offer after Leave: %v, want ErrLeft", err)
	}
	if err := p.HandleAnswer("v=0\r\n"); !errors.Is(err, ErrLeft) {
		t.Errorf("an answer after Leave: %v, want ErrLeft", err)
	}
	if err := p.AddCandidate(PCPublish, cand); !errors.Is(err, ErrLeft) {
		t.Errorf("a candidate after Leave: %v, want ErrLeft", err)
	}
	if _, err := room.Join("a", "ann", nopSignaler{}); err != nil {
		t.Errorf("the id of a participant who left is refused: %v", err)
	}
	room.Close()
	if _, err := room.Join("b", "bob", nopSignaler{}); !errors.Is(err, ErrRoomClosed) {
		t.Errorf("Join after Close: %v, want ErrRoomClosed", err)
	}
}

// TestTrickledCandidates: a candidate trickled after the offer is taken
// by the negotiated connection; one the rule refuses is dropped without
// an error.
func TestTrickledCandidates(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true})
	a := join(t, room, "a")
	a.publish(audio)
	mid := "0"
	for _, c := range []string{
		"candidate:9 1 udp 2130706431 127.0.0.1 9 typ host",
		"candidate:10 1 udp 2130706431 169.254.169.254 80 typ host",
	} {
		if err := a.p.AddCandidate(PCPublish, webrtc.ICECandidateInit{Candidate: c, SDPMid: &mid}); err != nil {
			t.Errorf("AddCandidate(%s): %v", c, err)
		}
	}
	if err := a.p.AddCandidate(PCPublish, webrtc.ICECandidateInit{Candidate: "candidate:garbage", SDPMid: &mid}); err == nil {
		t.Error("a candidate that does not parse was taken")
	}
}
