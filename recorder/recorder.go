// Package recorder turns RTP into WebM files. A Recorder is just another
// subscriber of published tracks: the forwarding loop hands each packet to
// its Sink, which copies it into a bounded queue and returns at once, so
// that a slow disk never stalls live forwarding. The recorder's own
// goroutine reorders packets and joins them into frames (assembler), waits for a video
// keyframe without losing the audio before it, puts audio and video on one
// timeline, interleaves them (interleaver) and writes them with its own
// WebM writer (webm.go), which adds Cues and Duration on close so that
// browsers can seek.
//
// The per-packet path allocates nothing in steady state and has one
// goroutine hand-off: a Sink copies the packet into a buffer that the
// recorder's goroutine gave back earlier, and queues it under a lock; the
// goroutine takes the whole queue at once, every 100 ms or when 32 packets
// wait, rather than waking for each packet. Frames are joined into buffers
// that each track reuses, and blocks go straight into the file's write
// buffer. The WebM writer is parley's own rather than ebml-go's, whose
// block writer marshals each block by reflection and hands it through
// several goroutines: a clip is a fixed header, Clusters of SimpleBlocks,
// and the Cues, a few hundred lines that tests check against ffmpeg,
// mkvmerge and clips/probe. (clips still remuxes uploads and recovered
// recordings with ebml-go.)
//
// Memory is bounded whatever a publisher sends: the queue (Options.Queue
// packets), the assemblers' windows (128 packets for audio, 1,024 for
// video), the frames held before the header (maxPending) and the
// interleaver's delay (300 ms of media); the reused buffers are at most
// what was once in flight.
//
// One timeline: each track's RTP clock is mapped to wall time either by
// the publisher's sender reports (the sender's clock, which keeps the lip
// sync of capture) or by the packets' arrival. A
// sender report is trusted only for packets it can describe (see
// trusted): push-to-talk senders stop between talks, and the audio RTP
// clock of browsers does not advance while they do, so a report from an
// earlier talk misplaces the new audio by the whole pause. The mapping is
// chosen once, before the first block is written, and kept for the whole
// clip: written blocks cannot move, and a switch would make the timeline
// jump.
//
// The recorder does not decide where files go or what becomes of them:
// it writes to the io.WriteSeeker it is given (a clips.Pending) and
// reports the duration and kind when stopped.
package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"parley/audiolevel"
	"parley/clips/probe"
	"parley/internal/tick"
)

// Limit reasons passed to Options.OnLimit.
const (
	LimitSeconds = "max-seconds"
	LimitBytes   = "max-bytes"
)

const (
	// defaultQueue packets may wait for the recorder's goroutine; beyond
	// that they are dropped and counted.
	defaultQueue = 2048
	// keyframeWait is how long audio is held back waiting for the first
	// video keyframe, which the WebM header needs for the picture size.
	// Past it the clip is recorded without video.
	keyframeWait = 3 * time.Second
	// keyframeRetry is how often a keyframe is asked for while waiting.
	keyframeRetry = 700 * time.Millisecond
	// opusFrame is the duration of the last audio frame, which no later
	// frame's timestamp measures.
	opusFrame = 20 * time.Millisecond
	// syncWait is how long after the clip's first frame the header waits
	// for every track to have a trusted sender report; past it the clip
	// is timed by arrival. Senders report about every second (Pion;
	// Chrome for video), browsers' audio every few seconds.
	syncWait = time.Second
	// srAfter is how much later than a track's first packet in the clip
	// its sender report must arrive to be taken as built after that packet
	// was sent: RTP and RTCP are read and stamped on different goroutines.
	srAfter = 50 * time.Millisecond
	// srTolerance is how far a sender report older than the clip may
	// misplace the track's packets against their arrival (encoding,
	// pacing and network delay) and still be trusted. A push-to-talk
	// pause misplaces them by the whole pause.
	srTolerance = 100 * time.Millisecond
	// srFreshTolerance bounds the same for a report built after the
	// clip's first packet: pacing may hold a camera's packets back, but
	// not by seconds.
	srFreshTolerance = time.Second
	// videoLead is how far after the clip's start the first video frame
	// may come and still be shown from the start (see open): a camera
	// starts within it, also on a busy machine.
	videoLead = time.Second
	// housekeepEvery is how often the recorder's goroutine wakes up to take
	// the queued packets, ask for keyframes and flush; wakeBatch queued
	// packets wake it sooner. Waking per packet would cost more than the
	// packet's own work, and once the clip has started nothing waits for
	// a frame to be written: the file is flushed every second. Until it
	// has started, every packet wakes it (see Recorder.opened).
	housekeepEvery = 100 * time.Millisecond
	wakeBatch      = 32
	// startedEvery is the housekeeping's period once the clip has
	// started: then it only flushes, every second, and takes what fewer
	// than wakeBatch packets left in the queue. Fifty recorders waking ten
	// times a second cost a server more than their packets did.
	startedEvery = 500 * time.Millisecond
	// maxPending bounds the frames held before the header is written
	// (keyframeWait of audio and video); later ones are dropped.
	maxPending = 1024
	// interleaveDelay is how far, in ms, one track may run ahead of
	// another before the other's frames are written without waiting (see
	// interleaver).
	interleaveDelay = 300
	// maxFreePackets and maxFreeFrames bound the buffers kept for reuse:
	// the packet copies of a recorder, and the frames of a track. A
	// frame buffer larger than maxFreeFrame (a big keyframe) is not kept.
	maxFreePackets = 512
	maxFreeFrames  = 32
	maxFreeFrame   = 64 << 10
)

