package probe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"parley/internal/ebmlid"
)

// parser reads one WebM file from a stream.
type parser struct {
	s  streamReader
	fn func(Block) error // nil: probe only

	info     Info
	tracks   map[uint64]*trackState
	scale    int64 // ns per timecode unit
	seenInfo bool
	clusters int

	opusBlocks int
	start      int64 // ns, earliest frame
	end        int64 // ns, end of the latest frame
	pending    *elem // a header read by an unknown-size element that it does not contain
}

type trackState struct {
	Track
	last    int64 // ns, latest frame start
	started bool
	typical int64 // ns, the last positive step between frames (video)
}

func newParser(r *bufio.Reader, fn func(Block) error) *parser {
	return &parser{
		s:      streamReader{r: r},
		fn:     fn,
		tracks: map[uint64]*trackState{},
		scale:  1_000_000,
		start:  math.MaxInt64,
	}
}

// run parses the file. Info is filled as far as the parse went, also on
// error.
func (p *parser) run() (Info, error) {
	err := p.file()
	p.info.Container = "webm"
	order := p.trackOrder()
	p.info.Tracks = p.info.Tracks[:0]
	for _, t := range order {
		p.info.Tracks = append(p.info.Tracks, t.Track)
	}
	if p.info.Blocks > 0 {
		p.info.Start = time.Duration(p.start)
		p.info.Duration = time.Duration(max(p.end-p.start, 0))
	}
	return p.info, err
}

// trackOrder returns the tracks in the order Tracks listed them.
func (p *parser) trackOrder() []*trackState {
	out := make([]*trackState, 0, len(p.tracks))
	for _, t := range p.info.Tracks {
		out = append(out, p.tracks[t.Number])
	}
	return out
}

func (p *parser) next() (elem, error) {
	if p.pending != nil {
		e := *p.pending
		p.pending = nil
		return e, nil
	}
	return p.s.header()
}

func (p *parser) file() error {
	e, err := p.next()
	if err != nil {
		if errors.Is(err, errEnd) {
			return fmt.Errorf("%w: empty", ErrNotMedia)
		}
		return err
	}
	if e.id != ebmlid.EBML {
		return fmt.Errorf("%w: no EBML header", ErrNotMedia)
	}
	if err := p.ebmlHeader(e); err != nil {
		return err
	}
	for {
		e, err = p.next()
		if errors.Is(err, errEnd) {
			return fmt.Errorf("%w: no Segment", ErrTruncated)
		}
		if err != nil {
			return err
		}
		if e.id == ebmlid.Void || e.id == ebmlid.CRC32 {
			if err := p.s.skip(e); err != nil {
				return err
			}
			continue
		}
		break
	}
	if e.id != ebmlid.Segment {
		return fmt.Errorf("%w: %s where the Segment belongs", ErrInvalid, elemName(e.id))
	}
	if err := p.segment(e); err != nil {
		return err
	}
	// Only Void may follow the Segment: a second (chained) segment or junk
	// is refused.
	for {
		e, err := p.next()
		if errors.Is(err, errEnd) {
			return nil
		}
		if err != nil {
			return err
		}
		if e.id != ebmlid.Void {
			return fmt.Errorf("%w: data after the Segment (%s)", ErrInvalid, elemName(e.id))
		}
		if err := p.s.skip(e); err != nil {
			return err
		}
	}
}

