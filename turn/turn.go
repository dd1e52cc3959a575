// Package turn owns parley's embedded TURN server (pion/turn): its
// listeners (UDP and TCP on one port, TLS on another when a certificate is
// configured), the ephemeral credentials of the TURN REST API that
// participants get when they join, the relay policy that keeps the relay
// out of the operator's own networks (on package netpolicy), the
// allocation quotas (per participant, per client address, in total), the
// end of allocations that get no permission or whose participant has
// left, and a start-up self-test. It also builds the list of ICE servers
// handed to a participant: the built-in server first, then any external
// ones from the configuration (such as a coturn sharing the secret).
//
// It does not decide who gets credentials: the signaling package asks for
// them only for participants that joined a room, and tells through
// Config.Present who is still in one. It does not touch the SFU either; to
// the relay, the SFU is just a peer.
package turn

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	pionturn "github.com/pion/turn/v5"

	"parley/configs"
)

// Config is what New needs.
type Config struct {
	configs.TURN
	// DataDir is the folder that keeps the generated secret (SecretFile)
	// when TURN.Secret is "".
	DataDir string
	// Present reports whether a participant is in a room now; nil means
	// that every participant is. Credentials that name a participant who
	// is not are refused (on every request: Allocate, Refresh,
	// CreatePermission, ChannelBind, Connect), and its allocations are
	// closed, so that credentials handed out at a join stop working at
	// the leave instead of at their expiry hours later.
	Present func(participantID string) bool
	// PresenceInterval is how often the server looks for allocations of
	// participants who have left, to close them; 0 means 10 seconds.
	PresenceInterval time.Duration
	// UnusedLife is how long an allocation may live without a permission
	// (CreatePermission, ChannelBind or Connect) before it is closed; 0
	// means DefaultUnusedLife. A client that allocates only to hold relay
	// ports gets them for this long, not for the allocation's lifetime.
	UnusedLife time.Duration
}

// defaultPresenceInterval is Config.PresenceInterval's default.
const defaultPresenceInterval = 10 * time.Second

// selfTestParticipant names the self-test's credentials, which are the
// server's own and belong to no room.
const selfTestParticipant = "self-test"

