package clips

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"

	"parley/clips/probe"
)

// durationSlack is how much longer than max_clip_seconds an upload may be:
// encoders round and pad the last frame.
const durationSlack = time.Second

// ReadError is a failure to read an upload's body (the client went away,
// or sent more than the HTTP layer allows).
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "read the upload: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// Upload stores an uploaded clip. The body is streamed to disk and refused
// as soon as more than the room's max_clip_bytes arrive (ErrTooBig); then
// it is validated by parsing (ErrUnsupportedMedia for another container or
// codec, ErrInvalidMedia for damaged or truncated media) and its duration
// measured (ErrTooLong beyond max_clip_seconds plus a second). WebM is
// remuxed into a fresh file with Cues and Duration, so that browsers can
// seek even in MediaRecorder's output; Ogg Opus is kept as it is. On any
// failure nothing is left on disk. owner is OwnerOf the uploader's key.
func (s *Store) Upload(roomName, author, owner, description string, body io.Reader) (Clip, error) {
	r, err := s.room(roomName)
	if err != nil {
		return Clip{}, err
	}
	p, err := s.begin(roomName, Clip{Author: author, Owner: owner, Description: description}, true)
	if err != nil {
		return Clip{}, err
	}
	c, err := s.upload(r, p, body)
	if err != nil {
		p.Abort() // a no-op if Commit ran: it cleans up after itself
		return Clip{}, fmt.Errorf("upload to %s: %w", roomName, err)
	}
	return c, nil
}

func (s *Store) upload(r *room, p *Pending, body io.Reader) (Clip, error) {
	limit := r.cfg().MaxClipBytes
	rawName := "clips/" + p.clip.ID + ".upload"
	raw, err := r.root.OpenFile(rawName, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return Clip{}, err
	}
	handed := false
	defer func() {
		if !handed {
			raw.Close()
			_ = removeIfExists(r.root, rawName)
		}
	}()
	n, err := io.Copy(raw, io.LimitReader(body, limit+1))
	if err != nil {
		var we *os.PathError
		if errors.As(err, &we) {
			return Clip{}, err // the disk, not the client
		}
		return Clip{}, &ReadError{Err: err}
	}
	if n > limit {
		return Clip{}, fmt.Errorf("%w: more than %d bytes", ErrTooBig, limit)
	}
	if _, err := raw.Seek(0, io.SeekStart); err != nil {
		return Clip{}, err
	}
	info, err := probe.Probe(raw, limit)
	if err != nil {
		return Clip{}, mediaError(err)
	}
	if info.Duration <= 0 {
		return Clip{}, fmt.Errorf("%w: no audio", ErrInvalidMedia)
	}
	if max := time.Duration(r.cfg().MaxClipSeconds)*time.Second + durationSlack; info.Duration > max {
		return Clip{}, fmt.Errorf("%w: %.1f s, the room allows %d s", ErrTooLong, info.Duration.Seconds(), r.cfg().MaxClipSeconds)
	}

	if info.Container == "ogg" {
		// Kept as it is: the raw file becomes the .part.
		p.f.Close()
		if err := r.root.Rename(rawName, "clips/"+p.clip.ID+".part"); err != nil {
			return Clip{}, err
		}
		handed = true
		p.f = raw
		return p.Commit(info.Duration, KindAudio, `audio/ogg; codecs="opus"`)
	}
	if _, err := raw.Seek(0, io.SeekStart); err != nil {
		return Clip{}, err
	}
	if err := remux(p.f, raw, info, false); err != nil {
		return Clip{}, err
	}
	kind, mime := kindMime(info)
	return p.Commit(info.Duration, kind, mime)
}

// mediaError maps a probe error to the store's errors.
func mediaError(err error) error {
	switch {
	case errors.Is(err, probe.ErrTooBig):
		return fmt.Errorf("%w: %w", ErrTooBig, err)
	case errors.Is(err, probe.ErrNotMedia), errors.Is(err, probe.ErrCodec):
		return fmt.Errorf("%w: %w", ErrUnsupportedMedia, err)
	case errors.Is(err, probe.ErrTruncated), errors.Is(err, probe.ErrInvalid):
		return fmt.Errorf("%w: %w", ErrInvalidMedia, err)
	}
	return err
}

// remuxTracks returns the tracks that have frames, audio first.
func remuxTracks(info probe.Info) []probe.Track {
	var audio, video []probe.Track
	for _, t := range info.Tracks {
		switch {
		case t.Blocks == 0:
		case t.Kind == KindAudio:
			audio = append(audio, t)
		default:
			video = append(video, t)
		}
	}
	return append(audio, video...)
}

