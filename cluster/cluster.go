// Package cluster makes a parley server one node of a cluster whose
// nodes share a Redis. It owns these Redis keys, each under the
// configured prefix:
//
//   - node:<id>, the node's record (NodeInfo as JSON: its id, its public
//     URL, its media address and its load), with a TTL of one lease,
//     renewed every heartbeat; the set nodes lists the ids. A clean stop
//     deletes the record.
//   - origins, a hash from each node's origin (its public URL's scheme,
//     host and port) to when it last registered: a page served by a node
//     that has stopped may still open websockets to the others for
//     originsTTL (KnownOrigin).
//   - room:<name>, a room's lease: the id of the node the room lives on,
//     with a TTL of one lease. It is made with SET NX by the node that
//     places the room, renewed by its holder while the room is in use,
//     and deleted by its holder once the room has been empty for
//     release_after, or on a clean stop. Renewal and release compare the
//     holder first (Lua scripts), so a node never touches a lease that is
//     no longer its own.
//
// One goroutine per node renews (the heartbeat); Close stops it and waits
// for it. Everything read from Redis is checked: a record or a lease that
// is not what this package writes is an error or is treated as absent,
// never trusted. It does not know about rooms' members or media: the
// server tells it each room's load (Config.Usage), asks it where a room
// lives (Place), and has it hand its rooms to other nodes before it stops
// (Drain). The rooms' chat memory is kept in the same Redis (ChatLog,
// with keys of its own).
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/configs"
)

// Config is what a node needs.
type Config struct {
	configs.Cluster
	// MediaAddr is the node's media address (host:port of its ICE UDP
	// socket), for the record; informational.
	MediaAddr string
	// Usage returns how many are in each room of this node now (members
	// and viewers); the heartbeat calls it. nil: no room is ever in use.
	Usage func() map[string]int
	// OnLost, if set, is called (on the heartbeat goroutine) with a room
	// whose lease this node held and found taken by another node or
	// gone: its members here are no longer in the room's home.
	OnLost func(room string)
	// OnAdopt, if set, is called when this node takes a room's lease up
	// (Place): the first Place that does runs it, and every Place for the
	// room returns only after it has returned, so that no member is let
	// in before it is done (the server makes the room's clip folder the
	// bucket's copy there). It runs outside the node's locks.
	OnAdopt func(room string)
}

// NodeInfo is a node's record in Redis.
type NodeInfo struct {
	ID    string `json:"id"`
	URL   string `json:"url"`   // public base URL, scheme://host[:port]
	Media string `json:"media"` // media address, informational
	Load  int    `json:"load"`  // participants and viewers on the node
	// Draining: the node is stopping; no room is placed on it.
	Draining bool `json:"draining,omitempty"`
}

// maxRecord bounds a node record read from Redis.
const maxRecord = 4 << 10

// check returns an error if the record is not one this package writes.
func (ni NodeInfo) check(id string) error {
	switch {
	case ni.ID != id:
		return fmt.Errorf("it names node %q", truncate(ni.ID, 64))
	case configs.CheckPublicURL(ni.URL) != "":
		return fmt.Errorf("its url %q is not a node's base URL", truncate(ni.URL, 200))
	case ni.Load < 0:
		return fmt.Errorf("its load %d is negative", ni.Load)
	}
	return nil
}

// Node is this server's membership of the cluster.
type Node struct {
	cfg Config
	id  string
	rdb *redis.Client
	log *slog.Logger

	stop context.CancelFunc
	done chan struct{}

	// placing is held (read) by Place and (write) by the heartbeat while
	// it releases leases, so that a room is not released under a joiner
	// that Place has just found it held for.
	placing sync.RWMutex

	mu       sync.Mutex
	held     map[string]time.Time     // rooms whose lease this node holds, by when last in use
	adopting map[string]chan struct{} // rooms whose OnAdopt runs, closed when it returned
	origins  map[string]bool          // the live nodes' origins (lower case)
	load     int
	problem  string // the last problem the heartbeat logged
	closed   bool
	draining bool // see Drain

	closeOnce sync.Once
	closeErr  error
}

