package clips

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"

	"parley/clips/probe"
)

// clipFiles are the files of one id found in a room's clips folder.
type clipFiles struct {
	json, part, sidecar, upload bool
	media                       []string // base names of .webm / .ogg files
}

// load rebuilds a room's catalog from its clips folder and deals with
// what a crash left behind. Called before the room is shared.
func (s *Store) load(r *room) error {
	entries, err := fs.ReadDir(r.root.FS(), "clips")
	if err != nil {
		return fmt.Errorf("read clips: %w", err)
	}
	byID := map[string]*clipFiles{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			r.log.Warn("unexpected folder among clips", "name", name)
			continue
		}
		if strings.HasSuffix(name, ".tmp") {
			// A crash-safe write that did not finish: the old file, if
			// any, is intact.
			if err := r.root.Remove("clips/" + name); err != nil {
				r.log.Warn("remove temporary file", "name", name, "err", err)
			}
			continue
		}
		id, ext, _ := strings.Cut(name, ".")
		if !ValidID(id) || !e.Type().IsRegular() {
			r.quarantine(name, "not a clip file")
			continue
		}
		f := byID[id]
		if f == nil {
			f = &clipFiles{}
			byID[id] = f
		}
		switch ext {
		case "json":
			f.json = true
		case "webm", "ogg":
			f.media = append(f.media, name)
		case "part":
			f.part = true
		case "part.json":
			f.sidecar = true
		case "upload":
			f.upload = true
		default:
			r.quarantine(name, "not a clip file")
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		s.loadClip(r, id, byID[id])
	}
	return nil
}

// loadClip settles the files of one id: an unfinished clip is recovered,
// finished or removed, a finished one enters the catalog, and anything
// inconsistent goes to quarantine.
func (s *Store) loadClip(r *room, id string, f *clipFiles) {
	base := "clips/" + id
	if f.upload {
		// An upload's raw bytes are never worth keeping.
		if err := r.root.Remove(base + ".upload"); err != nil {
			r.log.Warn("remove unfinished upload", "clip", id, "err", err)
		}
	}
	if f.sidecar {
		var sc sidecar
		data, err := r.root.ReadFile(base + ".part.json")
		if err == nil {
			err = json.Unmarshal(data, &sc)
		}
		if err == nil && (sc.Clip.ID != id || sc.Clip.Room != r.cfg().Name || (sc.Clip.State != Draft && sc.Clip.State != Published)) {
			err = errors.New("it does not describe this clip")
		}
		switch {
		case err != nil:
			r.quarantine(id+".part.json", "bad sidecar: "+err.Error())
			if f.part {
				r.quarantine(id+".part", "its sidecar is bad")
			}
			f.part = false
		case f.json && len(f.media) > 0:
			// Committed; only the sidecar's removal was missed.
			r.removeLeftover(id + ".part.json")
			if f.part {
				r.removeLeftover(id + ".part")
				f.part = false
			}
		case len(f.media) == 1 && !f.json:
			// The media was renamed but the crash came before its
			// metadata: finish the commit.
			if s.finishCommit(r, sc, f.media[0]) {
				f.json = true
			}
			r.removeLeftover(id + ".part.json")
		case f.part && sc.Upload:
			r.removeLeftover(id + ".part")
			r.removeLeftover(id + ".part.json")
			f.part = false
			r.log.Info("removed an unfinished upload", "clip", id)
		case f.part:
			if s.recoverPart(r, sc) {
				f.json, f.media = true, []string{id + ".webm"}
			}
			f.part = false
		default:
			r.removeLeftover(id + ".part.json")
		}
	}
	if f.part {
		r.quarantine(id+".part", "no sidecar")
	}
	if f.json {
		if c, err := s.readClip(r, id, f.media); err != nil {
			r.quarantine(id+".json", err.Error())
		} else {
			r.add(c)
			f.media = slices.DeleteFunc(f.media, func(m string) bool { return m == id+c.ext() })
		}
	}
	for _, m := range f.media {
		r.quarantine(m, "no metadata")
	}
}

// readClip reads and checks a clip's metadata and media.
func (s *Store) readClip(r *room, id string, media []string) (*Clip, error) {
	data, err := r.root.ReadFile("clips/" + id + ".json")
	if err != nil {
		return nil, err
	}
	var d diskClip
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("bad metadata: %w", err)
	}
	if d.ID != id {
		return nil, fmt.Errorf("bad metadata: id %q in %s.json", d.ID, id)
	}
	if err := d.check(r.cfg().Name); err != nil {
		return nil, fmt.Errorf("bad metadata: %w", err)
	}
	c := fromDisk(d)
	if !ValidWaveform(c.Waveform) {
		// A picture of the clip, not the clip: the clip stays.
		r.log.Warn("clip waveform is not valid; dropped", "clip", id, "values", len(c.Waveform))
		c.Waveform = nil
	}
	if !slices.Contains(media, id+c.ext()) {
		return nil, errors.New("its media is missing")
	}
	size, err := statSize(r.root, c.mediaName())
	if err != nil {
		return nil, err
	}
	if size != c.Bytes {
		r.log.Warn("clip size differs from its metadata", "clip", id, "bytes", size, "metadata", c.Bytes)
		c.Bytes = size
	}
	// The room's lifetime may have changed since: it applies as it is now.
	c.Expires = c.Created.Add(r.cfg().ClipLifetime.D())
	c.Owner = strings.ToLower(c.Owner)
	return &c, nil
}

