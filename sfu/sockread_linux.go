//go:build linux && (amd64 || arm64)

package sfu

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// receiveWindows tells whether reads gather packets (see sockReader).
const receiveWindows = true

// sockReader reads the shared UDP socket for Pion's UDP mux, one packet
// per call, and gathers the packets of a busy socket into fewer
// wake-ups.
//
// A packet read from an idle socket costs the server a wake-up: the
// poller's return, the reading goroutine's, then each goroutine that
// hands the packet on (the UDP mux, the ICE candidate, the DTLS/SRTP
// demultiplexer, the SRTP session, the track) and the parking of each
// once it is done. When packets come one at a time (50 recording
// publishers send 2,500 a second, 400 µs apart) those wake-ups, not the
// packets, are what the server spends its time on. So once a wake-up has
// brought a packet, the reader does not wait on the poller for the next:
// it sleeps until window has passed since that wake-up and then reads
// everything that came meanwhile in one go, each goroutine down the line
// handling its share in one run. It waits on the poller again only after
// a window that brought nothing. A packet waits at most window; a socket
// that receives less than a packet per window is read as before.
//
// One goroutine reads (Pion's UDP mux): read is not safe for concurrent
// use.
type sockReader struct {
	rc     syscall.RawConn
	window time.Duration

	got   int       // packets read since the last wake-up
	woke  time.Time // the last wake-up: the poller's return or a sleep's end
	polls bool      // the last recv call asked the poller to wait

	// The call in progress, for recv.
	p     []byte
	n     int
	err   error
	empty bool // the socket had nothing and the reader is to sleep
	sa    syscall.RawSockaddrAny
	salen uint32
	fn    func(fd uintptr) bool

	onSleep func() // for tests: called as the reader starts to sleep
}

func newSockReader(c *net.UDPConn, window time.Duration) (*sockReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &sockReader{rc: rc, window: window, woke: time.Now()}
	r.fn = r.recv
	return r, nil
}

// read reads one packet into p.
func (r *sockReader) read(p []byte) (int, netip.AddrPort, error) {
	r.p = p
	defer func() { r.p = nil }()
	for {
		r.empty, r.err = false, nil
		if err := r.rc.Read(r.fn); err != nil {
			return 0, netip.AddrPort{}, err
		}
		if r.err != nil {
			return 0, netip.AddrPort{}, r.err
		}
		if !r.empty {
			r.got++
			return r.n, r.from(), nil
		}
		// The socket is empty after a wake-up that brought packets:
		// gather the next ones for the rest of the window.
		if r.onSleep != nil {
			r.onSleep()
		}
		time.Sleep(r.window - time.Since(r.woke))
		r.woke, r.got = time.Now(), 0
	}
}

// recv is the raw read: non-blocking, into the call's buffer. It tells
// the runtime to wait on the poller (false) only when the socket is empty
// and the last wake-up brought nothing (or windows are off).
//
// The call cannot block (MSG_DONTWAIT), so it is made as a raw system
// call, without telling the runtime it is in one: on entry to a blocking
// call the runtime wakes its monitor thread if the server was idle, and
// when packets come one at a time that wake-up, and the monitor's short
// sleeps after it, cost more than the read (at 50 recording publishers,
// a third more packets per CPU-second without them).
func (r *sockReader) recv(fd uintptr) bool {
	if r.polls {
		r.polls = false
		r.woke, r.got = time.Now(), 0
	}
	for {
		r.salen = uint32(unsafe.Sizeof(r.sa))
		var buf unsafe.Pointer
		if len(r.p) > 0 {
			buf = unsafe.Pointer(&r.p[0])
		}
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(buf), uintptr(len(r.p)),
			syscall.MSG_DONTWAIT, uintptr(unsafe.Pointer(&r.sa)), uintptr(unsafe.Pointer(&r.salen)))
		switch errno {
		case 0:
			r.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if r.window > 0 && r.got > 0 {
				r.empty = true
				return true
			}
			r.polls = true
			return false
		default:
			r.err = errno
			return true
		}
	}
}

// from is the sender of the packet just read, as the net package gives
// it (a v4-mapped address stays so, as Pion's mux expects).
func (r *sockReader) from() netip.AddrPort {
	switch r.sa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&r.sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), netPort(&sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&r.sa))
		ip := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 { // link-local: named by its interface
			zone := strconv.Itoa(int(sa.Scope_id))
			if ifi, err := net.InterfaceByIndex(int(sa.Scope_id)); err == nil {
				zone = ifi.Name
			}
			ip = ip.WithZone(zone)
		}
		return netip.AddrPortFrom(ip, netPort(&sa.Port))
	}
	return netip.AddrPort{}
}

// netPort reads a port kept in network byte order.
func netPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// setSleepHook sets a test's hook, before the first read.
func setSleepHook(r *sockReader, f func()) { r.onSleep = f }