// ICEServer is an entry of a client's RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// Server is the embedded TURN server, or, when it is disabled, only the list
// of external ICE servers.
type Server struct {
	cfg     configs.TURN
	log     *slog.Logger
	dataDir string
	credsMu sync.RWMutex
	creds   Credentials // under credsMu: RotateSecret replaces it
	policy  Policy
	allocs  *allocations
	present func(participantID string) bool // nil: everyone

	turn    *pionturn.Server // nil when disabled
	udp     net.PacketConn
	tcp     net.Listener
	tls     net.Listener // nil without TLS
	urls    []string     // of the built-in server: udp, tcp, then turns
	relayIP netip.Addr   // advertised relay address

	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// New starts the TURN server when cfg.Enabled: it opens the listeners (so
// that a port in use is reported at once) and runs the self-test in the
// background, logging its result. The secret is cfg.Secret or, when that is
// "", the one kept in cfg.DataDir (generated on first start); it is needed
// only when the server is enabled or an external server uses it.
//
// Port (and TLSPort) 0 picks a free port, the same for UDP and TCP; tests
// use it.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	unused := cfg.UnusedLife
	if unused <= 0 {
		unused = DefaultUnusedLife
	}
	s := &Server{cfg: cfg.TURN, log: log, present: cfg.Present, dataDir: cfg.DataDir,
		allocs: newAllocations(cfg.MaxAllocationsPerUser, cfg.MaxAllocationsPerIP, cfg.MaxAllocations, unused, log)}
	needSecret := cfg.Enabled || slices.ContainsFunc(cfg.External, func(e configs.ICEServer) bool { return e.UseSecret })
	if needSecret {
		secret, err := loadSecret(cfg.Secret, cfg.DataDir, log)
		if err != nil {
			return nil, err
		}
		s.creds = NewCredentials(secret, cfg.TTL.D())
	}
	if !cfg.Enabled {
		return s, nil
	}
	var err error
	if s.policy, err = NewPolicy(cfg.AllowPeers); err != nil {
		return nil, err
	}
	if err := s.start(cfg); err != nil {
		s.closeListeners()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Go(func() { s.runSelfTest(ctx) })
	if s.present != nil {
		every := cfg.PresenceInterval
		if every <= 0 {
			every = defaultPresenceInterval
		}
		s.wg.Go(func() { s.closeDeparted(ctx, every) })
	}
	return s, nil
}

func (s *Server) start(cfg Config) error {
	listen, err := netip.ParseAddr(cfg.ListenIP)
	if err != nil {
		return fmt.Errorf("listen_ip: %w", err)
	}
	listen = listen.Unmap()
	s.relayIP = listen
	if cfg.PublicIP != "" {
		if s.relayIP, err = netip.ParseAddr(cfg.PublicIP); err != nil {
			return fmt.Errorf("public_ip: %w", err)
		}
	}
	if s.relayIP.IsUnspecified() {
		return fmt.Errorf("listen_ip is %s: set public_ip, the relay address clients are told to use", listen)
	}
	if cfg.RelayPortMin < 1 || cfg.RelayPortMax > 65535 || cfg.RelayPortMin > cfg.RelayPortMax {
		return fmt.Errorf("bad relay port range %d-%d", cfg.RelayPortMin, cfg.RelayPortMax)
	}
	if cfg.MaxAllocations < 1 || cfg.MaxAllocationsPerUser < 1 || cfg.MaxAllocationsPerIP < 1 {
		return fmt.Errorf("allocation caps must be at least 1, got %d, %d per user and %d per IP",
			cfg.MaxAllocations, cfg.MaxAllocationsPerUser, cfg.MaxAllocationsPerIP)
	}

	// The listeners' address family decides the family of the relays that
	// clients get by default, so name it: "udp" on 0.0.0.0 would be a
	// dual-stack socket reporting [::].
	udpNet, tcpNet := "udp4", "tcp4"
	if listen.Is6() {
		udpNet, tcpNet = "udp6", "tcp6"
	}
	udp, tcp, err := listenPair(udpNet, tcpNet, listen, cfg.Port)
	if err != nil {
		return err
	}
	s.udp, s.tcp = udp, newTrackingListener(tcp)

	var tlsCfg *tls.Config
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls_cert, tls_key: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln, err := net.Listen(tcpNet, netip.AddrPortFrom(listen, uint16(cfg.TLSPort)).String())
		if err != nil {
			return fmt.Errorf("listen TLS: %w", err)
		}
		s.tls = tls.NewListener(newTrackingListener(ln), tlsCfg)
	}

	generator := func() *relayGenerator {
		return &relayGenerator{
			RelayAddressGeneratorPortRange: &pionturn.RelayAddressGeneratorPortRange{
				RelayAddress: net.IP(s.relayIP.AsSlice()),
				Address:      listen.String(),
				MinPort:      uint16(cfg.RelayPortMin),
				MaxPort:      uint16(cfg.RelayPortMax),
				MaxRetries:   30,
			},
			allocs: s.allocs,
		}
	}
	permit := func(_ net.Addr, peer net.IP) bool {
		if ok := s.policy.permit(peer); !ok {
			ip, _ := netip.AddrFromSlice(peer)
			s.log.Debug("turn: relay refused", "peer", ip.Unmap(), "class", s.policy.Refusal(ip))
			return false
		}
		return true
	}
	// A permission or a channel (which makes one) puts an allocation to
	// use; Connect does too (relayGenerator.AllocateConn).
	events := pionturn.EventHandler{
		OnPermissionCreated: func(_, _ net.Addr, _, _, _ string, relay net.Addr, _ net.IP) { s.allocs.used(relay) },
		OnChannelCreated:    func(_, _ net.Addr, _, _, _ string, relay, _ net.Addr, _ uint16) { s.allocs.used(relay) },
	}
	listeners := []pionturn.ListenerConfig{{Listener: s.tcp, RelayAddressGenerator: generator(), PermissionHandler: permit}}
	if s.tls != nil {
		listeners = append(listeners, pionturn.ListenerConfig{Listener: s.tls, RelayAddressGenerator: generator(), PermissionHandler: permit})
	}
	s.turn, err = pionturn.NewServer(pionturn.ServerConfig{
		PacketConnConfigs: []pionturn.PacketConnConfig{{PacketConn: s.udp, RelayAddressGenerator: generator(), PermissionHandler: permit}},
		ListenerConfigs:   listeners,
		LoggerFactory:     pionLogs{s.log},
		Realm:             cfg.Realm,
		AuthHandler:       s.authenticate,
		QuotaHandler:      func(user, _ string, _ net.Addr) bool { return s.allocs.allows(parseUserID(user)) },
		EventHandler:      events,
	})
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}

	host := cfg.Host
	if host == "" {
		host = s.relayIP.String()
	}
	port := strconv.Itoa(s.udp.LocalAddr().(*net.UDPAddr).Port)
	s.urls = []string{
		"turn:" + net.JoinHostPort(host, port) + "?transport=udp",
		"turn:" + net.JoinHostPort(host, port) + "?transport=tcp",
	}
	attrs := []any{"udp", s.udp.LocalAddr(), "tcp", s.tcp.Addr(), "relay_ip", s.relayIP,
		"relay_ports", fmt.Sprintf("%d-%d", cfg.RelayPortMin, cfg.RelayPortMax)}
	if s.tls != nil {
		tlsPort := strconv.Itoa(s.tls.Addr().(*net.TCPAddr).Port)
		s.urls = append(s.urls, "turns:"+net.JoinHostPort(host, tlsPort)+"?transport=tcp")
		attrs = append(attrs, "tls", s.tls.Addr())
	}
	s.log.Info("turn: listening", attrs...)
	return nil
}