func (p *parser) ebmlHeader(e elem) error {
	b, err := p.s.data(e, maxHeaderBytes)
	if err != nil {
		return err
	}
	docType := "matroska" // the default of RFC 8794
	err = children(b, func(id uint32, d []byte) error {
		switch id {
		case ebmlid.DocType:
			s, err := readString(id, d)
			docType = s
			return err
		case ebmlid.EBMLReadVersion:
			v, err := readUint(id, d)
			if err == nil && v != 1 {
				err = fmt.Errorf("%w: EBML read version %d", ErrInvalid, v)
			}
			return err
		case ebmlid.EBMLMaxIDLength:
			v, err := readUint(id, d)
			if err == nil && v > 4 {
				err = fmt.Errorf("%w: EBML max ID length %d", ErrInvalid, v)
			}
			return err
		case ebmlid.EBMLMaxSizeLength:
			v, err := readUint(id, d)
			if err == nil && v > 8 {
				err = fmt.Errorf("%w: EBML max size length %d", ErrInvalid, v)
			}
			return err
		case ebmlid.DocTypeReadVersion:
			v, err := readUint(id, d)
			if err == nil && v > 4 {
				err = fmt.Errorf("%w: DocType read version %d", ErrInvalid, v)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if docType != "webm" {
		return fmt.Errorf("%w: EBML DocType %q, want \"webm\"", ErrNotMedia, docType)
	}
	return nil
}

// isTopLevel reports whether id is a child of the Segment (or a new EBML
// stream): such an element ends an unknown-size Cluster.
func isTopLevel(id uint32) bool {
	switch id {
	case ebmlid.Cluster, ebmlid.Cues, ebmlid.Info, ebmlid.Tracks, ebmlid.SeekHead, ebmlid.Tags, ebmlid.Chapters, ebmlid.Attachments, ebmlid.EBML, ebmlid.Segment:
		return true
	}
	return false
}

func (p *parser) segment(seg elem) error {
	for {
		if !seg.unknown && p.s.pos >= seg.end() {
			if p.s.pos > seg.end() {
				return fmt.Errorf("%w: an element overflows the Segment", ErrInvalid)
			}
			return nil
		}
		e, err := p.next()
		if errors.Is(err, errEnd) {
			if seg.unknown {
				return nil
			}
			return fmt.Errorf("%w: the Segment ends early", ErrTruncated)
		}
		if err != nil {
			return err
		}
		if !seg.unknown && !e.unknown && e.end() > seg.end() {
			return fmt.Errorf("%w: %s overflows the Segment", ErrInvalid, elemName(e.id))
		}
		switch e.id {
		case ebmlid.Info:
			err = p.segmentInfo(e)
		case ebmlid.Tracks:
			err = p.trackList(e)
		case ebmlid.Cluster:
			err = p.cluster(e)
			if errors.Is(err, errEnd) {
				if seg.unknown {
					return nil
				}
				return fmt.Errorf("%w: the Segment ends inside a Cluster", ErrTruncated)
			}
		case ebmlid.EBML, ebmlid.Segment:
			if seg.unknown {
				// An unknown-size Segment ends where the next stream begins.
				p.pending = &e
				return nil
			}
			err = fmt.Errorf("%w: %s inside the Segment", ErrInvalid, elemName(e.id))
		default:
			err = p.s.skip(e)
		}
		if err != nil {
			return err
		}
	}
}

func (p *parser) segmentInfo(e elem) error {
	if p.clusters > 0 || p.seenInfo {
		return fmt.Errorf("%w: a second Info, or Info after the first Cluster", ErrInvalid)
	}
	p.seenInfo = true
	b, err := p.s.data(e, maxMasterBytes)
	if err != nil {
		return err
	}
	return children(b, func(id uint32, d []byte) error {
		if id != ebmlid.TimecodeScale {
			return nil
		}
		v, err := readUint(id, d)
		if err != nil {
			return err
		}
		if v == 0 || v > 1e9 {
			return fmt.Errorf("%w: TimecodeScale %d", ErrInvalid, v)
		}
		p.scale = int64(v)
		return nil
	})
}

func (p *parser) trackList(e elem) error {
	if len(p.tracks) > 0 || p.clusters > 0 {
		return fmt.Errorf("%w: a second Tracks, or Tracks after the first Cluster", ErrInvalid)
	}
	b, err := p.s.data(e, maxMasterBytes)
	if err != nil {
		return err
	}
	err = children(b, func(id uint32, d []byte) error {
		if id != ebmlid.TrackEntry {
			return nil
		}
		if len(p.tracks) >= maxTracks {
			return fmt.Errorf("%w: more than %d tracks", ErrInvalid, maxTracks)
		}
		t, err := trackEntry(d)
		if err != nil {
			return err
		}
		if _, dup := p.tracks[t.Number]; dup {
			return fmt.Errorf("%w: two tracks numbered %d", ErrInvalid, t.Number)
		}
		p.tracks[t.Number] = &trackState{Track: t}
		p.info.Tracks = append(p.info.Tracks, t)
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range p.tracks {
		if t.Codec == "opus" {
			return nil
		}
	}
	return fmt.Errorf("%w: no Opus audio track", ErrCodec)
}

func trackEntry(b []byte) (Track, error) {
	var (
		t               Track
		codecID         string
		trackType       uint64
		width, height   uint64
		hasAudio, hasVd bool
	)
	err := children(b, func(id uint32, d []byte) error {
		var err error
		switch id {
		case ebmlid.TrackNumber:
			t.Number, err = readUint(id, d)
		case ebmlid.TrackType:
			trackType, err = readUint(id, d)
		case ebmlid.CodecID:
			codecID, err = readString(id, d)
		case ebmlid.CodecPrivate:
			if len(d) > maxCodecPrivate {
				return fmt.Errorf("%w: CodecPrivate of %d bytes", ErrInvalid, len(d))
			}
			t.CodecPrivate = append([]byte(nil), d...)
		case ebmlid.CodecDelay:
			t.CodecDelay, err = readDuration(id, d)
		case ebmlid.SeekPreRoll:
			t.SeekPreRoll, err = readDuration(id, d)
		case ebmlid.DefaultDuration:
			t.DefaultDuration, err = readDuration(id, d)
		case ebmlid.ContentEncodings:
			return fmt.Errorf("%w: compressed or encrypted tracks", ErrCodec)
		case ebmlid.Audio:
			// Opus is described by its OpusHead; the Audio element only
			// has to be well formed.
			hasAudio = true
			err = children(d, func(id uint32, d []byte) error {
				var err error
				switch id {
				case ebmlid.SamplingFrequency:
					_, err = readFloat(id, d)
				case ebmlid.Channels:
					_, err = readUint(id, d)
				}
				return err
			})
		case ebmlid.Video:
			hasVd = true
			err = children(d, func(id uint32, d []byte) error {
				var err error
				switch id {
				case ebmlid.PixelWidth:
					width, err = readUint(id, d)
				case ebmlid.PixelHeight:
					height, err = readUint(id, d)
				}
				return err
			})
		}
		return err
	})
	if err != nil {
		return t, err
	}
	if t.Number == 0 || t.Number > 1<<20 {
		return t, fmt.Errorf("%w: track number %d", ErrInvalid, t.Number)
	}
	switch codecID {
	case "A_OPUS":
		if trackType != 2 || hasVd {
			return t, fmt.Errorf("%w: track %d: Opus in a track of type %d", ErrInvalid, t.Number, trackType)
		}
		head, err := parseOpusHead(t.CodecPrivate)
		if err != nil {
			return t, fmt.Errorf("track %d: %w", t.Number, err)
		}
		t.Kind, t.Codec, t.SampleRate, t.Channels = "audio", "opus", 48000, head.channels
	case "V_VP8", "V_VP9":
		if trackType != 1 || hasAudio {
			return t, fmt.Errorf("%w: track %d: %s in a track of type %d", ErrInvalid, t.Number, codecID, trackType)
		}
		if width == 0 || height == 0 || width > maxDimension || height > maxDimension {
			return t, fmt.Errorf("%w: track %d: picture size %dx%d", ErrInvalid, t.Number, width, height)
		}
		t.Kind, t.Width, t.Height = "video", int(width), int(height)
		t.Codec = "vp8"
		if codecID == "V_VP9" {
			t.Codec = "vp9"
		}
	default:
		return t, fmt.Errorf("%w: track %d has codec %q; clips hold Opus, VP8 and VP9", ErrCodec, t.Number, codecID)
	}
	return t, nil
}

func readDuration(id uint32, d []byte) (time.Duration, error) {
	v, err := readUint(id, d)
	if err != nil {
		return 0, err
	}
	if v > uint64(maxTime) {
		return 0, fmt.Errorf("%w: duration element 0x%X of %d ns", ErrInvalid, id, v)
	}
	return time.Duration(v), nil
}

// cluster reads a Cluster. An unknown-size Cluster ends at the next
// top-level element, which is left for the Segment; at the end of the
// input it returns errEnd.
func (p *parser) cluster(c elem) error {
	if len(p.tracks) == 0 {
		return fmt.Errorf("%w: Cluster before Tracks", ErrInvalid)
	}
	p.clusters++
	timecode := int64(-1)
	for {
		if !c.unknown && p.s.pos >= c.end() {
			if p.s.pos > c.end() {
				return fmt.Errorf("%w: an element overflows its Cluster", ErrInvalid)
			}
			return nil
		}
		e, err := p.next()
		if errors.Is(err, errEnd) {
			if c.unknown {
				return errEnd
			}
			return fmt.Errorf("%w: inside a Cluster", ErrTruncated)
		}
		if err != nil {
			return err
		}
		if c.unknown && isTopLevel(e.id) {
			p.pending = &e
			return nil
		}
		if !c.unknown && !e.unknown && e.end() > c.end() {
			return fmt.Errorf("%w: %s overflows its Cluster", ErrInvalid, elemName(e.id))
		}
		switch e.id {
		case ebmlid.Timecode:
			b, err := p.s.data(e, 8)
			if err != nil {
				return err
			}
			v, err := readUint(e.id, b)
			if err != nil {
				return err
			}
			if v > uint64(maxTime/p.scale) {
				return fmt.Errorf("%w: cluster timecode %d", ErrInvalid, v)
			}
			timecode = int64(v)
		case ebmlid.SimpleBlock:
			if timecode < 0 {
				return fmt.Errorf("%w: block before the Cluster's timecode", ErrInvalid)
			}
			b, err := p.s.data(e, maxBlockBytes)
			if err != nil {
				return err
			}
			if err := p.block(b, timecode, true, false, -1, 0); err != nil {
				return err
			}
		case ebmlid.BlockGroup:
			if timecode < 0 {
				return fmt.Errorf("%w: block before the Cluster's timecode", ErrInvalid)
			}
			if err := p.blockGroup(e, timecode); err != nil {
				return err
			}
		default:
			if err := p.s.skip(e); err != nil {
				return err
			}
		}
	}
}

func (p *parser) blockGroup(e elem, timecode int64) error {
	b, err := p.s.data(e, maxBlockBytes+1024)
	if err != nil {
		return err
	}
	var (
		block    []byte
		haveDur  bool
		dur      uint64
		ref      bool
		discard  int64
		blockCnt int
	)
	err = children(b, func(id uint32, d []byte) error {
		var err error
		switch id {
		case ebmlid.Block:
			blockCnt++
			block = d
		case ebmlid.BlockDuration:
			haveDur = true
			dur, err = readUint(id, d)
		case ebmlid.ReferenceBlock:
			ref = true
		case ebmlid.DiscardPadding:
			discard, err = readInt(id, d)
		}
		return err
	})
	if err != nil {
		return err
	}
	if blockCnt != 1 {
		return fmt.Errorf("%w: BlockGroup with %d blocks", ErrInvalid, blockCnt)
	}
	d := int64(-1)
	if haveDur {
		if dur > uint64(maxTime/p.scale) {
			return fmt.Errorf("%w: BlockDuration %d", ErrInvalid, dur)
		}
		d = int64(dur) * p.scale
	}
	if discard < 0 || discard > maxTime {
		discard = 0
	}
	return p.block(block, timecode, false, !ref, d, discard)
}

// block handles one SimpleBlock or Block: blockDur is the group's
// BlockDuration in ns (-1: none) and discard its DiscardPadding in ns.
func (p *parser) block(b []byte, clusterTC int64, simple, groupKey bool, blockDur, discard int64) error {
	num, n, err := decodeTrackNumber(b)
	if err != nil {
		return err
	}
	if len(b) < n+3 {
		return fmt.Errorf("%w: block of %d bytes", ErrInvalid, len(b))
	}
	t := p.tracks[num]
	if t == nil {
		return fmt.Errorf("%w: block of unknown track %d", ErrInvalid, num)
	}
	rel := int64(int16(binary.BigEndian.Uint16(b[n:])))
	flags := b[n+2]
	key := groupKey
	if simple {
		key = flags&0x80 != 0
	}
	frames, err := unlace((flags>>1)&3, b[n+3:])
	if err != nil {
		return err
	}
	at := (clusterTC + rel) * p.scale
	for i, f := range frames {
		fd := int64(0)
		switch t.Codec {
		case "opus":
			s := OpusSamples(f)
			if s == 0 {
				return fmt.Errorf("%w: malformed Opus packet at %s", ErrInvalid, time.Duration(at))
			}
			fd = int64(s) * 1e9 / 48000
		default:
			fd = int64(t.DefaultDuration)
		}
		if len(frames) == 1 && blockDur >= 0 {
			fd = blockDur
		}
		if t.started && at < t.last-maxBackstep {
			return fmt.Errorf("%w: track %d goes back in time from %s to %s", ErrInvalid, t.Number, time.Duration(t.last), time.Duration(at))
		}
		if t.started && at > t.last {
			t.typical = at - t.last
		}
		end := at + fd
		if fd == 0 {
			end = at + t.typical
		}
		if i == len(frames)-1 && discard > 0 {
			end = max(at, end-discard)
		}
		if at < p.start {
			p.start = at
		}
		if end > p.end {
			p.end = end
		}
		if !t.started || at > t.last {
			t.last = at
		}
		t.started = true
		t.Blocks++
		p.info.Blocks++
		if t.Codec == "opus" {
			p.opusBlocks++
		}
		if p.fn != nil {
			if err := p.fn(Block{Track: num, Timecode: time.Duration(at), Duration: time.Duration(fd), Keyframe: key, Data: f}); err != nil {
				return err
			}
		}
		if t.Codec == "opus" {
			at += fd
		} else {
			at += int64(t.DefaultDuration)
		}
	}
	return nil
}

// decodeTrackNumber reads a block's track number, a VINT.
func decodeTrackNumber(b []byte) (uint64, int, error) {
	v, unknown, n, err := decodeSize(b)
	if err != nil || n == 0 || unknown {
		return 0, 0, fmt.Errorf("%w: bad block track number", ErrInvalid)
	}
	return v, n, nil
}

// unlace splits a block's payload into its frames (RFC 9559, section
// 10.3: Xiph, fixed-size and EBML lacing).
func unlace(lacing byte, b []byte) ([][]byte, error) {
	if lacing == 0 {
		return [][]byte{b}, nil
	}
	if len(b) < 1 {
		return nil, fmt.Errorf("%w: laced block without a frame count", ErrInvalid)
	}
	count := int(b[0]) + 1
	b = b[1:]
	sizes := make([]int, count)
	switch lacing {
	case 1: // Xiph
		for i := 0; i < count-1; i++ {
			for {
				if len(b) == 0 {
					return nil, fmt.Errorf("%w: Xiph lacing overflows its block", ErrInvalid)
				}
				c := b[0]
				b = b[1:]
				sizes[i] += int(c)
				if c != 255 {
					break
				}
			}
		}
	case 2: // fixed
		if len(b)%count != 0 {
			return nil, fmt.Errorf("%w: fixed lacing of %d bytes in %d frames", ErrInvalid, len(b), count)
		}
		for i := range sizes {
			sizes[i] = len(b) / count
		}
		count = 0 // sizes complete
	case 3: // EBML
		v, _, n, err := decodeSize(b)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%w: bad EBML lacing", ErrInvalid)
		}
		b = b[n:]
		prev := int64(v)
		if prev > int64(len(b)) {
			return nil, fmt.Errorf("%w: EBML lacing overflows its block", ErrInvalid)
		}
		sizes[0] = int(prev)
		for i := 1; i < count-1; i++ {
			u, _, n, err := decodeSize(b)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("%w: bad EBML lacing", ErrInvalid)
			}
			b = b[n:]
			diff := int64(u) - (int64(1)<<(7*n-1) - 1)
			prev += diff
			if prev < 0 || prev > int64(len(b)) {
				return nil, fmt.Errorf("%w: EBML lacing overflows its block", ErrInvalid)
			}
			sizes[i] = int(prev)
		}
	}
	if count > 0 {
		total := 0
		for i := 0; i < count-1; i++ {
			total += sizes[i]
			if total > len(b) {
				return nil, fmt.Errorf("%w: lacing overflows its block", ErrInvalid)
			}
		}
		sizes[count-1] = len(b) - total
	}
	frames := make([][]byte, len(sizes))
	for i, s := range sizes {
		frames[i] = b[:s:s]
		b = b[s:]
	}
	return frames, nil
}
