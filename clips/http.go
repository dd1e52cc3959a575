package clips

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"parley/configs"
)

// Patterns are the net/http patterns of the clip API, all served by the
// handler that Store.Handler returns.
var Patterns = []string{
	"GET /api/rooms/{room}/clips",
	"POST /api/rooms/{room}/clips",
	"GET /api/rooms/{room}/clips/{id}",
	"DELETE /api/rooms/{room}/clips/{id}",
	"POST /api/rooms/{room}/clips/{id}/publish",
}

// Routes registers Patterns on mux, served by h (from Store.Handler).
func Routes(mux *http.ServeMux, h http.Handler) {
	for _, p := range Patterns {
		mux.Handle(p, h)
	}
}

// Caller is who makes a request on a room's clips.
type Caller struct {
	// Owner is OwnerOf the caller's key. A caller without one is a
	// reader (the holder of a join token who is not in the room): it may
	// list the room's published clips and fetch their media, and change
	// nothing.
	Owner    string
	Author   string // the caller's display name
	Operator bool   // an operator, who may delete any clip
}

// AuthFunc tells who makes a request on a room's clips, or ok == false
// for an anonymous caller. In a room whose access is not open, only a
// caller it knows (ok) may read the clips, besides the ?key= of one clip.
type AuthFunc func(r *http.Request, room string) (c Caller, ok bool)

// multipartSlack is what multipart framing and a description may add to
// an upload's body beyond max_clip_bytes.
const multipartSlack = 64 << 10

// maxPublishedAge caps the max-age of a published clip's media.
const maxPublishedAge = 24 * time.Hour

// Handler returns the HTTP handler of the clip API (see Patterns):
//
//	GET    /api/rooms/{room}/clips              {"clips":[…]}, newest first; the caller's drafts too, and
//	                                            "played" for the caller (see Store.MarkPlayed)
//	GET    /api/rooms/{room}/clips/{id}         the media (Range, If-Modified-Since, ETag); ?download=1 for an attachment;
//	                                            a draft only to its owner or with ?token=<draft_token>, else 404
//	POST   /api/rooms/{room}/clips              upload (auth needed): a raw body (audio/webm, video/webm, audio/ogg;
//	                                            ?description=…) or multipart/form-data with a "file" part and an
//	                                            optional "description" field; 201, the clip, Location
//	DELETE /api/rooms/{room}/clips/{id}         by its author: 204
//	POST   /api/rooms/{room}/clips/{id}/publish by its author: 200 and the clip
//
// Who may read: in an open room, anyone. In a password or token room, a
// caller that auth knows (a participant's owner key, a join token): the
// list without one is 401 with WWW-Authenticate: Bearer; and the media of
// a published clip also with ?key=<Clip.Key>, without any header; else
// 404, whether or not the clip exists. A key never opens a draft.
//
// Errors are JSON {"error": "…", "code": "…"} (docs/protocol.md lists the
// codes): 400 bad room or id syntax, 401 no auth,
// 403 not the author, 404 unknown room or clip (or someone else's draft,
// or a clip the caller may not read), 413 too big, 415 unsupported
// container or codec, 422 damaged media or too long. auth identifies the
// caller; it is asked on every request. The security headers (nosniff, the
// Content-Security-Policy) are the server's to set, on every response.
func (s *Store) Handler(auth AuthFunc) http.Handler {
	h := &handler{s: s, auth: auth}
	mux := http.NewServeMux()
	mux.HandleFunc(Patterns[0], h.list)
	mux.HandleFunc(Patterns[1], h.upload)
	mux.HandleFunc(Patterns[2], h.media)
	mux.HandleFunc(Patterns[3], h.delete)
	mux.HandleFunc(Patterns[4], h.publish)
	return mux
}

type handler struct {
	s       *Store
	auth    AuthFunc
	uploads uploadRate
}

// Uploads a caller may start: UploadBurst in a row, then one every
// UploadEvery. Beyond that, 429.
const (
	UploadBurst = 5
	UploadEvery = 10 * time.Second
)

// uploadRate is a token bucket per owner for uploads.
type uploadRate struct {
	mu   sync.Mutex
	next map[string]time.Time // when the owner's bucket is full again
}

