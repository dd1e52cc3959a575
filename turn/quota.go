package turn

import (
	"errors"
	"fmt"
	"net"
	"sync"

	pionturn "github.com/pion/turn/v5"
)

var errQuota = errors.New("relay allocation quota reached")

// quota counts the relay allocations, per user and in total.
//
// pion/turn asks its QuotaHandler before it allocates, but tells nothing
// when an allocation fails afterwards, so counting there would leak. The
// count is kept by the relay sockets instead: relayGenerator takes a unit
// when it opens one and the socket gives it back when it closes, which is
// exactly the allocation's life. The QuotaHandler only reads the count, so
// that a client over its quota gets the proper 486 answer.
type quota struct {
	maxUser, maxTotal int

	mu      sync.Mutex
	perUser map[string]int
	total   int
}

func newQuota(maxUser, maxTotal int) *quota {
	return &quota{maxUser: maxUser, maxTotal: maxTotal, perUser: make(map[string]int)}
}

// allows reports whether user may allocate one more relay now.
func (q *quota) allows(user string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total < q.maxTotal && (user == "" || q.perUser[user] < q.maxUser)
}

// take counts one allocation of user (none for "", which pion uses when it
// probes for a free even port) and returns the function that gives it back.
func (q *quota) take(user string) (release func(), err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.total >= q.maxTotal {
		return nil, fmt.Errorf("%w: %d allocations in total", errQuota, q.maxTotal)
	}
	if user != "" && q.perUser[user] >= q.maxUser {
		return nil, fmt.Errorf("%w: %d allocations for %q", errQuota, q.maxUser, user)
	}
	q.total++
	if user != "" {
		q.perUser[user]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			q.total--
			if user != "" {
				if q.perUser[user]--; q.perUser[user] <= 0 {
					delete(q.perUser, user)
				}
			}
		})
	}, nil
}

// count returns the allocations held in total and by user.
func (q *quota) count(user string) (total, byUser int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total, q.perUser[user]
}

// relayGenerator opens the relay sockets: in the configured port range
// (pion's RelayAddressGeneratorPortRange), counted by the quota.
type relayGenerator struct {
	*pionturn.RelayAddressGeneratorPortRange
	quota *quota
}

func (g *relayGenerator) checkPort(port int) error {
	if port != 0 && (port < int(g.MinPort) || port > int(g.MaxPort)) {
		// A client can ask for a port (RESERVATION-TOKEN of an EVEN-PORT
		// pair); the range holds all the same.
		return fmt.Errorf("requested relay port %d outside %d-%d", port, g.MinPort, g.MaxPort)
	}
	return nil
}

// AllocatePacketConn opens a UDP relay socket.
func (g *relayGenerator) AllocatePacketConn(c pionturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if err := g.checkPort(c.RequestedPort); err != nil {
		return nil, nil, err
	}
	release, err := g.quota.take(c.UserID)
	if err != nil {
		return nil, nil, err
	}
	conn, addr, err := g.RelayAddressGeneratorPortRange.AllocatePacketConn(c)
	if err != nil {
		release()
		return nil, nil, err
	}
	return &countedPacketConn{PacketConn: conn, release: release}, addr, nil
}

// AllocateListener opens a TCP relay listener (RFC 6062 allocations).
func (g *relayGenerator) AllocateListener(c pionturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	if err := g.checkPort(c.RequestedPort); err != nil {
		return nil, nil, err
	}
	release, err := g.quota.take(c.UserID)
	if err != nil {
		return nil, nil, err
	}
	ln, addr, err := g.RelayAddressGeneratorPortRange.AllocateListener(c)
	if err != nil {
		release()
		return nil, nil, err
	}
	return &countedListener{Listener: ln, release: release}, addr, nil
}

type countedPacketConn struct {
	net.PacketConn
	release func()
}

func (c *countedPacketConn) Close() error {
	c.release()
	return c.PacketConn.Close()
}

type countedListener struct {
	net.Listener
	release func()
}

func (l *countedListener) Close() error {
	l.release()
	return l.Listener.Close()
}

// trackingListener remembers the connections it accepted, so that closing
// it closes them too: pion/turn serves each TCP or TLS client on its own
// goroutine, which would otherwise outlive the server until the client
// hangs up.
type trackingListener struct {
	net.Listener

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newTrackingListener(l net.Listener) *trackingListener {
	return &trackingListener{Listener: l, conns: make(map[*trackedConn]struct{})}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	l.conns[tc] = struct{}{}
	return tc, nil
}

// Close stops accepting and closes every accepted connection.
func (l *trackingListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
	return err
}

type trackedConn struct {
	net.Conn
	l *trackingListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
