package clips

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"parley/access"
	"parley/configs"
	"parley/internal/roomdir"
)

// DefaultSweepInterval is how often the sweeper deletes expired clips.
const DefaultSweepInterval = 30 * time.Second

// Option changes how a Store works.
type Option func(*options)

type options struct {
	sweepEvery   time.Duration
	now          func() time.Time
	mediaKey     []byte
	playedOwners int
}

// WithMediaKey sets the secret from which each clip's media capability
// (Clip.Key) is made: access.DeriveKey(server secret, "clip-media"), so
// that keys survive restarts. Without it the store makes a random one,
// and keys last until it is closed.
func WithMediaKey(key []byte) Option {
	return func(o *options) {
		if len(key) > 0 {
			o.mediaKey = append([]byte(nil), key...)
		}
	}
}

// WithSweepInterval sets how often the sweeper runs (default 30 s).
func WithSweepInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.sweepEvery = d
		}
	}
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// Store is the clip store of all rooms.
type Store struct {
	log    *slog.Logger
	opts   options
	notify atomic.Pointer[func(Event)]

	// roomsMu guards rooms, which AddRoom and RemoveRoom change while
	// the server runs. It is taken alone, never with a room's mu.
	roomsMu sync.RWMutex
	rooms   map[string]*room

	runMu  sync.Mutex
	cancel context.CancelFunc // stops the sweeper
	closed bool
	wg     sync.WaitGroup
}

// room is one room's catalog. The fields below mu are guarded by it.
type room struct {
	conf atomic.Pointer[configs.Room] // replaced by AddRoom (see cfg)
	root *os.Root                     // <data>/rooms/<name>
	log  *slog.Logger
	key  []byte // the store's media key (see Clip.Key)

	// playedMu orders the writes of the played files (see savePlayed);
	// it is taken before mu, never while mu is held.
	playedMu sync.Mutex

	mu       sync.Mutex
	closed   bool
	clips    map[string]*Clip
	bytes    int64
	played   played  // who played which clip
	events   []Event // waiting to be delivered, in order
	emitting bool    // a goroutine is delivering events
}

// Open opens the store for the given rooms (validated by configs; each
// is checked again), each in its folder from rooms (roomdir.Dir.Room,
// <data>/rooms/<room>/), which the store keeps open until Close: it makes
// each room's clips folder, rebuilds each catalog from disk, recovers or
// quarantines half-written clips, and deletes what is expired or over the
// limits, and reads who played which clip. Those changes are logged,
// not reported as events. Options: WithSweepInterval, WithClock,
// WithMediaKey, WithPlayedOwners.
func Open(folders *roomdir.Dir, rooms []configs.Room, log *slog.Logger, opts ...Option) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if folders == nil {
		return nil, errors.New("open clip store: no rooms folder")
	}
	s := &Store{
		log:   log,
		opts:  options{sweepEvery: DefaultSweepInterval, now: time.Now, playedOwners: DefaultPlayedOwners},
		rooms: make(map[string]*room, len(rooms)),
	}
	for _, o := range opts {
		o(&s.opts)
	}
	if s.opts.mediaKey == nil {
		s.opts.mediaKey = make([]byte, 32)
		if _, err := rand.Read(s.opts.mediaKey); err != nil {
			return nil, fmt.Errorf("open clip store: %w", err)
		}
	}
	for _, cfg := range rooms {
		r, err := s.openRoom(folders, cfg)
		if err != nil {
			s.closeRooms()
			return nil, fmt.Errorf("open clip store: room %s: %w", cfg.Name, err)
		}
		s.rooms[cfg.Name] = r
	}
	return s, nil
}

