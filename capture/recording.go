package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"parley/clips"
	"parley/recorder"
	"parley/sfu"
)

// Track is a published track a recording takes its media from: an
// sfu.UpTrack, or a fake in tests.
type Track interface {
	Kind() webrtc.RTPCodecType
	Codec() webrtc.RTPCodecParameters
	Closed() bool
	RequestKeyframe()
	LastSenderReport() (sfu.SenderReport, bool)
	AddSink(sfu.Sink)
	RemoveSink(sfu.Sink)
	// AudioLevelID is the header extension id of the publisher's audio
	// levels, 0 without: they make the clip's waveform.
	AudioLevelID() uint8
}

var _ Track = (*sfu.UpTrack)(nil)

// ErrEmpty is returned by Finish when no media was recorded.
var ErrEmpty = recorder.ErrEmpty

// ErrTooShort is returned by Finish when the recorded media is shorter
// than Config.MinDuration: the clip was discarded.
var ErrTooShort = errors.New("shorter than the room's minimum")

// Config says where a recording goes and how long it may be.
type Config struct {
	Store      *clips.Store
	Room       string
	MaxSeconds int   // the room's clip limit; 0: none
	MaxBytes   int64 // 0: none
	Log        *slog.Logger
	// MinDuration is the shortest media a clip may have; Finish discards
	// a shorter one (ErrTooShort). 0: none.
	MinDuration time.Duration
	// HeardBy, if set, returns the owners (clips.OwnerOf) who heard the
	// recording live: asked when the clip is stored, which stores it as
	// played for them (clips.Pending.HeardLive). For talk spurts of live
	// rooms; it must not call the store.
	HeardBy func() []string
}

// Recording is a clip being recorded from a participant's tracks.
type Recording struct {
	pending *clips.Pending
	rec     *recorder.Recorder
	tracks  []Track
	sinks   []*recorder.Sink
	// backup stops the recording if the media stops arriving (see
	// backstop); stopped, under backupMu, once the recording stops.
	backupMu sync.Mutex
	backup   *time.Timer
	stopped  bool
	log      *slog.Logger
	minDur   time.Duration
	// attached: the sinks are attached to the tracks (else the caller
	// feeds them).
	attached bool
}

// Pick returns the tracks a recording takes from a participant's tracks:
// one live audio track first, then at most one live video track; nil
// when there is no live audio track.
func Pick[T Track](ups []T) []Track {
	var audio, video []Track
	for _, up := range ups {
		if up.Closed() {
			continue
		}
		if up.Kind() == webrtc.RTPCodecTypeAudio {
			audio = append(audio, up)
		} else {
			video = append(video, up)
		}
	}
	if len(audio) == 0 {
		return nil
	}
	// One audio and at most one video track make a clip.
	tracks := audio[:1]
	if len(video) > 0 {
		tracks = append(tracks, video[0])
	}
	return tracks
}

// Start records tracks into a new clip of cfg.Room, with the Author,
// Owner and Description of meta. onLimit is called (on its own
// goroutine) when the room's clip limits are reached; the caller then
// calls Finish.
func Start(cfg Config, meta clips.Clip, tracks []Track, onLimit func(reason string)) (*Recording, error) {
	return start(cfg, meta, tracks, onLimit, true)
}

// StartFed is Start for a caller that feeds the recorder itself (the
// Archiver): the sinks are not attached to the tracks.
func StartFed(cfg Config, meta clips.Clip, tracks []Track, onLimit func(reason string)) (*Recording, error) {
	return start(cfg, meta, tracks, onLimit, false)
}

