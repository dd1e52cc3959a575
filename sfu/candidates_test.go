package sfu

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"parley/netpolicy"
)

// TestCandidatePolicy: which remote candidates a server checks, by its own
// addresses.
func TestCandidatePolicy(t *testing.T) {
	a := netip.MustParseAddr
	none := netip.Addr{}
	lan := []netip.Prefix{netip.MustParsePrefix("192.168.7.0/24")}
	for _, tc := range []struct {
		name           string
		listen, public netip.Addr
		loopback       bool
		allow          []netip.Prefix
		cand           string
		want           string
	}{
		{"loopback server, loopback", a("127.0.0.1"), none, false, nil, "127.0.0.1", ""},
		{"loopback server, other loopback", a("127.0.0.1"), none, false, nil, "127.0.0.9", ""},
		{"loopback server, global", a("127.0.0.1"), none, false, nil, "8.8.8.8", ""},
		{"loopback server, private", a("127.0.0.1"), none, false, nil, "10.0.0.1", "private"},
		{"loopback server, link-local", a("127.0.0.1"), none, false, nil, "169.254.169.254", "link-local"},
		{"public server, loopback", a("198.20.0.5"), none, false, nil, "127.0.0.1", "loopback"},
		{"public server with loopback on, loopback", a("198.20.0.5"), none, true, nil, "127.0.0.1", ""},
		{"public server, private", a("198.20.0.5"), none, false, nil, "192.168.1.10", "private"},
		{"public server, allowlisted private", a("198.20.0.5"), none, false, lan, "192.168.7.10", ""},
		{"public server, other private", a("198.20.0.5"), none, false, lan, "192.168.8.10", "private"},
		{"public server, ula", a("2606:4700::5"), none, false, nil, "fd00::1", "private"},
		{"public server, global", a("198.20.0.5"), none, false, nil, "203.0.114.9", ""},
		{"public server, multicast", a("198.20.0.5"), none, false, nil, "239.255.255.250", "multicast"},
		{"public server, broadcast", a("198.20.0.5"), none, false, nil, "255.255.255.255", "broadcast"},
		{"public server, unspecified", a("198.20.0.5"), none, false, nil, "0.0.0.0", "unspecified"},
		{"public server, reserved", a("198.20.0.5"), none, false, nil, "240.0.0.1", "reserved (240.0.0.0/4)"},
		{"public server, 6to4 loopback", a("198.20.0.5"), none, false, nil, "2002:7f00:1::1", "loopback (through 6to4)"},
		{"public server, NAT64 private", a("198.20.0.5"), none, false, nil, "64:ff9b::a00:1", "private (through NAT64)"},
		{"public server, Teredo", a("198.20.0.5"), none, false, nil, "2001::1", "reserved (Teredo)"},
		{"LAN server, private", a("10.0.0.5"), none, false, nil, "10.8.0.3", ""},
		{"LAN server, other private", a("10.0.0.5"), none, false, nil, "192.168.1.10", ""},
		{"LAN server, loopback", a("10.0.0.5"), none, false, nil, "127.0.0.1", "loopback"},
		{"LAN server, link-local", a("10.0.0.5"), none, false, nil, "169.254.169.254", "link-local"},
		{"LAN server, link-local v6", a("10.0.0.5"), none, false, nil, "fe80::1", "link-local"},
		{"LAN server, reserved", a("10.0.0.5"), none, false, nil, "192.0.0.8", "reserved (IETF protocol assignments)"},
		{"NAT server on a LAN", a("0.0.0.0"), a("192.168.1.2"), false, nil, "192.168.1.10", ""},
		{"NAT server with a public IP", a("0.0.0.0"), a("198.20.0.5"), false, nil, "10.0.0.1", "private"},
		{"NAT server with a public IP, loopback", a("0.0.0.0"), a("198.20.0.5"), false, nil, "127.0.0.1", "loopback"},
		{"every interface, no public IP", a("0.0.0.0"), none, false, nil, "192.168.1.10", ""},
		{"every interface, no public IP, loopback", a("0.0.0.0"), none, false, nil, "127.0.0.1", "loopback"},
		{"every interface v6, no public IP", a("::"), none, false, nil, "fd00::7", ""},
		{"private listen, public IP", a("10.0.0.5"), a("198.20.0.5"), false, nil, "10.0.0.7", ""},
	} {
		p := candidatePolicy(tc.listen, tc.public, tc.loopback, tc.allow)
		if got := p.Refusal(a(tc.cand)); got != tc.want {
			t.Errorf("%s: candidate %s refused for %q, want %q", tc.name, tc.cand, got, tc.want)
		}
	}
}

