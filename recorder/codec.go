package recorder

// Keyframe detection and frame sizes for the video codecs we record. The
// WebM track header needs the picture size, which only a keyframe carries.

import "github.com/pion/rtp/codecs"

// vp8Keyframe reports whether a depacketized VP8 frame is a keyframe, and
// its size. A keyframe's 3-byte frame tag has its lowest bit clear and is
// followed by the start code 9d 01 2a and two 14-bit dimensions.
func vp8Keyframe(f []byte) (key bool, width, height int) {
	if len(f) < 10 || f[0]&0x01 != 0 {
		return false, 0, 0
	}
	if f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return false, 0, 0
	}
	width = int(f[6]) | int(f[7]&0x3f)<<8
	height = int(f[8]) | int(f[9]&0x3f)<<8
	return true, width, height
}

// bitReader reads bits most significant first.
type bitReader struct {
	b   []byte
	pos int // in bits
}

func (r *bitReader) read(n int) (uint32, bool) {
	var v uint32
	for i := 0; i < n; i++ {
		if r.pos >= len(r.b)*8 {
			return 0, false
		}
		bit := (r.b[r.pos/8] >> (7 - r.pos%8)) & 1
		v = v<<1 | uint32(bit)
		r.pos++
	}
	return v, true
}

// vp9Keyframe parses enough of a VP9 uncompressed frame header to tell a
// keyframe and its size (VP9 bitstream specification, section 6.2).
func vp9Keyframe(f []byte) (key bool, width, height int) {
	r := bitReader{b: f}
	marker, _ := r.read(2)
	if marker != 2 {
		return false, 0, 0
	}
	lo, _ := r.read(1)
	hi, _ := r.read(1)
	profile := hi<<1 | lo
	if profile == 3 {
		r.read(1) // reserved zero
	}
	if show, _ := r.read(1); show == 1 { // show_existing_frame
		return false, 0, 0
	}
	frameType, ok := r.read(1)
	if !ok || frameType != 0 {
		return false, 0, 0
	}
	r.read(1) // show_frame
	r.read(1) // error_resilient_mode
	if sync, ok := r.read(24); !ok || sync != 0x498342 {
		return false, 0, 0
	}
	// color_config
	if profile >= 2 {
		r.read(1) // ten_or_twelve_bit
	}
	cs, _ := r.read(3)
	if cs != 7 { // not CS_RGB
		r.read(1) // color_range
		if profile == 1 || profile == 3 {
			r.read(3) // subsampling_x, subsampling_y, reserved
		}
	} else if profile == 1 || profile == 3 {
		r.read(1) // reserved
	}
	w, ok1 := r.read(16)
	h, ok2 := r.read(16)
	if !ok1 || !ok2 {
		return true, 0, 0
	}
	return true, int(w) + 1, int(h) + 1
}

// maxPicture bounds the picture size a clip's video track may declare;
// players and clips/probe take no larger.
const maxPicture = 16384

// vp9Depacketizer is Pion's VP9 payload descriptor reader, emptied before
// each packet: codecs.VP9Packet appends each packet's reference
// differences (P_DIFF) and scalability structure to what it holds from
// the packets before, so that one reader kept for a track grows with every
// packet and, three references on, refuses every packet that has two.
type vp9Depacketizer struct {
	codecs.VP9Packet
}

func (d *vp9Depacketizer) Unmarshal(packet []byte) ([]byte, error) {
	d.PDiff = d.PDiff[:0]
	d.PGTID = d.PGTID[:0]
	d.PGU = d.PGU[:0]
	d.PGPDiff = d.PGPDiff[:0]
	return d.VP9Packet.Unmarshal(packet)
}
