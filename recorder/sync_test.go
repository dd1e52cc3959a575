package recorder

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"parley/internal/testmedia"
)

// simTrack is one track of a simulated publisher.
type simTrack struct {
	clock float64
	seq   rtp.Sequencer
	pktz  rtp.Packetizer
	delay time.Duration // from the sender to the recorder, media and reports alike
	// firstDelay is added to the first frame of each talk: a camera's
	// first keyframe takes longer to encode and send than the frames
	// after it, which wait behind it.
	firstDelay time.Duration
	link       chan delivery // in order, as one path does
	linkDone   chan struct{}
	mu         sync.Mutex
	ts         uint32    // timestamp of the last frame sent
	sentAt     time.Time // when it was sent
	sent       bool
	sr         atomic.Pointer[SenderReport]
	sink       atomic.Pointer[Sink]
}

type delivery struct {
	at time.Time
	f  func()
}

// carry delivers what is sent on the track in order, each at its time or
// after the one before it.
func (tr *simTrack) carry() {
	tr.link, tr.linkDone = make(chan delivery, 4096), make(chan struct{})
	go func() {
		defer close(tr.linkDone)
		for d := range tr.link {
			time.Sleep(time.Until(d.at))
			d.f()
		}
	}()
}

// senderReport is the track's latest report as the recorder reads it.
func (tr *simTrack) senderReport() (SenderReport, bool) {
	if sr := tr.sr.Load(); sr != nil {
		return *sr, true
	}
	return SenderReport{}, false
}

// simSender imitates a browser that publishes audio and video with
// push-to-talk: between talks it sends nothing. Its video RTP clock
// follows the capture time; its audio RTP clock advances only with the
// audio it sends, as Chrome's and Firefox's Opus clock does. It reports
// as browsers and Pion do: the sender's time now, and the last packet's
// timestamp advanced by the time since it was sent, also during pauses.
// Its clock is an hour off ours.
type simSender struct {
	audio, video *simTrack
	epoch        time.Time
	opus, vp8    []testmedia.Frame
	stop         chan struct{}
	done         chan struct{}
}

const senderClockOffset = time.Hour

func newSimSender(t *testing.T, audioDelay, videoDelay time.Duration) *simSender {
	aSeq, vSeq := rtp.NewRandomSequencer(), rtp.NewRandomSequencer()
	s := &simSender{
		audio: &simTrack{clock: 48000, delay: audioDelay, seq: aSeq,
			pktz: rtp.NewPacketizer(1200, 111, 1, &codecs.OpusPayloader{}, aSeq, 48000)},
		video: &simTrack{clock: 90000, delay: videoDelay, seq: vSeq,
			pktz: rtp.NewPacketizer(1200, 96, 2, &codecs.VP8Payloader{}, vSeq, 90000)},
		epoch: time.Now(),
		opus:  testmedia.Opus(t, 3),
		vp8:   testmedia.VP8(t, 3),
	}
	s.audio.carry()
	s.video.carry()
	return s
}

// report sends a sender report of tr now, if it has sent anything.
func (s *simSender) report(tr *simTrack) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if !tr.sent {
		return
	}
	now := time.Now()
	sr := SenderReport{
		NTP: now.Add(senderClockOffset),
		RTP: tr.ts + uint32(now.Sub(tr.sentAt).Seconds()*tr.clock),
	}
	s.deliver(tr, func() {
		sr.Arrival = time.Now()
		tr.sr.Store(&sr)
	})
}

// reports sends sender reports of each track every its interval from
// first on, until stopped.
func (s *simSender) reports(audioFirst, audioEvery, videoFirst, videoEvery time.Duration) {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		nextA, nextV := s.epoch.Add(audioFirst), s.epoch.Add(videoFirst)
		for {
			next := nextA
			if nextV.Before(next) {
				next = nextV
			}
			select {
			case <-s.stop:
				return
			case <-time.After(time.Until(next)):
			}
			if !time.Now().Before(nextA) {
				s.report(s.audio)
				nextA = nextA.Add(audioEvery)
			}
			if !time.Now().Before(nextV) {
				s.report(s.video)
				nextV = nextV.Add(videoEvery)
			}
		}
	}()
}

func (s *simSender) close() {
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	for _, tr := range []*simTrack{s.audio, s.video} {
		close(tr.link)
		<-tr.linkDone
	}
}

