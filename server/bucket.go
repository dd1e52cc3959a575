package server

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"parley/clips"
	"parley/clips/mirror"
	"parley/configs"
	"parley/internal/roomdir"
	"parley/objstore"
)

// DefaultBucketSync is how often a node of a cluster copies the changes
// of the rooms it holds to the bucket, and takes in the clips that other
// nodes put there (Options.BucketSync).
const DefaultBucketSync = 10 * time.Second

// bucketTimeout bounds one room's copy to or from the bucket.
const bucketTimeout = 2 * time.Minute

// clipBucket keeps the clip folders of the rooms a node of a cluster
// holds in the S3 bucket (storage.s3_*), where every node finds them:
//   - a room that comes to the node (cluster.Config.OnAdopt) has its
//     folder made the bucket's copy before its first member is let in,
//     and the clip store reads it again (adopt);
//   - every change of a room's clips is copied to the bucket before the
//     room's members are told of it (before), so that a clip is
//     announced once it is in the bucket; a room the node no longer
//     holds (handed over by a drain while a recording ended) only adds
//     its new clips;
//   - a timer copies what changed besides (played files, a copy that
//     failed, the new clips of a room no longer held here that a copy
//     failed to put) and takes in the clips other nodes added to the
//     rooms held here since (run).
type clipBucket struct {
	mirror  *mirror.Mirror
	client  *objstore.Client
	store   *clips.Store
	folders *roomdir.Dir
	held    func() []string // the rooms this node holds
	holds   func(room string) bool
	inUse   func(room string) bool // members in the room here
	log     *slog.Logger

	stop context.CancelFunc
	wg   sync.WaitGroup

	mu sync.Mutex
	// behind are the rooms not held here whose new clips a push failed
	// to put (a drained node's late recordings): the timer, and close,
	// try them again.
	behind map[string]bool
}

// newClipBucket connects to the bucket of cfg.Storage (nil, nil when
// clips stay on local disk) and checks that it is there.
func newClipBucket(cfg configs.Server, store *clips.Store, log *slog.Logger) (*clipBucket, error) {
	st := cfg.Storage
	if !st.S3Enabled() {
		return nil, nil
	}
	creds, err := st.S3Credentials(os.Getenv, log)
	if err != nil {
		return nil, err
	}
	client, err := objstore.New(objstore.Config{
		Endpoint:  st.S3Endpoint,
		Bucket:    st.S3Bucket,
		Region:    st.S3Region,
		AccessKey: creds.AccessKey,
		SecretKey: creds.SecretKey,
		PathStyle: st.S3PathStyle,
		Prefix:    st.S3Prefix,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), objstore.DefaultTimeout)
	defer cancel()
	if err := client.Check(ctx); err != nil {
		client.Close()
		return nil, err
	}
	folders, err := roomdir.Open(st.DataDir)
	if err != nil {
		client.Close()
		return nil, err
	}
	return &clipBucket{mirror: mirror.New(client, log), client: client, store: store, folders: folders, log: log}, nil
}

// adopt makes the room's clip folder the bucket's copy and has the store
// read it again (nobody is in the room here yet). If the bucket cannot
// be read, the room keeps the clips this node's folder has, and its
// changes are not copied until it comes here again (logged).
func (b *clipBucket) adopt(room string) {
	// A room that comes back to this node while its members are still
	// here (its lease lost in a Redis outage and placed here again):
	// its folder, in use, is kept as it is, and copied on as it was.
	if b.inUse != nil && b.inUse(room) {
		b.log.Warn("cluster: a room taken up again with members here: its clips stay as this node has them", "room", room)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), bucketTimeout)
	defer cancel()
	start := time.Now()
	var res mirror.Result
	lim := b.limits(room) // the store does not have the room during Refresh
	err := b.store.Refresh(b.folders, room, func(root *os.Root) error {
		var err error
		res, err = b.mirror.Pull(ctx, room, root, lim)
		return err
	})
	if err != nil {
		b.log.Error("cluster: the room's clips could not be read from the bucket: it has this node's copy, which the bucket does not get", "room", room, "err", err)
		return
	}
	b.log.Info("cluster: the room's clips read from the bucket", "room", room, "fetched", res.Fetched, "deleted", res.Deleted, "set_aside", res.SetAside, "took", time.Since(start).Round(time.Millisecond))
}

