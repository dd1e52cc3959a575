package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/internal/testcert"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"parley/client"
	"parley/configs"
	"parley/turn"
)

const testTURNSecret = "parley-test-turn-secret-0123"

// startTURNServer starts a parley with its TURN server on a free port of
// 127.0.0.1 (the same for UDP and TCP). allowLoopback puts 127.0.0.1 in
// turn.allow_peers, which every relay between local sockets needs.
func startTURNServer(t *testing.T, allowLoopback bool, mutate func(*configs.Server)) *testServer {
	t.Helper()
	return startServer(t, func(c *configs.Server, _ []configs.Room) {
		c.TURN.Enabled = true
		c.TURN.ListenIP = "127.0.0.1"
		c.TURN.Port = 0 // a free port
		c.TURN.Secret = testTURNSecret
		if allowLoopback {
			c.TURN.AllowPeers = []string{"127.0.0.1"}
		}
		if mutate != nil {
			mutate(c)
		}
	})
}

func (s *testServer) turnPort() int { return s.turn.UDPAddr().(*net.UDPAddr).Port }

// turnutilsUclient returns the path of coturn's test client.
func turnutilsUclient(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("turnutils_uclient not found: install package coturn (scripts/install-deps.sh)")
		}
		t.Skip("turnutils_uclient not found: install package coturn")
	}
	return path
}

// runUclient runs turnutils_uclient against the server's TURN port and
// returns its output and exit error.
func runUclient(t *testing.T, srv *testServer, args ...string) (string, error) {
	t.Helper()
	path := turnutilsUclient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append(args, "-L", "127.0.0.1", "-p", strconv.Itoa(srv.turnPort()), "127.0.0.1")
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("turnutils_uclient %s: timed out\n%s", strings.Join(args, " "), out)
	}
	return string(out), err
}

var (
	totSendRE = regexp.MustCompile(`tot_send_msgs=(\d+)`)
	totRecvRE = regexp.MustCompile(`tot_recv_msgs=(\d+)`)
)

// uclientSummary returns the lines of uclient's report that the tests judge.
func uclientSummary(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "tot_send_msgs") || strings.Contains(l, "Total lost packets") ||
			strings.Contains(l, "tot_send_bytes") || strings.Contains(l, "Average round trip") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return strings.Join(lines, "\n")
}

// TestTURNUclient runs coturn's turnutils_uclient against the embedded
// server, over UDP, TCP and TLS: two clients allocate relays and send each
// other 10 messages through them, and every message arrives.
func TestTURNUclient(t *testing.T) {
	turnutilsUclient(t)
	certFile, keyFile, _ := testcert.Write(t, t.TempDir(), "127.0.0.1")
	srv := startTURNServer(t, true, func(c *configs.Server) {
		c.TURN.TLSCert, c.TURN.TLSKey, c.TURN.TLSPort = certFile, keyFile, freeTCPPort(t)
	})
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"udp", nil},
		{"tcp", []string{"-t"}},
		{"tls", []string{"-t", "-S"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-W", testTURNSecret, "-y", "-c", "-n", "10"}, tc.flags...)
			if tc.name == "tls" {
				// -p below names the plain port; the last -p wins.
				args = append(args, "-p", strconv.Itoa(srv.turn.TLSAddr().(*net.TCPAddr).Port))
				out, err := runUclientTLS(t, srv, args...)
				checkUclient(t, out, err)
				return
			}
			out, err := runUclient(t, srv, args...)
			checkUclient(t, out, err)
		})
	}
}

// runUclientTLS is runUclient for the TLS port.
func runUclientTLS(t *testing.T, srv *testServer, args ...string) (string, error) {
	t.Helper()
	path := turnutilsUclient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append(args, "-L", "127.0.0.1", "127.0.0.1")
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("turnutils_uclient %s: timed out\n%s", strings.Join(args, " "), out)
	}
	return string(out), err
}

func checkUclient(t *testing.T, out string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("turnutils_uclient: %v\n%s", err, out)
	}
	// uclient reports as it goes; its last line with the totals is the
	// final one.
	sends, recvs := totSendRE.FindAllStringSubmatch(out, -1), totRecvRE.FindAllStringSubmatch(out, -1)
	if len(sends) == 0 || len(recvs) == 0 {
		t.Fatalf("no tot_send_msgs/tot_recv_msgs in the output:\n%s", out)
	}
	sent, recv := sends[len(sends)-1], recvs[len(recvs)-1]
	if n, _ := strconv.Atoi(sent[1]); n == 0 || sent[1] != recv[1] {
		t.Errorf("tot_send_msgs=%s tot_recv_msgs=%s, want equal and not 0", sent[1], recv[1])
	}
	if !strings.Contains(out, "Total lost packets 0 ") {
		t.Errorf("packets lost:\n%s", uclientSummary(out))
	}
	t.Logf("turnutils_uclient summary:\n%s", uclientSummary(out))
}

