package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	pionturn "github.com/pion/turn/v5"

	"parley/access"
)

var errQuota = errors.New("relay allocation quota reached")

// DefaultUnusedLife is how long an allocation may live without a
// permission (see Config.UnusedLife).
const DefaultUnusedLife = 30 * time.Second

// owner is whom an allocation is counted against: the participant that
// its credentials name ("" for a username that names none) and the
// client's address as access.ClientKey counts it (an IPv6 client by its
// /64), taken from the source of the 5-tuple.
type owner struct {
	client      netip.Addr // invalid for pion's probes for a free port
	participant string
}

// newOwner returns the owner of a request from src with credentials for
// participant.
func newOwner(src net.Addr, participant string) owner {
	var ip netip.Addr
	switch a := src.(type) {
	case *net.UDPAddr:
		ip = a.AddrPort().Addr()
	case *net.TCPAddr:
		ip = a.AddrPort().Addr()
	default:
		if ap, err := netip.ParseAddrPort(src.String()); err == nil {
			ip = ap.Addr()
		}
	}
	if ip.IsValid() {
		ip = access.ClientKey(ip)
	}
	return owner{client: ip, participant: participant}
}

// userID is the user id that the AuthHandler hands to pion. Pion tells
// the relay generator nothing of an allocation but that string, so it
// carries both halves: "<client> <participant>" (an IP address has no
// space in it), "-" for no client. Pion compares it on every later
// request of the allocation, which comes from the same address.
func (o owner) userID() string {
	client := "-"
	if o.client.IsValid() {
		client = o.client.String()
	}
	return client + " " + o.participant
}

// parseUserID reverses userID. Pion's own probes for a free port have the
// user id "", the owner with no client and no participant.
func parseUserID(id string) owner {
	client, participant, ok := strings.Cut(id, " ")
	if !ok {
		return owner{}
	}
	if client == "-" {
		return owner{participant: participant}
	}
	ip, err := netip.ParseAddr(client)
	if err != nil {
		return owner{}
	}
	return owner{client: ip, participant: participant}
}

// allocations counts the relay allocations, per participant, per client
// address and in total, and keeps each open relay socket so that the
// server can close it: when its participant has left (closeParticipant),
// or when no permission came within the unused life (see used).
//
// pion/turn asks its QuotaHandler before it allocates, but tells nothing
// when an allocation fails afterwards, so counting there would leak. The
// count is kept by the relay sockets instead: relayGenerator takes a unit
// when it opens one and the socket gives it back when it closes, which is
// exactly the allocation's life. The QuotaHandler only reads the count, so
// that a client over its quota gets the proper 486 answer. Closing a relay
// socket ends its allocation: pion's read loop on it fails and deletes the
// allocation, so a later Refresh of it gets 437.
type allocations struct {
	maxUser, maxClient, maxTotal int
	unusedLife                   time.Duration
	log                          *slog.Logger

	mu        sync.Mutex
	total     int
	perUser   map[string]int
	perClient map[netip.Addr]int
	relays    map[string]*relay // by relayKey
}

// relay is one open relay socket (UDP socket or TCP listener).
type relay struct {
	owner   owner
	counted bool        // in the counts (not the server's own self-test)
	key     string      // relayKey of its address
	close   func()      // closes the socket, and so the allocation
	unused  *time.Timer // closes it unless a permission comes; nil once one came
}

func newAllocations(maxUser, maxClient, maxTotal int, unusedLife time.Duration, log *slog.Logger) *allocations {
	return &allocations{
		maxUser: maxUser, maxClient: maxClient, maxTotal: maxTotal, unusedLife: unusedLife, log: log,
		perUser: make(map[string]int), perClient: make(map[netip.Addr]int), relays: make(map[string]*relay),
	}
}

// relayKey names a relay address, UDP and TCP apart.
func relayKey(a net.Addr) string { return a.Network() + " " + a.String() }

// overLocked returns why o may not allocate one more relay now, or nil.
// Called locked.
func (q *allocations) overLocked(o owner) error {
	switch {
	case q.total >= q.maxTotal:
		return fmt.Errorf("%w: %d allocations in total", errQuota, q.maxTotal)
	case o.participant != "" && q.perUser[o.participant] >= q.maxUser:
		return fmt.Errorf("%w: %d allocations for %q", errQuota, q.maxUser, o.participant)
	case o.client.IsValid() && q.perClient[o.client] >= q.maxClient:
		return fmt.Errorf("%w: %d allocations from %s", errQuota, q.maxClient, o.client)
	}
	return nil
}

// allows reports whether o may allocate one more relay now.
func (q *allocations) allows(o owner) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.overLocked(o) == nil
}

// take counts one allocation of o. A participant of "" is not counted per
// participant (the username named none: the operator's tools, which hold
// the secret), nor a client that is not valid (pion's port probes). The
// server's own start-up self-test is not counted at all: its relay lives
// a moment and must not take a client's place.
func (q *allocations) take(o owner) (*relay, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if o.participant == selfTestParticipant {
		return &relay{owner: o}, nil
	}
	if err := q.overLocked(o); err != nil {
		return nil, err
	}
	q.total++
	if o.participant != "" {
		q.perUser[o.participant]++
	}
	if o.client.IsValid() {
		q.perClient[o.client]++
	}
	return &relay{owner: o, counted: true}, nil
}

