package sfu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"parley/internal/testmedia"
)

// simulcastSend is a simulcast video a test client publishes: one track,
// an encoding per rid, each sending its own frames.
type simulcastSend struct {
	rids   []string
	locals []*webrtc.TrackLocalStaticRTP
	ssrcs  []uint32
	plis   []atomic.Int32 // keyframe requests for each encoding
	sent   atomic.Int32   // frames sent on each encoding
}

// publishSimulcast publishes a VP8 video with one encoding per rid, as a
// browser does with sendEncodings, and sends frames[i] on encoding i
// every 40 ms, looping, until the client ends. Each packet carries the
// mid and rid header extensions.
func (c *testClient) publishSimulcast(rids []string, frames [][]testmedia.Frame) *simulcastSend {
	c.t.Helper()
	return c.publishEncodings(rids, frames, false)
}

// publishSSRCSimulcast is publishSimulcast with the encodings declared
// by SSRC, as older browsers do: the offer groups them with
// "a=ssrc-group:SIM" from the lowest resolution to the highest (the
// reverse of rids, given the largest first), and names no rid; the
// packets carry none.
func (c *testClient) publishSSRCSimulcast(rids []string, frames [][]testmedia.Frame) *simulcastSend {
	c.t.Helper()
	return c.publishEncodings(rids, frames, true)
}

// ssrcSimulcastOffer turns an offer of rid-based simulcast into one of
// SSRC-based simulcast: no rids, no rid header extensions, and a SIM
// group of ssrcs.
func ssrcSimulcastOffer(offer string, ssrcs []uint32) string {
	var out []string
	group := "a=ssrc-group:SIM"
	for _, s := range ssrcs {
		group += " " + strconv.FormatUint(uint64(s), 10)
	}
	for _, line := range strings.Split(offer, "\r\n") {
		switch {
		case strings.HasPrefix(line, "a=rid:"), strings.HasPrefix(line, "a=simulcast:"),
			strings.HasPrefix(line, "a=extmap:") && strings.Contains(line, "rtp-stream-id"):
			continue
		case (strings.HasPrefix(line, "a=ssrc-group:") || strings.HasPrefix(line, "a=ssrc:")) && group != "" &&
			slices.ContainsFunc(ssrcs, func(s uint32) bool { return strings.Contains(line, strconv.FormatUint(uint64(s), 10)) }):
			out = append(out, group)
			group = ""
		}
		out = append(out, line)
	}
	return strings.Join(out, "\r\n")
}

