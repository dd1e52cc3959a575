package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
)

// Mode is a room's mode. A mode is only a preset of room settings (see Preset).
type Mode string

// The five modes.
const (
	MediaForum  Mode = "mediaForum"  // clips published manually: draft, preview, publish or discard
	MediaChat   Mode = "mediaChat"   // clips recorded while held, published on release
	VideoChat   Mode = "videoChat"   // like mediaChat, video by default
	AudioStream Mode = "audioStream" // live push-to-talk audio; talk spurts optionally archived
	VideoStream Mode = "videoStream" // live audio+video; optionally archived
)

// Modes returns the five modes in a fixed order.
func Modes() []Mode {
	return []Mode{MediaForum, MediaChat, VideoChat, AudioStream, VideoStream}
}

// Live reports whether m forwards media live (audioStream, videoStream)
// rather than recording clips.
func (m Mode) Live() bool { return m == AudioStream || m == VideoStream }

// Valid reports whether m is one of the five modes.
func (m Mode) Valid() bool { return slices.Contains(Modes(), m) }

// Room is one room: its mode and its effective settings (the mode's preset
// with the room file's overrides).
type Room struct {
	Name            string   `toml:"-" json:"name"`                            // the room file's stem, set by the loader
	Mode            Mode     `toml:"mode" json:"mode"`                         // required in a room file
	Title           string   `toml:"title" json:"title"`                       // at most 200 characters
	Description     string   `toml:"description" json:"description"`           // what the room is for; at most 500 characters
	MaxParticipants int      `toml:"max_participants" json:"max_participants"` // 1..10000
	MaxViewers      int      `toml:"max_viewers" json:"max_viewers"`           // live modes: WHEP viewers at once, 0..10000; clip modes: 0
	AllowVideo      bool     `toml:"allow_video" json:"allow_video"`
	VideoDefault    bool     `toml:"video_default" json:"video_default"`       // needs AllowVideo
	Archive         bool     `toml:"archive" json:"archive"`                   // live modes only: archive each talk spurt as a clip
	Publish         string   `toml:"publish" json:"publish"`                   // "auto" or "manual" (clip modes only)
	MaxClipSeconds  int      `toml:"max_clip_seconds" json:"max_clip_seconds"` // 1..3600
	MinClipMs       int      `toml:"min_clip_ms" json:"min_clip_ms"`           // 0..10000, below max_clip_seconds; 0: none (see MinClip)
	MaxClipBytes    int64    `toml:"max_clip_bytes" json:"max_clip_bytes"`     // >= 1024
	MaxRoomBytes    int64    `toml:"max_room_bytes" json:"max_room_bytes"`     // >= MaxClipBytes; oldest clips evicted first
	ClipLifetime    Duration `toml:"clip_lifetime" json:"clip_lifetime"`       // > 0
	MaxClipCount    int      `toml:"max_clip_count" json:"max_clip_count"`     // >= 1

	// Access is who may join: "open", "password" or "token" (see auth.go).
	Access string `toml:"access" json:"access"`
	// Password is the room's shared password, as a bcrypt or argon2id hash.
	Password string `toml:"password" json:"-"`
	// Passwords are per-user passwords (name → hash); with them, only the
	// listed names may join (besides the shared Password, if set).
	Passwords map[string]string `toml:"passwords" json:"-"`

	// Notify mails the users of NotifyAddresses when a clip is published
	// (needs [mail] and http.base_url in the server configuration).
	Notify bool `toml:"notify" json:"-"`
	// NotifyAddresses are the users to mail: name → address, such as
	// ann = "Ann <ann@example.org>". The author of a clip is not mailed
	// about it.
	NotifyAddresses map[string]string `toml:"notify_addresses" json:"-"`
}

// MaxMinClipMs is the largest min_clip_ms: ten seconds. A longer
// minimum would throw away real messages.
const MaxMinClipMs = 10_000

