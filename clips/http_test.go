package clips

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"parley/configs"
	"parley/internal/testmedia"
)

// uploadClip uploads a short WebM as key and returns the clip.
func uploadClip(t *testing.T, base, room, key string) Clip {
	t.Helper()
	data := testmedia.WebM(t, testmedia.Opus(t, 1), nil, false)
	resp := do(t, "POST", base+"/api/rooms/"+room+"/clips", key, bytes.NewReader(data), "audio/webm")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, readBody(t, resp))
	}
	return decodeClip(t, resp)
}

func listIDs(t *testing.T, base, room, key string) (ids []string, tokens []string) {
	t.Helper()
	resp := do(t, "GET", base+"/api/rooms/"+room+"/clips", key, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d", resp.StatusCode)
	}
	body := readBody(t, resp)
	var l struct {
		Clips []map[string]any `json:"clips"`
	}
	if err := json.Unmarshal(body, &l); err != nil || l.Clips == nil {
		t.Fatalf("list %s: %v", body, err)
	}
	for _, c := range l.Clips {
		if _, ok := c["owner"]; ok {
			t.Errorf("the list shows an owner: %v", c)
		}
		ids = append(ids, c["id"].(string))
		tok, _ := c["draft_token"].(string)
		tokens = append(tokens, tok)
	}
	return ids, tokens
}

func TestHTTPOwnership(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{testRoom(t, "a", nil)})
	srv := server(t, s)
	c := uploadClip(t, srv.URL, "a", "alice")
	u := srv.URL + "/api/rooms/a/clips/" + c.ID
	for _, step := range []struct {
		method, url, key string
		status           int
	}{
		{"DELETE", u, "", http.StatusUnauthorized},
		{"DELETE", u, "bob", http.StatusForbidden},
		{"POST", u + "/publish", "bob", http.StatusForbidden},
		{"POST", u + "/publish", "operator-olga", http.StatusForbidden}, // operators delete, they do not publish
		{"POST", u + "/publish", "alice", http.StatusOK},                // already published: unchanged
		{"DELETE", srv.URL + "/api/rooms/a/clips/" + strings.Repeat("0", 29), "alice", http.StatusNotFound},
		{"DELETE", u, "alice", http.StatusNoContent},
		{"DELETE", u, "alice", http.StatusNotFound},
		{"GET", u, "", http.StatusNotFound},
	} {
		resp := do(t, step.method, step.url, step.key, nil, "")
		if resp.StatusCode != step.status {
			t.Errorf("%s %s as %q: %d, want %d: %s", step.method, step.url, step.key, resp.StatusCode, step.status, readBody(t, resp))
		}
	}
	if n := names(t, clipDir(dir, "a")); len(n) != 0 {
		t.Errorf("left after delete: %v", n)
	}

	// An operator deletes anyone's clip.
	c = uploadClip(t, srv.URL, "a", "alice")
	if resp := do(t, "DELETE", srv.URL+"/api/rooms/a/clips/"+c.ID, "operator-olga", nil, ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("operator DELETE: %d %s", resp.StatusCode, readBody(t, resp))
	}
	if _, found := s.Get("a", c.ID); found {
		t.Error("the clip is still there")
	}
}