// finishCommit writes the metadata of media that a commit renamed before
// a crash, from the sidecar and the media itself.
func (s *Store) finishCommit(r *room, sc sidecar, media string) bool {
	c := fromDisk(sc.Clip)
	f, err := r.root.Open("clips/" + media)
	if err != nil {
		r.log.Warn("finish commit", "clip", c.ID, "err", err)
		return false
	}
	defer f.Close()
	info, err := probe.Probe(f, 0)
	if err != nil {
		r.log.Warn("finish commit: bad media", "clip", c.ID, "err", err)
		return false
	}
	if info.Container == "ogg" {
		c.Kind, c.Mime = KindAudio, `audio/ogg; codecs="opus"`
	} else {
		c.Kind, c.Mime = kindMime(info)
	}
	if "clips/"+media != c.mediaName() {
		r.log.Warn("finish commit: media name does not match its type", "clip", c.ID, "media", media)
		return false
	}
	if err := s.writeRecovered(r, &c, info); err != nil {
		r.log.Warn("finish commit", "clip", c.ID, "err", err)
		return false
	}
	r.log.Info("finished an interrupted commit", "clip", c.ID)
	return true
}

// recoverPart remuxes the frames of a recording that a crash cut off,
// keeping every complete frame, into <id>.webm with Cues and its real
// Duration, and writes its metadata. Without a complete Opus frame, the
// .part and its sidecar go to quarantine.
func (s *Store) recoverPart(r *room, sc sidecar) bool {
	c := fromDisk(sc.Clip)
	id := c.ID
	err := s.remuxPart(r, &c)
	if err != nil {
		r.log.Warn("cannot recover clip", "clip", id, "err", err)
		_ = removeIfExists(r.root, "clips/"+id+".webm.tmp")
		r.quarantine(id+".part", "unrecoverable")
		r.quarantine(id+".part.json", "unrecoverable")
		return false
	}
	r.removeLeftover(id + ".part")
	r.removeLeftover(id + ".part.json")
	r.log.Info("recovered clip", "clip", id, "duration", c.Duration, "bytes", c.Bytes)
	return true
}

func (s *Store) remuxPart(r *room, c *Clip) error {
	part, err := r.root.Open("clips/" + c.ID + ".part")
	if err != nil {
		return err
	}
	defer part.Close()
	info, err := probe.ReadBlocks(part, func(probe.Block) error { return nil })
	if err != nil && !errors.Is(err, probe.ErrTruncated) {
		return err
	}
	opus := false
	for _, t := range info.Tracks {
		opus = opus || (t.Codec == "opus" && t.Blocks > 0)
	}
	if !opus {
		return fmt.Errorf("no complete Opus frame (%v)", err)
	}
	if _, err := part.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tmp := "clips/" + c.ID + ".webm.tmp"
	out, err := r.root.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return err
	}
	err = remux(out, part, info, true)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	c.Kind, c.Mime = kindMime(info)
	if err := r.root.Rename(tmp, c.mediaName()); err != nil {
		return err
	}
	if err := s.writeRecovered(r, c, info); err != nil {
		_ = r.root.Remove(c.mediaName())
		return err
	}
	return nil
}

// writeRecovered fills in the measured fields of a recovered clip and
// writes its metadata crash-safely; loadClip then reads it into the
// catalog like any other.
func (s *Store) writeRecovered(r *room, c *Clip, info probe.Info) error {
	size, err := statSize(r.root, c.mediaName())
	if err != nil {
		return err
	}
	c.Bytes = size
	c.Duration = math.Round(info.Duration.Seconds()*1000) / 1000
	if c.State == Draft && c.DraftToken == "" {
		c.DraftToken = newToken()
	}
	if err := writeJSON(r.root, "clips", c.jsonName(), toDisk(*c)); err != nil {
		return err
	}
	return nil
}

// quarantine moves a file of the clips folder to quarantine/ and logs
// why. Called while loading.
func (r *room) quarantine(name, why string) {
	if err := quarantine(r.root, name); err != nil {
		r.log.Error("cannot quarantine", "name", name, "err", err)
		return
	}
	r.log.Warn("moved to quarantine", "name", name, "why", why)
}

// removeLeftover removes a file of the clips folder that is no longer
// needed.
func (r *room) removeLeftover(name string) {
	if err := removeIfExists(r.root, "clips/"+name); err != nil {
		r.log.Warn("remove leftover", "name", name, "err", err)
	}
}