// MinClip is the shortest recording the room keeps, in media time: a
// shorter one (a press let go at once) is discarded, and so is a shorter
// talk spurt of the archive. 0: no minimum. Uploads are not held to it:
// a file is chosen on purpose.
func (r Room) MinClip() time.Duration { return time.Duration(r.MinClipMs) * time.Millisecond }

// Publish values.
const (
	PublishAuto   = "auto"
	PublishManual = "manual"
)

// roomName is the room name syntax, the one every part checks names by
// (ValidRoomName): it is also a folder name under data/rooms.
var roomName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidRoomName reports whether name is a room name: 1-64 letters, digits,
// '_' or '-', starting with a letter or digit.
func ValidRoomName(name string) bool { return roomName.MatchString(name) }

func modeList() string {
	var b strings.Builder
	for i, m := range Modes() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(m))
	}
	return b.String()
}

func unknownMode(m Mode) *Error {
	return &Error{Key: "mode", Problem: fmt.Sprintf("unknown mode %q, want one of %s", m, modeList())}
}

// Preset returns the preset room settings of mode m, with an empty Name.
func Preset(m Mode) (Room, error) {
	if !m.Valid() {
		return Room{}, unknownMode(m)
	}
	file := "presets/" + string(m) + ".toml"
	data, err := files.ReadFile(file)
	if err != nil {
		return Room{}, readError("configs/"+file, err)
	}
	var r Room
	if err := decodeStrict("configs/"+file, data, &r); err != nil {
		return Room{}, err
	}
	r.Mode = m
	if err := r.problems().err("configs/" + file); err != nil {
		return Room{}, err
	}
	return r, nil
}

// ParseRoom parses a room file. file is the path used in errors; the room's
// Name is the base name of file without ".toml" and must match
// ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$. The file must set mode; the room starts
// from that mode's preset and every other key of the file overrides the
// preset. The result is validated.
func ParseRoom(file string, data []byte) (Room, error) {
	name := strings.TrimSuffix(filepath.Base(file), ".toml")
	if !roomName.MatchString(name) {
		return Room{}, &Error{File: file, Problem: fmt.Sprintf(
			"bad room name %q (the file name without .toml): want 1-64 letters, digits, '_' or '-', starting with a letter or digit", name)}
	}

	// First pass: read the mode.
	if p := checkTypes(data, roomType); len(p) > 0 {
		return Room{}, p.err(file)
	}
	var head struct {
		Mode *string `toml:"mode"`
	}
	if err := toml.Unmarshal(data, &head); err != nil {
		return Room{}, decodeError(file, err, roomType)
	}
	if head.Mode == nil {
		return Room{}, &Error{File: file, Problem: "missing key mode: every room file must set mode to one of " + modeList()}
	}
	m := Mode(*head.Mode)
	if !m.Valid() {
		e := unknownMode(m)
		e.File = file
		return Room{}, e
	}

	// Second pass: the file on top of the mode's preset.
	r, err := Preset(m)
	if err != nil {
		return Room{}, err
	}
	if err := decodeStrict(file, data, &r); err != nil {
		return Room{}, err
	}
	r.Name = name
	if err := r.problems().err(file); err != nil {
		return Room{}, err
	}
	return r, nil
}

// roomType is the type room files decode into.
var roomType = reflect.TypeOf(Room{})