// SenderReport is the latest RTCP sender report of a track: the
// publisher's wall clock at an RTP timestamp, and when the report arrived
// here.
type SenderReport struct {
	NTP time.Time
	RTP uint32
	// Arrival is the local time the report arrived; a report without one
	// is not used.
	Arrival time.Time
}

// Track describes one track to record.
type Track struct {
	Codec webrtc.RTPCodecParameters
	// RequestKeyframe asks the publisher for a keyframe (video only).
	RequestKeyframe func()
	// SenderReport returns the track's latest sender report, if any. It
	// is called until the clip's first block is written, so it must be
	// cheap. When every track has one that describes its packets in the
	// clip (see trusted), tracks are synchronised by the publisher's
	// clock; otherwise by arrival time.
	SenderReport func() (SenderReport, bool)
	// AudioLevelID is the RTP header extension id under which the
	// publisher sends its audio level (audiolevel.URI); 0 when it sends
	// none. The levels make the clip's waveform (Result.Waveform).
	AudioLevelID uint8
}

// Options limit a recording.
type Options struct {
	MaxDuration time.Duration // 0: no limit
	MaxBytes    int64         // 0: no limit
	// OnLimit is called once, on the recorder's goroutine, when a limit is
	// reached; the recorder then ignores further media. The owner is
	// expected to Stop it.
	OnLimit func(reason string)
	Queue   int
	Log     *slog.Logger
}

// Result describes a finished recording.
type Result struct {
	Duration time.Duration
	Kind     string // "audio" or "video"
	Mime     string
	Frames   int
	Dropped  uint64 // packets dropped because the queue was full
	Bytes    int64
	// Synced: the tracks were put on one timeline by the publisher's
	// sender reports; else by their packets' arrival.
	Synced bool
	// Waveform is the clip's loudness over time from the publisher's
	// audio levels (see audiolevel.Waveform.Slices); nil when it sent
	// none.
	Waveform []int
}

// ErrEmpty is returned by Stop when no audio frame was recorded: a clip
// is its sound, and a file without it is not one that clips accept.
var ErrEmpty = errors.New("nothing was recorded")

type queued struct {
	track   int
	pkt     *rtp.Packet
	arrival time.Time
	level   int16 // the packet's audio level, -1 for none
}

// levelRing holds the audio levels of the latest packets of a track by
// RTP timestamp, until their frames are placed on the clip's timeline.
// Frames wait at most the assembler's reorder window (200 ms) plus the
// header's wait for a keyframe (keyframeWait): 512 holds 5 s of 10 ms
// packets. A level not found leaves its slice of the waveform to its
// neighbours (see audiolevel.Waveform.Slices).
type levelRing struct {
	ts    [512]uint32
	level [512]int16
	next  int
	last  int // where the last level was found
}

// newLevelRing makes an empty ring: no slot holds a level yet.
func newLevelRing() *levelRing {
	lr := &levelRing{}
	for i := range lr.level {
		lr.level[i] = -1
	}
	return lr
}

func (lr *levelRing) put(ts uint32, l int16) {
	lr.ts[lr.next], lr.level[lr.next] = ts, l
	lr.next = (lr.next + 1) % len(lr.ts)
}

// get finds the level of the packet with timestamp ts. Frames are placed
// in the order of their packets, so the search starts after the last
// level found: the next frame's is there, a step or two on.
func (lr *levelRing) get(ts uint32) (audiolevel.Level, bool) {
	for k := 1; k <= len(lr.ts); k++ {
		i := (lr.last + k) % len(lr.ts)
		if lr.ts[i] == ts && lr.level[i] >= 0 {
			lr.last = i
			return audiolevel.Level(lr.level[i]), true
		}
	}
	return 0, false
}

