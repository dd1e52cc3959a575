package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestSimulcast: a simulcast publisher's layers reach the subscribers
// that asked for each (video-size), every keyframe of the window of that
// layer's size, at about that layer's bitrate. The subscribers have no
// congestion control (see simulcast).
func TestSimulcast(t *testing.T) {
	tg := startServer(t)
	sc := simulcast(Scenario{Name: "s", Publishers: 1, Subscribers: 6, Warmup: 300 * time.Millisecond, Measure: simulcastKeyEvery + time.Second}, "")
	res, err := run(context.Background(), tg, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.ReadySubscribers != 6 || len(res.Problems) != 0 {
		t.Fatalf("ready %d, problems %v", res.ReadySubscribers, res.Problems)
	}
	if len(res.Layers) != 3 {
		t.Fatalf("layers %+v", res.Layers)
	}
	for _, l := range res.Layers {
		if l.Subscribers != 2 || l.Verified != 2 {
			t.Errorf("layer %s: %d of %d subscribers got it", l.RID, l.Verified, l.Subscribers)
		}
		// The bytes counted are whole RTP packets: a little more than
		// the payloads the layer's bitrate counts.
		if l.KbpsP50 < l.SentKbps*0.8 || l.KbpsP50 > l.SentKbps*1.5 {
			t.Errorf("layer %s: received %.0f kbit/s, sent %.0f", l.RID, l.KbpsP50, l.SentKbps)
		}
		if l.EstimateP50 != 0 {
			t.Errorf("layer %s: an estimate (%.0f kbit/s) without congestion control", l.RID, l.EstimateP50)
		}
	}
	if md := layerNote(res.Layers); md == "" {
		t.Error("no note of the layers")
	}
}

// TestVP8KeyframeSize: the size is read from a keyframe's first packet
// behind an RTP header with extensions, and from no other packet.
func TestVP8KeyframeSize(t *testing.T) {
	pl := make([]byte, 40)
	pl[0] = 0x10
	vp8KeyframeHeader(pl[1:], 1280, 720)
	h := rtp.Header{Version: 2, SequenceNumber: 1}
	if err := h.SetExtension(3, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	pkt, err := (&rtp.Packet{Header: h, Payload: pl}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if w, hh, ok := vp8KeyframeSize(pkt); !ok || w != 1280 || hh != 720 {
		t.Errorf("keyframe: %dx%d %v", w, hh, ok)
	}
	if !vp8Keyframe(pkt) {
		t.Error("vp8Keyframe: not a keyframe")
	}
	pl[1] = 0x01 // an interframe
	pkt, _ = (&rtp.Packet{Header: h, Payload: pl}).Marshal()
	if _, _, ok := vp8KeyframeSize(pkt); ok {
		t.Error("an interframe has a size")
	}
	for n := range 20 {
		if _, _, ok := vp8KeyframeSize(pkt[:n]); ok {
			t.Errorf("%d bytes have a size", n)
		}
	}
}

// TestInterleave: a scenario measured versus another runs with it, in
// turn, and its figure is given as a percentage of the other's.
func TestInterleave(t *testing.T) {
	m := standardMatrix(time.Second, time.Second)
	groups := interleave(m)
	var names [][]string
	for _, g := range groups {
		var n []string
		for _, sc := range g {
			n = append(n, sc.Name)
		}
		names = append(names, n)
	}
	if !slices.ContainsFunc(names, func(n []string) bool { return slices.Equal(n, []string{singleNoCC, "video 1×200 simulcast"}) }) {
		t.Errorf("groups %v", names)
	}
	if len(groups) != len(m)-1 {
		t.Errorf("%d groups of %d scenarios", len(groups), len(m))
	}
	rs := []Result{{Scenario: Scenario{Name: "a"}, PerCPUSecond: 200}, {Scenario: Scenario{Name: "b", Versus: "a"}, PerCPUSecond: 190}}
	compare(rs)
	if rs[1].VersusPercent != 95 || rs[0].VersusPercent != 0 {
		t.Errorf("compare: %v %v", rs[0].VersusPercent, rs[1].VersusPercent)
	}
}
