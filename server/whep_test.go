package server

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"parley/access"
	"parley/client"
	"parley/configs"
	"parley/internal/leakcheck"
	"parley/internal/testmedia"
)

// whepViewer is a WHEP player: a receive-only connection that writes what
// it receives to an Ogg and an IVF file.
type whepViewer struct {
	pc       *webrtc.PeerConnection
	loc      string
	etag     string
	audio    atomic.Int64 // packets received
	video    atomic.Int64
	mu       sync.Mutex
	ogg      *oggwriter.OggWriter
	ivf      *ivfwriter.IVFWriter
	oggPath  string
	ivfPath  string
	readers  sync.WaitGroup
	closedMu sync.Once
}

// reorder gives packets in sequence order, each once: those that come
// out of order wait for the ones before them, up to 50 packets.
type reorder struct {
	next    uint16
	started bool
	held    map[uint16]*rtp.Packet
}

func (r *reorder) push(p *rtp.Packet, out func(*rtp.Packet)) {
	if !r.started {
		r.started, r.next = true, p.SequenceNumber
	}
	if int16(p.SequenceNumber-r.next) < 0 {
		return // given already, or given up on
	}
	r.held[p.SequenceNumber] = p
	for {
		if q, ok := r.held[r.next]; ok {
			delete(r.held, r.next)
			out(q)
			r.next++
			continue
		}
		if len(r.held) <= 50 {
			return
		}
		r.next++ // lost for good
	}
}

// whepOffer makes a receive-only connection with its offer set and its
// candidates gathered.
func whepOffer(t *testing.T, kinds ...webrtc.RTPCodecType) *webrtc.PeerConnection {
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
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	setOffer(t, pc)
	return pc
}

// watch starts a WHEP viewer of room at path (with ?name=, say) and
// waits until it connects.
func watch(t *testing.T, srv *testServer, path string) *whepViewer {
	t.Helper()
	dir := t.TempDir()
	w := &whepViewer{oggPath: filepath.Join(dir, "audio.ogg"), ivfPath: filepath.Join(dir, "video.ivf")}
	var err error
	if w.ogg, err = oggwriter.New(w.oggPath, 48000, 2); err != nil {
		t.Fatal(err)
	}
	if w.ivf, err = ivfwriter.New(w.ivfPath, ivfwriter.WithCodec(webrtc.MimeTypeVP8)); err != nil {
		t.Fatal(err)
	}
	w.pc = whepOffer(t, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo)
	w.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		w.readers.Go(func() {
			// In order, as a player's jitter buffer gives them: a
			// retransmission comes after the packets that followed.
			buf := reorder{held: map[uint16]*rtp.Packet{}}
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				w.mu.Lock()
				if tr.Kind() == webrtc.RTPCodecTypeAudio {
					w.audio.Add(1)
					buf.push(p, func(p *rtp.Packet) { _ = w.ogg.WriteRTP(p) })
				} else {
					w.video.Add(1)
					buf.push(p, func(p *rtp.Packet) { _ = w.ivf.WriteRTP(p) })
				}
				w.mu.Unlock()
			}
		})
	})
	t.Cleanup(w.close)
	resp, answer := srv.whipPost(t, path, "", w.pc.LocalDescription().SDP)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/sdp" {
		t.Fatalf("WHEP POST %s: %s %s", path, resp.Status, answer)
	}
	w.loc, w.etag = resp.Header.Get("Location"), resp.Header.Get("ETag")
	if !strings.HasPrefix(w.loc, "/whep/") || w.etag == "" {
		t.Fatalf("Location %q, ETag %q", w.loc, w.etag)
	}
	if err := w.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the WHEP connection connects", func() bool {
		return w.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
	return w
}

// close ends the connection and the files.
func (w *whepViewer) close() {
	w.closedMu.Do(func() {
		_ = w.pc.Close()
		w.readers.Wait()
		_ = w.ogg.Close()
		_ = w.ivf.Close()
	})
}

