// Package server wires parley's parts into one HTTP server: the media
// engine, the signaling hub and the web client. It owns their start and
// their orderly shutdown; cmd/parley only adds flags and signals.
package server

import (
	"path/filepath"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"parley/access"
	"parley/internal/secretfile"
	"sync"
	"time"

	"parley/clips"
	"parley/configs"
	"parley/sfu"
	"parley/signaling"
	"parley/turn"
	"parley/web"
)

// Server is a running parley.
type Server struct {
	cfg     configs.Server
	log     *slog.Logger
	engine  *sfu.Engine
	turn    *turn.Server
	store   *clips.Store
	hub     *signaling.Hub
	http    *http.Server
	ln      net.Listener
	started time.Time

	shutdownOnce sync.Once
	shutdownErr  error
}

// New opens every socket (HTTP, media UDP and TCP) so that a port in use
// is reported at once, and prepares the rooms. Serve starts serving.
func New(cfg configs.Server, rooms []configs.Room, log *slog.Logger) (*Server, error) {
	engine, err := sfu.NewEngine(sfu.Config{
		ListenIP:   cfg.Media.ListenIP,
		UDPPort:    cfg.Media.UDPPort,
		UDPPortMin: cfg.Media.UDPPortMin,
		UDPPortMax: cfg.Media.UDPPortMax,
		TCPPort:    cfg.Media.TCPPort,
		PublicIP:   cfg.Media.PublicIP,
	}, log)
	if err != nil {
		return nil, err
	}
	// The TURN server relays to the engine's media ports: start it after
	// the engine and before the HTTP listener, which hands out its
	// credentials.
	relay, err := turn.New(turn.Config{TURN: cfg.TURN, DataDir: cfg.Storage.DataDir}, log)
	if err != nil {
		_ = engine.Close()
		return nil, fmt.Errorf("turn: %w", err)
	}
	store, err := clips.Open(cfg.Storage.DataDir, rooms, log)
	if err != nil {
		_ = relay.Close()
		_ = engine.Close()
		return nil, err
	}
	auth, err := authConfig(cfg, log)
	if err != nil {
		_ = store.Close()
		_ = relay.Close()
		_ = engine.Close()
		return nil, err
	}
	store.Start(context.Background()) // the expiry sweeper; Close stops it
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		_ = store.Close()
		_ = relay.Close()
		_ = engine.Close()
		return nil, fmt.Errorf("http listen: %w", err)
	}
	s := &Server{cfg: cfg, log: log, engine: engine, turn: relay, store: store, ln: ln, started: time.Now()}
	s.hub = signaling.NewHub(signaling.Config{
		Auth:            auth,
		Signaling:       cfg.Signaling,
		AllowedOrigins:  cfg.HTTP.AllowedOrigins,
		Store:           store,
		CallTimeout:     cfg.Signaling.CallTimeout.D(),
		CallRejoinGrace: cfg.Signaling.CallRejoinGrace.D(),
		ICEServers: func(id string) []signaling.ICEServer {
			var out []signaling.ICEServer
			for _, ice := range relay.ICEServers(id) {
				out = append(out, signaling.ICEServer{URLs: ice.URLs, Username: ice.Username, Credential: ice.Credential})
			}
			return out
		},
	}, rooms, engine, log)
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /ws", s.hub)
	mux.HandleFunc("GET /api/rooms", s.hub.HandleRooms)
	mux.HandleFunc("GET /api/rooms/{room}", s.hub.HandleRoom)
	clips.Routes(mux, s.store.Handler(s.hub.ClipAuth))
	mux.HandleFunc("POST /whip/{room}", s.hub.HandleWHIP)
	mux.HandleFunc("DELETE /whip/{room}/{id}", s.hub.HandleWHIPResource)
	mux.HandleFunc("PATCH /whip/{room}/{id}", s.hub.HandleWHIPResource)
	mux.Handle("GET /", web.Handler())
	return secureHeaders(mux)
}

// secureHeaders sets the headers every response carries. The API answers
// JSON and media only, so its policy allows nothing; the web client sets
// its own Content-Security-Policy.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()")
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
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/" }

// MediaUDPAddr is the shared media UDP socket's address (nil with a port range).
func (s *Server) MediaUDPAddr() net.Addr { return s.engine.UDPAddr() }

// MediaTCPAddr is the ICE-TCP listener's address (nil when off).
func (s *Server) MediaTCPAddr() net.Addr { return s.engine.TCPAddr() }

// Rooms lists the rooms with their live state.
func (s *Server) Rooms() []signaling.RoomInfo { return s.hub.RoomInfos() }

// Serve serves HTTP until Shutdown. It returns nil after a shutdown.
func (s *Server) Serve() error {
	err := s.http.Serve(s.ln)
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
		errHTTP := s.http.Shutdown(ctx)
		// The hub first: sessions that record store their clips.
		errHub := s.hub.Shutdown(ctx)
		errStore := s.store.Close()
		errTURN := s.turn.Close()
		errEngine := s.engine.Close()
		s.shutdownErr = errors.Join(errHTTP, errHub, errStore, errTURN, errEngine)
	})
	return s.shutdownErr
}

// TokenSecretFile is the file, in the data folder, that keeps the
// generated join-token secret when auth.token_secret is "".
const TokenSecretFile = "token-secret"

// authConfig prepares what the signaling layer needs to admit people.
func authConfig(cfg configs.Server, log *slog.Logger) (signaling.Auth, error) {
	secret, err := secretfile.Load(cfg.Auth.TokenSecret, filepath.Join(cfg.Storage.DataDir, TokenSecretFile), "join-token secret", log)
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
		Proxies:             proxies,
		MaxConnectionsPerIP: cfg.HTTP.MaxConnectionsPerIP,
	}, nil
}
