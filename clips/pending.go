package clips

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"regexp"
	"slices"
	"sync"
	"time"

	"parley/configs"
)

// ownerPattern matches OwnerOf values.
var ownerPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Pending is a clip being written: the recorder (or an upload) writes the
// media into File, then calls Commit or Abort exactly once.
type Pending struct {
	s      *Store
	r      *room
	clip   Clip // ID, Room, Author, Owner, Created, Expires, Description, Trigger, State
	upload bool
	// maxBytes is the room's max_clip_bytes when the clip began: a
	// recording is held to the limits it started with, so that a limit
	// lowered meanwhile does not throw a finished clip away.
	maxBytes int64

	mu    sync.Mutex
	f     *os.File
	done  bool
	heard func() []string // see HeardLive
}

// Begin starts a clip in a room: it assigns the id and creation time and
// creates <id>.part, and the sidecar <id>.part.json with the intended
// metadata (Author, Owner, Description, Trigger and Kind of meta; the state follows
// the room's publish setting). Other fields of meta are ignored.
func (s *Store) Begin(roomName string, meta Clip) (*Pending, error) {
	return s.begin(roomName, meta, false)
}

func (s *Store) begin(roomName string, meta Clip, upload bool) (*Pending, error) {
	r, err := s.room(roomName)
	if err != nil {
		return nil, err
	}
	if meta.Owner != "" && !ownerPattern.MatchString(meta.Owner) {
		return nil, fmt.Errorf("begin clip: the owner must be OwnerOf(key), got %q", meta.Owner)
	}
	created := time.UnixMilli(s.opts.now().UnixMilli()).UTC()
	cfg := r.cfg()
	c := Clip{
		Room:        cfg.Name,
		Author:      cleanText(meta.Author, maxAuthor),
		Owner:       meta.Owner,
		Created:     created,
		Description: cleanText(meta.Description, MaxDescription),
		State:       Published,
		Expires:     created.Add(cfg.ClipLifetime.D()),
	}
	if meta.Kind == KindAudio || meta.Kind == KindVideo {
		c.Kind = meta.Kind
	}
	if ValidTrigger(meta.Trigger) {
		c.Trigger = meta.Trigger
	}
	if cfg.Publish == configs.PublishManual {
		c.State = Draft
	}
	for range 8 {
		id := newID(created)
		r.mu.Lock()
		closed, taken := r.closed, r.clips[id] != nil
		r.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if taken {
			continue
		}
		// O_EXCL makes the id ours even against a concurrent Begin.
		f, err := r.root.OpenFile("clips/"+id+".part", os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("begin clip in %s: %w", r.cfg().Name, err)
		}
		c.ID = id
		if err := writeJSON(r.root, "clips", "clips/"+id+".part.json", sidecar{Clip: toDisk(c), Upload: upload}); err != nil {
			f.Close()
			_ = r.root.Remove("clips/" + id + ".part")
			return nil, fmt.Errorf("begin clip %s: %w", id, err)
		}
		return &Pending{s: s, r: r, clip: c, upload: upload, f: f, maxBytes: cfg.MaxClipBytes}, nil
	}
	return nil, errors.New("begin clip: no free id") // 64 random bits: never
}

// HeardLive makes the clip, once committed published, played for the
// owners (OwnerOf) that heard returns when Commit is called: the people
// who heard a talk spurt live as it was recorded, so that their clients
// do not play it to them again. Their played files are written at the
// next sweep or Close. Call it before Commit; heard must not call the
// store.
func (p *Pending) HeardLive(heard func() []string) {
	p.mu.Lock()
	p.heard = heard
	p.mu.Unlock()
}

// ID returns the clip's id.
func (p *Pending) ID() string { return p.clip.ID }

// File returns the .part file (an *os.File) to write the media into.
func (p *Pending) File() io.WriteSeeker { return p.f }