func start(cfg Config, meta clips.Clip, tracks []Track, onLimit func(reason string), attach bool) (*Recording, error) {
	pending, err := cfg.Store.Begin(cfg.Room, clips.Clip{
		Author:      meta.Author,
		Owner:       meta.Owner,
		Description: meta.Description,
		Trigger:     meta.Trigger,
	})
	if err != nil {
		return nil, err
	}
	if cfg.HeardBy != nil {
		pending.HeardLive(cfg.HeardBy)
	}
	rts := make([]recorder.Track, len(tracks))
	for i, up := range tracks {
		rts[i] = recorder.Track{
			Codec:           up.Codec(),
			RequestKeyframe: up.RequestKeyframe,
			SenderReport: func() (recorder.SenderReport, bool) {
				sr, ok := up.LastSenderReport()
				return recorder.SenderReport{NTP: sr.NTP, RTP: sr.RTP, Arrival: sr.Arrival}, ok
			},
			AudioLevelID: up.AudioLevelID(),
		}
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxDur := time.Duration(cfg.MaxSeconds) * time.Second
	rec, err := recorder.Start(pending.File(), rts, recorder.Options{
		MaxDuration: maxDur,
		MaxBytes:    cfg.MaxBytes,
		OnLimit:     func(reason string) { go onLimit(reason) },
		Log:         log.With("room", cfg.Room, "clip", pending.ID()),
	})
	if err != nil {
		pending.Abort()
		return nil, err
	}
	r := &Recording{pending: pending, rec: rec, tracks: tracks, attached: attach, log: log, minDur: cfg.MinDuration}
	for i, up := range tracks {
		sink := rec.Sink(i)
		r.sinks = append(r.sinks, sink)
		if attach {
			up.AddSink(sink)
		}
	}
	r.backstop(maxDur, onLimit)
	return r, nil
}

// backstopQuiet is how long without a packet, past the clip's limit in
// wall time, ends a recording (see backstop).
const backstopQuiet = 2 * time.Second

// backstop ends, with onLimit, a recording whose media stopped arriving:
// the recorder measures media time, and a publisher that stops sending
// never reaches the limit. It fires backstopQuiet past the limit in wall
// time; packets that still come put it off, as a machine that stalled
// makes media late, up to twice the limit.
func (r *Recording) backstop(maxDur time.Duration, onLimit func(string)) {
	start := time.Now()
	r.backupMu.Lock()
	defer r.backupMu.Unlock()
	r.backup = time.AfterFunc(maxDur+backstopQuiet, func() {
		r.backupMu.Lock()
		later := !r.stopped && time.Since(r.rec.LastArrival()) < backstopQuiet && time.Since(start) < 2*maxDur+backstopQuiet
		if later {
			r.backup.Reset(backstopQuiet)
		}
		stopped := r.stopped
		r.backupMu.Unlock()
		if !later && !stopped {
			onLimit(recorder.LimitSeconds) // the owner stops the recording: not under backupMu
		}
	})
}

// ID is the clip's id.
func (r *Recording) ID() string { return r.pending.ID() }

// Kinds lists the kinds of the recorded tracks ("audio", "video"), in
// order.
func (r *Recording) Kinds() []string {
	kinds := make([]string, len(r.tracks))
	for i, up := range r.tracks {
		kinds[i] = up.Kind().String()
	}
	return kinds
}

// Finish stops the recorder and stores the clip. A clip stored with gaps
// comes with an error saying so; an error and no clip (empty ID) means
// nothing was stored (ErrEmpty when no media arrived, ErrTooShort when
// less than MinDuration did).
func (r *Recording) Finish() (clips.Clip, error) {
	res, err := r.stop()
	if err != nil {
		r.pending.Abort()
		return clips.Clip{}, err
	}
	if res.Duration < r.minDur {
		r.pending.Abort()
		return clips.Clip{}, fmt.Errorf("%w: %s of media, the minimum is %s", ErrTooShort, res.Duration.Round(time.Millisecond), r.minDur)
	}
	if res.Dropped > 0 {
		// The clip has gaps; keep it, but say so.
		err = fmt.Errorf("%d packets were dropped while recording", res.Dropped)
	}
	if err := r.pending.SetWaveform(res.Waveform); err != nil {
		// A picture of the clip, not the clip: store it without.
		r.log.Warn("waveform not kept", "err", err)
	}
	clip, cerr := r.pending.Commit(res.Duration, res.Kind, res.Mime)
	if cerr != nil {
		return clips.Clip{}, cerr
	}
	return clip, err
}

// Cancel stops the recorder and discards the clip: its pending file and
// metadata are removed, nothing is stored and the store announces
// nothing. It is Finish's alternative: the owner calls one of them,
// once.
func (r *Recording) Cancel() {
	_, _ = r.stop()
	r.pending.Abort()
}

// stop ends the backstop, detaches the sinks and stops the recorder,
// which closes the WebM file.
func (r *Recording) stop() (recorder.Result, error) {
	r.backupMu.Lock()
	r.stopped = true
	r.backup.Stop()
	r.backupMu.Unlock()
	if r.attached {
		for i, up := range r.tracks {
			up.RemoveSink(r.sinks[i])
		}
	}
	return r.rec.Stop()
}