// New connects to Redis, registers the node and starts its heartbeat.
func New(cfg Config, log *slog.Logger) (*Node, error) {
	if msg := configs.CheckPublicURL(cfg.PublicURL); msg != "" {
		return nil, fmt.Errorf("cluster.public_url: %s", msg)
	}
	opts, err := clientOptions(cfg.Cluster)
	if err != nil {
		return nil, err
	}
	id := cfg.NodeID
	if id == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = "n" + hex.EncodeToString(b)
	}
	if !configs.ValidNodeID(id) {
		return nil, fmt.Errorf("cluster.node_id %q: want 1-64 letters, digits, '-', '_' or '.'", id)
	}
	n := &Node{
		cfg:      cfg,
		id:       id,
		rdb:      redis.NewClient(opts),
		log:      log.With("node", id),
		held:     map[string]time.Time{},
		adopting: map[string]chan struct{}{},
		origins:  map[string]bool{},
		done:     make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Lease.D())
	defer cancel()
	if err := n.register(ctx, 0); err != nil {
		_ = n.rdb.Close()
		return nil, err
	}
	n.refreshOrigins(ctx)
	ctx, n.stop = context.WithCancel(context.Background())
	go n.run(ctx)
	n.log.Info("cluster: node registered", "url", cfg.PublicURL)
	return n, nil
}

// clientOptions are the options of a Redis client of the cluster c.
func clientOptions(c configs.Cluster) (*redis.Options, error) {
	opts, err := redis.ParseURL(c.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("cluster.redis_url: %w", err)
	}
	// Each call has its own deadline (the heartbeat's or the caller's
	// context); these bound a Redis that accepts and never answers.
	opts.DialTimeout = c.Lease.D()
	opts.ReadTimeout = c.Lease.D()
	opts.WriteTimeout = c.Lease.D()
	opts.ContextTimeoutEnabled = true
	opts.DisableIdentity = true // no CLIENT SETINFO: older servers refuse it
	return opts, nil
}

// ID is the node's id.
func (n *Node) ID() string { return n.id }

// URL is the node's public base URL.
func (n *Node) URL() string { return n.cfg.PublicURL }

func (n *Node) nodeKey(id string) string { return n.cfg.KeyPrefix + "node:" + id }
func (n *Node) nodesKey() string         { return n.cfg.KeyPrefix + "nodes" }
func (n *Node) originsKey() string       { return n.cfg.KeyPrefix + "origins" }
func (n *Node) roomKey(room string) string {
	return n.cfg.KeyPrefix + "room:" + room
}

// register writes the node's record with a TTL of one lease.
func (n *Node) register(ctx context.Context, load int) error {
	n.mu.Lock()
	draining := n.draining
	n.mu.Unlock()
	rec, _ := json.Marshal(NodeInfo{ID: n.id, URL: n.cfg.PublicURL, Media: n.cfg.MediaAddr, Load: load, Draining: draining})
	_, err := n.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, n.nodeKey(n.id), rec, n.cfg.Lease.D())
		p.SAdd(ctx, n.nodesKey(), n.id)
		p.HSet(ctx, n.originsKey(), canonicalOrigin(n.cfg.PublicURL), time.Now().Unix())
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: register node %s in redis: %w", n.id, err)
	}
	return nil
}

// run is the heartbeat: every Heartbeat it renews the node's record and
// its rooms' leases, until ctx ends.
func (n *Node) run(ctx context.Context) {
	defer close(n.done)
	t := time.NewTicker(n.cfg.Heartbeat.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.beat(ctx)
		}
	}
}

