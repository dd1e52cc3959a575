package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"parley/client"
	"parley/sfu/vp8"
)

// simulcastLayer is one encoding of the simulcast publisher's video.
type simulcastLayer struct {
	RID           string `json:"rid"`
	Width, Height int    `json:"-"`
	Bps           int    `json:"-"`
}

// simulcastLayers are what a simulcast publisher sends, lowest first, as
// a browser's camera at 720p sends them: each a halving of the next, at
// about the bitrates libwebrtc gives them.
var simulcastLayers = []simulcastLayer{
	{RID: "q", Width: 320, Height: 180, Bps: 150_000},
	{RID: "h", Width: 640, Height: 360, Bps: 500_000},
	{RID: "f", Width: 1280, Height: 720, Bps: 1_500_000},
}

// simulcastBps is the bitrate of all the simulcast layers together.
func simulcastBps() int {
	n := 0
	for _, l := range simulcastLayers {
		n += l.Bps
	}
	return n
}

// simulcastKeyEvery is how often the simulcast publisher sends a
// keyframe on each layer unasked, so that subscribers see their layer's
// size in the window.
const simulcastKeyEvery = 3 * time.Second

// publishSimulcast makes a publisher of audio and a simulcast video (the
// layers of simulcastLayers) named id, and publishes them through c: the
// audio, then the video as one m-section with an encoding per rid. Every
// video packet carries the mid and rid header extensions, as a browser's
// do.
func publishSimulcast(ctx context.Context, c *client.Client, id string, talk, pause time.Duration) (*publisher, error) {
	p, err := newPublisher(id, 0, talk, pause)
	if err != nil {
		return nil, err
	}
	p.keyEvery = simulcastKeyEvery
	var locals []webrtc.TrackLocal
	for _, sl := range simulcastLayers {
		t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
			"video", id, webrtc.WithRTPStreamID(sl.RID))
		if err != nil {
			return nil, err
		}
		l := &videoLayer{track: t, rid: sl.RID, width: sl.Width, height: sl.Height, bps: sl.Bps}
		l.keyframe.Store(true)
		p.video = append(p.video, l)
		locals = append(locals, t)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	audio, err := c.Publish(pctx, p.audio)
	if err != nil {
		return nil, fmt.Errorf("publish audio: %w", err)
	}
	go p.readRTCP(audio[0])
	sender, err := c.PublishSimulcast(pctx, locals...)
	if err != nil {
		return nil, fmt.Errorf("publish simulcast video: %w", err)
	}
	params := sender.GetParameters()
	for _, e := range params.HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			p.midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			p.ridID = uint8(e.ID)
		}
	}
	if p.midID == 0 || p.ridID == 0 {
		return nil, errors.New("the server's answer does not accept the mid and rid header extensions")
	}
	for _, tr := range c.PublishConn().GetTransceivers() {
		if tr.Sender() == sender {
			p.mid = tr.Mid()
		}
	}
	ssrcs := map[uint32]*videoLayer{}
	for i, e := range params.Encodings {
		if i < len(p.video) {
			ssrcs[uint32(e.SSRC)] = p.video[i]
		}
	}
	for _, l := range p.video {
		go func() {
			for {
				pkts, _, err := sender.ReadSimulcastRTCP(l.rid)
				if err != nil {
					return
				}
				p.askKeyframes(pkts, ssrcs)
			}
		}()
	}
	return p, nil
}

// vp8KeyframeSize is the size a VP8 keyframe's first packet (a whole RTP
// packet) announces; ok is false for any other packet.
func vp8KeyframeSize(pkt []byte) (width, height int, ok bool) {
	if len(pkt) < 12 {
		return 0, 0, false
	}
	n := 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // a header extension
		if len(pkt) < n+4 {
			return 0, 0, false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(pkt[n+2:]))
	}
	if len(pkt) < n {
		return 0, 0, false
	}
	d, err := vp8.Parse(pkt[n:])
	if err != nil {
		return 0, 0, false
	}
	return d.KeyframeSize(pkt[n:])
}

// LayerResult is what subscribers asked of one simulcast layer and got.
type LayerResult struct {
	simulcastLayer
	Size        string  `json:"size"`            // width x height
	SentKbps    float64 `json:"sent_kbps"`       // what the publisher sends on it
	Subscribers int     `json:"subscribers"`     // that asked for it (video-size)
	Verified    int     `json:"verified"`        // that got it: every keyframe of the window of its width, at least one
	Keyframes   uint64  `json:"keyframes"`       // they received in the window
	Others      uint64  `json:"other_keyframes"` // of them, of another layer
	KbpsP50     float64 `json:"received_kbps_p50"`
	EstimateP50 float64 `json:"estimate_kbps_p50"` // the server's estimate of their downlinks after the window (0: no congestion control)
}

// layersWait bounds the wait for every subscriber to get its layer.
const layersWait = 90 * time.Second

