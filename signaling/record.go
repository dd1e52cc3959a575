package signaling

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"parley/clips"
	"parley/recorder"
	"parley/sfu"
)

// maxDescription is the longest clip description, in characters.
const maxDescription = 500

// recording is a clip being recorded from a participant's tracks.
type recording struct {
	pending *clips.Pending
	rec     *recorder.Recorder
	ups     []*sfu.UpTrack
	sinks   []*recorder.Sink
	backup  *time.Timer // stops the recording if the media stops arriving
	// attached: the sinks are attached to the up tracks (else the caller
	// feeds them).
	attached bool
}

type recordingMessage struct {
	Type       string   `json:"type"`
	Req        any      `json:"req,omitempty"`
	ID         string   `json:"id"`
	MaxSeconds int      `json:"max_seconds"`
	MaxBytes   int64    `json:"max_bytes"`
	Kinds      []string `json:"kinds"`
}

type recordStoppedMessage struct {
	Type   string      `json:"type"`
	Reason string      `json:"reason"`
	Clip   *clips.Clip `json:"clip,omitempty"`
}

// Reasons a recording stops.
const (
	StopRequested = "stopped"
	StopLeft      = "left"
)

// recordTracks returns the tracks a recording takes: the participant's
// live up tracks, audio first.
func recordTracks(peer *sfu.Participant) []*sfu.UpTrack {
	var audio, video []*sfu.UpTrack
	for _, up := range peer.UpTracks() {
		if up.Closed() {
			continue
		}
		if up.Kind().String() == "audio" {
			audio = append(audio, up)
		} else {
			video = append(video, up)
		}
	}
	if len(audio) == 0 {
		return nil
	}
	// One audio and at most one video track make a clip.
	ups := audio[:1]
	if len(video) > 0 {
		ups = append(ups, video[0])
	}
	return ups
}

// startRecording records ups into a new clip of the session's room. onLimit
// is called (on its own goroutine) when the room's clip limits are reached.
func (s *Session) startRecording(ups []*sfu.UpTrack, description string, onLimit func(reason string)) (*recording, error) {
	return s.newRecording(ups, description, onLimit, true)
}

// startFedRecording is startRecording for a caller that feeds the
// recorder's sinks itself (the archiver).
func (s *Session) startFedRecording(ups []*sfu.UpTrack, onLimit func(reason string)) (*recording, error) {
	return s.newRecording(ups, "", onLimit, false)
}

func (s *Session) newRecording(ups []*sfu.UpTrack, description string, onLimit func(reason string), attach bool) (*recording, error) {
	room := s.room
	pending, err := s.hub.cfg.Store.Begin(room.cfg.Name, clips.Clip{
		Author:      s.name,
		Owner:       s.owner,
		Description: description,
	})
	if err != nil {
		return nil, err
	}
	tracks := make([]recorder.Track, len(ups))
	for i, up := range ups {
		tracks[i] = recorder.Track{
			Codec:           up.Codec(),
			RequestKeyframe: up.RequestKeyframe,
			SenderReport: func() (recorder.SenderReport, bool) {
				sr, ok := up.LastSenderReport()
				return recorder.SenderReport{NTP: sr.NTP, RTP: sr.RTP, Arrival: sr.Arrival}, ok
			},
		}
	}
	maxDur := time.Duration(room.cfg.MaxClipSeconds) * time.Second
	rec, err := recorder.Start(pending.File(), tracks, recorder.Options{
		MaxDuration: maxDur,
		MaxBytes:    room.cfg.MaxClipBytes,
		OnLimit:     func(reason string) { go onLimit(reason) },
		Log:         s.log.With("room", room.cfg.Name, "clip", pending.ID()),
	})
	if err != nil {
		pending.Abort()
		return nil, err
	}
	r := &recording{pending: pending, rec: rec, ups: ups, attached: attach}
	for i, up := range ups {
		sink := rec.Sink(i)
		r.sinks = append(r.sinks, sink)
		if attach {
			up.AddSink(sink)
		}
	}
	// The recorder measures media time; this backstop also ends a
	// recording whose media stopped arriving.
	r.backup = time.AfterFunc(maxDur+2*time.Second, func() { onLimit(recorder.LimitSeconds) })
	return r, nil
}

