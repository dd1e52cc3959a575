package sfu

import (
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestEngineConfigErrors: a configuration the engine cannot use is
// refused with the key that is wrong.
func TestEngineConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{ListenIP: "example.org"}, "listen_ip"},
		{Config{ListenIP: "127.0.0.1", PublicIP: "example.org"}, "public_ip"},
		{Config{ListenIP: "127.0.0.1", CandidateAllow: []string{"10.0.0.0/33"}}, "candidate allowlist"},
		{Config{ListenIP: "127.0.0.1", UDPPortMin: 5000, UDPPortMax: 4000}, "port range"},
	} {
		e, err := NewEngine(tc.cfg, quietLog())
		if err == nil {
			_ = e.Close()
			t.Errorf("%+v: accepted", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want it to name %s", tc.cfg, err, tc.want)
		}
	}
}

// freePorts returns a UDP and a TCP port of 127.0.0.1 that were free a
// moment ago.
func freePorts(t *testing.T) (udp, tcp int) {
	t.Helper()
	u, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return u.LocalAddr().(*net.UDPAddr).Port, l.Addr().(*net.TCPAddr).Port
}

// TestEngineSockets: the engine binds the shared UDP port and the ICE-TCP
// port it is given and releases them on Close; an engine whose TCP port
// is taken fails and releases its UDP port; with a port range there is no
// shared socket.
func TestEngineSockets(t *testing.T) {
	var e *Engine
	var udpPort, tcpPort int
	for attempt := 0; e == nil; attempt++ {
		udpPort, tcpPort = freePorts(t)
		var err error
		e, err = NewEngine(Config{ListenIP: "127.0.0.1", UDPPort: udpPort, TCPPort: tcpPort, PublicIP: "127.0.0.1"}, quietLog())
		if err != nil && attempt == 9 {
			t.Fatal(err)
		}
	}
	if got, want := e.UDPAddr().String(), "127.0.0.1:"+strconv.Itoa(udpPort); got != want {
		t.Errorf("UDP address %s, want %s", got, want)
	}
	if got, want := e.TCPAddr().String(), "127.0.0.1:"+strconv.Itoa(tcpPort); got != want {
		t.Errorf("TCP address %s, want %s", got, want)
	}

	var otherUDP int
	for attempt := 0; ; attempt++ {
		otherUDP, _ = freePorts(t)
		e2, err := NewEngine(Config{ListenIP: "127.0.0.1", UDPPort: otherUDP, TCPPort: tcpPort}, quietLog())
		if err == nil {
			_ = e2.Close()
			t.Fatal("a second engine on the same TCP port started")
		}
		if strings.Contains(err.Error(), "media UDP port") && attempt < 9 {
			continue // taken by another process meanwhile
		}
		if !strings.Contains(err.Error(), "media TCP port") {
			t.Errorf("second engine: %v, want the TCP port named", err)
		}
		break
	}
	if c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(otherUDP)); err != nil {
		t.Errorf("the failed engine kept its UDP port: %v", err)
	} else {
		_ = c.Close()
	}

	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(tcpPort)); err != nil {
		t.Errorf("the TCP port is still taken after Close: %v", err)
	} else {
		_ = l.Close()
	}
	if c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(udpPort)); err != nil {
		t.Errorf("the UDP port is still taken after Close: %v", err)
	} else {
		_ = c.Close()
	}

	r, err := NewEngine(Config{ListenIP: "127.0.0.1", UDPPortMin: 40000, UDPPortMax: 40999}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.UDPAddr() != nil || r.TCPAddr() != nil {
		t.Errorf("a port-range engine has shared sockets: %v, %v", r.UDPAddr(), r.TCPAddr())
	}
}

// TestSocketBuffers: the shared UDP socket asks for buffers of
// socketBuffer bytes each way and gets what the kernel's limits allow.
func TestSocketBuffers(t *testing.T) {
	e := newTestEngine(t, false)
	for _, b := range []struct {
		sysctl string
		opt    int
	}{{"rmem_max", syscall.SO_RCVBUF}, {"wmem_max", syscall.SO_SNDBUF}} {
		raw, err := os.ReadFile("/proc/sys/net/core/" + b.sysctl)
		if err != nil {
			t.Skip("no /proc/sys/net/core:", err)
		}
		limit, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := socketOption(e.batch.UDPConn, b.opt)
		if !ok {
			t.Fatal("cannot read the socket's buffer size")
		}
		// Linux reports twice what it grants.
		if want := min(socketBuffer, limit); got/2 != want {
			t.Errorf("%s: the socket's buffer is %d bytes, want %d (asked %d, the kernel's limit %d)", b.sysctl, got/2, want, socketBuffer, limit)
		}
	}
}