// TestCandidateRefusal: the candidate forms, trickled or in SDP.
func TestCandidateRefusal(t *testing.T) {
	e := &Engine{candidates: candidatePolicy(netip.MustParseAddr("198.20.0.5"), netip.Addr{}, false, nil)}
	for _, tc := range []struct{ cand, want string }{
		{"candidate:1 1 udp 2130706431 203.0.114.9 5000 typ host", ""},
		{"a=candidate:1 1 udp 2130706431 203.0.114.9 5000 typ host", ""},
		{"candidate:1 1 udp 1694498815 203.0.114.9 5000 typ srflx raddr 10.0.0.1 rport 5000", ""},
		{"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", "loopback"},
		{"a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", "loopback"},
		{"candidate:1 1 UDP 2130706431 169.254.169.254 80 typ host", "link-local"},
		{"candidate:1 1 udp 16777215 10.1.2.3 5000 typ relay raddr 203.0.114.9 rport 1", "private"},
		{"candidate:1 1 tcp 1518280447 192.168.1.1 9 typ host tcptype active", "private"},
		{"candidate:1 1 udp 2130706431 fe80::1%eth0 5000 typ host", "link-local"},
		{"candidate:1 1 udp 2130706431 ::ffff:127.0.0.1 5000 typ host", "loopback"},
		{"candidate:1 1 udp 2130706431 2002:7f00:1::1 5000 typ host", "loopback (through 6to4)"},
		{"candidate:1 1 udp 2130706431 0c8a3f4e-1b2c-4d5e-8f90-123456789abc.local 5000 typ host", "mDNS name"},
		// Not parseable (Pion refuses it itself, with the same parser).
		{"candidate:1 1 udp 2130706431 localhost 5000 typ host", ""},
		{"candidate:garbage", ""},
	} {
		if got := e.candidateRefusal(tc.cand); got != tc.want {
			t.Errorf("candidateRefusal(%q) = %q, want %q", tc.cand, got, tc.want)
		}
	}

	p := &Participant{room: &Room{engine: e}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	sdp := "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
		"a=candidate:1 1 udp 2130706431 203.0.114.9 5000 typ host\r\n" +
		"a=candidate:2 1 udp 2130706431 127.0.0.1 5001 typ host\r\n" +
		"a=candidate:3 1 udp 2130706431 x.local 5002 typ host\r\n" +
		"a=candidate:4 1 udp 2130706431 10.0.0.1 5003 typ host\n" +
		"a=end-of-candidates\r\n"
	want := "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
		"a=candidate:1 1 udp 2130706431 203.0.114.9 5000 typ host\r\n" +
		"a=end-of-candidates\r\n"
	if got := p.filterCandidates(PCPublish, sdp); got != want {
		t.Errorf("filterCandidates:\n%q\nwant\n%q", got, want)
	}
}

// udpCounter counts the datagrams that arrive at a UDP socket.
type udpCounter struct {
	conn net.PacketConn
	n    atomic.Int64
	done chan struct{}
}

func listenCounter(t *testing.T, ip string) *udpCounter {
	t.Helper()
	conn, err := net.ListenPacket("udp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	c := &udpCounter{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		buf := make([]byte, 1500)
		for {
			if _, _, err := conn.ReadFrom(buf); err != nil {
				return
			}
			c.n.Add(1)
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); <-c.done })
	return c
}

func (c *udpCounter) port() int { return c.conn.LocalAddr().(*net.UDPAddr).Port }

