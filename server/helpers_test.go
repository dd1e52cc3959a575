package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"parley/client"
	"parley/configs"
	"parley/internal/leakcheck"
)

// testServer is a parley serving on 127.0.0.1 for one test.
type testServer struct {
	*Server
	cfg configs.Server
}

// freeUDPPort finds a UDP port nobody uses on 127.0.0.1.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	_ = c.Close()
	return port
}

func testLogger() *slog.Logger {
	if os.Getenv("PARLEY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer starts a server with the built-in demo rooms. mutate may
// change the configuration first.
func startServer(t *testing.T, mutate func(*configs.Server, []configs.Room)) *testServer {
	t.Helper()
	return startServerWith(t, Options{}, mutate)
}

// startServerWith is startServer with options. When the test ends and
// the server has shut down, nothing it or the test's clients started may
// still run.
func startServerWith(t *testing.T, opts Options, mutate func(*configs.Server, []configs.Room)) *testServer {
	t.Helper()
	return startServerLog(t, opts, testLogger(), mutate)
}

// startServerLog is startServerWith with the server's logger.
func startServerLog(t *testing.T, opts Options, log *slog.Logger, mutate func(*configs.Server, []configs.Room)) *testServer {
	t.Helper()
	leakcheck.Check(t)
	cfg := configs.Default()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Media.ListenIP = "127.0.0.1"
	cfg.Media.UDPPort = freeUDPPort(t)
	cfg.Media.TCPPort = 0
	cfg.Storage.DataDir = t.TempDir()
	cfg.TURN.Enabled = false // tests that need it turn it on (turn_test.go)
	rooms, err := configs.LoadRooms("")
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(&cfg, rooms)
	}
	if cfg.Rooms.Dir != "" {
		if rooms, err = configs.LoadRooms(cfg.Rooms.Dir); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := NewWith(cfg, rooms, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &testServer{Server: srv, cfg: cfg}
}

func (s *testServer) wsURL() string { return "ws://" + s.Addr().String() + "/ws" }

// dial connects a loopback-only client.
func (s *testServer) dial(t *testing.T, opts client.Options) *client.Client {
	t.Helper()
	opts.LoopbackOnly = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.wsURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// join dials and joins a room.
func (s *testServer) join(t *testing.T, room, name string, opts client.Options) (*client.Client, *client.Joined) {
	t.Helper()
	c := s.dial(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	j, err := c.Join(ctx, room, name)
	if err != nil {
		t.Fatalf("%s joins %s: %v", name, room, err)
	}
	return c, j
}

// minWait is the least a wait for something that must happen is given
// (timeout, eventually): it bounds a wait that fails as "never", which a
// passing test does not sit out, and a machine busy with other work can
// take seconds to deliver what an idle one does in milliseconds.
const minWait = 30 * time.Second

func timeout(t *testing.T, d time.Duration) context.Context {
	d = max(d, minWait)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, and fails the test if it never
// does within d, a bound generous enough for a busy machine.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	d = max(d, minWait)
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never, in %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitReceived waits up to minWait for the server to have read n packets
// more than read, and returns how many it did not.
func waitReceived(s *testServer, read, n uint64) uint64 {
	deadline := time.Now().Add(minWait)
	for {
		got := s.engine.Stats().ReceivedPackets - read
		if got >= n {
			return 0
		}
		if time.Now().After(deadline) {
			return n - got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// packetsSent is the number of RTP packets pc has sent, as its stats
// count them (retransmissions aside).
func packetsSent(pc *webrtc.PeerConnection) uint64 {
	var n uint64
	for _, st := range pc.GetStats() {
		if o, ok := st.(webrtc.OutboundRTPStreamStats); ok {
			n += uint64(o.PacketsSent)
		}
	}
	return n
}

// sendAll runs send, which sends RTP on pc, and then waits until the
// server has read as many packets as pc sent meanwhile: the last of them
// have arrived. The server's count is of every publisher, so nobody else
// may publish meanwhile.
func (s *testServer) sendAll(t *testing.T, pc *webrtc.PeerConnection, send func()) {
	t.Helper()
	read, sent := s.engine.Stats().ReceivedPackets, packetsSent(pc)
	send()
	n := packetsSent(pc) - sent
	if lost := waitReceived(s, read, n); lost > 0 {
		t.Fatalf("the server read %d of the %d packets sent", n-lost, n)
	}
}

func expectError(t *testing.T, c *client.Client, code string) client.Error {
	t.Helper()
	m, err := c.WaitFor(timeout(t, 5*time.Second), "error")
	if err != nil {
		t.Fatalf("want error %s: %v", code, err)
	}
	var e client.Error
	if err := m.Decode(&e); err != nil {
		t.Fatal(err)
	}
	if e.Code != code {
		t.Fatalf("want error %s, got %s (%s)", code, e.Code, e.Message)
	}
	if strings.TrimSpace(e.Message) == "" {
		t.Fatalf("error %s has no message", code)
	}
	return e
}
