package sfu

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"parley/internal/testmedia"
	"parley/recorder"
	"parley/sfu/vp8"
)

// probeWidth is the width ffprobe reads of the first video stream of path.
func probeWidth(t *testing.T, path string) int {
	t.Helper()
	ffprobe := testmedia.RequireTool(t, "ffprobe", "ffmpeg")
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	w, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return w
}

// lockedSink keeps what a sink is given, for a test to read.
type lockedSink struct {
	mu   sync.Mutex
	pkts []sentPacket
}

func (s *lockedSink) WriteRTP(p *rtp.Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pkts = append(s.pkts, sentPacket{p.Header, bytes.Clone(p.Payload)})
}

func (s *lockedSink) got() []sentPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pkts)
}

// downOf returns the down track by which p receives up.
func downOf(p *Participant, up *UpTrack) *DownTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.downs[up]
}

// TestSimulcast: a publisher's three rid encodings of real VP8, at three
// sizes, are one up track of three layers, ranked by their names; a
// subscriber starts on the lowest and climbs to the highest, is switched
// down and up (each switch asking for the target layer's keyframe), and
// receives one stream that ffmpeg decodes without an error, with
// sequence numbers, timestamps and picture IDs that go on across every
// switch; a NACK after the switches is answered with the packet it
// names; the sink gets the highest layer only; on both send paths.
func TestSimulcast(t *testing.T) {
	frames := vp8Sizes(t, 2, "320x240", "160x120", "80x60")
	for _, mode := range []struct {
		name     string
		noDirect bool
	}{{"direct", false}, {"pion", true}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newTestEngine(t, mode.noDirect)
			room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
			a := join(t, room, "a")
			// In the order of sendEncodings, the largest first.
			sim := a.publishSimulcast([]string{"f", "h", "q"}, frames)
			up := upOf(t, a.p, video)
			if got := up.Layers(); !slices.Equal(got, []string{"q", "h", "f"}) || !up.Simulcast() {
				t.Fatalf("layers %q, want q, h, f", got)
			}
			eventually(t, "every layer flows", func() bool {
				return up.layers[0].started.Load() && up.layers[1].started.Load() && up.layers[2].started.Load()
			})
			sink := &lockedSink{}
			up.AddSink(sink)
			clip, err := os.Create(filepath.Join(t.TempDir(), "clip.webm"))
			if err != nil {
				t.Fatal(err)
			}
			defer clip.Close()
			// A clip has an audio track; this one's stays silent.
			rec, err := recorder.Start(clip, []recorder.Track{{Codec: testmedia.OpusCodec}, {Codec: up.Codec(), RequestKeyframe: up.RequestKeyframe,
				SenderReport: func() (recorder.SenderReport, bool) {
					sr, ok := up.LastSenderReport()
					return recorder.SenderReport{NTP: sr.NTP, RTP: sr.RTP, Arrival: sr.Arrival}, ok
				}}}, recorder.Options{})
			if err != nil {
				t.Fatal(err)
			}
			up.AddSink(rec.Sink(1))
			// A clip is its sound: the recorder keeps only one with audio.
			for _, frame := range testmedia.Packets(testmedia.Opus(t, 1), &codecs.OpusPayloader{}, 48000, 0) {
				for _, p := range frame {
					rec.Sink(0).WriteRTP(p)
				}
			}

			b, _ := subscribeEachLayer(t, room, up, sim)

			// A NACK for a packet of the lowest layer, three switches ago,
			// and for the last packet.
			kept := b.received(up.ID()).kept
			var low *rtp.Packet
			var widths []int
			width := 0
			for _, p := range kept {
				if w, ok := keyframeWidth(p.Payload); ok && w != width {
					width = w
					widths = append(widths, w)
				}
				// The lowest layer's second stretch: the first is older
				// than the switches kept (epochsKept).
				if len(widths) == 3 && low == nil {
					low = p
				}
			}
			if want := []int{80, 320, 80, 160, 320}; !slices.Equal(widths, want) {
				t.Errorf("b received pictures %v wide in turn, want %v", widths, want)
			}
			if low == nil {
				t.Fatal("b got no packet of the lowest layer")
			}
			last := kept[len(kept)-1]
			b.writeRTCP(&rtcp.TransportLayerNack{MediaSSRC: last.SSRC,
				Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{low.SequenceNumber, last.SequenceNumber})})
			eventually(t, "the NACKed packets come again", func() bool {
				return b.timesReceived(up.ID(), low.SequenceNumber) == 2 && b.timesReceived(up.ID(), last.SequenceNumber) == 2
			})
			a.unpublish()
			eventually(t, "a's video ends", up.Closed)

			// Each packet as first received, then the retransmissions.
			var stream []*rtp.Packet
			seen := map[uint16]*rtp.Packet{}
			for _, p := range b.received(up.ID()).kept {
				if first := seen[p.SequenceNumber]; first != nil {
					if p.Timestamp != first.Timestamp || !bytes.Equal(p.Payload, first.Payload) {
						t.Errorf("packet %d came again otherwise than first", p.SequenceNumber)
					}
					continue
				}
				seen[p.SequenceNumber] = p
				stream = append(stream, p)
			}
			sent := make([]sentPacket, len(stream))
			for i, p := range stream {
				sent[i] = sentPacket{p.Header, p.Payload}
			}
			checkContinuous(t, sent)
			path, n := writeIVF(t, stream)
			if errs := decodeErrors(t, path); errs != "" {
				t.Errorf("ffmpeg decodes what b received with errors:\n%s", errs)
			}
			if n < 40 {
				t.Errorf("b received %d frames", n)
			}

			res, err := rec.Stop()
			if err != nil {
				t.Fatalf("recording: %v", err)
			}
			if errs := decodeErrors(t, clip.Name()); errs != "" || res.Duration < 2*time.Second {
				t.Errorf("the recording of a simulcast video lasts %v and decodes with errors: %q", res.Duration, errs)
			}
			if w := probeWidth(t, clip.Name()); w != 320 {
				t.Errorf("the recording is %d pixels wide, want the highest layer's 320", w)
			}

			got := sink.got()
			if len(got) < 20 {
				t.Fatalf("the sink got %d packets", len(got))
			}
			checkContinuous(t, got)
			for _, p := range got {
				if p.hdr.SSRC != sim.ssrcs[0] {
					t.Fatalf("the sink got a packet of SSRC %d, not the highest layer's %d", p.hdr.SSRC, sim.ssrcs[0])
				}
			}
		})
	}
}

