package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"parley/client"
	"parley/configs"
	"parley/internal/testmedia"
)

// pttPublisher publishes real Opus and VP8 as a browser does with
// push-to-talk: between talks it sends nothing (replaceTrack(null)). Its
// video RTP clock follows the capture time; its audio RTP clock advances
// only with the audio it sends, as Chrome's and Firefox's do. Pion's
// sender interceptor in the client reports on both every second, as
// browsers do: the NTP time is now, the RTP time the last packet's
// timestamp advanced by the time since it was sent. So the audio reports
// from a pause describe a clock that the next talk does not follow.
type pttPublisher struct {
	audio, video *webrtc.TrackLocalStaticRTP
	opus, vp8    []testmedia.Frame
	aPktz, vPktz rtp.Packetizer
	aTS          uint32 // the last audio timestamp sent
	aSent        bool
	epoch        time.Time
}

func newPTTPublisher(t *testing.T) *pttPublisher {
	t.Helper()
	a, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "ptt")
	if err != nil {
		t.Fatal(err)
	}
	v, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "ptt")
	if err != nil {
		t.Fatal(err)
	}
	// The track rewrites SSRC and payload type; the packetizers give
	// sequence numbers that go on across talks, as a browser's do.
	return &pttPublisher{
		audio: a, video: v,
		opus:  testmedia.Opus(t, 3),
		vp8:   testmedia.VP8(t, 3),
		aPktz: rtp.NewPacketizer(1200, 0, 0, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000),
		vPktz: rtp.NewPacketizer(1200, 0, 0, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000),
		epoch: time.Now(),
	}
}

func (p *pttPublisher) publish(t *testing.T, c *client.Client) {
	t.Helper()
	if _, err := c.Publish(timeout(t, 5*time.Second), p.audio, p.video); err != nil {
		t.Fatal(err)
	}
	pc := c.PublishConn()
	eventually(t, 5*time.Second, "the publish connection connects", func() bool {
		return pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
}

func (p *pttPublisher) send(t *testing.T, tr *webrtc.TrackLocalStaticRTP, pktz rtp.Packetizer, ts uint32, data []byte) {
	for _, pkt := range pktz.Packetize(data, 0) {
		pkt.Timestamp = ts
		if err := tr.WriteRTP(pkt); err != nil {
			t.Fatalf("write RTP: %v", err)
		}
	}
}

// videoLag is how much later than the audio each video frame is sent, as
// a browser's encoder delays it; the first frame is a keyframe.
const videoLag = 20 * time.Millisecond

// talk sends hold of audio, and of video too if video, paced in real
// time, each talk starting with a video keyframe.
func (p *pttPublisher) talk(t *testing.T, video bool, hold time.Duration) {
	t.Helper()
	start := time.Now()
	end := start.Add(hold)
	var a, v int
	for {
		at := start.Add(time.Duration(a) * 20 * time.Millisecond)
		vt := start.Add(time.Duration(v)*40*time.Millisecond + videoLag)
		audioDue := at.Before(end)
		videoDue := video && vt.Before(end.Add(videoLag))
		switch {
		case !audioDue && !videoDue:
			return
		case audioDue && (!videoDue || !vt.Before(at)):
			time.Sleep(time.Until(at))
			ts := uint32(1000)
			if p.aSent {
				ts = p.aTS + 960
			}
			p.aTS, p.aSent = ts, true
			p.send(t, p.audio, p.aPktz, ts, p.opus[a%len(p.opus)].Data)
			a++
		default:
			time.Sleep(time.Until(vt))
			ts := 5555 + uint32(vt.Add(-videoLag).Sub(p.epoch).Seconds()*90000) // capture time
			p.send(t, p.video, p.vPktz, ts, p.vp8[v%len(p.vp8)].Data)
			v++
		}
	}
}

// pttClip records one talk on srv as a clip: record-start, the talk,
// release, record-stop, as the browser client does it.
func (p *pttPublisher) pttClip(t *testing.T, srv *testServer, c *client.Client, video bool, hold time.Duration) clipJSON {
	t.Helper()
	clip, reason := srv.recordWhile(t, c, "", func() { p.talk(t, video, hold) })
	if clip.ID == "" {
		t.Fatalf("no clip (%s)", reason)
	}
	return clip
}

// judgeSync downloads a clip and checks it with ffprobe and ffmpeg: it
// lasts hold within 150 ms, each stream starts within 40 ms of the clip,
// and it decodes cleanly.
func (s *testServer) judgeSync(t *testing.T, room, what string, c clipJSON, hold time.Duration, types ...string) {
	t.Helper()
	tl := testmedia.ProbeTimeline(t, s.download(t, room, c))
	t.Logf("%s: %v (catalog %.3f s)", what, tl, c.Duration)
	for _, p := range tl.InSync(hold, 150*time.Millisecond, 40*time.Millisecond, types...) {
		t.Errorf("%s: %s", what, p)
	}
	if len(tl.Streams) != len(types) {
		t.Errorf("%s has streams %+v, want %v", what, tl.Streams, types)
	}
}

// TestClipSyncPushToTalk: in one session, video, audio, video; and video,
// a 4 s pause, video. Every clip is in sync, not only the first: the
// audio reports from before a talk are not used for it.
func TestClipSyncPushToTalk(t *testing.T) {
	const hold = 2 * time.Second
	srv := startServer(t, nil)
	for _, seq := range []struct {
		name   string
		pause  time.Duration
		videos []bool
	}{
		{"video-audio-video", time.Second, []bool{true, false, true}},
		{"video-pause-video", 4 * time.Second, []bool{true, true}},
	} {
		t.Run(seq.name, func(t *testing.T) {
			c, _ := srv.join(t, "videochat", "ptt-"+seq.name, client.Options{})
			p := newPTTPublisher(t)
			p.publish(t, c)
			for i, video := range seq.videos {
				if i > 0 {
					time.Sleep(seq.pause)
				}
				clip := p.pttClip(t, srv, c, video, hold)
				types := []string{"audio"}
				if video {
					types = append(types, "video")
				}
				srv.judgeSync(t, "videochat", fmt.Sprintf("clip %d (%s)", i+1, strings.Join(types, "+")), clip, hold, types...)
			}
		})
	}
}

// TestArchiveSyncPushToTalk: talk spurts archived in a live room with
// video: two talks 4 s apart make two clips, each in sync.
func TestArchiveSyncPushToTalk(t *testing.T) {
	const hold = 2 * time.Second
	srv := startServer(t, func(_ *configs.Server, rooms []configs.Room) {
		for i := range rooms {
			if rooms[i].Name == "live" {
				rooms[i].Archive = true
			}
		}
	})
	watcher, _ := srv.join(t, "live", "watcher", client.Options{})
	c, _ := srv.join(t, "live", "talker", client.Options{})
	p := newPTTPublisher(t)
	p.publish(t, c)
	for i := range 2 {
		if i > 0 {
			time.Sleep(4 * time.Second)
		}
		p.talk(t, true, hold)
		m, err := watcher.WaitFor(timeout(t, 10*time.Second), "clip-added")
		if err != nil {
			t.Fatal(err)
		}
		srv.judgeSync(t, "live", fmt.Sprintf("spurt %d", i+1), decodeClip(t, m), hold, "audio", "video")
	}
}