func (s *Store) openRoom(folders *roomdir.Dir, cfg configs.Room) (*room, error) {
	if cfg.Name == "" {
		return nil, errors.New("a room without a name")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if s.lookup(cfg.Name) != nil {
		return nil, errors.New("listed twice")
	}
	root, err := folders.Room(cfg.Name)
	if err != nil {
		return nil, err
	}
	// clips/ is a folder of its own, not a link to another one.
	if err := root.MkdirAll("clips", dirMode); err != nil {
		root.Close()
		return nil, err
	}
	if fi, err := root.Lstat("clips"); err != nil || !fi.IsDir() {
		root.Close()
		return nil, errors.New("clips: not a folder")
	}
	r := &room{root: root, log: s.log.With("room", cfg.Name), key: s.opts.mediaKey, clips: map[string]*Clip{},
		played: newPlayed(s.opts.playedOwners)}
	r.conf.Store(&cfg)
	if err := s.load(r); err != nil {
		root.Close()
		return nil, err
	}
	r.enforce(s.opts.now(), "")
	r.events = nil // nobody listens yet
	if err := r.loadPlayed(); err != nil {
		root.Close()
		return nil, err
	}
	r.savePlayed("") // what loading pruned or forgot
	return r, nil
}

// cfg is the room's configuration now: a clip takes the limits in force
// when it begins (or is uploaded, or published), and the sweeper the ones
// in force when it runs.
func (r *room) cfg() configs.Room { return *r.conf.Load() }

// lookup returns the room of that name, or nil.
func (s *Store) lookup(name string) *room {
	s.roomsMu.RLock()
	defer s.roomsMu.RUnlock()
	return s.rooms[name]
}

// roomList returns the rooms open now, in no order.
func (s *Store) roomList() []*room {
	s.roomsMu.RLock()
	defer s.roomsMu.RUnlock()
	out := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		out = append(out, r)
	}
	return out
}

// AddRoom opens a room that was not in the store, as Open does (its
// folder made, its catalog rebuilt and recovered from disk), or, for a
// room the store has, takes its new configuration (validated again): its
// limits apply from the next clip, and what is over them now is evicted
// at once, as the sweeper would.
func (s *Store) AddRoom(folders *roomdir.Dir, cfg configs.Room) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if r := s.lookup(cfg.Name); r != nil {
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("room %s: %w", cfg.Name, err)
		}
		r.conf.Store(&cfg)
		r.mu.Lock()
		if !r.closed {
			r.enforce(s.opts.now(), "")
		}
		r.mu.Unlock()
		s.flush(r)
		r.savePlayed("")
		return nil
	}
	r, err := s.openRoom(folders, cfg)
	if err != nil {
		return fmt.Errorf("open clip store: room %s: %w", cfg.Name, err)
	}
	s.roomsMu.Lock()
	s.rooms[cfg.Name] = r
	s.roomsMu.Unlock()
	return nil
}

// RemoveRoom takes a room out of the store: its played files are
// written and its folder closed, and its clips stay on disk, for the
// room to find again if it comes back. Later calls for it fail with
// ErrUnknownRoom; a clip being recorded in it is left as a .part that
// the next Open or AddRoom of the room recovers.
func (s *Store) RemoveRoom(name string) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	s.roomsMu.Lock()
	r := s.rooms[name]
	delete(s.rooms, name)
	s.roomsMu.Unlock()
	if r == nil {
		return
	}
	if err := r.close(); err != nil {
		s.log.Error("close room", "room", name, "err", err)
	}
}

// close writes the room's played files that are out of date and closes
// its folder; later calls do nothing.
func (r *room) close() error {
	r.playedMu.Lock()
	defer r.playedMu.Unlock()
	r.savePlayedLocked("")
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.root.Close()
}

func (s *Store) closeRooms() {
	for _, r := range s.roomList() {
		r.mu.Lock()
		if !r.closed {
			r.closed = true
			r.root.Close()
		}
		r.mu.Unlock()
	}
}

// SetNotify sets the function called for every change. It is called
// outside the store's locks, in order per room.
func (s *Store) SetNotify(fn func(Event)) {
	if fn == nil {
		s.notify.Store(nil)
		return
	}
	s.notify.Store(&fn)
}

// Start starts the sweeper, which deletes expired clips on a timer until
// ctx ends or Close. Calling it again does nothing.
func (s *Store) Start(ctx context.Context) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.cancel != nil || s.closed {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.opts.sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.sweep()
			}
		}
	}()
}

