package clips

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// State is a clip's state.
type State string

// The states of a clip.
const (
	Draft     State = "draft"     // seen only by its owner, until published
	Published State = "published" // seen by everyone in the room
)

// Media kinds.
const (
	KindAudio = "audio"
	KindVideo = "video"
)

// Event types and removal reasons.
const (
	EventAdded   = "clip-added"
	EventUpdated = "clip-updated"
	EventRemoved = "clip-removed"
	// EventPlayed: someone played the clip (see Store.MarkPlayed). Only
	// that person's view of the clip changed.
	EventPlayed = "clip-played"

	ReasonDeleted   = "deleted"
	ReasonExpired   = "expired"
	ReasonEvicted   = "evicted"
	ReasonDiscarded = "discarded"
)

// Triggers of a recording (Clip.Trigger); none means someone pressed
// record, or uploaded.
const (
	TriggerMotion   = "motion"
	TriggerSnapshot = "snapshot"
)

// ValidTrigger tells whether t is a trigger a clip may carry.
func ValidTrigger(t string) bool { return t == "" || t == TriggerMotion || t == TriggerSnapshot }

// A waveform has between MinWaveform and MaxWaveform values.
const (
	MinWaveform = 32
	MaxWaveform = 256
)

// ValidWaveform tells whether w is a waveform a clip may carry: none, or
// MinWaveform to MaxWaveform values of 0..100.
func ValidWaveform(w []int) bool {
	if len(w) == 0 {
		return true
	}
	if len(w) < MinWaveform || len(w) > MaxWaveform {
		return false
	}
	for _, v := range w {
		if v < 0 || v > 100 {
			return false
		}
	}
	return true
}

// MaxDescription is the longest description, in characters.
const MaxDescription = 500

// maxAuthor is the longest author name kept, in characters.
const maxAuthor = 64

// Clip is a clip's metadata. Its JSON form is what clients see: Owner is
// never in it, and DraftToken only when the caller shows a draft to its
// owner (see Clip.ForViewer).
type Clip struct {
	ID          string    `json:"id"`          // see NewID
	Room        string    `json:"room"`        //
	Author      string    `json:"author"`      // display name at recording time
	Owner       string    `json:"-"`           // OwnerOf the author's owner key; never sent to clients
	Created     time.Time `json:"created"`     // RFC 3339, millisecond precision, UTC
	Duration    float64   `json:"duration"`    // seconds, measured by the server
	Bytes       int64     `json:"bytes"`       //
	Kind        string    `json:"kind"`        // "audio" | "video"
	Mime        string    `json:"mime"`        // e.g. `audio/webm; codecs="opus"`
	Description string    `json:"description"` // plain text, at most 500 characters, no control characters
	State       State     `json:"state"`       //
	Expires     time.Time `json:"expires"`     //
	// Waveform is the clip's loudness over time, from its publisher's
	// audio levels: MinWaveform to MaxWaveform values 0..100, the peak of
	// each equal slice of the clip. Absent when the publisher sent no
	// levels (uploads, some WHIP encoders).
	Waveform []int `json:"waveform,omitempty"`
	// Trigger says what started the recording when it was not someone
	// pressing record: TriggerMotion (a camera station saw motion) or
	// TriggerSnapshot (a station's controller asked for a short clip).
	Trigger string `json:"trigger,omitempty"`
	// DraftToken is a random capability to fetch a draft's media
	// (?token=), for players that cannot send the owner's credentials.
	// Only drafts have one.
	DraftToken string `json:"draft_token,omitempty"`
	// Mine is set in the viewer's own clips (see ForViewer), so that a
	// client knows which clips it may delete.
	Mine bool `json:"mine,omitempty"`
	// Played tells the viewer whether it has played the clip (see
	// Store.MarkPlayed); its own clips are always played. Set in views
	// (ForViewer, List, Event.ForViewer), never stored in the clip.
	Played bool `json:"played"`
	// Key is the clip's media capability (see Store.Key): with ?key=, its
	// media is served without other credentials once it is published, so
	// that <audio src> and download links work in rooms that are not
	// open. Derived, never stored.
	Key string `json:"key,omitempty"`
}

// ForViewer returns the clip as the owner viewer may see it: the draft
// token is kept, and Mine and Played set, only for the clip's owner.
// Whether someone else played it is the store's to say (List,
// Event.ForViewer).
func (c Clip) ForViewer(viewer string) Clip {
	c.Mine = viewer != "" && viewer == c.Owner
	c.Played = c.Mine
	if !c.Mine {
		c.DraftToken = ""
	}
	return c
}

// ext is the media file's extension, from its mime type.
func (c *Clip) ext() string {
	if strings.HasPrefix(c.Mime, "audio/ogg") {
		return ".ogg"
	}
	return ".webm"
}

// mediaName and jsonName are the clip's file names in the room's root.
func (c *Clip) mediaName() string { return "clips/" + c.ID + c.ext() }
func (c *Clip) jsonName() string  { return "clips/" + c.ID + ".json" }

// Event is a change in a room's catalog. Clip is the whole clip, Owner and
// DraftToken included: whoever forwards it to clients shows a draft only to
// its owner and strips the token for everyone else.
type Event struct {
	Type   string // EventAdded | EventUpdated | EventRemoved
	Clip   Clip
	Reason string // for EventRemoved: ReasonDeleted, ReasonExpired, ReasonEvicted or ReasonDiscarded
	// Published is set on the one event that makes the clip visible to
	// the room: its clip-added if it arrived published, or the
	// clip-updated of its publication.
	Published bool
	// Played holds, for EventAdded and EventUpdated, the owners (OwnerOf)
	// other than the clip's own who have played it, as the event was
	// made; for EventPlayed, the one owner who just played it. Nil when
	// nobody has. Read it, do not change it.
	Played map[string]bool
}

