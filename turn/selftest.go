package turn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v5"
)

// selfTestTimeout bounds the start-up self-test.
const selfTestTimeout = 10 * time.Second

// runSelfTest runs SelfTest once at start-up and logs what it found.
func (s *Server) runSelfTest(ctx context.Context) {
	result, err := s.SelfTest(ctx)
	switch {
	case ctx.Err() != nil:
		// Closed while testing: nothing to report.
	case err != nil:
		s.log.Warn("turn: self-test failed: the relay does not work", "err", err)
	default:
		s.log.Info("turn: self-test ok: "+result, "relay_ip", s.relayIP)
	}
}

// SelfTest checks the relay through the server's own UDP port, as a client
// would: it gets credentials and allocates a relay with a pion/turn client.
// Then it sends a packet through the relay to a local UDP socket and one
// back, if the relay policy allows a local address for that socket (see
// selfTestPeer). When it allows none, as for loopback unless allowlisted,
// only the allocation is tested. It returns what it checked. It gives up
// after 10 seconds.
func (s *Server) SelfTest(ctx context.Context) (string, error) {
	if s.udp == nil {
		return "", errors.New("the TURN server is disabled")
	}
	ctx, cancel := context.WithTimeout(ctx, selfTestTimeout)
	defer cancel()
	server := s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
	ip := server.Addr().Unmap()
	network := "udp4"
	if ip.Is6() {
		network = "udp6"
	}
	listensEverywhere := ip.IsUnspecified()
	if listensEverywhere {
		if network == "udp4" {
			ip = netip.MustParseAddr("127.0.0.1")
		} else {
			ip = netip.IPv6Loopback()
		}
	}
	server = netip.AddrPortFrom(ip, server.Port())

	conn, err := net.ListenPacket(network, netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		return "", fmt.Errorf("client socket: %w", err)
	}
	defer conn.Close()
	user, pass := s.Credentials().Mint(selfTestParticipant, time.Now())
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	client, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: server.String(),
		TURNServerAddr: server.String(),
		Conn:           conn,
		Username:       user,
		Password:       pass,
		Realm:          s.cfg.Realm,
		LoggerFactory:  quiet,
	})
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	defer client.Close()
	// Closing the socket ends the client's read loop and any transaction
	// that waits, so that a cancelled test returns at once.
	stop := context.AfterFunc(ctx, func() { client.Close(); _ = conn.Close() })
	defer stop()
	if err := client.Listen(); err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	relay, err := client.AllocateWithContext(ctx)
	if err != nil {
		return "", fmt.Errorf("allocate a relay at %s: %w", server, err)
	}
	defer relay.Close()

	peerIP, refused := s.selfTestPeer(server.Addr(), listensEverywhere)
	if !peerIP.IsValid() {
		return fmt.Sprintf("allocated relay %s; no packet sent: the relay policy refuses %s; add one to turn.allow_peers to test it",
			relay.LocalAddr(), refused), nil
	}

	peer, err := net.ListenPacket(network, netip.AddrPortFrom(peerIP, 0).String())
	if err != nil {
		return "", fmt.Errorf("peer socket: %w", err)
	}
	defer peer.Close()
	stopPeer := context.AfterFunc(ctx, func() { _ = peer.Close(); _ = relay.Close() })
	defer stopPeer()

	start := time.Now()
	ping := []byte("parley turn self-test " + start.Format(time.RFC3339Nano))
	// The first packet may be lost while the permission is being created:
	// send until one arrives.
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := relay.WriteTo(ping, peer.LocalAddr()); err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() {
		// Closing the client ends a WriteTo that waits for a transaction.
		_ = relay.Close()
		client.Close()
		_ = conn.Close()
		<-sent
	}()

	buf := make([]byte, 1500)
	var from net.Addr
	for {
		n, addr, err := peer.ReadFrom(buf)
		if err != nil {
			return "", fmt.Errorf("relay %s to %s: no packet arrived: %w", relay.LocalAddr(), peer.LocalAddr(), errors.Join(ctx.Err(), err))
		}
		if bytes.Equal(buf[:n], ping) {
			from = addr
			break
		}
	}
	if _, err := peer.WriteTo(ping, from); err != nil {
		return "", fmt.Errorf("peer %s to relay %s: %w", peer.LocalAddr(), from, err)
	}
	for {
		n, _, err := relay.ReadFrom(buf)
		if err != nil {
			return "", fmt.Errorf("peer %s to relay %s: no packet came back: %w", peer.LocalAddr(), relay.LocalAddr(), errors.Join(ctx.Err(), err))
		}
		if bytes.Equal(buf[:n], ping) {
			break
		}
	}
	return fmt.Sprintf("relayed a packet both ways between relay %s and peer %s in %v",
		relay.LocalAddr(), peer.LocalAddr(), time.Since(start).Round(time.Millisecond)), nil
}

// selfTestPeer picks the address of the self-test's peer socket: the first
// local address that the relay policy allows. When the server listens on one
// address, its relay sockets are bound there too, so only that address is
// tried. When it listens on every interface they are tried in turn: the
// relay address if it is local, the host's global addresses, then loopback.
// Without a choice it returns the refused addresses, with the reasons.
func (s *Server) selfTestPeer(server netip.Addr, listensEverywhere bool) (netip.Addr, string) {
	cands := []netip.Addr{server}
	if listensEverywhere {
		cands = nil
		var globals []netip.Addr
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				pfx, err := netip.ParsePrefix(a.String())
				if err != nil {
					continue
				}
				ip := pfx.Addr().Unmap()
				switch {
				case ip.Is4() != server.Is4():
				case ip == s.relayIP:
					cands = append(cands, ip)
				case ip.IsGlobalUnicast():
					globals = append(globals, ip)
				}
			}
		}
		cands = append(append(cands, globals...), server)
	}
	var refused []string
	for _, ip := range cands {
		why := s.policy.Refusal(ip)
		if why == "" {
			return ip, ""
		}
		refused = append(refused, ip.String()+" ("+why+")")
	}
	return netip.Addr{}, strings.Join(refused, ", ")
}
