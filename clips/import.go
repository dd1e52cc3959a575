package clips

import (
	"fmt"
	"os"

	"parley/internal/roomdir"
)

// Import takes into a room's catalog a clip whose files another process
// put in its clips folder (its media, then its metadata): in a cluster,
// a clip that another node finished after it handed the room over, copied
// from the bucket. The metadata and media are checked as at Open, the
// room's limits applied (the clip stays), and EventAdded reported. A clip
// the catalog has already is returned as it is. Files that do not make a
// clip are moved to quarantine/.
func (s *Store) Import(roomName, id string) (Clip, error) {
	if !ValidID(id) {
		return Clip{}, fmt.Errorf("import clip: %w: %q", ErrNotFound, id)
	}
	r, err := s.room(roomName)
	if err != nil {
		return Clip{}, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return Clip{}, ErrClosed
	}
	if c := r.clips[id]; c != nil {
		r.mu.Unlock()
		return *c, nil
	}
	var media []string
	for _, ext := range []string{".webm", ".ogg"} {
		if _, err := statSize(r.root, "clips/"+id+ext); err == nil {
			media = append(media, id+ext)
		}
	}
	c, err := s.readClip(r, id, media)
	now := s.opts.now()
	if err == nil && expired(c, now) {
		err = fmt.Errorf("%w: it has expired", ErrNotFound)
	}
	if err != nil {
		// Not a clip of this room now: its files go aside.
		for _, name := range append(media, id+".json") {
			if _, serr := r.root.Lstat("clips/" + name); serr == nil {
				r.quarantine(name, "not imported: "+err.Error())
			}
		}
		r.mu.Unlock()
		return Clip{}, fmt.Errorf("import clip %s: %w", id, err)
	}
	r.add(c)
	r.events = append(r.events, Event{Type: EventAdded, Clip: *c, Published: c.State == Published})
	r.enforce(now, id)
	out := *c
	r.mu.Unlock()
	s.flush(r)
	r.log.Info("clip imported", "clip", id, "state", out.State, "kind", out.Kind, "bytes", out.Bytes)
	return out, nil
}

// Refresh reads a room's catalog again from its folder, for a folder
// that changed under the store: in a cluster, when the room comes to this
// node and its folder is made the bucket's copy. The room is closed as
// RemoveRoom does (its played files written), between is called (it may
// change the folder; nobody uses the room meanwhile: calls for it fail
// with ErrUnknownRoom), and the room is opened again as AddRoom does, even
// if between failed (whose error is then returned). A room the store does
// not have is left alone: ErrUnknownRoom.
func (s *Store) Refresh(folders *roomdir.Dir, name string, between func(root *os.Root) error) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.roomsMu.Lock()
	r := s.rooms[name]
	delete(s.rooms, name)
	s.roomsMu.Unlock()
	if r == nil {
		return fmt.Errorf("%w: %q", ErrUnknownRoom, name)
	}
	cfg := r.cfg()
	if err := r.close(); err != nil {
		s.log.Error("close room", "room", name, "err", err)
	}
	var berr error
	if root, err := folders.Room(name); err != nil {
		berr = err
	} else {
		berr = between(root)
		root.Close()
	}
	nr, err := s.openRoom(folders, cfg)
	if err != nil {
		return fmt.Errorf("open clip store: room %s: %w", name, err)
	}
	s.roomsMu.Lock()
	s.rooms[name] = nr
	s.roomsMu.Unlock()
	return berr
}