// take reports whether owner may upload now, and if so counts it.
func (u *uploadRate) take(owner string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.next == nil {
		u.next = make(map[string]time.Time)
	}
	if len(u.next) > 10000 {
		for k, t := range u.next {
			if !t.After(now) {
				delete(u.next, k)
			}
		}
	}
	full := u.next[owner]
	if full.Before(now) {
		full = now
	}
	// The bucket holds UploadBurst tokens; each upload pushes "full" one
	// interval later. Refuse when that would be more than the burst away.
	if full.Sub(now) > time.Duration(UploadBurst-1)*UploadEvery {
		return false
	}
	u.next[owner] = full.Add(UploadEvery)
	return true
}

func respond(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers an error: {"error": msg, "code": code}. The code is stable
// and meant for programs (a client shows its own text for it, in its
// language); the message is for people and may change.
func fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	respond(w, status, map[string]string{"error": msg, "code": code})
}

// roomOf checks the {room} of the path: 400 for a bad name, 404 for a room
// that is not configured.
func (h *handler) roomOf(w http.ResponseWriter, r *http.Request) (*room, bool) {
	name := r.PathValue("room")
	if !configs.ValidRoomName(name) {
		fail(w, http.StatusBadRequest, "bad-room", "bad room name")
		return nil, false
	}
	rm := h.s.lookup(name)
	if rm == nil {
		fail(w, http.StatusNotFound, "no-room", "no such room")
		return nil, false
	}
	return rm, true
}

// idOf checks the {id} of the path.
func idOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !ValidID(id) {
		fail(w, http.StatusBadRequest, "bad-clip-id", "bad clip id")
		return "", false
	}
	return id, true
}

func (h *handler) caller(r *http.Request, room string) (owner, author string, ok bool) {
	c, ok := h.callerOf(r, room)
	return c.Owner, c.Author, ok
}

func (h *handler) callerOf(r *http.Request, room string) (Caller, bool) {
	if h.auth == nil {
		return Caller{}, false
	}
	c, ok := h.auth(r, room)
	if !ok || c.Owner == "" {
		return Caller{}, false
	}
	return c, true
}

// reader asks auth who makes the request: ok for any caller it knows, a
// reader without an Owner included.
func (h *handler) reader(r *http.Request, room string) (Caller, bool) {
	if h.auth == nil {
		return Caller{}, false
	}
	return h.auth(r, room)
}