// listenPair opens UDP and TCP on the same port of ip; port 0 picks one
// that is free for both.
func listenPair(udpNet, tcpNet string, ip netip.Addr, port int) (net.PacketConn, net.Listener, error) {
	for try := 0; ; try++ {
		udp, err := net.ListenPacket(udpNet, netip.AddrPortFrom(ip, uint16(port)).String())
		if err != nil {
			return nil, nil, fmt.Errorf("listen UDP: %w (is another TURN server running? change turn.port, or set turn.enabled = false)", err)
		}
		got := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen(tcpNet, netip.AddrPortFrom(ip, uint16(got)).String())
		if err == nil {
			return udp, tcp, nil
		}
		_ = udp.Close()
		if port != 0 || try == 20 {
			return nil, nil, fmt.Errorf("listen TCP: %w (is another TURN server running? change turn.port, or set turn.enabled = false)", err)
		}
	}
}

// authenticate is the pion/turn AuthHandler, called for every request
// that needs credentials. It returns the user id, which names the
// participant and the client's address (see owner.userID), and the
// long-term key MD5(username:realm:password) that checks the request's
// MESSAGE-INTEGRITY. The credentials of a participant who has left are
// refused, and its allocations closed.
func (s *Server) authenticate(ra *pionturn.RequestAttributes) (string, []byte, bool) {
	if ra.Realm != s.cfg.Realm {
		s.log.Debug("turn: refused credentials", "username", ra.Username, "from", ra.SrcAddr, "err", "wrong realm "+strconv.Quote(ra.Realm))
		return "", nil, false
	}
	participant, password, err := s.Credentials().valid(ra.Username, time.Now())
	if err != nil {
		s.log.Debug("turn: refused credentials", "username", ra.Username, "from", ra.SrcAddr, "err", err)
		return "", nil, false
	}
	if !s.isPresent(participant) {
		s.log.Debug("turn: refused credentials", "username", ra.Username, "from", ra.SrcAddr, "err", "the participant has left")
		if n := s.allocs.closeParticipant(participant); n > 0 {
			s.log.Debug("turn: closed the allocations of a participant who left", "participant", participant, "allocations", n)
		}
		return "", nil, false
	}
	o := newOwner(ra.SrcAddr, participant)
	if participant == selfTestParticipant {
		o.client = netip.Addr{} // the server's own check takes no client's place
	}
	return o.userID(), pionturn.GenerateAuthKey(ra.Username, ra.Realm, password), true
}