// sweep deletes the expired clips of every room and writes the played
// files that are out of date.
func (s *Store) sweep() {
	now := s.opts.now()
	for _, r := range s.roomList() {
		r.mu.Lock()
		if !r.closed {
			r.expire(now, "")
		}
		r.mu.Unlock()
		s.flush(r)
		r.savePlayed("")
	}
}

// Close stops the sweeper, waits for it, writes the played files that
// are out of date, and closes the rooms' folders.
// The caller stops the HTTP handler and the recorders first: calls after
// Close fail with ErrClosed. Pending clips not yet committed stay on disk
// and are recovered by the next Open.
func (s *Store) Close() error {
	s.runMu.Lock()
	if s.closed {
		s.runMu.Unlock()
		return nil
	}
	s.closed = true
	if s.cancel != nil {
		s.cancel()
	}
	s.runMu.Unlock()
	s.wg.Wait()
	var errs []error
	for _, r := range s.roomList() {
		if err := r.close(); err != nil {
			errs = append(errs, fmt.Errorf("close room %s: %w", r.cfg().Name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Store) room(name string) (*room, error) {
	r := s.lookup(name)
	if r == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownRoom, name)
	}
	return r, nil
}

// Room returns the configuration of a room of the store.
func (s *Store) Room(name string) (configs.Room, bool) {
	r := s.lookup(name)
	if r == nil {
		return configs.Room{}, false
	}
	return r.cfg(), true
}

// expired reports whether c is past its lifetime at now.
func expired(c *Clip, now time.Time) bool { return !now.Before(c.Expires) }

// newestFirst orders clips by creation time, newest first.
func newestFirst(a, b Clip) int {
	if c := b.Created.Compare(a.Created); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// List returns the room's clips, newest first: the published ones and the
// drafts of owner ("" = nobody's), as owner sees them (Played included).
// Only the caller's own drafts carry their DraftToken. Expired clips are
// never listed.
func (s *Store) List(roomName, owner string) ([]Clip, error) {
	r, err := s.room(roomName)
	if err != nil {
		return nil, err
	}
	now := s.opts.now()
	out := []Clip{}
	r.mu.Lock()
	for _, c := range r.clips {
		if expired(c, now) || (c.State == Draft && (owner == "" || c.Owner != owner)) {
			continue
		}
		v := c.ForViewer(owner)
		if owner != "" && r.played.has(owner, c.ID) {
			v.Played = true
		}
		out = append(out, v)
	}
	r.mu.Unlock()
	slices.SortFunc(out, newestFirst)
	return out, nil
}

// IDs returns the ids of every clip of a room, drafts included.
func (s *Store) IDs(roomName string) []string {
	r := s.lookup(roomName)
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.clips))
	for id := range r.clips {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Get returns a clip, Owner and DraftToken included, unless it is unknown
// or expired.
func (s *Store) Get(roomName, id string) (Clip, bool) {
	r := s.lookup(roomName)
	if r == nil || !ValidID(id) {
		return Clip{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.clips[id]
	if c == nil || expired(c, s.opts.now()) {
		return Clip{}, false
	}
	return *c, true
}

// Publish turns a draft into a published clip. Only its owner may
// (ErrForbidden). Publishing a published clip changes nothing.
func (s *Store) Publish(roomName, id, owner string) (Clip, error) {
	r, err := s.room(roomName)
	if err != nil {
		return Clip{}, err
	}
	if !ValidID(id) {
		return Clip{}, fmt.Errorf("%w: bad id", ErrNotFound)
	}
	now := s.opts.now()
	r.mu.Lock()
	c, err := r.lookup(id, now)
	if err != nil {
		r.mu.Unlock()
		return Clip{}, err
	}
	if owner == "" || c.Owner != owner {
		r.mu.Unlock()
		return Clip{}, ErrForbidden
	}
	if c.State == Published {
		out := *c
		r.mu.Unlock()
		return out, nil
	}
	updated := *c
	updated.State = Published
	updated.DraftToken = ""
	if err := writeJSON(r.root, "clips", updated.jsonName(), toDisk(updated)); err != nil {
		r.mu.Unlock()
		return Clip{}, fmt.Errorf("publish clip %s: %w", id, err)
	}
	*c = updated
	r.events = append(r.events, Event{Type: EventUpdated, Clip: updated, Published: true, Played: r.played.by(id)})
	r.enforce(now, id)
	r.mu.Unlock()
	s.flush(r)
	return updated, nil
}

// describe sets the description of an owner's clip: an upload whose
// description arrived after its file. It emits clip-updated.
func (s *Store) describe(roomName, id, owner, description string) (Clip, error) {
	r, err := s.room(roomName)
	if err != nil {
		return Clip{}, err
	}
	r.mu.Lock()
	c, err := r.lookup(id, s.opts.now())
	if err == nil && (owner == "" || c.Owner != owner) {
		err = ErrForbidden
	}
	if err != nil {
		r.mu.Unlock()
		return Clip{}, err
	}
	updated := *c
	updated.Description = cleanText(description, MaxDescription)
	if err := writeJSON(r.root, "clips", updated.jsonName(), toDisk(updated)); err != nil {
		r.mu.Unlock()
		return Clip{}, fmt.Errorf("describe clip %s: %w", id, err)
	}
	*c = updated
	r.events = append(r.events, Event{Type: EventUpdated, Clip: updated, Played: r.played.by(id)})
	r.mu.Unlock()
	s.flush(r)
	return updated, nil
}

// Delete removes a clip, by its author (owner matches) or an operator.
// The event's reason is "discarded" for a draft, else "deleted".
func (s *Store) Delete(roomName, id, owner string, operator bool) error {
	r, err := s.room(roomName)
	if err != nil {
		return err
	}
	if !ValidID(id) {
		return fmt.Errorf("%w: bad id", ErrNotFound)
	}
	r.mu.Lock()
	c, err := r.lookup(id, s.opts.now())
	if err == nil && !operator && (owner == "" || c.Owner != owner) {
		err = ErrForbidden
	}
	if err == nil {
		reason := ReasonDeleted
		if c.State == Draft {
			reason = ReasonDiscarded
		}
		err = r.remove(c, reason)
	}
	r.mu.Unlock()
	s.flush(r)
	return err
}

// OpenMedia opens a clip's media for serving. The file stays readable
// even if the clip is deleted meanwhile; the caller closes it.
func (s *Store) OpenMedia(roomName, id string) (*os.File, Clip, error) {
	r, err := s.room(roomName)
	if err != nil {
		return nil, Clip{}, err
	}
	if !ValidID(id) {
		return nil, Clip{}, fmt.Errorf("%w: bad id", ErrNotFound)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id, s.opts.now())
	if err != nil {
		return nil, Clip{}, err
	}
	f, err := r.root.Open(c.mediaName())
	if err != nil {
		return nil, Clip{}, fmt.Errorf("open clip %s: %w", id, err)
	}
	return f, *c, nil
}

// clipKey is the media capability of clip id of room: the first 128 bits
// of its MAC under the store's key, base64url without padding.
func clipKey(key []byte, room, id string) string {
	return base64.RawURLEncoding.EncodeToString(access.MAC(key, room, id)[:16])
}

// Key returns the media capability of a clip (Clip.Key), whether or not
// the clip exists; "" for an unknown room or a malformed id.
func (s *Store) Key(roomName, id string) string {
	if s.lookup(roomName) == nil || !ValidID(id) {
		return ""
	}
	return clipKey(s.opts.mediaKey, roomName, id)
}

// CheckKey reports, in constant time, whether key is the media capability
// of clip id of the room.
func (s *Store) CheckKey(roomName, id, key string) bool {
	want := s.Key(roomName, id)
	return want != "" && subtle.ConstantTimeCompare([]byte(key), []byte(want)) == 1
}

// Usage returns the bytes and the number of clips the room keeps, drafts
// included.
func (s *Store) Usage(roomName string) (bytes int64, count int) {
	r := s.lookup(roomName)
	if r == nil {
		return 0, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes, len(r.clips)
}

// lookup finds a live clip. Called locked.
func (r *room) lookup(id string, now time.Time) (*Clip, error) {
	if r.closed {
		return nil, ErrClosed
	}
	c := r.clips[id]
	if c == nil || expired(c, now) {
		return nil, ErrNotFound
	}
	return c, nil
}

// add puts a committed clip in the catalog, with its Key. Called locked.
func (r *room) add(c *Clip) {
	c.Key = clipKey(r.key, r.cfg().Name, c.ID)
	r.clips[c.ID] = c
	r.bytes += c.Bytes
}

// remove deletes a clip's files and forgets it, queueing its event. The
// media goes first: a crash in between leaves a .json without media,
// which the next Open drops. Called locked.
func (r *room) remove(c *Clip, reason string) error {
	if err := removeIfExists(r.root, c.mediaName()); err != nil {
		return fmt.Errorf("delete clip %s: %w", c.ID, err)
	}
	if err := removeIfExists(r.root, c.jsonName()); err != nil {
		r.log.Warn("delete clip metadata", "clip", c.ID, "err", err)
	}
	delete(r.clips, c.ID)
	r.bytes -= c.Bytes
	r.played.forget(c.ID)
	r.events = append(r.events, Event{Type: EventRemoved, Clip: *c, Reason: reason})
	r.log.Info("clip removed", "clip", c.ID, "reason", reason)
	return nil
}

// expire deletes the expired clips but keep. Called locked.
func (r *room) expire(now time.Time, keep string) {
	for id, c := range r.clips {
		if id != keep && expired(c, now) {
			if err := r.remove(c, ReasonExpired); err != nil {
				r.log.Error("expire clip", "err", err)
			}
		}
	}
}

// enforce applies the room's limits: expired clips go, then the oldest
// published clips and, if that is not enough, the oldest drafts until
// the count and the bytes are within the limits. keep, the clip just added
// or published, stays. Called locked.
func (r *room) enforce(now time.Time, keep string) {
	r.expire(now, keep)
	over := func() bool { return len(r.clips) > r.cfg().MaxClipCount || r.bytes > r.cfg().MaxRoomBytes }
	if !over() {
		return
	}
	victims := make([]*Clip, 0, len(r.clips))
	for id, c := range r.clips {
		if id != keep {
			victims = append(victims, c)
		}
	}
	slices.SortFunc(victims, func(a, b *Clip) int {
		// Published before drafts, then oldest first.
		if a.State != b.State {
			if a.State == Published {
				return -1
			}
			return 1
		}
		return -newestFirst(*a, *b)
	})
	for _, c := range victims {
		if !over() {
			return
		}
		if err := r.remove(c, ReasonEvicted); err != nil {
			r.log.Error("evict clip", "err", err)
		}
	}
}

// flush delivers the room's queued events, outside its lock and in order.
// If another goroutine is already delivering, it delivers these too.
func (s *Store) flush(r *room) {
	r.mu.Lock()
	if r.emitting {
		r.mu.Unlock()
		return
	}
	r.emitting = true
	for len(r.events) > 0 {
		ev := r.events[0]
		r.events[0] = Event{}
		r.events = r.events[1:]
		fn := s.notify.Load()
		r.mu.Unlock()
		if fn != nil {
			s.deliver(*fn, ev)
		}
		r.mu.Lock()
	}
	r.emitting = false
	r.mu.Unlock()
}

// deliver calls fn, keeping a panic in it from wedging the room's events.
func (s *Store) deliver(fn func(Event), ev Event) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("clip event handler panicked", "event", ev.Type, "clip", ev.Clip.ID, "panic", p)
		}
	}()
	fn(ev)
}

// statSize returns the size of a file in the room, or an error.
func statSize(root *os.Root, name string) (int64, error) {
	fi, err := root.Stat(name)
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: %w: not a regular file", name, fs.ErrInvalid)
	}
	return fi.Size(), nil
}