// TestTURNUclientRefused: a wrong secret, an expired username and a
// malformed one are refused, and so is a participant who is in no room;
// so is a relay to 127.0.0.1 without the allowlist.
func TestTURNUclientRefused(t *testing.T) {
	turnutilsUclient(t)
	srv := startTURNServer(t, true, nil)
	_, j := srv.join(t, "walkie", "uclient", client.Options{})
	creds := turn.NewCredentials(testTURNSecret, -time.Hour) // minted an hour ago... and expired
	expired, expiredPass := creds.Mint(j.ID, time.Now())
	absent, absentPass := turn.NewCredentials(testTURNSecret, time.Hour).Mint("in-no-room", time.Now())
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"wrong secret", []string{"-W", "not-the-parley-secret-0000"}},
		{"wrong secret tcp", []string{"-t", "-W", "not-the-parley-secret-0000"}},
		{"expired username", []string{"-u", expired, "-w", expiredPass}},
		{"malformed username", []string{"-u", "someone", "-w", turn.NewCredentials(testTURNSecret, time.Hour).Password("someone")}},
		{"participant in no room", []string{"-u", absent, "-w", absentPass}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runUclient(t, srv, append(tc.args, "-y", "-c", "-n", "10")...)
			if err == nil {
				t.Fatalf("turnutils_uclient succeeded:\n%s", out)
			}
			t.Logf("refused as expected (%v): %s", err, lastLine(out))
		})
	}
	// The valid form of the same username is accepted: the refusals above
	// are about the secret and the expiry, not the tool.
	good, goodPass := turn.NewCredentials(testTURNSecret, time.Hour).Mint(j.ID, time.Now())
	out, err := runUclient(t, srv, "-u", good, "-w", goodPass, "-y", "-c", "-n", "10")
	checkUclient(t, out, err)

	t.Run("no allowlist", func(t *testing.T) {
		closed := startTURNServer(t, false, nil)
		out, err := runUclient(t, closed, "-W", testTURNSecret, "-y", "-c", "-n", "10")
		if err == nil {
			t.Fatalf("turnutils_uclient relayed to 127.0.0.1 without the allowlist:\n%s", out)
		}
		t.Logf("refused as expected (%v): %s", err, lastLine(out))
	})
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// TestTURNRelayRefused: without the allowlist the relay refuses a
// permission toward 127.0.0.1, and nothing sent there arrives.
func TestTURNRelayRefused(t *testing.T) {
	srv := startTURNServer(t, false, nil)
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, j := srv.join(t, "walkie", "p1", client.Options{})
	user, pass := srv.turn.Credentials().Mint(j.ID, time.Now())
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	addr := srv.turn.UDPAddr().String()
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: "parley", LoggerFactory: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocation: %v", err)
	}
	defer relay.Close()
	if err := c.CreatePermission(peer.LocalAddr()); err == nil {
		t.Fatal("CreatePermission toward 127.0.0.1 succeeded without the allowlist")
	} else if !strings.Contains(err.Error(), "403") && !strings.Contains(strings.ToLower(err.Error()), "forbidden") {
		t.Logf("CreatePermission error: %v", err)
	}
	if _, err := relay.WriteTo([]byte("x"), peer.LocalAddr()); err == nil {
		t.Error("WriteTo toward 127.0.0.1 succeeded without the allowlist")
	}
	_ = peer.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, from, err := peer.ReadFrom(make([]byte, 100)); err == nil {
		t.Errorf("the peer received %d bytes from %s", n, from)
	}
	// Reserved ranges, and IPv6 forms that carry a refused IPv4 address:
	// a permission is refused before anything is sent.
	for _, a := range []string{
		"198.18.0.1", "192.0.0.170", "240.0.0.1", "255.255.255.255", "100.64.0.1",
		"2002:7f00:1::1",     // 6to4 of 127.0.0.1
		"2002:a00:1::1",      // 6to4 of 10.0.0.1
		"64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
		"64:ff9b:1::7f00:1",  // local-use NAT64
		"::7f00:1",           // IPv4-compatible 127.0.0.1
		"::ffff:0:7f00:1",    // IPv4-translated 127.0.0.1
		"2001:0:7f00:1::1",   // Teredo
	} {
		ip := net.ParseIP(a)
		if err := c.CreatePermission(&net.UDPAddr{IP: ip, Port: 9}); err == nil {
			t.Errorf("CreatePermission toward %s succeeded", a)
		}
	}
}

