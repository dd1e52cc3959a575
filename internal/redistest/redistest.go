// Package redistest runs a real redis-server (the Debian package) for
// tests: on 127.0.0.1, on a free port, in a temporary folder, with no
// persistence, stopped by its PID when the test ends. Without
// redis-server a test is skipped, or fails when CI is set.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Start runs a redis-server for t and returns its URL.
func Start(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found: install package redis-server (scripts/install-deps.sh)")
		}
		t.Skip("redis-server not found: install package redis-server")
	}
	// A free port may be taken between the probe and redis-server's
	// bind: try again with another.
	for range 5 {
		url, err := start(t, path)
		if err == nil {
			return url
		}
		t.Logf("redis-server: %v; trying another port", err)
	}
	t.Fatal("redis-server did not start")
	return ""
}

func start(t testing.TB, path string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command(path,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--dir", t.TempDir(), "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--logfile", "", "--databases", "1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start: %w", err)
	}
	// Its log says when it accepts connections, or why it stops.
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var last string
		for sc.Scan() {
			last = sc.Text()
			if strings.Contains(last, "Ready to accept connections") {
				ready <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		ready <- fmt.Errorf("exited before it was ready: %s", last)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	select {
	case err := <-ready:
		if err != nil {
			stop()
			return "", err
		}
	case <-time.After(30 * time.Second):
		stop()
		return "", fmt.Errorf("not ready after 30 s")
	}
	t.Cleanup(stop)
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port), nil
}
