package testmedia

import (
	"io"
	"testing"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
)

// OpusHead is the CodecPrivate of a 48 kHz stereo Opus track without
// pre-skip, as the recorder writes it (RTP Opus has none).
var OpusHead = []byte{'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 2, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0}

// WriteWebM writes audio frames (track 1, Opus) and, unless video is nil,
// video frames (track 2, VP8 320x240) interleaved by time, with ebml-go's
// block writer, to w, which it closes. With cues it writes like the
// recorder (SeekHead, Cues, Duration), and w must also be an io.WriterAt
// or an io.WriteSeeker; without, like Chrome's MediaRecorder: unknown-size
// Segment and Clusters, no Cues, no Duration. Clusters follow the video
// track when there is one.
func WriteWebM(t testing.TB, w io.WriteCloser, audio, video []Frame, cues bool) {
	t.Helper()
	tracks := []webm.TrackEntry{{
		Name: "audio", TrackNumber: 1, TrackUID: 1, CodecID: "A_OPUS", TrackType: 2,
		CodecPrivate: OpusHead, Audio: &webm.Audio{SamplingFrequency: 48000, Channels: 2},
	}}
	main := uint64(1)
	if video != nil {
		tracks = append(tracks, webm.TrackEntry{
			Name: "video", TrackNumber: 2, TrackUID: 2, CodecID: "V_VP8", TrackType: 1,
			Video: &webm.Video{PixelWidth: 320, PixelHeight: 240},
		})
		main = 2
	}
	opts := []mkvcore.BlockWriterOption{
		mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: 1000000, MuxingApp: "test", WritingApp: "test"}),
		mkvcore.WithMinMaxClusterDuration(main, 1000, 5000),
	}
	if cues {
		opts = append(opts, mkvcore.WithSeekHead(true), mkvcore.WithCues(4096))
	}
	ws, err := webm.NewSimpleBlockWriter(w, tracks, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var at, vat time.Duration
	vi := 0
	for _, f := range audio {
		for vi < len(video) && vat <= at {
			if _, err := ws[1].Write(video[vi].Keyframe, vat.Milliseconds(), video[vi].Data); err != nil {
				t.Fatal(err)
			}
			vat += video[vi].Duration
			vi++
		}
		if _, err := ws[0].Write(true, at.Milliseconds(), f.Data); err != nil {
			t.Fatal(err)
		}
		at += f.Duration
	}
	for _, w := range ws {
		w.Close()
	}
}

// WebM returns what WriteWebM writes, made in memory.
func WebM(t testing.TB, audio, video []Frame, cues bool) []byte {
	t.Helper()
	var buf seekBuffer
	WriteWebM(t, &buf, audio, video, cues)
	return buf.b
}

// seekBuffer is an in-memory io.WriteSeeker with a no-op Close.
type seekBuffer struct {
	b   []byte
	pos int
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if end := s.pos + len(p); end > len(s.b) {
		s.b = append(s.b, make([]byte, end-len(s.b))...)
	}
	copy(s.b[s.pos:], p)
	s.pos += len(p)
	return len(p), nil
}

func (s *seekBuffer) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += int64(s.pos)
	case io.SeekEnd:
		off += int64(len(s.b))
	}
	s.pos = int(off)
	return off, nil
}

func (s *seekBuffer) Close() error { return nil }