// public reports whether anyone may read the room's published clips.
func public(rm *room) bool { return rm.cfg().Access == configs.AccessOpen }

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	rm, ok := h.roomOf(w, r)
	if !ok {
		return
	}
	who, known := h.reader(r, rm.cfg().Name)
	if !known && !public(rm) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
		fail(w, http.StatusUnauthorized, "members-only", "the clips of this room are for its members: send Authorization: Bearer with your owner key while you are in the room, or with a join token for the room")
		return
	}
	list, err := h.s.List(rm.cfg().Name, who.Owner)
	if err != nil {
		h.internal(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	respond(w, http.StatusOK, map[string][]Clip{"clips": list})
}

func (h *handler) media(w http.ResponseWriter, r *http.Request) {
	rm, ok := h.roomOf(w, r)
	if !ok {
		return
	}
	id, ok := idOf(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	who, known := h.reader(r, rm.cfg().Name)
	// May the caller read the room's published clips, or this one? Both
	// are decided before the clip is looked up: a refusal must not tell
	// whether the clip exists.
	readable := public(rm) || known || (q.Has("key") && h.s.CheckKey(rm.cfg().Name, id, q.Get("key")))
	draftToken := q.Get("token")
	if !readable && draftToken == "" {
		fail(w, http.StatusNotFound, "no-such-clip", "no such clip")
		return
	}
	f, c, err := h.s.OpenMedia(rm.cfg().Name, id)
	if errors.Is(err, ErrNotFound) {
		fail(w, http.StatusNotFound, "no-such-clip", "no such clip")
		return
	}
	if err != nil {
		h.internal(w, err)
		return
	}
	defer f.Close()
	hdr := w.Header()
	if c.State == Draft {
		// A draft is its owner's alone: the room's credentials and the
		// clip's key do not open it.
		allowed := draftToken != "" && subtle.ConstantTimeCompare([]byte(draftToken), []byte(c.DraftToken)) == 1
		if !allowed && who.Owner != "" {
			allowed = who.Owner == c.Owner
		}
		if !allowed {
			// Someone else's draft does not exist for the caller.
			fail(w, http.StatusNotFound, "no-such-clip", "no such clip")
			return
		}
		hdr.Set("Cache-Control", "private, no-store")
	} else if !readable {
		fail(w, http.StatusNotFound, "no-such-clip", "no such clip")
		return
	} else {
		age := min(time.Until(c.Expires), maxPublishedAge)
		hdr.Set("Cache-Control", "private, max-age="+strconv.Itoa(max(int(age/time.Second), 0)))
	}
	disposition := "inline"
	if r.URL.Query().Get("download") == "1" {
		disposition = "attachment"
	}
	hdr.Set("Content-Type", c.Mime)
	hdr.Set("Content-Disposition", fmt.Sprintf(`%s; filename="%s-%s%s"`, disposition, c.Room, c.ID, c.ext()))
	hdr.Set("ETag", `"`+c.ID+`"`) // a clip's media never changes
	http.ServeContent(w, r, "", c.Created, f)
}

// rawTypes are the Content-Types of a raw upload body.
var rawTypes = map[string]bool{
	"audio/webm":      true,
	"video/webm":      true,
	"audio/ogg":       true,
	"application/ogg": true,
	"audio/opus":      true,
}

func (h *handler) upload(w http.ResponseWriter, r *http.Request) {
	rm, ok := h.roomOf(w, r)
	if !ok {
		return
	}
	owner, author, ok := h.caller(r, rm.cfg().Name)
	if !ok {
		fail(w, http.StatusUnauthorized, "join-first", "join the room first")
		return
	}
	if !h.uploads.take(owner, h.s.opts.now()) {
		h.s.log.Info("upload refused: too many", "room", rm.cfg().Name, "author", author)
		w.Header().Set("Retry-After", strconv.Itoa(int(UploadEvery/time.Second)))
		fail(w, http.StatusTooManyRequests, "too-many-uploads", fmt.Sprintf("too many uploads: at most %d in a row, then one every %s", UploadBurst, UploadEvery))
		return
	}
	limit := rm.cfg().MaxClipBytes + multipartSlack
	if r.ContentLength > limit {
		fail(w, http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("the clip is larger than the room allows (%d bytes)", rm.cfg().MaxClipBytes))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	var c Clip
	switch {
	case mt == "multipart/form-data":
		c, err = h.uploadMultipart(rm.cfg().Name, owner, author, r)
	case rawTypes[mt]:
		description := r.URL.Query().Get("description")
		if err := checkDescription([]byte(description)); err != nil {
			fail(w, http.StatusBadRequest, "bad-upload", err.Error())
			return
		}
		c, err = h.s.Upload(rm.cfg().Name, author, owner, description, r.Body)
	default:
		fail(w, http.StatusUnsupportedMediaType, "unsupported-media", "send the clip as audio/webm, video/webm or audio/ogg, or as multipart/form-data with a \"file\" part")
		return
	}
	if err != nil {
		h.uploadError(w, err)
		return
	}
	w.Header().Set("Location", "/api/rooms/"+c.Room+"/clips/"+c.ID)
	respond(w, http.StatusCreated, c.ForViewer(owner))
}

// errBadForm is a malformed upload request.
var errBadForm = errors.New("bad upload form")

// checkDescription refuses a description that is not text of at most
// MaxDescription characters. (Control characters are stripped later.)
func checkDescription(b []byte) error {
	if len(b) > 4*MaxDescription || !utf8.Valid(b) || utf8.RuneCount(b) > MaxDescription {
		return fmt.Errorf("%w: the description must be text of at most %d characters", errBadForm, MaxDescription)
	}
	return nil
}

// uploadMultipart streams the "file" part into the store. A "description"
// field may come before or after it.
func (h *handler) uploadMultipart(room, owner, author string, r *http.Request) (Clip, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return Clip{}, fmt.Errorf("%w: %v", errBadForm, err)
	}
	var (
		c           Clip
		have        bool
		description string
	)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if have {
				// The clip is stored; what follows it is broken.
				return c, nil
			}
			return Clip{}, &ReadError{Err: err}
		}
		switch part.FormName() {
		case "description":
			b, err := io.ReadAll(io.LimitReader(part, 4*MaxDescription+1))
			if err != nil {
				return Clip{}, &ReadError{Err: err}
			}
			if err := checkDescription(b); err != nil {
				return Clip{}, err
			}
			description = string(b)
			if have {
				if c, err = h.s.describe(room, c.ID, owner, description); err != nil {
					return Clip{}, err
				}
			}
		case "file":
			if have {
				return Clip{}, fmt.Errorf("%w: one file per upload", errBadForm)
			}
			if c, err = h.s.Upload(room, author, owner, description, part); err != nil {
				return Clip{}, err
			}
			have = true
		}
		part.Close()
	}
	if !have {
		return Clip{}, fmt.Errorf("%w: no \"file\" part", errBadForm)
	}
	return c, nil
}

