// Package server wires parley's parts into one HTTP server: the media
// engine, the signaling hub and the web client. It owns their start and
// their orderly shutdown; cmd/parley only adds flags and signals.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"parley/access"
	"parley/chatlog"
	"parley/clips"
	"parley/cluster"
	"parley/configs"
	"parley/internal/roomdir"
	"parley/internal/secretfile"
	"parley/netcheck"
	"parley/notify"
	"parley/sfu"
	"parley/signaling"
	"parley/turn"
	"parley/web"
	"parley/webhook"
)

// Server is a running parley.
type Server struct {
	cfg    configs.Server
	log    *slog.Logger
	engine *sfu.Engine
	turn   *turn.Server
	store  *clips.Store
	// chatFiles is the chat log on local disk; nil in a cluster, whose
	// chat is in Redis.
	chatFiles *chatlog.Store
	mail      *notify.Mailer  // nil when no room notifies
	hooks     *webhook.Sender // nil when there are no webhooks
	checks    *netcheck.Checker
	hub       *signaling.Hub
	http      *http.Server
	ln        net.Listener
	started   time.Time
	tls       *tls.Config // nil: plain HTTP
	certs     *fileCert   // the certificate files, when HTTPS is from files
	proxies   access.Proxies
	// tokenSecret signs join tokens (the admin API makes them too).
	tokenSecret []byte
	admin       *adminAPI
	// joinFailures and whepStarts are the hub's per-address limiters,
	// whose rates a reload of the server file changes.
	joinFailures, whepStarts *access.Limiter

	// running is the configuration in force: cfg with the keys that a
	// reload of the server file applied (ReloadServer). reloadMu makes
	// one reload at a time.
	reloadMu sync.Mutex
	running  configs.Server
	logLevel *slog.LevelVar // nil: log.level is not changed on reload

	redirect   *http.Server // plain HTTP → HTTPS; nil when off
	redirectLn net.Listener
	metrics    *http.Server // GET /metrics; nil when off
	metricsLn  net.Listener

	// cluster is this node's membership of a cluster; nil without
	// [cluster].
	cluster *cluster.Node
	// bucket keeps the clips of the rooms this node holds in the
	// cluster's bucket; nil without storage.s3_endpoint.
	bucket *clipBucket
	// proxyTransport carries the room API requests proxied to the
	// room's node (roomAPI); nil without a cluster.
	proxyTransport *http.Transport

	// sides runs the side listeners' Serve (serveSide); Shutdown waits
	// for it. sideMu orders a late serveSide after Shutdown's start.
	sideMu   sync.Mutex
	sideShut bool
	sides    sync.WaitGroup

	// roomFiles is the rooms folder as last read; the watcher reads it
	// again until stopWatch, and Shutdown waits for it.
	roomFiles *roomFiles
	stopWatch context.CancelFunc
	watching  sync.WaitGroup

	shutdownOnce sync.Once
	shutdownErr  error
}

// New opens every socket (HTTP, media UDP and TCP) so that a port in use
// is reported at once, and prepares the rooms. Serve starts serving.
func New(cfg configs.Server, rooms []configs.Room, log *slog.Logger) (*Server, error) {
	return NewWith(cfg, rooms, Options{}, log)
}

// Options are what tests set besides the configuration.
type Options struct {
	// Mail are the notification mailer's options (the SMTP server's CAs).
	Mail notify.Options
	// Webhook are the webhooks' options.
	Webhook webhook.Options
	// WHIPConnectTimeout ends a WHIP session without media this long
	// after its offer (0: the default, 10 s).
	WHIPConnectTimeout time.Duration
	// LogLevel, if set, is the level of the server's logger, which a
	// reload of the server file changes (ReloadServer).
	LogLevel *slog.LevelVar
	// RoomsPollInterval is how often the rooms folder is read again
	// when it is not watched, and how long after a change it is when it
	// is (0: RoomsPollInterval; < 0: never, only on ReloadRooms).
	RoomsPollInterval time.Duration
	// BucketSync is how often a node of a cluster with a bucket copies
	// its rooms' changes there and takes in other nodes' new clips (0:
	// DefaultBucketSync).
	BucketSync time.Duration
}

