package signaling

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	wsclient "parley/client"
	"parley/internal/testmedia"
)

// TestSpeaking: the room, the speaker included, is told when someone
// starts and stops speaking, from the audio levels on their packets.
func TestSpeaking(t *testing.T) {
	h := newHub(t, nil)
	ts := serve(t, h)
	bob := wsJoin(t, wsURL(ts), "walkie", "bob", wsclient.Options{})
	ann, err := wsclient.Dial(timeout(t), wsURL(ts), wsclient.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ann.Close)
	joined, err := ann.Join(timeout(t), "walkie", "ann")
	if err != nil {
		t.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(testmedia.OpusCodec.RTPCodecCapability, "audio", "ann")
	if err != nil {
		t.Fatal(err)
	}
	senders, err := ann.Publish(timeout(t), audio)
	if err != nil {
		t.Fatal(err)
	}
	id := wsclient.AudioLevelID(senders[0])
	if id == 0 {
		t.Fatal("the server did not accept the audio level extension")
	}
	var level atomic.Int32
	level.Store(127)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 1}, Payload: []byte{0xf8, 0xff, 0xfe}}
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			_ = pkt.SetExtension(id, []byte{0x80 | byte(level.Load())})
			_ = audio.WriteRTP(pkt)
			pkt.SequenceNumber++
			pkt.Timestamp += 960
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })

	annID := joined.ID
	for _, want := range []bool{true, false} {
		if want {
			level.Store(20)
		} else {
			level.Store(127)
		}
		for name, c := range map[string]*wsclient.Client{"bob": bob, "ann": ann} {
			m := expectMsg(t, c, TypeSpeaking)
			if m["id"] != annID || m["speaking"] != want {
				t.Errorf("%s was told %v, want ann (%s) speaking %v", name, m, annID, want)
			}
		}
	}
}