type trackState struct {
	Track
	kind    string // "audio" | "video"
	codec   string // "opus" | "vp8" | "vp9"
	asm     *assembler
	clock   float64
	number  uint64    // WebM track number, 0 until the header is written or if the track is not in the clip
	started bool      // first packet seen
	firstTS uint32    // RTP timestamp of the first packet
	firstAt time.Time // its arrival
	// early is the least, over the packets before the mapping was chosen,
	// of arrival minus the arrival that the first packet and the RTP clock
	// predict: <= 0, the packet that came with the least delay.
	early    time.Duration
	sr       SenderReport // the report the clip is timed by (useSR)
	keyed    bool         // a keyframe was written (video)
	lead     bool         // the next frame placed is the first, which may move to the start (video)
	width    int
	height   int
	lastTC   int64 // last timecode written, ms
	lastKFAt time.Time
	levels   *levelRing // audio with AudioLevelID
	leveled  bool       // a level came: levels is worth searching
	free     [][]byte   // frame buffers to reuse
}

// buffer returns an empty buffer for a frame of the track.
func (t *trackState) buffer() []byte {
	if n := len(t.free); n > 0 {
		b := t.free[n-1]
		t.free[n-1] = nil
		t.free = t.free[:n-1]
		return b
	}
	return nil
}

// release takes back a frame buffer that nothing refers to anymore.
func (t *trackState) release(b []byte) {
	if cap(b) > 0 && cap(b) <= maxFreeFrame && len(t.free) < maxFreeFrames {
		t.free = append(t.free, b[:0])
	}
}

// inbox is the hand-off from the Sinks, called on forwarding goroutines,
// to the recorder's goroutine. The packet copies circulate: a Sink takes
// one from free, the goroutine gives it back when the packet's frame is
// made.
type inbox struct {
	mu     sync.Mutex
	queue  []queued
	free   []*rtp.Packet
	max    int
	closed bool
	wake   chan struct{} // one waiting signal at most
	last   time.Time     // the latest packet's arrival
}

// take swaps the queue for spare (emptied) and gives back the packets in
// done; closed tells that no packet will come anymore.
func (in *inbox) take(spare []queued, done []*rtp.Packet) (q []queued, closed bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, p := range done {
		if len(in.free) >= maxFreePackets {
			break
		}
		in.free = append(in.free, p)
	}
	q, in.queue = in.queue, spare[:0]
	return q, in.closed
}

// Recorder writes one WebM file.
type Recorder struct {
	opts   Options
	out    *countingWriter
	tracks []*trackState
	in     inbox
	closed atomic.Bool // Stop was called: the Sinks need not lock
	// opened is set once the clip's start is decided (its header and
	// first blocks written and flushed, or the recording failed): until
	// then every packet wakes the recorder, so that a clip's first
	// syllable is on disk at once, not after a batch and a flush.
	opened atomic.Bool
	done   chan struct{}

	dropped atomic.Uint64

	// Owned by the run goroutine.
	useSR       bool           // tracks are timed by their sender reports, else by arrival
	zero        time.Time      // wall time at timecode 0; set with the header
	first       time.Time      // when the first frame came; the keyframe wait starts there
	webm        *webmWriter    // nil until the header is written
	mux         *interleaver   // orders the blocks of the tracks in the clip
	clipped     []*trackState  // the tracks in the clip, by interleaver index
	spent       []*rtp.Packet  // packet copies to give back to the Sinks
	pending     []pendingFrame // audio held until the header can be written
	frames      int
	audioFrames int
	maxTC       int64
	wave        audiolevel.Waveform
	limitHit    bool
	err         error
	result      Result
}

type pendingFrame struct {
	track *trackState
	ts    uint32
	key   bool
	data  []byte
}