// SetWaveform gives the clip its waveform (see Clip.Waveform), before
// Commit. A waveform that is not valid is refused.
func (p *Pending) SetWaveform(w []int) error {
	if !ValidWaveform(w) {
		return fmt.Errorf("clip %s: a waveform has %d to %d values of 0..100", p.clip.ID, MinWaveform, MaxWaveform)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clip.Waveform = slices.Clone(w)
	return nil
}

// Commit finishes the clip: it syncs and closes the file, refuses it if it
// is larger than the room's max_clip_bytes (ErrTooBig, and the files are
// removed), renames it to its final name, writes its metadata
// crash-safely, adds it to the catalog, applies the room's limits and
// emits clip-added. duration is the measured duration; kind is "audio" or
// "video"; mime is the WebM (or Ogg) mime type with codecs.
func (p *Pending) Commit(duration time.Duration, kind, mime string) (Clip, error) {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return Clip{}, ErrDone
	}
	p.done = true
	heard := p.heard
	p.mu.Unlock()
	r := p.r
	id := p.clip.ID
	var listeners []string
	if heard != nil {
		listeners = heard()
	}

	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err == nil && (kind != KindAudio && kind != KindVideo || !validMime(mime) || duration < 0) {
		err = fmt.Errorf("bad kind %q, mime %q or duration %s", kind, mime, duration)
	}
	var size int64
	if err == nil {
		size, err = statSize(r.root, "clips/"+id+".part")
	}
	if err == nil && size > p.maxBytes {
		err = fmt.Errorf("%w: %d bytes, the room allows %d", ErrTooBig, size, p.maxBytes)
	}
	if err != nil {
		p.removeFiles()
		return Clip{}, fmt.Errorf("commit clip %s: %w", id, err)
	}

	c := p.clip
	c.Duration = math.Round(duration.Seconds()*1000) / 1000
	c.Bytes = size
	c.Kind = kind
	c.Mime = mime
	if c.State == Draft {
		c.DraftToken = newToken()
	}

	r.mu.Lock()
	if r.closed {
		// The store was closed under us: the .part and its sidecar stay
		// and the next Open recovers them.
		r.mu.Unlock()
		return Clip{}, fmt.Errorf("commit clip %s: %w", id, ErrClosed)
	}
	err = r.root.Rename("clips/"+id+".part", c.mediaName())
	if err == nil {
		if err = writeJSON(r.root, "clips", c.jsonName(), toDisk(c)); err != nil {
			_ = r.root.Remove(c.mediaName())
		}
	}
	if err != nil {
		r.mu.Unlock()
		p.removeFiles()
		return Clip{}, fmt.Errorf("commit clip %s: %w", id, err)
	}
	if err := removeIfExists(r.root, "clips/"+id+".part.json"); err != nil {
		r.log.Warn("remove sidecar", "clip", id, "err", err)
	}
	r.add(&c)
	now := p.s.opts.now()
	var played map[string]bool
	for _, o := range listeners {
		if c.State == Published && o != c.Owner && ownerPattern.MatchString(o) && r.played.mark(o, id, now) {
			if played == nil {
				played = map[string]bool{}
			}
			played[o] = true
		}
	}
	r.events = append(r.events, Event{Type: EventAdded, Clip: c, Published: c.State == Published, Played: played})
	r.enforce(now, id)
	r.mu.Unlock()
	p.s.flush(r)
	r.log.Info("clip added", "clip", id, "state", c.State, "kind", c.Kind, "duration", c.Duration, "bytes", c.Bytes)
	return c, nil
}

// Abort closes and removes the .part file and its sidecar. It does nothing
// after Commit or a first Abort.
func (p *Pending) Abort() {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return
	}
	p.done = true
	p.mu.Unlock()
	p.f.Close()
	p.removeFiles()
}

// removeFiles removes the clip's in-progress files.
func (p *Pending) removeFiles() {
	for _, name := range []string{".part", ".upload", ".part.json"} {
		if err := removeIfExists(p.r.root, "clips/"+p.clip.ID+name); err != nil {
			p.r.log.Warn("remove unfinished clip", "clip", p.clip.ID, "err", err)
		}
	}
}
