package mirror

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"

	"parley/configs"
	"parley/objstore"
)

// ErrNotPulled is returned by Push and Fetch for a room that has no state:
// never pulled, or forgotten since.
var ErrNotPulled = errors.New("the room was not pulled from the bucket")

// maxJSONSize bounds a mirrored .json object: a larger one is not read.
const maxJSONSize = 1 << 20

// File modes of what Pull writes, as package clips makes them.
const (
	dirMode  = 0o750
	fileMode = 0o640
)

// The mirrored folders of a room.
var folders = []string{"clips", "played"}

// Mirrored names, relative to the room's folder: clip ids are those of
// package clips (13 hex digits of time, 16 random), owners are SHA-256 in
// hex. The patterns are checked against package clips by the tests.
var (
	clipName   = regexp.MustCompile(`^clips/([0-9a-f]{29})\.(webm|ogg|json)$`)
	playedName = regexp.MustCompile(`^played/[0-9a-f]{64}\.json$`)
)

// mirrored reports whether name (relative to the room's folder) is a file
// the bucket mirrors.
func mirrored(name string) bool {
	return clipName.MatchString(name) || playedName.MatchString(name)
}

// clipID returns the clip id of a clips/ name, or "".
func clipID(name string) string {
	if m := clipName.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return ""
}

// isMedia reports whether name is a clip's media.
func isMedia(name string) bool {
	return strings.HasSuffix(name, ".webm") || strings.HasSuffix(name, ".ogg")
}

// contentType returns the content type an object of name is stored with.
func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".webm"):
		return "video/webm"
	case strings.HasSuffix(name, ".ogg"):
		return "audio/ogg"
	default:
		return "application/json"
	}
}

// maxSize returns the largest object of name that is read.
func maxSize(name string) int64 {
	if isMedia(name) {
		return objstore.MaxObjectSize
	}
	return maxJSONSize
}

// Limits bound what Pull and Fetch download for a room, so that a bucket
// cannot fill the node's disk.
type Limits struct {
	// Bytes bounds the files one call downloads (or finds alike),
	// media, metadata and played files, as the room's max_room_bytes
	// bounds its clips: Pull takes the newest clips that fit, then the
	// played files that fit; the other clips are evicted as the room
	// would (the next Push deletes them), the other played files left
	// alone. Fetch leaves the clips that do not fit for a later call. Zero bounds nothing; a
	// negative value lets nothing through.
	Bytes int64
}

// fits reports whether media of size fits the call's budget, with used
// bytes taken already; it takes them if so.
func (lim Limits) fits(used *int64, size int64) bool {
	if lim.Bytes < 0 || lim.Bytes > 0 && *used+size > lim.Bytes {
		return false
	}
	*used += size
	return true
}

// Result counts what a call did, for logs and tests.
type Result struct {
	Put      int // objects put
	Deleted  int // objects deleted from the bucket (Push) or local files removed (Pull)
	Fetched  int // files downloaded
	SetAside int // local files moved to quarantine/
}

// stamp is what a local file looked like when its copy was in the bucket:
// a change of either says it changed.
type stamp struct {
	size  int64
	mtime int64 // Unix nanoseconds
}

func stampOf(fi fs.FileInfo) stamp { return stamp{fi.Size(), fi.ModTime().UnixNano()} }

// room is the Mirror's state of one room.
type room struct {
	mu sync.Mutex // serializes the calls for the room; guards the fields
	// pulled says that files is the room's state: a Pull succeeded and
	// no Forget came since.
	pulled bool
	// files are the names this process had in the bucket (pushed, pulled
	// or found alike), with the local stamp each had then. It outlives
	// Forget, so that a later Pull knows which local files another node
	// deleted meanwhile; it only holds names that are local, so it is
	// bounded by the room's folder.
	files map[string]stamp
}