// TestSSRCSimulcast: a publisher that declares its three encodings by
// SSRC (a SIM group, no rids) publishes one up track of three layers, in
// the group's order; its subscriber climbs to the highest, is switched
// to each, and receives one stream that ffmpeg decodes without an
// error; the layers the SFU reads itself (and their RTX streams, read to
// be dropped) end with the track, and when the publisher leaves nothing
// of them runs.
func TestSSRCSimulcast(t *testing.T) {
	frames := vp8Sizes(t, 2, "320x240", "160x120", "80x60")
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	// With RTX: each encoding has an RTX SSRC in a FID group.
	a := joinWith(t, room, "a", subscriberAPI(t, nil, true))
	sim := a.publishSSRCSimulcast([]string{"f", "h", "q"}, frames)
	up := upOf(t, a.p, video)
	if len(up.layers) != 3 {
		t.Fatalf("%d layers, want 3", len(up.layers))
	}
	for i, l := range up.layers {
		if got, want := uint32(l.remote.SSRC()), sim.ssrcs[2-i]; got != want {
			t.Errorf("layer %d is SSRC %d, want %d", i, got, want)
		}
		if s, own := l.remote.(*ssrcStream); own && s.rtx == nil {
			t.Errorf("layer %d: its RTX stream is not read", i)
		}
	}
	eventually(t, "every layer flows", func() bool {
		return up.layers[0].started.Load() && up.layers[1].started.Load() && up.layers[2].started.Load() &&
			up.layers[0].octets.Load() > 0 && up.layers[1].octets.Load() > 0 && up.layers[2].octets.Load() > 0
	})
	b, _ := subscribeEachLayer(t, room, up, sim)
	var widths []int
	width := 0
	kept := b.received(up.ID()).kept
	for _, p := range kept {
		if w, ok := keyframeWidth(p.Payload); ok && w != width {
			width = w
			widths = append(widths, w)
		}
	}
	if want := []int{80, 320, 80, 160, 320}; !slices.Equal(widths, want) {
		t.Errorf("b received pictures %v wide in turn, want %v", widths, want)
	}
	path, n := writeIVF(t, kept)
	if errs := decodeErrors(t, path); errs != "" {
		t.Errorf("ffmpeg decodes what b received with errors:\n%s", errs)
	}
	if n < 40 {
		t.Errorf("b received %d frames", n)
	}
	a.p.Leave()
	eventually(t, "a's video ends", up.Closed)
	if left := ownedRunning([]string{"parley/sfu.(*layer).forward", "parley/sfu.(*layer).readRTCP", "parley/sfu.(*ssrcStream).drain"}); len(left) > 0 {
		t.Errorf("running after the publisher left:\n%s", strings.Join(left, "\n\n"))
	}
}

