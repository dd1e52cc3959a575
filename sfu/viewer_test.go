package sfu

import (
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"parley/audiolevel"
)

// viewed is a packet a test viewer received.
type viewed struct {
	seq uint16
	ts  uint32
	tag byte // the source's tag (sendTrack.tag)
	key bool // a VP8 keyframe (see sendTrack.vp8)
	// sent is the sequence number its source sent it with (testPayload);
	// level, its audio level byte under the viewer's id, -1 without; and
	// others counts its other header extensions.
	sent   uint16
	level  int16
	others int
}

// testViewer is a WHEP-like client: it offers to receive audio and video
// and records what comes.
type testViewer struct {
	t  *testing.T
	v  *Viewer
	pc *webrtc.PeerConnection

	mu    sync.Mutex
	got   map[webrtc.RTPCodecType][]viewed
	ssrcs map[webrtc.RTPCodecType]uint32
	rtx   int // packets that came on an RTX stream (unwrapped by Pion)
	// levelID is the audio level's extension id on the connection; 0
	// without.
	levelID uint8
	wg      sync.WaitGroup
}

func view(t *testing.T, room *Room, id string, opts ViewOptions, kinds ...webrtc.RTPCodecType) *testViewer {
	t.Helper()
	return viewWith(t, room, id, opts, clientAPI(t), kinds...)
}

// viewWith is view with the client's connection made by api.
func viewWith(t *testing.T, room *Room, id string, opts ViewOptions, api *webrtc.API, kinds ...webrtc.RTPCodecType) *testViewer {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	tv := &testViewer{t: t, pc: pc, got: map[webrtc.RTPCodecType][]viewed{}, ssrcs: map[webrtc.RTPCodecType]uint32{}}
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		levelID := extID(r, audiolevel.URI)
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			tv.mu.Lock()
			tv.levelID = levelID
			tv.mu.Unlock()
		}
		tv.wg.Go(func() {
			for {
				p, attrs, err := tr.ReadRTP()
				if err != nil {
					return
				}
				tv.mu.Lock()
				if attrs.Get(webrtc.AttributeRtxSsrc) != nil {
					tv.rtx++
				}
				tv.ssrcs[tr.Kind()] = p.SSRC
				key := tr.Kind() == webrtc.RTPCodecTypeVideo && p.Payload[0] == 0x10 && p.Payload[1]&1 == 0
				got := viewed{seq: p.SequenceNumber, ts: p.Timestamp, tag: p.Payload[len(p.Payload)-1], key: key,
					sent: binary.BigEndian.Uint16(p.Payload), level: -1}
				for _, id := range p.GetExtensionIDs() {
					if x := p.GetExtension(id); id == levelID && len(x) == 1 {
						got.level = int16(x[0])
					} else {
						got.others++
					}
				}
				tv.got[tr.Kind()] = append(tv.got[tr.Kind()], got)
				tv.mu.Unlock()
			}
		})
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	sdp, err := setLocal(pc, offer)
	if err != nil {
		t.Fatal(err)
	}
	v, answer, err := room.View(id, sdp, opts)
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	tv.v = v
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tv.close)
	return tv
}

func (tv *testViewer) close() {
	tv.v.Close()
	_ = tv.pc.Close()
	tv.wg.Wait()
}

func (tv *testViewer) packets(kind webrtc.RTPCodecType) []viewed {
	tv.mu.Lock()
	defer tv.mu.Unlock()
	return slices.Clone(tv.got[kind])
}

// waitTag waits for n packets of kind from the source tagged tag.
func (tv *testViewer) waitTag(kind webrtc.RTPCodecType, tag byte, n int) {
	tv.t.Helper()
	eventually(tv.t, "the viewer receives "+kind.String()+" from "+string(tag), func() bool {
		k := 0
		for _, p := range tv.packets(kind) {
			if p.tag == tag {
				k++
			}
		}
		return k >= n
	})
}

// checkContinuous asserts that the viewer's stream of kind is one stream:
// sequence numbers one apart, timestamps going up by less than step
// each time.
func (tv *testViewer) checkContinuous(kind webrtc.RTPCodecType, step uint32) {
	tv.t.Helper()
	got := tv.packets(kind)
	for i := 1; i < len(got); i++ {
		a, b := got[i-1], got[i]
		if b.seq != a.seq+1 {
			tv.t.Errorf("%s packet %d: sequence number %d after %d", kind, i, b.seq, a.seq)
		}
		if d := b.ts - a.ts; d == 0 && kind == webrtc.RTPCodecTypeAudio || d > step {
			tv.t.Errorf("%s packet %d: timestamp %d after %d (from %c to %c)", kind, i, b.ts, a.ts, a.tag, b.tag)
		}
	}
}

// publishTagged publishes audio (with levels) and, with video, VP8 video,
// tagged with tag.
func publishTagged(c *testClient, tag byte, video bool) (audio, vid *sendTrack) {
	kinds := []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio}
	if video {
		kinds = append(kinds, webrtc.RTPCodecTypeVideo)
	}
	sends := c.publish(kinds...)
	for _, s := range sends {
		s.tag.Store(int32(tag))
		s.vp8.Store(true)
		s.level.Store(127) // silence
	}
	audio = sends[0]
	if video {
		vid = sends[1]
	}
	return audio, vid
}

