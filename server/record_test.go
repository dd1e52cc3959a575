package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"parley/client"
	"parley/configs"
	"parley/internal/testmedia"
)

// mediaPublisher sends real Opus (and VP8) frames made by ffmpeg.
type mediaPublisher struct {
	audio, video *webrtc.TrackLocalStaticSample
}

func newMediaPublisher(t *testing.T, video bool) *mediaPublisher {
	t.Helper()
	a, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	if err != nil {
		t.Fatal(err)
	}
	p := &mediaPublisher{audio: a}
	if video {
		p.video, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "pub")
		if err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p *mediaPublisher) tracks() []webrtc.TrackLocal {
	if p.video != nil {
		return []webrtc.TrackLocal{p.audio, p.video}
	}
	return []webrtc.TrackLocal{p.audio}
}

// publish negotiates the publish connection and waits until it connects.
func (p *mediaPublisher) publish(t *testing.T, c *client.Client) {
	t.Helper()
	if _, err := c.Publish(timeout(t, 5*time.Second), p.tracks()...); err != nil {
		t.Fatal(err)
	}
	pc := c.PublishConn()
	eventually(t, 5*time.Second, "the publish connection connects", func() bool {
		return pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
}

// stream sends seconds of media in real time.
func (p *mediaPublisher) stream(t *testing.T, seconds int) {
	t.Helper()
	testmedia.Stream(t, p.audio, p.video, seconds)
}

type clipJSON struct {
	ID          string  `json:"id"`
	Room        string  `json:"room"`
	Author      string  `json:"author"`
	Duration    float64 `json:"duration"`
	Bytes       int64   `json:"bytes"`
	Kind        string  `json:"kind"`
	Mime        string  `json:"mime"`
	Description string  `json:"description"`
	State       string  `json:"state"`
	DraftToken  string  `json:"draft_token"`
	Waveform    []int   `json:"waveform"`
}

func decodeClip(t *testing.T, m client.Message) clipJSON {
	t.Helper()
	var v struct {
		Clip clipJSON `json:"clip"`
	}
	if err := m.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v.Clip
}

// waitRecording waits for the answer to record-start.
func waitRecording(t *testing.T, c *client.Client) {
	t.Helper()
	ctx := timeout(t, 5*time.Second)
	for {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for recording: %v", err)
		}
		switch m.Type {
		case "recording":
			return
		case "error":
			t.Fatalf("record-start: %s", m.Raw)
		}
	}
}

// download fetches a clip's media (a draft with its token) into a file
// of the test's and returns its path.
func (s *testServer) download(t *testing.T, room string, c clipJSON) string {
	t.Helper()
	resp, body := s.fetch(t, "GET", "/api/rooms/"+room+"/clips/"+c.ID+"?token="+c.DraftToken, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET clip: %s %s", resp.Status, body)
	}
	path := filepath.Join(t.TempDir(), c.ID+".webm")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// recordClip records seconds of media from c, which has published p.
func (s *testServer) recordClip(t *testing.T, c *client.Client, p *mediaPublisher, seconds int, description string) (clipJSON, string) {
	t.Helper()
	return s.recordWhile(t, c, description, func() { p.stream(t, seconds) })
}

// recordWhile records a clip: record-start, media sent on c's publish
// connection, and record-stop once the server has read all of it; it
// returns the clip and the reason it stopped.
func (s *testServer) recordWhile(t *testing.T, c *client.Client, description string, media func()) (clipJSON, string) {
	t.Helper()
	if err := c.Send(map[string]string{"type": "record-start", "description": description}); err != nil {
		t.Fatal(err)
	}
	waitRecording(t, c)
	s.sendAll(t, c.PublishConn(), media)
	if err := c.Send(map[string]string{"type": "record-stop"}); err != nil {
		t.Fatal(err)
	}
	m, err := c.WaitFor(timeout(t, 10*time.Second), "record-stopped")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Reason string   `json:"reason"`
		Clip   clipJSON `json:"clip"`
	}
	_ = m.Decode(&v)
	return v.Clip, v.Reason
}

// fetch GETs a path of the server.
func (s *testServer) fetch(t *testing.T, method, path, bearer string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	h := http.Header{}
	if bearer != "" {
		h.Set("Authorization", "Bearer "+bearer)
	}
	return s.fetchWith(t, method, path, h, body)
}

// fetchWith is fetch with the request's headers.
func (s *testServer) fetchWith(t *testing.T, method, path string, h http.Header, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.Addr().String()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// upload posts a clip file as the participant with owner key bearer and
// returns the stored clip; it fails the test unless the answer is 201.
func (s *testServer) upload(t *testing.T, path, bearer, contentType string, body []byte) clipJSON {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+s.Addr().String()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c clipJSON
	_ = json.NewDecoder(resp.Body).Decode(&c)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload to %s: %s", path, resp.Status)
	}
	return c
}

// judgeClip downloads a clip and checks it with ffprobe, ffmpeg and mkvmerge.
func (s *testServer) judgeClip(t *testing.T, room string, c clipJSON, codecs []string, want time.Duration) {
	t.Helper()
	path := s.download(t, room, c)
	r := testmedia.Judge(t, path)
	if strings.Join(r.Codecs, ",") != strings.Join(codecs, ",") {
		t.Errorf("streams %v, want %v", r.Codecs, codecs)
	}
	if d := math.Abs(r.Duration - want.Seconds()); d > 0.1 {
		t.Errorf("ffprobe duration %.3fs, want %.3fs ±0.1", r.Duration, want.Seconds())
	}
	if d := math.Abs(c.Duration - want.Seconds()); d > 0.1 {
		t.Errorf("catalog duration %.3fs, want %.3fs ±0.1", c.Duration, want.Seconds())
	}
	if r.DecodeErrors != "" {
		t.Errorf("ffmpeg reports errors:\n%s", r.DecodeErrors)
	}
	if r.MkvDuration == 0 || !r.Cues {
		t.Errorf("mkvmerge: duration %.3f, cues %v: the clip cannot be seeked", r.MkvDuration, r.Cues)
	}
	if fi, err := os.Stat(path); err != nil {
		t.Error(err)
	} else if fi.Size() != c.Bytes {
		t.Errorf("served %d bytes, catalog says %d", fi.Size(), c.Bytes)
	}
}

// TestRecordClips: a Pion client records 3 s of real Opus (and VP8)
// through the server; the clip is right by ffprobe, ffmpeg and mkvmerge,
// and the room hears of it.
func TestRecordClips(t *testing.T) {
	srv := startServer(t, nil)
	for _, tc := range []struct {
		room   string
		video  bool
		codecs []string
	}{
		{"videochat", true, []string{"opus", "vp8"}},
		{"chat", false, []string{"opus"}},
	} {
		t.Run(tc.room, func(t *testing.T) {
			watcher, _ := srv.join(t, tc.room, "watcher", client.Options{})
			c, _ := srv.join(t, tc.room, "rec", client.Options{})
			p := newMediaPublisher(t, tc.video)
			p.publish(t, c)
			clip, reason := srv.recordClip(t, c, p, 3, "hello <b>there</b>")
			if reason != "stopped" || clip.ID == "" {
				t.Fatalf("record-stopped: reason %q clip %+v", reason, clip)
			}
			if clip.Author != "rec" || clip.State != "published" || clip.Description != "hello <b>there</b>" {
				t.Errorf("clip %+v", clip)
			}
			wantKind := "audio"
			if tc.video {
				wantKind = "video"
			}
			if clip.Kind != wantKind {
				t.Errorf("kind %s, want %s", clip.Kind, wantKind)
			}
			m, err := watcher.WaitFor(timeout(t, 5*time.Second), "clip-added")
			if err != nil {
				t.Fatal(err)
			}
			if got := decodeClip(t, m); got.ID != clip.ID || got.DraftToken != "" {
				t.Errorf("the watcher got %+v", got)
			}
			srv.judgeClip(t, tc.room, clip, tc.codecs, 3*time.Second)

			resp, body := srv.fetch(t, "GET", "/api/rooms/"+tc.room+"/clips", "", nil)
			var list struct{ Clips []clipJSON }
			_ = json.Unmarshal(body, &list)
			if resp.StatusCode != 200 || len(list.Clips) == 0 || list.Clips[0].ID != clip.ID {
				t.Errorf("catalog: %s %s", resp.Status, body)
			}
		})
	}
}

// TestRecordLimitAndErrors: the server stops a recording at the room's
// max_clip_seconds and tells the client; recording needs a clip room and
// a published track.
func TestRecordLimitAndErrors(t *testing.T) {
	srv := startServer(t, func(_ *configs.Server, rooms []configs.Room) {
		for i := range rooms {
			if rooms[i].Name == "chat" {
				rooms[i].MaxClipSeconds = 1
			}
		}
	})
	c, _ := srv.join(t, "chat", "ann", client.Options{})
	_ = c.Send(map[string]string{"type": "record-start"})
	expectError(t, c, "not-publishing")

	p := newMediaPublisher(t, false)
	p.publish(t, c)
	_ = c.Send(map[string]string{"type": "record-start"})
	waitRecording(t, c)
	_ = c.Send(map[string]string{"type": "record-start"})
	expectError(t, c, "already-recording")
	read, sent := srv.engine.Stats().ReceivedPackets, packetsSent(c.PublishConn())
	p.stream(t, 2)
	m, err := c.WaitFor(timeout(t, 5*time.Second), "record-stopped")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Reason string
		Clip   clipJSON
	}
	_ = m.Decode(&v)
	if v.Reason != "max-seconds" {
		t.Errorf("reason %q, want max-seconds", v.Reason)
	}
	// Judged when every packet reached the server: a starved machine's
	// socket may drop some, and a clip has the frames that came.
	if lost := waitReceived(srv, read, packetsSent(c.PublishConn())-sent); lost > 0 {
		t.Logf("%d packets were lost on the way: the clip's length is not judged", lost)
	} else if v.Clip.Duration < 0.9 || v.Clip.Duration > 1.1 {
		t.Errorf("a clip limited to 1 s lasts %.3f s", v.Clip.Duration)
	}

	l, _ := srv.join(t, "walkie", "live", client.Options{})
	_ = l.Send(map[string]string{"type": "record-start"})
	expectError(t, l, "record-not-allowed")
}