// restartICE restarts the ICE of pc, a WHIP or WHEP client's connection
// whose session is at loc with entity tag etag, over PATCH, as a client
// does when its network changes: a new offer's credentials and candidates
// go as a fragment, the server's come back as one, and the answer is
// remade from them. It returns the new entity tag.
func restartICE(t *testing.T, srv *testServer, pc *webrtc.PeerConnection, loc, etag string) string {
	t.Helper()
	setOffer(t, pc, &webrtc.OfferOptions{ICERestart: true})
	frag := fragOf(pc.LocalDescription().SDP)
	req, _ := http.NewRequest("PATCH", "http://"+srv.Addr().String()+loc, strings.NewReader(frag))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	req.Header.Set("If-Match", "*")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	tag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || tag == "" || tag == etag {
		t.Fatalf("ICE restart of %s: %s, ETag %q (was %q): %s", loc, resp.Status, tag, etag, body)
	}
	answer := withFrag(pc.RemoteDescription().SDP, string(body))
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatalf("the answer remade from the server's fragment: %v", err)
	}
	return tag
}

// fragOf is the trickle-ice-sdpfrag of an offer: its credentials, its
// first section's mid and its candidates.
func fragOf(sdp string) string {
	var b strings.Builder
	midDone := false
	for _, l := range strings.Split(sdp, "\r\n") {
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:"), strings.HasPrefix(l, "a=ice-pwd:"):
			if !strings.Contains(b.String(), l[:10]) {
				b.WriteString(l + "\r\n")
			}
		case strings.HasPrefix(l, "a=mid:") && !midDone:
			midDone = true
			b.WriteString("m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n" + l + "\r\n")
		case strings.HasPrefix(l, "a=candidate:"):
			b.WriteString(l + "\r\n")
		}
	}
	return b.String()
}

// withFrag is an answer with the ICE credentials and candidates of a
// fragment instead of its own.
func withFrag(answer, frag string) string {
	var ufrag, pwd string
	var cands []string
	for _, l := range strings.Split(frag, "\r\n") {
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:"):
			ufrag = l
		case strings.HasPrefix(l, "a=ice-pwd:"):
			pwd = l
		case strings.HasPrefix(l, "a=candidate:"):
			cands = append(cands, l)
		}
	}
	var out []string
	first := true
	for _, l := range strings.Split(answer, "\r\n") {
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:"):
			out = append(out, ufrag)
		case strings.HasPrefix(l, "a=ice-pwd:"):
			out = append(out, pwd)
		case strings.HasPrefix(l, "a=candidate:"), l == "a=end-of-candidates":
		default:
			out = append(out, l)
			if strings.HasPrefix(l, "m=") && first {
				first = false
				out = append(out, cands...)
			}
		}
	}
	return strings.Join(out, "\r\n")
}

// viewerGoroutines are the functions a WHEP viewer's goroutines run in
// (see sfu.Viewer): its streams' RTCP readers, its congestion control.
var viewerGoroutines = []string{"parley/sfu.(*viewTrack).readRTCP", "parley/sfu.(*Viewer)."}

