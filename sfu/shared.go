package sfu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// What Pion would make again for every PeerConnection, and the Engine
// makes once for all of them: at a thousand subscribers, each copy costs
// a few kilobytes per connection for the connection's lifetime.

// sharedLoggers hands out one logger per scope. Pion asks its factory
// for a logger per scope of every PeerConnection (ICE, DTLS, SRTP, the
// connection itself...), and the default factory makes five log.Loggers
// for each: one per level.
type sharedLoggers struct {
	inner logging.LoggerFactory
	mu    sync.Mutex
	made  map[string]logging.LeveledLogger
}

func newSharedLoggers(inner logging.LoggerFactory) *sharedLoggers {
	return &sharedLoggers{inner: inner, made: map[string]logging.LeveledLogger{}}
}

func (s *sharedLoggers) NewLogger(scope string) logging.LeveledLogger {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.made[scope]
	if !ok {
		l = s.inner.NewLogger(scope)
		s.made[scope] = l
	}
	return l
}

// interfacesTTL is how long the host's interface list is trusted before
// it is read again: an address that comes or goes is seen by the
// connections made after that.
const interfacesTTL = time.Minute

// hostNet is the host's network for every ICE agent. Without it each
// agent reads the interface list (every interface and its addresses,
// from the kernel) and keeps its own copy for its lifetime; here they
// share one, read at most once per interfacesTTL.
type hostNet struct {
	transport.Net // the list when the engine started: for dialing and listening

	mu  sync.Mutex
	cur *stdnet.Net
	at  time.Time
}

func newHostNet() (*hostNet, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &hostNet{Net: n, cur: n, at: time.Now()}, nil
}

// current is the latest interface list, read again when it is stale. A
// new list is a new stdnet.Net: the agents holding the old one keep a
// consistent list.
func (n *hostNet) current() *stdnet.Net {
	n.mu.Lock()
	defer n.mu.Unlock()
	if time.Since(n.at) >= interfacesTTL {
		if fresh, err := stdnet.NewNet(); err == nil {
			n.cur = fresh
		}
		n.at = time.Now() // on an error, the old list until the next try
	}
	return n.cur
}

func (n *hostNet) Interfaces() ([]*transport.Interface, error) {
	return n.current().Interfaces()
}

func (n *hostNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	return n.current().InterfaceByIndex(index)
}

func (n *hostNet) InterfaceByName(name string) (*transport.Interface, error) {
	return n.current().InterfaceByName(name)
}

// certRenewBefore: the shared DTLS certificate is replaced when it has
// less than this left (Pion makes them for 30 days, and refuses an
// expired one).
const certRenewBefore = 24 * time.Hour

// dtlsCert is the DTLS certificate of every PeerConnection, made once
// rather than with a new key for each (as browsers do, one per origin):
// the peers check its fingerprint, given in the SDP, and the keys of
// each connection's SRTP come from its own DTLS handshake.
type dtlsCert struct {
	mu   sync.Mutex
	cert *webrtc.Certificate
}

// get is the certificate, made or renewed first if needed.
func (d *dtlsCert) get(now time.Time) (webrtc.Certificate, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cert == nil || d.cert.Expires().Sub(now) < certRenewBefore {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return webrtc.Certificate{}, err
		}
		cert, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return webrtc.Certificate{}, err
		}
		d.cert = cert
	}
	return *d.cert, nil
}