// TestClipOwnership: the clip belongs to its author's owner key, not to
// the name: someone joining later under the same name cannot delete it,
// over the websocket or over HTTP; the author can.
func TestClipOwnership(t *testing.T) {
	srv := startServer(t, nil)
	a, aj := srv.join(t, "chat", "ann", client.Options{})
	p := newMediaPublisher(t, false)
	p.publish(t, a)
	clip, _ := srv.recordClip(t, a, p, 1, "")
	a.Close()

	eventually(t, 5*time.Second, "ann leaves", func() bool { return srv.hub.Sessions() == 0 })
	imp, ij := srv.join(t, "chat", "ann", client.Options{})
	if ij.OwnerKey == aj.OwnerKey {
		t.Fatal("the impostor was given ann's owner key")
	}
	_ = imp.Send(map[string]string{"type": "clip-delete", "id": clip.ID})
	expectError(t, imp, "forbidden")
	resp, _ := srv.fetch(t, "DELETE", "/api/rooms/chat/clips/"+clip.ID, ij.OwnerKey, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("HTTP DELETE by the impostor: %s", resp.Status)
	}
	if resp, _ := srv.fetch(t, "GET", "/api/rooms/chat/clips/"+clip.ID, "", nil); resp.StatusCode != 200 {
		t.Fatalf("the clip is gone: %s", resp.Status)
	}
	imp.Close()

	// Ann comes back with her key and deletes it.
	eventually(t, 5*time.Second, "the impostor leaves", func() bool { return srv.hub.Sessions() == 0 })
	back := srv.dial(t, client.Options{})
	if err := back.Send(map[string]string{"type": "join", "room": "chat", "name": "ann", "owner_key": aj.OwnerKey}); err != nil {
		t.Fatal(err)
	}
	if _, err := back.WaitFor(timeout(t, 5*time.Second), "joined"); err != nil {
		t.Fatal(err)
	}
	_ = back.Send(map[string]string{"type": "clip-delete", "id": clip.ID})
	m, err := back.WaitFor(timeout(t, 5*time.Second), "clip-removed")
	if err != nil {
		t.Fatal(err)
	}
	var rm struct{ ID, Reason string }
	_ = m.Decode(&rm)
	if rm.ID != clip.ID || rm.Reason != "deleted" {
		t.Errorf("clip-removed %+v", rm)
	}
	if resp, _ := srv.fetch(t, "GET", "/api/rooms/chat/clips/"+clip.ID, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted clip still served: %s", resp.Status)
	}
}

