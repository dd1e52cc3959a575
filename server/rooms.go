package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"parley/configs"
	"parley/internal/dirwatch"
	"parley/internal/roomdir"
)

// Live room changes. The rooms folder (rooms.dir) is read again when a
// watch of it tells of a change (on Linux; see watchRooms), every
// RoomsPollInterval without one, and on ReloadRooms (SIGHUP, the admin
// API): a file
// added makes a room, a file changed gives its room the new settings, a
// file removed removes its room. A file is parsed again only when its
// bytes changed; the watcher reads it again only when its metadata
// changed (see configs.ReadRoomFilesSince), so that a look at a folder of
// many rooms costs a stat of each. A file that does not validate is
// refused with the error it would have at start-up (logged), and its room
// keeps its last good settings; a new room from it is not made until it
// is fixed.

// RoomsPollInterval is how often the rooms folder is looked at when it
// cannot be watched, and how long after a change it is looked at.
const RoomsPollInterval = time.Second

// roomFiles is what the server last read of the rooms folder. mu makes
// one reload at a time (the watcher, SIGHUP and the admin API alike).
type roomFiles struct {
	dir string // rooms.dir; "" for the built-in rooms, which never change

	mu        sync.Mutex
	seen      map[string][sha256.Size]byte // by room name: the bytes last read, good or not
	rooms     map[string]configs.Room      // by room name: the settings in force
	settling  map[string][sha256.Size]byte // by room name: a change seen once by the watcher (gone: the file missing)
	stamps    map[string]fs.FileInfo       // by path: the metadata of a file whose bytes were taken (seen), for the watcher to skip reading it while it stays the same
	links     bool                         // a room file is a symbolic link
	looks     atomic.Int64                 // the watcher's looks so far (for tests)
	folderErr string                       // the folder's last problem, logged once
	closed    bool                         // the server shut down
}

func newRoomFiles(dir string, rooms []configs.Room) *roomFiles {
	rf := &roomFiles{dir: dir, seen: map[string][sha256.Size]byte{}, rooms: map[string]configs.Room{}, settling: map[string][sha256.Size]byte{}}
	for _, r := range rooms {
		rf.rooms[r.Name] = r
	}
	if dir == "" {
		return rf
	}
	// The files as they are now are the ones New was given (if one
	// changed in between, its hash differs and the first reload reads
	// it).
	files, _ := configs.ReadRoomFiles(dir)
	for _, f := range files {
		if _, ok := rf.rooms[f.Name]; ok {
			rf.seen[f.Name] = sha256.Sum256(f.Data)
		}
	}
	return rf
}

// ErrNoRoomsDir is ReloadRooms's error when the rooms are the built-in
// ones (rooms.dir is not set): there is nothing to read again.
var ErrNoRoomsDir = errors.New("rooms.dir is not set: the built-in demo rooms do not change")

// ErrShutDown is the error of what the server cannot do once it is shut down.
var ErrShutDown = errors.New("the server is shut down")

// ReloadRooms reads the rooms folder again (every file) and applies
// what changed since it was last read. It returns the problems of the
// files it refused (also logged); the rooms they name keep their last
// good settings. A folder that cannot be read, or holds no room file, is
// refused as at start-up and every room stays as it is.
func (s *Server) ReloadRooms() error {
	rf := s.roomFiles
	if rf.dir == "" {
		return ErrNoRoomsDir
	}
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.closed {
		return ErrShutDown
	}
	return s.reloadRoomsLocked(false)
}

// lookAtRooms is the watcher's look at the rooms folder: ReloadRooms, but
// a change is taken only once two looks in a row see it.
func (s *Server) lookAtRooms() error {
	rf := s.roomFiles
	rf.looks.Add(1)
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.closed {
		return ErrShutDown
	}
	return s.reloadRoomsLocked(true)
}

// gone stands in settling for a file that is missing: no file's hash.
var gone [sha256.Size]byte