func (s *simSender) deliver(tr *simTrack, f func()) {
	s.deliverIn(tr, tr.delay, f)
}

func (s *simSender) deliverIn(tr *simTrack, delay time.Duration, f func()) {
	tr.link <- delivery{at: time.Now().Add(delay), f: f}
}

func (s *simSender) send(tr *simTrack, ts uint32, data []byte, first bool) {
	tr.mu.Lock()
	tr.ts, tr.sentAt, tr.sent = ts, time.Now(), true
	tr.mu.Unlock()
	pkts := tr.pktz.Packetize(data, 0)
	for _, p := range pkts {
		p.Timestamp = ts
	}
	delay := tr.delay
	if first {
		delay += tr.firstDelay
	}
	s.deliverIn(tr, delay, func() {
		if sink := tr.sink.Load(); sink != nil {
			for _, p := range pkts {
				sink.WriteRTP(p)
			}
		}
	})
}

// probe sends a padding-only packet on tr, as a browser probing the
// bandwidth does when its video starts again: it has the timestamp of
// the last frame sent, from before the pause.
func (s *simSender) probe(tr *simTrack) {
	tr.mu.Lock()
	ts, sent := tr.ts, tr.sent
	tr.mu.Unlock()
	if !sent {
		return
	}
	p := &rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PayloadType: 96, SequenceNumber: tr.seq.NextSequenceNumber(), Timestamp: ts, SSRC: 2}, PaddingSize: 200}
	s.deliver(tr, func() {
		if sink := tr.sink.Load(); sink != nil {
			sink.WriteRTP(p)
		}
	})
}

// talk sends hold of audio, and of video too if video, paced in real
// time. The audio timestamps go on from the last talk's; the video's
// follow the clock. The video starts again with a bandwidth probe.
func (s *simSender) talk(video bool, hold time.Duration) {
	if video {
		s.probe(s.video)
	}
	start := time.Now()
	var a, v int
	for {
		at, vt := start.Add(time.Duration(a)*opusFrame), start.Add(time.Duration(v)*40*time.Millisecond)
		if !at.Before(start.Add(hold)) && (!video || !vt.Before(start.Add(hold))) {
			return
		}
		if !video || at.Before(vt) || !vt.Before(start.Add(hold)) {
			time.Sleep(time.Until(at))
			s.audio.mu.Lock()
			ts := uint32(1000)
			if s.audio.sent {
				ts = s.audio.ts + 960
			}
			s.audio.mu.Unlock()
			s.send(s.audio, ts, s.opus[a%len(s.opus)].Data, a == 0)
			a++
			continue
		}
		time.Sleep(time.Until(vt))
		s.send(s.video, 77777+uint32(time.Since(s.epoch).Seconds()*90000), s.vp8[v%len(s.vp8)].Data, v == 0)
		v++
	}
}

// warmMedia makes the test media with ffmpeg outside the synctest
// bubbles, which then take it from the cache.
func warmMedia(t *testing.T) {
	testmedia.Opus(t, 3)
	testmedia.VP8(t, 3)
}

// clipDir is where a test keeps its clips: a temporary directory made
// outside the synctest bubble (the bubble's own is gone when it ends), or
// $SYNC_KEEP to look at them afterwards.
func clipDir(t *testing.T) string {
	if d := os.Getenv("SYNC_KEEP"); d != "" {
		return d
	}
	return t.TempDir()
}

type talkSpec struct {
	pause time.Duration // silence before the talk
	video bool
	hold  time.Duration
}

type recordedClip struct {
	talkSpec
	path string
	res  Result
}

