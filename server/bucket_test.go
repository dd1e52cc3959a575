package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/client"
	"parley/clips"
	"parley/clips/mirror"
	"parley/configs"
	"parley/internal/roomdir"
	"parley/internal/s3test"
	"parley/objstore"
)

// startBucketCluster starts n nodes of a cluster whose clips live in a
// bucket of a real S3 server of the test's own; the nodes copy to it
// every 100 ms. It returns the nodes and a client of the bucket.
func startBucketCluster(t *testing.T, n int) ([]*testServer, *objstore.Client) {
	t.Helper()
	s3 := s3test.Start(t)
	t.Setenv(configs.EnvS3AccessKey, s3.AccessKey)
	t.Setenv(configs.EnvS3SecretKey, s3.SecretKey)
	nodes := startClusterWith(t, n, Options{BucketSync: 100 * time.Millisecond}, func(cfg *configs.Server) {
		cfg.Storage.S3Endpoint = s3.Endpoint
		cfg.Storage.S3Bucket = s3.Bucket
		cfg.Storage.S3Region = s3.Region
		cfg.Storage.S3PathStyle = true
		cfg.Storage.S3Prefix = "parley"
	})
	bucket, err := objstore.New(objstore.Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Region: s3.Region, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, PathStyle: true, Prefix: "parley"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bucket.Close)
	return nodes, bucket
}

// bucketKeys lists the bucket's keys of a room.
func bucketKeys(t *testing.T, bucket *objstore.Client, room string) string {
	t.Helper()
	l, err := bucket.List(context.Background(), "rooms/"+room+"/", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range l.Objects {
		keys = append(keys, strings.TrimPrefix(o.Key, "rooms/"+room+"/"))
	}
	return strings.Join(keys, " ")
}

// listsClip says whether node s lists clip id of room (asking its API,
// which the room's node answers).
func listsClip(t *testing.T, s *testServer, room, id string) bool {
	t.Helper()
	resp, body := s.fetch(t, "GET", "/api/rooms/"+room+"/clips", "", nil)
	return resp.StatusCode == http.StatusOK && strings.Contains(string(body), id)
}

// TestClusterClipsInBucket: a room's clips are in the bucket as soon as
// they are announced, every node lists and serves them, and they follow
// the room to another node when its node dies, with a clip that the dead
// node finished after it lost the room, and when a node drains.
func TestClusterClipsInBucket(t *testing.T) {
	nodes, bucket := startBucketCluster(t, 3)
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	_, j, at := joinCluster(t, nodes[0], "chat", "ann", client.Options{})
	if at != nodes[0].wsURL() {
		t.Fatalf("ann joined at %s, want node 0", at)
	}
	media, err := os.ReadFile("testdata/mediarecorder-opus.webm")
	if err != nil {
		t.Fatal(err)
	}
	c := nodes[1].upload(t, "/api/rooms/chat/clips", j.OwnerKey, "audio/webm", media)
	// Answered: in the bucket already, media and metadata.
	if got, want := bucketKeys(t, bucket, "chat"), "clips/"+c.ID+".json clips/"+c.ID+".webm"; got != want {
		t.Fatalf("the bucket has %q once the upload is answered, want %q", got, want)
	}
	clipPath := "/api/rooms/chat/clips/" + c.ID + "?token=" + c.DraftToken
	_, stored := nodes[0].fetch(t, "GET", clipPath, "", nil)
	if len(stored) == 0 {
		t.Fatal("the room's node serves no media")
	}
	for i, n := range nodes {
		if !listsClip(t, n, "chat", c.ID) {
			t.Errorf("node %d does not list the clip", i)
		}
		resp, body := n.fetch(t, "GET", clipPath, "", nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, stored) {
			t.Errorf("the media through node %d: %s, %d bytes of %d", i, resp.Status, len(body), len(stored))
		}
	}

	// Node 0 stops renewing, as a killed node would; its member stays
	// connected to it, and finishes a clip there after the room has gone.
	nodes[0].cluster.Abandon()
	placedOn(t, nodes[1], "chat")
	if _, ok := nodes[1].store.Get("chat", c.ID); !ok {
		t.Fatal("node 1 took the room up without its clip")
	}
	resp, body := nodes[2].fetch(t, "GET", clipPath, "", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, stored) {
		t.Errorf("the media through node 2 from node 1: %s, %d bytes of %d", resp.Status, len(body), len(stored))
	}
	req, err := http.NewRequest("POST", "http://"+nodes[0].Addr().String()+"/api/rooms/chat/clips", bytes.NewReader(media))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+j.OwnerKey)
	req.Header.Set("Content-Type", "audio/webm")
	req.Header.Set(viaHeader, "test") // served by node 0 itself
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var late clipJSON
	_ = json.NewDecoder(resp.Body).Decode(&late)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("a clip finished on node 0 after the room left: %s", resp.Status)
	}
	eventually(t, 0, "node 1 takes in the clip node 0 finished late", func() bool {
		_, ok := nodes[1].store.Get("chat", late.ID)
		return ok
	})

	// Deleted by ann, back in the room on node 1 (through node 2): gone
	// from the bucket.
	joinCluster(t, nodes[2], "chat", "ann", client.Options{OwnerKey: j.OwnerKey})
	resp, _ = nodes[2].fetch(t, "DELETE", "/api/rooms/chat/clips/"+c.ID, j.OwnerKey, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete through node 2: %s", resp.Status)
	}
	if got, want := bucketKeys(t, bucket, "chat"), "clips/"+late.ID+".json clips/"+late.ID+".webm"; got != want {
		t.Errorf("the bucket has %q after the delete, want %q", got, want)
	}

	// Node 1 drains: the room goes to node 2 with its clip, and the
	// deleted one does not come back.
	_, _, at = joinCluster(t, nodes[2], "chat", "bob", client.Options{})
	if at != nodes[1].wsURL() {
		t.Fatalf("bob joined at %s, want node 1", at)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := nodes[1].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, _, at = joinCluster(t, nodes[2], "chat", "cat", client.Options{})
	if at != nodes[2].wsURL() {
		t.Fatalf("cat joined at %s, want node 2", at)
	}
	if !listsClip(t, nodes[2], "chat", late.ID) || listsClip(t, nodes[2], "chat", c.ID) {
		resp, body := nodes[2].fetch(t, "GET", "/api/rooms/chat/clips", "", nil)
		t.Errorf("node 2 lists %s %s; want %s, not %s", resp.Status, body, late.ID, c.ID)
	}
}

