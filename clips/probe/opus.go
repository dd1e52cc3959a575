package probe

import (
	"encoding/binary"
	"fmt"
)

// opusHead is the part of the Opus identification header we use.
type opusHead struct {
	channels int
	preSkip  int // samples at 48 kHz
}

// parseOpusHead checks an OpusHead (RFC 7845, section 5.1).
func parseOpusHead(b []byte) (opusHead, error) {
	if len(b) < 19 || string(b[:8]) != "OpusHead" {
		return opusHead{}, fmt.Errorf("%w: missing or short OpusHead", ErrInvalid)
	}
	if b[8]>>4 != 0 {
		return opusHead{}, fmt.Errorf("%w: OpusHead version %d", ErrCodec, b[8])
	}
	h := opusHead{channels: int(b[9]), preSkip: int(binary.LittleEndian.Uint16(b[10:]))}
	if h.channels == 0 {
		return opusHead{}, fmt.Errorf("%w: OpusHead with 0 channels", ErrInvalid)
	}
	switch family := b[18]; family {
	case 0:
		if h.channels > 2 {
			return opusHead{}, fmt.Errorf("%w: OpusHead mapping family 0 with %d channels", ErrInvalid, h.channels)
		}
	case 1, 255:
		if family == 1 && h.channels > 8 {
			return opusHead{}, fmt.Errorf("%w: OpusHead mapping family 1 with %d channels", ErrInvalid, h.channels)
		}
		if len(b) < 21+h.channels {
			return opusHead{}, fmt.Errorf("%w: OpusHead channel mapping table is short", ErrInvalid)
		}
	default:
		return opusHead{}, fmt.Errorf("%w: Opus channel mapping family %d", ErrCodec, family)
	}
	return h, nil
}

// OpusSamples returns the duration of an Opus packet in samples at 48 kHz,
// from its TOC byte (RFC 6716, section 3.1), or 0 if the packet is
// malformed.
func OpusSamples(p []byte) int {
	if len(p) < 1 {
		return 0
	}
	toc := p[0]
	cfg := toc >> 3
	var frame int
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]int{480, 960, 1920, 2880}[cfg&3]
	case cfg < 16: // hybrid: 10, 20 ms
		frame = [2]int{480, 960}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]int{120, 240, 480, 960}[cfg&3]
	}
	var n int
	switch toc & 3 {
	case 0:
		n = 1
	case 1:
		if (len(p)-1)%2 != 0 {
			return 0
		}
		n = 2
	case 2:
		if len(p) < 2 {
			return 0
		}
		n = 2
	case 3:
		if len(p) < 2 {
			return 0
		}
		n = int(p[1] & 0x3f)
	}
	total := n * frame
	if total == 0 || total > 5760 { // at most 120 ms
		return 0
	}
	return total
}