// finish stops the recorder and stores the clip.
func (r *recording) finish() (clips.Clip, error) {
	r.backup.Stop()
	if r.attached {
		for i, up := range r.ups {
			up.RemoveSink(r.sinks[i])
		}
	}
	res, err := r.rec.Stop()
	if err != nil {
		r.pending.Abort()
		return clips.Clip{}, err
	}
	if res.Dropped > 0 {
		// The clip has gaps; keep it, but say so.
		err = fmt.Errorf("%d packets were dropped while recording", res.Dropped)
	}
	clip, cerr := r.pending.Commit(res.Duration, res.Kind, res.Mime)
	if cerr != nil {
		return clips.Clip{}, cerr
	}
	return clip, err
}

// recordStart handles record-start: the session's published tracks are
// recorded into a clip until record-stop or the room's limits.
func (s *Session) recordStart(m *clientMessage) {
	room := s.room
	if room.cfg.Mode.Live() {
		s.sendError(m.Req, ErrRecordNotAllowed, "this room forwards live; it archives talk spurts by itself where archive is on")
		return
	}
	if s.hub.cfg.Store == nil {
		s.sendError(m.Req, ErrRecordNotAllowed, "this server does not store clips")
		return
	}
	if utf8.RuneCountInString(m.Description) > maxDescription || !utf8.ValidString(m.Description) {
		s.sendError(m.Req, ErrBadRequest, fmt.Sprintf("the description must be valid text of at most %d characters", maxDescription))
		return
	}
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if s.rec != nil {
		s.sendError(m.Req, ErrAlreadyRecording, "already recording")
		return
	}
	ups := recordTracks(s.peer)
	// The publish connection's tracks are registered once its transport
	// is up, which the client may see a moment before the server does.
	for wait := time.Now().Add(time.Second); ups == nil && s.peer.Publishing() && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
		ups = recordTracks(s.peer)
	}
	if ups == nil {
		s.sendError(m.Req, ErrNotPublishing, "publish an audio track before recording")
		return
	}
	rec, err := s.startRecording(ups, m.Description, func(reason string) { s.stopRecording(reason) })
	if err != nil {
		s.log.Error("start recording", "room", room.cfg.Name, "err", err)
		s.sendError(m.Req, ErrRecordFailed, "cannot start recording: "+err.Error())
		return
	}
	s.rec = rec
	kinds := make([]string, len(ups))
	for i, up := range ups {
		kinds[i] = up.Kind().String()
	}
	s.enqueue(recordingMessage{Type: TypeRecording, Req: m.Req, ID: rec.pending.ID(),
		MaxSeconds: room.cfg.MaxClipSeconds, MaxBytes: room.cfg.MaxClipBytes, Kinds: kinds})
}

// stopRecording ends the session's recording, if any, and tells the client
// what became of it. reason says why it stopped.
func (s *Session) stopRecording(reason string) {
	s.recMu.Lock()
	rec := s.rec
	s.rec = nil
	s.recMu.Unlock()
	if rec == nil {
		return
	}
	clip, err := rec.finish()
	switch {
	case errors.Is(err, recorder.ErrEmpty):
		s.sendError(nil, ErrEmptyClip, "nothing was recorded: no media arrived")
		return
	case err != nil && clip.ID == "":
		s.log.Warn("recording failed", "err", err)
		s.sendError(nil, ErrRecordFailed, "the clip could not be stored: "+err.Error())
		return
	case err != nil:
		s.log.Warn("recorded with losses", "clip", clip.ID, "err", err)
	}
	s.enqueue(recordStoppedMessage{Type: TypeRecordStopped, Reason: reason, Clip: &clip})
}