// Start begins a recording into w. The tracks are given in the order
// their sinks are numbered.
func Start(w io.WriteSeeker, tracks []Track, opts Options) (*Recorder, error) {
	if len(tracks) == 0 {
		return nil, errors.New("no track to record")
	}
	if opts.Queue <= 0 {
		opts.Queue = defaultQueue
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{
		opts: opts,
		out:  &countingWriter{w: w},
		in:   inbox{max: opts.Queue, wake: make(chan struct{}, 1)},
		done: make(chan struct{}),
	}
	hasAudio := false
	for _, t := range tracks {
		ts := &trackState{Track: t, clock: float64(t.Codec.ClockRate)}
		if ts.clock == 0 {
			return nil, fmt.Errorf("track %s has no clock rate", t.Codec.MimeType)
		}
		switch strings.ToLower(t.Codec.MimeType) {
		case strings.ToLower(webrtc.MimeTypeOpus):
			ts.kind, ts.codec = "audio", "opus"
			ts.asm = newAssembler(&codecs.OpusPacket{}, 128, 64, t.Codec.ClockRate/5) // 200 ms
			hasAudio = true
			if t.AudioLevelID != 0 {
				ts.levels = newLevelRing()
			}
		case strings.ToLower(webrtc.MimeTypeVP8):
			ts.kind, ts.codec = "video", "vp8"
			ts.asm = newAssembler(&codecs.VP8Packet{}, 1024, 512, t.Codec.ClockRate*3/10) // 300 ms
		case strings.ToLower(webrtc.MimeTypeVP9):
			ts.kind, ts.codec = "video", "vp9"
			ts.asm = newAssembler(&vp9Depacketizer{}, 1024, 512, t.Codec.ClockRate*3/10) // 300 ms
		default:
			return nil, fmt.Errorf("cannot record %s: WebM clips hold Opus, VP8 and VP9", t.Codec.MimeType)
		}
		ts.asm.release = r.spend
		ts.asm.buffer = ts.buffer
		ts.asm.unused = ts.release
		r.tracks = append(r.tracks, ts)
	}
	if !hasAudio {
		return nil, errors.New("a clip needs an audio track")
	}
	for _, t := range r.tracks {
		if t.kind == "video" && t.RequestKeyframe != nil {
			t.RequestKeyframe()
			t.lastKFAt = time.Now()
		}
	}
	opts.Log.Debug("recording starts")
	go r.run()
	return r, nil
}

// Sink feeds one track of a Recorder; it implements sfu.Sink.
type Sink struct {
	r     *Recorder
	track int
}

// Sink returns the sink of track i.
func (r *Recorder) Sink(i int) *Sink { return &Sink{r: r, track: i} }

// WriteRTP copies the packet into the recorder's queue, or drops it if the
// queue is full. It never blocks, and allocates nothing once the recorder
// has buffers to give back.
func (s *Sink) WriteRTP(p *rtp.Packet) { s.WriteRTPAt(p, time.Now()) }

// WriteRTPAt is WriteRTP for a packet that arrived at arrival, earlier
// than now: one that was held while the recording started. The arrival
// times place a track's packets and, without sender reports, the tracks
// against each other.
func (s *Sink) WriteRTPAt(p *rtp.Packet, arrival time.Time) {
	r := s.r
	if r.closed.Load() {
		return
	}
	level := int16(-1)
	if id := r.tracks[s.track].AudioLevelID; id != 0 {
		if l, _, ok := audiolevel.Parse(p.Header.GetExtension(id)); ok {
			level = int16(l)
		}
	}
	in := &r.in
	in.mu.Lock()
	if in.closed || len(in.queue) >= in.max {
		closed := in.closed
		in.mu.Unlock()
		if !closed && r.dropped.Add(1)%100 == 1 {
			r.opts.Log.Warn("recorder queue full: dropping packets", "dropped", r.dropped.Load())
		}
		return
	}
	var cp *rtp.Packet
	if n := len(in.free); n > 0 {
		cp = in.free[n-1]
		in.free[n-1] = nil
		in.free = in.free[:n-1]
	} else {
		cp = new(rtp.Packet)
	}
	if cap(cp.Payload) < len(p.Payload) {
		// Rounded up, so that a copy reused for payloads of any size
		// grows a few times at most, not with each larger one.
		cp.Payload = make([]byte, 0, max(256, 1<<bits.Len(uint(len(p.Payload)-1))))
	}
	payload := append(cp.Payload[:0], p.Payload...)
	cp.Header = p.Header
	cp.Header.Extension, cp.Header.Extensions, cp.Header.CSRC = false, nil, nil
	cp.Payload = payload
	in.queue = append(in.queue, queued{track: s.track, pkt: cp, arrival: arrival, level: level})
	if arrival.After(in.last) {
		in.last = arrival
	}
	wake := len(in.queue) == wakeBatch || !r.opened.Load()
	in.mu.Unlock()
	if wake {
		select {
		case in.wake <- struct{}{}:
		default:
		}
	}
}

// Dropped is the number of packets dropped so far.
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }

// LastArrival is when the latest packet given to a sink arrived; zero
// before the first.
func (r *Recorder) LastArrival() time.Time {
	r.in.mu.Lock()
	defer r.in.mu.Unlock()
	return r.in.last
}