// TestForumDrafts: in a mediaForum room a clip is a draft only its author
// sees, until it is published.
func TestForumDrafts(t *testing.T) {
	srv := startServer(t, nil)
	other, _ := srv.join(t, "forum", "bob", client.Options{})
	a, aj := srv.join(t, "forum", "ann", client.Options{})
	p := newMediaPublisher(t, false)
	p.publish(t, a)
	clip, _ := srv.recordClip(t, a, p, 1, "draft")
	if clip.State != "draft" || clip.DraftToken == "" {
		t.Fatalf("forum clip %+v", clip)
	}
	resp, body := srv.fetch(t, "GET", "/api/rooms/forum/clips", "", nil)
	if strings.Contains(string(body), clip.ID) {
		t.Errorf("an anonymous catalog shows the draft: %s %s", resp.Status, body)
	}
	if resp, _ := srv.fetch(t, "GET", "/api/rooms/forum/clips/"+clip.ID, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the draft's media is served without its token: %s", resp.Status)
	}
	_, body = srv.fetch(t, "GET", "/api/rooms/forum/clips", aj.OwnerKey, nil)
	if !strings.Contains(string(body), clip.ID) {
		t.Errorf("the author's catalog lacks the draft: %s", body)
	}
	srv.judgeClip(t, "forum", clip, []string{"opus"}, time.Second)

	_ = a.Send(map[string]string{"type": "clip-publish", "id": clip.ID})
	m, err := a.WaitFor(timeout(t, 5*time.Second), "clip-updated")
	if err != nil {
		t.Fatal(err)
	}
	if c := decodeClip(t, m); c.State != "published" {
		t.Errorf("after publish: %+v", c)
	}
	m, err = other.WaitFor(timeout(t, 5*time.Second), "clip-added")
	if err != nil {
		t.Fatal(err)
	}
	if c := decodeClip(t, m); c.ID != clip.ID || c.DraftToken != "" {
		t.Errorf("bob sees %+v", c)
	}
}

