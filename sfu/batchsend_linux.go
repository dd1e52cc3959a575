//go:build linux && (amd64 || arm64)

package sfu

import (
	"errors"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSender sends a batch of queued packets with one sendmmsg.
//
// The shared socket is non-blocking, so the call never waits (a full
// buffer is EAGAIN, and the runtime's poller waits for room). It is made
// as a raw system call, without telling the runtime it is in one: the
// runtime wakes its monitor thread on entry to a blocking call when the
// server was idle, and on a lightly loaded server that wake-up (two
// context switches on a virtual machine) costs more than the call.
type batchSender struct {
	rc syscall.RawConn
	v6 bool // the socket is IPv6 (dual-stack): IPv4 addresses go v4-mapped

	hdrs [batchSize]mmsghdr
	iovs [batchSize]unix.Iovec
	sa4  [batchSize]syscall.RawSockaddrInet4
	sa6  [batchSize]syscall.RawSockaddrInet6

	// The call in progress.
	count int
	sent  int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// mmsghdr is the kernel's struct mmsghdr: the padding after n is Go's as
// it is C's.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// errFamily is the refusal of an IPv6 address on an IPv4 socket.
var errFamily = errors.New("sendmmsg: an IPv6 address on an IPv4 socket")

func newBatchSender(c *net.UDPConn) (*batchSender, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var domain int
	var derr error
	if err := rc.Control(func(fd uintptr) {
		domain, derr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN)
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, os.NewSyscallError("getsockopt", derr)
	}
	s := &batchSender{rc: rc, v6: domain == syscall.AF_INET6}
	s.fn = s.call
	return s, nil
}

// write sends the first packets of ps, at most batchSize, and returns how
// many went. As with sendmmsg, a refusal of the first packet is an error
// and one of a later packet a short count.
func (s *batchSender) write(ps []outPacket) (int, error) {
	ps = ps[:min(len(ps), batchSize)]
	for i, op := range ps {
		h := &s.hdrs[i].hdr
		ip := op.addr.Addr()
		switch {
		case s.v6:
			sa := &s.sa6[i]
			*sa = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: ip.As16()}
			putNetPort(&sa.Port, op.addr.Port())
			h.Name, h.Namelen = (*byte)(unsafe.Pointer(sa)), syscall.SizeofSockaddrInet6
		case ip.Unmap().Is4():
			sa := &s.sa4[i]
			*sa = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: ip.Unmap().As4()}
			putNetPort(&sa.Port, op.addr.Port())
			h.Name, h.Namelen = (*byte)(unsafe.Pointer(sa)), syscall.SizeofSockaddrInet4
		default:
			if i == 0 {
				return 0, errFamily
			}
			return s.send(i)
		}
		iov := &s.iovs[i]
		iov.Base = &(*op.buf)[0]
		iov.SetLen(op.n)
		h.Iov = iov
		h.SetIovlen(1)
	}
	return s.send(len(ps))
}

// send makes the call for the first count headers.
func (s *batchSender) send(count int) (int, error) {
	s.count, s.sent, s.errno = count, 0, 0
	if err := s.rc.Write(s.fn); err != nil {
		return 0, err
	}
	if s.errno != 0 {
		return 0, os.NewSyscallError("sendmmsg", s.errno)
	}
	return s.sent, nil
}

func (s *batchSender) call(fd uintptr) bool {
	for {
		n, _, errno := syscall.RawSyscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.count), 0, 0, 0)
		switch errno {
		case 0:
			s.sent = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			s.errno = errno
			return true
		}
	}
}

// putNetPort stores a port in network byte order.
func putNetPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}