// recordSession records each talk of a push-to-talk session as a clip of
// the sender's audio and video tracks, as a videoChat room does.
func recordSession(t *testing.T, dir string, s *simSender, talks []talkSpec) []recordedClip {
	var out []recordedClip
	for i, tk := range talks {
		time.Sleep(tk.pause)
		path := filepath.Join(dir, "clip"+string(rune('a'+i))+".webm")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := Start(f, []Track{
			{Codec: testmedia.OpusCodec, SenderReport: s.audio.senderReport},
			{Codec: testmedia.VP8Codec, SenderReport: s.video.senderReport, RequestKeyframe: func() {}},
		}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.audio.sink.Store(rec.Sink(0))
		s.video.sink.Store(rec.Sink(1))
		s.talk(tk.video, tk.hold)
		time.Sleep(max(s.audio.delay, s.video.delay) + 100*time.Millisecond) // the last packets' way
		s.audio.sink.Store(nil)
		s.video.sink.Store(nil)
		res, err := rec.Stop()
		f.Close()
		if err != nil {
			t.Fatalf("clip %d: %v", i+1, err)
		}
		out = append(out, recordedClip{talkSpec: tk, path: path, res: res})
	}
	return out
}

// judgeSession checks every clip with ffprobe and ffmpeg: it lasts its
// hold within 150 ms, each stream starts within 40 ms of the clip, and it
// decodes cleanly.
func judgeSession(t *testing.T, clips []recordedClip, synced func(recordedClip) bool) {
	t.Helper()
	for i, c := range clips {
		types := []string{"audio"}
		if c.video {
			types = append(types, "video")
		}
		tl := testmedia.ProbeTimeline(t, c.path)
		t.Logf("clip %d (%s, after %v): %v; by sender reports: %v", i+1, strings.Join(types, "+"), c.pause, tl, c.res.Synced)
		for _, p := range tl.InSync(c.hold, 150*time.Millisecond, 40*time.Millisecond, types...) {
			t.Errorf("clip %d: %s", i+1, p)
		}
		if len(tl.Streams) != len(types) {
			t.Errorf("clip %d has %d streams, want %v", i+1, len(tl.Streams), types)
		}
		if want := synced(c); c.res.Synced != want {
			t.Errorf("clip %d timed by sender reports: %v, want %v", i+1, c.res.Synced, want)
		}
	}
}

var (
	// Video, audio, video: the audio clip's talk moves the audio clock
	// on, the pause before the last talk does not.
	videoAudioVideo = []talkSpec{
		{video: true, hold: 2 * time.Second},
		{pause: time.Second, video: false, hold: 2 * time.Second},
		{pause: time.Second, video: true, hold: 2 * time.Second},
	}
	videoPauseVideo = []talkSpec{
		{video: true, hold: 2 * time.Second},
		{pause: 4 * time.Second, video: true, hold: 2 * time.Second},
	}
)

// TestSyncStaleSenderReports: a push-to-talk publisher whose reports all
// date from before the talk, as Chrome's audio reports (every 5 s) mostly
// do: each clip is in sync, timed by arrival. (The video comes 20 ms after
// the audio, as the encoder delays it, and the first keyframe of a talk
// 80 ms more.)
func TestSyncStaleSenderReports(t *testing.T) {
	warmMedia(t)
	for name, talks := range map[string][]talkSpec{"video-audio-video": videoAudioVideo, "video-pause-video": videoPauseVideo} {
		t.Run(name, func(t *testing.T) {
			var clips []recordedClip
			dir := clipDir(t)
			synctest.Test(t, func(t *testing.T) {
				s := newSimSender(t, 0, 20*time.Millisecond)
				s.video.firstDelay = 80 * time.Millisecond
				defer s.close()
				// Video reports every second from 0.5 s, audio every
				// 5 s from 2.5 s: a fresh audio report comes only after
				// the clip's timeline is chosen, if at all.
				s.reports(2500*time.Millisecond, 5*time.Second, 500*time.Millisecond, time.Second)
				clips = recordSession(t, dir, s, talks)
			})
			judgeSession(t, clips, func(recordedClip) bool { return false })
		})
	}
}

// TestSyncFreshSenderReports: a publisher that reports every 400 ms (Pion
// reports every second): a report that arrives after the talk began is
// fresh, and video clips are timed by it; stale ones from the pause are
// not used. The video comes 30 ms after the audio, as the encoder delays
// it: only the sender's clock puts both at the start.
func TestSyncFreshSenderReports(t *testing.T) {
	warmMedia(t)
	for name, talks := range map[string][]talkSpec{"video-audio-video": videoAudioVideo, "video-pause-video": videoPauseVideo} {
		t.Run(name, func(t *testing.T) {
			var clips []recordedClip
			dir := clipDir(t)
			synctest.Test(t, func(t *testing.T) {
				s := newSimSender(t, 0, 30*time.Millisecond)
				defer s.close()
				s.reports(200*time.Millisecond, 400*time.Millisecond, 200*time.Millisecond, 400*time.Millisecond)
				clips = recordSession(t, dir, s, talks)
			})
			// The audio clip has no video: it waits for a keyframe
			// that never comes and is timed by arrival, which is the
			// same for one track.
			judgeSession(t, clips, func(c recordedClip) bool { return c.video })
		})
	}
}

// TestSyncBySenderReports: the network delivers the video (its packets and
// reports) 400 ms after the audio although both start at the same instant
// of the sender's clock. With sender reports the tracks line up by it;
// without them arrival time is all there is.
func TestSyncBySenderReports(t *testing.T) {
	warmMedia(t)
	// How much later the video ends than the audio: the first video
	// frame is shown from the clip's start (see open), the rest keep
	// their time.
	videoLate := func(t *testing.T, withSR bool) time.Duration {
		var clips []recordedClip
		dir := clipDir(t)
		synctest.Test(t, func(t *testing.T) {
			s := newSimSender(t, 0, 400*time.Millisecond)
			defer s.close()
			if withSR {
				s.reports(100*time.Millisecond, time.Second, 100*time.Millisecond, time.Second)
			}
			clips = recordSession(t, dir, s, []talkSpec{{video: true, hold: 2 * time.Second}})
		})
		tl := testmedia.ProbeTimeline(t, clips[0].path)
		t.Logf("with sender reports %v: %v", withSR, tl)
		if len(tl.Streams) != 2 || tl.Streams[0].Type != "audio" || tl.Streams[1].Type != "video" {
			t.Fatalf("streams %+v, want audio and video", tl.Streams)
		}
		// The last video frame lasts 40 ms, the last audio frame 20.
		return time.Duration((tl.Streams[1].LastPacket + 0.02 - tl.Streams[0].LastPacket) * float64(time.Second))
	}
	if d := videoLate(t, true); d < -20*time.Millisecond || d > 20*time.Millisecond {
		t.Errorf("with sender reports the video is %v late, want 0", d)
	}
	if d := videoLate(t, false); d < 350*time.Millisecond {
		t.Errorf("by arrival the video should be about 400 ms late, got %v: the test does not tell the modes apart", d)
	}
}

// TestTrustedSenderReport: which reports describe a track's packets. The
// track's first packet (timestamp ts0) arrived at 10 s of our clock, the
// packets after it on time; the sender's clock is an hour ahead.
func TestTrustedSenderReport(t *testing.T) {
	const ts0, second = 900000, 90000
	first := time.Unix(10, 0)
	tr := &trackState{clock: 90000, started: true, firstTS: ts0, firstAt: first}
	sender := func(at time.Time) time.Time { return at.Add(senderClockOffset) }
	for _, tc := range []struct {
		name    string
		ntp     time.Time // the sender's time of the report
		rtp     uint32
		arrival time.Time
		want    bool
	}{
		// Built 2 s before the clip, on a clock that ran on; the first
		// packet took 30 ms more than the report to come.
		{"older, consistent", sender(first.Add(-2 * time.Second)), ts0 - 2*second + 2700, first.Add(-2 * time.Second), true},
		// Built before a 3 s pause that the RTP clock did not count.
		{"older, clock stood still", sender(first.Add(-2 * time.Second)), ts0 - 2*second + 3*second, first.Add(-2 * time.Second), false},
		// Built after the first packet: trusted although the packets
		// came 300 ms later than it says (paced).
		{"fresh, paced", sender(first.Add(500 * time.Millisecond)), ts0 + second*8/10, first.Add(500 * time.Millisecond), true},
		{"fresh, seconds off", sender(first.Add(500 * time.Millisecond)), ts0 + second*35/10, first.Add(500 * time.Millisecond), false},
		// Packets that came before the report says they were sent.
		{"packets too early", sender(first), ts0 - second/2, first, false},
		{"arrival unknown", sender(first), ts0, time.Time{}, false},
	} {
		sr := SenderReport{NTP: tc.ntp, RTP: tc.rtp, Arrival: tc.arrival}
		if got := tr.trusted(sr); got != tc.want {
			t.Errorf("%s: trusted %v (lag %v), want %v", tc.name, got, tr.lag(sr), tc.want)
		}
	}
}