// TestTURNRelayOnlyClient: clients restricted to relay candidates
// (ICETransportPolicy relay), with the ICE servers of their join answer,
// publish and receive media through the TURN server. The join answer lists
// the built-in server first (udp, then tcp), then the external ones.
func TestTURNRelayOnlyClient(t *testing.T) {
	srv := startTURNServer(t, true, func(c *configs.Server) {
		c.TURN.External = []configs.ICEServer{
			{URLs: []string{"turn:coturn.example.org:3478?transport=udp"}, UseSecret: true},
			{URLs: []string{"stun:stun.example.org:3478"}},
		}
	})
	port := srv.turnPort()

	// The join answer: the built-in server, then the external ones.
	_, j := srv.join(t, "walkie", "probe", client.Options{})
	if len(j.ICEServers) != 3 {
		t.Fatalf("ice_servers = %+v", j.ICEServers)
	}
	wantURLs := []string{fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", port), fmt.Sprintf("turn:127.0.0.1:%d?transport=tcp", port)}
	if got := j.ICEServers[0].URLs; len(got) != 2 || got[0] != wantURLs[0] || got[1] != wantURLs[1] {
		t.Errorf("built-in urls %v, want %v", got, wantURLs)
	}
	for i, ice := range j.ICEServers[:2] {
		cred, _ := ice.Credential.(string)
		id, err := srv.turn.Credentials().Check(ice.Username, cred, time.Now())
		if err != nil || id != j.ID {
			t.Errorf("ice server %d: credentials for %q: %v, want the participant %q", i, id, err, j.ID)
		}
	}
	if j.ICEServers[1].URLs[0] != "turn:coturn.example.org:3478?transport=udp" || j.ICEServers[2].Username != "" {
		t.Errorf("external servers %+v", j.ICEServers[1:])
	}

	// Two relay-only clients, each with the ICE servers of its own join
	// answer. Only the built-in server is reachable here.
	sub := newSubscriber()
	relayOnly := func(name string, onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) *client.Client {
		c, j := srv.join(t, "walkie", name, client.Options{Relay: true, ICEServersFromJoin: true, OnTrack: onTrack})
		if len(j.ICEServers) == 0 {
			t.Fatalf("%s got no ICE servers", name)
		}
		return c
	}
	subscriber := relayOnly("sub", sub.onTrack)
	publisher := relayOnly("pub", nil)

	pub := newPublisher(t)
	senders, err := publisher.Publish(timeout(t, 10*time.Second), pub.audio)
	if err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		pub.run(t, stop)
	}()
	defer func() { close(stop); <-done }()
	eventually(t, 15*time.Second, "the subscriber receives audio through the relay", func() bool { return sub.count("audio") > 10 })
	// The server sends to the relay address itself (the direct send path):
	// on its side the pair is its shared socket and the client's relay
	// (both clients are relay-only).
	if n := srv.engine.Stats().DirectConnections; n < 1 {
		t.Error("no subscribe connection sends directly to the relay")
	}

	receivers := subscriber.SubscribeConn().GetReceivers()
	if len(receivers) == 0 {
		t.Fatal("the subscriber has no receiver")
	}
	for name, transport := range map[string]*webrtc.DTLSTransport{"publisher": senders[0].Transport(), "subscriber": receivers[0].Transport()} {
		pair, err := transport.ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("%s: no selected candidate pair: %v", name, err)
		}
		if pair.Local.Typ != webrtc.ICECandidateTypeRelay {
			t.Errorf("%s: selected pair %s, want a relay candidate on the client's side", name, pair)
		}
		if pair.Local.Port < uint16(srv.cfg.TURN.RelayPortMin) {
			t.Errorf("%s: relay port %d outside the relay range", name, pair.Local.Port)
		}
		t.Logf("%s: selected pair %s", name, pair)
	}
	if n := srv.turn.Allocations(); n < 2 {
		t.Errorf("the TURN server holds %d allocations, want at least 2", n)
	}
}

// TestReloadTURNSecret: turn.secret changed in the server file rotates
// the secret with an overlap: the credentials a participant was given
// before still check, the ones given after are signed with the new
// secret alone.
func TestReloadTURNSecret(t *testing.T) {
	srv := startTURNServer(t, false, nil)
	_, before := srv.join(t, "walkie", "ann", client.Options{})
	cfg := srv.cfg
	cfg.TURN.Secret = testTURNSecret + "-rotated"
	if applied, _ := srv.ReloadServer(cfg); !slices.Contains(applied, "turn.secret") {
		t.Fatalf("turn.secret not applied: %v", applied)
	}
	_, after := srv.join(t, "walkie", "bob", client.Options{})
	for _, c := range []struct {
		who    string
		ice    webrtc.ICEServer
		secret string
	}{{"ann, before", before.ICEServers[0], testTURNSecret}, {"bob, after", after.ICEServers[0], cfg.TURN.Secret}} {
		cred, _ := c.ice.Credential.(string)
		if _, err := srv.turn.Credentials().Check(c.ice.Username, cred, time.Now()); err != nil {
			t.Errorf("%s: the server refuses the credentials: %v", c.who, err)
		}
		if _, err := turn.NewCredentials(c.secret, time.Hour).Check(c.ice.Username, cred, time.Now()); err != nil {
			t.Errorf("%s: not signed with its secret: %v", c.who, err)
		}
	}
}