// redisOf is a client of the Redis of node s's cluster, closed at the
// test's end.
func redisOf(t *testing.T, s *testServer) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(s.cfg.Cluster.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opts)
	t.Cleanup(func() { rc.Close() })
	return rc
}

// TestClusterLostIdleRoom: a room that nobody is in here, whose lease
// this node finds lost (Redis lost its keys), is not taken up again on
// the heartbeat (a Pull there would hold up the renewal of every other
// room): the next join places it.
func TestClusterLostIdleRoom(t *testing.T) {
	nodes, _ := startBucketCluster(t, 1)
	placedOn(t, nodes[0], "chat")
	rc := redisOf(t, nodes[0])
	ctx := context.Background()
	if err := rc.Del(ctx, "parley:room:chat").Err(); err != nil {
		t.Fatal(err)
	}
	// Two heartbeats later (its record written again twice), the one
	// that found the lease lost has returned.
	for range 2 {
		if err := rc.Del(ctx, "parley:node:node0").Err(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 0, "node 0 writes its record again", func() bool {
			return rc.Exists(ctx, "parley:node:node0").Val() == 1
		})
	}
	if nodes[0].cluster.Holds("chat") {
		t.Error("node 0 took the idle room up again on its heartbeat")
	}
	if n := rc.Exists(ctx, "parley:room:chat").Val(); n != 0 {
		t.Error("the idle room has a lease again")
	}
	placedOn(t, nodes[0], "chat")
}