// NewWith is New with options.
func NewWith(cfg configs.Server, rooms []configs.Room, opts Options, log *slog.Logger) (*Server, error) {
	// notify.New also refuses a room that notifies without [mail] or
	// http.base_url (configs.CheckRooms).
	mailer, err := notify.New(cfg.Mail, cfg.HTTP.BaseURL, cfg.Storage.DataDir, rooms, opts.Mail, log)
	if err != nil {
		return nil, err
	}
	hooks, err := webhook.New(cfg.Webhooks, cfg.WebhookDelivery, cfg.Storage.DataDir, opts.Webhook, log)
	if err != nil {
		mailer.Close()
		return nil, err
	}
	// undo closes, newest first, what was opened when a later step fails.
	undo := []func() error{func() error { mailer.Close(); return nil }, func() error { hooks.Close(); return nil }}
	fail := func(err error) (*Server, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			_ = undo[i]()
		}
		return nil, err
	}
	engine, err := sfu.NewEngine(sfu.Config{
		ListenIP:        cfg.Media.ListenIP,
		UDPPort:         cfg.Media.UDPPort,
		UDPPortMin:      cfg.Media.UDPPortMin,
		UDPPortMax:      cfg.Media.UDPPortMax,
		TCPPort:         cfg.Media.TCPPort,
		PublicIP:        cfg.Media.PublicIP,
		NoDirectSend:    !cfg.Media.DirectSend,
		NoDirectReceive: !cfg.Media.DirectReceive,
		ReceiveWindow:   cfg.Media.ReceiveWindow.D(),
		// The networks the relay may reach, the ICE agent may check.
		CandidateAllow: cfg.TURN.AllowPeers,
	}, log)
	if err != nil {
		return fail(err)
	}
	undo = append(undo, engine.Close)
	// The TURN server relays to the engine's media ports: start it after
	// the engine and before the HTTP listener, which hands out its
	// credentials.
	// The relay refuses the credentials of a participant who has left: it
	// asks the hub, made below (nobody is present before it).
	// So does a connectivity check (/check), for the session's life.
	var hub atomic.Pointer[signaling.Hub]
	var checks atomic.Pointer[netcheck.Checker]
	relay, err := turn.New(turn.Config{TURN: cfg.TURN, DataDir: cfg.Storage.DataDir, Present: func(id string) bool {
		if c := checks.Load(); c != nil && c.Present(id) {
			return true
		}
		h := hub.Load()
		return h != nil && h.Present(id)
	}}, log)
	if err != nil {
		return fail(fmt.Errorf("turn: %w", err))
	}
	undo = append(undo, relay.Close)
	names := make([]string, len(rooms))
	for i, r := range rooms {
		names[i] = r.Name
	}
	// The rooms' folders have one owner, which hands the chat log and
	// the clip store their parts; they keep those open themselves.
	folders, err := roomdir.Open(cfg.Storage.DataDir)
	if err != nil {
		return fail(err)
	}
	defer folders.Close()
	auth, err := authConfig(cfg, log)
	var (
		tlsCfg *tls.Config
		acme   *autocert.Manager
		certs  *fileCert
	)
	if err == nil {
		tlsCfg, acme, certs, err = tlsSetup(cfg.HTTP, cfg.Storage.DataDir, log)
	}
	if err != nil {
		return fail(err)
	}
	// Each clip's media key (clips.Clip.Key) is made from the join-token
	// secret, so that the links members hold survive a restart.
	store, err := clips.Open(folders, rooms, log, clips.WithMediaKey(access.DeriveKey(auth.TokenSecret, "clip-media")))
	if err != nil {
		return fail(err)
	}
	undo = append(undo, store.Close)
	store.Start(context.Background()) // the expiry sweeper; Close stops it
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fail(fmt.Errorf("http listen: %w", err))
	}
	undo = append(undo, ln.Close)
	// In a cluster with a bucket, the rooms' clips follow a room that
	// moves to another node through it.
	bucket, err := newClipBucket(cfg, store, log)
	if err != nil {
		return fail(fmt.Errorf("storage.s3: %w", err))
	}
	var onAdopt func(room string)
	if bucket != nil {
		undo = append(undo, func() error { bucket.close(); return nil })
		onAdopt = bucket.adopt
	}
	// In a cluster the rooms' chat lives in its Redis, to follow a room
	// that moves to another node; alone, on local disk.
	node, err := newClusterNode(cfg, engine, &hub, onAdopt, log)
	if err != nil {
		return fail(err)
	}
	if bucket != nil {
		bucket.held, bucket.holds = node.Owned, node.Holds
	}
	var (
		placement signaling.Placement
		chat      signaling.ChatLog
		chatFiles *chatlog.Store
	)
	chatCfg := chatlog.Config{
		HistoryLength:     cfg.Chat.HistoryLength,
		HistoryAge:        cfg.Chat.HistoryAge.D(),
		OfflineLifetime:   cfg.Chat.OfflineLifetime.D(),
		OfflineMaxPerUser: cfg.Chat.OfflineMaxPerUser,
		OfflineMaxPerRoom: cfg.Chat.OfflineMaxPerRoom,
	}
	if node != nil {
		undo = append(undo, func() error { return node.Close(context.Background()) })
		placement = node
		chat = node.ChatLog(chatCfg)
	} else {
		chatFiles, err = chatlog.Open(folders, names, chatCfg, log)
		if err != nil {
			return fail(err)
		}
		undo = append(undo, chatFiles.Close)
		chat = chatFiles
	}
	s := &Server{cluster: node, bucket: bucket, cfg: cfg, log: log, engine: engine, turn: relay, store: store, ln: ln, started: time.Now(), tls: tlsCfg, certs: certs, proxies: auth.Proxies, chatFiles: chatFiles, mail: mailer, hooks: hooks, tokenSecret: auth.TokenSecret, joinFailures: auth.Failures, whepStarts: auth.WHEPStarts}
	if node != nil {
		s.proxyTransport = newProxyTransport()
	}
	s.admin = newAdminAPI(s, cfg)
	s.running = cfg
	s.logLevel = opts.LogLevel
	if cfg.HTTP.RedirectListen != "" {
		rln, err := net.Listen("tcp", cfg.HTTP.RedirectListen)
		if err != nil {
			return fail(fmt.Errorf("http redirect listen: %w", err))
		}
		undo = append(undo, rln.Close)
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		var h http.Handler = redirectHandler(port)
		if acme != nil {
			h = acme.HTTPHandler(h) // answers http-01 challenges, redirects the rest
		}
		s.redirectLn = rln
		s.redirect = sideServer(h, log)
	}
	if cfg.HTTP.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.HTTP.MetricsListen)
		if err != nil {
			return fail(fmt.Errorf("http metrics listen: %w", err))
		}
		undo = append(undo, mln.Close)
		s.metricsLn = mln
		s.metrics = sideServer(s.metricsHandler(), log)
	}
	s.hub = signaling.NewHub(signaling.Config{
		Auth:           auth,
		Chat:           chat,
		Signaling:      cfg.Signaling,
		AllowedOrigins: cfg.HTTP.AllowedOrigins,
		Store:          store,
		BeforeClipEvent: func(ev clips.Event) {
			if bucket != nil {
				bucket.before(ev)
			}
		},
		AlsoOnClipEvent: func(ev clips.Event) {
			mailer.ClipEvent(ev)
			hooks.ClipEvent(ev)
		},
		OnRoomEvent:        func(ev signaling.RoomEvent) { hooks.Emit(ev.Type, ev.Room, ev) },
		CallTimeout:        cfg.Signaling.CallTimeout.D(),
		CallRejoinGrace:    cfg.Signaling.CallRejoinGrace.D(),
		WHIPConnectTimeout: opts.WHIPConnectTimeout,
		Placement:          placement,
		ICEServers: func(id string) []signaling.ICEServer {
			var out []signaling.ICEServer
			for _, ice := range relay.ICEServers(id) {
				out = append(out, signaling.ICEServer{URLs: ice.URLs, Username: ice.Username, Credential: ice.Credential})
			}
			return out
		},
	}, rooms, engine, log)
	hub.Store(s.hub)
	if bucket != nil {
		bucket.inUse = func(room string) bool {
			m, _ := s.hub.Members(room)
			return len(m) > 0
		}
	}
	s.checks = netcheck.New(netcheck.Config{
		Engine:     engine,
		TCP:        engine.TCPAddr() != nil,
		Proxies:    auth.Proxies,
		ICEServers: relay.ICEServers,
	}, log)
	checks.Store(s.checks)
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.roomFiles = newRoomFiles(cfg.Rooms.Dir, rooms)
	mailer.Start()
	hooks.Start()
	if bucket != nil {
		bucket.start(opts.BucketSync)
	}
	if opts.RoomsPollInterval >= 0 {
		s.startWatch(opts.RoomsPollInterval)
	}
	return s, nil
}

