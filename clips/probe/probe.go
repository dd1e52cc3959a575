// Package probe reads and validates the media files that parley stores as
// clips: WebM (EBML) with Opus audio and optionally VP8 or VP9 video, and
// Ogg with Opus. It is written for hostile input: it never trusts a size
// field further than the bytes that actually arrive, caps every element it
// keeps in memory, and reports problems as one of a few typed errors.
//
// It owns parsing only: it does not write files (the clip store remuxes
// with ebml-go) and does not decode audio or video.
package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors returned by Probe and ReadBlocks, wrapped with a reason; test with
// errors.Is.
var (
	// ErrNotMedia: the input is neither WebM nor Ogg (or is Matroska but
	// not WebM).
	ErrNotMedia = errors.New("not a WebM or Ogg file")
	// ErrCodec: a container we read, holding a codec we do not store.
	ErrCodec = errors.New("unsupported codec")
	// ErrTruncated: the input ends inside an element, a page or a packet.
	ErrTruncated = errors.New("truncated media")
	// ErrInvalid: the input breaks the container's rules.
	ErrInvalid = errors.New("invalid media")
	// ErrTooBig: more than maxBytes arrived.
	ErrTooBig = errors.New("media too big")
)

// Track is one track of a file.
type Track struct {
	Number          uint64
	Kind            string // "audio" | "video"
	Codec           string // "opus" | "vp8" | "vp9"
	CodecPrivate    []byte // for Opus the OpusHead (RFC 7845, section 5.1)
	CodecDelay      time.Duration
	SeekPreRoll     time.Duration
	DefaultDuration time.Duration
	SampleRate      float64 // Opus: always 48000, the rate Opus decodes at
	Channels        int
	Width, Height   int
	Blocks          int // frames of this track that were read
}

// Info describes a file.
type Info struct {
	Container string // "webm" | "ogg"
	Tracks    []Track
	// Start is the timestamp of the earliest frame (WebM); Duration is
	// measured from it to the end of the last frame. For Ogg, Duration
	// comes from the granule positions, minus the pre-skip.
	Start    time.Duration
	Duration time.Duration
	Blocks   int // frames (WebM, after unlacing) or audio packets (Ogg)
}

// Track returns the track numbered n.
func (i *Info) Track(n uint64) (Track, bool) {
	for _, t := range i.Tracks {
		if t.Number == n {
			return t, true
		}
	}
	return Track{}, false
}

// HasVideo reports whether a video track has at least one frame.
func (i *Info) HasVideo() bool {
	for _, t := range i.Tracks {
		if t.Kind == "video" && t.Blocks > 0 {
			return true
		}
	}
	return false
}

// Block is one frame of a WebM file. Laced blocks are split into their
// frames.
type Block struct {
	Track    uint64
	Timecode time.Duration // absolute: cluster timecode plus block offset, scaled
	Duration time.Duration // Opus: from the packet's TOC; video: BlockDuration or DefaultDuration if given; else 0
	Keyframe bool
	Data     []byte // owned by the callee: not reused by the reader
}

// Probe reads a whole WebM or Ogg Opus file and validates it: EBML header
// with DocType "webm", one Segment, Tracks holding only Opus, VP8 and VP9
// (at least one Opus track), blocks of known tracks with timecodes that do
// not go back by more than a second, and at least one Opus frame; or an Ogg
// stream with valid page CRCs, OpusHead and OpusTags, and non-decreasing
// granule positions. More than maxBytes of input is ErrTooBig (maxBytes <= 0:
// no limit).
func Probe(r io.Reader, maxBytes int64) (Info, error) {
	br := bufio.NewReaderSize(&limitReader{r: r, left: maxBytes, limited: maxBytes > 0}, 64<<10)
	magic, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, ErrTooBig) {
			return Info{}, err
		}
		return Info{}, fmt.Errorf("%w: %d bytes", ErrNotMedia, len(magic))
	}
	switch string(magic) {
	case "\x1a\x45\xdf\xa3":
		p := newParser(br, nil)
		info, err := p.run()
		if err != nil {
			return info, err
		}
		if p.opusBlocks == 0 {
			return info, fmt.Errorf("%w: no Opus audio frame", ErrInvalid)
		}
		return info, nil
	case "OggS":
		return probeOgg(br)
	}
	return Info{}, fmt.Errorf("%w: unknown container (starts with % x)", ErrNotMedia, magic)
}

// ReadBlocks reads a WebM file and calls fn for each frame in file order.
// An error from fn stops the reading and is returned. When the input ends
// inside an element (a recording cut off by a crash), the frames read
// until then have been delivered and the error wraps ErrTruncated; Info
// then describes those frames. Ogg is not read (ErrNotMedia): Ogg clips
// are stored as they are.
func ReadBlocks(r io.Reader, fn func(b Block) error) (Info, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %d bytes", ErrTruncated, len(magic))
	}
	if string(magic) != "\x1a\x45\xdf\xa3" {
		return Info{}, fmt.Errorf("%w: not a WebM file", ErrNotMedia)
	}
	return newParser(br, fn).run()
}

// limitReader returns ErrTooBig once more than left bytes would be read.
type limitReader struct {
	r       io.Reader
	left    int64
	limited bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if !l.limited {
		return l.r.Read(p)
	}
	if l.left <= 0 {
		// Is there more? One byte tells.
		var b [1]byte
		n, err := io.ReadFull(l.r, b[:])
		if n > 0 {
			return 0, ErrTooBig
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
