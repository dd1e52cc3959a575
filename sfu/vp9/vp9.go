// Package vp9 reads the VP9 RTP payload descriptor (RFC 9628 section
// 4.2): what an SFU needs to forward some of the spatial and temporal
// layers of a scalable VP9 stream (SVC, all layers in one RTP stream)
// and drop the rest: where a picture and each layer frame begin and end,
// which layers a packet belongs to, where a subscriber may switch up,
// and the scalability structure that announces the layers' sizes.
//
// It owns no state. Every function takes a payload from the network and
// treats it as hostile: a descriptor that does not fit its payload is an
// error, never a panic, and nothing is read outside it.
package vp9

import "errors"

// ErrShort is returned for a payload too short for the descriptor it
// announces.
var ErrShort = errors.New("vp9: payload shorter than its descriptor")

// MaxSpatialLayers is the most spatial layers a scalability structure
// can describe (N_S is 3 bits).
const MaxSpatialLayers = 8

// maxPDiffs is the most reference indices one picture carries in
// flexible mode (RFC 9628: up to 3).
const maxPDiffs = 3

// Descriptor is what a VP9 payload descriptor says.
type Descriptor struct {
	// Size is the length of the descriptor: the VP9 frame's bytes begin
	// there.
	Size int

	// The flags of the first byte: P (inter-picture predicted), F
	// (flexible mode), B (first packet of a layer frame), E (last packet
	// of a layer frame), Z (not a reference for the layer frames of
	// higher spatial layers of the same picture).
	InterPicture bool
	Flexible     bool
	Begin, End   bool
	NotInterRef  bool

	// PictureID, when HasPictureID, is 7 bits long, or 15 bits when
	// LongPictureID.
	HasPictureID  bool
	LongPictureID bool
	PictureID     uint16

	// The layer indices, when HasLayers (the L bit); without them the
	// stream has a single layer and TID and SID are 0. SwitchingUp is
	// the U bit: a decoder may switch to a higher temporal layer from
	// here. InterLayer is the D bit: the layer frame depends on the
	// lower spatial layer of the same picture.
	HasLayers   bool
	TID         uint8
	SwitchingUp bool
	SID         uint8
	InterLayer  bool
	// TL0PICIDX, in non-flexible mode with layer indices.
	HasTL0PICIDX bool
	TL0PICIDX    uint8

	// The reference indices (P_DIFF) of a predicted picture in flexible
	// mode: PDiff[:NumPDiffs].
	NumPDiffs int
	PDiff     [maxPDiffs]uint8

	// SS is the scalability structure, when HasSS (the V bit).
	HasSS bool
	SS    Structure
}

// Structure is a scalability structure (RFC 9628 section 4.2.1): how
// many spatial layers the stream has, their sizes when HasSizes, and the
// size of its picture group when HasGroup (read the pictures with
// GroupPicture).
type Structure struct {
	SpatialLayers int // 1 to MaxSpatialLayers
	HasSizes      bool
	Width, Height [MaxSpatialLayers]uint16
	HasGroup      bool
	GroupSize     int // N_G: the pictures of the group
	groupAt       int // offset of the group's first picture in the payload
}

// GroupPicture is one picture of a scalability structure's picture
// group: its temporal layer, whether it is a switching up point, and
// its references (PDiff[:NumPDiffs], each a picture ID difference).
type GroupPicture struct {
	TID         uint8
	SwitchingUp bool
	NumPDiffs   int
	PDiff       [maxPDiffs]uint8
}

// Keyframe tells the first packet of a key picture: the beginning of
// the layer frame of the lowest spatial layer, not predicted from an
// earlier picture. A subscriber may start at it, or switch to a higher
// spatial layer.
func (d *Descriptor) Keyframe() bool {
	return d.Begin && !d.InterPicture && d.SID == 0
}

// PictureStart tells the first packet of a picture: the beginning of
// the layer frame of spatial layer 0.
func (d *Descriptor) PictureStart() bool { return d.Begin && d.SID == 0 }

