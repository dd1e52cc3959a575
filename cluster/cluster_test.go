package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/configs"
	"parley/internal/leakcheck"
	"parley/internal/redistest"
)

// testLog is quiet unless the test runs with -v.
func testLog() *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// usage is a room load that a test sets.
type usage struct {
	mu    sync.Mutex
	rooms map[string]int
}

func (u *usage) set(room string, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.rooms == nil {
		u.rooms = map[string]int{}
	}
	u.rooms[room] = n
}

func (u *usage) get() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]int{}
	for k, v := range u.rooms {
		out[k] = v
	}
	return out
}

// startNode starts a node of the cluster on redisURL; the test closes it.
func startNode(t *testing.T, redisURL, id string, u *usage, mutate func(*Config)) *Node {
	t.Helper()
	cfg := Config{
		Cluster: configs.Cluster{
			RedisURL:     redisURL,
			NodeID:       id,
			PublicURL:    "http://" + id + ".test:8080",
			KeyPrefix:    "t:",
			Heartbeat:    configs.Duration(100 * time.Millisecond),
			Lease:        configs.Duration(time.Second),
			ReleaseAfter: configs.Duration(30 * time.Second),
		},
		MediaAddr: "127.0.0.1:7882",
	}
	if u != nil {
		cfg.Usage = u.get
	}
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := New(cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	return n
}

// redisClient is a plain client of the test's Redis, to look at and to
// spoil its keys.
func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitFor polls cond until it holds, for at most 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ids(nodes []NodeInfo) string {
	var s []string
	for _, n := range nodes {
		s = append(s, fmt.Sprintf("%s(%d)", n.ID, n.Load))
	}
	return strings.Join(s, " ")
}

func TestRegistry(t *testing.T) {
	leakcheck.Check(t)
	url := redistest.Start(t)
	ctx := context.Background()
	var ua usage
	a := startNode(t, url, "a", &ua, nil)
	b := startNode(t, url, "b", nil, nil)
	c := startNode(t, url, "c", nil, nil)

	nodes, err := a.Nodes(ctx)
	if err != nil || ids(nodes) != "a(0) b(0) c(0)" {
		t.Fatalf("nodes %s, %v; want a b c", ids(nodes), err)
	}
	if nodes[1].URL != "http://b.test:8080" || nodes[1].Media != "127.0.0.1:7882" {
		t.Errorf("b's record: %+v", nodes[1])
	}
	// The load is the rooms' usage, renewed at each heartbeat.
	ua.set("chat", 3)
	ua.set("forum", 2)
	waitFor(t, "a's load is 5", func() bool {
		nodes, _ := b.Nodes(ctx)
		return ids(nodes) == "a(5) b(0) c(0)"
	})
	// Every node knows the others' origins.
	waitFor(t, "c's origin is known to a", func() bool { return a.KnownOrigin("HTTP://c.test:8080") })
	for _, o := range []string{"http://evil.test:8080", "http://c.test", "https://c.test:8080", "", "c.test:8080", "http://c.test:8080/x"} {
		if a.KnownOrigin(o) {
			t.Errorf("%q, no node's origin, is known", o)
		}
	}

	// A clean stop removes the record at once.
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if nodes, err := a.Nodes(ctx); err != nil || ids(nodes) != "a(5) c(0)" {
		t.Fatalf("after b closed: nodes %s, %v", ids(nodes), err)
	}
	// b's origin stays allowed: pages it served are still open, and
	// their rooms live on other nodes. An origin whose node was last
	// alive more than originsTTL ago is forgotten, and what is not an
	// origin and a time in the hash is never allowed.
	rc := redisClient(t, url)
	rc.HSet(ctx, "t:origins", "http://old.test:8080", time.Now().Add(-originsTTL-time.Hour).Unix(),
		"javascript:alert(1)", time.Now().Unix(), "http://x.test:80", "soon")
	err = a.refreshOrigins(ctx)
	if !a.KnownOrigin("http://b.test:8080") {
		t.Error("b's origin was forgotten when b stopped")
	}
	for _, o := range []string{"http://old.test:8080", "javascript:alert(1)", "http://x.test"} {
		if a.KnownOrigin(o) {
			t.Errorf("%q is allowed", o)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "javascript:alert(1)") || !strings.Contains(err.Error(), "soon") {
		t.Errorf("the garbage in the hash of origins is not reported: %v", err)
	}
	if rc.HExists(ctx, "t:origins", "http://old.test:8080").Val() {
		t.Error("the old origin stayed in redis")
	}
	// A node that dies leaves its record until its TTL (one lease) ends.
	died := time.Now()
	c.Abandon()
	if nodes, _ := a.Nodes(ctx); ids(nodes) != "a(5) c(0)" {
		t.Fatalf("just after c died: nodes %s", ids(nodes))
	}
	waitFor(t, "c's record expires", func() bool {
		nodes, _ := a.Nodes(ctx)
		return ids(nodes) == "a(5)"
	})
	if d := time.Since(died); d > 2*time.Second {
		t.Errorf("c's record expired after %v, want about one lease (1s)", d)
	}
	t.Logf("a dead node's record expired %v after it died", time.Since(died).Round(10*time.Millisecond))
	// Its id is gone from the set too.
	if n, err := rc.SCard(ctx, "t:nodes").Result(); err != nil || n != 1 {
		t.Errorf("the set of nodes holds %d ids (%v), want 1", n, err)
	}
	// The default port may be written or not.
	startNode(t, url, "e", nil, func(c *Config) { c.PublicURL = "https://e.test" })
	waitFor(t, "e's origin is known to a", func() bool { return a.KnownOrigin("https://E.test:443") })
}

func TestPlaceRace(t *testing.T) {
	leakcheck.Check(t)
	url := redistest.Start(t)
	a := startNode(t, url, "a", nil, nil)
	b := startNode(t, url, "b", nil, nil)
	nodes := map[string]*Node{a.URL(): a, b.URL(): b}
	ctx := context.Background()
	for r := range 20 {
		room := fmt.Sprintf("room%d", r)
		answers := make([]string, 16)
		errs := make([]error, 16)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range answers {
			wg.Go(func() {
				n := a
				if i%2 == 1 {
					n = b
				}
				<-start
				owner, err := n.Place(ctx, room)
				if owner == "" {
					owner = n.URL() // here
				}
				answers[i], errs[i] = owner, err
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for i, ans := range answers {
			if ans != answers[0] {
				t.Fatalf("%s: answer %d is %s, answer 0 %s: two owners", room, i, ans, answers[0])
			}
		}
		owner := nodes[answers[0]]
		if owner == nil {
			t.Fatalf("%s: owner %q is no node", room, answers[0])
		}
		// The owner answered "" (here) at least once, so it holds the room;
		// the other does not.
		other := a
		if owner == a {
			other = b
		}
		if !contains(owner.Owned(), room) || contains(other.Owned(), room) {
			t.Fatalf("%s: owned by %s: %v, by %s: %v", room, owner.ID(), owner.Owned(), other.ID(), other.Owned())
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestPlaceLeastLoadedAndRenewal(t *testing.T) {
	leakcheck.Check(t)
	url := redistest.Start(t)
	ctx := context.Background()
	var ua, ub usage
	ua.set("busy", 5)
	a := startNode(t, url, "a", &ua, nil)
	b := startNode(t, url, "b", &ub, nil)
	waitFor(t, "a's load is known", func() bool {
		nodes, _ := b.Nodes(ctx)
		return ids(nodes) == "a(5) b(0)"
	})
	// a gets the first join: b is less loaded, so the room goes to b.
	owner, err := a.Place(ctx, "chat")
	if err != nil || owner != b.URL() {
		t.Fatalf("a places chat on %q (%v), want b's %s", owner, err, b.URL())
	}
	if len(b.Owned()) != 0 {
		t.Fatal("b holds chat before any client came to it")
	}
	// The client comes to b, which adopts the lease.
	if owner, err := b.Place(ctx, "chat"); err != nil || owner != "" {
		t.Fatalf("b: owner %q (%v), want here", owner, err)
	}
	ub.set("chat", 1)
	// b renews the lease while the room is in use: it outlives several
	// leases' time.
	rc := redisClient(t, url)
	until := time.Now().Add(3 * time.Second)
	for time.Now().Before(until) {
		if v, err := rc.Get(ctx, "t:room:chat").Result(); err != nil || v != "b" {
			t.Fatalf("the lease of chat is %q (%v), want b", v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if owner, err := a.Place(ctx, "chat"); err != nil || owner != b.URL() {
		t.Fatalf("a: owner %q (%v), want b", owner, err)
	}

	// Equal loads: the node that gets the join keeps the room.
	ua.set("busy", 0)
	ub.set("chat", 0)
	waitFor(t, "loads are 0", func() bool {
		nodes, _ := a.Nodes(ctx)
		return ids(nodes) == "a(0) b(0)"
	})
	if owner, err := a.Place(ctx, "forum"); err != nil || owner != "" {
		t.Fatalf("a places forum on %q (%v), want itself", owner, err)
	}
}

func TestPlacedLeaseNotAdoptedExpires(t *testing.T) {
	leakcheck.Check(t)
	url := redistest.Start(t)
	ctx := context.Background()
	var ua usage
	ua.set("busy", 1)
	a := startNode(t, url, "a", &ua, nil)
	b := startNode(t, url, "b", nil, nil)
	waitFor(t, "a's load is known", func() bool { nodes, _ := a.Nodes(ctx); return ids(nodes) == "a(1) b(0)" })
	if owner, _ := a.Place(ctx, "chat"); owner != b.URL() {
		t.Fatalf("placed on %q, want b", owner)
	}
	// Nobody goes to b: the lease it was given expires.
	rc := redisClient(t, url)
	waitFor(t, "the unadopted lease expires", func() bool { return rc.Exists(ctx, "t:room:chat").Val() == 0 })
}

func TestRelease(t *testing.T) {
	leakcheck.Check(t)
	url := redistest.Start(t)
	ctx := context.Background()
	rc := redisClient(t, url)
	var ua usage
	a := startNode(t, url, "a", &ua, func(c *Config) { c.ReleaseAfter = configs.Duration(300 * time.Millisecond) })
	b := startNode(t, url, "b", nil, nil)
	if owner, err := a.Place(ctx, "chat"); err != nil || owner != "" {
		t.Fatalf("owner %q (%v)", owner, err)
	}
	ua.set("chat", 2)
	// Only the holder may renew or release: b's attempts change nothing.
	if ok, err := b.renewLeases(ctx, []string{"chat"}); err != nil || ok[0] {
		t.Fatalf("b renewed a's lease: %v %v", ok, err)
	}
	if err := b.release(ctx, []string{"chat"}); err != nil {
		t.Fatal(err)
	}
	if v := rc.Get(ctx, "t:room:chat").Val(); v != "a" {
		t.Fatalf("after b's release the lease is %q, want a", v)
	}
	// Empty: released after release_after.
	ua.set("chat", 0)
	waitFor(t, "the empty room's lease is released", func() bool { return rc.Exists(ctx, "t:room:chat").Val() == 0 })
	if len(a.Owned()) != 0 {
		t.Errorf("a still owns %v", a.Owned())
	}

	// A clean stop releases the leases it holds.
	if owner, err := a.Place(ctx, "forum"); err != nil || owner != "" {
		t.Fatalf("owner %q (%v)", owner, err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if rc.Exists(ctx, "t:room:forum", "t:node:a").Val() != 0 {
		t.Error("a's lease or record is left after a clean stop")
	}
	if _, err := a.Place(ctx, "forum"); err == nil {
		t.Error("a closed node places rooms")
	}
}

func TestLostLease(t *testing.T) {
	leakcheck.Check(t)
	url := redistest.Start(t)
	ctx := context.Background()
	lost := make(chan string, 1)
	var ua usage
	ua.set("chat", 1)
	a := startNode(t, url, "a", &ua, func(c *Config) { c.OnLost = func(room string) { lost <- room } })
	if owner, err := a.Place(ctx, "chat"); err != nil || owner != "" {
		t.Fatalf("owner %q (%v)", owner, err)
	}
	// Another holder takes the key (as after a long Redis outage).
	redisClient(t, url).Set(ctx, "t:room:chat", "z", time.Minute)
	select {
	case room := <-lost:
		if room != "chat" {
			t.Fatalf("lost %q", room)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the lost lease was not noticed")
	}
	if len(a.Owned()) != 0 {
		t.Errorf("a still owns %v", a.Owned())
	}
	// z has no live record: the lease is void, and a places the room again.
	if owner, err := a.Place(ctx, "chat"); err != nil || owner != "" {
		t.Fatalf("owner %q (%v), want a again", owner, err)
	}
}

func TestOwnerDies(t *testing.T) {
	leakcheck.Check(t)
	url := redistest.Start(t)
	ctx := context.Background()
	a := startNode(t, url, "a", nil, nil)
	var ub usage
	b := startNode(t, url, "b", &ub, nil)
	if owner, err := b.Place(ctx, "chat"); err != nil || owner != "" {
		t.Fatalf("owner %q (%v)", owner, err)
	}
	ub.set("chat", 1)
	b.Abandon()
	died := time.Now()
	waitFor(t, "the room is placed again on a", func() bool {
		owner, err := a.Place(ctx, "chat")
		return err == nil && owner == ""
	})
	t.Logf("the room was placed again %v after its owner died (lease 1s)", time.Since(died).Round(10*time.Millisecond))
}

func TestGarbageInRedis(t *testing.T) {
	leakcheck.Check(t)
	url := redistest.Start(t)
	ctx := context.Background()
	rc := redisClient(t, url)
	a := startNode(t, url, "a", nil, nil)
	// Records that are not node records: not JSON, another id, a URL
	// that is no node's, a negative load, a huge one, an id that is no
	// id, a key of another type.
	rc.SAdd(ctx, "t:nodes", "j", "x", "u", "l", "h", "bad id!", "w")
	rc.Set(ctx, "t:node:j", "{not json", time.Minute)
	rc.Set(ctx, "t:node:x", `{"id":"y","url":"http://x.test"}`, time.Minute)
	rc.Set(ctx, "t:node:u", `{"id":"u","url":"javascript:alert(1)"}`, time.Minute)
	rc.Set(ctx, "t:node:l", `{"id":"l","url":"http://l.test","load":-100}`, time.Minute)
	rc.Set(ctx, "t:node:h", strings.Repeat("x", 10000), time.Minute)
	rc.HSet(ctx, "t:node:w", "id", "w")
	nodes, err := a.Nodes(ctx)
	if ids(nodes) != "a(0)" {
		t.Errorf("nodes %s, want only a", ids(nodes))
	}
	for _, want := range []string{"node j", "names node \"y\"", "javascript", "negative", "10000 bytes", `"bad id!"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the error %v does not say %q", err, want)
		}
	}
	// A room whose lease names garbage, or a node of a garbage record.
	rc.Set(ctx, "t:room:r1", "\x00\xff not an id", time.Minute)
	if owner, err := a.Place(ctx, "r1"); err != nil || owner != "" {
		t.Errorf("r1 (lease of garbage): owner %q, %v; want a, its lease replaced", owner, err)
	}
	rc.Set(ctx, "t:room:r2", "u", time.Minute)
	if owner, err := a.Place(ctx, "r2"); err == nil || !strings.Contains(err.Error(), "not a node's base URL") {
		t.Errorf("r2 (holder's record is garbage): owner %q, %v; want an error", owner, err)
	}
	// A lease key of another type.
	rc.HSet(ctx, "t:room:r3", "a", "b")
	if owner, err := a.Place(ctx, "r3"); err == nil || !strings.Contains(err.Error(), "read its lease") {
		t.Errorf("r3 (a hash): owner %q, %v; want an error", owner, err)
	}
	// Renewal of a held room whose key became a hash: lost, not a panic.
	var got atomic.Value
	b := startNode(t, url, "b", nil, func(c *Config) { c.OnLost = func(room string) { got.Store(room) } })
	if owner, err := b.Place(ctx, "r4"); err != nil || owner != "" {
		t.Fatalf("r4: owner %q, %v", owner, err)
	}
	rc.Del(ctx, "t:room:r4")
	rc.HSet(ctx, "t:room:r4", "a", "b")
	waitFor(t, "r4 is lost", func() bool { return got.Load() == "r4" })
	// Redis gone: clear errors.
	a.Abandon()
	if _, err := a.Nodes(ctx); err == nil {
		t.Error("no error from a closed client")
	}
}

// TestDrain: a draining node hands each room in use to the least-loaded
// other node, spreading them, and keeps the empty ones for Close to
// release; nobody places a room on it any more, and the nodes the rooms
// went to hold them once their members come.
func TestDrain(t *testing.T) {
	leakcheck.Check(t)
	url := redistest.Start(t)
	ctx := context.Background()
	var ua, ub, uc usage
	a := startNode(t, url, "a", &ua, nil)
	b := startNode(t, url, "b", &ub, nil)
	c := startNode(t, url, "c", &uc, nil)
	for _, room := range []string{"one", "two", "idle"} {
		if owner, err := a.Place(ctx, room); err != nil || owner != "" {
			t.Fatalf("a places %s on %q (%v), want itself", room, owner, err)
		}
	}
	ua.set("one", 3)
	ua.set("two", 2)
	uc.set("busy", 1)
	waitFor(t, "the loads are known", func() bool {
		nodes, _ := b.Nodes(ctx)
		return ids(nodes) == "a(5) b(0) c(1)"
	})
	got := map[string]string{}
	rooms, err := a.Drain(ctx, func(room, url string) { got[room] = url })
	if err != nil {
		t.Fatal(err)
	}
	// one (3) goes to b (0); then b has 3 and c 1: two goes to c.
	if len(rooms) != 2 || got["one"] != b.URL() || got["two"] != c.URL() {
		t.Fatalf("drained %v to %v", rooms, got)
	}
	if owned := a.Owned(); len(owned) != 1 || owned[0] != "idle" {
		t.Errorf("a still holds %v, want idle", owned)
	}
	rc := redisClient(t, url)
	for room, want := range map[string]string{"one": "b", "two": "c", "idle": "a"} {
		if v, _ := rc.Get(ctx, "t:room:"+room).Result(); v != want {
			t.Errorf("the lease of %s names %q, want %s", room, v, want)
		}
	}
	// The members come to b: it adopts the room.
	if owner, err := b.Place(ctx, "one"); err != nil || owner != "" {
		t.Errorf("b: owner of one %q (%v), want here", owner, err)
	}
	// a is draining: a new room is placed elsewhere, even from a, even
	// though a's load is now the least.
	ua.set("one", 0)
	ua.set("two", 0)
	waitFor(t, "a's record says draining", func() bool {
		nodes, _ := b.Nodes(ctx)
		return len(nodes) == 3 && nodes[0].Draining && nodes[0].Load == 0
	})
	for _, n := range []*Node{a, b} {
		if owner, err := n.Place(ctx, "new-"+n.ID()); err != nil || owner == a.URL() || (n == a && owner == "") {
			t.Errorf("%s places a new room on %q (%v), not on a draining node", n.ID(), owner, err)
		}
	}
	// Close releases what a kept.
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := rc.Exists(ctx, "t:room:idle").Result(); n != 0 {
		t.Error("idle's lease outlived a's close")
	}
}

// TestDrainAlone: with no other node, a draining node keeps its rooms.
func TestDrainAlone(t *testing.T) {
	leakcheck.Check(t)
	url := redistest.Start(t)
	ctx := context.Background()
	var ua usage
	a := startNode(t, url, "a", &ua, nil)
	if owner, err := a.Place(ctx, "one"); err != nil || owner != "" {
		t.Fatalf("placed on %q (%v)", owner, err)
	}
	ua.set("one", 2)
	rooms, err := a.Drain(ctx, func(room, url string) { t.Errorf("%s moved to %s", room, url) })
	if err != nil || len(rooms) != 0 {
		t.Errorf("drained %v (%v)", rooms, err)
	}
	if owned := a.Owned(); len(owned) != 1 {
		t.Errorf("a holds %v", owned)
	}
}

// TestLocate: where a room lives, without placing it: here, on another
// live node, or nowhere (no lease, or a lease of a node that is gone).
func TestLocate(t *testing.T) {
	leakcheck.Check(t)
	url := redistest.Start(t)
	ctx := context.Background()
	a := startNode(t, url, "a", nil, nil)
	b := startNode(t, url, "b", nil, nil)
	if owner, err := a.Place(ctx, "chat"); err != nil || owner != "" {
		t.Fatalf("a places chat on %q (%v)", owner, err)
	}
	for _, tc := range []struct {
		n    *Node
		room string
		want string
	}{{a, "chat", ""}, {b, "chat", a.URL()}, {b, "forum", ""}} {
		if got, err := tc.n.Locate(ctx, tc.room); err != nil || got != tc.want {
			t.Errorf("%s locates %s at %q (%v), want %q", tc.n.ID(), tc.room, got, err, tc.want)
		}
	}
	if _, err := b.Locate(ctx, "forum"); err != nil {
		t.Fatal(err)
	}
	if n, _ := redisClient(t, url).Exists(ctx, "t:room:forum").Result(); n != 0 {
		t.Error("Locate placed the room")
	}
	redisClient(t, url).Set(ctx, "t:room:live", "gone", time.Minute)
	if got, err := b.Locate(ctx, "live"); err != nil || got != "" {
		t.Errorf("a lease of a node that is gone: %q (%v)", got, err)
	}
}

// TestSharedSecret: every node of a cluster gets the one secret of a
// name, made by whichever asks first, even at once; another name is
// another secret; what is not a secret in Redis is refused.
func TestSharedSecret(t *testing.T) {
	url := redistest.Start(t)
	ctx := context.Background()
	c := configs.Cluster{RedisURL: url, KeyPrefix: "t:", Lease: configs.Duration(time.Second)}
	got := make([]string, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			s, err := SharedSecret(ctx, c, "token-secret")
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		})
	}
	wg.Wait()
	for _, s := range got {
		if len(s) < minSecret || s != got[0] {
			t.Fatalf("secrets %q", got)
		}
	}
	if other, err := SharedSecret(ctx, c, "other"); err != nil || other == got[0] {
		t.Errorf("another name's secret %q (%v)", other, err)
	}
	redisClient(t, url).Set(ctx, "t:secret:short", "guessable", 0)
	if s, err := SharedSecret(ctx, c, "short"); err == nil || !strings.Contains(err.Error(), "t:secret:short") {
		t.Errorf("a short secret in redis: %q, %v", s, err)
	}
}

// OnAdopt runs once when a node takes a room up, and no Place of the
// room on that node returns before it has: of many joiners at once, none
// is let in before the room is ready; it runs again when the room comes
// back after another node had it.
func TestOnAdopt(t *testing.T) {
	leakcheck.Check(t)
	url := redistest.Start(t)
	ctx := context.Background()
	var mu sync.Mutex
	adopted := map[string]int{}
	running := make(chan struct{})
	release := make(chan struct{})
	a := startNode(t, url, "a", nil, func(c *Config) {
		c.OnAdopt = func(room string) {
			mu.Lock()
			adopted[room]++
			first := adopted[room] == 1
			mu.Unlock()
			if first {
				close(running)
				<-release
			}
		}
	})
	var wg sync.WaitGroup
	var returned atomic.Int32
	for range 8 {
		wg.Go(func() {
			if owner, err := a.Place(ctx, "chat"); err != nil || owner != "" {
				t.Errorf("Place: %q, %v", owner, err)
			}
			returned.Add(1)
		})
	}
	<-running
	// The room's lease is held, but nobody is answered while OnAdopt
	// runs; a Place whose context ends meanwhile says so.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := a.Place(short, "chat")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a Place that could not wait: %v, want the deadline", err)
	}
	if n := returned.Load(); n != 0 {
		t.Fatalf("%d Place calls returned while OnAdopt ran", n)
	}
	close(release)
	wg.Wait()
	if owner, err := a.Place(ctx, "chat"); err != nil || owner != "" {
		t.Fatalf("Place once taken up: %q, %v", owner, err)
	}
	mu.Lock()
	if adopted["chat"] != 1 {
		t.Errorf("OnAdopt ran %d times, want once", adopted["chat"])
	}
	mu.Unlock()

	// The room goes to b (a dies), and comes back to a new a: adopted
	// again there.
	b := startNode(t, url, "b", nil, nil)
	a.Abandon()
	waitFor(t, "b takes the room", func() bool {
		owner, err := b.Place(ctx, "chat")
		return err == nil && owner == ""
	})
	var again atomic.Int32
	a2 := startNode(t, url, "a2", nil, func(c *Config) {
		c.OnAdopt = func(string) { again.Add(1) }
	})
	b.Abandon()
	waitFor(t, "a2 takes the room", func() bool {
		owner, err := a2.Place(ctx, "chat")
		return err == nil && owner == ""
	})
	if again.Load() != 1 {
		t.Errorf("OnAdopt on a2 ran %d times, want once", again.Load())
	}
}
