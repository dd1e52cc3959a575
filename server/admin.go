package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"parley/access"
	"parley/clips"
	"parley/configs"
	"parley/internal/atomicfile"
)

// The admin API, under /api/admin/ on the HTTP listener (never on the
// metrics listener), answers only while admin.tokens lists a token (404
// otherwise, as if it were not there; a reload of the server file may
// turn it on or off). Each
// request carries one as "Authorization: Bearer"; a missing or wrong one
// is 401, counted per client address as failed joins are
// (auth.failures_per_minute, auth.failure_burst), and beyond that 429.
// Every action is logged with the name of the token that did it.
//
// Room files are written whole and crash-safely (a temporary file, fsync,
// rename, fsync of the folder) and applied before the answer, through
// the same reload as the watcher's. Their entity tag is a hash of the
// file's bytes: an update or a delete must send it back in If-Match (428
// without, 412 when the file changed since), so that two editors cannot
// overwrite each other.

// adminAPI serves /api/admin/.
type adminAPI struct {
	s        *Server
	tokens   atomic.Pointer[adminTokens] // replaced by setTokens
	failures *access.Limiter
}

// adminTokens are the admin tokens in force.
type adminTokens struct {
	hashes [][sha256.Size]byte // of the tokens, compared in constant time
	names  []string            // the tokens' names, in the same order
}

func newAdminAPI(s *Server, cfg configs.Server) *adminAPI {
	a := &adminAPI{s: s, failures: access.NewLimiter(cfg.Auth.FailuresPerMinute, cfg.Auth.FailureBurst)}
	a.setTokens(cfg.Admin.Tokens)
	return a
}

// setTokens sets the tokens accepted from the next request on; none
// turns the API off.
func (a *adminAPI) setTokens(tokens []configs.AdminToken) {
	at := &adminTokens{}
	for _, t := range tokens {
		at.hashes = append(at.hashes, sha256.Sum256([]byte(t.Token)))
		at.names = append(at.names, t.Name)
	}
	a.tokens.Store(at)
}

// routes adds the admin API's routes to mux.
func (a *adminAPI) routes(mux *http.ServeMux) {
	for pattern, fn := range map[string]func(w http.ResponseWriter, r *http.Request, by string){
		"GET /api/admin/rooms":                         a.listRooms,
		"GET /api/admin/rooms/{room}":                  a.getRoom,
		"PUT /api/admin/rooms/{room}":                  a.putRoom,
		"DELETE /api/admin/rooms/{room}":               a.deleteRoom,
		"GET /api/admin/rooms/{room}/sessions":         a.listSessions,
		"DELETE /api/admin/rooms/{room}/sessions/{id}": a.kick,
		"DELETE /api/admin/rooms/{room}/clips/{id}":    a.deleteClip,
		"POST /api/admin/rooms/{room}/tokens":          a.mintToken,
		"GET /api/admin/cluster":                       a.adminCluster,
	} {
		mux.Handle(pattern, a.guard(fn))
	}
}

// guard checks the bearer token, then runs fn with the token's name.
func (a *adminAPI) guard(fn func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if len(a.tokens.Load().hashes) == 0 {
			http.NotFound(w, r) // off, as if it were not there
			return
		}
		ip := a.s.proxies.ClientIP(r)
		attempt, ok := a.failures.Begin(ip)
		if !ok {
			a.s.log.Warn("admin API: refused, too many failed attempts", "ip", ip, "path", r.URL.Path)
			w.Header().Set("Retry-After", "60")
			writeError(w, http.StatusTooManyRequests, "too many failed attempts from your address; wait a minute")
			return
		}
		by, ok := a.check(r.Header.Get("Authorization"))
		if !ok {
			a.s.log.Warn("admin API: refused, missing or wrong token", "ip", ip, "method", r.Method, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley admin"`)
			writeError(w, http.StatusUnauthorized, "a valid admin token is needed: Authorization: Bearer <token>")
			return // the attempt stays charged
		}
		attempt.Succeeded()
		fn(w, r, by)
	})
}