// Parse reads the descriptor at the start of payload.
func Parse(payload []byte) (Descriptor, error) {
	var d Descriptor
	if len(payload) < 1 {
		return d, ErrShort
	}
	b0 := payload[0]
	d.InterPicture = b0&0x40 != 0
	d.Flexible = b0&0x10 != 0
	d.Begin = b0&0x08 != 0
	d.End = b0&0x04 != 0
	d.NotInterRef = b0&0x01 != 0
	i := 1
	if b0&0x80 != 0 { // I: picture ID
		if len(payload) <= i {
			return d, ErrShort
		}
		d.HasPictureID = true
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
	if b0&0x20 != 0 { // L: layer indices
		if len(payload) <= i {
			return d, ErrShort
		}
		x := payload[i]
		d.HasLayers = true
		d.TID = x >> 5
		d.SwitchingUp = x&0x10 != 0
		d.SID = x >> 1 & 0x07
		d.InterLayer = x&0x01 != 0
		i++
		if !d.Flexible {
			if len(payload) <= i {
				return d, ErrShort
			}
			d.HasTL0PICIDX = true
			d.TL0PICIDX = payload[i]
			i++
		}
	}
	if d.Flexible && d.InterPicture { // P_DIFF|N, up to maxPDiffs
		for {
			if len(payload) <= i {
				return d, ErrShort
			}
			if d.NumPDiffs == maxPDiffs {
				return d, errTooManyRefs
			}
			x := payload[i]
			d.PDiff[d.NumPDiffs] = x >> 1
			d.NumPDiffs++
			i++
			if x&0x01 == 0 {
				break
			}
		}
	}
	if b0&0x02 != 0 { // V: scalability structure
		d.HasSS = true
		n, err := parseSS(payload, i, &d.SS)
		if err != nil {
			return d, err
		}
		i = n
	}
	d.Size = i
	return d, nil
}

var errTooManyRefs = errors.New("vp9: more than 3 reference indices")

// parseSS reads the scalability structure at payload[i:] into s and
// returns the offset after it.
func parseSS(payload []byte, i int, s *Structure) (int, error) {
	if len(payload) <= i {
		return 0, ErrShort
	}
	x := payload[i]
	i++
	s.SpatialLayers = int(x>>5) + 1
	s.HasSizes = x&0x10 != 0
	s.HasGroup = x&0x08 != 0
	if s.HasSizes {
		if len(payload) < i+4*s.SpatialLayers {
			return 0, ErrShort
		}
		for l := 0; l < s.SpatialLayers; l++ {
			s.Width[l] = uint16(payload[i])<<8 | uint16(payload[i+1])
			s.Height[l] = uint16(payload[i+2])<<8 | uint16(payload[i+3])
			i += 4
		}
	}
	if s.HasGroup {
		if len(payload) <= i {
			return 0, ErrShort
		}
		s.GroupSize = int(payload[i])
		i++
		s.groupAt = i
		for g := 0; g < s.GroupSize; g++ {
			if len(payload) <= i {
				return 0, ErrShort
			}
			r := int(payload[i] >> 2 & 0x03)
			if len(payload) < i+1+r {
				return 0, ErrShort
			}
			i += 1 + r
		}
	}
	return i, nil
}

// GroupPicture reads picture g of the picture group of the scalability
// structure that d was parsed with from payload: the same payload, or a
// copy of it. ok is false if there is no such picture or payload is not
// that payload.
func (d *Descriptor) GroupPicture(payload []byte, g int) (p GroupPicture, ok bool) {
	s := &d.SS
	if !d.HasSS || !s.HasGroup || g < 0 || g >= s.GroupSize || len(payload) < d.Size {
		return p, false
	}
	i := s.groupAt
	for {
		if i <= 0 || i >= d.Size {
			return GroupPicture{}, false
		}
		x := payload[i]
		r := int(x >> 2 & 0x03)
		if i+1+r > d.Size {
			return GroupPicture{}, false
		}
		if g == 0 {
			p.TID, p.SwitchingUp, p.NumPDiffs = x>>5, x&0x10 != 0, r
			copy(p.PDiff[:], payload[i+1:i+1+r])
			return p, true
		}
		i += 1 + r
		g--
	}
}

// PictureIDMask is the range of d's picture ID: 0x7f or 0x7fff.
func (d *Descriptor) PictureIDMask() uint16 {
	if d.LongPictureID {
		return 0x7fff
	}
	return 0x7f
}