// sideServer serves one of the small listeners besides the main one (the
// HTTPS redirect, the metrics), with short timeouts.
func sideServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func (s *Server) routes() http.Handler {
	client, watch := clientPolicy, watchPolicy
	if s.cluster != nil {
		client, watch = clusterPolicy(client, "ws: wss:"), clusterPolicy(watch, "http: https:")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /ws", s.hub)
	mux.HandleFunc("GET /api/rooms", s.hub.HandleRooms)
	mux.Handle("GET /api/rooms/{room}", s.roomAPI(http.HandlerFunc(s.hub.HandleRoom)))
	clips.Routes(mux, s.roomAPI(s.store.Handler(s.hub.ClipAuth)))
	whip := crossOrigin(s.placed(http.HandlerFunc(s.hub.HandleWHIP)))
	whipSession := crossOrigin(http.HandlerFunc(s.hub.HandleWHIPResource))
	whep := crossOrigin(s.placed(http.HandlerFunc(s.hub.HandleWHEP)))
	whepSession := crossOrigin(http.HandlerFunc(s.hub.HandleWHEPResource))
	for _, m := range []string{"POST", "OPTIONS"} {
		mux.Handle(m+" /whip/{room}", whip)
		mux.Handle(m+" /whep/{room}", whep)
	}
	for _, m := range []string{"PATCH", "DELETE", "OPTIONS"} {
		mux.Handle(m+" /whip/{room}/{id}", whipSession)
		mux.Handle(m+" /whep/{room}/{id}", whepSession)
	}
	mux.Handle("GET /watch/{room}", framable(watch, web.Page("watch.html")))
	s.admin.routes(mux)
	mux.Handle("GET /check", withPolicy(clientPolicy, web.Page("check.html")))
	mux.HandleFunc("POST /api/check", s.checks.HandleStart)
	mux.HandleFunc("POST /api/check/{id}/{transport}", s.checks.HandleOffer)
	mux.Handle("GET /", withPolicy(client, web.Handler()))
	return secureHeaders(s.proxies, limitBody(mux))
}

// maxBody bounds the body of every request but uploads: no other
// endpoint takes more than a WHIP offer (64 KiB).
const maxBody = 64 << 10

// limitBody refuses a body over maxBody with 413 (before any handler
// runs when its length is announced, else when it is read), on every
// endpoint but uploads, whose handler bounds them by the room's
// max_clip_bytes.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/clips") {
			next.ServeHTTP(w, r) // an upload (clips.UploadPattern)
			return
		}
		if r.ContentLength > maxBody {
			http.Error(w, fmt.Sprintf("the request body is over %d bytes", maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, `{"status":"ok","uptime_seconds":%d,"rooms":%d,"sessions":%d}`+"\n",
		int(time.Since(s.started).Seconds()), len(s.hub.RoomInfos()), s.hub.Sessions())
}

// Addr is the HTTP listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the address to open in a browser.
func (s *Server) URL() string {
	if s.tls != nil {
		return "https://" + s.ln.Addr().String() + "/"
	}
	return "http://" + s.ln.Addr().String() + "/"
}

// RedirectAddr is the plain-HTTP redirect listener's address (nil when off).
func (s *Server) RedirectAddr() net.Addr {
	if s.redirectLn == nil {
		return nil
	}
	return s.redirectLn.Addr()
}

// MetricsAddr is the metrics listener's address (nil when off).
func (s *Server) MetricsAddr() net.Addr {
	if s.metricsLn == nil {
		return nil
	}
	return s.metricsLn.Addr()
}

// serveSide serves one of the side listeners on a goroutine that
// Shutdown waits for.
func (s *Server) serveSide(srv *http.Server, ln net.Listener, what string) {
	if srv == nil {
		return
	}
	s.sideMu.Lock()
	defer s.sideMu.Unlock()
	if s.sideShut {
		return
	}
	s.sides.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error(what, "err", err)
		}
	})
}