// kindMime returns a WebM file's kind and mime type.
func kindMime(info probe.Info) (kind, mime string) {
	var codecs []string
	kind = KindAudio
	for _, t := range remuxTracks(info) {
		if t.Kind == KindVideo {
			kind = KindVideo
			codecs = append([]string{t.Codec}, codecs...)
		} else if !containsString(codecs, t.Codec) {
			codecs = append(codecs, t.Codec)
		}
	}
	return kind, fmt.Sprintf(`%s/webm; codecs="%s"`, kind, strings.Join(codecs, ", "))
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// remux copies the frames of the WebM file src into dst, a fresh WebM
// written with ebml-go's block writer: a SeekHead, Cues, and a Duration
// that includes the last frame (info.Duration). info describes src (from
// probe.Probe, or from a first probe.ReadBlocks pass); frames of tracks
// without blocks in info are dropped. If tolerateTruncation, a truncated
// src is remuxed up to its last complete frame. Timestamps start at 0 and
// never go back within a track.
func remux(dst *os.File, src io.Reader, info probe.Info, tolerateTruncation bool) error {
	tracks := remuxTracks(info)
	if len(tracks) == 0 {
		return fmt.Errorf("%w: no frames", ErrInvalidMedia)
	}
	entries := make([]webm.TrackEntry, len(tracks))
	index := map[uint64]int{}
	main := uint64(1)
	for i, t := range tracks {
		n := uint64(i + 1)
		e := webm.TrackEntry{Name: t.Kind, TrackNumber: n, TrackUID: n, CodecPrivate: t.CodecPrivate}
		if t.Kind == KindAudio {
			e.CodecID, e.TrackType = "A_OPUS", 2
			e.CodecDelay = uint64(t.CodecDelay)
			e.SeekPreRoll = uint64(t.SeekPreRoll)
			e.Audio = &webm.Audio{SamplingFrequency: 48000, Channels: uint64(t.Channels)}
		} else {
			e.CodecID, e.TrackType = "V_"+strings.ToUpper(t.Codec), 1
			e.DefaultDuration = uint64(t.DefaultDuration)
			e.Video = &webm.Video{PixelWidth: uint64(t.Width), PixelHeight: uint64(t.Height)}
			main = n // clusters, and so cues, start at video keyframes
		}
		entries[i] = e
		index[t.Number] = i
	}
	// A cluster (and a cue point of at most 40 bytes) per second at most;
	// ebml-go thins the cues out if they do not fit in what is reserved.
	cueBytes := 512 + min(int(info.Duration/time.Second)+2, 6000)*40
	sorter, err := mkvcore.NewMultiTrackBlockSorter(
		mkvcore.WithMaxTimescaleDelay(500), mkvcore.WithSortRule(mkvcore.BlockSorterWriteOutdated))
	if err != nil {
		return err
	}
	out := &fileSink{f: dst}
	ws, err := webm.NewSimpleBlockWriter(out, entries,
		// A fresh Info: ebml-go sets the Duration placeholder on the one it
		// is given, and the package default is shared.
		mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: 1_000_000, MuxingApp: "parley", WritingApp: "parley"}),
		mkvcore.WithSeekHead(true),
		mkvcore.WithCues(cueBytes),
		mkvcore.WithBlockInterceptor(sorter),
		mkvcore.WithMinMaxClusterDuration(main, 1000, 5000),
		mkvcore.WithOnErrorHandler(func(error) {}), // a frame too old to write: dropped
		mkvcore.WithOnFatalHandler(out.fail),
	)
	if err != nil {
		return fmt.Errorf("remux: %w", err)
	}
	last := make([]int64, len(tracks))
	_, rerr := probe.ReadBlocks(src, func(b probe.Block) error {
		i, ok := index[b.Track]
		if !ok {
			return nil
		}
		ts := max((b.Timecode - info.Start).Milliseconds(), last[i])
		last[i] = ts
		_, err := ws[i].Write(b.Keyframe, ts, b.Data)
		return err
	})
	for _, w := range ws {
		w.Close() // the last Close waits for the writer to finish
	}
	if rerr != nil && !(tolerateTruncation && errors.Is(rerr, probe.ErrTruncated)) {
		return mediaError(rerr)
	}
	if out.err != nil {
		return fmt.Errorf("remux: %w", out.err)
	}
	// ebml-go's Duration is the last frame's timestamp; the clip lasts
	// until the end of that frame.
	if err := patchDuration(dst, info.Duration); err != nil {
		return fmt.Errorf("remux: %w", err)
	}
	return nil
}

// patchDuration overwrites the 8-byte float Segment Duration (in ms) that
// ebml-go wrote in the file's header, found the way ebml-go finds it.
func patchDuration(f *os.File, d time.Duration) error {
	head := make([]byte, 4096)
	n, err := f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	i := bytes.Index(head[:n], []byte{0x44, 0x89, 0x88})
	if i < 0 || i+11 > n {
		return errors.New("no Duration element in the header")
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], math.Float64bits(float64(d)/float64(time.Millisecond)))
	_, err = f.WriteAt(b[:], int64(i+3))
	return err
}

// fileSink is what ebml-go writes to: the file, minus Close (the store
// syncs and closes it). After a write error it keeps the error and drops
// further writes, so that ebml-go's writer goroutine never stops early and
// its block writers never block.
type fileSink struct {
	f   *os.File
	err error
}

func (s *fileSink) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

func (s *fileSink) Write(p []byte) (int, error) {
	if s.err == nil {
		if _, err := s.f.Write(p); err != nil {
			s.fail(err)
		}
	}
	return len(p), nil
}

func (s *fileSink) WriteAt(p []byte, off int64) (int, error) {
	if s.err == nil {
		if _, err := s.f.WriteAt(p, off); err != nil {
			s.fail(err)
		}
	}
	return len(p), nil
}

func (s *fileSink) Close() error { return nil }
