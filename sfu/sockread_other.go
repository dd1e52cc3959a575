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

type sockReader struct {
	c *net.UDPConn
	// take, if set, takes the packets that do not go to Pion's mux (see
	// batchConn.intercept): true for those it took.
	take func(p []byte, from netip.AddrPort) bool
}

func newSockReader(c *net.UDPConn, _ time.Duration) (*sockReader, error) {
	return &sockReader{c: c}, nil
}

func (r *sockReader) read(p []byte) (int, netip.AddrPort, error) {
	for {
		n, from, err := r.c.ReadFromUDPAddrPort(p)
		if err != nil || r.take == nil || !r.take(p[:n], from) {
			return n, from, err
		}
	}
}

func setSleepHook(*sockReader, func()) {}

func lastBatch(*sockReader) int { return 1 }
