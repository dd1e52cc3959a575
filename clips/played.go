package clips

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"
)

// DefaultPlayedOwners is how many people's played clips a room remembers
// at most (see WithPlayedOwners).
const DefaultPlayedOwners = 1000

// WithPlayedOwners sets how many owners' played clips each room remembers
// (default DefaultPlayedOwners). Beyond it, the owner who marked a clip
// played least recently is forgotten: their clips show as unplayed again.
func WithPlayedOwners(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.playedOwners = n
		}
	}
}

// played is what a room remembers of who played which of its clips (see
// the package doc). Guarded by room.mu; its files are written under
// room.playedMu (see savePlayed).
type played struct {
	max    int
	owners map[string]*listener // by OwnerOf
	gone   map[string]bool      // owners forgotten whose file is still to be removed
}

// listener is one owner's played clips.
type listener struct {
	clips  map[string]bool // ids of the room's published clips, not the owner's own
	active time.Time       // when the owner last played a clip
	dirty  bool            // changed since its file was written
}

// playedFile is the content of played/<owner>.json.
type playedFile struct {
	Owner  string    `json:"owner"`
	Active time.Time `json:"active"`
	Clips  []string  `json:"clips"`
}

func newPlayed(max int) played {
	return played{max: max, owners: map[string]*listener{}, gone: map[string]bool{}}
}

// has reports whether owner played id. Called locked.
func (p *played) has(owner, id string) bool {
	l := p.owners[owner]
	return l != nil && l.clips[id]
}

// mark records that owner played id at now, and reports whether that is
// new. A new owner beyond the cap makes room by forgetting the least
// recently active one. Called locked.
func (p *played) mark(owner, id string, now time.Time) bool {
	l := p.owners[owner]
	if l == nil {
		for len(p.owners) >= p.max {
			p.evict()
		}
		l = &listener{clips: map[string]bool{}}
		p.owners[owner] = l
		delete(p.gone, owner)
	}
	if now.After(l.active) {
		l.active = now
	}
	if l.clips[id] {
		return false
	}
	l.clips[id] = true
	l.dirty = true
	return true
}

// evict forgets the least recently active owner. Called locked.
func (p *played) evict() {
	var oldest string
	var at time.Time
	for o, l := range p.owners {
		if oldest == "" || l.active.Before(at) || (l.active.Equal(at) && o < oldest) {
			oldest, at = o, l.active
		}
	}
	if oldest != "" {
		delete(p.owners, oldest)
		p.gone[oldest] = true
	}
}

// forget drops clip id from everyone's played clips: the clip is gone.
// The files follow at the next save. Called locked.
func (p *played) forget(id string) {
	for _, l := range p.owners {
		if l.clips[id] {
			delete(l.clips, id)
			l.dirty = true
		}
	}
}

// by returns the owners who played id; nil for nobody. Called locked.
func (p *played) by(id string) map[string]bool {
	var out map[string]bool
	for o, l := range p.owners {
		if l.clips[id] {
			if out == nil {
				out = map[string]bool{}
			}
			out[o] = true
		}
	}
	return out
}

// MarkPlayed records that owner (OwnerOf a key) has played clip id of the
// room: from then on the clip is Played in that owner's views, on every
// device, and EventPlayed tells the owner's other sessions. The owner's
// own clips are always played, so marking one changes nothing; nor does
// marking a clip again. Someone else's draft is ErrNotFound, like an
// unknown or expired clip. The owner's file is written before it
// returns; a write that fails is logged and tried again at the next
// sweep, the mark holding meanwhile.
func (s *Store) MarkPlayed(roomName, id, owner string) error {
	r, err := s.room(roomName)
	if err != nil {
		return err
	}
	if !ValidID(id) {
		return fmt.Errorf("%w: bad id", ErrNotFound)
	}
	if !ownerPattern.MatchString(owner) {
		return fmt.Errorf("mark clip %s played: the owner must be OwnerOf(key)", id)
	}
	now := s.opts.now()
	r.mu.Lock()
	c, err := r.lookup(id, now)
	if err == nil && c.State == Draft && c.Owner != owner {
		err = fmt.Errorf("%w: someone else's draft", ErrNotFound)
	}
	if err != nil || c.Owner == owner {
		r.mu.Unlock()
		return err
	}
	news := r.played.mark(owner, id, now)
	if news {
		r.events = append(r.events, Event{Type: EventPlayed, Clip: *c, Played: map[string]bool{owner: true}})
	}
	r.mu.Unlock()
	if news {
		r.savePlayed(owner)
	}
	s.flush(r)
	return nil
}

// SavePlayed writes the room's played files that are out of date now,
// rather than at the next sweep: in a cluster, before the room's files
// are copied to the bucket for another node.
func (s *Store) SavePlayed(roomName string) error {
	r, err := s.room(roomName)
	if err != nil {
		return err
	}
	r.savePlayed("")
	return nil
}

// playedName is the file of an owner's played clips.
func playedName(owner string) string { return "played/" + owner + ".json" }

