package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"parley/client"
	"parley/configs"
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

// startServerWith is startServer with options.
func startServerWith(t *testing.T, opts Options, mutate func(*configs.Server, []configs.Room)) *testServer {
	t.Helper()
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
	srv, err := NewWith(cfg, rooms, opts, testLogger())
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

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitGoroutines waits until no more goroutines run than at baseline.
func waitGoroutines(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines still run, %d at the start:\n%s", runtime.NumGoroutine(), baseline, buf[:n])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
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

var _ = fmt.Sprintf