// reloadRoomsLocked is ReloadRooms. With settle (the watcher's looks), a
// file changed, added or missing is taken only when the next look finds
// it the same: a file being written in place, or an editor's save that
// removes the file and writes it again, is not taken half-way (a room
// closed for it). Called locked (roomFiles.mu).
func (s *Server) reloadRoomsLocked(settle bool) error {
	rf := s.roomFiles
	var known map[string]fs.FileInfo
	if settle {
		known = rf.stamps // the watcher's looks read only the files that changed
	}
	files, err := configs.ReadRoomFilesSince(rf.dir, known)
	if len(files) == 0 {
		if msg := err.Error(); msg != rf.folderErr {
			rf.folderErr = msg
			s.log.Error("rooms folder refused: every room stays as it is", "dir", rf.dir, "err", err)
		}
		return err
	}
	switch {
	case err == nil:
		rf.folderErr = ""
	case err.Error() != rf.folderErr:
		// Files that cannot be read: their rooms stay as they are.
		rf.folderErr = err.Error()
		s.log.Error("room files unreadable: their rooms stay as they are", "dir", rf.dir, "err", err)
	}
	errs := []error{err}
	present := map[string]bool{}
	stamps := map[string]fs.FileInfo{}
	defer func() { rf.stamps = stamps }()
	rf.links = false
	for _, f := range files {
		present[f.Name] = true
		rf.links = rf.links || f.Link
		if f.Unchanged { // as when its bytes were last read and taken
			delete(rf.settling, f.Name)
			stamps[f.Path] = f.Stamp
			continue
		}
		sum := sha256.Sum256(f.Data)
		if old, ok := rf.seen[f.Name]; ok && old == sum {
			delete(rf.settling, f.Name)
			if f.Stamp != nil {
				stamps[f.Path] = f.Stamp
			}
			continue
		}
		if settle && rf.settling[f.Name] != sum {
			rf.settling[f.Name] = sum // applied if the next look sees the same
			continue
		}
		delete(rf.settling, f.Name)
		rf.seen[f.Name] = sum
		if f.Stamp != nil {
			stamps[f.Path] = f.Stamp
		}
		r, err := configs.ParseRoom(f.Path, f.Data)
		if err == nil {
			err = configs.CheckRooms(s.cfg, []configs.Room{r})
		}
		if err == nil {
			err = s.applyRoom(r)
		}
		if err != nil {
			if _, ok := rf.rooms[f.Name]; ok {
				s.log.Error("room file refused: the room keeps its last good settings", "room", f.Name, "file", f.Path, "err", err)
			} else {
				s.log.Error("room file refused: the room is not made", "room", f.Name, "file", f.Path, "err", err)
			}
			errs = append(errs, err)
		}
	}
	if err != nil {
		// Files that could not be read are not known to be gone.
		return errors.Join(errs...)
	}
	for _, name := range slices.Sorted(maps.Keys(rf.rooms)) {
		if present[name] {
			continue
		}
		if v, ok := rf.settling[name]; settle && (!ok || v != gone) {
			rf.settling[name] = gone // removed if the next look misses it too
			continue
		}
		delete(rf.settling, name)
		s.removeRoom(name)
	}
	for name := range rf.seen {
		if _, ok := rf.rooms[name]; !ok && !present[name] {
			delete(rf.seen, name) // a refused file that went
		}
	}
	for name := range rf.settling {
		if _, ok := rf.rooms[name]; !ok && !present[name] {
			delete(rf.settling, name) // a new file that went before it settled
		}
	}
	return errors.Join(errs...)
}