// maxPlayedFile bounds the size of a played file read: every clip id the
// room may hold, quoted, and room to spare.
func (r *room) maxPlayedFile() int64 { return 64<<10 + 40*int64(r.cfg().MaxClipCount) }

// savePlayed writes the played files that are out of date, of owner only
// or of everyone when owner is "", and removes those of forgotten owners.
// A file that cannot be written is logged and stays out of date, for the
// next save (the sweep's, Close's).
func (r *room) savePlayed(owner string) {
	r.playedMu.Lock()
	defer r.playedMu.Unlock()
	r.savePlayedLocked(owner)
}

// savePlayedLocked is savePlayed. Called with r.playedMu held, not r.mu:
// the files are written in the order their contents were taken.
func (r *room) savePlayedLocked(only string) {
	type job struct {
		owner string
		data  []byte // nil: remove the file
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	var jobs []job
	for o := range r.played.gone {
		jobs = append(jobs, job{owner: o})
	}
	clear(r.played.gone)
	for o, l := range r.played.owners {
		if !l.dirty || (only != "" && o != only) {
			continue
		}
		data, err := json.Marshal(playedFile{Owner: o, Active: l.active, Clips: slices.Sorted(maps.Keys(l.clips))})
		if err != nil {
			r.log.Error("encode played clips", "err", err)
			continue
		}
		jobs = append(jobs, job{owner: o, data: append(data, '\n')})
		l.dirty = false
	}
	r.mu.Unlock()
	for _, j := range jobs {
		var err error
		if j.data == nil {
			err = removeIfExists(r.root, playedName(j.owner))
		} else {
			err = writeFileAtomic(r.root, "played", playedName(j.owner), j.data)
		}
		if err == nil {
			continue
		}
		r.log.Error("save played clips; tried again at the next sweep", "owner", j.owner[:12], "err", err)
		r.mu.Lock()
		if l := r.played.owners[j.owner]; l != nil {
			l.dirty = true
		} else {
			r.played.gone[j.owner] = true
		}
		r.mu.Unlock()
	}
}

// loadPlayed reads the room's played files, once its catalog is loaded.
// Ids of clips the room no longer has are dropped; a file that makes no
// sense is set aside in quarantine/, and its owner's clips show as
// unplayed; beyond the cap, the least recently active owners are
// forgotten. Only a played/ folder that cannot be made is an error: what
// is in it never costs a clip. Called before the room is shared.
func (r *room) loadPlayed() error {
	if fi, err := r.root.Lstat("played"); err == nil && !fi.IsDir() {
		// A file or a link where the folder belongs.
		if err := setAside(r.root, "played", "played"); err != nil {
			return err
		}
		r.log.Warn("moved to quarantine", "name", "played", "why", "not a folder")
	}
	if err := r.root.Mkdir("played", dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("played: %w", err)
	}
	if fi, err := r.root.Lstat("played"); err != nil || !fi.IsDir() {
		return errors.New("played: not a folder")
	}
	entries, err := fs.ReadDir(r.root.FS(), "played")
	if err != nil {
		return fmt.Errorf("read played: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			// A write that did not finish: the old file, if any, is intact.
			if err := r.root.Remove("played/" + name); err != nil {
				r.log.Warn("remove temporary file", "name", "played/"+name, "err", err)
			}
			continue
		}
		owner, ok := strings.CutSuffix(name, ".json")
		if !ok || !ownerPattern.MatchString(owner) || !e.Type().IsRegular() {
			r.setAsidePlayed(name, "not a file of played clips")
			continue
		}
		l, err := r.readPlayed(owner)
		if err != nil {
			r.setAsidePlayed(name, err.Error())
			continue
		}
		r.played.owners[owner] = l
	}
	if over := len(r.played.owners) - r.played.max; over > 0 {
		r.log.Info("forgetting the played clips of the least recently active", "owners", over)
		for range over {
			r.played.evict()
		}
	}
	return nil
}

// readPlayed reads and checks the played file of owner.
func (r *room) readPlayed(owner string) (*listener, error) {
	f, err := r.root.Open(playedName(owner))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	limit := r.maxPlayedFile()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	var pf playedFile
	if err := json.Unmarshal(data, &pf); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if pf.Owner != owner {
		return nil, errors.New("it names another owner")
	}
	l := &listener{clips: make(map[string]bool, len(pf.Clips)), active: pf.Active}
	for _, id := range pf.Clips {
		if !ValidID(id) {
			return nil, fmt.Errorf("bad clip id %q", truncate(id, 40))
		}
		c := r.clips[id]
		if c == nil || c.State != Published || c.Owner == owner {
			l.dirty = true // gone while the server was down: pruned at the next save
			continue
		}
		l.clips[id] = true
	}
	return l, nil
}

// setAsidePlayed moves played/<name> to quarantine/, as played-<name>.
func (r *room) setAsidePlayed(name, why string) {
	if err := setAside(r.root, "played/"+name, "played-"+name); err != nil {
		r.log.Error("cannot quarantine", "name", "played/"+name, "err", err)
		return
	}
	r.log.Warn("moved to quarantine; its owner's clips show as unplayed", "name", "played/"+name, "why", why)
}

// truncate cuts s to at most n bytes, for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
