package server

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"parley/client"
	"parley/configs"
)

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// relayAudio publishes audio from one client and waits until another
// receives it; it returns the publisher's selected candidate pair.
func relayAudio(t *testing.T, srv *testServer, room string, opts client.Options) *webrtc.ICECandidatePair {
	t.Helper()
	sub := newSubscriber()
	subOpts := opts
	subOpts.OnTrack = sub.onTrack
	srv.join(t, room, "sub", subOpts)
	p, _ := srv.join(t, room, "pub", opts)
	pub := newPublisher(t)
	senders, err := p.Publish(timeout(t, 5*time.Second), pub.audio)
	if err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		pub.run(t, stop)
	}()
	defer func() { close(stop); <-done }()
	eventually(t, 10*time.Second, "the subscriber receives audio", func() bool { return sub.count("audio") > 5 })
	pair, err := senders[0].Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("no selected candidate pair: %v", err)
	}
	return pair
}

// TestICETCP: clients that cannot use UDP reach the server over ICE-TCP.
func TestICETCP(t *testing.T) {
	srv := startServer(t, func(c *configs.Server, _ []configs.Room) {
		c.Media.TCPPort = freeTCPPort(t)
	})
	pair := relayAudio(t, srv, "walkie", client.Options{TCPOnly: true})
	if pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Errorf("selected pair %s, want TCP", pair)
	}
	if pair.Remote.Port != uint16(srv.cfg.Media.TCPPort) {
		t.Errorf("server side of the pair is port %d, want the configured %d", pair.Remote.Port, srv.cfg.Media.TCPPort)
	}
}

// TestUDPPortRange: with udp_port = 0 the server takes its media ports
// from the configured range.
func TestUDPPortRange(t *testing.T) {
	const lo, hi = 42300, 42399
	srv := startServer(t, func(c *configs.Server, _ []configs.Room) {
		c.Media.UDPPort = 0
		c.Media.UDPPortMin, c.Media.UDPPortMax = lo, hi
	})
	pair := relayAudio(t, srv, "walkie", client.Options{})
	if pair.Remote.Port < lo || pair.Remote.Port > hi {
		t.Errorf("server media port %d outside %d-%d", pair.Remote.Port, lo, hi)
	}
}

// TestPublicIPAdvertised: a configured public_ip is what the server's
// candidates carry. Nothing is sent to that address: the test only reads
// the answer.
func TestPublicIPAdvertised(t *testing.T) {
	const public = "203.0.113.7"
	srv := startServer(t, func(c *configs.Server, _ []configs.Room) {
		c.Media.PublicIP = public
	})
	ws, _, err := websocket.DefaultDialer.DialContext(context.Background(), srv.wsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteJSON(map[string]string{"type": "join", "room": "walkie", "name": "nat"}); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteJSON(map[string]string{"type": "offer", "pc": "publish", "sdp": offer.SDP}); err != nil {
		t.Fatal(err)
	}
	for {
		var m struct{ Type, SDP, Code, Message string }
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "error" {
			t.Fatalf("%s: %s", m.Code, m.Message)
		}
		if m.Type != "answer" {
			continue
		}
		var cands []string
		for _, line := range strings.Split(m.SDP, "\n") {
			if strings.HasPrefix(line, "a=candidate:") {
				cands = append(cands, strings.TrimSpace(line))
			}
		}
		if len(cands) == 0 {
			t.Fatal("the answer has no candidates")
		}
		for _, c := range cands {
			if !strings.Contains(c, " "+public+" ") {
				t.Errorf("candidate without the public IP: %s", c)
			}
		}
		return
	}
}