func (h *handler) uploadError(w http.ResponseWriter, err error) {
	var (
		tooBig *http.MaxBytesError
		read   *ReadError
	)
	switch {
	case errors.As(err, &tooBig), errors.Is(err, ErrTooBig):
		fail(w, http.StatusRequestEntityTooLarge, "too-large", err.Error())
	case errors.Is(err, ErrUnsupportedMedia):
		fail(w, http.StatusUnsupportedMediaType, "unsupported-media", err.Error())
	case errors.Is(err, ErrTooLong):
		fail(w, http.StatusUnprocessableEntity, "too-long", err.Error())
	case errors.Is(err, ErrInvalidMedia):
		fail(w, http.StatusUnprocessableEntity, "bad-media", err.Error())
	case errors.Is(err, errBadForm), errors.As(err, &read):
		fail(w, http.StatusBadRequest, "bad-upload", err.Error())
	case errors.Is(err, ErrUnknownRoom):
		fail(w, http.StatusNotFound, "no-room", "no such room")
	default:
		h.internal(w, err)
	}
}

func (h *handler) internal(w http.ResponseWriter, err error) {
	h.s.log.Error("clip API", "err", err)
	fail(w, http.StatusInternalServerError, "internal", "internal error")
}

// mine finds a clip for a change by its author: 401 without auth, 404 if
// unknown or someone else's draft.
func (h *handler) mine(w http.ResponseWriter, r *http.Request) (room, id string, who Caller, ok bool) {
	rm, ok := h.roomOf(w, r)
	if !ok {
		return "", "", who, false
	}
	id, ok = idOf(w, r)
	if !ok {
		return "", "", who, false
	}
	who, ok = h.callerOf(r, rm.cfg().Name)
	if !ok {
		fail(w, http.StatusUnauthorized, "join-first", "join the room first")
		return "", "", who, false
	}
	c, found := h.s.Get(rm.cfg().Name, id)
	if !found || (c.State == Draft && c.Owner != who.Owner && !who.Operator) {
		fail(w, http.StatusNotFound, "no-such-clip", "no such clip")
		return "", "", who, false
	}
	return rm.cfg().Name, id, who, true
}

func (h *handler) changeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrForbidden):
		fail(w, http.StatusForbidden, "forbidden", "only the clip's author may do that")
	case errors.Is(err, ErrNotFound):
		fail(w, http.StatusNotFound, "no-such-clip", "no such clip")
	default:
		h.internal(w, err)
	}
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	room, id, who, ok := h.mine(w, r)
	if !ok {
		return
	}
	if err := h.s.Delete(room, id, who.Owner, who.Operator); err != nil {
		h.changeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) publish(w http.ResponseWriter, r *http.Request) {
	room, id, who, ok := h.mine(w, r)
	if !ok {
		return
	}
	c, err := h.s.Publish(room, id, who.Owner)
	if err != nil {
		h.changeError(w, err)
		return
	}
	respond(w, http.StatusOK, c.ForViewer(who.Owner))
}
