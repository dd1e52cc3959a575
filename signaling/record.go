package signaling

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"parley/capture"
	"parley/clips"
	"parley/sfu"
)

// maxDescription is the longest clip description, in characters.
const maxDescription = 500

type recordingMessage struct {
	Type       string   `json:"type"`
	Req        any      `json:"req,omitempty"`
	ID         string   `json:"id"`
	MaxSeconds int      `json:"max_seconds"`
	MaxBytes   int64    `json:"max_bytes"`
	Kinds      []string `json:"kinds"`
}

type recordStoppedMessage struct {
	Type   string          `json:"type"`
	Req    json.RawMessage `json:"req,omitempty"`
	Reason string          `json:"reason"`
	Clip   *clips.Clip     `json:"clip,omitempty"`
	// MinMs is the room's min_clip_ms, with reason StopTooShort.
	MinMs int `json:"min_ms,omitempty"`
}

// Reasons a recording stops.
const (
	StopRequested = "stopped"
	StopLeft      = "left"
	// StopCancelled: record-cancel discarded it.
	StopCancelled = "cancelled"
	// StopTooShort: its media was shorter than the room's min_clip_ms,
	// and it was discarded.
	StopTooShort = "too-short"
)

// captureConfig is where the member's recordings go: its room's clips,
// within the room's limits.
func (m *membership) captureConfig() capture.Config {
	return capture.Config{
		Store:       m.hub.cfg.Store,
		Room:        m.room.cfg().Name,
		MaxSeconds:  m.room.cfg().MaxClipSeconds,
		MaxBytes:    m.room.cfg().MaxClipBytes,
		MinDuration: m.room.cfg().MinClip(),
		Log:         m.log,
	}
}

// startRecordingLocked records tracks into a new clip of the member's
// room, until the member stops it or the room's limits do. Called locked
// (m.recMu).
func (m *membership) startRecordingLocked(tracks []capture.Track, description, trigger string) (*capture.Recording, error) {
	rec, err := capture.Start(m.captureConfig(), clips.Clip{Author: m.name, Owner: m.owner, Description: description, Trigger: trigger},
		tracks, func(reason string) { m.finishRecording(reason, nil) })
	if err != nil {
		return nil, err
	}
	m.rec = rec
	return rec, nil
}

// recordWait is a record-start waiting for the session's audio track.
type recordWait struct {
	req         json.RawMessage
	description string
	trigger     string
	timer       *time.Timer
}

// recordWaitTime bounds how long a record-start waits for the tracks of
// the session's publish connection.
const recordWaitTime = time.Second

const notPublishing = "publish an audio track before recording"

// archiveTrack adds a track the member publishes to its talk-spurt
// archive, in live rooms that archive.
func (m *membership) archiveTrack(up *sfu.UpTrack) {
	room := m.room
	if room == nil || !room.cfg().Mode.Live() || !room.cfg().Archive || m.hub.cfg.Store == nil {
		return
	}
	if up.Screen() {
		// A shared screen is shown live; the archive keeps the talk.
		return
	}
	m.recMu.Lock()
	defer m.recMu.Unlock()
	if m.archiver == nil {
		cfg, meta := m.captureConfig(), clips.Clip{Author: m.name, Owner: m.owner}
		cfg.HeardBy = room.listeners
		m.archiver = capture.NewArchiver(func(tracks []capture.Track, onLimit func(string)) (*capture.Recording, error) {
			return capture.StartFed(cfg, meta, tracks, onLimit)
		}, m.log)
	}
	m.archiver.Add(up)
}

// listeners returns the owners (clips.OwnerOf) of the room's members who
// hear it live now: the sessions, but not those in a call, who hear only
// each other; a WHIP encoder hears nothing. A talk spurt is stored as
// played for them.
func (r *Room) listeners() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.members))
	for _, om := range r.members {
		o := om.base()
		if _, ok := om.(*Session); !ok {
			continue
		}
		if c := r.calls[o.owner]; c != nil && c.active {
			continue
		}
		out = append(out, o.owner)
	}
	return out
}

