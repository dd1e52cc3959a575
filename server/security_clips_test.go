package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"parley/access"
	"parley/client"
	"parley/configs"
)

// keyedClip is a clip of the API with its media key.
type keyedClip struct {
	ID         string `json:"id"`
	Room       string `json:"room"`
	Author     string `json:"author"`
	State      string `json:"state"`
	Key        string `json:"key"`
	DraftToken string `json:"draft_token"`
}

// uploadKeyed uploads the test recording to room as the owner key bearer.
func (s *testServer) uploadKeyed(t *testing.T, room, bearer string) keyedClip {
	t.Helper()
	body, err := os.ReadFile("testdata/mediarecorder-opus.webm")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+s.Addr().String()+"/api/rooms/"+room+"/clips", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "audio/webm")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c keyedClip
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload to %s: %s %v", room, resp.Status, err)
	}
	if c.Key == "" {
		t.Errorf("upload to %s: no key in %+v", room, c)
	}
	return c
}

// listClips GETs a room's clips with an optional bearer: the status, the
// clips, and the body.
func (s *testServer) listClips(t *testing.T, room, bearer string) (*http.Response, []keyedClip, string) {
	t.Helper()
	resp, body := s.fetch(t, "GET", "/api/rooms/"+room+"/clips", bearer, nil)
	var l struct {
		Clips []keyedClip `json:"clips"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatalf("list %s: %v: %s", room, err, body)
		}
	}
	return resp, l.Clips, string(body)
}

// mediaKey is what the server's key for a clip must be: the first 16
// bytes of MAC(DeriveKey(token secret, "clip-media"), room, id), base64url.
func mediaKey(room, id string) string {
	return base64.RawURLEncoding.EncodeToString(access.MAC(access.DeriveKey([]byte(testTokenSecret), "clip-media"), room, id)[:16])
}

// membersServer has two password rooms (chat, and forum with drafts), a
// token room (videochat) and open ones (walkie, live).
func membersServer(t *testing.T, burst int) *testServer {
	pass := testHash(t, "room pass")
	return startServer(t, func(cfg *configs.Server, rooms []configs.Room) {
		cfg.Auth.TokenSecret = testTokenSecret
		cfg.Auth.FailureBurst = burst
		cfg.Auth.FailuresPerMinute = 0.001
		for i := range rooms {
			switch rooms[i].Name {
			case "chat", "forum":
				rooms[i].Access, rooms[i].Password = configs.AccessPassword, pass
			case "videochat":
				rooms[i].Access = configs.AccessToken
			}
		}
	})
}

// TestMembersOnlyClips: the clips of a password or token room are for its
// members. Without a member's credential nobody lists them (401) or
// fetches their media (404, as for a clip that does not exist), whatever
// key they try; a participant's owner key, a join token for the room, or
// the clip's own key from the list opens them. Open rooms stay public.
func TestMembersOnlyClips(t *testing.T) {
	srv := membersServer(t, 1000)
	_, aj, code := srv.joinAs(t, "chat", "ann", client.Options{Password: "room pass"})
	if code != "" {
		t.Fatalf("ann joins: %s", code)
	}
	bob, bj, _ := srv.joinAs(t, "chat", "bob", client.Options{Password: "room pass"})
	_, tj, code := srv.joinAs(t, "videochat", "", client.Options{Token: token(t, access.Claims{Room: "videochat", Name: "tim"})})
	if code != "" {
		t.Fatalf("tim joins: %s", code)
	}
	a := srv.uploadKeyed(t, "chat", aj.OwnerKey)
	a2 := srv.uploadKeyed(t, "chat", aj.OwnerKey)
	v := srv.uploadKeyed(t, "videochat", tj.OwnerKey)
	if a.Key != mediaKey("chat", a.ID) {
		t.Errorf("the key is %q, want %q", a.Key, mediaKey("chat", a.ID))
	}
	// The room hears of the clip with its key.
	m, err := bob.WaitFor(timeout(t, 5*time.Second), "clip-added")
	if err != nil {
		t.Fatal(err)
	}
	var ev struct{ Clip keyedClip }
	_ = m.Decode(&ev)
	if ev.Clip.ID != a.ID || ev.Clip.Key != a.Key {
		t.Errorf("clip-added: %+v, want id %s key %s", ev.Clip, a.ID, a.Key)
	}

	media := func(room, id string) string { return "/api/rooms/" + room + "/clips/" + id }
	chatToken := token(t, access.Claims{Room: "chat", Name: "rita"})
	videoToken := token(t, access.Claims{Room: "videochat", Name: "rita"})
	expired := token(t, access.Claims{Room: "chat", Name: "rita", Expires: time.Now().Add(-time.Minute).Unix()})
	for _, tc := range []struct {
		room        string
		clip, other keyedClip
		member      string // a participant's owner key
		reader      string // a join token for the room
		foreign     string // a join token for another room
	}{
		{"chat", a, a2, bj.OwnerKey, chatToken, videoToken},
		{"videochat", v, a, tj.OwnerKey, videoToken, chatToken},
	} {
		_, want := srv.fetch(t, "GET", media(tc.room, tc.clip.ID), tc.member, nil)
		if len(want) < 1000 {
			t.Fatalf("%s: the member's media is %d bytes", tc.room, len(want))
		}
		// Nobody without a credential lists the room's clips.
		for _, bearer := range []string{"", tc.foreign, expired, "an-owner-key-of-nobody-in-the-room", tc.reader[:len(tc.reader)-2] + "xx"} {
			resp, _, body := srv.listClips(t, tc.room, bearer)
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") ||
				!strings.Contains(body, `"error"`) || strings.Contains(body, tc.clip.ID) || strings.Contains(body, tc.clip.Author) {
				t.Errorf("%s: list with %.20q: %s %q %s", tc.room, bearer, resp.Status, resp.Header.Get("WWW-Authenticate"), body)
			}
		}
		// Nor its media, whatever the key; the answer is the one for a
		// clip that does not exist.
		_, notFound := srv.fetch(t, "GET", media(tc.room, strings.Repeat("0", 29)), "", nil)
		u := media(tc.room, tc.clip.ID)
		for _, attempt := range []struct{ path, bearer string }{
			{u, ""},
			{u + "?key=", ""},
			{u + "?key=" + strings.Repeat("A", 22), ""},
			{u + "?key=" + tc.clip.Key[:len(tc.clip.Key)/2], ""}, // half of it
			{u + "?key=" + tc.other.Key, ""},                     // another clip's key
			{u + "?key=" + mediaKey("walkie", tc.clip.ID), ""},   // the same id in another room
			{u + "?key=" + mediaKey("forum", tc.clip.ID), ""},
			{u + "?token=" + tc.clip.Key, ""}, // a key is no draft token
			{u + "?download=1", ""},
			{u, tc.foreign},
			{u, expired},
			{u, "an-owner-key-of-nobody-in-the-room"},
			{u + "?key=" + tc.other.Key, tc.foreign},
			{media(tc.room, strings.Repeat("0", 29)) + "?key=" + mediaKey(tc.room, strings.Repeat("0", 29)), ""}, // a good key, no clip
		} {
			resp, body := srv.fetch(t, "GET", attempt.path, attempt.bearer, nil)
			if resp.StatusCode != http.StatusNotFound || !bytes.Equal(body, notFound) {
				t.Errorf("%s: GET %s with %.20q: %s, %d bytes; want 404 %s", tc.room, attempt.path, attempt.bearer, resp.Status, len(body), notFound)
			}
		}
		// A member and a join token's holder list the clips, with keys.
		for _, bearer := range []string{tc.member, tc.reader} {
			resp, list, body := srv.listClips(t, tc.room, bearer)
			if resp.StatusCode != http.StatusOK || len(list) == 0 {
				t.Fatalf("%s: list with %.20q: %s %s", tc.room, bearer, resp.Status, body)
			}
			for _, c := range list {
				if c.Key != mediaKey(tc.room, c.ID) {
					t.Errorf("%s: listed clip %s has key %q", tc.room, c.ID, c.Key)
				}
			}
			if resp, body := srv.fetch(t, "GET", u, bearer, nil); resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
				t.Errorf("%s: media with %.20q: %s", tc.room, bearer, resp.Status)
			}
		}
		// The key from the list opens the media with no header, for
		// <audio src> and download links.
		_, list, _ := srv.listClips(t, tc.room, tc.reader)
		for _, c := range list {
			if c.ID != tc.clip.ID {
				continue
			}
			for _, q := range []string{"?key=" + c.Key, "?key=" + c.Key + "&download=1"} {
				if resp, body := srv.fetch(t, "GET", u+q, "", nil); resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
					t.Errorf("%s: media with its key: %s", tc.room, resp.Status)
				}
			}
		}
		// A join token reads; it changes nothing.
		if resp, _ := srv.fetch(t, "DELETE", u, tc.reader, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: DELETE with a join token: %s", tc.room, resp.Status)
		}
		if resp, _ := srv.fetch(t, "POST", "/api/rooms/"+tc.room+"/clips", tc.reader, strings.NewReader("OggS")); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: upload with a join token: %s", tc.room, resp.Status)
		}
	}

	// An owner key works while its holder is in the room, not after.
	bob.Close()
	eventually(t, 5*time.Second, "bob's key still lists the clips after he left", func() bool {
		resp, _, _ := srv.listClips(t, "chat", bj.OwnerKey)
		return resp.StatusCode == http.StatusUnauthorized
	})
	if resp, _ := srv.fetch(t, "GET", media("chat", a.ID), bj.OwnerKey, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("media with the key of someone who left: %s", resp.Status)
	}

	// Open rooms stay public.
	_, wj := srv.join(t, "walkie", "uma", client.Options{})
	w := srv.uploadKeyed(t, "walkie", wj.OwnerKey)
	resp, list, body := srv.listClips(t, "walkie", "")
	if resp.StatusCode != http.StatusOK || len(list) != 1 || list[0].ID != w.ID || list[0].Key != w.Key {
		t.Errorf("open room's list: %s %s", resp.Status, body)
	}
	if resp, _ := srv.fetch(t, "GET", media("walkie", w.ID), "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("open room's media: %s", resp.Status)
	}
}

// TestClipKeyNeverOpensDraft: in a password room, a draft's key opens it
// for nobody, member or not; its owner and its draft token still do, and
// once it is published the same key opens it.
func TestClipKeyNeverOpensDraft(t *testing.T) {
	srv := membersServer(t, 1000)
	_, aj, code := srv.joinAs(t, "forum", "ann", client.Options{Password: "room pass"})
	if code != "" {
		t.Fatalf("ann joins: %s", code)
	}
	_, bj, _ := srv.joinAs(t, "forum", "bob", client.Options{Password: "room pass"})
	d := srv.uploadKeyed(t, "forum", aj.OwnerKey)
	if d.State != "draft" || d.DraftToken == "" {
		t.Fatalf("an upload to the forum: %+v", d)
	}
	u := "/api/rooms/forum/clips/" + d.ID
	for _, bearer := range []string{"", bj.OwnerKey, token(t, access.Claims{Room: "forum", Name: "rita"})} {
		if resp, _ := srv.fetch(t, "GET", u+"?key="+d.Key, bearer, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("the draft's key with %.20q: %s", bearer, resp.Status)
		}
	}
	if _, list, _ := srv.listClips(t, "forum", bj.OwnerKey); len(list) != 0 {
		t.Errorf("bob lists ann's draft: %+v", list)
	}
	if resp, _ := srv.fetch(t, "GET", u, aj.OwnerKey, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the owner: %s", resp.Status)
	}
	if resp, _ := srv.fetch(t, "GET", u+"?token="+d.DraftToken+"&key="+d.Key, "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the draft token: %s", resp.Status)
	}
	if resp, body := srv.fetch(t, "POST", u+"/publish", aj.OwnerKey, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("publish: %s %s", resp.Status, body)
	}
	if resp, _ := srv.fetch(t, "GET", u+"?key="+d.Key, "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the key of the published clip: %s", resp.Status)
	}
}

// TestRoomListPresence: the room list shows a password or token room's
// settings but not how many are in it; open rooms show their count, and
// members learn theirs when they join.
func TestRoomListPresence(t *testing.T) {
	srv := membersServer(t, 1000)
	if _, _, code := srv.joinAs(t, "chat", "ann", client.Options{Password: "room pass"}); code != "" {
		t.Fatalf("ann joins: %s", code)
	}
	srv.join(t, "walkie", "uma", client.Options{})
	type room struct {
		Name         string `json:"name"`
		Title        string `json:"title"`
		Mode         string `json:"mode"`
		Access       string `json:"access"`
		MaxClipBytes int64  `json:"max_clip_bytes"`
		Participants *int   `json:"participants"`
	}
	_, body := srv.fetch(t, "GET", "/api/rooms", "", nil)
	var l struct{ Rooms []room }
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, r := range l.Rooms {
		switch r.Name {
		case "chat", "forum", "videochat":
			seen++
			if r.Participants != nil || r.Mode == "" || r.Access == "" || r.MaxClipBytes == 0 {
				t.Errorf("%s: %+v, participants shown: %v", r.Name, r, r.Participants != nil)
			}
		case "walkie":
			seen++
			if r.Participants == nil || *r.Participants != 1 {
				t.Errorf("walkie: participants %v, want 1", r.Participants)
			}
		}
	}
	if seen != 4 || strings.Contains(string(body), `"password":`) || strings.Contains(string(body), `"passwords":`) {
		t.Errorf("room list: %s", body)
	}
	for name, want := range map[string]bool{"chat": false, "videochat": false, "walkie": true} {
		_, body := srv.fetch(t, "GET", "/api/rooms/"+name, "", nil)
		var r room
		if err := json.Unmarshal(body, &r); err != nil || r.Name != name {
			t.Fatalf("room %s: %v %s", name, err, body)
		}
		if (r.Participants != nil) != want {
			t.Errorf("room %s shows participants: %v, want %v: %s", name, r.Participants != nil, want, body)
		}
	}
}

// TestClipTokenFailures: failed join tokens on the clip API count against
// the client's address like failed joins; past the burst, even a good
// token is refused from that address.
func TestClipTokenFailures(t *testing.T) {
	srv := membersServer(t, 3)
	good := token(t, access.Claims{Room: "chat", Name: "rita"})
	if resp, _, _ := srv.listClips(t, "chat", good); resp.StatusCode != http.StatusOK {
		t.Fatalf("a good token: %s", resp.Status)
	}
	bad := good[:len(good)-2] + "xx"
	for range 3 {
		if resp, _, _ := srv.listClips(t, "chat", bad); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a bad token: %s", resp.Status)
		}
	}
	if resp, _, _ := srv.listClips(t, "chat", good); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a good token after the failures: %s", resp.Status)
	}
	if _, _, code := srv.joinAs(t, "chat", "pat", client.Options{Password: "room pass"}); code != "too-many-attempts" {
		t.Errorf("a join after the failures: %q", code)
	}
}