// track registers the socket of r, open at addr, which close closes; unless
// used is called for addr within the unused life, close is called then.
func (q *allocations) track(r *relay, addr net.Addr, close func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r.key, r.close = relayKey(addr), close
	q.relays[r.key] = r
	r.unused = time.AfterFunc(q.unusedLife, func() {
		q.log.Debug("turn: closing an allocation that got no permission", "relay", addr,
			"participant", r.owner.participant, "client", r.owner.client, "after", q.unusedLife)
		close()
	})
}

// used notes that the relay at addr got a permission (CreatePermission,
// ChannelBind or Connect): it lives on.
func (q *allocations) used(addr net.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r := q.relays[relayKey(addr)]; r != nil && r.unused != nil {
		r.unused.Stop()
		r.unused = nil
	}
}

// release gives back what take counted for r. The socket calls it once,
// when it closes.
func (q *allocations) release(r *relay) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r.counted {
		q.total--
		if p := r.owner.participant; p != "" {
			if q.perUser[p]--; q.perUser[p] <= 0 {
				delete(q.perUser, p)
			}
		}
		if c := r.owner.client; c.IsValid() {
			if q.perClient[c]--; q.perClient[c] <= 0 {
				delete(q.perClient, c)
			}
		}
	}
	if r.key != "" && q.relays[r.key] == r {
		delete(q.relays, r.key)
	}
	if r.unused != nil {
		r.unused.Stop()
		r.unused = nil
	}
}

// participants returns the participants that hold allocations now.
func (q *allocations) participants() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]string, 0, len(q.perUser))
	for p := range q.perUser {
		out = append(out, p)
	}
	return out
}

// closeParticipant closes every allocation of participant and returns how
// many it closed.
func (q *allocations) closeParticipant(participant string) int {
	q.mu.Lock()
	var closers []func()
	for _, r := range q.relays {
		if r.owner.participant == participant {
			closers = append(closers, r.close)
		}
	}
	q.mu.Unlock()
	for _, c := range closers {
		c()
	}
	return len(closers)
}

// count returns the allocations held in total, by participant and from
// client.
func (q *allocations) count(participant string, client netip.Addr) (total, byUser, byClient int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total, q.perUser[participant], q.perClient[client]
}

// relayGenerator opens the relay sockets: in the configured port range
// (pion's RelayAddressGeneratorPortRange), counted and tracked by allocs.
type relayGenerator struct {
	*pionturn.RelayAddressGeneratorPortRange
	allocs *allocations
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
	r, err := g.allocs.take(parseUserID(c.UserID))
	if err != nil {
		return nil, nil, err
	}
	conn, addr, err := g.RelayAddressGeneratorPortRange.AllocatePacketConn(c)
	if err != nil {
		g.allocs.release(r)
		return nil, nil, err
	}
	pc := &countedPacketConn{PacketConn: conn}
	pc.release = func() { g.allocs.release(r) }
	g.allocs.track(r, addr, func() { _ = pc.Close() })
	return pc, addr, nil
}

// AllocateListener opens a TCP relay listener (RFC 6062 allocations).
func (g *relayGenerator) AllocateListener(c pionturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	if err := g.checkPort(c.RequestedPort); err != nil {
		return nil, nil, err
	}
	r, err := g.allocs.take(parseUserID(c.UserID))
	if err != nil {
		return nil, nil, err
	}
	ln, addr, err := g.RelayAddressGeneratorPortRange.AllocateListener(c)
	if err != nil {
		g.allocs.release(r)
		return nil, nil, err
	}
	cl := &countedListener{Listener: ln}
	cl.release = func() { g.allocs.release(r) }
	g.allocs.track(r, addr, func() { _ = cl.Close() })
	return cl, addr, nil
}

// AllocateConn opens the TCP connection of a Connect request (RFC 6062),
// which pion lets through only with a permission for the peer: the
// allocation is in use.
func (g *relayGenerator) AllocateConn(c pionturn.AllocateConnConfig) (net.Conn, error) {
	if c.LocalAddr != nil {
		g.allocs.used(c.LocalAddr)
	}
	return g.RelayAddressGeneratorPortRange.AllocateConn(c)
}

// countedPacketConn is a relay socket that gives back its place in the
// counts when it closes. Close may be called more than once (by the server
// that ends the allocation, then by pion that deletes it); the first call
// closes.
type countedPacketConn struct {
	net.PacketConn
	release func()
	once    sync.Once
}

func (c *countedPacketConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		c.release()
		err = c.PacketConn.Close()
	})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// countedListener is countedPacketConn for a TCP relay listener.
type countedListener struct {
	net.Listener
	release func()
	once    sync.Once
}

func (l *countedListener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		l.release()
		err = l.Listener.Close()
	})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
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