// TestViewerFollowsTheSpeaker: a viewer receives the publisher with
// video while nobody speaks; when someone without a camera speaks, it
// hears them and keeps the picture; when someone with a camera speaks,
// the picture switches too, at a keyframe. Each stream stays one
// stream: one SSRC, sequence numbers and timestamps without a jump.
func TestViewerFollowsTheSpeaker(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a, b, c := join(t, room, "a"), join(t, room, "b"), join(t, room, "c")
	publishTagged(a, 'A', true)
	bAudio, _ := publishTagged(b, 'B', false)
	cAudio, _ := publishTagged(c, 'C', true)
	for _, p := range []*Participant{a.p, b.p, c.p} {
		upOf(t, p, webrtc.RTPCodecTypeAudio)
	}
	upOf(t, a.p, webrtc.RTPCodecTypeVideo)
	upOf(t, c.p, webrtc.RTPCodecTypeVideo)

	tv := view(t, room, "v1", ViewOptions{}, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo)
	tv.waitTag(webrtc.RTPCodecTypeAudio, 'A', 20)
	tv.waitTag(webrtc.RTPCodecTypeVideo, 'A', 20)
	if s := tv.v.Source(); s != "a" {
		t.Errorf("the viewer follows %q, want a (the first publisher with video)", s)
	}
	if n := e.Stats().Viewers; n != 1 {
		t.Errorf("Stats().Viewers = %d", n)
	}

	bAudio.level.Store(10) // b speaks
	tv.waitTag(webrtc.RTPCodecTypeAudio, 'B', 20)
	bAudio.level.Store(127)
	tv.waitTag(webrtc.RTPCodecTypeVideo, 'A', 40) // the picture stays
	cAudio.level.Store(10)                        // c speaks
	tv.waitTag(webrtc.RTPCodecTypeAudio, 'C', 20)
	tv.waitTag(webrtc.RTPCodecTypeVideo, 'C', 20)
	cAudio.level.Store(127)

	// A switch carries the timestamps on by the time that passed, which
	// on a starved machine can be a few hundred ms; a source's own
	// timestamps (random) leaking through would jump far more than 1 s.
	tv.checkContinuous(webrtc.RTPCodecTypeAudio, 48000)
	tv.checkContinuous(webrtc.RTPCodecTypeVideo, 90000)
	// Video switches at a keyframe of the new source: its first packet
	// is one.
	// (The first keyframe may have been sent before the connection could
	// carry it: the viewer's decoder asks for another.)
	for _, p := range tv.packets(webrtc.RTPCodecTypeVideo) {
		if p.tag == 'C' {
			if !p.key {
				t.Error("the switch to c's video began with an interframe")
			}
			break
		}
	}

	tv.close()
	if n := e.Stats().Viewers; n != 0 {
		t.Errorf("Stats().Viewers = %d after Close", n)
	}
	for _, p := range []*Participant{a.p, b.p, c.p} {
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if p == b.p && kind == webrtc.RTPCodecTypeVideo {
				continue
			}
			for _, g := range upOf(t, p, kind).groups {
				if n := len(*g.sinks.Load()); n != 0 {
					t.Errorf("%s's %s has %d sinks after the viewer closed", p.ID, kind, n)
				}
			}
		}
	}
}

// TestViewerPinned: a viewer that names a publisher receives only it,
// whoever speaks, and nothing until it publishes.
func TestViewerPinned(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	publishTagged(a, 'A', true)
	upOf(t, a.p, webrtc.RTPCodecTypeVideo)
	tv := view(t, room, "v1", ViewOptions{Publisher: "OBS"}, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo)
	obs := join(t, room, "obs")
	publishTagged(obs, 'O', true)
	tv.waitTag(webrtc.RTPCodecTypeAudio, 'O', 20)
	tv.waitTag(webrtc.RTPCodecTypeVideo, 'O', 20)
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		for _, p := range tv.packets(kind) {
			if p.tag != 'O' {
				t.Fatalf("the pinned viewer received %s from %c", kind, p.tag)
			}
		}
	}
}

// TestViewerRetransmission: a viewer's NACK is answered from the
// source's cache, as the packet was sent.
func TestViewerRetransmission(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	publishTagged(a, 'A', true)
	upOf(t, a.p, webrtc.RTPCodecTypeVideo)
	tv := view(t, room, "v1", ViewOptions{}, webrtc.RTPCodecTypeVideo)
	tv.waitTag(webrtc.RTPCodecTypeVideo, 'A', 10)
	want := tv.packets(webrtc.RTPCodecTypeVideo)[5]
	tv.mu.Lock()
	ssrc := tv.ssrcs[webrtc.RTPCodecTypeVideo]
	tv.mu.Unlock()
	if err := tv.pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc,
		Nacks: []rtcp.NackPair{{PacketID: want.seq}}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the NACKed packet comes again, as it was", func() bool {
		n := 0
		for _, p := range tv.packets(webrtc.RTPCodecTypeVideo) {
			if p.seq == want.seq {
				if p != want {
					t.Fatalf("retransmitted %+v, first sent %+v", p, want)
				}
				n++
			}
		}
		return n == 2
	})
	tv.mu.Lock()
	defer tv.mu.Unlock()
	if tv.rtx != 1 {
		t.Errorf("%d packets came on the RTX stream, want the retransmission", tv.rtx)
	}
}

