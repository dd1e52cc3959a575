package recorder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"parley/internal/ebmlid"
)

// The WebM writer. A clip is laid out as
//
//	EBML header
//	Segment (size unknown)
//	  SeekHead: where Info, Tracks and Cues are
//	  Info: TimecodeScale 1 ms, Duration (written at close)
//	  Tracks
//	  Void, reserved for the Cues (written at close)
//	  Cluster (size unknown): Timecode, SimpleBlock...
//	  Cluster ...
//
// Blocks go straight into the buffered file as they come, without
// reflection or a copy. The Segment and the Clusters keep the unknown
// size: each ends where the next one, or the file, does. A recording cut
// off by a crash is then a valid file up to its last complete block, which
// is what clips.Store recovers. At close only two places are rewritten:
// the Duration, and the Cues in the space reserved for them before the
// first Cluster, where a browser finds them without reading the whole
// file.

const (
	// maxSize is the largest size a vint of 8 bytes can hold; all ones
	// means "unknown".
	maxSize = 1<<56 - 2
	// minCluster and maxCluster bound a Cluster's span, in ms: a new one
	// starts at a keyframe of the main track at least minCluster after the
	// Cluster's start (every block of an audio-only clip is one), and at
	// any block maxCluster after it. A block's timecode is an int16 offset
	// from its Cluster's, so maxCluster must stay well under 32,767.
	minCluster = 1000
	maxCluster = 5000
	// blockOverhead bounds what a SimpleBlock adds to its frame: ID, an
	// 8-byte size, the track number, the timecode and the flags.
	blockOverhead = 1 + 8 + 1 + 2 + 1
	// clusterOverhead bounds a Cluster's own bytes: ID, unknown size and
	// Timecode.
	clusterOverhead = 4 + 8 + 1 + 1 + 8
	// cuePointSize is what one cue point takes in a clip shorter than a
	// few hours and 4 GB (2 + 2+3 + 2 + 3 + 2+4, rounded up); the Cues of a
	// longer one are thinned to fit (see cuesElem).
	cuePointSize = 24
)

// sizeLen is the length of the shortest vint that holds n (n <= maxSize).
func sizeLen(n uint64) int {
	l := 1
	for n > 1<<(7*l)-2 {
		l++
	}
	return l
}

// putSize writes n as a vint of length l into b, which must hold l bytes.
func putSize(b []byte, n uint64, l int) {
	n |= 1 << (7 * l)
	for i := l - 1; i >= 0; i-- {
		b[i] = byte(n)
		n >>= 8
	}
}

// appendSize appends n as the shortest vint.
func appendSize(b []byte, n uint64) []byte {
	var s [8]byte
	l := sizeLen(n)
	putSize(s[:], n, l)
	return append(b, s[:l]...)
}

