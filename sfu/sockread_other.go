//go:build !(linux && (amd64 || arm64))

package sfu

import (
	"net"
	"net/netip"
	"time"
)

// sockReader reads the shared UDP socket one packet at a time; gathering
// packets into fewer wake-ups (see the Linux version) is Linux's only.
const receiveWindows = false

type sockReader struct{ c *net.UDPConn }

func newSockReader(c *net.UDPConn, _ time.Duration) (*sockReader, error) {
	return &sockReader{c: c}, nil
}

func (r *sockReader) read(p []byte) (int, netip.AddrPort, error) {
	return r.c.ReadFromUDPAddrPort(p)
}

func setSleepHook(*sockReader, func()) {}

func lastBatch(*sockReader) int { return 1 }