// MediaUDPAddr is the shared media UDP socket's address (nil with a port range).
func (s *Server) MediaUDPAddr() net.Addr { return s.engine.UDPAddr() }

// MediaTCPAddr is the ICE-TCP listener's address (nil when off).
func (s *Server) MediaTCPAddr() net.Addr { return s.engine.TCPAddr() }

// Rooms lists the rooms with their live state.
func (s *Server) Rooms() []signaling.RoomInfo { return s.hub.RoomInfos() }

// Serve serves HTTP until Shutdown. It returns nil after a shutdown.
func (s *Server) Serve() error {
	s.serveSide(s.redirect, s.redirectLn, "http redirect server")
	s.serveSide(s.metrics, s.metricsLn, "http metrics server")
	var err error
	if s.tls != nil {
		err = s.http.ServeTLS(s.ln, "", "")
	} else {
		err = s.http.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, tells every session, closes all media and the
// sockets, and waits for them until ctx ends. Later calls return the
// first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		if s.cluster != nil {
			s.drain(ctx)
		}
		s.sideMu.Lock()
		s.sideShut = true
		s.sideMu.Unlock()
		errHTTP := s.http.Shutdown(ctx)
		for _, side := range []struct {
			srv *http.Server
			ln  net.Listener
		}{{s.redirect, s.redirectLn}, {s.metrics, s.metricsLn}} {
			if side.srv != nil {
				errHTTP = errors.Join(errHTTP, side.srv.Shutdown(ctx))
				_ = side.ln.Close() // when Serve never ran
			}
		}
		s.sides.Wait()
		if s.stopWatch != nil {
			s.stopWatch()
		}
		s.watching.Wait()
		s.roomFiles.mu.Lock()
		s.roomFiles.closed = true
		s.roomFiles.mu.Unlock()
		// The hub first: sessions that record store their clips.
		errHub := s.hub.Shutdown(ctx)
		// The clip store next: it writes the rooms' played files as it
		// closes.
		errStore := s.store.Close()
		// The rooms' last changes to the bucket, played files included,
		// while this node still holds them.
		if s.bucket != nil {
			s.bucket.close()
		}
		// Then the cluster: the rooms' leases are released once their
		// members here have gone.
		if s.cluster != nil {
			errHub = errors.Join(errHub, s.cluster.Close(ctx))
			s.proxyTransport.CloseIdleConnections()
		}
		s.checks.Close()
		if s.chatFiles != nil {
			errStore = errors.Join(errStore, s.chatFiles.Close())
		}
		s.mail.Close() // after the store: no more clip events
		s.hooks.Close()
		errTURN := s.turn.Close()
		errEngine := s.engine.Close()
		s.shutdownErr = errors.Join(errHTTP, errHub, errStore, errTURN, errEngine)
	})
	return s.shutdownErr
}

