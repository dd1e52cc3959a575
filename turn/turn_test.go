package turn

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/leakcheck"
	"parley/internal/testcert"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v5"

	"parley/configs"
)

const testSecret = "test-secret-0123456789"

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig(t *testing.T) Config {
	t.Helper()
	c := configs.Default().TURN
	c.Port, c.TLSPort = 0, 0
	c.Secret = testSecret
	return Config{TURN: c, DataDir: t.TempDir()}
}

// startTURN starts a server on 127.0.0.1 and returns it with its log.
func startTURN(t *testing.T, mutate func(*Config)) (*Server, *syncBuffer) {
	t.Helper()
	cfg := testConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testLogSink()), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, logs
}

func testLogSink() io.Writer {
	if os.Getenv("PARLEY_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

// turnClient is a pion/turn client of s over UDP, TCP or TLS.
type turnClient struct {
	*pionturn.Client
	conn net.PacketConn
}

func dialTURN(t *testing.T, s *Server, transport, user, pass string) *turnClient {
	t.Helper()
	var (
		conn   net.PacketConn
		server string
		err    error
	)
	switch transport {
	case "udp":
		server = s.UDPAddr().String()
		conn, err = net.ListenPacket("udp4", "127.0.0.1:0")
	case "tcp":
		server = s.TCPAddr().String()
		var c net.Conn
		c, err = net.Dial("tcp4", server)
		if err == nil {
			conn = pionturn.NewSTUNConn(c)
		}
	case "tls":
		server = s.TLSAddr().String()
		var c net.Conn
		c, err = tls.Dial("tcp4", server, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a test certificate
		if err == nil {
			conn = pionturn.NewSTUNConn(c)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: user, Password: pass, Realm: "parley", LoggerFactory: quiet,
		RTO: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	tc := &turnClient{Client: c, conn: conn}
	t.Cleanup(tc.close)
	return tc
}

func (c *turnClient) close() {
	c.Close()
	_ = c.conn.Close()
}

func allocate(t *testing.T, c *turnClient) (net.PacketConn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	relay, err := c.AllocateWithContext(ctx)
	if err == nil {
		t.Cleanup(func() { _ = relay.Close() })
	}
	return relay, err
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSelfTest: with 127.0.0.1 allowlisted the self-test relays a packet
// both ways and logs it; without, it only allocates, and says why.
func TestSelfTest(t *testing.T) {
	s, logs := startTURN(t, func(c *Config) { c.AllowPeers = []string{"127.0.0.1"} })
	eventually(t, "the start-up self-test is logged", func() bool { return strings.Contains(logs.String(), "self-test") })
	if l := logs.String(); !strings.Contains(l, "turn: self-test ok: relayed a packet both ways") {
		t.Errorf("log:\n%s", l)
	}
	got, err := s.SelfTest(context.Background())
	if err != nil || !strings.Contains(got, "relayed a packet both ways") {
		t.Errorf("SelfTest = %q, %v", got, err)
	}
	eventually(t, "the self-test's allocations are gone", func() bool { return s.Allocations() == 0 })

	s2, logs2 := startTURN(t, nil)
	eventually(t, "the start-up self-test is logged", func() bool { return strings.Contains(logs2.String(), "self-test") })
	if l := logs2.String(); !strings.Contains(l, "turn: self-test ok: allocated relay 127.0.0.1:") ||
		!strings.Contains(l, "the relay policy refuses 127.0.0.1 (loopback") {
		t.Errorf("log:\n%s", l)
	}
	got, err = s2.SelfTest(context.Background())
	if err != nil || !strings.Contains(got, "no packet sent") {
		t.Errorf("SelfTest = %q, %v", got, err)
	}
}

// TestListenEverywhere: on 0.0.0.0 the server advertises public_ip, and
// the self-test reaches the server through loopback and picks a peer
// address the policy allows.
func TestListenEverywhere(t *testing.T) {
	s, _ := startTURN(t, func(c *Config) {
		c.ListenIP, c.PublicIP = "0.0.0.0", "127.0.0.1"
		c.AllowPeers = []string{"127.0.0.1"}
	})
	got, err := s.SelfTest(context.Background())
	if err != nil || !strings.Contains(got, "relayed a packet both ways between relay 127.0.0.1:") {
		t.Errorf("SelfTest = %q, %v", got, err)
	}
	if u := s.ICEServers("p")[0].URLs[0]; !strings.HasPrefix(u, "turn:127.0.0.1:") {
		t.Errorf("url %s", u)
	}
	if _, err := New(Config{TURN: func() configs.TURN { c := testConfig(t).TURN; c.ListenIP = "0.0.0.0"; return c }(), DataDir: t.TempDir()},
		slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "set public_ip") {
		t.Errorf("0.0.0.0 without public_ip: %v", err)
	}
}

// TestRelayPolicy: a relay toward 127.0.0.1 is refused without the
// allowlist and works with it; the refusal is logged at debug level.
func TestRelayPolicy(t *testing.T) {
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			s, logs := startTURN(t, func(c *Config) {
				if allow {
					c.AllowPeers = []string{"127.0.0.0/8"}
				}
			})
			user, pass := s.Credentials().Mint("p1", time.Now())
			c := dialTURN(t, s, "udp", user, pass)
			relay, err := allocate(t, c)
			if err != nil {
				t.Fatal(err)
			}
			if port := relay.LocalAddr().(*net.UDPAddr).Port; port < 49152 {
				t.Errorf("relay port %d outside the range", port)
			}
			err = c.CreatePermission(peer.LocalAddr())
			if !allow {
				if err == nil {
					t.Fatal("permission to 127.0.0.1 granted without the allowlist")
				}
				_, werr := relay.WriteTo([]byte("x"), peer.LocalAddr())
				if werr == nil {
					t.Error("WriteTo 127.0.0.1 succeeded without the allowlist")
				}
				if !strings.Contains(logs.String(), "turn: relay refused") || !strings.Contains(logs.String(), "class=loopback") {
					t.Errorf("no refusal logged:\n%s", logs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := relay.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 100)
			n, _, err := peer.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "hello" {
				t.Fatalf("peer got %q, %v", buf[:n], err)
			}
		})
	}
}

// TestAuth: wrong secret, expired, malformed, another realm: refused.
func TestAuth(t *testing.T) {
	s, _ := startTURN(t, nil)
	now := time.Now()
	good, goodPass := s.Credentials().Mint("p1", now)
	expired, expiredPass := NewCredentials(testSecret, -time.Minute).Mint("p1", now)
	_, wrongPass := NewCredentials("not-the-secret-000000", time.Hour).Mint("p1", now)
	cases := map[string][2]string{
		"wrong secret": {good, wrongPass},
		"expired":      {expired, expiredPass},
		"malformed":    {"p1", s.Credentials().Password("p1")},
		"tampered":     {strings.Replace(good, "p1", "p2", 1), goodPass},
	}
	for name, cred := range cases {
		t.Run(name, func(t *testing.T) {
			c := dialTURN(t, s, "udp", cred[0], cred[1])
			if _, err := allocate(t, c); err == nil {
				t.Fatal("allocation with bad credentials succeeded")
			}
		})
	}
	if _, err := allocate(t, dialTURN(t, s, "udp", good, goodPass)); err != nil {
		t.Fatalf("good credentials: %v", err)
	}
}

// TestQuotas: a participant may hold max_allocations_per_user relays, the
// server max_allocations; closing one frees its place.
func TestQuotas(t *testing.T) {
	s, _ := startTURN(t, func(c *Config) { c.MaxAllocationsPerUser, c.MaxAllocations = 2, 3 })
	mint := func(id string) *turnClient {
		u, p := s.Credentials().Mint(id, time.Now())
		return dialTURN(t, s, "udp", u, p)
	}
	var relays []net.PacketConn
	for i, id := range []string{"a", "a", "b"} {
		r, err := allocate(t, mint(id))
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		relays = append(relays, r)
	}
	if _, err := allocate(t, mint("a")); err == nil {
		t.Error("a third allocation for a succeeded")
	}
	if _, err := allocate(t, mint("c")); err == nil {
		t.Error("a fourth allocation in total succeeded")
	}
	if n := s.Allocations(); n != 3 {
		t.Errorf("Allocations() = %d, want 3", n)
	}
	_ = relays[0].Close()
	eventually(t, "the closed allocation is freed", func() bool { return s.Allocations() == 2 })
	if _, err := allocate(t, mint("a")); err != nil {
		t.Errorf("after closing one: %v", err)
	}
}

// TestTCPAndTLS: allocations over TURN-TCP and TURN-TLS, and the URLs of
// the built-in server in order: udp, tcp, turns.
func TestTCPAndTLS(t *testing.T) {
	certFile, keyFile, _ := testcert.Write(t, t.TempDir(), "turn.example.org", "turn.example.org")
	s, _ := startTURN(t, func(c *Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
		c.Host = "turn.example.org"
	})
	for _, transport := range []string{"tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			u, p := s.Credentials().Mint("p-"+transport, time.Now())
			if _, err := allocate(t, dialTURN(t, s, transport, u, p)); err != nil {
				t.Fatal(err)
			}
		})
	}
	ice := s.ICEServers("pX")
	port := s.UDPAddr().(*net.UDPAddr).Port
	tlsPort := s.TLSAddr().(*net.TCPAddr).Port
	want := []string{
		fmt.Sprintf("turn:turn.example.org:%d?transport=udp", port),
		fmt.Sprintf("turn:turn.example.org:%d?transport=tcp", port),
		fmt.Sprintf("turns:turn.example.org:%d?transport=tcp", tlsPort),
	}
	if len(ice) != 1 || !slices.Equal(ice[0].URLs, want) {
		t.Fatalf("ICEServers = %+v, want urls %v", ice, want)
	}
	if s.TCPAddr().(*net.TCPAddr).Port != port {
		t.Errorf("TCP port %v differs from UDP port %d", s.TCPAddr(), port)
	}
}

func TestICEServers(t *testing.T) {
	external := []configs.ICEServer{
		{URLs: []string{"turn:coturn.example.org:3478?transport=udp", "turns:coturn.example.org:5349?transport=tcp"}, UseSecret: true},
		{URLs: []string{"stun:stun.example.org"}},
		{URLs: []string{"turn:fixed.example.net"}, Username: "u", Credential: "c"},
	}
	s, _ := startTURN(t, func(c *Config) {
		c.External = external
		c.PublicIP = "127.0.0.1"
	})
	before := time.Now()
	ice := s.ICEServers("pQ")
	after := time.Now()
	if len(ice) != 4 {
		t.Fatalf("got %d servers: %+v", len(ice), ice)
	}
	port := s.UDPAddr().(*net.UDPAddr).Port
	if want := []string{fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", port), fmt.Sprintf("turn:127.0.0.1:%d?transport=tcp", port)}; !slices.Equal(ice[0].URLs, want) {
		t.Errorf("built-in urls %v, want %v", ice[0].URLs, want)
	}
	for _, i := range []int{0, 1} {
		srv := ice[i]
		if i == 1 {
			srv = ice[1]
			if !slices.Equal(srv.URLs, external[0].URLs) {
				t.Errorf("external urls %v", srv.URLs)
			}
		}
		id, err := s.Credentials().Check(srv.Username, srv.Credential, time.Now())
		if err != nil || id != "pQ" {
			t.Errorf("server %d: credentials %q/%q: %q, %v", i, srv.Username, srv.Credential, id, err)
		}
		exp, _, _ := ParseUsername(srv.Username)
		// Six hours from when they were made, to the second.
		if exp.Before(before.Add(6*time.Hour-time.Second)) || exp.After(after.Add(6*time.Hour+time.Second)) {
			t.Errorf("server %d: expires in %v, want 6h", i, exp.Sub(before))
		}
	}
	if ice[2].Username != "" || ice[2].Credential != "" || ice[3].Username != "u" || ice[3].Credential != "c" {
		t.Errorf("external credentials: %+v", ice[2:])
	}
	ice[0].URLs[0] = "changed"
	if s.ICEServers("pQ")[0].URLs[0] == "changed" {
		t.Error("ICEServers shares its slices")
	}

	// Disabled: only the external servers; no sockets; no secret file
	// unless an external server uses the secret.
	cfg := testConfig(t)
	cfg.Enabled, cfg.Secret, cfg.External = false, "", external[1:]
	off, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := off.ICEServers("pQ"); len(got) != 2 || got[0].URLs[0] != "stun:stun.example.org" || off.UDPAddr() != nil || off.TCPAddr() != nil {
		t.Errorf("disabled: %+v", got)
	}
	if _, err := off.SelfTest(context.Background()); err == nil {
		t.Error("SelfTest of a disabled server succeeded")
	}
	if err := off.Close(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, SecretFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secret file made for nothing: %v", err)
	}
	cfg.External = external
	off, err = New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	got := off.ICEServers("pQ")
	if len(got) != 3 || !slices.Equal(got[0].URLs, external[0].URLs) {
		t.Fatalf("disabled with use_secret: %+v", got)
	}
	if _, err := off.Credentials().Check(got[0].Username, got[0].Credential, time.Now()); err != nil {
		t.Error(err)
	}
}

func TestSecretFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // not there yet
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s1, err := loadSecret("", dir, log)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, SecretFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if len(s1) < 40 {
		t.Errorf("secret %q too short", s1)
	}
	s2, err := loadSecret("", dir, log)
	if err != nil || s2 != s1 {
		t.Errorf("second start: %q, %v, want the same secret", s2, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("data folder holds %d entries, want 1", len(entries))
	}

	// A file readable by others is made private.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSecret("", dir, log); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after loading, want 0600", st.Mode().Perm())
	}

	// The configured secret wins and makes no file.
	other := t.TempDir()
	if s, err := loadSecret(testSecret, other, log); err != nil || s != testSecret {
		t.Errorf("configured: %q, %v", s, err)
	}
	if _, err := os.Stat(filepath.Join(other, SecretFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file made for a configured secret: %v", err)
	}

	// A short secret in the file is an error.
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSecret("", dir, log); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("short secret: %v", err)
	}
}

// TestPortInUse: New reports a port in use and leaves nothing open.
func TestPortInUse(t *testing.T) {
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.Port = busy.LocalAddr().(*net.UDPAddr).Port
	if _, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "listen UDP") {
		t.Errorf("New on a busy port: %v", err)
	}
	cfg.Port = 0
	cfg.TLSCert, cfg.TLSKey = "/nonexistent/cert.pem", "/nonexistent/key.pem"
	if _, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "tls_cert") {
		t.Errorf("New with a missing certificate: %v", err)
	}
}