// TestWHEP: OBS publishes over WHIP and a player watches over WHEP: the
// player receives Opus and VP8 that decode cleanly; an ICE restart over
// PATCH keeps the media going; the room's members are told how many
// watch; DELETE ends the viewer, whose goroutines end with it.
func TestWHEP(t *testing.T) {
	srv := startServer(t, nil)
	member, _ := srv.join(t, "live", "ann", client.Options{})
	w := watch(t, srv, "/whep/live")
	m, err := member.WaitFor(timeout(t, 5*time.Second), "viewers")
	if err != nil || !strings.Contains(string(m.Raw), `"count":1`) {
		t.Fatalf("the room was not told of the viewer: %v %s", err, m.Raw)
	}
	if n := srv.engine.Stats().Viewers; n != 1 {
		t.Errorf("Stats().Viewers = %d", n)
	}

	p := newMediaPublisher(t, true)
	whipPC, whip := whipPublishAuth(t, srv, "/whip/live?name=obs", "", p)
	done := make(chan struct{})
	go func() { defer close(done); p.stream(t, 6) }()
	eventually(t, 10*time.Second, "the viewer receives a second of the stream", func() bool {
		return w.audio.Load() >= 50 && w.video.Load() >= 15
	})
	// Both ends restart ICE, one after the other; the media goes on.
	w.etag = restartICE(t, srv, w.pc, w.loc, w.etag)
	a, v := w.audio.Load(), w.video.Load()
	eventually(t, 10*time.Second, "the media goes on after the viewer's ICE restart", func() bool {
		return w.audio.Load() >= a+25 && w.video.Load() >= v+5
	})
	restartICE(t, srv, whipPC, whip, "")
	a, v = w.audio.Load(), w.video.Load()
	eventually(t, 10*time.Second, "the media goes on after the publisher's ICE restart", func() bool {
		return w.audio.Load() >= a+25 && w.video.Load() >= v+5
	})
	<-done
	srv.fetch(t, "DELETE", whip, "", nil)

	if n := len(leakcheck.Running(viewerGoroutines...)); n < 3 {
		t.Errorf("%d of the viewer's goroutines run, want its two RTCP readers and its congestion control", n)
	}
	resp, _ := srv.fetch(t, "DELETE", w.loc, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE %s: %s", w.loc, resp.Status)
	}
	if m, err := member.WaitFor(timeout(t, 5*time.Second), "viewers"); err != nil || !strings.Contains(string(m.Raw), `"count":0`) {
		t.Fatalf("the room was not told the viewer left: %v %s", err, m.Raw)
	}
	eventually(t, 5*time.Second, "no viewer left", func() bool { return srv.engine.Stats().Viewers == 0 })
	// DELETE freed the viewer while the server runs, not its shutdown.
	// (Viewers have no socket of their own: they share the media
	// engine's.)
	eventually(t, 5*time.Second, "none of the viewer's goroutines runs", func() bool { return len(leakcheck.Running(viewerGoroutines...)) == 0 })
	if resp, _ := srv.fetch(t, "DELETE", w.loc, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: %s", resp.Status)
	}
	w.close()
	for _, f := range []string{w.oggPath, w.ivfPath} {
		if e := testmedia.DecodeErrors(t, f); e != "" {
			t.Errorf("%s does not decode cleanly: %s", filepath.Base(f), e)
		}
	}
	if d := testmedia.ContainerDuration(t, w.oggPath); d < 2 {
		t.Errorf("the viewer heard %.2fs, want most of the 4 s streamed", d)
	}
}

// TestWHEPName: a viewer with ?name= receives that publisher, not the one
// the room would show: of an audio-only publisher while another has a
// camera, its sound and no picture, where a viewer without ?name= gets
// the camera.
func TestWHEPName(t *testing.T) {
	srv := startServer(t, nil)
	pinned := watch(t, srv, "/whep/live?name=OBS")
	room := watch(t, srv, "/whep/live")
	obs, cam := newMediaPublisher(t, false), newMediaPublisher(t, true)
	whipPublish(t, srv, "live", "obs", obs)
	whipPublish(t, srv, "live", "cam", cam)
	var streams sync.WaitGroup
	for _, p := range []*mediaPublisher{obs, cam} {
		streams.Go(func() { p.stream(t, 3) })
	}
	eventually(t, 10*time.Second, "the pinned viewer hears obs and the other one sees cam", func() bool {
		return pinned.audio.Load() >= 50 && room.video.Load() >= 15
	})
	streams.Wait()
	if n := pinned.video.Load(); n != 0 {
		t.Errorf("the viewer of obs, who has no camera, received %d video packets", n)
	}
}