// Stop ends the recording: it takes what is queued, flushes the last
// frames, and closes the file with its Cues and Duration. The writer is
// left open for the caller.
func (r *Recorder) Stop() (Result, error) {
	r.opts.Log.Debug("recording stops")
	r.in.mu.Lock()
	r.in.closed = true
	r.closed.Store(true)
	r.in.mu.Unlock()
	select {
	case r.in.wake <- struct{}{}:
	default:
	}
	<-r.done
	return r.result, r.err
}

func (r *Recorder) run() {
	defer close(r.done)
	tk := tick.NewTicker(housekeepEvery) // every recorder's at the same instants
	defer tk.Stop()
	quiet := false
	var batch []queued
	for {
		select {
		case <-r.in.wake:
		case <-tk.C:
			r.housekeeping()
			tk.Rearm()
		}
		q, closed := r.in.take(batch, r.spent)
		clear(r.spent)
		r.spent = r.spent[:0]
		for i := range q {
			r.push(q[i])
			q[i] = queued{}
		}
		batch = q
		if closed {
			r.finish()
			return
		}
		r.tryOpen(time.Now())
		if !quiet && r.opened.Load() {
			tk.Reset(startedEvery)
			quiet = true
		}
	}
}

// spend takes back a packet copy that the assembler is done with.
func (r *Recorder) spend(p *rtp.Packet) { r.spent = append(r.spent, p) }

func (r *Recorder) push(q queued) {
	t := r.tracks[q.track]
	switch {
	case len(q.pkt.Payload) == 0:
		// Padding (bandwidth probes) carries the timestamp of the last
		// media sent, from before a pause: it says nothing of the clock.
	case !t.started:
		t.started = true
		t.firstTS = q.pkt.Timestamp
		t.firstAt = q.arrival
	case r.webm == nil:
		if d := q.arrival.Sub(t.firstAt) - t.span(q.pkt.Timestamp, t.firstTS); d < t.early {
			t.early = d
		}
	}
	if t.levels != nil && q.level >= 0 {
		t.levels.put(q.pkt.Timestamp, q.level)
		t.leveled = true
	}
	t.asm.push(q.pkt)
	for f, ok := t.asm.pop(); ok; f, ok = t.asm.pop() {
		r.frame(q.track, f.data, f.ts)
	}
}

// span is the RTP time from b to a on the track's clock.
func (t *trackState) span(a, b uint32) time.Duration {
	return time.Duration(float64(int32(a-b)) / t.clock * float64(time.Second))
}

// wallOf maps an RTP timestamp of a track to wall time: by the sender's
// clock when sender reports are used, else by arrival: by the packet that
// came soonest for its timestamp before the timeline was chosen, not by
// the first, which a camera's slow first keyframe makes late.
func (r *Recorder) wallOf(t *trackState, ts uint32) time.Time {
	if r.useSR {
		return t.sr.NTP.Add(t.span(ts, t.sr.RTP))
	}
	return t.firstAt.Add(t.early + t.span(ts, t.firstTS))
}

// trusted tells whether sr describes the track's packets in this clip. A
// report that arrived after the track's first packet in the clip was built
// by the sender after it sent that packet, from the same RTP clock. An
// older one, from before a pause, say, is trusted only if it places the
// packets where their arrival does: the delay it implies for the packet
// that came soonest, less the delay of the report itself (both include
// the offset between the sender's clock and ours, which cancels), is
// within srTolerance. A sender whose RTP clock stood still for a pause
// fails this by the length of the pause.
func (t *trackState) trusted(sr SenderReport) bool {
	if !t.started || sr.Arrival.IsZero() || sr.NTP.IsZero() {
		return false
	}
	lag := t.lag(sr)
	switch {
	case lag < -srTolerance:
		return false // packets earlier than the report allows: not its clock
	case lag <= srTolerance:
		return true
	default:
		return lag <= srFreshTolerance && sr.Arrival.After(t.firstAt.Add(srAfter))
	}
}

// lag is how much later than sr predicts the track's packets arrived,
// less the report's own delay (see trusted).
func (t *trackState) lag(sr SenderReport) time.Duration {
	predicted := sr.NTP.Add(t.span(t.firstTS, sr.RTP))
	return t.firstAt.Add(t.early).Sub(predicted) - sr.Arrival.Sub(sr.NTP)
}

