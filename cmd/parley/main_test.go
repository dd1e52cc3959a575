package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"parley/client"
)

// The test binary doubles as the parley binary when PARLEY_MAIN is set, so
// that tests can run it as a process and signal it.
func TestMain(m *testing.M) {
	if os.Getenv("PARLEY_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCheckConfig(t *testing.T) {
	if err := run([]string{"-check-config"}); err != nil {
		t.Fatalf("built-in defaults: %v", err)
	}
	if err := run([]string{"-check-config", "-config", "../../configs/parley.toml"}); err != nil {
		t.Fatalf("example config: %v", err)
	}
}

func TestBadConfigStopsStart(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ file, want string }{
		{"[http]\nlisten = \"127.0.0.1:70000\"\n", "http.listen"},
		{"[media]\nudp_port = \"x\"\n", "media.udp_port"},
		{"[htttp]\nlisten = \"127.0.0.1:8080\"\n", "unknown key"},
	}
	for i, c := range cases {
		path := filepath.Join(dir, fmt.Sprintf("bad%d.toml", i))
		if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
			t.Fatal(err)
		}
		err := run([]string{"-config", path})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("config %q: want an error naming %s and %q, got %v", c.file, path, c.want, err)
		}
	}
	rooms := filepath.Join(dir, "rooms")
	if err := os.Mkdir(rooms, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rooms, "x.toml"), []byte("mode = \"karaoke\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "rooms.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[rooms]\ndir = %q\n", rooms)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-check-config", "-config", cfg}); err == nil || !strings.Contains(err.Error(), "x.toml") || !strings.Contains(err.Error(), "mode") {
		t.Errorf("unknown mode: %v", err)
	}
	// A room that mails needs [mail] and http.base_url.
	if err := os.WriteFile(filepath.Join(rooms, "x.toml"), []byte("mode = \"mediaForum\"\nnotify = true\n[notify_addresses]\nann = \"ann@example.org\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-check-config", "-config", cfg}); err == nil || !strings.Contains(err.Error(), "room x has notify = true") {
		t.Errorf("notify without mail: %v", err)
	}
	if err := run([]string{"-bogus"}); err == nil {
		t.Error("an unknown flag was accepted")
	}
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// parleyProcess is the binary running as a process for a test.
type parleyProcess struct {
	cmd    *exec.Cmd
	lines  chan string
	url    string // http://127.0.0.1:port
	config string // its server file
}

// startParley runs the binary on free ports with its data in dataDir;
// extra is added to its server file. A port is found free and then bound
// by the process; other tests may take it in between (the TURN port is
// bound for TCP too, where outgoing connections take their numbers), so
// a start that fails on a port in use is tried again on new ones.
func startParley(t *testing.T, dataDir string, extra ...string) *parleyProcess {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p, said := startParleyOnce(t, dataDir, extra...)
		if p != nil {
			return p
		}
		inUse := strings.Contains(strings.Join(said, "\n"), "address already in use")
		if !inUse || attempt == 5 {
			t.Fatalf("the process ended before logging \"parley listening\"; it said:\n%s", strings.Join(said, "\n"))
		}
	}
}

// startParleyOnce starts the binary and waits until it listens: the
// process, or nil and what it said before it ended.
func startParleyOnce(t *testing.T, dataDir string, extra ...string) (*parleyProcess, []string) {
	t.Helper()
	dir := t.TempDir()
	httpPort := freePort(t, "tcp")
	cfg := fmt.Sprintf("[http]\nlisten = \"127.0.0.1:%d\"\n[media]\nudp_port = %d\ntcp_port = 0\n[turn]\nport = %d\n[storage]\ndata_dir = %q\n",
		httpPort, freePort(t, "udp"), freePort(t, "udp"), dataDir) + strings.Join(extra, "")
	path := filepath.Join(dir, "parley.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-config", path)
	cmd.Env = append(os.Environ(), "PARLEY_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	p := &parleyProcess{cmd: cmd, lines: make(chan string, 1000), url: fmt.Sprintf("http://127.0.0.1:%d", httpPort), config: path}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody reads: drop
			}
		}
		close(p.lines)
	}()
	var said []string
	timer := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return nil, said
			}
			if strings.Contains(l, "parley listening") {
				return p, nil
			}
			said = append(said, l)
		case <-timer:
			t.Fatalf("no log line \"parley listening\" in 20 s; the process said:\n%s", strings.Join(said, "\n"))
		}
	}
}

func (p *parleyProcess) wsURL() string { return "ws" + strings.TrimPrefix(p.url, "http") + "/ws" }

// TestSignalShutdown runs the binary, joins a room, sends SIGINT and
// checks that the session is told and the process exits cleanly.
func TestSignalShutdown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startParley(t, t.TempDir())
			cmd, lines := p.cmd, p.lines

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, p.wsURL(), client.Options{LoopbackOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Join(ctx, "chat", "ann"); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitFor(ctx, "bye"); err != nil {
				t.Fatalf("the session was not told: %v", err)
			}
			waitLine(t, lines, "msg=stopped")
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("exit: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the process did not exit")
			}
		})
	}
}

// waitLine waits for a line of lines that contains want and returns it.
func waitLine(t *testing.T, lines <-chan string, want string) string {
	t.Helper()
	timer := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the process ended before logging %q", want)
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-timer:
			t.Fatalf("no log line %q", want)
		}
	}
}
