package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/access"
	"parley/client"
	"parley/configs"
	"parley/internal/redistest"
)

// startCluster starts n servers on 127.0.0.1, nodes of one cluster on a
// Redis of the test's own, with a lease of 1 s.
func startCluster(t *testing.T, n int) []*testServer {
	t.Helper()
	return startClusterWith(t, n, Options{}, nil)
}

// startClusterWith is startCluster with the servers' options, and
// mutate (if not nil) changing each node's configuration.
func startClusterWith(t *testing.T, n int, opts Options, mutate func(*configs.Server)) []*testServer {
	t.Helper()
	redisURL := redistest.Start(t)
	nodes := make([]*testServer, n)
	for i := range nodes {
		port := freeTCPPort(t)
		nodes[i] = startServerWith(t, opts, func(cfg *configs.Server, _ []configs.Room) {
			cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", port)
			cfg.Cluster = configs.Cluster{
				RedisURL:     redisURL,
				NodeID:       fmt.Sprintf("node%d", i),
				PublicURL:    fmt.Sprintf("http://127.0.0.1:%d", port),
				KeyPrefix:    "parley:",
				Heartbeat:    configs.Duration(100 * time.Millisecond),
				Lease:        configs.Duration(time.Second),
				ReleaseAfter: configs.Duration(30 * time.Second),
			}
			if mutate != nil {
				mutate(cfg)
			}
		})
	}
	return nodes
}

// joinCluster joins room through node s, following redirects, and
// returns the client and the URL of the node it joined on.
func joinCluster(t *testing.T, s *testServer, room, name string, opts client.Options) (*client.Client, *client.Joined, string) {
	t.Helper()
	url := s.wsURL()
	for range 3 {
		opts.LoopbackOnly = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := client.Dial(ctx, url, opts)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		j, err := c.Join(ctx, room, name)
		cancel()
		var r *client.Redirect
		if errors.As(err, &r) {
			c.Close()
			if r.Room != room {
				t.Fatalf("redirect names room %q, want %q", r.Room, room)
			}
			url = r.URL
			continue
		}
		if err != nil {
			t.Fatalf("%s joins %s at %s: %v", name, room, url, err)
		}
		t.Cleanup(c.Close)
		return c, j, url
	}
	t.Fatalf("%s: more than 2 redirects", name)
	return nil, nil, ""
}

// placedOn waits until room is placed on node s (after the lease of a
// node that stopped renewing, as a killed one would).
func placedOn(t *testing.T, s *testServer, room string) {
	t.Helper()
	eventually(t, 0, room+" is placed on "+s.cluster.ID(), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		owner, err := s.cluster.Place(ctx, room)
		return err == nil && owner == ""
	})
}

func names(j *client.Joined) string {
	var out []string
	for _, p := range j.Participants {
		out = append(out, p.Name)
	}
	return strings.Join(out, ",")
}

func TestClusterOneRoomOverNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	// ann comes to node 1 first: all loads are equal, so the room lives there.
	ann, _, annAt := joinCluster(t, nodes[1], "chat", "ann", client.Options{})
	if annAt != nodes[1].wsURL() {
		t.Fatalf("ann joined at %s, want node 1 (%s)", annAt, nodes[1].wsURL())
	}
	// bob and cat come to the other nodes and are sent to node 1.
	_, jb, bobAt := joinCluster(t, nodes[0], "chat", "bob", client.Options{})
	_, jc, catAt := joinCluster(t, nodes[2], "chat", "cat", client.Options{})
	if bobAt != annAt || catAt != annAt {
		t.Fatalf("bob joined at %s, cat at %s; want ann's node %s", bobAt, catAt, annAt)
	}
	if got := names(jb); !strings.Contains(got, "ann") || !strings.Contains(got, "bob") {
		t.Errorf("bob sees %s", got)
	}
	if got := names(jc); !strings.Contains(got, "ann") || !strings.Contains(got, "bob") || !strings.Contains(got, "cat") {
		t.Errorf("cat sees %s", got)
	}
	ctx := timeout(t, 0)
	for _, who := range []string{"bob", "cat"} {
		m, err := ann.WaitFor(ctx, "participant-joined")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(m.Raw), `"`+who+`"`) {
			t.Errorf("ann was told %s, want %s", m.Raw, who)
		}
	}
	if got := nodes[1].cluster.Owned(); len(got) != 1 || got[0] != "chat" {
		t.Errorf("node 1 owns %v", got)
	}

	// A WHIP or WHEP POST to another node is sent to the owner, same path.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	owner := "http://" + nodes[1].Addr().String()
	for _, path := range []string{"/whip/chat?name=obs", "/whep/chat"} {
		resp, err := noFollow.Post("http://"+nodes[2].Addr().String()+path, "application/sdp", strings.NewReader("v=0\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != owner+path {
			t.Errorf("POST %s to node 2: %d, Location %q; want 307 to %s", path, resp.StatusCode, resp.Header.Get("Location"), owner+path)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("POST %s: the redirect has no CORS header", path)
		}
	}
	// A room that does not exist is not placed: the handler refuses it.
	resp, err := noFollow.Post("http://"+nodes[2].Addr().String()+"/whip/nosuchroom", "application/sdp", strings.NewReader("v=0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("WHIP to a room that does not exist: %d, want 404", resp.StatusCode)
	}

	// A page of node 0 may open a websocket to node 1; another site not.
	origin := func(o string) client.Options { return client.Options{Header: http.Header{"Origin": {o}}} }
	joinCluster(t, nodes[1], "chat", "dan", origin("http://"+nodes[0].Addr().String()))
	ctxDial, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := client.Dial(ctxDial, nodes[1].wsURL(), origin("http://evil.example")); err == nil {
		c.Close()
		t.Error("a websocket from another site's page was accepted")
	}

	// The client's page may open websockets to other nodes, the watch
	// page follow a WHEP 307 to them.
	for path, want := range map[string]string{"/": "connect-src 'self' ws: wss:;", "/watch/live": "connect-src 'self' http: https:;"} {
		resp, err := http.Get("http://" + nodes[0].Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
			t.Errorf("GET %s: policy %q, want %s", path, csp, want)
		}
	}

	// The node's id and its rooms in the metrics and the admin API.
	rec := httptest.NewRecorder()
	nodes[1].metricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `parley_cluster_owned_rooms{node="node1",room="chat"} 1`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("node 1's metrics lack %s", want)
	}
	rec = httptest.NewRecorder()
	nodes[1].Server.admin.adminCluster(rec, httptest.NewRequest("GET", "/api/admin/cluster", nil), "test")
	var got struct {
		Node  string   `json:"node"`
		Rooms []string `json:"rooms"`
		Nodes []struct {
			ID   string `json:"id"`
			Load int    `json:"load"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Node != "node1" || len(got.Rooms) != 1 || got.Rooms[0] != "chat" || len(got.Nodes) != 3 {
		t.Errorf("admin API: %s (%v)", rec.Body.String(), err)
	}

	// What a redirect costs a joiner: joins at the owner and through
	// another node, from dialling to joined (logged with -v).
	for _, via := range []int{1, 0} {
		var took []time.Duration
		for i := range 10 {
			start := time.Now()
			c, _, _ := joinCluster(t, nodes[via], "chat", fmt.Sprintf("m%d-%d", via, i), client.Options{})
			took = append(took, time.Since(start))
			c.Close()
		}
		slices.Sort(took)
		t.Logf("join via node %d: median %v, max %v", via, took[len(took)/2].Round(10*time.Microsecond), took[len(took)-1].Round(10*time.Microsecond))
	}
}

// TestClusterOwnerDies: the room's node stops renewing, as a killed node
// would; after its lease the room comes back on the other node, with its
// chat history and the messages waiting for people, which live in Redis.
func TestClusterOwnerDies(t *testing.T) {
	nodes := startCluster(t, 2)
	ann, _, at := joinCluster(t, nodes[0], "chat", "ann", client.Options{})
	if at != nodes[0].wsURL() {
		t.Fatalf("ann joined at %s, want node 0", at)
	}
	for _, m := range []map[string]string{
		{"type": "chat", "text": "before the fall"},
		{"type": "chat", "to_name": "dan", "text": "for dan"},
	} {
		if err := ann.Send(m); err != nil {
			t.Fatal(err)
		}
		if _, err := ann.WaitFor(timeout(t, 5*time.Second), "chat"); err != nil {
			t.Fatal(err)
		}
	}
	_, _, at = joinCluster(t, nodes[1], "chat", "bob", client.Options{})
	if at != nodes[0].wsURL() {
		t.Fatalf("bob joined at %s, want node 0", at)
	}
	// Node 0 stops renewing, as a killed node would: after its lease the
	// room is placed again, on node 1, where a join then stays.
	died := time.Now()
	nodes[0].cluster.Abandon()
	placedOn(t, nodes[1], "chat")
	t.Logf("the room was placed again %v after its owner stopped renewing (lease 1 s)", time.Since(died).Round(10*time.Millisecond))
	_, j, at := joinCluster(t, nodes[1], "chat", "cat", client.Options{})
	if at != nodes[1].wsURL() || names(j) != "cat" {
		t.Errorf("cat joined at %s with %s; want node 1, alone", at, names(j))
	}
	_, dj := joinChat(t, nodes[1], "chat", "dan", "")
	if got := chatTexts(dj.History); got != "ann:before the fall" {
		t.Errorf("dan was given the history %q on node 1", got)
	}
	if got := chatTexts(dj.Offline); got != "ann:for dan" {
		t.Errorf("dan was given the waiting messages %q on node 1", got)
	}
}

func TestClusterLostLease(t *testing.T) {
	nodes := startCluster(t, 2)
	ann, _, at := joinCluster(t, nodes[0], "chat", "ann", client.Options{})
	if at != nodes[0].wsURL() {
		t.Fatalf("ann joined at %s, want node 0", at)
	}
	// While node 0 is cut off from Redis for longer than a lease, node 1
	// takes the room: here, its lease is given to node 1 by hand. Node 0
	// finds it lost at its next renewal and sends ann to node 1.
	opts, err := redis.ParseURL(nodes[0].cfg.Cluster.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opts)
	defer rc.Close()
	if err := rc.Set(context.Background(), "parley:room:chat", "node1", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	m, err := ann.WaitFor(timeout(t, 0), "redirect")
	if err != nil {
		t.Fatal(err)
	}
	var r client.Redirect
	if err := m.Decode(&r); err != nil || r.URL != nodes[1].wsURL() || r.Room != "chat" {
		t.Fatalf("ann was sent to %+v (%v), want node 1's %s", r, err, nodes[1].wsURL())
	}
	select {
	case <-ann.Done():
	case <-timeout(t, 0).Done():
		t.Fatal("node 0 did not close ann's websocket after the redirect")
	}
	_, j, at := joinCluster(t, nodes[0], "chat", "ann", client.Options{})
	if at != nodes[1].wsURL() || names(j) != "ann" {
		t.Errorf("ann joined again at %s with %s; want node 1", at, names(j))
	}
}

// TestClusterDrain: a node that stops (SIGTERM calls Shutdown) first sends
// its rooms' members to another node, which they join, chat history and
// all; a room placed meanwhile goes elsewhere.
func TestClusterDrain(t *testing.T) {
	nodes := startCluster(t, 2)
	ann, _, at := joinCluster(t, nodes[0], "chat", "ann", client.Options{})
	bob, _, bobAt := joinCluster(t, nodes[1], "chat", "bob", client.Options{})
	if at != nodes[0].wsURL() || bobAt != nodes[0].wsURL() {
		t.Fatalf("ann joined at %s, bob at %s; want node 0", at, bobAt)
	}
	if err := ann.Send(map[string]string{"type": "chat", "text": "before the move"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitFor(timeout(t, 5*time.Second), "chat"); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stopped <- nodes[0].Shutdown(ctx)
	}()
	for _, c := range []*client.Client{ann, bob} {
		m, err := c.WaitFor(timeout(t, 0), "redirect")
		if err != nil {
			t.Fatal(err)
		}
		var r client.Redirect
		if err := m.Decode(&r); err != nil || r.URL != nodes[1].wsURL() || r.Room != "chat" {
			t.Fatalf("sent to %+v (%v), want node 1's %s", r, err, nodes[1].wsURL())
		}
	}
	_, _, at = joinCluster(t, nodes[1], "chat", "ann", client.Options{})
	_, bj := joinChat(t, nodes[1], "chat", "bob", "")
	if at != nodes[1].wsURL() || chatTexts(bj.History) != "ann:before the move" {
		t.Errorf("ann joined again at %s; bob was given the history %q", at, chatTexts(bj.History))
	}
	if err := <-stopped; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	// The room stays on node 1 after node 0 has gone.
	if owner, err := nodes[1].cluster.Place(context.Background(), "chat"); err != nil || owner != "" {
		t.Errorf("node 1: the owner of chat is %q (%v), want node 1", owner, err)
	}
}

// TestClusterRoomAPI: a page served by one node uses the room API of a
// room that lives on another node through its own node, which proxies
// it: an upload with the owner key of a member there, the clip list, and
// the media with a range; a request already proxied is served where it
// arrives.
func TestClusterRoomAPI(t *testing.T) {
	nodes := startCluster(t, 2)
	// Each node's goroutine check runs when it stops, the other still
	// serving: the test's own connections to either are closed first.
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	_, j, at := joinCluster(t, nodes[0], "chat", "ann", client.Options{})
	if at != nodes[0].wsURL() || j.OwnerKey == "" {
		t.Fatalf("ann joined at %s with owner key %q, want node 0", at, j.OwnerKey)
	}
	media, err := os.ReadFile("testdata/mediarecorder-opus.webm")
	if err != nil {
		t.Fatal(err)
	}
	c := nodes[1].upload(t, "/api/rooms/chat/clips", j.OwnerKey, "audio/webm", media)
	if c.ID == "" || c.Author != "ann" {
		t.Fatalf("uploaded through node 1: %+v", c)
	}
	if _, ok := nodes[0].store.Get("chat", c.ID); !ok {
		t.Error("the clip is not in the store of the room's node")
	}
	if ids := nodes[1].store.IDs("chat"); len(ids) != 0 {
		t.Errorf("node 1's own store has %v", ids)
	}
	resp, body := nodes[1].fetch(t, "GET", "/api/rooms/chat/clips", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), c.ID) {
		t.Errorf("the list through node 1: %s %s", resp.Status, body)
	}
	if got := resp.Header.Values("X-Content-Type-Options"); len(got) != 1 {
		t.Errorf("a proxied answer has X-Content-Type-Options %q", got)
	}
	h := http.Header{}
	h.Set("Range", "bytes=10-109")
	clipPath := "/api/rooms/chat/clips/" + c.ID + "?token=" + c.DraftToken
	resp, body = nodes[1].fetchWith(t, "GET", clipPath, h, nil)
	_, direct := nodes[0].fetchWith(t, "GET", clipPath, h, nil)
	if resp.StatusCode != http.StatusPartialContent || len(body) != 100 || !bytes.Equal(body, direct) {
		t.Errorf("a range of the media through node 1: %s, %d bytes", resp.Status, len(body))
	}
	// Proxied already: node 1 answers from its own store.
	h = http.Header{}
	h.Set("X-Parley-Via", "node0")
	resp, body = nodes[1].fetchWith(t, "GET", "/api/rooms/chat/clips", h, nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), c.ID) {
		t.Errorf("a proxied request was sent on: %s %s", resp.Status, body)
	}
	// The room's details come from its node: ann is there.
	resp, body = nodes[1].fetch(t, "GET", "/api/rooms/chat", "", nil)
	var room struct {
		Participants int `json:"participants"`
	}
	if err := json.Unmarshal(body, &room); err != nil || resp.StatusCode != http.StatusOK || room.Participants != 1 {
		t.Errorf("the room through node 1: %s %s", resp.Status, body)
	}
}

// TestClusterTokenSecret: the nodes of a cluster without
// auth.token_secret share one secret, made by the first: a join token
// signed with node 0's is good at node 1, where its room lives.
func TestClusterTokenSecret(t *testing.T) {
	nodes := startCluster(t, 2)
	if len(nodes[0].tokenSecret) < 32 || !bytes.Equal(nodes[0].tokenSecret, nodes[1].tokenSecret) {
		t.Fatalf("the nodes' token secrets: %q and %q", nodes[0].tokenSecret, nodes[1].tokenSecret)
	}
	tok, err := access.SignToken(nodes[0].tokenSecret, access.Claims{Room: "live", Name: "tim", Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	_, j, at := joinCluster(t, nodes[1], "live", "tim", client.Options{Token: tok})
	if at != nodes[1].wsURL() || j.Name != "tim" {
		t.Errorf("tim joined at %s as %q, want node 1", at, j.Name)
	}
}

func TestNoClusterWithoutSection(t *testing.T) {
	s := startServer(t, nil)
	if s.cluster != nil {
		t.Fatal("a server without [cluster] joined a cluster")
	}
	if s.chatFiles == nil {
		t.Fatal("a server without [cluster] keeps its chat elsewhere than on its disk")
	}
	// Nothing asks where rooms live: a join is answered here.
	_, j := s.join(t, "chat", "ann", client.Options{})
	if j.Name != "ann" {
		t.Fatalf("joined as %q", j.Name)
	}
}