// TestCloseStopsEverything: Close ends every goroutine, even with TCP
// clients still connected and allocations held.
func TestCloseStopsEverything(t *testing.T) {
	leakcheck.Check(t)
	cfg := testConfig(t)
	cfg.AllowPeers = []string{"127.0.0.1"}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	u, p := s.Credentials().Mint("p1", time.Now())
	conn, err := net.Dial("tcp4", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		TURNServerAddr: s.TCPAddr().String(), Conn: pionturn.NewSTUNConn(conn),
		Username: u, Password: p, Realm: "parley", LoggerFactory: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The server closed the client's connection: its read loop ends too.
	// (The relay's refresh timers are the client's own.)
	_ = relay.Close()
	c.Close()
}

// TestUnusedAllocationClosed: an allocation that gets no permission within
// the unused life is closed; one with a permission lives on and relays.
func TestUnusedAllocationClosed(t *testing.T) {
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s, logs := startTURN(t, func(c *Config) {
		c.AllowPeers = []string{"127.0.0.1"}
		c.UnusedLife = 300 * time.Millisecond
	})
	eventually(t, "the self-test is done", func() bool { return strings.Contains(logs.String(), "self-test") })
	mint := func(id string) *turnClient {
		u, p := s.Credentials().Mint(id, time.Now())
		return dialTURN(t, s, "udp", u, p)
	}
	// The used allocation is made first: once the idle one's unused life
	// has run out, so has the used one's.
	idle, used := mint("idle"), mint("used")
	relay, err := allocate(t, used)
	if err != nil {
		t.Fatal(err)
	}
	if err := used.CreatePermission(peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := allocate(t, idle); err != nil {
		t.Fatal(err)
	}
	if n := s.Allocations(); n != 2 {
		t.Fatalf("%d allocations, want 2", n)
	}
	eventually(t, "the unused allocation is closed", func() bool { return s.Allocations() == 1 })
	if !strings.Contains(logs.String(), "closing an allocation that got no permission") {
		t.Error("the closing is not logged")
	}
	// The used one, past its unused life too, still relays.
	if _, err := relay.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
	if n := s.Allocations(); n != 1 {
		t.Errorf("%d allocations, want 1", n)
	}
}

// TestDepartedParticipant: with Present, the credentials of a participant
// who is not present are refused, and the server closes its allocations by
// itself within the presence interval, without waiting for a request;
// usernames that name no participant are not asked about.
func TestDepartedParticipant(t *testing.T) {
	var (
		mu   sync.Mutex
		gone = map[string]bool{}
	)
	s, _ := startTURN(t, func(c *Config) {
		c.Present = func(id string) bool { mu.Lock(); defer mu.Unlock(); return !gone[id] }
		c.PresenceInterval = 20 * time.Millisecond
	})
	mint := func(id string) (string, string) { return s.Credentials().Mint(id, time.Now()) }
	u1, p1 := mint("p1")
	u2, p2 := mint("p2")
	for _, c := range []*turnClient{dialTURN(t, s, "udp", u1, p1), dialTURN(t, s, "tcp", u1, p1), dialTURN(t, s, "udp", u2, p2)} {
		if _, err := allocate(t, c); err != nil {
			t.Fatal(err)
		}
	}
	expiryOnly := strings.Split(u1, ":")[0]
	if _, err := allocate(t, dialTURN(t, s, "udp", expiryOnly, s.Credentials().Password(expiryOnly))); err != nil {
		t.Fatalf("a username without a participant: %v", err)
	}
	if n := s.Allocations(); n != 4 {
		t.Fatalf("%d allocations, want 4", n)
	}
	mu.Lock()
	gone["p1"] = true
	mu.Unlock()
	eventually(t, "p1's allocations are closed", func() bool { return s.Allocations() == 2 })
	if _, err := allocate(t, dialTURN(t, s, "udp", u1, p1)); err == nil {
		t.Error("a participant who left got a relay")
	}
	if _, err := allocate(t, dialTURN(t, s, "udp", u2, p2)); err != nil {
		t.Errorf("a participant who stays: %v", err)
	}
}
