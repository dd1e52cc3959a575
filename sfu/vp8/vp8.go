// Package vp8 reads and rewrites the VP8 RTP payload descriptor (RFC 7741
// section 4.2): what an SFU needs to splice several VP8 streams into one
// (a subscriber switched between simulcast layers) without the decoder
// seeing a gap in picture IDs that it would wait on.
//
// It owns no state: the offsets that make one stream continue another are
// the caller's. Every function takes a payload from the network and treats
// it as hostile: a descriptor that does not fit its payload is an error,
// never a panic, and nothing is written outside the descriptor.
package vp8

import "errors"

// ErrShort is returned for a payload too short for the descriptor it
// announces.
var ErrShort = errors.New("vp8: payload shorter than its descriptor")

// Descriptor is what a VP8 payload descriptor says, and where its fields
// are, so that they can be rewritten in place.
type Descriptor struct {
	// Size is the length of the descriptor: the VP8 payload begins there.
	Size int
	// Start is the first packet of a frame (S set, partition index 0).
	Start bool
	// Keyframe is the first packet of a keyframe: Start, and the VP8
	// payload header's inverse key frame bit clear.
	Keyframe bool

	// PictureID, when HasPictureID, is 7 bits long, or 15 bits when
	// LongPictureID.
	HasPictureID  bool
	LongPictureID bool
	PictureID     uint16
	// TL0PICIDX, when HasTL0PICIDX: the index of the last base temporal
	// layer frame.
	HasTL0PICIDX bool
	TL0PICIDX    uint8
	// TID (temporal layer index) when HasTID; KeyIdx (5 bits) when
	// HasKeyIdx.
	HasTID    bool
	TID       uint8
	HasKeyIdx bool
	KeyIdx    uint8

	picAt, tl0At, tkAt int // byte offsets of the fields
}

// Parse reads the descriptor at the start of payload.
func Parse(payload []byte) (Descriptor, error) {
	var d Descriptor
	if len(payload) < 1 {
		return d, ErrShort
	}
	b0 := payload[0]
	d.Start = b0&0x10 != 0 && b0&0x07 == 0
	i := 1
	if b0&0x80 != 0 { // X: the extension byte follows
		if len(payload) < 2 {
			return d, ErrShort
		}
		x := payload[1]
		i = 2
		if x&0x80 != 0 { // I: picture ID
			if len(payload) <= i {
				return d, ErrShort
			}
			d.HasPictureID = true
			d.picAt = i
			if payload[i]&0x80 != 0 { // M: 15 bits
				if len(payload) <= i+1 {
					return d, ErrShort
				}
				d.LongPictureID = true
				d.PictureID = uint16(payload[i]&0x7f)<<8 | uint16(payload[i+1])
				i += 2
			} else {
				d.PictureID = uint16(payload[i])
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			if len(payload) <= i {
				return d, ErrShort
			}
			d.HasTL0PICIDX = true
			d.tl0At = i
			d.TL0PICIDX = payload[i]
			i++
		}
		if x&0x30 != 0 { // T or K: TID|Y|KEYIDX
			if len(payload) <= i {
				return d, ErrShort
			}
			d.tkAt = i
			if x&0x20 != 0 {
				d.HasTID = true
				d.TID = payload[i] >> 6
			}
			if x&0x10 != 0 {
				d.HasKeyIdx = true
				d.KeyIdx = payload[i] & 0x1f
			}
			i++
		}
	}
	d.Size = i
	// The VP8 payload header's first byte: P (bit 0) clear on a keyframe.
	d.Keyframe = d.Start && len(payload) > i && payload[i]&0x01 == 0
	return d, nil
}

// Rewrite writes pictureID, tl0picidx and keyIdx into the fields of d
// that payload has (those absent stay absent), in place: payload must be
// the packet d was parsed from, or a copy of it. A 7-bit picture ID keeps
// its 7 low bits, a 15-bit one its 15; a key index its 5. It writes only
// inside d.Size and does nothing if payload is shorter than that.
func (d *Descriptor) Rewrite(payload []byte, pictureID uint16, tl0picidx uint8, keyIdx uint8) {
	if len(payload) < d.Size {
		return
	}
	if d.HasPictureID && d.picAt > 0 {
		if d.LongPictureID {
			if d.picAt+1 < d.Size {
				payload[d.picAt] = 0x80 | byte(pictureID>>8)&0x7f
				payload[d.picAt+1] = byte(pictureID)
			}
		} else if d.picAt < d.Size {
			payload[d.picAt] = byte(pictureID) & 0x7f
		}
	}
	if d.HasTL0PICIDX && d.tl0At > 0 && d.tl0At < d.Size {
		payload[d.tl0At] = tl0picidx
	}
	if d.HasKeyIdx && d.tkAt > 0 && d.tkAt < d.Size {
		payload[d.tkAt] = payload[d.tkAt]&0xe0 | keyIdx&0x1f
	}
}

// PictureIDMask is the range of d's picture ID: 0x7f or 0x7fff.
func (d *Descriptor) PictureIDMask() uint16 {
	if d.LongPictureID {
		return 0x7fff
	}
	return 0x7f
}

// KeyframeSize is the picture size that a keyframe's first packet,
// payload, whose descriptor is d, announces (the VP8 key frame header of
// RFC 6386 section 9.1: a start code, then 14 bits of width and 14 of
// height, each with 2 bits of scaling). ok is false for another packet
// or a header that does not fit or lacks the start code.
func (d *Descriptor) KeyframeSize(payload []byte) (width, height int, ok bool) {
	if !d.Keyframe || len(payload) < d.Size+10 {
		return 0, 0, false
	}
	f := payload[d.Size:]
	if f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, false
	}
	return int(f[6]) | int(f[7]&0x3f)<<8, int(f[8]) | int(f[9]&0x3f)<<8, true
}