// chooseClock decides, before the header is written, how the tracks are
// put on one timeline: by sender reports if every track has a trusted
// one, else by arrival. Until syncWait has passed since the first frame
// it may answer that it is too early to tell; with final it decides.
func (r *Recorder) chooseClock(now time.Time, final bool) bool {
	if len(r.tracks) == 1 {
		// One track: either mapping is the track's RTP clock from its
		// first frame on.
		r.useSR = false
		return true
	}
	all := true
	for _, t := range r.tracks {
		if t.SenderReport == nil {
			all = false
			break
		}
		sr, ok := t.SenderReport()
		if !ok || !t.trusted(sr) {
			all = false
			break
		}
		t.sr = sr
	}
	if all {
		r.useSR = true
	} else if !final && (r.first.IsZero() || now.Sub(r.first) < syncWait) {
		return false
	}
	if r.opts.Log.Enabled(context.Background(), slog.LevelDebug) {
		for _, t := range r.tracks {
			if t.SenderReport == nil || !t.started {
				continue
			}
			if sr, ok := t.SenderReport(); ok {
				r.opts.Log.Debug("sender report", "kind", t.kind, "trusted", t.trusted(sr),
					"lag", t.lag(sr), "after_first_packet", sr.Arrival.Sub(t.firstAt))
			}
		}
	}
	return true
}

// frame takes a complete frame of a track; data is the track's buffer,
// which comes back to it once written or dropped.
func (r *Recorder) frame(track int, data []byte, ts uint32) {
	t := r.tracks[track]
	if r.limitHit || len(data) == 0 {
		t.release(data)
		return
	}
	key := true
	switch t.codec {
	case "opus":
		// A publisher may send anything as Opus; a malformed packet in a clip
		// makes players and the clip store refuse the whole file.
		if probe.OpusSamples(data) == 0 {
			t.release(data)
			return
		}
	case "vp8", "vp9":
		var w, h int
		if t.codec == "vp8" {
			key, w, h = vp8Keyframe(data)
		} else {
			key, w, h = vp9Keyframe(data)
		}
		if !t.keyed {
			if !key || w <= 0 || h <= 0 || w > maxPicture || h > maxPicture {
				// Undecodable before the first keyframe, which must
				// give the picture's size.
				t.release(data)
				return
			}
			t.keyed, t.width, t.height = true, w, h
		}
	}
	if r.first.IsZero() {
		r.first = time.Now()
	}
	if r.webm == nil {
		if len(r.pending) >= maxPending {
			t.release(data)
			return
		}
		r.pending = append(r.pending, pendingFrame{track: t, ts: ts, key: key, data: data})
		if r.ready() && r.chooseClock(time.Now(), false) {
			r.open()
		}
		return
	}
	r.place(t, ts, key, data)
}

// place writes a frame at its place on the clip's timeline.
func (r *Recorder) place(t *trackState, ts uint32, key bool, data []byte) {
	if r.limitHit || t.number == 0 {
		t.release(data)
		return
	}
	// Rounded, not truncated: a timestamp a tick short of a frame's time
	// must not land a millisecond early (ffmpeg then takes two frames of
	// a 25 fps stream for one).
	tc := r.wallOf(t, ts).Sub(r.zero).Round(time.Millisecond).Milliseconds()
	if tc < t.lastTC {
		tc = t.lastTC // never backwards within a track
	}
	if tc < 0 || (t.lead && time.Duration(tc)*time.Millisecond <= videoLead) {
		tc = 0
	}
	t.lead = false
	if r.opts.MaxDuration > 0 && time.Duration(tc)*time.Millisecond >= r.opts.MaxDuration {
		t.release(data)
		r.hitLimit(LimitSeconds)
		return
	}
	t.lastTC = tc
	if t.leveled {
		if l, ok := t.levels.get(ts); ok {
			r.wave.Add(time.Duration(tc)*time.Millisecond, l)
		}
	}
	r.write(t, tc, key, data)
}

// ready tells whether the WebM header can be written: every video track
// has its first keyframe, or has been waited for long enough.
func (r *Recorder) ready() bool {
	for _, t := range r.tracks {
		if t.kind == "video" && !t.keyed && (r.first.IsZero() || time.Since(r.first) < keyframeWait) {
			return false
		}
	}
	return true
}

func (r *Recorder) housekeeping() {
	now := time.Now()
	for _, t := range r.tracks {
		if t.kind == "video" && !t.keyed && t.RequestKeyframe != nil && now.Sub(t.lastKFAt) >= keyframeRetry {
			t.RequestKeyframe()
			t.lastKFAt = now
		}
	}
	r.tryOpen(now)
	if r.out.since(now) >= flushEvery {
		if err := r.out.flush(); err != nil && r.err == nil {
			r.err = fmt.Errorf("write clip: %w", err)
			r.limitHit = true
		}
	}
}

