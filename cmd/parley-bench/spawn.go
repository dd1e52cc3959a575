package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Rooms of the bench server: live audio, live video, and a clip room for
// recorders. None limits the number of participants.
const (
	roomAudio  = "bench-audio"
	roomVideo  = "bench-video"
	roomRecord = "bench-rec"
)

var benchRooms = map[string]string{
	roomAudio:  "mode = \"audioStream\"\nmax_participants = 10000\nmax_viewers = 10000\n",
	roomVideo:  "mode = \"videoStream\"\nmax_participants = 10000\nmax_viewers = 10000\n",
	roomRecord: "mode = \"mediaChat\"\nmax_participants = 10000\nmax_clip_seconds = 600\nmax_clip_bytes = 100_000_000\nmax_room_bytes = 100_000_000_000\nmax_clip_count = 100000\n",
}

// spawned is a parley server the bench started.
type spawned struct {
	cmd  *exec.Cmd
	url  string // ws://…/ws
	base string // http://…
	dir  string
	done chan error
}

// freePort returns a port nobody uses on 127.0.0.1 for network.
func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// spawn starts bin with a bench configuration in a new temporary folder,
// pinned to cpus (a taskset list such as "0") unless cpus is empty, and
// waits until it answers /healthz.
//
// With profile set, the server writes the CPU profile of the measurement
// window there (parley -cpuprofile).
func spawn(ctx context.Context, bin, cpus, profile string) (*spawned, error) {
	dir, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return nil, err
	}
	s := &spawned{dir: dir, done: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Mkdir(filepath.Join(dir, "rooms"), 0o755); err != nil {
		return nil, err
	}
	for name, body := range benchRooms {
		if err := os.WriteFile(filepath.Join(dir, "rooms", name+".toml"), []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	httpPort, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	udpPort, err := freePort("udp")
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`[http]
listen = "127.0.0.1:%d"
max_connections_per_ip = 0
whep_starts_per_minute = 0
[media]
listen_ip = "127.0.0.1"
udp_port = %d
tcp_port = 0
[signaling]
messages_per_second = 200.0
message_burst = 1000
[storage]
data_dir = %q
[rooms]
dir = %q
[turn]
enabled = false
[log]
level = "warn"
`, httpPort, udpPort, filepath.Join(dir, "data"), filepath.Join(dir, "rooms"))
	cfgFile := filepath.Join(dir, "parley.toml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	args := []string{bin, "-config", cfgFile}
	if profile != "" {
		args = append(args, "-cpuprofile", profile)
	}
	if cpus != "" {
		args = append([]string{"taskset", "-c", cpus}, args...)
	}
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Stdout = os.Stderr
	s.cmd.Stderr = os.Stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	s.base = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	s.url = fmt.Sprintf("ws://127.0.0.1:%d/ws", httpPort)
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("%s exited before serving: %v", bin, err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("the server did not answer /healthz within 30 s")
		}
	}
	ok = true
	return s, nil
}

// pid is the server's process id (taskset runs it in its own process).
func (s *spawned) pid() int { return s.cmd.Process.Pid }

// stop ends the server (SIGTERM, then SIGKILL after 10 s) and removes
// its folder.
func (s *spawned) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.dir)
}
