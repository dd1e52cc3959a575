package signaling

import (
	"context"
	"io"
	"net/http"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"parley/access"
	wsclient "parley/client"
	"parley/clips"
	"parley/configs"
	"parley/internal/testmedia"
	"parley/sfu"
)

// whipPeer is a WHIP encoder: a send-only WebRTC connection of one Opus
// track, its offer made and its candidates gathered.
type whipPeer struct {
	pc    *webrtc.PeerConnection
	audio *webrtc.TrackLocalStaticSample
}

func newWHIPPeer(t *testing.T) *whipPeer {
	t.Helper()
	api, err := wsclient.NewAPI(wsclient.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	audio, err := webrtc.NewTrackLocalStaticSample(testmedia.OpusCodec.RTPCodecCapability, "audio", "whip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return &whipPeer{pc: pc, audio: audio}
}

func (p *whipPeer) offer() string { return p.pc.LocalDescription().SDP }

// connect applies the server's answer and waits until the connection is
// up.
func (p *whipPeer) connect(t *testing.T, answer string) {
	t.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for p.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("the WHIP connection is %s", p.pc.ConnectionState())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// whipDo makes a request of the test server with a body, a content type
// and an Authorization header ("" for none) and returns the response
// with its body.
func whipDo(t *testing.T, method, url, ctype, authz, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(timeout(t), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// whipPost posts an offer to /whip/{path}.
func whipPost(t *testing.T, ts string, path, authz, sdp string) (*http.Response, string) {
	t.Helper()
	return whipDo(t, http.MethodPost, ts+"/whip/"+path, "application/sdp", authz, sdp)
}

// TestWHIPRefusals: a WHIP offer is admitted by the rules of a join and
// refused with the documented statuses.
func TestWHIPRefusals(t *testing.T) {
	h := accessHubWith(t, func(c *Config, rooms []configs.Room) {
		roomConfig(rooms, "walkie", func(r *configs.Room) { r.MaxParticipants = 1 })
		c.WHIPConnectTimeout = time.Minute
	})
	ts := serve(t, h)
	holder, solo, olga, watcher := newClient(t, h), newClient(t, h), newClient(t, h), newClient(t, h)
	holder.join("chat", "taken", nil)
	watcher.join("chat", "watcher", nil)
	solo.join("walkie", "solo", nil)
	olga.join("videochat", "olga", map[string]string{"password": "op pass"})
	olga.do(map[string]string{"type": "close-room"})
	olga.expect(TypeRoomState)
	expired, err := access.SignToken([]byte(testSecret), access.Claims{Room: "live", Name: "cam", Expires: time.Now().Add(-time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(tok string) string { return "Bearer " + tok }
	for _, tc := range []struct {
		what, path, ctype, authz, body string
		status                         int
		challenge                      bool // WWW-Authenticate
	}{
		{"unknown room", "nope", "application/sdp", "", "v=0", http.StatusNotFound, false},
		{"not sdp", "chat", "text/plain", "", "v=0", http.StatusUnsupportedMediaType, false},
		{"offer too big", "chat", "application/sdp", "", strings.Repeat("a", 70<<10), http.StatusRequestEntityTooLarge, false},
		{"bad name", "chat?name=%3Cx%3E", "application/sdp", "", "v=0", http.StatusBadRequest, false},
		{"bad offer", "chat?name=cam", "application/sdp", "", "garbage", http.StatusBadRequest, false},
		{"name taken", "chat?name=TAKEN", "application/sdp", "", "v=0", http.StatusConflict, false},
		{"room full", "walkie?name=cam", "application/sdp", "", "v=0", http.StatusServiceUnavailable, false},
		{"token room without token", "live?name=cam", "application/sdp", "", "v=0", http.StatusUnauthorized, false},
		{"token of another room", "live", "application/sdp", bearer(signedToken(t, "chat", "cam", "")), "v=0", http.StatusUnauthorized, false},
		{"expired token", "live", "application/sdp", bearer(expired), "v=0", http.StatusUnauthorized, false},
		{"token of another name", "live?name=cat", "application/sdp", bearer(signedToken(t, "live", "cam", "")), "v=0", http.StatusUnauthorized, false},
		{"password room", "forum?name=cam", "application/sdp", "", "v=0", http.StatusUnauthorized, true},
		{"a name with its own password", "videochat?name=ann", "application/sdp", "", "v=0", http.StatusUnauthorized, true},
		{"operator's name", "chat?name=Olga", "application/sdp", "", "v=0", http.StatusUnauthorized, true},
		{"bearer neither token nor key", "chat?name=cam", "application/sdp", "Bearer not a key", "v=0", http.StatusUnauthorized, false},
		{"closed room", "videochat", "application/sdp", bearer(signedToken(t, "videochat", "cam", "")), "v=0", http.StatusForbidden, false},
	} {
		resp, body := whipDo(t, http.MethodPost, ts.URL+"/whip/"+tc.path, tc.ctype, tc.authz, tc.body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s %q, want %d", tc.what, resp.Status, body, tc.status)
		}
		if got := resp.Header.Get("WWW-Authenticate") != ""; tc.challenge && !got {
			t.Errorf("%s: no WWW-Authenticate", tc.what)
		}
		if resp.Header.Get("Location") != "" {
			t.Errorf("%s: a refusal gives a Location", tc.what)
		}
	}
	// The bad offer was admitted, then ended: its name is free again.
	got := types(watcher.got())
	if !sameList(got, []string{TypeParticipantJoined, TypeParticipantLeft}) {
		t.Errorf("the room saw %v of the bad offer", got)
	}
	newClient(t, h).join("chat", "cam", nil)
}

// TestWHIPFailedCredentialsLimited: failed WHIP credentials count
// against the address like failed joins: past the burst, even a good
// token is refused with 429.
func TestWHIPFailedCredentialsLimited(t *testing.T) {
	h := accessHubWith(t, func(c *Config, _ []configs.Room) { c.Auth.Failures = access.NewLimiter(0.001, 1) })
	ts := serve(t, h)
	if resp, _ := whipPost(t, ts.URL, "live", "Bearer x.y.z", "v=0"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a bad token: %s", resp.Status)
	}
	if resp, _ := whipPost(t, ts.URL, "live", "Bearer "+signedToken(t, "live", "cam", ""), "v=0"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a good token after the burst of failures: %s, want 429", resp.Status)
	}
}

// TestWHIPStartsLimited: past the burst of WHIP sessions started from one
// address, the next is refused with 429 and Retry-After.
func TestWHIPStartsLimited(t *testing.T) {
	h := newHub(t, func(c *Config, _ []configs.Room) { c.Auth.WHIPStarts = access.NewLimiter(0.001, 2) })
	ts := serve(t, h)
	for i := range 2 {
		if resp, _ := whipPost(t, ts.URL, "chat?name=cam", "", "garbage"); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("start %d: %s", i, resp.Status)
		}
	}
	resp, _ := whipPost(t, ts.URL, "chat?name=cam", "", "garbage")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a start past the burst: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
}

// TestWHIPConnectionsPerAddress: WHIP sessions count with websockets
// toward max_connections_per_ip; a session that ends gives its place
// back.
func TestWHIPConnectionsPerAddress(t *testing.T) {
	h := newHub(t, func(c *Config, _ []configs.Room) { c.Auth.MaxConnectionsPerIP = 1 })
	ts := serve(t, h)
	conn, status := dialWS(t, wsURL(ts), nil)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("websocket: %d", status)
	}
	if resp, _ := whipPost(t, ts.URL, "chat?name=cam", "", "garbage"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("WHIP beside a websocket from one address: %s, want 429", resp.Status)
	}
	if err := conn.WriteJSON(map[string]string{"type": "leave"}); err != nil {
		t.Fatal(err)
	}
	readUntilClose(t, conn)
	deadline := time.Now().Add(wait)
	for {
		resp, _ := whipPost(t, ts.URL, "chat?name=cam", "", "garbage")
		if resp.StatusCode == http.StatusBadRequest {
			break // admitted and counted; the bad offer ended it
		}
		if resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after the websocket closed: %s", resp.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The ended session gave its place back.
	if resp, _ := whipPost(t, ts.URL, "chat?name=cam", "", "garbage"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("after a WHIP session ended: %s", resp.Status)
	}
}

// TestWHIPSession: an offer makes a member of the room under its name,
// answered 201 with the SDP answer and a secret Location; the session's
// clips belong to the owner key given as its bearer token; it takes no
// calls; it is ended by DELETE with the offer's Authorization only; PATCH
// takes only trickle-ice-sdpfrag.
func TestWHIPSession(t *testing.T) {
	h := newHub(t, func(c *Config, _ []configs.Room) { c.WHIPConnectTimeout = time.Minute })
	ts := serve(t, h)
	watcher := newClient(t, h)
	watcher.join("chat", "watcher", nil)
	key := newKey()
	authz := "Bearer " + key
	resp, answer := whipPost(t, ts.URL, "chat?name=obs", authz, newWHIPPeer(t).offer())
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/sdp" || !strings.HasPrefix(answer, "v=0") {
		t.Fatalf("POST: %s %s %q", resp.Status, resp.Header, answer)
	}
	joined := watcher.expect(TypeParticipantJoined)[0]
	obsID := field(joined, "participant", "id")
	if field(joined, "participant", "name") != "obs" || !strings.HasPrefix(loc, "/whip/chat/") || strings.Contains(loc, obsID) {
		t.Errorf("joined %v at %s", joined, loc)
	}

	req := httptestRequest(authz)
	if caller, ok := h.ClipAuth(req, "chat"); !ok || caller.Owner != clips.OwnerOf(key) || caller.Author != "obs" {
		t.Errorf("the WHIP session's owner key gives %+v, %v", caller, ok)
	}
	watcher.do(map[string]string{"type": "call", "to": obsID})
	if got := watcher.expect(TypeCallEnded)[0]; got["reason"] != CallBusy {
		t.Errorf("a call to a WHIP publisher: %v", got)
	}

	for _, tc := range []struct {
		method, path, authz string
		status              int
	}{
		{http.MethodPatch, loc, authz, http.StatusUnsupportedMediaType},
		{http.MethodPut, loc, authz, http.StatusMethodNotAllowed},
		{http.MethodDelete, loc, "", http.StatusUnauthorized},
		{http.MethodDelete, loc, "Bearer " + newKey(), http.StatusUnauthorized},
		{http.MethodDelete, strings.Replace(loc, "/chat/", "/walkie/", 1), authz, http.StatusNotFound},
		{http.MethodDelete, "/whip/chat/" + obsID, authz, http.StatusNotFound},
	} {
		resp, _ := whipDo(t, tc.method, ts.URL+tc.path, "", tc.authz, "")
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %s, want %d", tc.method, tc.path, resp.Status, tc.status)
		}
		if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "PATCH, DELETE" {
			t.Errorf("%s: Allow %q", tc.method, resp.Header.Get("Allow"))
		}
	}
	watcher.expect()

	if resp, _ := whipDo(t, http.MethodDelete, ts.URL+loc, "", authz, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	if got := watcher.expect(TypeParticipantLeft)[0]; field(got, "participant", "id") != obsID {
		t.Errorf("the room saw %v", got)
	}
	if resp, _ := whipDo(t, http.MethodDelete, ts.URL+loc, "", authz, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a second DELETE: %s", resp.Status)
	}
	if _, ok := h.ClipAuth(httptestRequest(authz), "chat"); ok {
		t.Error("the owner key still works after the session ended")
	}

	// Without an Authorization, DELETE needs none.
	resp, _ = whipPost(t, ts.URL, "chat", "", newWHIPPeer(t).offer())
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", resp.Status)
	}
	if got := watcher.expect(TypeParticipantJoined)[0]; field(got, "participant", "name") != "whip" {
		t.Errorf("a WHIP session without a name is %v", got)
	}
	if resp, _ := whipDo(t, http.MethodDelete, ts.URL+resp.Header.Get("Location"), "", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("DELETE: %s", resp.Status)
	}
}

func httptestRequest(authz string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "/api/rooms/chat/clips", nil)
	r.Header.Set("Authorization", authz)
	r.RemoteAddr = "192.0.2.1:1234"
	return r
}

// TestWHIPToken: a join token as the bearer token names the publisher and
// admits it to a token room; ?name= may repeat the name.
func TestWHIPToken(t *testing.T) {
	h := accessHubWith(t, func(c *Config, _ []configs.Room) { c.WHIPConnectTimeout = time.Minute })
	ts := serve(t, h)
	watcher := newClient(t, h)
	watcher.join("live", "", map[string]string{"token": signedToken(t, "live", "watcher", "")})
	tok := "Bearer " + signedToken(t, "live", "Cam", "")
	for _, path := range []string{"live", "live?name=CAM"} {
		resp, _ := whipPost(t, ts.URL, path, tok, newWHIPPeer(t).offer())
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %s", path, resp.Status)
		}
		if got := watcher.waitFor(TypeParticipantJoined); field(got, "participant", "name") != "Cam" {
			t.Errorf("POST %s: the room saw %v", path, got)
		}
		if resp, _ := whipDo(t, http.MethodDelete, ts.URL+resp.Header.Get("Location"), "", tok, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("DELETE: %s", resp.Status)
		}
		watcher.waitFor(TypeParticipantLeft)
	}
}

// TestWHIPSentAway: a WHIP publisher is ended, like any member, when an
// operator kicks it, when someone proves its name, and when an operator
// closes the room; its Location is then gone.
func TestWHIPSentAway(t *testing.T) {
	h := accessHubWith(t, func(c *Config, _ []configs.Room) { c.WHIPConnectTimeout = time.Minute })
	ts := serve(t, h)
	// Olga, an operator, watches: close-room does not send her away.
	olga := newClient(t, h)
	olga.join("chat", "olga", map[string]string{"password": "op pass"})
	watcher := olga
	start := func(name string) (id, loc string) {
		t.Helper()
		resp, _ := whipPost(t, ts.URL, "chat?name="+name, "", newWHIPPeer(t).offer())
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %s", resp.Status)
		}
		got := watcher.waitFor(TypeParticipantJoined)
		return field(got, "participant", "id"), resp.Header.Get("Location")
	}
	gone := func(what, id, loc string) {
		t.Helper()
		if got := watcher.waitFor(TypeParticipantLeft); field(got, "participant", "id") != id {
			t.Errorf("%s: the room saw %v", what, got)
		}
		if resp, _ := whipDo(t, http.MethodDelete, ts.URL+loc, "", "", ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: DELETE after: %s", what, resp.Status)
		}
	}

	id, loc := start("obs")
	olga.do(map[string]string{"type": "kick", "to": id})
	gone("kicked", id, loc)

	id, loc = start("cam")
	proven := newClient(t, h)
	proven.join("chat", "", map[string]string{"token": signedToken(t, "chat", "cam", "")})
	gone("name proven", id, loc)
	watcher.waitFor(TypeParticipantJoined)

	id, loc = start("obs2")
	olga.do(map[string]string{"type": "close-room"})
	gone("room closed", id, loc)
	olga.do(map[string]string{"type": "open-room"})
	olga.waitFor(TypeRoomState)

}

// TestWHIPShutdown: the server's shutdown ends WHIP sessions, and refuses
// new ones with 503.
func TestWHIPShutdown(t *testing.T) {
	h := buildHub(t, func(c *Config, _ []configs.Room) { c.WHIPConnectTimeout = time.Minute })
	ts := serve(t, h)
	watcher := newClient(t, h)
	watcher.join("chat", "watcher", nil)
	resp, _ := whipPost(t, ts.URL, "chat?name=obs", "", newWHIPPeer(t).offer())
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	watcher.expect(TypeParticipantJoined)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	watcher.expect(TypeParticipantLeft)
	if resp, _ := whipDo(t, http.MethodDelete, ts.URL+loc, "", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE after shutdown: %s", resp.Status)
	}
	if resp, _ := whipPost(t, ts.URL, "chat?name=late", "", newWHIPPeer(t).offer()); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST after shutdown: %s, want 503", resp.Status)
	}
}

// TestWHIPNoMedia: a WHIP session that has not connected within the
// connect timeout of its offer is ended; one that connected is not.
func TestWHIPNoMedia(t *testing.T) {
	// Long enough for a loopback connection on a busy machine: the
	// connected session must connect within it.
	const connectTimeout = 3 * time.Second
	h := newHub(t, func(c *Config, _ []configs.Room) { c.WHIPConnectTimeout = connectTimeout })
	ts := serve(t, h)
	watcher := newClient(t, h)
	watcher.join("live", "watcher", nil)

	live := newWHIPPeer(t)
	resp, answer := whipPost(t, ts.URL, "live?name=live", "", live.offer())
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", resp.Status)
	}
	liveLoc := resp.Header.Get("Location")
	live.connect(t, answer)
	// The watcher is offered the track once the server has it: the
	// session has connected.
	watcher.waitFor(TypeOffer)

	// Started after the connected one, so its deadline comes later than
	// the connected one's would.
	resp, _ = whipPost(t, ts.URL, "live?name=silent", "", newWHIPPeer(t).offer())
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", resp.Status)
	}
	silentLoc := resp.Header.Get("Location")
	if got := watcher.waitFor(TypeParticipantLeft); field(got, "participant", "name") != "silent" {
		t.Fatalf("the first to be ended is %v", got)
	}
	if resp, _ := whipDo(t, http.MethodDelete, ts.URL+silentLoc, "", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE of the ended session: %s", resp.Status)
	}
	if resp, _ := whipDo(t, http.MethodDelete, ts.URL+liveLoc, "", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("DELETE of the connected session: %s", resp.Status)
	}
}

