package signaling

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"parley/configs"
)

// roomEvents records what OnRoomEvent is told.
type roomEvents struct {
	mu  sync.Mutex
	evs []RoomEvent
}

func (r *roomEvents) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.evs {
		s := ev.Type + " " + ev.Room + fmt.Sprintf(" %d", ev.Participants)
		if ev.Participant != nil {
			s += " " + ev.Participant.Name
		}
		if c := ev.Call; c != nil {
			s += fmt.Sprintf(" %v %s answered=%v %gs", c.Parties, c.Reason, c.Answered, c.Seconds)
		}
		out = append(out, s)
	}
	r.evs = nil
	return out
}

// TestRoomEvents: a room starts with its first member and finishes with
// its last; joins, leaves and the end of a call (with its parties, its
// reason and how long it lasted) are told in the order they happened.
func TestRoomEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec roomEvents
		h := newHub(t, func(c *Config, _ []configs.Room) {
			c.OnRoomEvent = func(ev RoomEvent) {
				rec.mu.Lock()
				rec.evs = append(rec.evs, ev)
				rec.mu.Unlock()
			}
		})
		ann, bob := newClient(t, h), newClient(t, h)
		ann.do(map[string]string{"type": "join", "room": "chat", "name": "ann"})
		bob.do(map[string]string{"type": "join", "room": "chat", "name": "bob"})
		ann.got()
		bob.got()
		ann.do(map[string]any{"type": "call", "to": bob.s.id})
		id, _ := ann.got()[0]["call"].(string)
		bob.do(map[string]string{"type": "call-accept", "call": id})
		time.Sleep(90 * time.Second)
		ann.do(map[string]string{"type": "hangup", "call": id})
		ann.do(map[string]any{"type": "call", "to": bob.s.id})
		bob.do(map[string]string{"type": "call-decline", "call": id + "x"})
		bob.s.leave() // the ringing call ends: bob left
		ann.s.leave()
		want := []string{
			"room.started chat 1 ann",
			"participant.joined chat 1 ann",
			"participant.joined chat 2 bob",
			"call.ended chat 2 [ann bob] hangup answered=true 90s",
			"call.ended chat 1 [ann bob] left answered=false 0s",
			"participant.left chat 1 bob",
			"participant.left chat 0 ann",
			"room.finished chat 0 ann",
		}
		if got := rec.take(); !sameList(got, want) {
			t.Errorf("events:\n%q\nwant\n%q", got, want)
		}
	})
}