// check finds the token of an Authorization header and returns its name.
// Every configured token is compared, in constant time, whatever matches.
func (a *adminAPI) check(authz string) (string, bool) {
	tok, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok || tok == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(tok))
	at := a.tokens.Load()
	found := -1
	for i, t := range at.hashes {
		if subtle.ConstantTimeCompare(sum[:], t[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return at.names[found], true
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// etag is the entity tag of a room file's bytes.
func etag(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// roomFile reads a room's file: nil and no error when there is none.
// Called locked (roomFiles.mu).
func (a *adminAPI) roomFile(name string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(a.s.roomFiles.dir, name+".toml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// lockFile checks the {room} of the path, takes the rooms folder's lock
// (roomFiles.mu) and reads the room's file (nil: none). If it cannot, it
// answers and gives the lock back; otherwise the caller calls unlock.
func (a *adminAPI) lockFile(w http.ResponseWriter, r *http.Request) (name string, data []byte, unlock func(), ok bool) {
	name, ok = a.roomName(w, r)
	if !ok || !a.roomsDir(w) {
		return "", nil, nil, false
	}
	rf := a.s.roomFiles
	rf.mu.Lock()
	if rf.closed {
		rf.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, ErrShutDown.Error())
		return "", nil, nil, false
	}
	data, err := a.roomFile(name)
	if err != nil {
		rf.mu.Unlock()
		a.s.log.Error("admin API: read room file", "room", name, "err", err)
		writeError(w, http.StatusInternalServerError, "the room file cannot be read")
		return "", nil, nil, false
	}
	return name, data, rf.mu.Unlock, true
}

// roomName checks the {room} of the path, and that room files can be
// written at all.
func (a *adminAPI) roomName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("room")
	if !configs.ValidRoomName(name) {
		writeError(w, http.StatusBadRequest, "bad room name: want 1-64 letters, digits, '_' or '-', starting with a letter or digit")
		return "", false
	}
	return name, true
}

// roomsDir refuses what changes room files when there is no folder of
// them.
func (a *adminAPI) roomsDir(w http.ResponseWriter) bool {
	if a.s.roomFiles.dir == "" {
		writeError(w, http.StatusConflict, ErrNoRoomsDir.Error()+": set rooms.dir to manage rooms")
		return false
	}
	return true
}

// adminRoom is a room as the admin API lists it.
type adminRoom struct {
	configs.Room
	ETag         string `json:"etag,omitempty"`
	Participants int    `json:"participants"`
	Viewers      int    `json:"viewers"`
}

// listRooms serves GET /api/admin/rooms: every room with its settings in
// force, its file's entity tag and how many are in it.
func (a *adminAPI) listRooms(w http.ResponseWriter, _ *http.Request, _ string) {
	rf := a.s.roomFiles
	rooms := []adminRoom{}
	rf.mu.Lock()
	for _, ri := range a.s.hub.RoomInfos() {
		ar := adminRoom{Room: ri.Room, Participants: ri.Participants, Viewers: ri.Viewers}
		if rf.dir != "" {
			if data, err := a.roomFile(ri.Name); err == nil && data != nil {
				ar.ETag = etag(data)
			}
		}
		rooms = append(rooms, ar)
	}
	rf.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"rooms": rooms})
}

// getRoom serves GET /api/admin/rooms/{room}: the room file as it is on
// disk, with its entity tag.
func (a *adminAPI) getRoom(w http.ResponseWriter, r *http.Request, _ string) {
	_, data, unlock, ok := a.lockFile(w, r)
	if !ok {
		return
	}
	unlock()
	switch {
	case data == nil:
		writeError(w, http.StatusNotFound, "no such room file")
	default:
		w.Header().Set("ETag", etag(data))
		w.Header().Set("Content-Type", "application/toml; charset=utf-8")
		_, _ = w.Write(data)
	}
}

// precondition checks If-Match and If-None-Match against the file's
// bytes (nil: no file). An update or a delete of a file that exists needs
// If-Match (428); a stale one is 412. A create needs nothing, and
// If-None-Match: * makes sure it is one.
func precondition(w http.ResponseWriter, r *http.Request, data []byte, update bool) bool {
	match, noneMatch := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	switch {
	case noneMatch == "*" && data != nil:
		writeError(w, http.StatusPreconditionFailed, "the room exists already (If-None-Match: *)")
		return false
	case match == "" && data != nil && update:
		writeError(w, http.StatusPreconditionRequired, "send the room file's ETag in If-Match (GET it first), so that nobody's change is overwritten")
		return false
	case match != "" && (data == nil || !etagIn(match, etag(data))):
		writeError(w, http.StatusPreconditionFailed, "the room file changed since you read it (If-Match does not match its ETag): GET it again")
		return false
	}
	return true
}

// etagIn reports whether tag is one of the entity tags of an If-Match
// header (or it is *).
func etagIn(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

// putRoom serves PUT /api/admin/rooms/{room}: the body is the whole room
// file (TOML). It is validated as at start-up (422 and the error, the
// file unchanged), written crash-safely and applied before the answer:
// 201 for a new room, 200 for a change, with the new ETag and the
// room's settings in force.
func (a *adminAPI) putRoom(w http.ResponseWriter, r *http.Request, by string) {
	// The body is read before the lock is taken: a slow client holds
	// nobody up.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a room file is at most %d bytes", maxBody))
		return
	}
	name, data, unlock, ok := a.lockFile(w, r)
	if !ok {
		return
	}
	defer unlock()
	if !precondition(w, r, data, true) {
		return
	}
	rf := a.s.roomFiles
	room, err := configs.ParseRoom(name+".toml", body)
	if err == nil {
		err = configs.CheckRooms(a.s.cfg, []configs.Room{room})
	}
	if err != nil {
		a.s.log.Info("admin API: room file refused", "by", by, "room", name, "err", err)
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	if err := a.writeRoomFile(name, body); err != nil {
		a.s.log.Error("admin API: write room file", "by", by, "room", name, "err", err)
		writeError(w, http.StatusInternalServerError, "the room file could not be written")
		return
	}
	if err := a.s.reloadRoomsLocked(false); err != nil {
		// Logged; the file itself was good, another may not be.
		a.s.log.Warn("admin API: rooms reloaded with problems", "by", by, "room", name, "err", err)
	}
	status, what := http.StatusOK, "room updated"
	if data == nil {
		status, what = http.StatusCreated, "room created"
	}
	a.s.log.Info("admin API: "+what, "by", by, "room", name)
	w.Header().Set("ETag", etag(body))
	writeJSON(w, status, adminRoom{Room: rf.rooms[name], ETag: etag(body)})
}

// writeRoomFile writes a room file crash-safely. Called locked
// (roomFiles.mu).
func (a *adminAPI) writeRoomFile(name string, data []byte) error {
	root, err := os.OpenRoot(a.s.roomFiles.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return atomicfile.Write(root, ".", name+".toml", data, 0o640)
}

// deleteRoom serves DELETE /api/admin/rooms/{room}: the room file is
// removed (If-Match needed) and the room closed as when its file goes
// (bye room-removed); its clips stay on disk. 204.
func (a *adminAPI) deleteRoom(w http.ResponseWriter, r *http.Request, by string) {
	name, data, unlock, ok := a.lockFile(w, r)
	if !ok {
		return
	}
	defer unlock()
	rf := a.s.roomFiles
	switch {
	case data == nil:
		writeError(w, http.StatusNotFound, "no such room file")
		return
	case !precondition(w, r, data, true):
		return
	}
	root, err := os.OpenRoot(rf.dir)
	if err == nil {
		err = root.Remove(name + ".toml")
		if err == nil {
			err = atomicfile.SyncDir(root, ".")
		}
		root.Close()
	}
	if err != nil {
		a.s.log.Error("admin API: remove room file", "by", by, "room", name, "err", err)
		writeError(w, http.StatusInternalServerError, "the room file could not be removed")
		return
	}
	if err := a.s.reloadRoomsLocked(false); err != nil {
		a.s.log.Warn("admin API: rooms reloaded with problems", "by", by, "room", name, "err", err)
	}
	a.s.log.Info("admin API: room deleted", "by", by, "room", name)
	w.WriteHeader(http.StatusNoContent)
}

// listSessions serves GET /api/admin/rooms/{room}/sessions: who is in the
// room now.
func (a *adminAPI) listSessions(w http.ResponseWriter, r *http.Request, _ string) {
	name, ok := a.roomName(w, r)
	if !ok {
		return
	}
	members, ok := a.s.hub.Members(name)
	if !ok {
		writeError(w, http.StatusNotFound, "no such room")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": members})
}

// kick serves DELETE /api/admin/rooms/{room}/sessions/{id}: the member is
// sent away as an operator's kick does (bye kicked). 204.
func (a *adminAPI) kick(w http.ResponseWriter, r *http.Request, by string) {
	name, ok := a.roomName(w, r)
	if !ok {
		return
	}
	if !a.s.hub.Kick(name, r.PathValue("id"), "admin API: "+by) {
		writeError(w, http.StatusNotFound, "no such session in this room")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deleteClip serves DELETE /api/admin/rooms/{room}/clips/{id}: any clip,
// published or a draft. 204.
func (a *adminAPI) deleteClip(w http.ResponseWriter, r *http.Request, by string) {
	name, ok := a.roomName(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	err := a.s.store.Delete(name, id, "", true)
	switch {
	case errors.Is(err, clips.ErrNotFound) || errors.Is(err, clips.ErrUnknownRoom):
		writeError(w, http.StatusNotFound, "no such clip")
	case err != nil:
		a.s.log.Error("admin API: delete clip", "by", by, "room", name, "clip", id, "err", err)
		writeError(w, http.StatusInternalServerError, "the clip could not be deleted")
	default:
		a.s.log.Info("admin API: clip deleted", "by", by, "room", name, "clip", id)
		w.WriteHeader(http.StatusNoContent)
	}
}

// maxTokenTTL bounds the life of a token the admin API makes.
const maxTokenTTL = 366 * 24 * time.Hour

// mintToken serves POST /api/admin/rooms/{room}/tokens: the body is
// {"name", "role" (optional: participant or operator), "ttl" (optional, a
// Go duration, 24h by default)}; the answer is {"token", "expires"} with
// a join token for the room, as "parley token" makes.
func (a *adminAPI) mintToken(w http.ResponseWriter, r *http.Request, by string) {
	name, ok := a.roomName(w, r)
	if !ok {
		return
	}
	if _, ok := a.s.hub.Members(name); !ok {
		writeError(w, http.StatusNotFound, "no such room")
		return
	}
	var req struct {
		Name string `json:"name"`
		Role string `json:"role"`
		TTL  string `json:"ttl"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "want a JSON body {\"name\": …, \"role\": …, \"ttl\": …}: "+err.Error())
		return
	}
	ttl := 24 * time.Hour
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > maxTokenTTL {
			writeError(w, http.StatusBadRequest, "ttl: want a duration like \"24h\", more than 0 and at most "+maxTokenTTL.String())
			return
		}
		ttl = d
	}
	if req.Role == "" {
		req.Role = access.RoleParticipant
	}
	now := time.Now()
	exp := now.Add(ttl)
	tok, err := access.SignToken(a.s.tokenSecret, access.Claims{Room: name, Name: req.Name, Role: req.Role, Expires: exp.Unix(), Issued: now.Unix()})
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.s.log.Info("admin API: join token made", "by", by, "room", name, "name", req.Name, "role", req.Role, "expires", exp.UTC().Format(time.RFC3339))
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "expires": exp.Unix()})
}