func (c *testClient) publishEncodings(rids []string, frames [][]testmedia.Frame, bySSRC bool) *simulcastSend {
	c.t.Helper()
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.pub = pc
	c.mu.Unlock()
	s := &simulcastSend{rids: rids, plis: make([]atomic.Int32, len(rids))}
	var sender *webrtc.RTPSender
	var tr *webrtc.RTPTransceiver
	for i, rid := range rids {
		local, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
			c.id+"-video", c.id, webrtc.WithRTPStreamID(rid))
		if err != nil {
			c.t.Fatal(err)
		}
		s.locals = append(s.locals, local)
		if i == 0 {
			tr, err = pc.AddTransceiverFromTrack(local, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
			if err != nil {
				c.t.Fatal(err)
			}
			sender = tr.Sender()
		} else if err := sender.AddEncoding(local); err != nil {
			c.t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	sdpText, err := setLocal(pc, offer)
	if err != nil {
		c.t.Fatal(err)
	}
	if bySSRC {
		var low2high []uint32
		for _, e := range slices.Backward(sender.GetParameters().Encodings) {
			low2high = append(low2high, uint32(e.SSRC))
		}
		sdpText = ssrcSimulcastOffer(sdpText, low2high)
		if !strings.Contains(sdpText, "a=ssrc-group:SIM") {
			c.t.Fatalf("no SIM group made of the offer:\n%s", sdpText)
		}
	}
	answer, err := c.p.HandleOffer(sdpText)
	if err != nil {
		c.t.Fatalf("HandleOffer: %v", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		c.t.Fatal(err)
	}
	params := sender.GetParameters()
	for _, e := range params.Encodings {
		s.ssrcs = append(s.ssrcs, uint32(e.SSRC))
	}
	var midID, ridID uint8
	for _, e := range params.HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	if midID == 0 || (ridID == 0) != bySSRC {
		c.t.Fatalf("the SFU accepted the header extensions mid %d, rid %d", midID, ridID)
	}
	mid := tr.Mid()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, rid := range rids {
		c.goLocked(func() {
			for {
				pkts, _, err := sender.ReadSimulcastRTCP(rid)
				if err != nil {
					return
				}
				for _, p := range pkts {
					if pli, ok := p.(*rtcp.PictureLossIndication); ok && pli.MediaSSRC == s.ssrcs[i] {
						s.plis[i].Add(1)
					}
				}
			}
		})
	}
	c.goLocked(func() {
		packetizers := make([]rtp.Packetizer, len(rids))
		for i := range rids {
			packetizers[i] = rtp.NewPacketizer(1200, 96, s.ssrcs[i], &codecs.VP8Payloader{EnablePictureID: true},
				rtp.NewRandomSequencer(), 90000)
		}
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-c.quit:
				return
			case <-tick.C:
			}
			for i, rid := range rids {
				f := frames[i][n%len(frames[i])]
				for _, p := range packetizers[i].Packetize(f.Data, 3600) {
					_ = p.SetExtension(midID, []byte(mid))
					if !bySSRC {
						_ = p.SetExtension(ridID, []byte(rid))
					}
					_ = s.locals[i].WriteRTP(p)
				}
			}
			s.sent.Add(1)
		}
	})
	return s
}

// vp8Sizes makes VP8 frames of a moving test picture at each size
// (width x height), 25 frames a second with a keyframe every 10 frames,
// seconds long: the layers of a simulcast video.
func vp8Sizes(t *testing.T, seconds int, sizes ...string) [][]testmedia.Frame {
	t.Helper()
	var out [][]testmedia.Frame
	for i, size := range sizes {
		path := testmedia.MakeMedia(t, fmt.Sprintf("layer%d.ivf", i),
			"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=%s:rate=25:duration=%d", size, seconds),
			"-c:v", "libvpx", "-b:v", "200k", "-g", "10", "-keyint_min", "10", "-deadline", "realtime", "-cpu-used", "8")
		out = append(out, readIVFFrames(t, path))
	}
	return out
}

func readIVFFrames(t *testing.T, path string) []testmedia.Frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames []testmedia.Frame
	for {
		frame, _, err := r.ParseNextFrame()
		if err != nil {
			break
		}
		frames = append(frames, testmedia.Frame{Data: frame, Keyframe: frame[0]&1 == 0, Duration: 40 * time.Millisecond})
	}
	if len(frames) == 0 {
		t.Fatalf("no frames in %s", filepath.Base(path))
	}
	return frames
}

// writeIVF writes the VP8 frames of packets, in order, to an IVF file:
// a frame is the packets of one timestamp.
func writeIVF(t *testing.T, pkts []*rtp.Packet) (path string, frames int) {
	t.Helper()
	var body, frame bytes.Buffer
	flush := func() {
		if frame.Len() == 0 {
			return
		}
		var h [12]byte
		binary.LittleEndian.PutUint32(h[0:], uint32(frame.Len()))
		binary.LittleEndian.PutUint64(h[4:], uint64(frames))
		body.Write(h[:])
		body.Write(frame.Bytes())
		frame.Reset()
		frames++
	}
	for i, p := range pkts {
		if i > 0 && p.Timestamp != pkts[i-1].Timestamp {
			flush()
		}
		var vp codecs.VP8Packet
		data, err := vp.Unmarshal(p.Payload)
		if err != nil {
			t.Fatalf("packet %d: %v", p.SequenceNumber, err)
		}
		frame.Write(data)
	}
	flush()
	hdr := make([]byte, 32)
	copy(hdr, "DKIF")
	binary.LittleEndian.PutUint16(hdr[6:], 32)
	copy(hdr[8:], "VP80")
	binary.LittleEndian.PutUint16(hdr[12:], 320)
	binary.LittleEndian.PutUint16(hdr[14:], 240)
	binary.LittleEndian.PutUint32(hdr[16:], 25)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	binary.LittleEndian.PutUint32(hdr[24:], uint32(frames))
	path = filepath.Join(t.TempDir(), "received.ivf")
	if err := os.WriteFile(path, append(hdr, body.Bytes()...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, frames
}

// decodeErrors is what ffmpeg says is wrong as it decodes path: empty
// when every frame decodes.
func decodeErrors(t *testing.T, path string) string { return testmedia.DecodeErrors(t, path) }
