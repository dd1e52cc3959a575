package server

import (
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"parley/client"
	"parley/internal/testmedia"
)

// TestRecordWaveform: a clip recorded from a publisher that sends its
// audio levels has a waveform that follows them (loud, then silent); a
// clip from one that sends none has no waveform.
func TestRecordWaveform(t *testing.T) {
	srv := startServer(t, nil)
	frames := testmedia.Opus(t, 3)
	c, _ := srv.join(t, "chat", "ann", client.Options{})
	audio, err := webrtc.NewTrackLocalStaticRTP(testmedia.OpusCodec.RTPCodecCapability, "audio", "ann")
	if err != nil {
		t.Fatal(err)
	}
	senders, err := c.Publish(timeout(t, 5*time.Second), audio)
	if err != nil {
		t.Fatal(err)
	}
	id := client.AudioLevelID(senders[0])
	if id == 0 {
		t.Fatal("the server did not accept the audio level extension")
	}
	pc := c.PublishConn()
	eventually(t, 5*time.Second, "the publish connection connects", func() bool {
		return pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
	var ts0 uint32 = 1000
	var seq uint16
	send := func(levels bool) func() {
		return func() {
			pkts := testmedia.Packets(frames, &codecs.OpusPayloader{}, 48000, ts0)
			ts0 += uint32(len(frames) * 960)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for i, frame := range pkts {
				for _, p := range frame {
					p.SequenceNumber = seq // on from the last batch
					seq++
					if levels {
						level := byte(10) // loudness 83
						if i >= len(pkts)/2 {
							level = 127
						}
						_ = p.SetExtension(id, []byte{0x80 | level})
					}
					if err := audio.WriteRTP(p); err != nil {
						t.Error(err)
					}
				}
				<-tick.C
			}
		}
	}
	clip, reason := srv.recordWhile(t, c, "", send(true))
	if reason != "stopped" || clip.ID == "" {
		t.Fatalf("record-stopped: %q %+v", reason, clip)
	}
	w := clip.Waveform
	if len(w) < 32 {
		t.Fatalf("waveform %v", w)
	}
	n := len(w)
	for i, v := range w {
		switch {
		case i < n/2-2 && v != 83:
			t.Errorf("slice %d of the loud half is %d, want 83: %v", i, v, w)
		case i > n/2+2 && v != 0:
			t.Errorf("slice %d of the silent half is %d, want 0: %v", i, v, w)
		}
	}
	plain, _ := srv.recordWhile(t, c, "", send(false))
	if plain.ID == "" || plain.Waveform != nil {
		t.Errorf("a clip without levels: %+v", plain)
	}
}