// ForViewer returns the event's clip as the owner viewer may see it (see
// Clip.ForViewer), Played included.
func (ev Event) ForViewer(viewer string) Clip {
	c := ev.Clip.ForViewer(viewer)
	if viewer != "" && ev.Played[viewer] {
		c.Played = true
	}
	return c
}

// Errors of the store. The HTTP layer maps them to statuses; test with
// errors.Is.
var (
	ErrUnknownRoom      = errors.New("no such room")
	ErrNotFound         = errors.New("no such clip")
	ErrForbidden        = errors.New("only the clip's author may do that")
	ErrTooBig           = errors.New("the clip is larger than the room allows")
	ErrTooLong          = errors.New("the clip is longer than the room allows")
	ErrInvalidMedia     = errors.New("the media is damaged or invalid")
	ErrUnsupportedMedia = errors.New("unsupported media") // clips are WebM with Opus (and VP8 or VP9) or Ogg with Opus
	ErrClosed           = errors.New("the clip store is closed")
	ErrDone             = errors.New("the pending clip was already committed or aborted")
)

// OwnerOf returns the owner identity of an owner key: its SHA-256 in hex.
// The store never keeps raw keys. An empty key has no identity: "".
func OwnerOf(ownerKey string) string {
	if ownerKey == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(ownerKey))
	return hex.EncodeToString(sum[:])
}

// idPattern matches clip ids: 13 hex digits of Unix milliseconds, then 16
// random hex digits (64 bits). Every id that comes from outside is checked
// against it before it is used in a file name.
var idPattern = regexp.MustCompile(`^[0-9a-f]{29}$`)

// ValidID reports whether id has the form of a clip id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// newID returns a new clip id for time t: sortable by time, unguessable.
func newID(t time.Time) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on supported platforms
	}
	return fmt.Sprintf("%013x%s", t.UnixMilli(), hex.EncodeToString(b[:]))
}

// newToken returns a random capability: 128 bits in hex.
func newToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// cleanText makes user text safe to store and show as plain text: valid
// UTF-8, tabs and line breaks turned into spaces, other control and
// bidirectional formatting characters removed, spaces trimmed, at most max
// characters.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "")
	var b strings.Builder
	n := 0
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			r = ' '
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r), r == utf8.RuneError:
			continue
		}
		if n == max {
			break
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// diskClip is a clip as its .json file stores it: every field, the owner
// included.
type diskClip struct {
	ID          string    `json:"id"`
	Room        string    `json:"room"`
	Author      string    `json:"author"`
	Owner       string    `json:"owner"`
	Created     time.Time `json:"created"`
	Duration    float64   `json:"duration"`
	Bytes       int64     `json:"bytes"`
	Kind        string    `json:"kind"`
	Mime        string    `json:"mime"`
	Description string    `json:"description"`
	State       State     `json:"state"`
	Expires     time.Time `json:"expires"`
	Waveform    []int     `json:"waveform,omitempty"`
	Trigger     string    `json:"trigger,omitempty"`
	DraftToken  string    `json:"draft_token,omitempty"`
	Mine        bool      `json:"-"` // a view, never stored
	Played      bool      `json:"-"` // a view, never stored
	Key         string    `json:"-"` // derived from the store's key, never stored
}

func toDisk(c Clip) diskClip { return diskClip(c) }

// fromDisk makes a clip of checked metadata; a trigger this version does
// not know is dropped rather than the clip.
func fromDisk(d diskClip) Clip {
	if !ValidTrigger(d.Trigger) {
		d.Trigger = ""
	}
	return Clip(d)
}

// sidecar is the .part.json written at Begin: what the clip will be.
type sidecar struct {
	Clip   diskClip `json:"clip"`
	Upload bool     `json:"upload"` // an upload (deleted after a crash), not a recording (recovered)
}

// check validates metadata read from disk.
func (d *diskClip) check(room string) error {
	switch {
	case !ValidID(d.ID):
		return fmt.Errorf("bad id %q", d.ID)
	case d.Room != room:
		return fmt.Errorf("room %q, not %q", d.Room, room)
	case d.Kind != KindAudio && d.Kind != KindVideo:
		return fmt.Errorf("bad kind %q", d.Kind)
	case d.State != Draft && d.State != Published:
		return fmt.Errorf("bad state %q", d.State)
	case d.Mime == "" || len(d.Mime) > 100:
		return fmt.Errorf("bad mime %q", d.Mime)
	case d.Created.IsZero():
		return errors.New("no creation time")
	case d.Duration < 0 || d.Bytes < 0:
		return errors.New("negative duration or size")
	case d.State == Draft && d.DraftToken == "":
		return errors.New("a draft without a token")
	}
	return nil
}

// validMime accepts the mime types the store writes.
func validMime(m string) bool {
	if len(m) > 100 || strings.ContainsFunc(m, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return false
	}
	return strings.HasPrefix(m, "audio/webm") || strings.HasPrefix(m, "video/webm") || strings.HasPrefix(m, "audio/ogg")
}