// Mirror copies rooms' clip folders to and from a bucket. It is safe for
// concurrent use: calls for one room run one at a time, calls for
// different rooms in parallel.
type Mirror struct {
	bucket *objstore.Client
	log    *slog.Logger

	mu    sync.Mutex // guards rooms
	rooms map[string]*room
}

// New returns a Mirror of rooms in bucket, logging to log.
func New(bucket *objstore.Client, log *slog.Logger) *Mirror {
	return &Mirror{bucket: bucket, log: log, rooms: make(map[string]*room)}
}

// lock returns the room's state, locked, or an error if name is not a
// room name.
func (m *Mirror) lock(name string) (*room, error) {
	if !configs.ValidRoomName(name) {
		return nil, fmt.Errorf("mirror: %q is not a room name", name)
	}
	m.mu.Lock()
	r := m.rooms[name]
	if r == nil {
		r = &room{files: make(map[string]stamp)}
		m.rooms[name] = r
	}
	m.mu.Unlock()
	r.mu.Lock()
	return r, nil
}

// Pulled reports whether the room has state: a Pull succeeded and no
// Forget came since.
func (m *Mirror) Pulled(name string) bool {
	r, err := m.lock(name)
	if err != nil {
		return false
	}
	defer r.mu.Unlock()
	return r.pulled
}

// Forget drops the room's state: the node no longer holds it. What it
// knows of the files it had in the bucket stays, for the next Pull.
func (m *Mirror) Forget(name string) {
	r, err := m.lock(name)
	if err != nil {
		return
	}
	defer r.mu.Unlock()
	r.pulled = false
}

// prefix returns the keys' prefix of a room.
func prefix(room string) string { return "rooms/" + room + "/" }

// listing is a room's objects in the bucket.
type listing struct {
	objects map[string]objstore.Info // by name relative to the room
	// untrusted are the mirrored names of objects too large to read: they
	// are in the bucket, but neither fetched nor compared.
	untrusted map[string]bool
	truncated bool
}

// list lists the room's objects, leaving out (with a log line) those that
// are not mirrored names or are too large.
func (m *Mirror) list(ctx context.Context, room string) (listing, error) {
	p := prefix(room)
	l, err := m.bucket.List(ctx, p, objstore.MaxListLimit)
	if err != nil {
		return listing{}, fmt.Errorf("mirror: list room %s: %w", room, err)
	}
	for _, s := range l.Skipped {
		m.log.Warn("mirror: the bucket listed an impossible object; ignored", "room", room, "object", s)
	}
	out := listing{objects: make(map[string]objstore.Info), untrusted: make(map[string]bool), truncated: l.Truncated}
	for _, o := range l.Objects {
		name := strings.TrimPrefix(o.Key, p)
		switch {
		case !mirrored(name):
			m.log.Warn("mirror: the bucket holds an object that is not a clip's or a played file; ignored", "room", room, "key", o.Key)
		case o.Size > maxSize(name):
			m.log.Warn("mirror: the bucket holds an object too large for its kind; ignored", "room", room, "key", o.Key, "size", o.Size, "max", maxSize(name))
			out.untrusted[name] = true
		default:
			out.objects[name] = o
		}
	}
	return out, nil
}

// has reports whether the listing has a clip's file (clips/<name>).
func (l listing) has(name string) bool {
	_, ok := l.objects["clips/"+name]
	return ok
}

// localFiles returns the room's mirrored local files that are regular
// files, with their stamps. A missing folder has none.
func localFiles(root *os.Root) (map[string]stamp, error) {
	files := make(map[string]stamp)
	for _, dir := range folders {
		entries, err := fs.ReadDir(root.FS(), dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("mirror: read %s: %w", dir, err)
		}
		for _, e := range entries {
			name := dir + "/" + e.Name()
			if !mirrored(name) || !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			if err != nil {
				return nil, fmt.Errorf("mirror: stat %s: %w", name, err)
			}
			files[name] = stampOf(fi)
		}
	}
	return files, nil
}