// LoadRooms loads the rooms. An empty dir gives the built-in demo rooms (the
// example room files embedded from configs/rooms). Otherwise every regular
// *.toml file directly in dir is a room (other files and subdirectories are
// ignored); it is an error if dir cannot be read or holds no room file. The
// rooms are sorted by Name. Problems in several files are all reported.
func LoadRooms(dir string) ([]Room, error) {
	type entry struct{ label, name string }
	var (
		entries []entry
		read    func(name string) ([]byte, error)
	)
	if dir == "" {
		des, err := fs.ReadDir(files, "rooms")
		if err != nil {
			return nil, readError("configs/rooms", err)
		}
		for _, de := range des {
			if !de.IsDir() && strings.HasSuffix(de.Name(), ".toml") {
				entries = append(entries, entry{"configs/rooms/" + de.Name(), path.Join("rooms", de.Name())})
			}
		}
		read = func(name string) ([]byte, error) { return files.ReadFile(name) }
	} else {
		paths, err := roomFilePaths(dir)
		if err != nil {
			return nil, err
		}
		for _, rp := range paths {
			entries = append(entries, entry{rp.path, rp.path})
		}
		read = os.ReadFile
		if len(entries) == 0 {
			return nil, noRoomFiles(dir)
		}
	}

	var (
		rooms []Room
		errs  []error
	)
	for _, e := range entries {
		data, err := read(e.name)
		if err != nil {
			errs = append(errs, readError(e.label, err))
			continue
		}
		r, err := ParseRoom(e.label, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rooms = append(rooms, r)
	}
	if len(errs) > 0 {
		if len(errs) == 1 {
			return nil, errs[0]
		}
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(rooms, func(a, b Room) int { return strings.Compare(a.Name, b.Name) })
	return rooms, nil
}

func noRoomFiles(dir string) error {
	return &Error{File: dir, Problem: "no room files (*.toml) in the rooms directory"}
}

// roomFilePaths lists the room files of dir, as LoadRooms picks them:
// the regular *.toml files directly in it, or links to such files.
func roomFilePaths(dir string) ([]roomPath, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, &Error{File: dir, Problem: "cannot read rooms directory: " + unwrapPath(err), err: err}
	}
	var out []roomPath
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), ".toml") {
			continue
		}
		full := filepath.Join(dir, de.Name())
		if de.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(full)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
		} else if !de.Type().IsRegular() {
			continue
		}
		out = append(out, roomPath{full, de.Type()&fs.ModeSymlink != 0})
	}
	return out, nil
}

// roomPath is a room file of a rooms directory.
type roomPath struct {
	path string
	link bool // the entry is a symbolic link (to a regular file)
}

// RoomFile is one room file of a rooms directory, as ReadRoomFiles found
// it: not parsed yet.
type RoomFile struct {
	Name string // the room's name: the file's name without .toml (not checked yet)
	Path string // the path, as errors name it
	Data []byte // the file's bytes; nil if Unchanged

	// Stamp is the file's metadata (its link target's), taken before its
	// bytes were read, when it vouches for them: a later look that finds
	// the same need not read them again (ReadRoomFilesSince). It is nil
	// for a file changed too recently for its modification time to tell
	// a later write within the same tick of the file system's clock.
	Stamp fs.FileInfo
	// Unchanged tells that the file was not read: its metadata is as in
	// the stamp given to ReadRoomFilesSince.
	Unchanged bool
	// Link tells that the folder's entry is a symbolic link: a watch of
	// the folder does not see its target's edits.
	Link bool
}

// stampAge is how old a file's modification time must be for its
// metadata to vouch for its bytes: more than the coarsest clock of a file
// system (FAT's two seconds).
const stampAge = 3 * time.Second

// ReadRoomFiles reads the room files of dir (the ones LoadRooms would
// load), sorted by name, for a caller that parses each on its own
// (ParseRoom) so that one bad file does not hold up the others. It is an
// error if dir cannot be read or holds no room file; a file that cannot
// be read is left out, with its error joined to the others'.
func ReadRoomFiles(dir string) ([]RoomFile, error) { return ReadRoomFilesSince(dir, nil) }

// ReadRoomFilesSince is ReadRoomFiles for a caller that looks at the
// folder again and again: a file whose metadata is the same as its stamp
// in known (by path: the same file, size and modification time) is not
// read, and comes back Unchanged.
func ReadRoomFilesSince(dir string, known map[string]fs.FileInfo) ([]RoomFile, error) {
	paths, err := roomFilePaths(dir)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, noRoomFiles(dir)
	}
	var (
		out  []RoomFile
		errs []error
	)
	for _, rp := range paths {
		p := rp.path
		f := RoomFile{Name: strings.TrimSuffix(filepath.Base(p), ".toml"), Path: p, Link: rp.link}
		fi, err := os.Stat(p)
		if err == nil && time.Since(fi.ModTime()) > stampAge {
			f.Stamp = fi
		}
		if prev := known[p]; f.Stamp != nil && prev != nil && os.SameFile(prev, fi) &&
			prev.Size() == fi.Size() && prev.ModTime().Equal(fi.ModTime()) {
			f.Unchanged = true
			out = append(out, f)
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, readError(p, err))
			continue
		}
		f.Data = data
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b RoomFile) int { return strings.Compare(a.Name, b.Name) })
	return out, errors.Join(errs...)
}