// applyRoom makes a room or gives it new settings: the clip store and
// the chat log first, so that a member who joins finds them. Called
// locked (roomFiles.mu).
func (s *Server) applyRoom(r configs.Room) error {
	rf := s.roomFiles
	old, had := rf.rooms[r.Name]
	folders, err := roomdir.Open(s.cfg.Storage.DataDir)
	if err != nil {
		return err
	}
	defer folders.Close()
	// A cluster's chat is in Redis, where a room needs nothing made.
	files := s.chatFiles != nil && !had
	if files {
		if err := s.chatFiles.AddRoom(folders, r.Name); err != nil {
			return err
		}
	}
	if err := s.store.AddRoom(folders, r); err != nil {
		if files {
			_ = s.chatFiles.RemoveRoom(r.Name)
		}
		return err
	}
	s.hub.SetRoom(r)
	rf.rooms[r.Name] = r
	if had && (old.Notify != r.Notify || !maps.Equal(old.NotifyAddresses, r.NotifyAddresses)) {
		s.log.Warn("room notify settings changed: they need a restart", "room", r.Name)
	}
	if !had && r.Notify {
		s.log.Warn("new room notifies: its mail needs a restart", "room", r.Name)
	}
	return nil
}

// removeRoom removes a room everywhere; its files stay on disk. Called
// locked (roomFiles.mu).
func (s *Server) removeRoom(name string) {
	s.hub.RemoveRoom(name)
	s.store.RemoveRoom(name)
	if s.chatFiles != nil {
		if err := s.chatFiles.RemoveRoom(name); err != nil {
			s.log.Error("close chat log", "room", name, "err", err)
		}
	}
	delete(s.roomFiles.rooms, name)
	delete(s.roomFiles.seen, name)
	delete(s.roomFiles.settling, name)
}

// watchRooms looks at the rooms folder until ctx ends: when a watch of
// the folder tells of a change (dirwatch), every interval while a change
// settles, and otherwise every interval without a watch, or while a room
// file is a link (the watch does not see its target's edits) or the
// folder has a problem, and every watchedLook with one.
func (s *Server) watchRooms(ctx context.Context, interval time.Duration) {
	rf := s.roomFiles
	var (
		w        *dirwatch.Watcher
		watchErr string // the last reason it could not be watched, logged once
		canWatch = true // false where folders cannot be watched at all
	)
	watch := func() {
		if w != nil {
			w.Close()
			w = nil
		}
		nw, err := dirwatch.New(rf.dir)
		if err != nil {
			canWatch = !errors.Is(err, errors.ErrUnsupported)
			if err.Error() != watchErr {
				watchErr = err.Error()
				s.log.Debug("rooms folder looked at every interval: it cannot be watched", "interval", interval, "err", err)
			}
			return
		}
		w, watchErr = nw, ""
	}
	watch()
	defer func() {
		if w != nil {
			w.Close()
		}
	}()
	t := time.NewTimer(interval)
	defer t.Stop()
	due := time.Now().Add(interval)
	for {
		var changes <-chan struct{}
		if w != nil {
			changes = w.C
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
			// Looked at an interval later, as the next look after a
			// change would be without the watch: a file being
			// written has that long to be done.
			if time.Until(due) > interval {
				due = time.Now().Add(interval)
				t.Reset(interval)
			}
			continue
		case <-t.C:
		}
		_ = s.lookAtRooms() // logged
		if (w == nil && canWatch) || (w != nil && w.Lost()) {
			watch() // again: the folder may be back, or another now
		}
		next := interval
		if w != nil && !rf.needsLooks() {
			next = watchedLook
		}
		due = time.Now().Add(next)
		t.Reset(next)
	}
}

// watchedLook is how often a watched rooms folder is looked at all the
// same, for what a watch does not see (an edit on another client of a
// network file system).
const watchedLook = 10 * time.Second

// needsLooks tells whether the watcher is to look at the folder again
// after an interval whether or not the watch tells of a change: a change
// seen once waits for the next look to be taken, a room file is a link,
// or the folder has a problem.
func (rf *roomFiles) needsLooks() bool {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	return len(rf.settling) > 0 || rf.links || rf.folderErr != ""
}

// startWatch starts the rooms folder's watcher; Shutdown stops it.
func (s *Server) startWatch(interval time.Duration) {
	if s.roomFiles.dir == "" {
		return
	}
	if interval <= 0 {
		interval = RoomsPollInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopWatch = cancel
	s.watching.Go(func() { s.watchRooms(ctx, interval) })
}