// tryOpen writes the header and the frames held, once they can be
// (see open), and flushes what is written: the start of a clip reaches
// the file as soon as it is known, and a crash then keeps it too. It is
// called until then (Recorder.opened).
func (r *Recorder) tryOpen(now time.Time) {
	if r.opened.Load() {
		return
	}
	if r.webm == nil && !r.limitHit {
		if len(r.pending) == 0 || !r.ready() || !r.chooseClock(now, false) {
			return
		}
		r.open()
	}
	if r.webm != nil {
		if err := r.out.flush(); err != nil && r.err == nil {
			r.err = fmt.Errorf("write clip: %w", err)
			r.limitHit = true
		}
	}
	r.opened.Store(true)
}

// open writes the header with the tracks that can be recorded and the
// frames held back so far; the clock is chosen (chooseClock). The clip
// starts with the earliest frame held.
func (r *Recorder) open() {
	var tracks []webmTrack
	var clipped []*trackState
	for _, t := range r.tracks {
		if t.kind == "video" && !t.keyed {
			r.opts.Log.Info("no video keyframe arrived; recording audio only")
			continue
		}
		wt := webmTrack{number: uint64(len(tracks) + 1), name: t.kind, codec: t.codec, width: t.width, height: t.height}
		if t.codec == "opus" {
			wt.channels = int(t.Codec.Channels)
			if wt.channels == 0 {
				wt.channels = 2
			}
		}
		tracks = append(tracks, wt)
		clipped = append(clipped, t)
	}
	// A cue is written per cluster, and clusters are at least a second
	// long.
	maxSeconds := int(r.opts.MaxDuration/time.Second) + 1
	if r.opts.MaxDuration <= 0 {
		maxSeconds = 3600
	}
	w, err := newWebmWriter(r.out, tracks, maxSeconds)
	if err != nil {
		r.err = fmt.Errorf("start webm: %w", err)
		r.limitHit = true
		return
	}
	r.webm, r.clipped = w, clipped
	r.mux = newInterleaver(len(tracks), interleaveDelay)
	for i, t := range r.clipped {
		t.number = tracks[i].number
	}
	by := "arrival"
	if r.useSR {
		by = "sender reports"
	}
	r.opts.Log.Debug("clip timeline", "by", by)
	pending := r.pending
	r.pending = nil
	for _, f := range pending {
		if at := r.wallOf(f.track, f.ts); f.track.number != 0 && (r.zero.IsZero() || at.Before(r.zero)) {
			r.zero = at
		}
	}
	// A camera's first frame comes a little after the sound: it is
	// captured and encoded after the sender starts, a frame period and
	// more later (half a second on a busy machine). Shown from the clip's
	// start instead of a blank, it fills the picture's first moments;
	// every later frame keeps its time, so the sync is the same.
	for _, t := range r.clipped {
		t.lead = t.kind == "video"
	}
	for _, f := range pending {
		r.place(f.track, f.ts, f.key, f.data)
	}
}

// write queues a frame placed at tc for the file, and writes what the
// interleaver lets go.
func (r *Recorder) write(t *trackState, tc int64, key bool, data []byte) {
	// What the file would take with this frame: what is written, the
	// frames held, and a Cluster or two that they may start.
	if r.opts.MaxBytes > 0 {
		size := r.out.n + r.mux.heldSize + int64(r.mux.held+1)*blockOverhead + 2*clusterOverhead + int64(len(data))
		if size > r.opts.MaxBytes {
			t.release(data)
			r.hitLimit(LimitBytes)
			return
		}
	}
	r.mux.push(block{track: int(t.number - 1), tc: tc, key: key, data: data})
	r.drain(false)
	r.frames++
	if t.kind == "audio" {
		r.audioFrames++
	}
	if tc > r.maxTC {
		r.maxTC = tc
	}
}

// drain writes the blocks that the interleaver lets go; with all, every
// block held.
func (r *Recorder) drain(all bool) {
	for b, ok := r.mux.next(all); ok; b, ok = r.mux.next(all) {
		t := r.clipped[b.track]
		if r.err == nil {
			if err := r.webm.write(t.number, b.tc, b.key, b.data); err != nil {
				r.err = fmt.Errorf("write frame: %w", err)
				r.limitHit = true
			}
		}
		t.release(b.data)
	}
}

func (r *Recorder) hitLimit(reason string) {
	if r.limitHit {
		return
	}
	r.limitHit = true
	if r.opts.OnLimit != nil {
		r.opts.OnLimit(reason)
	}
}

