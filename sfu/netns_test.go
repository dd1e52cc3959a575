package sfu

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/sys/unix"
)

// netns is a network namespace a test made: a process of its own holds
// it (unshare -n), and it ends with the test. Commands run in it through
// nsenter; sockets are made in it by a goroutine whose thread enters it
// (see do). Nothing in it reaches the host's network.
type netns struct {
	holder *exec.Cmd
	path   string
	fd     *os.File
}

// needNetns skips (fails, with CI set) a test that needs network
// namespaces, tc and tbf where this machine cannot make them.
func needNetns(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"unshare", "nsenter", "ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, tool+" is not installed")
		}
	}
	if err := exec.Command("unshare", "-n", "true").Run(); err != nil {
		missing(t, "cannot make a network namespace: "+err.Error())
	}
}

// missing skips the test for want of a tool, or fails it with CI set.
func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// newNetns makes a network namespace with its loopback up.
func newNetns(t *testing.T) *netns {
	t.Helper()
	// The holder sleeps no longer than any test runs.
	cmd := exec.Command("unshare", "-n", "sleep", "1200")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	n := &netns{holder: cmd, path: fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the namespace exists", func() bool {
		l, err := os.Readlink(n.path)
		return err == nil && l != self
	})
	if n.fd, err = os.Open(n.path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.fd.Close() })
	n.run(t, "ip", "link", "set", "lo", "up")
	return n
}

// pid is a process in the namespace, for "ip link set ... netns".
func (n *netns) pid() string { return strconv.Itoa(n.holder.Process.Pid) }

// run runs a command in the namespace.
func (n *netns) run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=" + n.path}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// do calls f on a thread in the namespace: the sockets f opens live
// there for good.
func (n *netns) do(f func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer self.Close()
		if err := setns(n.fd); err != nil {
			errc <- err
			return
		}
		f()
		if err := setns(self); err != nil {
			// The thread stays locked, and ends with the goroutine.
			errc <- err
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	return <-errc
}

func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }

// nsNet is Pion's view of the network from inside a namespace: every
// socket is opened and every interface listed there.
type nsNet struct {
	*stdnet.Net
	ns *netns
}

func newNSNet(t *testing.T, ns *netns) *nsNet {
	t.Helper()
	var std *stdnet.Net
	var err error
	if e := ns.do(func() { std, err = stdnet.NewNet() }); e != nil || err != nil {
		t.Fatal(errors.Join(e, err))
	}
	return &nsNet{Net: std, ns: ns}
}

func inNS[T any](n *nsNet, f func() (T, error)) (T, error) {
	var v T
	var err error
	if e := n.ns.do(func() { v, err = f() }); e != nil {
		return v, e
	}
	return v, err
}

func (n *nsNet) ListenPacket(network, address string) (net.PacketConn, error) {
	return inNS(n, func() (net.PacketConn, error) { return n.Net.ListenPacket(network, address) })
}

func (n *nsNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	return inNS(n, func() (transport.UDPConn, error) { return n.Net.ListenUDP(network, laddr) })
}

func (n *nsNet) ListenTCP(network string, laddr *net.TCPAddr) (transport.TCPListener, error) {
	return inNS(n, func() (transport.TCPListener, error) { return n.Net.ListenTCP(network, laddr) })
}

func (n *nsNet) Dial(network, address string) (net.Conn, error) {
	return inNS(n, func() (net.Conn, error) { return n.Net.Dial(network, address) })
}

func (n *nsNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	return inNS(n, func() (transport.UDPConn, error) { return n.Net.DialUDP(network, laddr, raddr) })
}

func (n *nsNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	return inNS(n, func() (transport.TCPConn, error) { return n.Net.DialTCP(network, laddr, raddr) })
}

func (n *nsNet) Interfaces() ([]*transport.Interface, error) {
	return inNS(n, n.Net.Interfaces)
}

func (n *nsNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	return inNS(n, func() (*transport.Interface, error) { return n.Net.InterfaceByIndex(index) })
}

func (n *nsNet) InterfaceByName(name string) (*transport.Interface, error) {
	return inNS(n, func() (*transport.Interface, error) { return n.Net.InterfaceByName(name) })
}

// shapedLink is two namespaces joined by a veth pair: the server's side
// (10.99.0.1) and a subscriber's (10.99.0.2), whose downlink — the
// server's side's egress — a tbf can shape.
type shapedLink struct {
	server, client *netns
}

func newShapedLink(t *testing.T) *shapedLink {
	t.Helper()
	if raceEnabled {
		// A shaped link's timing is what the test measures; the race
		// detector's slowdown makes the generator, not the link, the
		// bottleneck. make test runs these tests again without it.
		t.Skip("measures a shaped link in real time: run without -race (make unit does)")
	}
	needNetns(t)
	l := &shapedLink{server: newNetns(t), client: newNetns(t)}
	l.server.run(t, "ip", "link", "add", "vs", "type", "veth", "peer", "name", "vc")
	l.server.run(t, "ip", "link", "set", "vc", "netns", l.client.pid())
	l.server.run(t, "ip", "addr", "add", "10.99.0.1/24", "dev", "vs")
	l.server.run(t, "ip", "link", "set", "vs", "up")
	l.client.run(t, "ip", "addr", "add", "10.99.0.2/24", "dev", "vc")
	l.client.run(t, "ip", "link", "set", "vc", "up")
	return l
}

// shape limits the server-to-client direction to rate (tc's syntax, as
// "300kbit"), with a queue of at most 200 ms, as a home router's.
func (l *shapedLink) shape(t *testing.T, rate string) {
	t.Helper()
	l.server.run(t, "tc", "qdisc", "replace", "dev", "vs", "root", "tbf", "rate", rate, "burst", "2kb", "latency", "200ms")
}

// unshape lifts the shaping.
func (l *shapedLink) unshape(t *testing.T) {
	t.Helper()
	l.server.run(t, "tc", "qdisc", "del", "dev", "vs", "root")
}
