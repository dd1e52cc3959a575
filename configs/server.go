package configs

import (
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Server is the server configuration file (see parley.toml for an annotated
// example). The zero value is not valid; start from Default.
type Server struct {
	HTTP      HTTP      `toml:"http" json:"http"`
	Media     Media     `toml:"media" json:"media"`
	Signaling Signaling `toml:"signaling" json:"signaling"`
	Storage   Storage   `toml:"storage" json:"storage"`
	Rooms     Rooms     `toml:"rooms" json:"rooms"`
	TURN      TURN      `toml:"turn" json:"turn"`
	Chat      Chat      `toml:"chat" json:"chat"`
	Auth      Auth      `toml:"auth" json:"auth"`
	Mail      Mail      `toml:"mail" json:"mail"`
	// Webhooks receive the rooms' events (package webhook).
	Webhooks        []Webhook       `toml:"webhooks" json:"webhooks"`
	WebhookDelivery WebhookDelivery `toml:"webhook_delivery" json:"webhook_delivery"`
	Admin           Admin           `toml:"admin" json:"admin"`
	// Cluster makes the server a node of a cluster; off by default.
	Cluster Cluster `toml:"cluster" json:"cluster"`
	Log     Log     `toml:"log" json:"log"`
}

// HTTP configures the HTTP server (pages, API and the signaling websocket).
type HTTP struct {
	// Listen is the host:port the HTTP server listens on; port 1-65535.
	Listen string `toml:"listen" json:"listen"`
	// AllowedOrigins are websocket Origins allowed besides same-origin, each
	// an absolute http(s) origin such as "https://example.org"
	// (scheme://host[:port], no path).
	AllowedOrigins []string `toml:"allowed_origins" json:"allowed_origins"`
	// ShutdownTimeout bounds a graceful shutdown; 0 < x <= 60s.
	ShutdownTimeout Duration `toml:"shutdown_timeout" json:"shutdown_timeout"`
	// TrustedProxies are the reverse proxies (IP addresses or CIDR
	// prefixes) whose X-Forwarded-For and X-Forwarded-Proto are believed.
	TrustedProxies []string `toml:"trusted_proxies" json:"trusted_proxies"`
	// MaxConnectionsPerIP bounds the open websockets of one client address;
	// 0 means no bound.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip" json:"max_connections_per_ip"`
	// WHEPStartsPerMinute bounds the WHEP viewers one client address may
	// start, as a rate with as large a burst; 0 means no bound.
	WHEPStartsPerMinute int `toml:"whep_starts_per_minute" json:"whep_starts_per_minute"`
	// TLSCert and TLSKey are PEM files: with them, Listen serves HTTPS.
	// They are read again when they change (certificate renewal).
	TLSCert string `toml:"tls_cert" json:"tls_cert"`
	TLSKey  string `toml:"tls_key" json:"tls_key"`
	// AutocertDomains makes Listen serve HTTPS with certificates obtained
	// automatically (ACME, Let's Encrypt) for these host names; the
	// certificates are kept in data_dir/autocert. Not with TLSCert.
	AutocertDomains []string `toml:"autocert_domains" json:"autocert_domains"`
	// AutocertEmail is the contact address given to the ACME CA; optional.
	AutocertEmail string `toml:"autocert_email" json:"autocert_email"`
	// RedirectListen is a host:port for plain HTTP that redirects to HTTPS
	// (and answers ACME http-01 challenges with autocert), e.g. ":80".
	// "" means none. Needs TLS.
	RedirectListen string `toml:"redirect_listen" json:"redirect_listen"`
	// MetricsListen is a host:port that serves GET /metrics (Prometheus
	// text format) and nothing else; "" turns it off. It is a listener of
	// its own so that it can stay on a private address.
	MetricsListen string `toml:"metrics_listen" json:"metrics_listen"`
	// BaseURL is the site's public address, such as
	// "https://chat.example.org", for links in mail; "" = none (then no
	// room may notify).
	BaseURL string `toml:"base_url" json:"base_url"`
}

// TLS reports whether the HTTP server serves HTTPS.
func (h HTTP) TLS() bool { return h.TLSCert != "" || len(h.AutocertDomains) > 0 }

// Media configures the WebRTC media sockets.
type Media struct {
	// ListenIP is the IP the media sockets bind to.
	ListenIP string `toml:"listen_ip" json:"listen_ip"`
	// UDPPort is the single UDP port shared by all peers (ICE UDP mux);
	// 0 means use the range UDPPortMin..UDPPortMax instead.
	UDPPort int `toml:"udp_port" json:"udp_port"`
	// UDPPortMin and UDPPortMax are an ephemeral port range, used only when
	// UDPPort is 0: both 0, or 1 <= min <= max <= 65535.
	UDPPortMin int `toml:"udp_port_min" json:"udp_port_min"`
	UDPPortMax int `toml:"udp_port_max" json:"udp_port_max"`
	// TCPPort is the ICE-over-TCP fallback port; 0 turns it off. It may equal
	// UDPPort (different protocols).
	TCPPort int `toml:"tcp_port" json:"tcp_port"`
	// PublicIP, if set, is the 1:1 NAT address advertised in ICE candidates.
	PublicIP string `toml:"public_ip" json:"public_ip"`
	// DirectSend lets the SFU encrypt and send subscribers' packets itself
	// on the shared UDP socket (the direct send path), instead of through
	// Pion's write chain. It reads Pion's DTLS connection by reflection;
	// false falls back to Pion's own path without a rebuild.
	DirectSend bool `toml:"direct_send" json:"direct_send"`
	// DirectReceive lets the SFU read and decrypt publishers' audio itself
	// off the shared UDP socket (the direct receive path), instead of
	// through Pion's read chain. It reads Pion's DTLS connection by
	// reflection; false falls back to Pion's own path without a rebuild.
	DirectReceive bool `toml:"direct_receive" json:"direct_receive"`
	// ReceiveWindow is how long the shared UDP socket's reader may hold
	// a busy socket's packets to read them in one wake-up; 0 reads each
	// as it comes. 0..10ms.
	ReceiveWindow Duration `toml:"receive_window" json:"receive_window"`
}

// Signaling configures the signaling websocket.
type Signaling struct {
	MaxMessageBytes   int      `toml:"max_message_bytes" json:"max_message_bytes"`     // 1024..1048576
	MessagesPerSecond float64  `toml:"messages_per_second" json:"messages_per_second"` // per connection, > 0
	MessageBurst      int      `toml:"message_burst" json:"message_burst"`             // >= 1
	PingInterval      Duration `toml:"ping_interval" json:"ping_interval"`             // > 0
	PongTimeout       Duration `toml:"pong_timeout" json:"pong_timeout"`               // > PingInterval
	MaxNameLength     int      `toml:"max_name_length" json:"max_name_length"`         // 1..64 characters
	MaxChatLength     int      `toml:"max_chat_length" json:"max_chat_length"`         // 1..65536 characters
	CallTimeout       Duration `toml:"call_timeout" json:"call_timeout"`               // unanswered calls end; 1s..10m
	CallRejoinGrace   Duration `toml:"call_rejoin_grace" json:"call_rejoin_grace"`     // a call waits this long for a dropped party; 0..10m
}

// Chat configures what chat remembers (package chatlog).
type Chat struct {
	HistoryLength     int      `toml:"history_length" json:"history_length"`             // messages a joiner gets; 0..1000
	HistoryAge        Duration `toml:"history_age" json:"history_age"`                   // older ones are not given; > 0
	OfflineLifetime   Duration `toml:"offline_lifetime" json:"offline_lifetime"`         // a message for someone offline waits this long; > 0
	OfflineMaxPerUser int      `toml:"offline_max_per_user" json:"offline_max_per_user"` // 1..1000
	OfflineMaxPerRoom int      `toml:"offline_max_per_room" json:"offline_max_per_room"` // 1..100000
}

// Storage configures where clips are kept.
type Storage struct {
	DataDir string `toml:"data_dir" json:"data_dir"` // not empty
	// S3Endpoint, if not "", is the base URL of an S3-compatible store
	// (scheme://host[:port]) whose bucket S3Bucket will hold the clip
	// media of a cluster (package objstore); only with [cluster] for now.
	// Its credentials come from the environment or S3CredentialsFile (see
	// S3Credentials), never from this file.
	S3Endpoint string `toml:"s3_endpoint" json:"s3_endpoint"`
	S3Bucket   string `toml:"s3_bucket" json:"s3_bucket"`
	S3Region   string `toml:"s3_region" json:"s3_region"`
	// S3PathStyle addresses the bucket as endpoint/bucket (self-hosted
	// stores) rather than bucket.endpoint (virtual-hosted).
	S3PathStyle bool `toml:"s3_path_style" json:"s3_path_style"`
	// S3Prefix, if not "", begins every object's name ('/'-separated names
	// of letters, digits, '-', '_', '.').
	S3Prefix string `toml:"s3_prefix" json:"s3_prefix"`
	// S3CredentialsFile is a file holding the access key and the secret
	// key, read when the environment has none.
	S3CredentialsFile string `toml:"s3_credentials_file" json:"s3_credentials_file"`
}

// Rooms says where the room files are.
type Rooms struct {
	// Dir is a folder of room files (*.toml); "" means the built-in demo
	// rooms (the embedded example rooms). See LoadRooms.
	Dir string `toml:"dir" json:"dir"`
}

// TURN configures the built-in TURN server (package turn) and the list of
// ICE servers handed to participants when they join.
type TURN struct {
	// Enabled runs the built-in TURN server.
	Enabled bool `toml:"enabled" json:"enabled"`
	// ListenIP is the IP the TURN listeners and the relay sockets bind to.
	ListenIP string `toml:"listen_ip" json:"listen_ip"`
	// Port is the TURN port, for UDP and TCP alike; 1-65535.
	Port int `toml:"port" json:"port"`
	// TLSPort is the TURN-over-TLS port, used only when TLSCert and TLSKey
	// are set; 1-65535 and not Port.
	TLSPort int `toml:"tls_port" json:"tls_port"`
	// TLSCert and TLSKey are PEM files (certificate chain and private key);
	// both empty (no TLS) or both set.
	TLSCert string `toml:"tls_cert" json:"tls_cert"`
	TLSKey  string `toml:"tls_key" json:"tls_key"`
	// Host is the name or IP clients are told to reach the TURN server at
	// (in turn: and turns: URLs); "" means PublicIP, or ListenIP without one.
	Host string `toml:"host" json:"host"`
	// PublicIP is the relay address advertised to clients; "" means
	// ListenIP. Needed when ListenIP is 0.0.0.0 or :: (or behind 1:1 NAT).
	PublicIP string `toml:"public_ip" json:"public_ip"`
	// RelayPortMin and RelayPortMax bound the UDP (and TCP) ports of the
	// relay sockets: 1 <= min <= max <= 65535.
	RelayPortMin int `toml:"relay_port_min" json:"relay_port_min"`
	RelayPortMax int `toml:"relay_port_max" json:"relay_port_max"`
	// Realm is the TURN realm; 1-127 printable characters.
	Realm string `toml:"realm" json:"realm"`
	// Secret is the shared secret of the TURN REST API credentials (as
	// coturn's static-auth-secret); "" means generate one on first start
	// and keep it in <storage.data_dir>/turn-secret. At least 16 characters.
	// It never appears in JSON.
	Secret string `toml:"secret" json:"-"`
	// TTL is how long handed-out credentials are valid; 1m to 168h.
	TTL Duration `toml:"ttl" json:"ttl"`
	// AllowPeers lists the networks (CIDRs such as "10.0.0.0/8", or single
	// IPs) the relay may send to although they are loopback, private,
	// link-local, multicast or unspecified.
	AllowPeers []string `toml:"allow_peers" json:"allow_peers"`
	// MaxAllocationsPerUser caps the relay allocations of one participant;
	// at least 1.
	MaxAllocationsPerUser int `toml:"max_allocations_per_user" json:"max_allocations_per_user"`
	// MaxAllocationsPerIP caps the relay allocations made from one client
	// address (an IPv6 client counted by its /64), whatever participants
	// its credentials name; at least 1.
	MaxAllocationsPerIP int `toml:"max_allocations_per_ip" json:"max_allocations_per_ip"`
	// MaxAllocations caps the relay allocations of the whole server; at
	// least 1.
	MaxAllocations int `toml:"max_allocations" json:"max_allocations"`
	// External are further ICE servers handed to clients after the built-in
	// one, such as an external coturn.
	External []ICEServer `toml:"external" json:"external"`
}

// ICEServer is an external STUN or TURN server handed to clients.
type ICEServer struct {
	// URLs are stun:, turn: or turns: URLs; at least one.
	URLs []string `toml:"urls" json:"urls"`
	// Username and Credential are fixed credentials for turn: and turns:
	// URLs. The credential never appears in JSON.
	Username   string `toml:"username" json:"username"`
	Credential string `toml:"credential" json:"-"`
	// UseSecret mints TURN REST API credentials for each participant with
	// turn.secret instead, for a coturn running with use-auth-secret and
	// the same static-auth-secret.
	UseSecret bool `toml:"use_secret" json:"use_secret"`
}

// Log configures logging.
type Log struct {
	Level  string `toml:"level" json:"level"`   // debug|info|warn|error
	Format string `toml:"format" json:"format"` // text|json
}

// Default returns the built-in server configuration.
func Default() Server {
	return Server{
		HTTP: HTTP{
			Listen:              "127.0.0.1:8080",
			AllowedOrigins:      []string{},
			ShutdownTimeout:     Duration(5 * time.Second),
			TrustedProxies:      []string{},
			MaxConnectionsPerIP: 20,
			WHEPStartsPerMinute: 60,
			AutocertDomains:     []string{},
		},
		Media: Media{
			ListenIP:      "127.0.0.1",
			UDPPort:       7882,
			TCPPort:       7881,
			DirectSend:    true,
			DirectReceive: true,
		},
		Signaling: Signaling{
			MaxMessageBytes:   65536,
			MessagesPerSecond: 20,
			MessageBurst:      60,
			PingInterval:      Duration(15 * time.Second),
			PongTimeout:       Duration(40 * time.Second),
			MaxNameLength:     32,
			MaxChatLength:     2000,
			CallTimeout:       Duration(30 * time.Second),
			CallRejoinGrace:   Duration(20 * time.Second),
		},
		Storage: Storage{DataDir: "./data", S3Region: "us-east-1", S3PathStyle: true},
		Rooms:   Rooms{Dir: ""},
		TURN: TURN{
			Enabled:               true,
			ListenIP:              "127.0.0.1",
			Port:                  3478,
			TLSPort:               5349,
			RelayPortMin:          49152,
			RelayPortMax:          65535,
			Realm:                 "parley",
			TTL:                   Duration(6 * time.Hour),
			AllowPeers:            []string{},
			MaxAllocationsPerUser: 10,
			MaxAllocationsPerIP:   20,
			MaxAllocations:        1000,
			External:              []ICEServer{},
		},
		Chat: Chat{
			HistoryLength:     50,
			HistoryAge:        Duration(24 * time.Hour),
			OfflineLifetime:   Duration(7 * 24 * time.Hour),
			OfflineMaxPerUser: 50,
			OfflineMaxPerRoom: 1000,
		},
		Auth: Auth{
			FailuresPerMinute: 10,
			FailureBurst:      10,
			Operators:         []Operator{},
		},
		Mail:            defaultMail(),
		Webhooks:        []Webhook{},
		WebhookDelivery: defaultWebhookDelivery(),
		Admin:           Admin{Tokens: []AdminToken{}},
		Cluster:         defaultCluster(),
		Log:             Log{Level: "info", Format: "text"},
	}
}

// Load reads the server configuration file at path. An empty path gives
// Default(). Otherwise the file is decoded on top of Default() (keys absent
// from the file keep their default), strictly (unknown keys and wrong types
// are errors), and the result is validated.
func Load(path string) (Server, error) {
	s := Default()
	if path == "" {
		return s, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Server{}, readError(path, err)
	}
	return parseServer(path, data)
}

// parseServer decodes a server file's data on top of Default() and
// validates it; file names the file in errors.
func parseServer(path string, data []byte) (Server, error) {
	s := Default()
	if err := decodeStrict(path, data, &s); err != nil {
		return Server{}, err
	}
	if s.HTTP.AllowedOrigins == nil {
		s.HTTP.AllowedOrigins = []string{}
	}
	if s.HTTP.TrustedProxies == nil {
		s.HTTP.TrustedProxies = []string{}
	}
	if s.HTTP.AutocertDomains == nil {
		s.HTTP.AutocertDomains = []string{}
	}
	if s.TURN.AllowPeers == nil {
		s.TURN.AllowPeers = []string{}
	}
	if s.TURN.External == nil {
		s.TURN.External = []ICEServer{}
	}
	if s.Auth.Operators == nil {
		s.Auth.Operators = []Operator{}
	}
	if s.Webhooks == nil {
		s.Webhooks = []Webhook{}
	}
	if s.Admin.Tokens == nil {
		s.Admin.Tokens = []AdminToken{}
	}
	if err := s.problems().err(path); err != nil {
		return Server{}, err
	}
	return s, nil
}

// Validate checks every value of s and returns all problems found (see Error).
func (s Server) Validate() error { return s.problems().err("") }

func (s Server) problems() problems {
	var p problems

	// http
	checkListen(&p, "http.listen", s.HTTP.Listen)
	for i, o := range s.HTTP.AllowedOrigins {
		if msg := checkOrigin(o); msg != "" {
			p.add("http.allowed_origins", "entry %d: %s", i+1, msg)
		}
	}
	if d := s.HTTP.ShutdownTimeout; d <= 0 || d.D() > 60*time.Second {
		p.add("http.shutdown_timeout", "must be more than 0s and at most 60s, got %s", d)
	}

	// media
	if net.ParseIP(s.Media.ListenIP) == nil {
		p.add("media.listen_ip", "want an IP address like \"127.0.0.1\" or \"0.0.0.0\", got %q", s.Media.ListenIP)
	}
	if s.Media.PublicIP != "" && net.ParseIP(s.Media.PublicIP) == nil {
		p.add("media.public_ip", "want an IP address like \"203.0.113.7\" (or \"\" for none), got %q", s.Media.PublicIP)
	}
	checkPort(&p, "media.udp_port", s.Media.UDPPort, "0 = use udp_port_min..udp_port_max")
	checkPort(&p, "media.tcp_port", s.Media.TCPPort, "0 = off")
	if d := s.Media.ReceiveWindow; d < 0 || d.D() > 10*time.Millisecond {
		p.add("media.receive_window", "must be 0s (read each packet as it comes) to 10ms, got %s", d)
	}
	checkPort(&p, "media.udp_port_min", s.Media.UDPPortMin, "0 = no range")
	checkPort(&p, "media.udp_port_max", s.Media.UDPPortMax, "0 = no range")
	lo, hi := s.Media.UDPPortMin, s.Media.UDPPortMax
	switch {
	case lo < 0 || hi < 0 || lo > 65535 || hi > 65535:
		// reported above
	case (lo == 0) != (hi == 0):
		p.add("media.udp_port_min", "udp_port_min and udp_port_max must both be set or both be 0, got %d and %d", lo, hi)
	case lo > hi:
		p.add("media.udp_port_min", "must not be greater than udp_port_max (%d), got %d", hi, lo)
	case s.Media.UDPPort == 0 && lo == 0:
		p.add("media.udp_port", "is 0 but no port range is set: set udp_port (one UDP port for all peers) or udp_port_min and udp_port_max")
	}

	// signaling
	g := s.Signaling
	checkRange(&p, "signaling.max_message_bytes", int64(g.MaxMessageBytes), 1024, 1048576)
	if f := g.MessagesPerSecond; !(f > 0) || math.IsInf(f, 0) {
		p.add("signaling.messages_per_second", "must be a positive number, got %v", f)
	}
	checkAtLeast(&p, "signaling.message_burst", int64(g.MessageBurst), 1)
	if g.PingInterval <= 0 {
		p.add("signaling.ping_interval", "must be more than 0s, got %s", g.PingInterval)
	}
	if g.PongTimeout <= g.PingInterval {
		p.add("signaling.pong_timeout", "must be longer than ping_interval (%s), got %s", g.PingInterval, g.PongTimeout)
	}
	checkRange(&p, "signaling.max_name_length", int64(g.MaxNameLength), 1, 64)
	checkRange(&p, "signaling.max_chat_length", int64(g.MaxChatLength), 1, 65536)
	if g.CallTimeout < Duration(time.Second) || g.CallTimeout > Duration(10*time.Minute) {
		p.add("signaling.call_timeout", "must be between 1s and 10m, got %s", g.CallTimeout)
	}
	if g.CallRejoinGrace < 0 || g.CallRejoinGrace > Duration(10*time.Minute) {
		p.add("signaling.call_rejoin_grace", "must be between 0s and 10m, got %s", g.CallRejoinGrace)
	}

	for i, tp := range s.HTTP.TrustedProxies {
		if _, err := ParseProxy(tp); err != nil {
			p.add("http.trusted_proxies", "entry %d: want an IP address or CIDR prefix like \"127.0.0.1\" or \"10.0.0.0/8\", got %q", i+1, tp)
		}
	}
	checkRange(&p, "http.max_connections_per_ip", int64(s.HTTP.MaxConnectionsPerIP), 0, 100000)
	checkRange(&p, "http.whep_starts_per_minute", int64(s.HTTP.WHEPStartsPerMinute), 0, 100000)
	h := s.HTTP
	switch {
	case (h.TLSCert == "") != (h.TLSKey == ""):
		p.add("http.tls_cert", "tls_cert and tls_key must both be set (HTTPS from files) or both be empty, got tls_cert %q and tls_key %q", h.TLSCert, h.TLSKey)
	case h.TLSCert != "" && len(h.AutocertDomains) > 0:
		p.add("http.autocert_domains", "set either tls_cert/tls_key or autocert_domains, not both")
	}
	for i, d := range h.AutocertDomains {
		if !validHost(d) || net.ParseIP(d) != nil || !strings.Contains(d, ".") {
			p.add("http.autocert_domains", "entry %d: want a public host name like \"chat.example.org\", got %q", i+1, d)
		}
	}
	if h.AutocertEmail != "" && (!strings.Contains(h.AutocertEmail, "@") || strings.ContainsAny(h.AutocertEmail, " \t<>")) {
		p.add("http.autocert_email", "want an email address, got %q", h.AutocertEmail)
	}
	if h.MetricsListen != "" {
		checkListen(&p, "http.metrics_listen", h.MetricsListen)
		if h.MetricsListen == h.Listen || h.MetricsListen == h.RedirectListen {
			p.add("http.metrics_listen", "must be another address than http.listen and http.redirect_listen, got %q", h.MetricsListen)
		}
	}
	if h.RedirectListen != "" {
		checkListen(&p, "http.redirect_listen", h.RedirectListen)
		if !h.TLS() {
			p.add("http.redirect_listen", "redirects to HTTPS, so it needs tls_cert/tls_key or autocert_domains")
		}
	}

	c := s.Chat
	checkRange(&p, "chat.history_length", int64(c.HistoryLength), 0, 1000)
	if c.HistoryAge <= 0 {
		p.add("chat.history_age", "must be more than 0s, got %s", c.HistoryAge)
	}
	if c.OfflineLifetime <= 0 {
		p.add("chat.offline_lifetime", "must be more than 0s, got %s", c.OfflineLifetime)
	}
	checkRange(&p, "chat.offline_max_per_user", int64(c.OfflineMaxPerUser), 1, 1000)
	checkRange(&p, "chat.offline_max_per_room", int64(c.OfflineMaxPerRoom), 1, 100000)

	checkBaseURL(&p, h.BaseURL)

	s.TURN.problems(&p)
	s.Auth.problems(&p, s.Signaling.MaxNameLength)
	s.Mail.problems(&p)
	webhookProblems(&p, s.Webhooks, s.WebhookDelivery)
	s.Admin.problems(&p)
	s.Cluster.problems(&p)

	// storage, log
	if strings.TrimSpace(s.Storage.DataDir) == "" {
		p.add("storage.data_dir", "must not be empty")
	}
	s.Storage.s3Problems(&p, s.Cluster.Enabled())
	switch s.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "must be one of debug, info, warn, error, got %q", s.Log.Level)
	}
	switch s.Log.Format {
	case "text", "json":
	default:
		p.add("log.format", "must be text or json, got %q", s.Log.Format)
	}
	return p
}