// appendID appends an element ID: its bytes, marker included.
func appendID(b []byte, id uint32) []byte {
	switch {
	case id >= 1<<24:
		return append(b, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<16:
		return append(b, byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<8:
		return append(b, byte(id>>8), byte(id))
	}
	return append(b, byte(id))
}

// appendElem appends an element holding data.
func appendElem(b []byte, id uint32, data []byte) []byte {
	b = appendID(b, id)
	b = appendSize(b, uint64(len(data)))
	return append(b, data...)
}

// appendUint appends an unsigned integer element in as few bytes as it
// takes (one at least).
func appendUint(b []byte, id uint32, v uint64) []byte {
	n := 1
	for n < 8 && v>>(8*n) != 0 {
		n++
	}
	b = appendID(b, id)
	b = appendSize(b, uint64(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// appendFloat appends an 8-byte float element.
func appendFloat(b []byte, id uint32, v float64) []byte {
	b = appendID(b, id)
	b = append(b, 0x88)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}

func appendString(b []byte, id uint32, s string) []byte {
	return appendElem(b, id, []byte(s))
}

// appendVoid appends a Void element of exactly n bytes (n >= 2).
func appendVoid(b []byte, n int) []byte {
	b = append(b, ebmlid.Void)
	l := 1
	if n-2 > 126 {
		l = 8
	}
	var s [8]byte
	putSize(s[:], uint64(n-1-l), l)
	b = append(b, s[:l]...)
	return append(b, make([]byte, n-1-l)...)
}

// webmTrack describes one track of a clip.
type webmTrack struct {
	number   uint64 // 1, 2, ...
	name     string
	codec    string // "opus", "vp8" or "vp9"
	channels int    // audio
	width    int    // video
	height   int
}

type cuePoint struct {
	time     int64  // ms
	track    uint64 // the track of the block that starts the Cluster
	position int64  // of the Cluster, from the Segment's data
}

// webmWriter writes one clip. It is used from one goroutine.
type webmWriter struct {
	out        *countingWriter
	main       uint64 // the track whose keyframes start Clusters
	tracks     uint64 // numbered 1 to tracks
	segment    int64  // file offset of the Segment's data
	durationAt int64  // file offset of the Duration's value
	cuesAt     int64  // file offset of the space reserved for the Cues
	cuesSpace  int
	cues       []cuePoint
	cluster    int64 // timecode of the open Cluster, -1 before the first
	blocks     int
	dropped    int // blocks too far before their Cluster to be written
	scratch    [32]byte
}

// newWebmWriter writes the header of a clip with these tracks into out,
// which must be at the file's start, with room for the Cues of about
// cueRoom Clusters.
func newWebmWriter(out *countingWriter, tracks []webmTrack, cueRoom int) (*webmWriter, error) {
	if len(tracks) == 0 || len(tracks) > 126 {
		return nil, fmt.Errorf("webm: %d tracks", len(tracks))
	}
	if out.n != 0 {
		return nil, errors.New("webm: the clip must start at the file's start")
	}
	w := &webmWriter{out: out, main: tracks[0].number, tracks: uint64(len(tracks)), cluster: -1}
	for i, t := range tracks {
		if t.number != uint64(i+1) {
			return nil, fmt.Errorf("webm: track %d numbered %d", i, t.number)
		}
		if t.codec != "opus" {
			w.main = t.number
		}
	}
	var info []byte
	info = appendUint(info, ebmlid.TimecodeScale, 1000000)
	info = appendString(info, ebmlid.MuxingApp, "parley")
	info = appendString(info, ebmlid.WritingApp, "parley")
	durationIn := len(info) + 3 // after the ID and the size
	info = appendFloat(info, ebmlid.Duration, 0)

	var entries []byte
	for _, t := range tracks {
		var e []byte
		e = appendUint(e, ebmlid.TrackNumber, t.number)
		e = appendUint(e, ebmlid.TrackUID, t.number)
		e = appendString(e, ebmlid.Name, t.name)
		switch t.codec {
		case "opus":
			e = appendString(e, ebmlid.CodecID, "A_OPUS")
			e = appendUint(e, ebmlid.TrackType, 2)
			e = appendElem(e, ebmlid.CodecPrivate, opusHead(t.channels))
			var a []byte
			a = appendFloat(a, ebmlid.SamplingFrequency, 48000)
			a = appendUint(a, ebmlid.Channels, uint64(t.channels))
			e = appendElem(e, ebmlid.Audio, a)
		case "vp8", "vp9":
			id := "V_VP8"
			if t.codec == "vp9" {
				id = "V_VP9"
			}
			e = appendString(e, ebmlid.CodecID, id)
			e = appendUint(e, ebmlid.TrackType, 1)
			var v []byte
			v = appendUint(v, ebmlid.PixelWidth, uint64(t.width))
			v = appendUint(v, ebmlid.PixelHeight, uint64(t.height))
			e = appendElem(e, ebmlid.Video, v)
		default:
			return nil, fmt.Errorf("webm: codec %q", t.codec)
		}
		entries = appendElem(entries, ebmlid.TrackEntry, e)
	}
	infoElem := appendElem(nil, ebmlid.Info, info)
	tracksElem := appendElem(nil, ebmlid.Tracks, entries)
	w.cuesSpace = 512 + max(cueRoom, 0)*cuePointSize

	// The SeekHead's positions are written as 8 bytes, so its size does
	// not depend on them.
	seek := func(b []byte, id uint32, pos int64) []byte {
		var s []byte
		s = appendElem(s, ebmlid.SeekID, appendID(nil, id))
		s = appendID(s, ebmlid.SeekPosition)
		s = append(s, 0x88)
		s = binary.BigEndian.AppendUint64(s, uint64(pos))
		return appendElem(b, ebmlid.Seek, s)
	}
	seekHeadLen := len(appendElem(nil, ebmlid.SeekHead, seek(seek(seek(nil, ebmlid.Info, 0), ebmlid.Tracks, 0), ebmlid.Cues, 0)))
	infoAt := int64(seekHeadLen)
	tracksAt := infoAt + int64(len(infoElem))
	cuesAt := tracksAt + int64(len(tracksElem))
	seekHead := appendElem(nil, ebmlid.SeekHead, seek(seek(seek(nil, ebmlid.Info, infoAt), ebmlid.Tracks, tracksAt), ebmlid.Cues, cuesAt))

	var h []byte
	var ebml []byte
	ebml = appendUint(ebml, ebmlid.EBMLVersion, 1)
	ebml = appendUint(ebml, ebmlid.EBMLReadVersion, 1)
	ebml = appendUint(ebml, ebmlid.EBMLMaxIDLength, 4)
	ebml = appendUint(ebml, ebmlid.EBMLMaxSizeLength, 8)
	ebml = appendString(ebml, ebmlid.DocType, "webm")
	ebml = appendUint(ebml, ebmlid.DocTypeVersion, 4)
	ebml = appendUint(ebml, ebmlid.DocTypeReadVersion, 2)
	h = appendElem(h, ebmlid.EBML, ebml)
	h = appendID(h, ebmlid.Segment)
	h = append(h, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // unknown size
	w.segment = int64(len(h))
	h = append(h, seekHead...)
	w.durationAt = int64(len(h)) + int64(len(infoElem)-len(info)) + int64(durationIn)
	h = append(h, infoElem...)
	h = append(h, tracksElem...)
	w.cuesAt = int64(len(h))
	h = appendVoid(h, w.cuesSpace)
	if _, err := out.Write(h); err != nil {
		return nil, err
	}
	return w, nil
}

// write writes a frame of track (its number) at timecode tc, in ms from
// the clip's start. Blocks are expected in timecode order, each track's
// never going back.
func (w *webmWriter) write(track uint64, tc int64, key bool, data []byte) error {
	if tc < 0 {
		return fmt.Errorf("webm: negative timecode %d", tc)
	}
	if track == 0 || track > w.tracks {
		return fmt.Errorf("webm: track number %d", track)
	}
	rel := tc - w.cluster
	if w.cluster < 0 || rel >= maxCluster || (track == w.main && key && rel >= minCluster) {
		if err := w.startCluster(track, tc); err != nil {
			return err
		}
		rel = 0
	}
	if rel < math.MinInt16 {
		// Too far before its Cluster for an int16 offset; the
		// interleaving makes this all but impossible.
		w.dropped++
		return nil
	}
	b := w.scratch[:0]
	b = append(b, ebmlid.SimpleBlock)
	size := uint64(len(data)) + 4
	if size > maxSize {
		return fmt.Errorf("webm: a frame of %d bytes", len(data))
	}
	l := sizeLen(size)
	b = b[:1+l]
	putSize(b[1:], size, l)
	flags := byte(0)
	if key {
		flags = 0x80
	}
	b = append(b, 0x80|byte(track), byte(uint16(rel)>>8), byte(uint16(rel)), flags)
	if _, err := w.out.Write(b); err != nil {
		return err
	}
	if _, err := w.out.Write(data); err != nil {
		return err
	}
	w.blocks++
	return nil
}

func (w *webmWriter) startCluster(track uint64, tc int64) error {
	w.cues = append(w.cues, cuePoint{time: tc, track: track, position: w.out.n - w.segment})
	w.cluster = tc
	b := w.scratch[:0]
	b = appendID(b, ebmlid.Cluster)
	b = append(b, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	b = appendUint(b, ebmlid.Timecode, uint64(tc))
	_, err := w.out.Write(b)
	return err
}

// close writes the Cues and the Duration, in ms.
func (w *webmWriter) close(duration int64) error {
	if err := w.out.flush(); err != nil {
		return err
	}
	if err := w.out.writeAt(w.cuesAt, w.cuesElem()); err != nil {
		return fmt.Errorf("write cues: %w", err)
	}
	var d [8]byte
	binary.BigEndian.PutUint64(d[:], math.Float64bits(float64(duration)))
	if err := w.out.writeAt(w.durationAt, d[:]); err != nil {
		return fmt.Errorf("write duration: %w", err)
	}
	_, err := w.out.Seek(0, io.SeekEnd)
	return err
}

// cuesElem is the Cues with a Void after them, exactly as long as the
// space reserved. Cues that do not fit lose every other point until they
// do: seeking becomes coarser, not impossible.
func (w *webmWriter) cuesElem() []byte {
	points := w.cues
	for {
		// A point's parts are made on the stack: the Cues cost one
		// buffer, however long the clip.
		body := make([]byte, 0, len(points)*cuePointSize)
		var posBuf, pointBuf [48]byte
		for _, c := range points {
			pos := appendUint(posBuf[:0], ebmlid.CueTrack, c.track)
			pos = appendUint(pos, ebmlid.CueClusterPosition, uint64(c.position))
			p := appendUint(pointBuf[:0], ebmlid.CueTime, uint64(c.time))
			p = appendElem(p, ebmlid.CueTrackPositions, pos)
			body = appendElem(body, ebmlid.CuePoint, p)
		}
		// The Cues' size as 4 bytes, or 5 to leave no single byte
		// that a Void cannot fill.
		l := 4
		rest := w.cuesSpace - (4 + l + len(body))
		if rest == 1 {
			l, rest = 5, 0
		}
		if len(points) == 0 {
			return appendVoid(nil, w.cuesSpace)
		}
		if rest >= 0 {
			b := appendID(nil, ebmlid.Cues)
			var s [8]byte
			putSize(s[:], uint64(len(body)), l)
			b = append(b, s[:l]...)
			b = append(b, body...)
			if rest > 0 {
				b = appendVoid(b, rest)
			}
			return b
		}
		half := make([]cuePoint, 0, (len(points)+1)/2)
		for i := 0; i < len(points); i += 2 {
			half = append(half, points[i])
		}
		points = half
	}
}