func unwrapPath(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Validate checks every value of r and returns all problems found (see
// Error). An empty Name is allowed (a preset); a non-empty one must be a
// valid room name.
func (r Room) Validate() error { return r.problems().err("") }

func (r Room) problems() problems {
	var p problems
	if r.Name != "" && !roomName.MatchString(r.Name) {
		p.add("name", "bad room name %q: want 1-64 letters, digits, '_' or '-', starting with a letter or digit", r.Name)
	}
	if !r.Mode.Valid() {
		p = append(p, unknownMode(r.Mode))
	}
	if n := utf8.RuneCountInString(r.Title); n > 200 {
		p.add("title", "must be at most 200 characters, got %d", n)
	}
	if n := utf8.RuneCountInString(r.Description); n > 500 {
		p.add("description", "must be at most 500 characters, got %d", n)
	}
	checkRange(&p, "max_participants", int64(r.MaxParticipants), 1, 10000)
	checkRange(&p, "max_viewers", int64(r.MaxViewers), 0, 10000)
	if r.MaxViewers != 0 && r.Mode.Valid() && !r.Mode.Live() {
		p.add("max_viewers", "only live modes (audioStream, videoStream) have viewers; mode %s records clips: remove max_viewers or set it to 0", r.Mode)
	}
	if r.VideoDefault && !r.AllowVideo {
		p.add("video_default", "is true but allow_video is false: set allow_video = true or video_default = false")
	}
	if r.Archive && r.Mode.Valid() && !r.Mode.Live() {
		p.add("archive", "only live modes (audioStream, videoStream) archive; mode %s records clips anyway: remove archive or set it to false", r.Mode)
	}
	switch r.Publish {
	case PublishAuto:
	case PublishManual:
		if r.Mode.Live() {
			p.add("publish", "\"manual\" is only for clip modes (mediaForum, mediaChat, videoChat), not live mode %s: use \"auto\"", r.Mode)
		}
	default:
		p.add("publish", "must be \"auto\" or \"manual\", got %q", r.Publish)
	}
	checkRange(&p, "max_clip_seconds", int64(r.MaxClipSeconds), 1, 3600)
	switch {
	case r.MinClipMs < 0 || r.MinClipMs > MaxMinClipMs:
		p.add("min_clip_ms", "must be between 0 (no minimum) and %d milliseconds, got %d", MaxMinClipMs, r.MinClipMs)
	case r.MinClipMs > 0 && r.MaxClipSeconds >= 1 && r.MinClipMs >= r.MaxClipSeconds*1000:
		p.add("min_clip_ms", "must be shorter than max_clip_seconds (%d s = %d ms), got %d", r.MaxClipSeconds, r.MaxClipSeconds*1000, r.MinClipMs)
	}
	checkAtLeast(&p, "max_clip_bytes", r.MaxClipBytes, 1024)
	if r.MaxRoomBytes < r.MaxClipBytes || r.MaxRoomBytes < 1024 {
		p.add("max_room_bytes", "must be at least max_clip_bytes (%d), got %d", r.MaxClipBytes, r.MaxRoomBytes)
	}
	if r.ClipLifetime <= 0 {
		p.add("clip_lifetime", "must be more than 0s, got %s", r.ClipLifetime)
	}
	checkAtLeast(&p, "max_clip_count", int64(r.MaxClipCount), 1)
	r.accessProblems(&p)
	r.notifyProblems(&p)
	return p
}