// beat is one heartbeat.
func (n *Node) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Heartbeat.D())
	defer cancel()
	var usage map[string]int
	if n.cfg.Usage != nil {
		usage = n.cfg.Usage()
	}
	load := 0
	for _, c := range usage {
		load += max(c, 0)
	}
	n.mu.Lock()
	n.load = load
	n.mu.Unlock()
	var problems []error
	if err := n.register(ctx, load); err != nil {
		problems = append(problems, err)
	}
	lost, err := n.renew(ctx, usage, time.Now())
	if err != nil {
		problems = append(problems, err)
	}
	for _, room := range lost {
		n.log.Warn("cluster: lost the lease of a room: another node holds it, or it expired", "room", room)
		if n.cfg.OnLost != nil {
			n.cfg.OnLost(room)
		}
	}
	if err := n.refreshOrigins(ctx); err != nil {
		problems = append(problems, err)
	}
	// A problem is logged when it appears or changes, not at every beat.
	msg := ""
	if err := errors.Join(problems...); err != nil {
		msg = err.Error()
	}
	n.mu.Lock()
	changed := msg != n.problem
	n.problem = msg
	n.mu.Unlock()
	switch {
	case changed && msg != "":
		n.log.Warn("cluster: heartbeat", "err", msg)
	case changed:
		n.log.Info("cluster: heartbeat works again")
	}
}