// subscribeEachLayer joins b, keeping what it receives of up, waits for
// it to climb to the highest layer, then switches it to each layer in
// turn, checking that each asks its encoding of sim (given f, h, q: layer
// i is encoding 2-i) for a keyframe.
func subscribeEachLayer(t *testing.T, room *Room, up *UpTrack, sim *simulcastSend) (*testClient, *DownTrack) {
	t.Helper()
	b := join(t, room, "b")
	b.mu.Lock()
	b.keep = true
	b.mu.Unlock()
	waitDowns(t, b.p, up.ID())
	d := downOf(b.p, up)
	eventually(t, "b climbs to the highest layer", func() bool { return d.CurrentLayer() == 2 })
	b.waitPackets(up.ID(), 20)
	for _, target := range []int{0, 1, 2} {
		plis := sim.plis[2-target].Load()
		d.SetTargetLayer(target)
		eventually(t, "b is switched", func() bool { return d.CurrentLayer() == target })
		eventually(t, "the target layer was asked for a keyframe", func() bool { return sim.plis[2-target].Load() > plis })
		b.waitPackets(up.ID(), 20)
	}
	return b, d
}

// keyframeWidth is the width of the picture a VP8 keyframe's first
// packet begins.
func keyframeWidth(payload []byte) (int, bool) {
	d, err := vp8.Parse(payload)
	if err != nil {
		return 0, false
	}
	w, _, ok := d.KeyframeSize(payload)
	return w, ok
}

// TestSimulcastManyRIDs: a publisher that declares five rids is
// forwarded three of them, ranked by the SDP (highest first), and its
// subscriber receives the highest of those.
func TestSimulcastManyRIDs(t *testing.T) {
	sizes := vp8Sizes(t, 1, "160x120", "80x60")
	frames := [][]testmedia.Frame{sizes[0], sizes[0], sizes[1], sizes[1], sizes[1]}
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	a.publishSimulcast([]string{"a", "b", "c", "d", "e"}, frames)
	up := upOf(t, a.p, video)
	if got := up.Layers(); !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Fatalf("layers %q, want c, b, a", got)
	}
	b := join(t, room, "b")
	waitDowns(t, b.p, up.ID())
	d := downOf(b.p, up)
	eventually(t, "b climbs to the highest layer", func() bool { return d.CurrentLayer() == 2 })
	b.waitPackets(up.ID(), 20)
	if n := len(a.p.UpTracks()); n != 1 {
		t.Errorf("a publishes %d tracks, want 1", n)
	}
}

// TestSimulcastRefused: a simulcast video in a room without video is
// refused, and the publisher told once, not once per encoding.
func TestSimulcastRefused(t *testing.T) {
	sizes := vp8Sizes(t, 1, "80x60")
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true})
	a := join(t, room, "a")
	sim := a.publishSimulcast([]string{"q", "h", "f"}, [][]testmedia.Frame{sizes[0], sizes[0], sizes[0]})
	eventually(t, "a is told of the refusal", func() bool { return len(a.sig.problemList()) > 0 })
	// Every encoding's first packet has long been read by then.
	eventually(t, "a sends a second of video", func() bool { return sim.sent.Load() >= 25 })
	if got := a.sig.problemList(); !slices.Equal(got, []string{"publish video-not-allowed"}) {
		t.Errorf("a was told %v, want one refusal", got)
	}
	if n := len(a.p.UpTracks()); n != 0 {
		t.Errorf("a publishes %d tracks", n)
	}
}