// TestWHIPClip: in a clip room, what a WHIP session sends becomes one
// clip of its name when it ends.
func TestWHIPClip(t *testing.T) {
	testmedia.Opus(t, 1)
	var store *clips.Store
	h := newHub(t, func(c *Config, rooms []configs.Room) {
		store = clipStore(t, rooms)
		c.Store = store
		c.WHIPConnectTimeout = time.Minute
	})
	ts := serve(t, h)
	watcher := newClient(t, h)
	watcher.join("videochat", "watcher", nil)
	p := newWHIPPeer(t)
	resp, answer := whipPost(t, ts.URL, "videochat?name=obs", "", p.offer())
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", resp.Status)
	}
	p.connect(t, answer)
	testmedia.Stream(t, p.audio, nil, 1)
	if resp, _ := whipDo(t, http.MethodDelete, ts.URL+resp.Header.Get("Location"), "", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	got := watcher.waitFor(TypeClipAdded)
	if field(got, "clip", "author") != "obs" || field(got, "clip", "kind") != clips.KindAudio {
		t.Errorf("the room was shown %v", got)
	}
	if c, ok := store.Get("videochat", field(got, "clip", "id")); !ok || c.Duration < 0.5 {
		t.Errorf("the store has %+v", c)
	}
}

// TestWHIPComesBack: a WHIP publisher that posts again with the same name
// and Authorization takes its session over, connected or not: it keeps
// its participant id and its place (the room sees nobody leave or join),
// under a new Location. Another credential is refused the name. A
// session whose connection failed waits for its publisher that long,
// then ends; one without an Authorization ends at once.
func TestWHIPComesBack(t *testing.T) {
	h := newHub(t, func(c *Config, _ []configs.Room) { c.WHIPConnectTimeout, c.WHIPGrace = time.Minute, time.Minute })
	ts := serve(t, h)
	watcher := newClient(t, h)
	watcher.join("walkie", "watcher", nil)
	authz := "Bearer " + newKey()
	resp, _ := whipPost(t, ts.URL, "walkie?name=obs", authz, newWHIPPeer(t).offer())
	loc1 := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", resp.Status)
	}
	obsID := field(watcher.expect(TypeParticipantJoined)[0], "participant", "id")
	session := func(loc string) *whipPublisher {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.whips[path.Base(loc)]
	}
	first := session(loc1)

	for i, fail := range []bool{false, true} {
		if fail {
			first.MediaProblem(sfu.PCPublish, ErrMediaFailed, "the connection failed")
		}
		resp, answer := whipPost(t, ts.URL, "walkie?name=OBS", authz, newWHIPPeer(t).offer())
		loc2 := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(answer, "v=0") || loc2 == loc1 || resp.Header.Get("ETag") == "" {
			t.Fatalf("coming back %d: %s at %q", i, resp.Status, loc2)
		}
		if s := session(loc2); s != first || s.id != obsID {
			t.Fatalf("coming back %d made another session", i)
		}
		watcher.expect() // nobody left, nobody joined
		if resp, _ := whipDo(t, http.MethodDelete, ts.URL+loc1, "", authz, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("DELETE of the old Location: %s", resp.Status)
		}
		loc1 = loc2
	}
	if resp, _ := whipPost(t, ts.URL, "walkie?name=obs", "Bearer "+newKey(), newWHIPPeer(t).offer()); resp.StatusCode != http.StatusConflict {
		t.Errorf("another credential for the name: %s", resp.Status)
	}
	if resp, _ := whipDo(t, http.MethodDelete, ts.URL+loc1, "", authz, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	if got := watcher.waitFor(TypeParticipantLeft); field(got, "participant", "id") != obsID {
		t.Errorf("left: %v", got)
	}

	// The grace runs out; without an Authorization there is none.
	short := newHub(t, func(c *Config, _ []configs.Room) { c.WHIPConnectTimeout, c.WHIPGrace = time.Minute, time.Millisecond })
	ts = serve(t, short)
	watcher = newClient(t, short)
	watcher.join("walkie", "watcher", nil)
	for _, authz := range []string{"Bearer " + newKey(), ""} {
		resp, _ := whipPost(t, ts.URL, "walkie?name=obs", authz, newWHIPPeer(t).offer())
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %s", resp.Status)
		}
		id := field(watcher.waitFor(TypeParticipantJoined), "participant", "id")
		short.mu.Lock()
		wp := short.whips[path.Base(resp.Header.Get("Location"))]
		short.mu.Unlock()
		wp.MediaProblem(sfu.PCPublish, ErrMediaFailed, "the connection failed")
		if got := watcher.waitFor(TypeParticipantLeft); field(got, "participant", "id") != id {
			t.Errorf("left: %v", got)
		}
	}
}
