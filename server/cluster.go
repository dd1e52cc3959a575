package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"parley/cluster"
	"parley/configs"
	"parley/sfu"
	"parley/signaling"
)

// newClusterNode joins the cluster when [cluster] is set; nil otherwise
// (and then no Redis client is made). The node reads the rooms' load
// from the hub, which is made after it.
func newClusterNode(cfg configs.Server, engine *sfu.Engine, hub *atomic.Pointer[signaling.Hub], onAdopt func(room string), log *slog.Logger) (*cluster.Node, error) {
	if !cfg.Cluster.Enabled() {
		return nil, nil
	}
	var node *cluster.Node
	// A room whose lease this node lost (a Redis outage longer than a
	// lease, during which another node took it) sends its members here
	// to its home now. Called on the node's heartbeat goroutine. A room
	// nobody is in here is left to the next join to place: placed here
	// again, it would be taken up (OnAdopt: a Pull from the bucket) on
	// the heartbeat, holding up the renewal of every other room.
	lost := func(room string) {
		h := hub.Load()
		if h == nil {
			return
		}
		inUse := false
		for _, ri := range h.RoomInfos() {
			inUse = inUse || ri.Name == room && ri.Participants+ri.Viewers > 0
		}
		if !inUse {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), placeTimeout)
		owner, err := node.Place(ctx, room)
		cancel()
		switch {
		case err != nil:
			log.Warn("cluster: a lost room's home is unknown; its members stay", "room", room, "err", err)
		case owner != "": // "": placed here again, the members stay
			n := h.Redirect(room, signaling.WebSocketURL(owner))
			log.Info("cluster: members of a lost room sent to its home", "room", room, "to", owner, "members", n)
		}
	}
	node, err := cluster.New(cluster.Config{
		Cluster:   cfg.Cluster,
		MediaAddr: mediaAddr(cfg.Media, engine),
		Usage: func() map[string]int {
			h := hub.Load()
			if h == nil {
				return nil
			}
			out := map[string]int{}
			for _, ri := range h.RoomInfos() {
				if n := ri.Participants + ri.Viewers; n > 0 {
					out[ri.Name] = n
				}
			}
			return out
		},
		OnLost:  func(room string) { lost(room) },
		OnAdopt: onAdopt,
	}, log)
	return node, err
}

// mediaAddr is the media address clients are given: the public IP when
// set, and the shared UDP port ("" with a port range).
func mediaAddr(m configs.Media, engine *sfu.Engine) string {
	a, ok := engine.UDPAddr().(*net.UDPAddr)
	if !ok || a == nil {
		return ""
	}
	ip := a.IP.String()
	if m.PublicIP != "" {
		ip = m.PublicIP
	}
	return net.JoinHostPort(ip, strconv.Itoa(a.Port))
}