func TestHTTPDrafts(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{testRoom(t, "forum", manual)})
	var ev events
	s.SetNotify(ev.add)
	srv := server(t, s)
	c := uploadClip(t, srv.URL, "forum", "alice")
	if c.State != Draft || c.DraftToken == "" {
		t.Fatalf("upload to a manual room: %+v", c)
	}
	media := srv.URL + "/api/rooms/forum/clips/" + c.ID
	stored := mustRead(t, storedPath(dir, c))

	// Others do not see it, the owner does, with the token.
	if ids, _ := listIDs(t, srv.URL, "forum", "bob"); len(ids) != 0 {
		t.Errorf("bob sees %v", ids)
	}
	if ids, _ := listIDs(t, srv.URL, "forum", ""); len(ids) != 0 {
		t.Errorf("anonymous sees %v", ids)
	}
	if ids, toks := listIDs(t, srv.URL, "forum", "alice"); len(ids) != 1 || toks[0] != c.DraftToken {
		t.Errorf("alice sees %v %v", ids, toks)
	}
	for _, step := range []struct {
		url, key string
		status   int
	}{
		{media, "", http.StatusNotFound},
		{media, "bob", http.StatusNotFound},
		{media + "?token=" + strings.Repeat("0", 32), "", http.StatusNotFound},
		{media + "?token=" + c.DraftToken[:31], "", http.StatusNotFound},
		{media + "?token=" + c.DraftToken, "", http.StatusOK},
		{media, "alice", http.StatusOK},
	} {
		resp := do(t, "GET", step.url, step.key, nil, "")
		body := readBody(t, resp)
		if resp.StatusCode != step.status {
			t.Errorf("GET %s as %q: %d, want %d", step.url, step.key, resp.StatusCode, step.status)
		}
		if step.status == http.StatusOK {
			if !bytes.Equal(body, stored) || resp.Header.Get("Cache-Control") != "private, no-store" {
				t.Errorf("draft media: %d bytes, Cache-Control %q", len(body), resp.Header.Get("Cache-Control"))
			}
		}
	}
	// Others cannot publish or delete it: for them it does not exist.
	if resp := do(t, "POST", media+"/publish", "bob", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob publishes: %d", resp.StatusCode)
	}
	if resp := do(t, "DELETE", media, "bob", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob deletes: %d", resp.StatusCode)
	}
	resp := do(t, "POST", media+"/publish", "alice", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish: %d %s", resp.StatusCode, readBody(t, resp))
	}
	if p := decodeClip(t, resp); p.State != Published || p.DraftToken != "" {
		t.Errorf("published: %+v", p)
	}
	if ids, toks := listIDs(t, srv.URL, "forum", "bob"); len(ids) != 1 || toks[0] != "" {
		t.Errorf("after publishing bob sees %v %v", ids, toks)
	}
	resp = do(t, "GET", media, "", nil, "")
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !bytes.Equal(body, stored) {
		t.Fatalf("published media: %d", resp.StatusCode)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "private, max-age=") {
		t.Errorf("Cache-Control %q", cc)
	}
	var types []string
	for _, e := range ev.list() {
		types = append(types, e.Type+"/"+string(e.Clip.State))
	}
	if got := strings.Join(types, " "); got != "clip-added/draft clip-updated/published" {
		t.Errorf("events %s", got)
	}
}

func TestHTTPServeMedia(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{testRoom(t, "a", nil)})
	srv := server(t, s)
	c := uploadClip(t, srv.URL, "a", "alice")
	stored := mustRead(t, storedPath(dir, c))
	media := srv.URL + "/api/rooms/a/clips/" + c.ID

	resp := do(t, "GET", media, "", nil, "")
	readBody(t, resp)
	h := resp.Header
	if h.Get("Content-Type") != c.Mime || h.Get("Content-Disposition") != `inline; filename="a-`+c.ID+`.webm"` ||
		h.Get("Accept-Ranges") != "bytes" || h.Get("ETag") != `"`+c.ID+`"` || h.Get("Last-Modified") == "" {
		t.Errorf("headers %v", h)
	}
	resp = do(t, "GET", media+"?download=1", "", nil, "")
	if d := resp.Header.Get("Content-Disposition"); d != `attachment; filename="a-`+c.ID+`.webm"` {
		t.Errorf("download: %q", d)
	}

	req, _ := http.NewRequest("GET", media, nil)
	req.Header.Set("Range", "bytes=100-199")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	if body := readBody(t, r2); r2.StatusCode != http.StatusPartialContent || !bytes.Equal(body, stored[100:200]) {
		t.Errorf("range: %d, %d bytes", r2.StatusCode, len(body))
	}

	req, _ = http.NewRequest("GET", media, nil)
	req.Header.Set("If-Modified-Since", h.Get("Last-Modified"))
	r3, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r3.Body.Close()
	if r3.StatusCode != http.StatusNotModified {
		t.Errorf("If-Modified-Since: %d", r3.StatusCode)
	}
	if resp := do(t, "HEAD", media, "", nil, ""); resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(stored)) {
		t.Errorf("HEAD: %d, %d", resp.StatusCode, resp.ContentLength)
	}
}