// recordClip records a clip of ann's in room chat of store, heard live
// by the owners heard.
func recordClip(t *testing.T, store *clips.Store, heard []string) clips.Clip {
	t.Helper()
	p, err := store.Begin("chat", clips.Clip{Author: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	p.HeardLive(func() []string { return heard })
	if _, err := p.File().Write([]byte("media")); err != nil {
		t.Fatal(err)
	}
	c, err := p.Commit(time.Second, clips.KindAudio, "audio/webm")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// failingPuts is a transport that fails every PUT while on.
type failingPuts struct{ on atomic.Bool }

func (f *failingPuts) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.on.Load() && req.Method == http.MethodPut {
		return nil, errors.New("the bucket is down")
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestBucketRetriesLateClips: a clip finished on a node that no longer
// holds its room (a drain handed it over), whose copy to the bucket
// failed, is copied by the next round of the timer.
func TestBucketRetriesLateClips(t *testing.T) {
	s3 := s3test.Start(t)
	down := &failingPuts{}
	client, err := objstore.New(objstore.Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Region: s3.Region, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, PathStyle: true, Prefix: "parley", Transport: down})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	room, err := configs.Preset(configs.MediaChat)
	if err != nil {
		t.Fatal(err)
	}
	room.Name = "chat"
	dir := t.TempDir()
	folders, err := roomdir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer folders.Close()
	store, err := clips.Open(folders, []configs.Room{room}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	own, err := roomdir.Open(dir) // the bucket's, closed by close
	if err != nil {
		t.Fatal(err)
	}
	b := &clipBucket{mirror: mirror.New(client, testLogger()), client: client, store: store, folders: own, log: testLogger(),
		held: func() []string { return nil }, holds: func(string) bool { return false }}
	store.SetNotify(b.before)
	b.adopt("chat")
	b.start(10 * time.Millisecond)
	stopped := false
	defer func() {
		if !stopped {
			b.close()
		}
	}()

	down.on.Store(true)
	c := recordClip(t, store, nil)
	down.on.Store(false)
	want := "clips/" + c.ID + ".json clips/" + c.ID + ".webm"
	eventually(t, 0, "the late clip is in the bucket", func() bool { return bucketKeys(t, client, "chat") == want })
	b.close()
	stopped = true
}

// TestBucketPlayedAtShutdown: who heard a clip live as it was recorded
// (written to the room's played files at the store's next sweep or
// close) is in the bucket once the node has stopped.
func TestBucketPlayedAtShutdown(t *testing.T) {
	nodes, bucket := startBucketCluster(t, 1)
	placedOn(t, nodes[0], "chat")
	heardAndStopped(t, nodes[0], bucket)
}

// heardAndStopped records a clip in chat on node s, heard live by
// someone, stops s, and checks that the bucket has the clip and the
// listener's played file.
func heardAndStopped(t *testing.T, s *testServer, bucket *objstore.Client) {
	t.Helper()
	listener := clips.OwnerOf("bob's key")
	c := recordClip(t, s.store, []string{listener})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	want := "clips/" + c.ID + ".json clips/" + c.ID + ".webm played/" + listener + ".json"
	if got := bucketKeys(t, bucket, "chat"); got != want {
		t.Errorf("the bucket has %q after the node stopped, want %q", got, want)
	}
}

// TestBucketChangeWhereUnknown: with a bucket, a change to a room's clips
// sent to a node that cannot tell where the room lives (Redis answers
// with an error) is refused, not made on that node's copy, where it
// would not reach the room's clips; reading is served there.
func TestBucketChangeWhereUnknown(t *testing.T) {
	nodes, _ := startBucketCluster(t, 1)
	rc := redisOf(t, nodes[0])
	// Not a lease: reading it fails.
	if err := rc.HSet(context.Background(), "parley:room:chat", "not", "a lease").Err(); err != nil {
		t.Fatal(err)
	}
	media, err := os.ReadFile("testdata/mediarecorder-opus.webm")
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := nodes[0].fetch(t, "POST", "/api/rooms/chat/clips", "", bytes.NewReader(media))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("an upload where the room's home is unknown: %s, want 503 with Retry-After", resp.Status)
	}
	if resp, _ := nodes[0].fetch(t, "GET", "/api/rooms/chat", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the room's details where its home is unknown: %s, want 200", resp.Status)
	}
}

// TestBucketPlayedAtDrain: who heard a clip live is in the bucket when a
// draining node hands the room over, for the node that takes it.
func TestBucketPlayedAtDrain(t *testing.T) {
	nodes, bucket := startBucketCluster(t, 2)
	_, _, at := joinCluster(t, nodes[0], "chat", "ann", client.Options{})
	if at != nodes[0].wsURL() {
		t.Fatalf("ann joined at %s, want node 0", at)
	}
	heardAndStopped(t, nodes[0], bucket)
}
