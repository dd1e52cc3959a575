package sfu

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// batchConn is the shared media UDP socket with its writes gathered into
// batches. The fan-out writes the same packet to many subscribers in a
// row; each write on a plain socket is a system call, which on a virtual
// machine costs more than the rest of the packet's path. WriteToAddrPort
// queues a copy and returns; one goroutine sends what is queued with
// sendmmsg, up to batchSize packets per call. Reads go to the socket.
//
// The queue is bounded: when the writer cannot keep up, new packets are
// dropped (and counted), as a full socket buffer would drop them, rather
// than make the forwarding goroutine wait.
type batchConn struct {
	*net.UDPConn
	reader *sockReader
	out    *batchSender // sends a batch with one system call

	mu     sync.Mutex // guards queue, spare, closed
	queue  []outPacket
	spare  []outPacket // the last batch sent, handed back for reuse
	closed bool
	wake   chan struct{}
	done   chan struct{}

	// sendMu is held by whoever sends: the writer goroutine, or a writer
	// that filled a whole batch and sends it at once. Taking the queue
	// only while holding it keeps the packets in order.
	sendMu sync.Mutex

	dropped atomic.Uint64
	sent    atomic.Uint64
}

type outPacket struct {
	buf  *[]byte
	n    int
	addr netip.AddrPort
}

const (
	batchSize  = 64   // packets per sendmmsg
	batchQueue = 8192 // packets waiting, at most
	packetBuf  = 1500 // bytes a queued packet may hold; larger ones are sent at once
)

// A queued packet is copied into a buffer of its size class: most of what
// an audio room sends (Opus packets, RTCP) fits in smallPacketBuf bytes,
// and 1,000 subscribers of one audio track queue 1,000 copies of each of
// its packets, which in buffers of packetBuf bytes held 15 KB of the
// server's memory per subscriber.
const smallPacketBuf = 256

var (
	packetPool      = sync.Pool{New: func() any { b := make([]byte, packetBuf); return &b }}
	smallPacketPool = sync.Pool{New: func() any { b := make([]byte, smallPacketBuf); return &b }}
)

// packetBuffer returns a buffer for a packet of n bytes (n <= packetBuf).
func packetBuffer(n int) *[]byte {
	if n <= smallPacketBuf {
		return smallPacketPool.Get().(*[]byte)
	}
	return packetPool.Get().(*[]byte)
}

// freePacketBuffer gives back a buffer of packetBuffer.
func freePacketBuffer(b *[]byte) {
	if cap(*b) == smallPacketBuf {
		smallPacketPool.Put(b)
		return
	}
	packetPool.Put(b)
}

// newBatchConn takes over c; its reads gather a busy socket's packets for
// at most window (see sockReader; 0 reads each as it comes).
func newBatchConn(c *net.UDPConn, window time.Duration) (*batchConn, error) {
	reader, err := newSockReader(c, window)
	if err != nil {
		return nil, err
	}
	out, err := newBatchSender(c)
	if err != nil {
		return nil, err
	}
	b := &batchConn{UDPConn: c, reader: reader, out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go b.writer()
	return b, nil
}

// ReadFromAddrPort and WriteToAddrPort are the allocation-free I/O that
// Pion's UDP mux uses when a connection offers it. One goroutine reads
// (the mux's).
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.reader.read(p)
}

// intercept has take see every packet read before Pion's UDP mux does
// (see Engine.receiveDirect): it reports true for those it took, which
// the mux does not get. Set before the first read.
func (b *batchConn) intercept(take func(p []byte, from netip.AddrPort) bool) {
	b.reader.take = take
}

// ReadFrom serves callers that use net.Addr.
func (b *batchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := b.ReadFromAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// WriteToAddrPort queues p for addr. A packet dropped because the queue
// is full is not an error, as for a socket whose buffer is full.
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if len(p) > packetBuf {
		return b.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	if _, err := b.enqueue(p, addr); err != nil {
		return 0, err
	}
	return len(p), nil
}

// enqueue queues a copy of p (at most packetBuf bytes) for addr and
// reports whether it did: not when the queue is full, nor, with
// net.ErrClosed, once the socket is closed.
func (b *batchConn) enqueue(p []byte, addr netip.AddrPort) (bool, error) {
	if len(p) > packetBuf {
		return false, nil
	}
	buf := packetBuffer(len(p))
	n := copy(*buf, p)
	return b.enqueueBuffer(buf, n, addr)
}

// enqueueBuffer is enqueue of a packet already in a buffer of
// packetBuffer, the n bytes at its start; the buffer is the queue's from
// now on.
func (b *batchConn) enqueueBuffer(buf *[]byte, n int, addr netip.AddrPort) (bool, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		freePacketBuffer(buf)
		return false, net.ErrClosed
	}
	if len(b.queue) >= batchQueue {
		b.mu.Unlock()
		freePacketBuffer(buf)
		b.dropped.Add(1)
		return false, nil
	}
	b.queue = append(b.queue, outPacket{buf: buf, n: n, addr: addr})
	full := len(b.queue) >= batchSize
	b.mu.Unlock()
	// A whole batch goes at once, from here, unless someone is sending:
	// the first subscribers of a long fan-out need not wait for its end.
	if full && b.sendMu.TryLock() {
		b.drain()
		b.sendMu.Unlock()
		return true, nil
	}
	b.mu.Lock()
	if !b.closed {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	return true, nil
}

// WriteTo serves callers that use net.Addr.
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	a, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, errors.New("batchConn: not a UDP address")
	}
	return b.WriteToAddrPort(p, a.AddrPort())
}

// writer sends the queue until Close.
func (b *batchConn) writer() {
	defer close(b.done)
	for range b.wake {
		b.sendMu.Lock()
		b.drain()
		b.sendMu.Unlock()
	}
}

// drain sends the queue until it is empty. Called holding sendMu.
func (b *batchConn) drain() {
	for {
		b.mu.Lock()
		batch := b.queue
		b.queue, b.spare = b.spare, nil
		b.mu.Unlock()
		if len(batch) == 0 {
			b.mu.Lock()
			b.spare = batch
			b.mu.Unlock()
			return
		}
		for start := 0; start < len(batch); start += batchSize {
			chunk := batch[start:min(start+batchSize, len(batch))]
			b.send(chunk)
			for i := range chunk {
				freePacketBuffer(chunk[i].buf)
				chunk[i] = outPacket{}
			}
		}
		b.mu.Lock()
		b.spare = batch[:0]
		b.mu.Unlock()
	}
}

// send sends msgs, skipping a message the kernel refuses (an address of
// the other family, say) so that the rest still go. sendmmsg reports a
// refusal of the first message as an error (n < 0) and a later one as a
// short count.
func (b *batchConn) send(msgs []outPacket) {
	for len(msgs) > 0 {
		n, err := b.out.write(msgs)
		if n < 0 {
			n = 0
		}
		b.sent.Add(uint64(n))
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			n++ // skip the message refused
			b.dropped.Add(1)
		}
		if n == 0 { // no progress and no error: give up this batch
			b.dropped.Add(uint64(len(msgs)))
			return
		}
		msgs = msgs[min(n, len(msgs)):]
	}
}

// Close stops the writer (what is still queued is not sent) and closes
// the socket.
func (b *batchConn) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return net.ErrClosed
	}
	b.closed = true
	close(b.wake)
	b.mu.Unlock()
	err := b.UDPConn.Close()
	<-b.done
	return err
}