func checkListen(p *problems, key, v string) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		p.add(key, "want host:port like \"127.0.0.1:8080\" or \":8080\", got %q", v)
		return
	}
	if host != "" && !validHost(host) {
		p.add(key, "bad host %q: want an IP address or a host name", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		p.add(key, "port %q is not a number", port)
		return
	}
	if n < 1 || n > 65535 {
		p.add(key, "port %d out of range 1-65535", n)
	}
}

func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkOrigin returns "" if o is an absolute http(s) origin, else the problem.
func checkOrigin(o string) string {
	const want = `want an origin like "https://example.org" (scheme://host[:port], no path)`
	u, err := url.Parse(o)
	switch {
	case err != nil:
		return want + ", got " + strconv.Quote(o)
	case u.Scheme != "http" && u.Scheme != "https":
		return want + ", got " + strconv.Quote(o) + " (scheme must be http or https)"
	case u.Opaque != "" || u.Host == "" || u.User != nil:
		return want + ", got " + strconv.Quote(o)
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(o, "#"):
		return want + ", got " + strconv.Quote(o) + " (remove the path)"
	case !validHost(u.Hostname()):
		return want + ", got " + strconv.Quote(o) + " (bad host)"
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return want + ", got " + strconv.Quote(o) + " (port out of range 1-65535)"
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return want + ", got " + strconv.Quote(o) + " (empty port)"
	}
	return ""
}

func checkPort(p *problems, key string, v int, zero string) {
	if v < 0 || v > 65535 {
		p.add(key, "port %d out of range 0-65535 (%s)", v, zero)
	}
}

func checkRange(p *problems, key string, v, lo, hi int64) {
	if v < lo || v > hi {
		p.add(key, "must be between %d and %d, got %d", lo, hi, v)
	}
}

func checkAtLeast(p *problems, key string, v, lo int64) {
	if v < lo {
		p.add(key, "must be at least %d, got %d", lo, v)
	}
}

// ParseProxy reads a trusted_proxies entry: an IP address (a prefix of
// one address) or a CIDR prefix.
func ParseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
