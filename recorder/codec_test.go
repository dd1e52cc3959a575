package recorder

import (
	"testing"

	"github.com/pion/rtp"
)

func TestVP8Keyframe(t *testing.T) {
	key := []byte{0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0x00}
	if k, w, h := vp8Keyframe(key); !k || w != 320 || h != 240 {
		t.Errorf("keyframe: %v %dx%d", k, w, h)
	}
	if k, _, _ := vp8Keyframe([]byte{0x51, 0, 0, 0, 0, 0, 0, 0, 0, 0}); k {
		t.Error("an interframe taken for a keyframe")
	}
	if k, _, _ := vp8Keyframe([]byte{0x50}); k {
		t.Error("a short frame taken for a keyframe")
	}
}

func TestVP9Keyframe(t *testing.T) {
	// profile 0 keyframe, 640x480: frame_marker 10, profile 00,
	// show_existing 0, frame_type 0, show 1, error_res 0, sync code,
	// color_space 000 (BT.601), color_range 0, then width-1, height-1.
	bits := "10" + "0" + "0" + "0" + "0" + "1" + "0" +
		"010010011000001101000010" + "000" + "0" +
		"0000001001111111" + "0000000111011111"
	f := make([]byte, (len(bits)+7)/8+1)
	for i, c := range bits {
		if c == '1' {
			f[i/8] |= 0x80 >> (i % 8)
		}
	}
	if k, w, h := vp9Keyframe(f); !k || w != 640 || h != 480 {
		t.Errorf("keyframe: %v %dx%d", k, w, h)
	}
	f[0] |= 0x04 // frame_type 1: an interframe
	if k, _, _ := vp9Keyframe(f); k {
		t.Error("an interframe taken for a keyframe")
	}
	if k, _, _ := vp9Keyframe(nil); k {
		t.Error("nothing taken for a keyframe")
	}
}

// TestVP9TwoReferences: frames that refer to two earlier ones (flexible
// mode, two P_DIFFs, as with temporal layers) keep coming out of a
// track's assembler, however many come.
func TestVP9TwoReferences(t *testing.T) {
	a := newAssembler(&vp9Depacketizer{}, 1024, 512, 27000)
	const frames = 20
	got := 0
	for i := 0; i < frames; i++ {
		a.push(&rtp.Packet{
			Header: rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000, Marker: true},
			// P, F, B, E; P_DIFF 1 with N (another follows), P_DIFF 2.
			Payload: []byte{0x5c, 0x03, 0x04, 0xaa, byte(i)},
		})
		for f, ok := a.pop(); ok; f, ok = a.pop() {
			if len(f.data) != 2 || f.data[1] != byte(got) {
				t.Fatalf("frame %d: % x", got, f.data)
			}
			got++
		}
	}
	a.flush()
	for _, ok := a.pop(); ok; _, ok = a.pop() {
		got++
	}
	if got != frames {
		t.Errorf("%d of %d frames came out", got, frames)
	}
}