// placed sends a WHIP or WHEP POST for a room that lives on another node
// of the cluster to that node, with 307: the client repeats the same POST
// there (its body included), and its session's resource is then that
// node's. A 307 rather than a proxy: the media goes to the node the
// answer names anyway, so a proxy would only carry the few requests of
// signaling and add a hop that fails with this node.
func (s *Server) placed(next http.Handler) http.Handler {
	if s.cluster == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		room := r.PathValue("room")
		if r.Method != http.MethodPost || !s.hub.HasRoom(room) {
			next.ServeHTTP(w, r) // no such room: the handler says so
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), placeTimeout)
		owner, err := s.cluster.Place(ctx, room)
		cancel()
		switch {
		case err != nil:
			s.log.Warn("where the room lives is unknown", "room", room, "path", r.URL.Path, "err", err)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "the server cannot tell where the room lives now; try again", http.StatusServiceUnavailable)
		case owner != "":
			http.Redirect(w, r, owner+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// viaHeader marks a request one node proxies to another (roomAPI): the
// node that gets it serves it, never sends it on again. Its value is the
// proxying node's id.
const viaHeader = "X-Parley-Via"

// ownHeaders are the headers secureHeaders sets on every answer of this
// node: a proxied answer has them from the room's node too, and they are
// not given twice.
var ownHeaders = []string{"Strict-Transport-Security", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Content-Security-Policy", "Permissions-Policy"}

// roomAPI serves a room's HTTP API (its clips, its details) at the node
// the room lives on: a request for a room that lives on another node is
// proxied there. A page served by one node asks its own origin for the
// clips of a room that its websocket follows to another node; the room's
// node alone has its clips, its members (who may read them) and their
// keys. A proxy, not a redirect, because the page's fetches and <audio>
// sources stay on its origin: no cross-origin request, no wider
// Content-Security-Policy. A room that lives nowhere (no lease), or whose
// home is unknown (Redis does not answer), is served here; with a bucket
// (storage.s3_*) a room that lives nowhere is placed first, as a join
// places it, so that the node that serves it has its clips, and a change
// (upload, delete, publish) to a room whose home is unknown is refused
// with 503, as a join is.
func (s *Server) roomAPI(next http.Handler) http.Handler {
	if s.cluster == nil {
		return next
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The owner's host, as its public URL names it: a reverse
			// proxy in front of it may route by name.
			pr.SetURL(pr.In.Context().Value(ownerKey{}).(*url.URL))
			pr.SetXForwarded()
			pr.Out.Header.Set(viaHeader, s.cluster.ID())
		},
		Transport: s.proxyTransport,
		ModifyResponse: func(resp *http.Response) error {
			for _, h := range ownHeaders {
				resp.Header.Del(h)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("cluster: the room's node did not answer a proxied request", "room", r.PathValue("room"), "path", r.URL.Path, "err", err)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "the node this room lives on did not answer; try again", http.StatusBadGateway)
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		room := r.PathValue("room")
		if !s.hub.HasRoom(room) {
			next.ServeHTTP(w, r)
			return
		}
		// With a bucket the room is placed, so that a node serves it
		// only once it has taken the room's clips from the bucket; a
		// request another node proxied takes the room up here.
		where := s.cluster.Locate
		if s.bucket != nil {
			where = s.cluster.Place
		}
		if r.Header.Get(viaHeader) != "" {
			if s.bucket != nil {
				ctx, cancel := context.WithTimeout(r.Context(), placeTimeout)
				_, _ = s.cluster.Place(ctx, room)
				cancel()
			}
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), placeTimeout)
		owner, err := where(ctx, room)
		cancel()
		if err != nil && s.bucket != nil && r.Method != http.MethodGet && r.Method != http.MethodHead {
			// A change made here, on a node that may not hold the room,
			// would not reach the room's clips: a deletion or a publish
			// undone, an upload kept on this disk only.
			s.log.Warn("cluster: where the room lives is unknown: a change refused", "room", room, "path", r.URL.Path, "err", err)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "the server cannot tell where the room lives now; try again", http.StatusServiceUnavailable)
			return
		}
		if err != nil {
			s.log.Warn("cluster: where the room lives is unknown: served here", "room", room, "err", err)
		}
		u, perr := url.Parse(owner)
		if owner == "" || perr != nil {
			next.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ownerKey{}, u)))
	})
}

// ownerKey is the context key of the URL of the node a proxied request
// goes to.
type ownerKey struct{}

// newProxyTransport is the transport of the requests roomAPI proxies:
// its own connections to the other nodes, bounded in time.
func newProxyTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // the nodes reach each other directly
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second, // an upload is checked before it is answered
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       60 * time.Second,
	}
}

// placeTimeout bounds the question of where a room lives.
const placeTimeout = 5 * time.Second

// adminCluster serves GET /api/admin/cluster: this node, the rooms it
// holds and the live nodes; 404 without [cluster].
func (a *adminAPI) adminCluster(w http.ResponseWriter, r *http.Request, _ string) {
	n := a.s.cluster
	if n == nil {
		writeError(w, http.StatusNotFound, "this server is not a node of a cluster")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), placeTimeout)
	defer cancel()
	nodes, err := n.Nodes(ctx)
	out := map[string]any{"node": n.ID(), "url": n.URL(), "rooms": n.Owned(), "nodes": nodes}
	if nodes == nil {
		out["nodes"] = []cluster.NodeInfo{}
	}
	if err != nil {
		out["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

// drain moves this node's rooms to other nodes of the cluster before it
// stops: no room is placed here any more, and the members of each room in
// use are sent to the node that takes it (websocket sessions follow a
// redirect; WHIP sessions and WHEP viewers are ended, to come back
// through any node). The HTTP server still runs meanwhile, so that a
// client that comes back here is sent on too. Their recordings end and
// are stored here as they leave. Rooms that no other node can take stop
// with the server.
func (s *Server) drain(ctx context.Context) {
	// The rooms' clips and played files as they are to the bucket
	// first, for the nodes that take them; what changes after (a recording that ends as its
	// member leaves) is added by the clip store's events.
	if s.bucket != nil {
		for _, room := range s.cluster.Owned() {
			_ = s.store.SavePlayed(room) // the marks of those who heard a clip live
			s.bucket.push(room, false)
		}
	}
	rooms, err := s.cluster.Drain(ctx, func(room, url string) {
		n := s.hub.Redirect(room, signaling.WebSocketURL(url))
		s.log.Info("cluster: draining: members sent to the room's next node", "room", room, "to", url, "members", n)
	})
	if err != nil {
		s.log.Warn("cluster: draining", "err", err)
	}
	s.log.Info("cluster: drained", "rooms_moved", len(rooms))
}