func hostCandidate(foundation int, ip string, port int) string {
	return fmt.Sprintf("candidate:%d 1 udp 2130706431 %s %d typ host", foundation, ip, port)
}

// offerer is a Pion client that makes publish offers.
func offerer(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc
}

// TestRemoteCandidatesFiltered drives the engine as a hostile client
// would: its publish offer and its trickled candidates name local
// addresses that the server's rule refuses. The server must send them no
// STUN check, while it keeps checking the candidates it accepts; and a
// normal client still connects. The engine listens on 127.0.0.1, where
// the rule accepts loopback, so the test narrows the rule to 127.0.0.1
// alone: 127.0.0.2 and 127.0.0.3 stand for the operator's refused
// networks.
func TestRemoteCandidatesFiltered(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	_ = probe.Close()
	e, err := NewEngine(Config{ListenIP: "127.0.0.1", UDPPort: port}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.candidates = netpolicy.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	room := NewRoom(e, RoomOptions{Name: "r", Live: true}, log)
	defer room.Close()

	// The hostile client: its offer carries no candidate of its own, only
	// a canary the rule accepts and a target it refuses; it trickles the
	// same pair, and names it by mDNS and host name too. With no usable
	// candidate the server's checks never succeed, so it keeps sending
	// them to every pair it holds.
	canarySDP, canaryTrickle := listenCounter(t, "127.0.0.1"), listenCounter(t, "127.0.0.1")
	targetSDP, targetTrickle := listenCounter(t, "127.0.0.2"), listenCounter(t, "127.0.0.3")
	hostile, err := room.Join("hostile", "hostile", nopSignaler{})
	if err != nil {
		t.Fatal(err)
	}
	defer hostile.Leave()
	var lines []string
	for _, l := range strings.SplitAfter(offerer(t).LocalDescription().SDP, "\n") {
		if strings.HasPrefix(l, "a=candidate:") {
			continue
		}
		lines = append(lines, l)
		if strings.HasPrefix(l, "a=mid:") {
			lines = append(lines,
				"a="+hostCandidate(1, "127.0.0.2", targetSDP.port())+"\r\n",
				"a="+hostCandidate(2, "127.0.0.1", canarySDP.port())+"\r\n")
		}
	}
	if _, err := hostile.HandleOffer(strings.Join(lines, "")); err != nil {
		t.Fatal(err)
	}
	mid := "0"
	for _, c := range []string{
		hostCandidate(3, "127.0.0.3", targetTrickle.port()),
		hostCandidate(4, "attacker-chosen-name.local", targetTrickle.port()),
		hostCandidate(5, "127.0.0.1", canaryTrickle.port()),
	} {
		if err := hostile.AddCandidate(PCPublish, webrtc.ICECandidateInit{Candidate: c, SDPMid: &mid}); err != nil {
			t.Errorf("AddCandidate(%s): %v", c, err)
		}
	}

	// A normal client on 127.0.0.1 connects under the same rule.
	client := offerer(t)
	connected := make(chan struct{})
	client.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	normal, err := room.Join("normal", "normal", nopSignaler{})
	if err != nil {
		t.Fatal(err)
	}
	defer normal.Leave()
	answer, err := normal.HandleOffer(client.LocalDescription().SDP)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("the normal client did not connect")
	}
	// The server checks each pair on every round: two checks at each
	// canary mean that the targets, known as early, had theirs.
	for ctx.Err() == nil && (canarySDP.n.Load() < 2 || canaryTrickle.n.Load() < 2) {
		time.Sleep(10 * time.Millisecond)
	}
	if ctx.Err() != nil {
		t.Fatalf("the canaries got %d and %d checks, want 2 each", canarySDP.n.Load(), canaryTrickle.n.Load())
	}
	if n := targetSDP.n.Load(); n != 0 {
		t.Errorf("the server sent %d packets to a refused candidate of the offer", n)
	}
	if n := targetTrickle.n.Load(); n != 0 {
		t.Errorf("the server sent %d packets to a refused trickled candidate", n)
	}
}