// askLayers has subscriber i ask, with video-size, for layer i modulo
// the layers (its size exactly), and waits until each receives
// keyframes of that layer. It returns the layer each asked for.
func askLayers(ctx context.Context, subs []*participant) ([]int, error) {
	wants := make([]int, len(subs))
	var asked []*participant // those with a video: the others are counted as not ready
	for i, p := range subs {
		l := simulcastLayers[i%len(simulcastLayers)]
		wants[i] = i % len(simulcastLayers)
		v := p.sub.videoTrack()
		if v == nil || p.c == nil {
			continue
		}
		p.sub.want.Store(int32(l.Width))
		if err := p.c.Send(map[string]any{"type": "video-size", "track": v.id, "width": l.Width, "height": l.Height}); err != nil {
			return wants, fmt.Errorf("video-size: %w", err)
		}
		asked = append(asked, p)
	}
	// A switch waits for a keyframe of the layer, asked for or sent every
	// simulcastKeyEvery. With congestion control (not NoCC), each
	// subscriber starts on the lowest layer and climbs as its estimate
	// grows, 8% a second from 300 kbit/s (sfu/bwe.go): the top layer takes
	// half a minute or more.
	deadline := time.Now().Add(layersWait)
	for {
		late := 0
		for _, p := range asked {
			if v := p.sub.videoTrack(); v.keyWidth.Load() != p.sub.want.Load() {
				late++
			}
		}
		if late == 0 {
			return wants, nil
		}
		if time.Now().After(deadline) {
			return wants, fmt.Errorf("%d of %d subscribers still get another layer than the one they asked for", late, len(asked))
		}
		select {
		case <-ctx.Done():
			return wants, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// videoTrack is the subscriber's first video track, nil before it has
// one.
func (s *subscriber) videoTrack() *trackStats {
	for _, t := range s.all() {
		if t.video {
			return t
		}
	}
	return nil
}

// layers fills in, for each simulcast layer, how many subscribers asked
// for it (wants, by subscriber) and got it over the window, and their
// median bitrate.
func (r *Result) layers(ctx context.Context, subs []*participant, wants []int) {
	kbps := make([][]float64, len(simulcastLayers))
	estimates := make([][]float64, len(simulcastLayers))
	r.Layers = make([]LayerResult, len(simulcastLayers))
	for i, sl := range simulcastLayers {
		r.Layers[i] = LayerResult{simulcastLayer: sl, Size: fmt.Sprintf("%dx%d", sl.Width, sl.Height), SentKbps: float64(sl.Bps) / 1e3}
	}
	for i, p := range subs {
		if i >= len(wants) {
			break
		}
		l := &r.Layers[wants[i]]
		l.Subscribers++
		v := p.sub.videoTrack()
		if v == nil {
			continue
		}
		keys, off := v.keys.Load(), v.keysOff.Load()
		if keys > 0 && off == 0 {
			l.Verified++
		}
		l.Keyframes += keys
		l.Others += off
		kbps[wants[i]] = append(kbps[wants[i]], float64(v.bytes.Load())*8/1e3/r.Seconds)
		if d, err := askDownlink(ctx, p.c); err == nil {
			estimates[wants[i]] = append(estimates[wants[i]], float64(d.Estimate)/1e3)
		}
	}
	for i, ks := range kbps {
		r.Layers[i].KbpsP50 = p50(ks)
		r.Layers[i].EstimateP50 = p50(estimates[i])
		if l := r.Layers[i]; l.Verified < l.Subscribers {
			r.Problems = append(r.Problems, fmt.Sprintf("layer %s: only %d of %d subscribers got it in the window (%d of their %d keyframes of another layer)", l.RID, l.Verified, l.Subscribers, l.Others, l.Keyframes))
		}
	}
}

// p50 is the median of xs (the lower middle one), 0 for none.
func p50(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[(len(xs)-1)/2]
}

// layerNote sums up the layers for the table.
func layerNote(ls []LayerResult) string {
	if len(ls) == 0 {
		return ""
	}
	var parts []string
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s %s: %d of %d subscribers got it, %.0f kbit/s each (estimate %.0f)", l.RID, l.Size, l.Verified, l.Subscribers, l.KbpsP50, l.EstimateP50))
	}
	return "layers " + strings.Join(parts, "; ")
}

// downlinkState is the server's answer to downlink: its estimate of a
// subscriber's downlink and the layer of its (first) simulcast video.
type downlinkState struct {
	Estimate int64 `json:"estimate"`
	Videos   []struct {
		Layer  int  `json:"layer"`
		Target int  `json:"target"`
		Paused bool `json:"paused"`
	} `json:"videos"`
}

// askDownlink asks the server what it knows of c's downlink.
func askDownlink(ctx context.Context, c *client.Client) (downlinkState, error) {
	var d downlinkState
	if err := c.Send(map[string]any{"type": "downlink", "req": 1}); err != nil {
		return d, err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := c.WaitFor(wctx, "downlink")
	if err != nil {
		return d, err
	}
	return d, m.Decode(&d)
}