// TestArchiveTalkSpurts: in a live room with archive on, each talk spurt
// becomes a clip while it is forwarded live.
func TestArchiveTalkSpurts(t *testing.T) {
	srv := startServer(t, nil) // the demo walkie room archives
	sub := newSubscriber()
	listener, _ := srv.join(t, "walkie", "ears", client.Options{OnTrack: sub.onTrack})
	c, _ := srv.join(t, "walkie", "talker", client.Options{})
	p := newMediaPublisher(t, false)
	p.publish(t, c)
	p.stream(t, 2)
	m, err := listener.WaitFor(timeout(t, 10*time.Second), "clip-added")
	if err != nil {
		t.Fatal(err)
	}
	clip := decodeClip(t, m)
	if sub.count("audio") == 0 {
		t.Error("the spurt was not forwarded live")
	}
	if clip.Author != "talker" || clip.State != "published" {
		t.Errorf("archived %+v", clip)
	}
	srv.judgeClip(t, "walkie", clip, []string{"opus"}, 2*time.Second)
}

// whipPublish posts an offer to /whip/{room} and returns the connection
// and the session's location.
func whipPublish(t *testing.T, srv *testServer, room, name string, p *mediaPublisher) (*webrtc.PeerConnection, string) {
	t.Helper()
	return whipPublishAuth(t, srv, fmt.Sprintf("/whip/%s?name=%s", room, name), "", p)
}

// whipPublishAuth is whipPublish to a path, with an Authorization header
// ("" for none).
func whipPublishAuth(t *testing.T, srv *testServer, path, authz string, p *mediaPublisher) (*webrtc.PeerConnection, string) {
	t.Helper()
	pc := whipOffer(t, p)
	resp, answer := srv.whipPost(t, path, authz, pc.LocalDescription().SDP)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/sdp" || resp.Header.Get("ETag") == "" {
		t.Fatalf("WHIP POST: %s (ETag %q) %s", resp.Status, resp.Header.Get("ETag"), answer)
	}
	loc := resp.Header.Get("Location")
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the WHIP connection connects", func() bool {
		return pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
	return pc, loc
}