func TestHTTPPathTraversal(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{testRoom(t, "a", nil)})
	srv := server(t, s)
	c := uploadClip(t, srv.URL, "a", "alice")
	// A file next to the data folder that a traversal would reach.
	secret := dir + "/secret.json"
	if err := os.WriteFile(secret, []byte(`{"secret":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	paths := []string{
		"/api/rooms/../clips",
		"/api/rooms/%2e%2e/clips",
		"/api/rooms/%2E%2E%2F%2E%2E/clips",
		"/api/rooms/..%2f..%2fsecret/clips",
		"/api/rooms/%2fetc/clips",
		"/api/rooms/a%00/clips",
		"/api/rooms/%00/clips",
		"/api/rooms/nope/clips",
		"/api/rooms/A/clips",
		"/api/rooms/a/clips/..",
		"/api/rooms/a/clips/%2e%2e",
		"/api/rooms/a/clips/..%2f..%2f..%2fsecret.json",
		"/api/rooms/a/clips/%2fetc%2fpasswd",
		"/api/rooms/a/clips/" + c.ID + "%00",
		"/api/rooms/a/clips/" + c.ID + ".json",
		"/api/rooms/a/clips/" + strings.ToUpper(c.ID),
		"/api/rooms/a/clips/" + c.ID[:28],
		"/api/rooms/a/clips/..%2f" + c.ID,
		"/api/rooms/a/clips/%2e%2e/publish",
	}
	for _, p := range paths {
		for _, method := range []string{"GET", "DELETE", "POST"} {
			target := p
			if method == "POST" && !strings.HasSuffix(p, "/publish") && !strings.HasSuffix(p, "/clips") {
				target = p + "/publish"
			}
			req, err := http.NewRequest(method, srv.URL+target, strings.NewReader("OggS"))
			if err != nil {
				// Some paths do not even parse: they never reach us.
				if _, perr := url.Parse(srv.URL + target); perr == nil {
					t.Fatal(err)
				}
				continue
			}
			req.Header.Set("Authorization", "Bearer alice")
			req.Header.Set("Content-Type", "audio/ogg")
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			resp.Body.Close()
			t.Logf("%-6s %s: %d %s", method, target, resp.StatusCode, bytes.TrimSpace(body))
			switch resp.StatusCode {
			case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
			case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
				// net/http cleans "..": the redirect leads elsewhere.
				if loc := resp.Header.Get("Location"); strings.Contains(loc, "..") {
					t.Errorf("%s %s: redirect to %s", method, target, loc)
				}
			default:
				t.Errorf("%s %s: %d %s", method, target, resp.StatusCode, body)
			}
		}
	}
	if after := tree(t, dir); after != before {
		t.Errorf("the data folder changed:\n%s\nbefore:\n%s", after, before)
	}
	// The store itself refuses such names too.
	for _, bad := range []string{"..", "../a", "/etc", "a/../a", "a\x00"} {
		if _, err := s.List(bad, ""); err == nil {
			t.Errorf("List(%q)", bad)
		}
		if _, err := s.Begin(bad, Clip{}); err == nil {
			t.Errorf("Begin(%q)", bad)
		}
		if _, _, err := s.OpenMedia("a", bad); err == nil {
			t.Errorf("OpenMedia(a, %q)", bad)
		}
		if err := s.Delete("a", bad, "", true); err == nil {
			t.Errorf("Delete(a, %q)", bad)
		}
	}
	if after := tree(t, dir); after != before {
		t.Errorf("the data folder changed:\n%s", after)
	}
}

// TestUploadRate: a caller gets UploadBurst uploads in a row, then 429
// with Retry-After until the bucket refills; others are not affected.
func TestUploadRate(t *testing.T) {
	clk := newClock()
	s := openStore(t, t.TempDir(), []configs.Room{testRoom(t, "a", nil)}, WithClock(clk.Now))
	srv := server(t, s)
	data := testmedia.WebM(t, testmedia.Opus(t, 1), nil, false)
	up := func(key string) *http.Response {
		resp := do(t, "POST", srv.URL+"/api/rooms/a/clips", key, bytes.NewReader(data), "audio/webm")
		readBody(t, resp)
		return resp
	}
	for i := range UploadBurst {
		if resp := up("alice"); resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload %d: %d", i+1, resp.StatusCode)
		}
	}
	resp := up("alice")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("upload over the burst: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := up("bob"); resp.StatusCode != http.StatusCreated {
		t.Errorf("another caller: %d", resp.StatusCode)
	}
	clk.Add(UploadEvery)
	if resp := up("alice"); resp.StatusCode != http.StatusCreated {
		t.Errorf("after the refill: %d", resp.StatusCode)
	}
	if resp := up("alice"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("one refill gives one upload: %d", resp.StatusCode)
	}
}

// members makes a room of the token access mode: its clips are for its
// members only.
func members(r *configs.Room) { r.Access = configs.AccessToken }

// listKeys lists a room's clips as key and returns their keys by id.
func listKeys(t *testing.T, base, room, key string) map[string]string {
	t.Helper()
	resp := do(t, "GET", base+"/api/rooms/"+room+"/clips", key, nil, "")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list %s as %q: %d %s", room, key, resp.StatusCode, body)
	}
	var l struct {
		Clips []Clip `json:"clips"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range l.Clips {
		out[c.ID] = c.Key
	}
	return out
}

// TestHTTPMembersOnly: in a room that is not open, the list needs a
// caller that auth knows (401 with WWW-Authenticate otherwise), and the
// media that or the clip's own key (404 otherwise, exactly as for a clip
// that does not exist). A reader (no owner) reads and changes nothing.
func TestHTTPMembersOnly(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{testRoom(t, "club", members), testRoom(t, "other", members), testRoom(t, "lobby", nil)}, WithMediaKey([]byte("a media key")))
	srv := server(t, s)
	c := uploadClip(t, srv.URL, "club", "alice")
	c2 := uploadClip(t, srv.URL, "club", "alice")
	if c.Key == "" || c.Key != s.Key("club", c.ID) || len(c.Key) != 22 {
		t.Fatalf("the upload's key %q, want %q (22 characters)", c.Key, s.Key("club", c.ID))
	}
	stored := mustRead(t, storedPath(dir, c))
	list := srv.URL + "/api/rooms/club/clips"
	media := list + "/" + c.ID
	missing := list + "/" + strings.Repeat("0", 29)

	resp := do(t, "GET", list, "", nil, "")
	if body := readBody(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") ||
		strings.Contains(string(body), c.ID) || !strings.Contains(string(body), `"error"`) {
		t.Errorf("anonymous list: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	for _, who := range []string{"bob", "reader-rita"} {
		if keys := listKeys(t, srv.URL, "club", who); keys[c.ID] != c.Key || keys[c2.ID] != s.Key("club", c2.ID) {
			t.Errorf("%s lists %v", who, keys)
		}
	}

	notFound := string(readBody(t, do(t, "GET", missing, "", nil, "")))
	for _, step := range []struct {
		url, bearer string
		status      int
	}{
		{media, "", http.StatusNotFound},
		{media + "?key=", "", http.StatusNotFound},
		{media + "?key=" + strings.Repeat("A", 22), "", http.StatusNotFound},
		{media + "?key=" + c.Key[:21], "", http.StatusNotFound},
		{media + "?key=" + c.Key + "A", "", http.StatusNotFound},
		{media + "?key=" + c2.Key, "", http.StatusNotFound},                                   // another clip's key
		{media + "?key=" + s.Key("other", c.ID), "", http.StatusNotFound},                     // the same id in another room
		{media + "?key=" + s.Key("lobby", c.ID), "", http.StatusNotFound},                     // ... an open one
		{media + "?token=" + c.Key, "", http.StatusNotFound},                                  // a key is no draft token
		{missing + "?key=" + s.Key("club", strings.Repeat("0", 29)), "", http.StatusNotFound}, // a good key of no clip
		{media + "?key=" + c.Key, "", http.StatusOK},
		{media + "?key=" + c.Key + "&download=1", "", http.StatusOK},
		{media, "bob", http.StatusOK},
		{media, "reader-rita", http.StatusOK},
	} {
		resp := do(t, "GET", step.url, step.bearer, nil, "")
		body := readBody(t, resp)
		if resp.StatusCode != step.status {
			t.Errorf("GET %s as %q: %d, want %d", step.url, step.bearer, resp.StatusCode, step.status)
			continue
		}
		if step.status == http.StatusOK && !bytes.Equal(body, stored) {
			t.Errorf("GET %s as %q: %d bytes, not the clip", step.url, step.bearer, len(body))
		}
		if step.status == http.StatusNotFound && string(body) != notFound {
			t.Errorf("GET %s: %s, not the answer for a clip that does not exist (%s)", step.url, body, notFound)
		}
	}

	// A reader changes nothing.
	data := testmedia.WebM(t, testmedia.Opus(t, 1), nil, false)
	if resp := do(t, "POST", list, "reader-rita", bytes.NewReader(data), "audio/webm"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a reader uploads: %d", resp.StatusCode)
	}
	if resp := do(t, "DELETE", media, "reader-rita", nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a reader deletes: %d", resp.StatusCode)
	}

	// Open rooms stay public, and their clips carry a key too.
	o := uploadClip(t, srv.URL, "lobby", "alice")
	if keys := listKeys(t, srv.URL, "lobby", ""); keys[o.ID] == "" || keys[o.ID] != o.Key {
		t.Errorf("open room's list: %v", keys)
	}
	if resp := do(t, "GET", srv.URL+"/api/rooms/lobby/clips/"+o.ID, "", nil, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("open room's media: %d", resp.StatusCode)
	}

	// The key is derived, not stored; the same media key gives the same
	// keys after a restart, another one other keys.
	if b := mustRead(t, filepath.Join(clipDir(dir, "club"), c.ID+".json")); strings.Contains(string(b), c.Key) {
		t.Errorf("the key is stored: %s", b)
	}
	s.Close()
	again := openStore(t, dir, []configs.Room{testRoom(t, "club", members)}, WithMediaKey([]byte("a media key")))
	if got, ok := again.Get("club", c.ID); !ok || got.Key != c.Key || !again.CheckKey("club", c.ID, c.Key) {
		t.Errorf("after a restart: %q, want %q", got.Key, c.Key)
	}
	again.Close()
	other := openStore(t, dir, []configs.Room{testRoom(t, "club", members)}, WithMediaKey([]byte("another key")))
	if other.CheckKey("club", c.ID, c.Key) || other.Key("club", c.ID) == c.Key {
		t.Error("another media key accepts the old keys")
	}
	if other.CheckKey("club", "..", "") || other.Key("nope", c.ID) != "" {
		t.Error("a key for a bad id or an unknown room")
	}
}

// TestHTTPKeyNeverOpensDraft: a draft's key does not open it, in a
// members-only room or an open one; once published, the same key does.
func TestHTTPKeyNeverOpensDraft(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{
		testRoom(t, "forum", func(r *configs.Room) { manual(r); members(r) }),
		testRoom(t, "open", manual),
	})
	var ev events
	s.SetNotify(ev.add)
	srv := server(t, s)
	for _, room := range []string{"forum", "open"} {
		c := uploadClip(t, srv.URL, room, "alice")
		if c.State != Draft || c.Key == "" {
			t.Fatalf("%s: %+v", room, c)
		}
		media := srv.URL + "/api/rooms/" + room + "/clips/" + c.ID
		for _, bearer := range []string{"", "bob", "reader-rita"} {
			if resp := do(t, "GET", media+"?key="+c.Key, bearer, nil, ""); resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: the draft's key as %q opens it: %d", room, bearer, resp.StatusCode)
			}
		}
		if resp := do(t, "GET", media+"?key="+c.Key+"&token="+c.DraftToken, "", nil, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: the draft token with the key: %d", room, resp.StatusCode)
		}
		if resp := do(t, "POST", media+"/publish", "alice", nil, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("publish: %d", resp.StatusCode)
		}
		if resp := do(t, "GET", media+"?key="+c.Key, "", nil, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: the key of the published clip: %d", room, resp.StatusCode)
		}
	}
	// Every event's clip carries its key.
	for _, e := range ev.list() {
		if e.Type != EventRemoved && e.Clip.Key != s.Key(e.Clip.Room, e.Clip.ID) {
			t.Errorf("%s of %s: key %q", e.Type, e.Clip.ID, e.Clip.Key)
		}
	}
}