// isPresent reports whether credentials for participant are still good:
// the participant is in a room, or the credentials are not a
// participant's (a username that names none, the self-test's).
func (s *Server) isPresent(participant string) bool {
	return s.present == nil || participant == "" || participant == selfTestParticipant || s.present(participant)
}

// closeDeparted closes, every interval until ctx ends, the allocations of
// participants who have left, which would otherwise live until the client
// stops refreshing them.
func (s *Server) closeDeparted(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range s.allocs.participants() {
			if s.isPresent(p) {
				continue
			}
			if n := s.allocs.closeParticipant(p); n > 0 {
				s.log.Debug("turn: closed the allocations of a participant who left", "participant", p, "allocations", n)
			}
		}
	}
}

// ICEServers returns the ICE servers for a participant that joined a
// room: the built-in server (turn: over UDP, turn: over TCP, then turns:
// when TLS is on) with credentials minted for it, then the external
// servers, with credentials minted the same way for those with use_secret.
func (s *Server) ICEServers(participant string) []ICEServer {
	now := time.Now()
	creds := s.Credentials()
	out := make([]ICEServer, 0, 1+len(s.cfg.External))
	if len(s.urls) > 0 {
		u, p := creds.Mint(participant, now)
		out = append(out, ICEServer{URLs: slices.Clone(s.urls), Username: u, Credential: p})
	}
	for _, e := range s.cfg.External {
		ice := ICEServer{URLs: slices.Clone(e.URLs), Username: e.Username, Credential: e.Credential}
		if e.UseSecret {
			ice.Username, ice.Credential = creds.Mint(participant, now)
		}
		out = append(out, ice)
	}
	return out
}

// Credentials are the server's credentials: the shared secret and the TTL.
func (s *Server) Credentials() Credentials {
	s.credsMu.RLock()
	defer s.credsMu.RUnlock()
	return s.creds
}

// RotateSecret makes configured (or, when it is "", the secret kept in
// the data folder) the secret of the credentials minted from now on; the
// ones handed out before keep working until they expire (see
// Credentials.Rotate). An external TURN server that shares the secret
// (use_secret) must be given both for as long. It reports whether the
// secret changed.
func (s *Server) RotateSecret(configured string) (bool, error) {
	secret, err := loadSecret(configured, s.dataDir, s.log)
	if err != nil {
		return false, err
	}
	s.credsMu.Lock()
	defer s.credsMu.Unlock()
	if string(s.creds.secret) == secret || len(s.creds.secret) == 0 {
		return false, nil // the same, or no secret in use
	}
	s.creds = s.creds.Rotate(secret, time.Now())
	s.log.Info("turn: secret rotated; credentials handed out before stay good until they expire", "overlap", s.cfg.TTL.D())
	return true, nil
}

// UDPAddr is the TURN UDP socket's address (nil when disabled).
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// TCPAddr is the TURN TCP listener's address (nil when disabled).
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// TLSAddr is the TURN TLS listener's address (nil without TLS).
func (s *Server) TLSAddr() net.Addr {
	if s.tls == nil {
		return nil
	}
	return s.tls.Addr()
}

// Allocations returns the number of relay allocations held now.
func (s *Server) Allocations() int {
	total, _, _ := s.allocs.count("", netip.Addr{})
	return total
}

// Close stops the self-test, closes the listeners and every TCP and TLS
// connection; pion/turn then closes the allocations and their relay sockets.
// Later calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
		if s.turn != nil {
			s.closeErr = s.turn.Close()
		} else {
			s.closeListeners()
		}
	})
	return s.closeErr
}

// closeListeners closes what start opened, before pion/turn owns it.
func (s *Server) closeListeners() {
	if s.udp != nil {
		_ = s.udp.Close()
	}
	if s.tcp != nil {
		_ = s.tcp.Close()
	}
	if s.tls != nil {
		_ = s.tls.Close()
	}
}
