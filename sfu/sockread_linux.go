//go:build linux && (amd64 || arm64)

package sfu

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// receiveWindows tells whether reads gather packets (see sockReader).
const receiveWindows = true

// sockReader reads the shared UDP socket for Pion's UDP mux, one packet
// per call, and can gather the packets of a busy socket into fewer
// wake-ups (a receive window, off by default).
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
// Each wake-up's packets are read with one recvmmsg, up to readBatch of
// them, and handed out one per read from the reader's own buffers: a wake
// that brings a few packets (a burst of one publisher's, or several
// publishers' at once) costs one system call for all of them, and one
// more to find the socket empty; none more when take took them all (see
// recv).
//
// One goroutine reads (Pion's UDP mux): read is not safe for concurrent
// use.
type sockReader struct {
	rc     syscall.RawConn
	window time.Duration

	got   int       // packets handed out since the last wake-up
	woke  time.Time // the last wake-up: the poller's return or a sleep's end
	polls bool      // the last recv call asked the poller to wait

	// take, if set, takes the packets that do not go to Pion's mux (see
	// batchConn.intercept), as they are read: true for those it took.
	take func(p []byte, from netip.AddrPort) bool

	// The last batch: the slots kept[next:count] are still to be handed
	// out; batch is how many packets it had.
	next, count, batch int
	kept               [readBatch]int
	hdrs               [readBatch]mmsghdr
	iovs               [readBatch]unix.Iovec
	names              [readBatch]syscall.RawSockaddrAny
	bufs               []byte // readBatch slots of readSlot bytes

	// The call in progress, for recv.
	err   error
	empty bool // the socket had nothing and the reader is to sleep
	fn    func(fd uintptr) bool

	onSleep func() // for tests: called as the reader starts to sleep
}

// quickTake is how long taking a batch may last for the reader to wait
// on the poller at once after it (see recv): at a few thousand packets a
// second, one comes within it once in ten or more.
const quickTake = 50 * time.Microsecond

const (
	readBatch = 16   // packets one recvmmsg takes at most
	readSlot  = 8192 // bytes of each: what Pion's UDP mux reads into
)

func newSockReader(c *net.UDPConn, window time.Duration) (*sockReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &sockReader{rc: rc, window: window, woke: time.Now(), bufs: make([]byte, readBatch*readSlot)}
	for i := range r.hdrs {
		r.iovs[i].Base = &r.bufs[i*readSlot]
		r.iovs[i].SetLen(readSlot)
		h := &r.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
	}
	r.fn = r.recv
	return r, nil
}

// read reads one packet into p (cut to len(p) if longer, as recvfrom
// would).
func (r *sockReader) read(p []byte) (int, netip.AddrPort, error) {
	for {
		if r.next < r.count {
			i := r.kept[r.next]
			r.next++
			n := copy(p, r.bufs[i*readSlot:i*readSlot+int(min(r.hdrs[i].n, readSlot))])
			return n, sockaddrPort(&r.names[i]), nil
		}
		r.empty, r.err = false, nil
		if err := r.rc.Read(r.fn); err != nil {
			return 0, netip.AddrPort{}, err
		}
		if r.err != nil {
			return 0, netip.AddrPort{}, r.err
		}
		if !r.empty {
			continue // a batch: hand out its first packet
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

// recv is the raw read: non-blocking, into the reader's slots. It tells
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
	for i := range r.hdrs {
		r.hdrs[i].hdr.Namelen = uint32(unsafe.Sizeof(r.names[i]))
		r.hdrs[i].hdr.Flags = 0
	}
	for {
		n, _, errno := syscall.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), readBatch,
			syscall.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			read := time.Now()
			r.keep(int(n))
			if r.count > 0 {
				return true
			}
			// All taken. A batch that did not fill its slots emptied the
			// socket: if taking them was quick, so that nothing is likely
			// to have come since, wait on the poller without a call to
			// find it empty. No packet can be missed: the poller's
			// readiness is cleared only as a read starts (internal/poll's
			// prepareRead), not while this one waits, and each packet
			// that comes after the call marks it ready again (edge-
			// triggered epoll wakes for every packet a socket queues).
			// On a busy socket the next packets are read at once, as
			// they would be without the skip.
			if n < readBatch && r.window == 0 && time.Since(read) < quickTake {
				r.polls = true
				return false
			}
			continue
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

// keep takes the n packets that the last call read: those that take
// does not take are kept to be handed out, in order.
func (r *sockReader) keep(n int) {
	r.next, r.count, r.batch = 0, 0, n
	r.got += n
	for i := range n {
		if r.take != nil {
			size := int(min(r.hdrs[i].n, readSlot))
			if r.take(r.bufs[i*readSlot:i*readSlot+size], sockaddrPort(&r.names[i])) {
				continue
			}
		}
		r.kept[r.count] = i
		r.count++
	}
}

// sockaddrPort is the address of sa as the net package gives it (a
// v4-mapped address stays so, as Pion's mux expects).
func sockaddrPort(sa *syscall.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), netPort(&sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
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

// lastBatch is how many packets the last system call read, for tests.
func lastBatch(r *sockReader) int { return r.batch }