// recordStart handles record-start: the session's published tracks are
// recorded into a clip until record-stop or the room's limits.
func (s *Session) recordStart(m *clientMessage) {
	room := s.room
	if room.cfg().Mode.Live() {
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
	if m.Trigger != "" {
		if !clips.ValidTrigger(m.Trigger) {
			s.sendError(m.Req, ErrBadRequest, fmt.Sprintf("unknown trigger %q", truncate(m.Trigger, 40)))
			return
		}
		room.mu.Lock()
		station := s.station != nil
		room.mu.Unlock()
		if !station {
			s.sendError(m.Req, ErrNotStation, "only a camera station records on a trigger")
			return
		}
	}
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if s.rec != nil || s.recWait != nil {
		s.sendError(m.Req, ErrAlreadyRecording, "already recording")
		return
	}
	ups := s.peer.UpTracks()
	tracks := capture.Pick(cameras(ups))
	if (tracks == nil || len(ups) < s.pubSending) && s.peer.Publishing() {
		// The publish connection's tracks are registered once its
		// transport is up, each by its own goroutine, which the client
		// may see a moment before the server does: a record-start that
		// finds the audio but not yet the camera would record a voice
		// clip. TrackPublished starts the recording when they are all
		// there.
		w := &recordWait{req: m.Req, description: m.Description, trigger: m.Trigger}
		w.timer = time.AfterFunc(recordWaitTime, func() { s.recordWaitCheck(w) })
		s.recWait = w
		return
	}
	if tracks == nil {
		s.sendError(m.Req, ErrNotPublishing, notPublishing)
		return
	}
	s.beginRecordingLocked(m.Req, tracks, m.Description, m.Trigger)
}

// beginRecordingLocked starts the recording a record-start asked for and
// answers it. Called locked (s.recMu).
func (s *Session) beginRecordingLocked(req json.RawMessage, tracks []capture.Track, description, trigger string) {
	rec, err := s.startRecordingLocked(tracks, description, trigger)
	if err != nil {
		s.log.Error("start recording", "room", s.room.cfg().Name, "err", err)
		s.sendError(req, ErrRecordFailed, "cannot start recording: "+err.Error())
		return
	}
	s.enqueue(recordingMessage{Type: TypeRecording, Req: req, ID: rec.ID(),
		MaxSeconds: s.room.cfg().MaxClipSeconds, MaxBytes: s.room.cfg().MaxClipBytes, Kinds: rec.Kinds()})
}

// cameras returns ups without the shared screens: a clip is the
// microphone and the camera.
func cameras(ups []*sfu.UpTrack) []*sfu.UpTrack {
	return slices.DeleteFunc(slices.Clone(ups), (*sfu.UpTrack).Screen)
}

// recordWaitTrack starts the recording a record-start waits for once the
// session publishes every track its offer sends (see Session.TrackPublished).
func (s *Session) recordWaitTrack() { s.recordWaitCheck(nil) }

// recordWaitCheck starts the recording that w (nil: the one in
// s.recWait) waits for when its tracks are there; when w's wait is over
// (expired), it starts with an audio track alone, or refuses without one.
func (s *Session) recordWaitCheck(expired *recordWait) {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	w := s.recWait
	if w == nil || (expired != nil && w != expired) {
		return
	}
	ups := s.peer.UpTracks()
	tracks := capture.Pick(cameras(ups))
	if expired == nil && (tracks == nil || len(ups) < s.pubSending) {
		return
	}
	w.timer.Stop()
	s.recWait = nil
	if tracks == nil {
		s.sendError(w.req, ErrNotPublishing, notPublishing)
		return
	}
	s.beginRecordingLocked(w.req, tracks, w.description, w.trigger)
}

// stopRecording ends the session's recording, or the wait of its
// record-start, and tells the client what became of it. reason says why
// it stopped; req is the record-stop's, which the answer carries.
func (s *Session) stopRecording(reason string, req json.RawMessage) {
	s.recMu.Lock()
	w := s.recWait
	s.recWait = nil
	s.recMu.Unlock()
	if w != nil {
		// Stopped before its tracks came.
		w.timer.Stop()
		s.sendError(w.req, ErrNotPublishing, notPublishing)
	}
	if !s.finishRecording(reason, req) && reason == StopRequested {
		s.sendError(req, ErrNotRecording, "nothing is being recorded")
	}
}

// cancelRecording handles record-cancel: the session's recording, or the
// wait of its record-start, ends and is discarded. Nothing is stored and
// nobody else hears of it; the client is answered with req.
func (s *Session) cancelRecording(req json.RawMessage) {
	s.recMu.Lock()
	w, rec := s.recWait, s.rec
	s.recWait, s.rec = nil, nil
	s.recMu.Unlock()
	if w == nil && rec == nil {
		s.sendError(req, ErrNotRecording, "nothing is being recorded")
		return
	}
	if w != nil {
		// The record-start is answered too: it will not record.
		w.timer.Stop()
		s.enqueue(recordStoppedMessage{Type: TypeRecordStopped, Req: w.req, Reason: StopCancelled})
	}
	if rec != nil {
		rec.Cancel()
		s.log.Info("recording cancelled", "room", s.room.cfg().Name, "clip", rec.ID())
	}
	s.enqueue(recordStoppedMessage{Type: TypeRecordStopped, Req: req, Reason: StopCancelled})
}

// finishRecording ends the member's recording, if any, and tells the
// member what became of it, with req. reason says why it stopped. It
// reports whether there was a recording.
func (m *membership) finishRecording(reason string, req json.RawMessage) bool {
	m.recMu.Lock()
	rec := m.rec
	m.rec = nil
	m.recMu.Unlock()
	if rec == nil {
		return false
	}
	clip, err := rec.Finish()
	switch {
	case errors.Is(err, capture.ErrEmpty):
		m.sendError(req, ErrEmptyClip, "nothing was recorded: no media arrived")
		return true
	case errors.Is(err, capture.ErrTooShort):
		m.log.Info("recording discarded", "room", m.room.cfg().Name, "reason", reason, "err", err)
		m.enqueue(recordStoppedMessage{Type: TypeRecordStopped, Req: req, Reason: StopTooShort, MinMs: m.room.cfg().MinClipMs})
		return true
	case err != nil && clip.ID == "":
		m.log.Warn("recording failed", "err", err)
		m.sendError(req, ErrRecordFailed, "the clip could not be stored: "+err.Error())
		return true
	case err != nil:
		m.log.Warn("recorded with losses", "clip", clip.ID, "err", err)
	}
	clip = clip.ForViewer(m.owner)
	m.enqueue(recordStoppedMessage{Type: TypeRecordStopped, Req: req, Reason: reason, Clip: &clip})
	return true
}
