package server

import (
	"testing"
	"time"

	"parley/client"
	"parley/configs"
)

type callMsg struct {
	Call   string
	Reason string
	Video  bool
	Peer   struct{ ID, Name string }
}

func waitCall(t *testing.T, c *client.Client, typ string) callMsg {
	t.Helper()
	m, err := c.WaitFor(timeout(t, 5*time.Second), typ)
	if err != nil {
		t.Fatal(err)
	}
	var v callMsg
	if err := m.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// publishSynthetic publishes synthetic Opus and VP8 from c until the test
// ends.
func publishSynthetic(t *testing.T, c *client.Client) *publisher {
	t.Helper()
	pub := newPublisher(t)
	pub.start(t, c)
	return pub
}

// TestCalls: in a clip room, where nobody hears anybody, A calls B: B
// hears A and A hears B, C hears nothing. Decline, busy, timeout, hangup
// and a reconnect each end in the documented state.
func TestCalls(t *testing.T) {
	srv := startServer(t, func(c *configs.Server, _ []configs.Room) {
		c.Signaling.CallTimeout = configs.Duration(time.Second)
		c.Signaling.CallRejoinGrace = configs.Duration(5 * time.Second)
	})
	subA, subB, subC := newSubscriber(), newSubscriber(), newSubscriber()
	a, aj := srv.join(t, "chat", "ann", client.Options{OnTrack: subA.onTrack})
	b, bj := srv.join(t, "chat", "bob", client.Options{OnTrack: subB.onTrack})
	c, cj := srv.join(t, "chat", "cid", client.Options{OnTrack: subC.onTrack})
	publishSynthetic(t, a)
	publishSynthetic(t, b)
	publishSynthetic(t, c)
	eventually(t, 10*time.Second, "the server reads the three publishers' tracks", func() bool {
		st := srv.engine.Stats()
		return st.UpTracks == 6 && st.ReceivedPackets >= 3*75
	})
	if n := srv.engine.Stats().ForwardedPackets; n != 0 || subA.count("audio")+subB.count("audio")+subC.count("audio") != 0 {
		t.Fatalf("media flows in a clip room without a call: %d packets forwarded", n)
	}

	// Decline.
	_ = a.Send(map[string]any{"type": "call", "to": cj.ID})
	ring := waitCall(t, a, "call-ringing")
	in := waitCall(t, c, "call-incoming")
	if in.Call != ring.Call || in.Peer.ID != aj.ID {
		t.Fatalf("incoming %+v, ringing %+v", in, ring)
	}
	_ = c.Send(map[string]string{"type": "call-decline", "call": in.Call})
	if e := waitCall(t, a, "call-ended"); e.Reason != "declined" {
		t.Errorf("declined call ended with %q", e.Reason)
	}

	// Timeout.
	_ = a.Send(map[string]any{"type": "call", "to": cj.ID})
	waitCall(t, c, "call-incoming")
	if e := waitCall(t, a, "call-ended"); e.Reason != "timeout" {
		t.Errorf("unanswered call ended with %q", e.Reason)
	}
	if e := waitCall(t, c, "call-ended"); e.Reason != "timeout" {
		t.Errorf("unanswered call ended for the callee with %q", e.Reason)
	}

	// A calls B, B accepts.
	_ = a.Send(map[string]any{"type": "call", "to": bj.ID, "video": true})
	in = waitCall(t, b, "call-incoming")
	if !in.Video {
		t.Error("the video wish was lost")
	}
	_ = b.Send(map[string]string{"type": "call-accept", "call": in.Call})
	if st := waitCall(t, a, "call-started"); st.Peer.ID != bj.ID {
		t.Errorf("call-started for ann: %+v", st)
	}
	waitCall(t, b, "call-started")
	eventually(t, 5*time.Second, "ann and bob hear each other", func() bool {
		return subA.count("audio") > 10 && subB.count("audio") > 10 && subB.count("video") > 5
	})
	subA.mu.Lock()
	if subA.streamIDs["audio"] != bj.ID {
		t.Errorf("ann receives %q, want bob", subA.streamIDs["audio"])
	}
	subA.mu.Unlock()

	// Busy.
	_ = c.Send(map[string]any{"type": "call", "to": aj.ID})
	if e := waitCall(t, c, "call-ended"); e.Reason != "busy" {
		t.Errorf("calling someone in a call: %q", e.Reason)
	}
	if subC.count("audio") != 0 || c.Offers() != 0 {
		t.Errorf("cid, outside the call, received %d packets and %d offers", subC.count("audio"), c.Offers())
	}

	// Ann's connection drops; she comes back with her owner key and the
	// call goes on.
	a.Close()
	if h := waitCall(t, b, "call-held"); h.Call != in.Call {
		t.Errorf("call-held %+v", h)
	}
	subA2 := newSubscriber()
	a2, a2j := srv.join(t, "chat", "ann", client.Options{OnTrack: subA2.onTrack, OwnerKey: aj.OwnerKey})
	if st := waitCall(t, a2, "call-started"); st.Peer.ID != bj.ID || st.Call != in.Call {
		t.Errorf("after the reconnect ann gets %+v", st)
	}
	if st := waitCall(t, b, "call-started"); st.Peer.ID != a2j.ID {
		t.Errorf("after the reconnect bob gets %+v", st)
	}
	eventually(t, 5*time.Second, "bob hears ann again", func() bool { return subA2.count("audio") > 10 })
	before := subB.count("audio")
	publishSynthetic(t, a2)
	eventually(t, 5*time.Second, "ann's new tracks reach bob", func() bool { return subB.count("audio") > before+10 })

	// Hangup.
	_ = b.Send(map[string]string{"type": "hangup", "call": in.Call})
	if e := waitCall(t, a2, "call-ended"); e.Reason != "hangup" {
		t.Errorf("hangup ended with %q", e.Reason)
	}
	waitCall(t, b, "call-ended")
	eventually(t, 5*time.Second, "after the hangup ann's tracks end for bob", func() bool {
		return subA2.hasEnded("audio")
	})
	if subC.count("audio") != 0 {
		t.Error("cid received media")
	}
}