// TestWHEPAudioStream: a viewer of an audioStream room (walkie) hears its
// publisher in Opus that decodes cleanly, and receives no video.
func TestWHEPAudioStream(t *testing.T) {
	srv := startServer(t, nil)
	w := watch(t, srv, "/whep/walkie")
	p := newMediaPublisher(t, false)
	whipPublish(t, srv, "walkie", "talker", p)
	p.stream(t, 3)
	eventually(t, 10*time.Second, "the viewer receives 2 s of audio", func() bool { return w.audio.Load() >= 100 })
	codec := ""
	for _, r := range w.pc.GetReceivers() {
		if tr := r.Track(); tr != nil && tr.Kind() == webrtc.RTPCodecTypeAudio {
			codec = tr.Codec().MimeType
		}
	}
	if !strings.EqualFold(codec, webrtc.MimeTypeOpus) {
		t.Errorf("the viewer's audio is %q, want Opus", codec)
	}
	w.close()
	if n := w.video.Load(); n != 0 {
		t.Errorf("%d video packets from an audio room", n)
	}
	if e := testmedia.DecodeErrors(t, w.oggPath); e != "" {
		t.Errorf("the audio does not decode cleanly: %s", e)
	}
	if d := testmedia.ContainerDuration(t, w.oggPath); d < 2 {
		t.Errorf("the viewer heard %.2fs, want most of the 3 s streamed", d)
	}
}

// TestWHEPRefusals: what a WHEP request may be refused for, each with
// nothing created.
func TestWHEPRefusals(t *testing.T) {
	srv := startServer(t, func(cfg *configs.Server, rooms []configs.Room) {
		cfg.Auth.TokenSecret = testTokenSecret
		cfg.HTTP.WHEPStartsPerMinute = 10
		for i := range rooms {
			switch rooms[i].Name {
			case "live":
				rooms[i].MaxViewers = 1
			case "walkie":
				rooms[i].Access = configs.AccessToken
			}
		}
	})
	w := watch(t, srv, "/whep/live")
	offer := whepOffer(t, webrtc.RTPCodecTypeAudio).LocalDescription().SDP
	for _, tc := range []struct {
		path, ctype, authz, body string
		status                   int
	}{
		{"/whep/nope", "application/sdp", "", offer, 404},
		{"/whep/chat", "application/sdp", "", offer, 403},
		{"/whep/live", "text/plain", "", offer, 415},
		{"/whep/live", "application/sdp", "", offer, 503},
		{"/whep/walkie", "application/sdp", "", offer, 401},
		{"/whep/walkie", "application/sdp", "Bearer a.b.c", offer, 401},
		{"/whep/walkie", "application/sdp", "", "garbage", 401},
	} {
		req, _ := http.NewRequest("POST", "http://"+srv.Addr().String()+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ctype)
		if tc.authz != "" {
			req.Header.Set("Authorization", tc.authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("POST %s (%s, %q): %s, want %d", tc.path, tc.ctype, tc.authz, resp.Status, tc.status)
		}
	}
	// A join token for the room admits a viewer; a bad offer is 400.
	tok := token(t, access.Claims{Room: "walkie", Name: "anyone"})
	resp, body := srv.whipPost(t, "/whep/walkie", "Bearer "+tok, "garbage")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad offer with a good token: %s %s", resp.Status, body)
	}
	// PATCH: the wrong ETag, and not a fragment.
	for _, tc := range []struct {
		ctype, ifMatch, body string
		status               int
	}{
		{"application/trickle-ice-sdpfrag", `"other"`, "a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", 412},
		{"application/sdp", "", "v=0", 415},
		{"application/trickle-ice-sdpfrag", "", "garbage", 400},
		{"application/trickle-ice-sdpfrag", w.etag, "a=mid:0\r\na=end-of-candidates\r\n", 204},
	} {
		req, _ := http.NewRequest("PATCH", "http://"+srv.Addr().String()+w.loc, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ctype)
		if tc.ifMatch != "" {
			req.Header.Set("If-Match", tc.ifMatch)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("PATCH (%s, If-Match %s): %s, want %d", tc.ctype, tc.ifMatch, resp.Status, tc.status)
		}
	}
	// Ten viewers a minute from one address, then 429.
	limited := false
	for range 10 {
		resp, _ := srv.whipPost(t, "/whep/walkie", "", offer)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "" {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("eleven viewers started from one address in a minute")
	}
	if n := srv.engine.Stats().Viewers; n != 1 {
		t.Errorf("%d viewers, want the one admitted", n)
	}
}

// TestWHIPComesBackToViewers: an encoder that restarts and posts again
// with its credential keeps its place: the room sees nobody leave, and
// the viewer watching it goes on receiving, from the new connection.
func TestWHIPComesBackToViewers(t *testing.T) {
	srv := startServer(t, nil)
	member, _ := srv.join(t, "live", "ann", client.Options{})
	w := watch(t, srv, "/whep/live")
	authz := "Bearer " + strings.Repeat("k", 43)
	p := newMediaPublisher(t, true)
	pc, _ := whipPublishAuth(t, srv, "/whip/live?name=obs", authz, p)
	if _, err := member.WaitFor(timeout(t, 5*time.Second), "participant-joined"); err != nil {
		t.Fatal(err)
	}
	p.stream(t, 1)
	eventually(t, 10*time.Second, "the viewer receives the first encoder", func() bool { return w.audio.Load() >= 25 && w.video.Load() >= 5 })
	_ = pc.Close() // the encoder restarts

	p2 := newMediaPublisher(t, true)
	whipPublishAuth(t, srv, "/whip/live?name=obs", authz, p2)
	a, v := w.audio.Load(), w.video.Load()
	p2.stream(t, 2)
	eventually(t, 10*time.Second, "the viewer receives the second encoder", func() bool {
		return w.audio.Load() >= a+50 && w.video.Load() >= v+10
	})
	// What the room was told meanwhile is queued by now.
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		m, err := member.Next(ctx)
		cancel()
		if err != nil {
			break
		}
		if m.Type == "participant-left" || m.Type == "participant-joined" {
			t.Errorf("the room saw the publisher leave or join: %s", m.Raw)
		}
	}
}