func (r *Recorder) finish() {
	limit := r.limitHit
	for i, t := range r.tracks {
		t.asm.flush()
		for f, ok := t.asm.pop(); ok; f, ok = t.asm.pop() {
			r.frame(i, f.data, f.ts)
		}
	}
	r.limitHit = limit
	if r.webm == nil && len(r.pending) > 0 {
		r.first = time.Unix(1, 0) // stop waiting for a keyframe
		r.chooseClock(time.Now(), true)
		r.open()
	}
	kind := "audio"
	var codecsIn []string
	for _, t := range r.clipped {
		if t.kind == "video" {
			kind = "video"
			codecsIn = append([]string{t.codec}, codecsIn...)
		} else {
			codecsIn = append(codecsIn, t.codec)
		}
	}
	duration := time.Duration(r.maxTC)*time.Millisecond + opusFrame
	if r.webm != nil {
		r.drain(true)
		if r.err == nil {
			if err := r.webm.close(duration.Milliseconds()); err != nil {
				r.err = fmt.Errorf("close webm: %w", err)
			}
		}
	}
	if err := r.out.flush(); err != nil && r.err == nil {
		r.err = fmt.Errorf("write clip: %w", err)
	}
	r.result = Result{
		Duration: duration,
		Kind:     kind,
		Mime:     fmt.Sprintf(`%s/webm; codecs="%s"`, kind, strings.Join(codecsIn, ", ")),
		Frames:   r.frames,
		Dropped:  r.dropped.Load(),
		Bytes:    r.out.n,
		Synced:   r.useSR,
	}
	r.result.Waveform = r.wave.Slices(r.result.Duration)
	if r.audioFrames == 0 && r.err == nil {
		r.err = ErrEmpty
	}
}

// opusHead is the Opus identification header that WebM carries as the
// track's CodecPrivate (RFC 7845, section 5.1). RTP Opus has no pre-skip.
func opusHead(channels int) []byte {
	return []byte{
		'O', 'p', 'u', 's', 'H', 'e', 'a', 'd',
		1, byte(channels),
		0, 0, // pre-skip
		0x80, 0xbb, 0, 0, // 48000 Hz
		0, 0, // output gain
		0, // channel mapping family
	}
}

// A recording gathers what it writes in a buffer: without it each block
// would be a system call or two. The buffer starts at minWriteBuffer,
// which holds the second of audio between two flushes (flushEvery), and
// doubles, up to writeBuffer, each time it fills within that second: a
// fraction of a second of video. An audio recorder then holds 8 KiB
// rather than 64.
const (
	minWriteBuffer = 8 << 10
	writeBuffer    = 64 << 10
)

// flushEvery bounds how long written media waits in the buffer, and so
// what a crash can lose of a recording besides what is in the queue.
const flushEvery = time.Second

// countingWriter buffers writes, counts the bytes written and passes
// seeks through (after writing what it holds). It is used by the
// recorder's goroutine only.
type countingWriter struct {
	w       io.WriteSeeker
	n       int64 // bytes written, that is the offset of the next byte
	buf     []byte
	err     error // the first write error; every later write fails with it
	flushed time.Time
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.buf == nil {
		c.buf = make([]byte, 0, minWriteBuffer)
	}
	if len(c.buf)+len(b) > cap(c.buf) {
		full := len(c.buf) > 0 && c.since(time.Now()) < flushEvery && cap(c.buf) < writeBuffer
		if err := c.flush(); err != nil {
			return 0, err
		}
		if full {
			c.buf = make([]byte, 0, min(2*cap(c.buf), writeBuffer))
		}
	}
	if len(b) > cap(c.buf) {
		n, err := c.w.Write(b)
		c.n += int64(n)
		if err != nil {
			c.err = err
		}
		return n, err
	}
	c.buf = append(c.buf, b...)
	c.n += int64(len(b))
	return len(b), nil
}

// since reports how long ago the buffer was last written out.
func (c *countingWriter) since(now time.Time) time.Duration { return now.Sub(c.flushed) }

// flush writes what the buffer holds.
func (c *countingWriter) flush() error {
	if c.err != nil {
		return c.err
	}
	c.flushed = time.Now()
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.w.Write(c.buf)
	c.buf = c.buf[:0]
	if err != nil {
		c.err = err
	}
	return err
}

// writeAt rewrites bytes already written, at file offset off; the next
// write goes where the last one ended only after a Seek to the end.
func (c *countingWriter) writeAt(off int64, b []byte) error {
	if err := c.flush(); err != nil {
		return err
	}
	if off < 0 || off+int64(len(b)) > c.n {
		return fmt.Errorf("rewrite %d bytes at %d of %d", len(b), off, c.n)
	}
	if _, err := c.w.Seek(off, io.SeekStart); err != nil {
		c.err = err
		return err
	}
	if _, err := c.w.Write(b); err != nil {
		c.err = err
		return err
	}
	return nil
}

func (c *countingWriter) Seek(off int64, whence int) (int64, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	return c.w.Seek(off, whence)
}