// whipOffer makes a send-only connection of p's tracks with its offer
// set and its candidates gathered.
func whipOffer(t *testing.T, p *mediaPublisher) *webrtc.PeerConnection {
	t.Helper()
	api, err := client.NewAPI(client.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, tr := range p.tracks() {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	setOffer(t, pc)
	return pc
}

// setOffer sets a new offer (an ICE restart, with options saying so) as
// pc's local description and waits for its candidates.
func setOffer(t *testing.T, pc *webrtc.PeerConnection, opts ...*webrtc.OfferOptions) {
	t.Helper()
	var o *webrtc.OfferOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	offer, err := pc.CreateOffer(o)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
}

// whipPost posts an SDP offer to path with an Authorization header ("" for
// none) and returns the answer.
func (s *testServer) whipPost(t *testing.T, path, authz, sdp string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+s.Addr().String()+path, strings.NewReader(sdp))
	req.Header.Set("Content-Type", "application/sdp")
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

// TestWHIP: WHIP in a clip room makes one clip of the session; WHIP in a
// live room reaches a subscriber.
func TestWHIP(t *testing.T) {
	srv := startServer(t, nil)
	t.Run("clip room", func(t *testing.T) {
		watcher, _ := srv.join(t, "videochat", "watcher", client.Options{})
		p := newMediaPublisher(t, true)
		pc, loc := whipPublish(t, srv, "videochat", "obs", p)
		if m, err := watcher.WaitFor(timeout(t, 5*time.Second), "participant-joined"); err != nil || !strings.Contains(string(m.Raw), `"obs"`) {
			t.Fatalf("the WHIP publisher is not in the room: %v %s", err, m.Raw)
		}
		srv.sendAll(t, pc, func() { p.stream(t, 2) })
		resp, _ := srv.fetch(t, "DELETE", loc, "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE %s: %s", loc, resp.Status)
		}
		m, err := watcher.WaitFor(timeout(t, 10*time.Second), "clip-added")
		if err != nil {
			t.Fatal(err)
		}
		clip := decodeClip(t, m)
		if clip.Author != "obs" {
			t.Errorf("clip %+v", clip)
		}
		srv.judgeClip(t, "videochat", clip, []string{"opus", "vp8"}, 2*time.Second)
		if resp, _ := srv.fetch(t, "DELETE", loc, "", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("second DELETE: %s", resp.Status)
		}
	})
	t.Run("live room", func(t *testing.T) {
		sub := newSubscriber()
		srv.join(t, "live", "viewer", client.Options{OnTrack: sub.onTrack})
		p := newMediaPublisher(t, true)
		_, loc := whipPublish(t, srv, "live", "obs", p)
		done := make(chan struct{})
		go func() { defer close(done); p.stream(t, 2) }()
		eventually(t, 5*time.Second, "the viewer receives the WHIP stream", func() bool {
			return sub.count("audio") > 10 && sub.count("video") > 5
		})
		<-done
		srv.fetch(t, "DELETE", loc, "", nil)
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			path, ctype, body string
			status            int
		}{
			{"/whip/nope", "application/sdp", "v=0", 404},
			{"/whip/chat", "text/plain", "v=0", 415},
			{"/whip/chat?name=%3Cx%3E", "application/sdp", "v=0", 400},
			{"/whip/chat", "application/sdp", "garbage", 400},
			{"/whip/chat", "application/sdp", strings.Repeat("a", 70<<10), 413},
		} {
			req, _ := http.NewRequest("POST", "http://"+srv.Addr().String()+tc.path, bytes.NewBufferString(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("POST %s (%s): %s, want %d", tc.path, tc.ctype, resp.Status, tc.status)
			}
		}
	})
}

// TestWHIPStaleETag: a PATCH whose If-Match names an ICE session that a
// restart has replaced is refused (412), a trickle as a restart, and
// changes nothing; the current ETag is taken.
func TestWHIPStaleETag(t *testing.T) {
	srv := startServer(t, nil)
	pc, loc := whipPublish(t, srv, "live", "obs", newMediaPublisher(t, false))
	stale := restartICE(t, srv, pc, loc, "")
	current := restartICE(t, srv, pc, loc, stale)
	patch := func(ifMatch, frag string) *http.Response {
		t.Helper()
		h := http.Header{"Content-Type": {"application/trickle-ice-sdpfrag"}, "If-Match": {ifMatch}}
		resp, _ := srv.fetchWith(t, "PATCH", loc, h, strings.NewReader(frag))
		return resp
	}
	if resp := patch(stale, "a=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n"); resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("a trickle with a stale If-Match: %s, want 412", resp.Status)
	}
	setOffer(t, pc, &webrtc.OfferOptions{ICERestart: true})
	if resp := patch(stale, fragOf(pc.LocalDescription().SDP)); resp.StatusCode != http.StatusPreconditionFailed || resp.Header.Get("ETag") != "" {
		t.Errorf("a restart with a stale If-Match: %s (ETag %q), want 412", resp.Status, resp.Header.Get("ETag"))
	}
	if resp := patch(current, "a=mid:0\r\na=end-of-candidates\r\n"); resp.StatusCode != http.StatusNoContent {
		t.Errorf("a trickle with the current If-Match: %s, want 204", resp.Status)
	}
}
