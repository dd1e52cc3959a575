package sfu

import (
	"net"
	"syscall"
)

// socketOption reads an integer socket option (SOL_SOCKET) of c.
func socketOption(c *net.UDPConn, opt int) (int, bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt)
	}); err != nil || gerr != nil {
		return 0, false
	}
	return v, true
}
