//go:build !(linux && (amd64 || arm64))

package sfu

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchSender sends a batch of queued packets with one system call where
// the platform has one (sendmmsg), through golang.org/x/net.
type batchSender struct {
	batch interface {
		WriteBatch(ms []ipv4.Message, flags int) (int, error)
	}
	v6    bool // the socket is IPv6
	msgs  [batchSize]ipv4.Message
	addrs [batchSize]net.UDPAddr
	ips   [batchSize][16]byte
	bufs  [batchSize][1][]byte
}

func newBatchSender(c *net.UDPConn) (*batchSender, error) {
	s := &batchSender{}
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() != nil {
		s.batch = ipv4.NewPacketConn(c)
	} else {
		s.batch = ipv6.NewPacketConn(c)
		s.v6 = true
	}
	return s, nil
}

// write sends the first packets of ps, at most batchSize, and returns how
// many went. As with sendmmsg, a refusal of the first packet is an error
// and one of a later packet a short count.
func (s *batchSender) write(ps []outPacket) (int, error) {
	ps = ps[:min(len(ps), batchSize)]
	for i, op := range ps {
		s.bufs[i][0] = (*op.buf)[:op.n]
		ip := op.addr.Addr()
		if ip.Is4() {
			a := ip.As4()
			s.addrs[i].IP = append(s.ips[i][:0], a[:]...)
		} else {
			a := ip.As16()
			s.addrs[i].IP = append(s.ips[i][:0], a[:]...)
		}
		s.addrs[i].Port = int(op.addr.Port())
		s.msgs[i] = ipv4.Message{Buffers: s.bufs[i][:], Addr: &s.addrs[i]}
	}
	return s.batch.WriteBatch(s.msgs[:len(ps)], 0)
}
