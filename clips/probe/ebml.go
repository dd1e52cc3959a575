package probe

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"

	"parley/internal/ebmlid"
)

// Caps on what is held in memory or counted.
const (
	maxHeaderBytes  = 4 << 10  // the EBML header
	maxMasterBytes  = 1 << 20  // Info, Tracks
	maxBlockBytes   = 16 << 20 // one SimpleBlock or BlockGroup
	maxTracks       = 8
	maxCodecPrivate = 64 << 10
	maxStringBytes  = 256
	maxDimension    = 16384
	// maxBackstep is how far a track's timecodes may go back.
	maxBackstep = int64(1e9) // ns
	// maxTime bounds absolute timestamps (ns): about 11.5 days, far beyond
	// any clip, and far from overflowing int64.
	maxTime = int64(1) << 50
)

// elemNames names the elements that errors mention most.
var elemNames = map[uint32]string{
	ebmlid.EBML: "EBML header", ebmlid.Segment: "Segment", ebmlid.SeekHead: "SeekHead", ebmlid.Info: "Info",
	ebmlid.Tracks: "Tracks", ebmlid.Cluster: "Cluster", ebmlid.Cues: "Cues", ebmlid.Tags: "Tags", ebmlid.Timecode: "Timecode",
	ebmlid.SimpleBlock: "SimpleBlock", ebmlid.BlockGroup: "BlockGroup", ebmlid.Block: "Block", ebmlid.Void: "Void",
	ebmlid.TrackEntry: "TrackEntry", ebmlid.CodecPrivate: "CodecPrivate",
}

// elemName names an element for errors.
func elemName(id uint32) string {
	if n, ok := elemNames[id]; ok {
		return n
	}
	return fmt.Sprintf("element 0x%X", id)
}

// errEnd is the clean end of the input between two elements.
var errEnd = errors.New("end of input")

// elem is an element header read from the stream.
type elem struct {
	id      uint32
	size    int64
	unknown bool  // size is "unknown" (all ones): the element ends where its parent's next child begins
	data    int64 // stream offset of the data
}

func (e elem) end() int64 { return e.data + e.size }

// decodeID decodes an element ID at the start of b: 1 to 4 bytes, the
// marker bits kept. n == 0 means b is too short.
func decodeID(b []byte) (id uint32, n int, err error) {
	if len(b) == 0 {
		return 0, 0, nil
	}
	l := bits.LeadingZeros8(b[0]) + 1
	if b[0] == 0 || l > 4 {
		return 0, 0, fmt.Errorf("%w: bad element ID byte 0x%02x", ErrInvalid, b[0])
	}
	if len(b) < l {
		return 0, 0, nil
	}
	for i := range l {
		id = id<<8 | uint32(b[i])
	}
	return id, l, nil
}

// decodeSize decodes an element data size (a VINT of 1 to 8 bytes). n == 0
// means b is too short.
func decodeSize(b []byte) (size uint64, unknown bool, n int, err error) {
	if len(b) == 0 {
		return 0, false, 0, nil
	}
	l := bits.LeadingZeros8(b[0]) + 1
	if b[0] == 0 {
		return 0, false, 0, fmt.Errorf("%w: element size longer than 8 bytes", ErrInvalid)
	}
	if len(b) < l {
		return 0, false, 0, nil
	}
	size = uint64(b[0]) & (0xFF >> l)
	for i := 1; i < l; i++ {
		size = size<<8 | uint64(b[i])
	}
	return size, size == 1<<(7*l)-1, l, nil
}

// streamReader reads element headers and data from the input and keeps
// the offset.
type streamReader struct {
	r   *bufio.Reader
	pos int64
}

// header reads an element header. At the very end of the input it returns
// errEnd; inside a header, ErrTruncated.
func (s *streamReader) header() (elem, error) {
	var buf [12]byte
	n := 0
	read := func() error {
		c, err := s.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if n == 0 {
					return errEnd
				}
				return fmt.Errorf("%w: inside an element header", ErrTruncated)
			}
			return err
		}
		buf[n] = c
		n++
		s.pos++
		return nil
	}
	start := s.pos
	var (
		id uint32
		k  int
		e  error
	)
	for k == 0 {
		if err := read(); err != nil {
			return elem{}, err
		}
		if id, k, e = decodeID(buf[:n]); e != nil {
			return elem{}, fmt.Errorf("at offset %d: %w", start, e)
		}
	}
	idLen := n
	var (
		size    uint64
		unknown bool
		l       int
	)
	for l == 0 {
		if err := read(); err != nil {
			return elem{}, err
		}
		if size, unknown, l, e = decodeSize(buf[idLen:n]); e != nil {
			return elem{}, fmt.Errorf("at offset %d: %w", start, e)
		}
	}
	if !unknown && size > math.MaxInt64/2 {
		return elem{}, fmt.Errorf("%w: %s at offset %d is too large", ErrInvalid, elemName(id), start)
	}
	return elem{id: id, size: int64(size), unknown: unknown, data: s.pos}, nil
}