// TestWHEPCrossOrigin: a player on another site may use WHIP and WHEP: the
// preflight is answered, and the answers let it read what it needs.
func TestWHEPCrossOrigin(t *testing.T) {
	srv := startServer(t, nil)
	for _, path := range []string{"/whep/live", "/whip/live", "/whep/live/x", "/whip/live/x"} {
		req, _ := http.NewRequest("OPTIONS", "http://"+srv.Addr().String()+path, nil)
		req.Header.Set("Origin", "https://player.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || h.Get("Link") != "" {
			t.Errorf("OPTIONS %s: %s %v", path, resp.Status, h)
		}
	}
	w := watch(t, srv, "/whep/live")
	resp, _ := srv.fetch(t, "DELETE", w.loc, "", nil)
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("DELETE: %v", resp.Header)
	}
	if resp, _ := srv.fetch(t, "GET", "/api/rooms", "", nil); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("the API is open to other sites")
	}
}

// TestWHEPLinks: a viewer's and a publisher's 201 name the built-in TURN
// server, with credentials, as Link headers (RFC 9725 4.6); a preflight
// names none.
func TestWHEPLinks(t *testing.T) {
	srv := startTURNServer(t, false, nil)
	check := func(what string, h http.Header) {
		t.Helper()
		links := h.Values("Link")
		if len(links) == 0 {
			t.Fatalf("%s: no Link header", what)
		}
		for _, l := range links {
			if !strings.HasPrefix(l, "<turn") || !strings.Contains(l, `rel="ice-server"`) ||
				!strings.Contains(l, `username="`) || !strings.Contains(l, `credential="`) || !strings.Contains(l, `credential-type="password"`) {
				t.Errorf("%s: Link %q", what, l)
			}
		}
	}
	resp, _ := srv.whipPost(t, "/whep/live", "", whepOffer(t, webrtc.RTPCodecTypeAudio).LocalDescription().SDP)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP POST: %s", resp.Status)
	}
	check("WHEP", resp.Header)
	resp, _ = srv.whipPost(t, "/whip/live?name=obs", "", whipOffer(t, newMediaPublisher(t, false)).LocalDescription().SDP)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP POST: %s", resp.Status)
	}
	check("WHIP", resp.Header)
}
