package sfu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestBatchConn: every packet queued reaches its address whole, whatever
// its size (of one class of buffer or the other, packetBuffer), also
// when a batch holds an address the kernel refuses; after Close, writes
// fail.
func TestBatchConn(t *testing.T) {
	// Packets of the small buffers, at their limit, and of the large ones.
	sizeOf := func(i uint32) int { return []int{1200, 100, smallPacketBuf, smallPacketBuf + 1}[i%4] }
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBatchConn(udp, 0)
	if err != nil {
		t.Fatal(err)
	}
	const receivers, perReceiver = 5, 300
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  = make([]map[uint32]bool, receivers)
		dsts []netip.AddrPort
	)
	for r := range receivers {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadBuffer(4 << 20)
		defer c.Close()
		dsts = append(dsts, c.LocalAddr().(*net.UDPAddr).AddrPort())
		got[r] = map[uint32]bool{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2000)
			for {
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if n != sizeOf(binary.BigEndian.Uint32(buf)) || !bytes.Equal(buf[4:n], bytes.Repeat([]byte{byte(r)}, n-4)) {
					t.Errorf("receiver %d: a packet of %d bytes with other content", r, n)
					continue
				}
				mu.Lock()
				got[r][binary.BigEndian.Uint32(buf)] = true
				done := len(got[r]) == perReceiver
				mu.Unlock()
				if done {
					return
				}
			}
		}()
	}
	// An IPv6 address on an IPv4 socket: the kernel refuses it.
	bad := netip.MustParseAddrPort("[2001:db8::1]:9")
	pkt := make([]byte, 1200)
	for i := range perReceiver {
		for r, dst := range dsts {
			pkt := pkt[:sizeOf(uint32(i))]
			binary.BigEndian.PutUint32(pkt, uint32(i))
			copy(pkt[4:], bytes.Repeat([]byte{byte(r)}, len(pkt)-4))
			if _, err := b.WriteToAddrPort(pkt, dst); err != nil {
				t.Fatal(err)
			}
			if i%50 == 0 && r == 0 {
				_, _ = b.WriteToAddrPort(pkt, bad)
			}
		}
		if i%100 == 0 {
			time.Sleep(time.Millisecond) // let the receivers keep up
		}
	}
	wg.Wait()
	for r := range receivers {
		if len(got[r]) != perReceiver {
			t.Errorf("receiver %d got %d of %d packets", r, len(got[r]), perReceiver)
		}
	}
	// The writer counts a batch once its system call returns, which may
	// be after the receivers have read it.
	eventually(t, "the writer counts every packet sent", func() bool { return b.sent.Load() >= receivers*perReceiver })
	if b.dropped.Load() == 0 {
		t.Errorf("sent %d, dropped %d: want all sent and the refused ones dropped", b.sent.Load(), b.dropped.Load())
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteToAddrPort(pkt, dsts[0]); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
	if err := b.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

// TestBatchConnWriteTo: a write addressed with a net.Addr arrives; one
// with an address that is not UDP is refused.
func TestBatchConnWriteTo(t *testing.T) {
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBatchConn(udp, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	in, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := b.WriteTo([]byte("x"), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err == nil {
		t.Error("a write to a TCP address was taken")
	}
	if n, err := b.WriteTo([]byte("hello"), in.LocalAddr()); n != 5 || err != nil {
		t.Fatalf("WriteTo: %d, %v", n, err)
	}
	_ = in.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 100)
	n, err := in.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Errorf("received %q, %v", buf[:n], err)
	}
}

// TestBatchConnFamilies: a dual-stack socket sends to IPv4 addresses (as
// v4-mapped) and IPv6 ones; an IPv4 socket sends to a v4-mapped address
// and refuses an IPv6 one without losing the packets around it.
func TestBatchConnFamilies(t *testing.T) {
	listen := func(network, ip string) *net.UDPConn {
		c, err := net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	read := func(c *net.UDPConn, want string) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(testTimeout))
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("%s received %q, %v; want %q", c.LocalAddr(), buf[:n], err, want)
		}
	}
	addr := func(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }
	v4, v6 := listen("udp4", "127.0.0.1"), listen("udp6", "::1")

	dual, err := newBatchConn(listen("udp", "::"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dual.Close()
	if !dual.out.v6 {
		t.Fatal("a socket on [::] is not taken for IPv6")
	}
	mapped := netip.AddrPortFrom(netip.AddrFrom16(addr(v4).Addr().As16()), addr(v4).Port())
	for _, w := range []struct {
		to  netip.AddrPort
		msg string
	}{{addr(v4), "dual to v4"}, {mapped, "dual to v4-mapped"}, {addr(v6), "dual to v6"}} {
		if _, err := dual.WriteToAddrPort([]byte(w.msg), w.to); err != nil {
			t.Fatal(err)
		}
	}
	read(v4, "dual to v4")
	read(v4, "dual to v4-mapped")
	read(v6, "dual to v6")

	only4, err := newBatchConn(listen("udp4", "127.0.0.1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer only4.Close()
	if only4.out.v6 {
		t.Fatal("an IPv4 socket is taken for IPv6")
	}
	// Queued together, so that the refused one is in the middle of a batch.
	only4.sendMu.Lock()
	for _, w := range []struct {
		to  netip.AddrPort
		msg string
	}{{mapped, "v4 to v4-mapped"}, {addr(v6), "v4 to v6"}, {addr(v4), "v4 to v4"}} {
		if _, err := only4.enqueue([]byte(w.msg), w.to); err != nil {
			t.Fatal(err)
		}
	}
	only4.drain()
	only4.sendMu.Unlock()
	read(v4, "v4 to v4-mapped")
	read(v4, "v4 to v4")
	if s, d := only4.sent.Load(), only4.dropped.Load(); s != 2 || d != 1 {
		t.Errorf("IPv4 socket: sent %d, dropped %d; want 2 and 1", s, d)
	}
}