// limits bound what is read from the bucket for a room: no more than the
// room may keep, its media (max_room_bytes), each clip's metadata (16 KiB
// is more than the largest) and each owner's played file, as the clip
// store bounds them. A room the store does not have reads nothing.
func (b *clipBucket) limits(room string) mirror.Limits {
	cfg, ok := b.store.Room(room)
	if !ok {
		return mirror.Limits{Bytes: -1}
	}
	count := int64(cfg.MaxClipCount)
	return mirror.Limits{Bytes: cfg.MaxRoomBytes + count*16<<10 + clips.DefaultPlayedOwners*(64<<10+40*count)}
}

// before copies a room's changes to the bucket before its members hear
// of ev.
func (b *clipBucket) before(ev clips.Event) {
	if ev.Type == clips.EventPlayed {
		return // the timer copies played files
	}
	b.push(ev.Clip.Room, b.holds == nil || !b.holds(ev.Clip.Room))
}

// push copies a room's changes to the bucket (with onlyNew, its new
// clips only).
func (b *clipBucket) push(room string, onlyNew bool) {
	if !b.mirror.Pulled(room) {
		return
	}
	root, err := b.folders.Room(room)
	if err != nil {
		b.log.Error("cluster: copy a room's clips to the bucket", "room", room, "err", err)
		return
	}
	defer root.Close()
	ctx, cancel := context.WithTimeout(context.Background(), bucketTimeout)
	defer cancel()
	_, err = b.mirror.Push(ctx, room, root, onlyNew)
	if err != nil && !errors.Is(err, mirror.ErrNotPulled) {
		b.log.Warn("cluster: copy a room's clips to the bucket; tried again later", "room", room, "err", err)
	}
	b.mu.Lock()
	switch {
	case err == nil:
		delete(b.behind, room)
	case onlyNew && !errors.Is(err, mirror.ErrNotPulled):
		if b.behind == nil {
			b.behind = make(map[string]bool)
		}
		b.behind[room] = true
	}
	b.mu.Unlock()
}

// retry pushes again the new clips of the rooms not held here that a
// push failed to put.
func (b *clipBucket) retry() {
	b.mu.Lock()
	rooms := slices.Sorted(maps.Keys(b.behind))
	b.mu.Unlock()
	for _, room := range rooms {
		b.push(room, b.holds == nil || !b.holds(room))
	}
}

// fetch takes into the catalog the clips of a room held here that
// another node put in the bucket since.
func (b *clipBucket) fetch(room string) {
	root, err := b.folders.Room(room)
	if err != nil {
		b.log.Error("cluster: read a room's new clips from the bucket", "room", room, "err", err)
		return
	}
	defer root.Close()
	ctx, cancel := context.WithTimeout(context.Background(), bucketTimeout)
	defer cancel()
	ids, _, err := b.mirror.Fetch(ctx, room, root, b.limits(room))
	if err != nil && !errors.Is(err, mirror.ErrNotPulled) {
		b.log.Warn("cluster: read a room's new clips from the bucket; tried again later", "room", room, "err", err)
	}
	for _, id := range ids {
		if _, err := b.store.Import(room, id); err != nil {
			b.log.Warn("cluster: a clip another node put in the bucket was not taken in", "room", room, "clip", id, "err", err)
		}
	}
}

// start runs the timer until close.
func (b *clipBucket) start(every time.Duration) {
	if every <= 0 {
		every = DefaultBucketSync
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.stop = cancel
	b.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				for _, room := range b.held() {
					b.push(room, false)
					b.fetch(room)
				}
				b.retry()
			}
		}
	})
}

// close stops the timer and copies, one last time, the changes of the
// rooms held here; then closes the client. Called after the clip store's
// last change (the hub has stopped).
func (b *clipBucket) close() {
	if b.stop != nil {
		b.stop()
	}
	b.wg.Wait()
	if b.held != nil {
		for _, room := range b.held() {
			b.push(room, false)
		}
	}
	b.retry()
	b.folders.Close()
	b.client.Close()
}
