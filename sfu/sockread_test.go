package sfu

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// readResult is one read of the shared socket's reader.
type readResult struct {
	p    []byte
	from netip.AddrPort
	err  error
	at   time.Time
}

// startReading reads b on a goroutine of the test's, as Pion's mux does,
// until a read fails; the results come on the channel, which is closed
// after the failing read's.
func startReading(b *batchConn) <-chan readResult {
	out := make(chan readResult, 64)
	go func() {
		defer close(out)
		buf := make([]byte, 1500)
		for {
			n, from, err := b.ReadFromAddrPort(buf)
			out <- readResult{p: bytes.Clone(buf[:n]), from: from, err: err, at: time.Now()}
			if err != nil {
				return
			}
		}
	}()
	return out
}

// loopbackBatchConn is a batchConn on an IPv4 loopback socket of its
// own, closed at the test's end.
func loopbackBatchConn(t *testing.T, window time.Duration) (*batchConn, *net.UDPConn) {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBatchConn(udp, window)
	if err != nil {
		udp.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, udp
}

func nextRead(t *testing.T, reads <-chan readResult) readResult {
	t.Helper()
	select {
	case r, ok := <-reads:
		if !ok {
			t.Fatal("the reader stopped")
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no packet read in 10 s")
	}
	return readResult{}
}

// TestSockReader: the shared socket's reader gives every packet whole, in
// order, with its sender's address as the net package gives it, for IPv4
// and IPv6 and with or without a receive window; it reads again after the
// socket was idle; Close ends a read that waits.
func TestSockReader(t *testing.T) {
	for _, family := range []string{"udp4", "udp6"} {
		for _, window := range []time.Duration{0, time.Millisecond, 20 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s/%s", family, window), func(t *testing.T) {
				ip := net.IPv4(127, 0, 0, 1)
				if family == "udp6" {
					ip = net.IPv6loopback
				}
				udp, err := net.ListenUDP(family, &net.UDPAddr{IP: ip})
				if err != nil {
					if family == "udp6" {
						t.Skip("no IPv6 loopback:", err)
					}
					t.Fatal(err)
				}
				b, err := newBatchConn(udp, window)
				if err != nil {
					t.Fatal(err)
				}
				reads := startReading(b)
				peer, err := net.ListenUDP(family, &net.UDPAddr{IP: ip})
				if err != nil {
					t.Fatal(err)
				}
				defer peer.Close()
				to := udp.LocalAddr().(*net.UDPAddr)
				want := peer.LocalAddr().(*net.UDPAddr).AddrPort()
				send := func(i int) {
					if _, err := peer.WriteToUDP(bytes.Repeat([]byte{byte(i)}, 10+i), to); err != nil {
						t.Fatal(err)
					}
				}
				check := func(i int) {
					r := nextRead(t, reads)
					if r.err != nil {
						t.Fatalf("packet %d: %v", i, r.err)
					}
					if !bytes.Equal(r.p, bytes.Repeat([]byte{byte(i)}, 10+i)) {
						t.Fatalf("packet %d: read %d bytes %x", i, len(r.p), r.p)
					}
					if r.from != want {
						t.Fatalf("packet %d from %v, want %v", i, r.from, want)
					}
				}
				// A burst, then packets one by one, each sent once the
				// previous one was read: the reader waits on the socket
				// again after each window that brought nothing.
				for i := range 50 {
					send(i)
				}
				for i := range 50 {
					check(i)
				}
				for i := 50; i < 60; i++ {
					send(i)
					check(i)
				}
				// Close ends the read that waits.
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				r := nextRead(t, reads)
				if !errors.Is(r.err, net.ErrClosed) {
					t.Fatalf("the read after Close: %v, want net.ErrClosed", r.err)
				}
			})
		}
	}
}