// TestViewerRefusals: a clip room has nothing to view, an offer that
// receives nothing is refused, and a closed room closes its viewers.
func TestViewerRefusals(t *testing.T) {
	e := newTestEngine(t, false)
	clip := newTestRoom(t, e, RoomOptions{Name: "clips"})
	if _, _, err := clip.View("v", "v=0", ViewOptions{}); err == nil {
		t.Error("a clip room took a viewer")
	}
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	offer, _ := pc.CreateOffer(nil)
	sdp, _ := setLocal(pc, offer)
	if _, _, err := room.View("v", sdp, ViewOptions{}); !errors.Is(err, ErrNothingToView) {
		t.Errorf("an offer without media: %v, want ErrNothingToView", err)
	}
	tv := view(t, room, "v2", ViewOptions{}, webrtc.RTPCodecTypeAudio)
	if !strings.Contains(tv.pc.RemoteDescription().SDP, "a=sendonly") {
		t.Error("the answer does not send")
	}
	room.Close()
	if n := room.Viewers(); n != 0 {
		t.Errorf("%d viewers after the room closed", n)
	}
	if _, _, err := room.View("v3", sdp, ViewOptions{}); err == nil {
		t.Error("a closed room took a viewer")
	}
}

// viewerGoroutines are the functions that run on the goroutines a Viewer
// starts: the RTCP readers of its streams and its congestion control's
// run (with its sender reports).
var viewerGoroutines = []string{
	"parley/sfu.(*viewTrack).readRTCP",
	"parley/sfu.(*Viewer).startGoroutines.func",
	"parley/sfu.(*Viewer).failed",
}

// TestViewerCloseFreesEverything: a viewer that leaves while its
// publisher goes on leaves nothing behind: none of its goroutines runs,
// the media goroutines (the SFU's and Pion's, the test client's
// included) are back to what they were before it came, and neither the
// room nor the engine counts it. Viewers have no socket of their own:
// the engine's connections, viewers' as participants', all share its
// one UDP socket (and TCP listener), so there is no per-viewer socket to
// close; the client's own sockets are closed with its connection, which
// the count of the process's files checks.
func TestViewerCloseFreesEverything(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	publishTagged(a, 'A', true)
	ua, uv := upOf(t, a.p, webrtc.RTPCodecTypeAudio), upOf(t, a.p, webrtc.RTPCodecTypeVideo)
	eventually(t, "a's media flows", func() bool { return ua.Packets() >= 20 && uv.Packets() >= 20 })
	before, files := len(mediaGoroutines()), openFiles(t)

	tv := view(t, room, "v1", ViewOptions{}, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo)
	tv.waitTag(webrtc.RTPCodecTypeAudio, 'A', 20)
	tv.waitTag(webrtc.RTPCodecTypeVideo, 'A', 20)
	if n := len(mediaGoroutines()); n <= before {
		t.Fatalf("%d media goroutines with a viewer, %d without: the count does not see it", n, before)
	}
	if n := len(ownedRunning(viewerGoroutines)); n < 3 {
		t.Fatalf("%d of the viewer's goroutines run, want its two RTCP readers and its congestion control", n)
	}
	if n := openFiles(t); n <= files {
		t.Fatalf("%d open files with a viewer, %d without: the count does not see its client's sockets", n, files)
	}
	if room.Viewers() != 1 || e.Stats().Viewers != 1 {
		t.Fatalf("the room counts %d viewers, the engine %d", room.Viewers(), e.Stats().Viewers)
	}

	tv.close() // Viewer.Close, then the client's connection
	if left := ownedRunning(viewerGoroutines); len(left) > 0 {
		t.Errorf("running after Viewer.Close:\n%s", strings.Join(left, "\n\n"))
	}
	eventually(t, "the media goroutines are back to their count before the viewer", func() bool {
		return len(mediaGoroutines()) <= before
	})
	eventually(t, "the open files are back to their count before the viewer", func() bool { return openFiles(t) <= files })
	if n := room.Viewers(); n != 0 {
		t.Errorf("the room counts %d viewers after Close", n)
	}
	if n := e.Stats().Viewers; n != 0 {
		t.Errorf("Stats().Viewers = %d after Close", n)
	}
	// The publisher goes on.
	from := ua.Packets()
	eventually(t, "a's audio goes on", func() bool { return ua.Packets() >= from+10 })
}

// openFiles counts the process's open file descriptors (sockets
// included).
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count the open files: %v", err)
	}
	return len(fds)
}