// TokenSecretFile is the file, in the data folder, that keeps the
// generated join-token secret when auth.token_secret is "".
const TokenSecretFile = "token-secret"

// TokenSecret is the secret that signs join tokens (and makes clip media
// keys): auth.token_secret when set; else, in a cluster, the secret the
// nodes share in Redis (cluster.SharedSecret), so that a token made by one
// node is good at the node its room lives on; else the one generated once
// and kept in the data folder (TokenSecretFile).
func TokenSecret(cfg configs.Server, log *slog.Logger) (string, error) {
	if cfg.Auth.TokenSecret == "" && cfg.Cluster.Enabled() {
		return cluster.SharedSecret(context.Background(), cfg.Cluster, "token-secret")
	}
	return secretfile.Load(cfg.Auth.TokenSecret, filepath.Join(cfg.Storage.DataDir, TokenSecretFile), "join-token secret", log)
}

// The WHIP sessions one client address may start: WHIPStartBurst in a
// row, then WHIPStartsPerMinute. Enough for a publisher that reconnects
// now and then, not for one that fills a room with sessions.
const (
	WHIPStartsPerMinute = 6
	WHIPStartBurst      = 10
)

// authConfig prepares what the signaling layer needs to admit people.
func authConfig(cfg configs.Server, log *slog.Logger) (signaling.Auth, error) {
	secret, err := TokenSecret(cfg, log)
	if err != nil {
		return signaling.Auth{}, err
	}
	var proxies access.Proxies
	for _, p := range cfg.HTTP.TrustedProxies {
		pr, err := configs.ParseProxy(p)
		if err != nil {
			return signaling.Auth{}, fmt.Errorf("http.trusted_proxies: %w", err)
		}
		proxies = append(proxies, pr)
	}
	return signaling.Auth{
		TokenSecret:         []byte(secret),
		Operators:           cfg.Auth.Operators,
		Failures:            access.NewLimiter(cfg.Auth.FailuresPerMinute, cfg.Auth.FailureBurst),
		WHIPStarts:          access.NewLimiter(WHIPStartsPerMinute, WHIPStartBurst),
		WHEPStarts:          access.NewLimiter(float64(cfg.HTTP.WHEPStartsPerMinute), cfg.HTTP.WHEPStartsPerMinute), // 0: off
		Proxies:             proxies,
		MaxConnectionsPerIP: cfg.HTTP.MaxConnectionsPerIP,
	}, nil
}