// TestSockReaderWindow: once a wake-up has brought a packet and the
// socket is empty, the next packets are read no sooner than a window
// after that wake-up, together. (A lower bound: a busy machine can only
// make the wait longer.)
func TestSockReaderWindow(t *testing.T) {
	if !receiveWindows {
		t.Skip("receive windows are Linux's only")
	}
	const window = 100 * time.Millisecond
	start := time.Now()
	b, udp := loopbackBatchConn(t, window)
	sleeps := make(chan struct{}, 10)
	setSleepHook(b.reader, func() { sleeps <- struct{}{} })
	reads := startReading(b)
	peer, err := net.DialUDP("udp4", nil, udp.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if r := nextRead(t, reads); r.err != nil || r.p[0] != 1 {
		t.Fatalf("first read: %x %v", r.p, r.err)
	}
	select {
	case <-sleeps:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader did not start its window after the first packet")
	}
	for i := byte(2); i <= 4; i++ {
		if _, err := peer.Write([]byte{i}); err != nil {
			t.Fatal(err)
		}
	}
	for i := byte(2); i <= 4; i++ {
		r := nextRead(t, reads)
		if r.err != nil || r.p[0] != i {
			t.Fatalf("read %x %v, want packet %d", r.p, r.err, i)
		}
		if d := r.at.Sub(start); d < window {
			t.Fatalf("packet %d read %v after the reader started, before the window of %v had passed", i, d, window)
		}
	}
}

// TestSockReaderBatches: packets that wait together are read in batches
// and handed out whole, in order, each with its own sender, more than a
// batch of them and from two senders in turn; a packet longer than the
// caller's buffer is cut to it, as recvfrom cuts it.
func TestSockReaderBatches(t *testing.T) {
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = udp.SetReadBuffer(1 << 20)
	b, err := newBatchConn(udp, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var peers [2]*net.UDPConn
	for i := range peers {
		if peers[i], err = net.DialUDP("udp4", nil, udp.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
		defer peers[i].Close()
	}
	// Sent before anything reads: they wait in the socket together.
	const count = 3*16 + 5
	for i := range count {
		if _, err := peers[i%2].Write(bytes.Repeat([]byte{byte(i)}, 20+i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := peers[0].Write(bytes.Repeat([]byte{0xee}, 3000)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for i := range count {
		n, from, err := b.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], bytes.Repeat([]byte{byte(i)}, 20+i)) {
			t.Fatalf("packet %d: %d bytes %x", i, n, buf[:n])
		}
		if want := peers[i%2].LocalAddr().(*net.UDPAddr).AddrPort(); from != want {
			t.Fatalf("packet %d from %v, want %v", i, from, want)
		}
		if i == 0 && receiveWindows && lastBatch(b.reader) < 2 {
			t.Errorf("%d packets waiting, read %d per system call", count+1, lastBatch(b.reader))
		}
	}
	n, _, err := b.ReadFromAddrPort(buf)
	if err != nil || n != len(buf) || !bytes.Equal(buf, bytes.Repeat([]byte{0xee}, len(buf))) {
		t.Fatalf("a packet longer than the buffer: %d bytes, %v", n, err)
	}
}

// TestSockReaderTake: the packets that intercept takes never reach the
// mux's reads, and those it leaves come in order; a wake-up that brought
// only taken packets waits on the poller again without missing the next
// packet, taken or not.
func TestSockReaderTake(t *testing.T) {
	for _, window := range []time.Duration{0, time.Millisecond} {
		t.Run(window.String(), func(t *testing.T) {
			b, udp := loopbackBatchConn(t, window)
			taken := make(chan string, 64)
			b.intercept(func(p []byte, _ netip.AddrPort) bool {
				if p[0] != 'T' {
					return false
				}
				taken <- string(p)
				return true
			})
			reads := startReading(b)
			peer, err := net.DialUDP("udp4", nil, udp.LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			send := func(s string) {
				t.Helper()
				if _, err := peer.Write([]byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			wantTaken := func(s string) {
				t.Helper()
				select {
				case got := <-taken:
					if got != s {
						t.Fatalf("took %q, want %q", got, s)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("%q not taken in 10 s", s)
				}
			}
			wantRead := func(s string) {
				t.Helper()
				if r := nextRead(t, reads); r.err != nil || string(r.p) != s {
					t.Fatalf("read %q (%v), want %q", r.p, r.err, s)
				}
			}
			// Each script twenty times: "+" sends a packet, "<" wants it
			// taken, ">" wants it read; T is taken, K left to the mux.
			for _, script := range [][]string{
				{"+Ta", "+Ka", "+Tb", "+Kb", "<Ta", "<Tb", ">Ka", ">Kb"}, // both kinds in a wake-up
				{"+Tc", "<Tc", "+Td", "<Td", "+Kc", ">Kc"},               // taken alone, twice, then one for the mux
			} {
				for i := range 20 {
					for _, op := range script {
						name := fmt.Sprint(op[1:2], i, op[2:])
						switch op[0] {
						case '+':
							send(name)
						case '<':
							wantTaken(name)
						case '>':
							wantRead(name)
						}
					}
				}
			}
			select {
			case r := <-reads:
				t.Fatalf("an extra read: %q (%v)", r.p, r.err)
			default:
			}
		})
	}
}
