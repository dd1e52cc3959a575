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
	"strconv"
	"strings"
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

// maxRooms bounds -rooms: the bench config has this many audio and
// video rooms (bench-audio, bench-audio-2, ...).
const maxRooms = 16

// benchRooms are the bench config's room files, by room name.
func benchRooms() map[string]string {
	const (
		audio = "mode = \"audioStream\"\nmax_participants = 10000\nmax_viewers = 10000\n"
		video = "mode = \"videoStream\"\nmax_participants = 10000\nmax_viewers = 10000\n"
	)
	rooms := map[string]string{
		roomRecord: "mode = \"mediaChat\"\nmax_participants = 10000\nmax_clip_seconds = 600\nmax_clip_bytes = 100_000_000\nmax_room_bytes = 100_000_000_000\nmax_clip_count = 100000\n",
	}
	for _, name := range liveRooms(Scenario{Rooms: maxRooms}) {
		rooms[name] = audio
	}
	for _, name := range liveRooms(Scenario{Rooms: maxRooms, VideoBps: 1}) {
		rooms[name] = video
	}
	return rooms
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

// serverSpec is how parley-bench starts a server: the binary, the CPUs it is
// pinned to (a taskset list such as "0"; none if empty) and what of the
// bench configuration the command line sets.
type serverSpec struct {
	bin, cpus string
	// receiveWindow is media.receive_window; "" leaves the default.
	receiveWindow string
}

// spawn starts srv.bin with a bench configuration in a new temporary
// folder, pinned to srv.cpus, and waits until it answers /healthz.
//
// With profile set, the server writes the CPU profile of the measurement
// window there (parley -cpuprofile).
func spawn(ctx context.Context, srv serverSpec, profile string) (*spawned, error) {
	return spawnWith(ctx, srv, profile, nil)
}

// spawnWith is spawn with more of the server file: extra, if set, is
// given the server's HTTP port and returns what to add.
func spawnWith(ctx context.Context, srv serverSpec, profile string, extra func(httpPort int) string) (*spawned, error) {
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
	for name, body := range benchRooms() {
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
	media := ""
	if srv.receiveWindow != "" {
		media = fmt.Sprintf("receive_window = %q\n", srv.receiveWindow)
	}
	cfg := fmt.Sprintf(`[http]
listen = "127.0.0.1:%d"
max_connections_per_ip = 0
whep_starts_per_minute = 0
[media]
listen_ip = "127.0.0.1"
udp_port = %d
tcp_port = 0
%s[signaling]
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
`, httpPort, udpPort, media, filepath.Join(dir, "data"), filepath.Join(dir, "rooms"))
	if extra != nil {
		cfg += extra(httpPort)
	}
	cfgFile := filepath.Join(dir, "parley.toml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	args := []string{srv.bin, "-config", cfgFile}
	if profile != "" {
		args = append(args, "-cpuprofile", profile)
	}
	if srv.cpus != "" {
		args = append([]string{"taskset", "-c", srv.cpus}, args...)
	}
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Stdout = os.Stderr
	s.cmd.Stderr = os.Stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", srv.bin, err)
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
			return nil, fmt.Errorf("%s exited before serving: %v", srv.bin, err)
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
	terminate(s.cmd.Process, s.done)
	os.RemoveAll(s.dir)
}

// cluster is the servers the bench started as the nodes of one cluster,
// and the redis-server they share.
type cluster struct {
	nodes []*spawned
	redis *exec.Cmd
	done  chan error
}

// spawnCluster starts a redis-server (the Debian package's, on PATH) on
// 127.0.0.1 and n servers from bin as the nodes of one cluster on it,
// each as spawn starts one; profile, if set, is the first node's profile
// file, the others' beside it.
func spawnCluster(ctx context.Context, srv serverSpec, profile string, n int) (*cluster, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("-nodes needs redis-server on PATH (the Debian package redis-server)")
	}
	port, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "parley-bench-redis-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir) // redis keeps nothing: no snapshot, no log file
	c := &cluster{done: make(chan error, 1)}
	c.redis = exec.Command(path, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "")
	c.redis.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := c.redis.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	go func() { c.done <- c.redis.Wait() }()
	ok := false
	defer func() {
		if !ok {
			c.stop()
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case err := <-c.done:
			c.done <- err
			return nil, fmt.Errorf("redis-server exited before serving: %v", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.New("redis-server did not accept connections within 10 s")
		}
	}
	for i := range n {
		prof := profile
		if prof != "" && i > 0 {
			prof = strings.TrimSuffix(profile, ".pprof") + fmt.Sprintf("-node%d.pprof", i+1)
		}
		s, err := spawnWith(ctx, srv, prof, func(httpPort int) string {
			return fmt.Sprintf("[cluster]\nredis_url = \"redis://%s/0\"\nnode_id = \"bench%d\"\npublic_url = \"http://127.0.0.1:%d\"\n", addr, i+1, httpPort)
		})
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		c.nodes = append(c.nodes, s)
	}
	ok = true
	return c, nil
}

// target is the cluster as a target: its first node, and the others.
func (c *cluster) target() target {
	t := target{url: c.nodes[0].url, pid: c.nodes[0].pid()}
	for _, s := range c.nodes[1:] {
		t.others = append(t.others, node{url: s.url, pid: s.pid()})
	}
	return t
}

// stop stops the nodes, then the redis-server, by its PID.
func (c *cluster) stop() {
	for _, s := range c.nodes {
		s.stop()
	}
	terminate(c.redis.Process, c.done)
}

// terminate stops a process the bench started (SIGTERM, then SIGKILL
// after 10 s) and waits until done, which its Wait feeds, says it ended.
func terminate(p *os.Process, done <-chan error) {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.Kill()
		<-done
	}
}
