package main

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/sys/unix"
)

// arrivals keeps, per SSRC, when the kernel received each recent RTP
// packet (SO_TIMESTAMPNS), so that latency can be taken at the moment a
// packet reached the subscriber's socket rather than when the generator,
// busy with hundreds of connections on one core, got round to it.
type arrivals struct {
	mu    sync.Mutex
	rings map[uint32]*arrivalRing
}

// arrivalRing holds, per sequence number modulo its size, the sequence
// number (top 16 bits) and the arrival time in Unix nanoseconds modulo
// 2^48 (about 78 hours), so that one atomic word carries both.
type arrivalRing [1024]atomic.Uint64

const stampMask = 1<<48 - 1

func (a *arrivals) ring(ssrc uint32) *arrivalRing {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rings == nil {
		a.rings = make(map[uint32]*arrivalRing)
	}
	r := a.rings[ssrc]
	if r == nil {
		r = new(arrivalRing)
		a.rings[ssrc] = r
	}
	return r
}

func (a *arrivals) put(ssrc uint32, seq uint16, at int64) {
	a.ring(ssrc)[seq%1024].Store(uint64(seq)<<48 | uint64(at)&stampMask)
}

// get returns when the packet arrived, or false when that is not known.
func (a *arrivals) get(ssrc uint32, seq uint16, now int64) (int64, bool) {
	v := a.ring(ssrc)[seq%1024].Load()
	if v == 0 || uint16(v>>48) != seq {
		return 0, false
	}
	// Put back the bits above 2^48 from now: the arrival is just before.
	at := now&^stampMask | int64(v&stampMask)
	if at > now {
		at -= stampMask + 1
	}
	return at, true
}

// stampNet is the network of one generator client: its UDP sockets report
// kernel receive times of RTP packets to arrivals.
type stampNet struct {
	transport.Net
	arr   *arrivals
	ports *portRange // if set, its sockets take ports from it (a constrained subscriber's)
}

func newStampNet(arr *arrivals) (*stampNet, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &stampNet{Net: n, arr: arr}, nil
}

func (n *stampNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	var c *net.UDPConn
	var err error
	if n.ports != nil && (laddr == nil || laddr.Port == 0) {
		if laddr == nil {
			laddr = &net.UDPAddr{}
		}
		c, err = n.ports.listenShaped(network, laddr)
	} else {
		c, err = net.ListenUDP(network, laddr)
	}
	if err != nil {
		return nil, err
	}
	raw, err := c.SyscallConn()
	if err == nil {
		var serr error
		err = raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) })
		if err == nil {
			err = serr
		}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return &stampConn{UDPConn: c, arr: n.arr}, nil
}

// stampConn is a UDP socket whose reads note RTP arrivals. Pion's ICE
// reads each socket from one goroutine, so oob needs no lock.
type stampConn struct {
	*net.UDPConn
	arr *arrivals
	oob [128]byte
}

// ReadFromAddrPort and WriteToAddrPort are the allocation-free I/O that
// Pion's ICE uses when a socket offers it.
func (c *stampConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, oobn, _, addr, err := c.UDPConn.ReadMsgUDPAddrPort(b, c.oob[:])
	if err != nil {
		return n, addr, err
	}
	// SRTP leaves the RTP header in clear: version 2, and a payload type
	// outside 64-95, which RTCP packet types (192-223) fall in when muxed.
	if n >= 12 && b[0]>>6 == 2 && (b[1]&0x7f < 64 || b[1]&0x7f > 95) {
		if at, ok := kernelTime(c.oob[:oobn]); ok {
			c.arr.put(binary.BigEndian.Uint32(b[8:12]), binary.BigEndian.Uint16(b[2:4]), at)
		}
	}
	return n, addr, nil
}

func (c *stampConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

func (c *stampConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	return n, net.UDPAddrFromAddrPort(addr), err
}

// kernelTime finds the SCM_TIMESTAMPNS control message in oob, without
// allocating: Linux cmsghdrs (length, level, type) then data, each padded
// to the word size.
func kernelTime(oob []byte) (int64, bool) {
	const hdr = unix.SizeofCmsghdr
	for len(oob) >= hdr {
		l := int(binary.NativeEndian.Uint64(oob[0:8]))
		level := int32(binary.NativeEndian.Uint32(oob[8:12]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:16]))
		if l < hdr || l > len(oob) {
			return 0, false
		}
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && l >= hdr+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[hdr : hdr+8]))
			nsec := int64(binary.NativeEndian.Uint64(oob[hdr+8 : hdr+16]))
			return sec*1e9 + nsec, true
		}
		next := (l + 7) &^ 7
		if next > len(oob) {
			return 0, false
		}
		oob = oob[next:]
	}
	return 0, false
}