// skip discards an element's data.
func (s *streamReader) skip(e elem) error {
	if e.unknown {
		return fmt.Errorf("%w: %s of unknown size cannot be skipped", ErrInvalid, elemName(e.id))
	}
	left := e.size
	for left > 0 {
		step := min(left, 1<<30)
		n, err := s.r.Discard(int(step))
		s.pos += int64(n)
		left -= int64(n)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: inside %s", ErrTruncated, elemName(e.id))
			}
			return err
		}
	}
	return nil
}

// data reads an element's data, refusing more than limit bytes. Memory
// grows with the bytes that arrive, not with the size the header claims.
func (s *streamReader) data(e elem, limit int64) ([]byte, error) {
	if e.unknown {
		return nil, fmt.Errorf("%w: %s has unknown size", ErrInvalid, elemName(e.id))
	}
	if e.size > limit {
		return nil, fmt.Errorf("%w: %s of %d bytes exceeds %d", ErrInvalid, elemName(e.id), e.size, limit)
	}
	var b []byte
	if e.size <= 64<<10 {
		b = make([]byte, e.size)
		n, err := io.ReadFull(s.r, b)
		s.pos += int64(n)
		if err != nil {
			return nil, s.dataErr(e, err)
		}
		return b, nil
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(s.r, e.size))
	s.pos += n
	if err != nil {
		return nil, s.dataErr(e, err)
	}
	if n < e.size {
		return nil, fmt.Errorf("%w: inside %s", ErrTruncated, elemName(e.id))
	}
	return buf.Bytes(), nil
}

func (s *streamReader) dataErr(e elem, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: inside %s", ErrTruncated, elemName(e.id))
	}
	return err
}

// children calls fn for each child element of a master element's data,
// which is complete in memory: a child that overflows it is invalid.
func children(b []byte, fn func(id uint32, data []byte) error) error {
	for len(b) > 0 {
		id, n, err := decodeID(b)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: element header overflows its parent", ErrInvalid)
		}
		b = b[n:]
		size, unknown, n, err := decodeSize(b)
		if err != nil {
			return err
		}
		if n == 0 || unknown {
			return fmt.Errorf("%w: %s has a bad size", ErrInvalid, elemName(id))
		}
		b = b[n:]
		if size > uint64(len(b)) {
			return fmt.Errorf("%w: %s overflows its parent", ErrInvalid, elemName(id))
		}
		if err := fn(id, b[:size]); err != nil {
			return err
		}
		b = b[size:]
	}
	return nil
}

func readUint(id uint32, b []byte) (uint64, error) {
	if len(b) > 8 {
		return 0, fmt.Errorf("%w: integer element 0x%X of %d bytes", ErrInvalid, id, len(b))
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

func readInt(id uint32, b []byte) (int64, error) {
	if len(b) > 8 {
		return 0, fmt.Errorf("%w: integer element 0x%X of %d bytes", ErrInvalid, id, len(b))
	}
	if len(b) == 0 {
		return 0, nil
	}
	v := int64(int8(b[0]))
	for _, c := range b[1:] {
		v = v<<8 | int64(c)
	}
	return v, nil
}

func readFloat(id uint32, b []byte) (float64, error) {
	switch len(b) {
	case 0:
		return 0, nil
	case 4:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	case 8:
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	}
	return 0, fmt.Errorf("%w: float element 0x%X of %d bytes", ErrInvalid, id, len(b))
}

func readString(id uint32, b []byte) (string, error) {
	if len(b) > maxStringBytes {
		return "", fmt.Errorf("%w: string element 0x%X of %d bytes", ErrInvalid, id, len(b))
	}
	return string(bytes.TrimRight(b, "\x00")), nil
}