// TestHTTPErrorCodes: every refusal carries its stable code beside its
// message (docs/protocol.md, Errors of the clip API), so that a client can
// say it in its user's language.
func TestHTTPErrorCodes(t *testing.T) {
	s := openStore(t, t.TempDir(), []configs.Room{
		testRoom(t, "a", func(r *configs.Room) { r.MaxClipBytes = 64 << 10 }),
		testRoom(t, "m", members),
	})
	srv := server(t, s)
	c := uploadClip(t, srv.URL, "a", "alice")
	base := srv.URL + "/api/rooms/"
	webm := testmedia.WebM(t, testmedia.Opus(t, 1), nil, false)
	for _, step := range []struct {
		method, url, key string
		body             []byte
		contentType      string
		status           int
		code             string
	}{
		{"GET", base + "a.b/clips", "", nil, "", http.StatusBadRequest, "bad-room"},
		{"GET", base + "nowhere/clips", "", nil, "", http.StatusNotFound, "no-room"},
		{"GET", base + "a/clips/xyz", "", nil, "", http.StatusBadRequest, "bad-clip-id"},
		{"GET", base + "m/clips", "", nil, "", http.StatusUnauthorized, "members-only"},
		{"GET", base + "a/clips/" + strings.Repeat("0", 29), "", nil, "", http.StatusNotFound, "no-such-clip"},
		{"POST", base + "a/clips", "", webm, "audio/webm", http.StatusUnauthorized, "join-first"},
		{"DELETE", base + "a/clips/" + c.ID, "bob", nil, "", http.StatusForbidden, "forbidden"},
		{"POST", base + "a/clips", "alice", []byte("hello"), "text/plain", http.StatusUnsupportedMediaType, "unsupported-media"},
		{"POST", base + "a/clips", "alice", []byte("\x1a\x45\xdf\xa3 not really a WebM"), "audio/webm", http.StatusUnprocessableEntity, "bad-media"},
		{"POST", base + "a/clips", "alice", make([]byte, 65<<10), "audio/webm", http.StatusRequestEntityTooLarge, "too-large"},
	} {
		var body io.Reader
		if step.body != nil {
			body = bytes.NewReader(step.body)
		}
		resp := do(t, step.method, step.url, step.key, body, step.contentType)
		raw := readBody(t, resp)
		var got struct{ Error, Code string }
		if err := json.Unmarshal(raw, &got); err != nil || resp.StatusCode != step.status || got.Code != step.code || got.Error == "" {
			t.Errorf("%s %s: %d %s, want %d with code %q and a message", step.method, step.url, resp.StatusCode, raw, step.status, step.code)
		}
	}
}