// renewScript extends each lease of KEYS that ARGV[1] holds to ARGV[2]
// ms and answers 1 for it, 0 for one held by another node or gone. A key
// of another type (not a lease of ours) answers 0.
var renewScript = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
  if redis.pcall('GET', k) == ARGV[1] then
    redis.call('PEXPIRE', k, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out`)

// releaseScript deletes each lease of KEYS that ARGV[1] holds.
var releaseScript = redis.NewScript(`
local n = 0
for _, k in ipairs(KEYS) do
  if redis.pcall('GET', k) == ARGV[1] then
    n = n + redis.call('DEL', k)
  end
end
return n`)

// renew releases the held rooms empty for ReleaseAfter and renews the
// others; it returns the rooms whose lease was found lost.
func (n *Node) renew(ctx context.Context, usage map[string]int, now time.Time) (lost []string, err error) {
	var keep, release []string
	n.placing.Lock()
	defer n.placing.Unlock()
	n.mu.Lock()
	for room, used := range n.held {
		if usage[room] > 0 {
			n.held[room] = now
			used = now
		}
		if now.Sub(used) >= n.cfg.ReleaseAfter.D() {
			release = append(release, room)
			delete(n.held, room)
		} else {
			keep = append(keep, room)
		}
	}
	n.mu.Unlock()
	if len(release) > 0 {
		if err := n.release(ctx, release); err != nil {
			return nil, err
		}
		n.log.Info("cluster: rooms released", "rooms", release)
	}
	if len(keep) == 0 {
		return nil, nil
	}
	ok, err := n.renewLeases(ctx, keep)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	for i, room := range keep {
		if !ok[i] {
			delete(n.held, room)
			lost = append(lost, room)
		}
	}
	n.mu.Unlock()
	return lost, nil
}

// renewLeases renews the leases of rooms that this node holds, and says
// for each whether it still did.
func (n *Node) renewLeases(ctx context.Context, rooms []string) ([]bool, error) {
	keys := make([]string, len(rooms))
	for i, r := range rooms {
		keys[i] = n.roomKey(r)
	}
	res, err := renewScript.Run(ctx, n.rdb, keys, n.id, n.cfg.Lease.D().Milliseconds()).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("cluster: renew %d room leases: %w", len(rooms), err)
	}
	if len(res) != len(rooms) {
		return nil, fmt.Errorf("cluster: renew %d room leases: redis answered %d results", len(rooms), len(res))
	}
	out := make([]bool, len(res))
	for i, v := range res {
		out[i] = v == 1
	}
	return out, nil
}

// release deletes the leases of rooms that this node holds.
func (n *Node) release(ctx context.Context, rooms []string) error {
	keys := make([]string, len(rooms))
	for i, r := range rooms {
		keys[i] = n.roomKey(r)
	}
	if err := releaseScript.Run(ctx, n.rdb, keys, n.id).Err(); err != nil {
		return fmt.Errorf("cluster: release %d room leases: %w", len(rooms), err)
	}
	return nil
}

// Owned lists the rooms whose lease this node holds, sorted.
func (n *Node) Owned() []string {
	n.mu.Lock()
	out := make([]string, 0, len(n.held))
	for r := range n.held {
		out = append(out, r)
	}
	n.mu.Unlock()
	slices.Sort(out)
	return out
}

// Holds reports whether this node holds the room's lease.
func (n *Node) Holds(room string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.held[room]
	return ok
}

// errNoNode is the answer for a node without a live record.
var errNoNode = errors.New("no live node of that id")

// node reads the record of node id.
func (n *Node) node(ctx context.Context, id string) (NodeInfo, error) {
	b, err := n.rdb.Get(ctx, n.nodeKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return NodeInfo{}, errNoNode
	}
	if err != nil {
		return NodeInfo{}, fmt.Errorf("cluster: read the record of node %s: %w", id, err)
	}
	return decodeRecord(id, b)
}

// decodeRecord reads a node record, as hostile input.
func decodeRecord(id string, b []byte) (NodeInfo, error) {
	var ni NodeInfo
	if len(b) > maxRecord {
		return NodeInfo{}, fmt.Errorf("cluster: the record of node %s in redis is %d bytes, more than %d", id, len(b), maxRecord)
	}
	if err := json.Unmarshal(b, &ni); err != nil {
		return NodeInfo{}, fmt.Errorf("cluster: the record of node %s in redis is not a node record: %w", id, err)
	}
	if err := ni.check(id); err != nil {
		return NodeInfo{}, fmt.Errorf("cluster: the record of node %s in redis is not valid: %w", id, err)
	}
	return ni, nil
}

// maxNodes bounds the node ids read from the set of nodes.
const maxNodes = 10000

// Nodes lists the live nodes, sorted by id. Records that are not valid
// are left out and named in the error, which is also set when Redis
// fails (then the list is empty). Ids whose record expired are removed
// from the set.
func (n *Node) Nodes(ctx context.Context) ([]NodeInfo, error) {
	ids, err := n.rdb.SRandMemberN(ctx, n.nodesKey(), maxNodes).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster: list the nodes: %w", err)
	}
	var valid []string
	var problems []error
	for _, id := range ids {
		if configs.ValidNodeID(id) {
			valid = append(valid, id)
		} else {
			problems = append(problems, fmt.Errorf("cluster: the set of nodes in redis holds %q, not a node id", truncate(id, 64)))
		}
	}
	if len(valid) == 0 {
		return nil, errors.Join(problems...)
	}
	keys := make([]string, len(valid))
	for i, id := range valid {
		keys[i] = n.nodeKey(id)
	}
	vals, err := n.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster: read the node records: %w", err)
	}
	var out []NodeInfo
	var gone []any
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			gone = append(gone, valid[i])
			continue
		}
		ni, err := decodeRecord(valid[i], []byte(s))
		if err != nil {
			problems = append(problems, err)
			continue
		}
		out = append(out, ni)
	}
	if len(gone) > 0 {
		// Their records expired: the nodes stopped without removing them.
		_ = n.rdb.SRem(ctx, n.nodesKey(), gone...).Err()
	}
	slices.SortFunc(out, func(a, b NodeInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, errors.Join(problems...)
}

// originsTTL is how long a node's origin stays allowed after the node
// was last alive: pages it served stay open after it stopped (drained,
// or died), and must still reach the nodes their rooms live on.
const originsTTL = 7 * 24 * time.Hour

// maxOrigins bounds the origins read from Redis.
const maxOrigins = 1000

// refreshOrigins keeps, for KnownOrigin, the origins of the live nodes
// and of the nodes alive within originsTTL (the hash origins: origin to
// the Unix time its node last registered); older entries are removed.
func (n *Node) refreshOrigins(ctx context.Context) error {
	nodes, err := n.Nodes(ctx)
	if len(nodes) == 0 && err != nil {
		return err // keep the last ones known
	}
	m := map[string]bool{canonicalOrigin(n.cfg.PublicURL): true}
	for _, ni := range nodes {
		m[canonicalOrigin(ni.URL)] = true
	}
	var problems []error
	if err != nil {
		problems = append(problems, err)
	}
	seen, err := n.rdb.HGetAll(ctx, n.originsKey()).Result()
	if err != nil {
		problems = append(problems, fmt.Errorf("cluster: read the nodes' origins: %w", err))
	}
	if len(seen) > maxOrigins {
		problems = append(problems, fmt.Errorf("cluster: the hash of origins in redis holds %d, more than %d: only the live nodes' are allowed", len(seen), maxOrigins))
		seen = nil
	}
	now := time.Now()
	var stale []string
	for o, at := range seen {
		unix, perr := strconv.ParseInt(at, 10, 64)
		switch {
		case canonicalOrigin(o) != o || perr != nil:
			problems = append(problems, fmt.Errorf("cluster: the hash of origins in redis holds %q: %q, not an origin and a time", truncate(o, 200), truncate(at, 40)))
		case now.Sub(time.Unix(unix, 0)) > originsTTL:
			stale = append(stale, o)
		default:
			m[o] = true
		}
	}
	if len(stale) > 0 {
		_ = n.rdb.HDel(ctx, n.originsKey(), stale...).Err()
	}
	n.mu.Lock()
	n.origins = m
	n.mu.Unlock()
	return errors.Join(problems...)
}

// KnownOrigin reports whether origin is the public URL of a node alive
// within originsTTL (as of the last heartbeat): pages served by one node
// open websockets to the node a room lives on, also once the node that
// served them has stopped.
func (n *Node) KnownOrigin(origin string) bool {
	o := canonicalOrigin(origin)
	n.mu.Lock()
	defer n.mu.Unlock()
	return o != "" && n.origins[o]
}

// canonicalOrigin is an http(s) origin in lower case with its port
// explicit ("https://a.org" and "https://A.org:443" are one), or "".
func canonicalOrigin(origin string) string {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return strings.ToLower(u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port))
}

// Place says where a room lives: "" when on this node, else the base
// URL of the node it lives on. A room without a home is placed on the
// least-loaded live node (this one when no other has less load): this
// node claims the lease for that node with SET NX, so that of two nodes
// placing one room at once, one claim wins and both answer its holder.
// The node it names adopts the lease when the room's first client comes
// to it; a lease nobody adopts expires after one lease. A lease whose
// holder has no live record is void, and is replaced. A Place that takes
// the room up here runs Config.OnAdopt, and every Place of the room here
// waits for it (or for ctx) before it answers.
func (n *Node) Place(ctx context.Context, room string) (string, error) {
	owner, adopted, err := n.place(ctx, room)
	if adopted == nil {
		return owner, err
	}
	if adopted.first {
		n.cfg.OnAdopt(room)
		n.mu.Lock()
		delete(n.adopting, room)
		n.mu.Unlock()
		close(adopted.done)
		return owner, err
	}
	select {
	case <-adopted.done:
		return owner, err
	case <-ctx.Done():
		return "", fmt.Errorf("cluster: room %s: waiting for the room to be taken up here: %w", room, ctx.Err())
	}
}

// adoption is an OnAdopt that a Place runs (first) or waits for.
type adoption struct {
	done  chan struct{}
	first bool
}

// place is Place but for OnAdopt: it returns the adoption that the
// caller runs or waits for, nil when there is none.
func (n *Node) place(ctx context.Context, room string) (string, *adoption, error) {
	n.placing.RLock()
	defer n.placing.RUnlock()
	n.mu.Lock()
	if _, ok := n.held[room]; ok {
		n.held[room] = time.Now() // in use: not released under a joiner
		var a *adoption
		if ch := n.adopting[room]; ch != nil {
			a = &adoption{done: ch}
		}
		n.mu.Unlock()
		return "", a, nil
	}
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return "", nil, fmt.Errorf("cluster: room %s: the node is stopping", room)
	}
	key := n.roomKey(room)
	for range 4 {
		holder, err := n.rdb.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			target := n.pick(ctx)
			ok, err := n.rdb.SetNX(ctx, key, target.ID, n.cfg.Lease.D()).Result()
			if err != nil {
				return "", nil, fmt.Errorf("cluster: room %s: claim its lease: %w", room, err)
			}
			if !ok {
				continue // another node placed it first: read its choice
			}
			n.log.Info("cluster: room placed", "room", room, "on", target.ID)
			if target.ID == n.id {
				return "", n.adopt(room), nil
			}
			return target.URL, nil, nil
		}
		if err != nil {
			return "", nil, fmt.Errorf("cluster: room %s: read its lease: %w", room, err)
		}
		if holder == n.id {
			// Placed here by another node: adopt it, unless it expired
			// meanwhile.
			ok, err := n.renewLeases(ctx, []string{room})
			if err != nil {
				return "", nil, err
			}
			if ok[0] {
				return "", n.adopt(room), nil
			}
			continue
		}
		var ni NodeInfo
		if configs.ValidNodeID(holder) {
			ni, err = n.node(ctx, holder)
		} else {
			err = errNoNode // not a lease this package writes
		}
		if errors.Is(err, errNoNode) {
			n.log.Info("cluster: a room's lease names no live node: replaced", "room", room, "holder", truncate(holder, 64))
			if err := releaseScript.Run(ctx, n.rdb, []string{key}, holder).Err(); err != nil {
				return "", nil, fmt.Errorf("cluster: room %s: remove its void lease: %w", room, err)
			}
			continue
		}
		if err != nil {
			return "", nil, fmt.Errorf("cluster: room %s: %w", room, err)
		}
		return ni.URL, nil, nil
	}
	return "", nil, fmt.Errorf("cluster: room %s: its lease changed at every try; try again", room)
}

// Locate says where a room lives now, without placing it: "" when on
// this node or nowhere (no lease, a lease that names no live node, or
// Redis does not answer: then the error), else the base URL of the live
// node whose lease it is.
func (n *Node) Locate(ctx context.Context, room string) (string, error) {
	n.mu.Lock()
	_, here := n.held[room]
	n.mu.Unlock()
	if here {
		return "", nil
	}
	holder, err := n.rdb.Get(ctx, n.roomKey(room)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("cluster: room %s: read its lease: %w", room, err)
	case holder == n.id || !configs.ValidNodeID(holder):
		return "", nil
	}
	ni, err := n.node(ctx, holder)
	if errors.Is(err, errNoNode) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return ni.URL, nil
}

// adopt makes a room one whose lease this node holds and renews, and
// returns the OnAdopt to run for it (nil without one). Called with
// placing held.
func (n *Node) adopt(room string) *adoption {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.held[room]; ok {
		if ch := n.adopting[room]; ch != nil {
			return &adoption{done: ch}
		}
		return nil
	}
	n.held[room] = time.Now()
	if n.cfg.OnAdopt == nil {
		return nil
	}
	a := &adoption{done: make(chan struct{}), first: true}
	n.adopting[room] = a.done
	return a
}

// pick is the least-loaded live node that is not draining, this one
// when none has less load (and this one is not draining) or the list
// cannot be read (then the error is logged).
func (n *Node) pick(ctx context.Context) NodeInfo {
	n.mu.Lock()
	self := NodeInfo{ID: n.id, URL: n.cfg.PublicURL, Load: n.load}
	draining := n.draining
	n.mu.Unlock()
	nodes, err := n.Nodes(ctx)
	if err != nil {
		n.log.Warn("cluster: placing a room", "err", err)
	}
	if best, ok := leastLoaded(nodes, n.id); ok && (draining || best.Load < self.Load) {
		return best
	}
	return self
}

// leastLoaded is the node of nodes with the least load that is neither
// draining nor except; false when there is none.
func leastLoaded(nodes []NodeInfo, except string) (NodeInfo, bool) {
	var best NodeInfo
	found := false
	for _, ni := range nodes {
		if ni.ID != except && !ni.Draining && (!found || ni.Load < best.Load) {
			best, found = ni, true
		}
	}
	return best, found
}

// handOverScript rewrites the lease KEYS[1] held by ARGV[1] to name
// ARGV[2], for ARGV[3] ms; 1 if it did, 0 if the lease was not ARGV[1]'s.
var handOverScript = redis.NewScript(`
if redis.pcall('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`)

// Drain prepares the node to stop. Its record says from now on that it
// is draining: no node places a room on it. Each room it holds that is
// in use (Config.Usage) is handed to the least-loaded other live node
// that is not draining, in turn: the room's lease is rewritten to name
// that node (only if it is still this node's), the node stops holding it,
// and moved is called with the room and the node's base URL, for the
// caller to send the room's members there; the node adopts the lease
// when they come (Place). Rooms not in use, and all of them when there
// is no other node, are kept, for Close to release. Drain returns the
// rooms it moved; an error ends it early, with what was moved so far.
func (n *Node) Drain(ctx context.Context, moved func(room, url string)) ([]string, error) {
	n.mu.Lock()
	n.draining = true
	load := n.load
	n.mu.Unlock()
	if err := n.register(ctx, load); err != nil {
		return nil, err
	}
	var usage map[string]int
	if n.cfg.Usage != nil {
		usage = n.cfg.Usage()
	}
	nodes, err := n.Nodes(ctx)
	if err != nil && len(nodes) == 0 {
		return nil, err
	}
	var out []string
	for _, room := range n.Owned() {
		if usage[room] <= 0 {
			continue
		}
		to, ok := leastLoaded(nodes, n.id)
		if !ok {
			n.log.Warn("cluster: draining, but no other node takes rooms: they stop here", "rooms", len(n.Owned())-len(out))
			break
		}
		n.placing.Lock()
		done, err := handOverScript.Run(ctx, n.rdb, []string{n.roomKey(room)}, n.id, to.ID, n.cfg.Lease.D().Milliseconds()).Int()
		if err == nil {
			n.mu.Lock()
			delete(n.held, room)
			n.mu.Unlock()
		}
		n.placing.Unlock()
		if err != nil {
			return out, fmt.Errorf("cluster: hand room %s to node %s: %w", room, to.ID, err)
		}
		if done != 1 {
			// Lost meanwhile: the heartbeat tells OnLost, or did.
			continue
		}
		n.log.Info("cluster: draining: room handed over", "room", room, "to", to.ID, "members", usage[room])
		for i := range nodes {
			if nodes[i].ID == to.ID {
				nodes[i].Load += usage[room] // the next room goes where there is most room now
			}
		}
		out = append(out, room)
		moved(room, to.URL)
	}
	return out, nil
}

// Close stops the heartbeat and waits for it, releases the leases this
// node holds, removes its record and closes the Redis client, within
// ctx.
func (n *Node) Close(ctx context.Context) error {
	return n.close(ctx, true)
}

// Abandon stops the heartbeat and closes the Redis client without
// releasing anything, as a node that dies would: its record and leases
// expire after one lease. For tests.
func (n *Node) Abandon() { _ = n.close(context.Background(), false) }

func (n *Node) close(ctx context.Context, release bool) error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		n.stop()
		<-n.done
		var errs []error
		if release {
			if rooms := n.Owned(); len(rooms) > 0 {
				errs = append(errs, n.release(ctx, rooms))
			}
			_, err := n.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Del(ctx, n.nodeKey(n.id))
				p.SRem(ctx, n.nodesKey(), n.id)
				return nil
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("cluster: remove node %s from redis: %w", n.id, err))
			}
			n.log.Info("cluster: node left the cluster")
		}
		n.mu.Lock()
		clear(n.held)
		n.mu.Unlock()
		errs = append(errs, n.rdb.Close())
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
