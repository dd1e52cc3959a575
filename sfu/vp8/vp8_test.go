package vp8

import (
	"bytes"
	"errors"
	"testing"
)

// TestParse: each combination of optional fields is read from where RFC
// 7741 puts it, a keyframe is told by S, partition 0 and the payload
// header's P bit, and a descriptor cut short is an error.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
		want    Descriptor
		err     error
	}{
		{"empty", nil, Descriptor{}, ErrShort},
		{"no extension, keyframe", []byte{0x10, 0x00}, Descriptor{Size: 1, Start: true, Keyframe: true}, nil},
		{"no extension, delta frame", []byte{0x10, 0x01}, Descriptor{Size: 1, Start: true}, nil},
		{"not the first partition", []byte{0x11, 0x00}, Descriptor{Size: 1}, nil},
		{"continuation", []byte{0x00, 0x00}, Descriptor{Size: 1}, nil},
		{"start without payload", []byte{0x10}, Descriptor{Size: 1, Start: true}, nil},
		{"7-bit picture ID", []byte{0x90, 0x80, 0x25, 0x00},
			Descriptor{Size: 3, Start: true, Keyframe: true, HasPictureID: true, PictureID: 0x25, picAt: 2}, nil},
		{"15-bit picture ID", []byte{0x90, 0x80, 0x81, 0x02, 0x01},
			Descriptor{Size: 4, Start: true, HasPictureID: true, LongPictureID: true, PictureID: 0x102, picAt: 2}, nil},
		{"all fields", []byte{0x90, 0xf0, 0xff, 0xfe, 0x07, 0x9f, 0x00},
			Descriptor{Size: 6, Start: true, Keyframe: true, HasPictureID: true, LongPictureID: true, PictureID: 0x7ffe,
				HasTL0PICIDX: true, TL0PICIDX: 7, HasTID: true, TID: 2, HasKeyIdx: true, KeyIdx: 0x1f, picAt: 2, tl0At: 4, tkAt: 5}, nil},
		{"TL0PICIDX only", []byte{0x80, 0x40, 0x09}, Descriptor{Size: 3, HasTL0PICIDX: true, TL0PICIDX: 9, tl0At: 2}, nil},
		{"extension cut", []byte{0x80}, Descriptor{}, ErrShort},
		{"picture ID cut", []byte{0x80, 0x80}, Descriptor{}, ErrShort},
		{"long picture ID cut", []byte{0x80, 0x80, 0x80}, Descriptor{}, ErrShort},
		{"TL0PICIDX cut", []byte{0x80, 0xc0, 0x01}, Descriptor{}, ErrShort},
		{"TID cut", []byte{0x80, 0x20}, Descriptor{}, ErrShort},
	} {
		got, err := Parse(tc.payload)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestRewrite: the fields present are rewritten to the values given, in
// their own width, and nothing else of the payload changes.
func TestRewrite(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in, want  []byte
		pic       uint16
		tl0, kidx uint8
	}{
		{"all fields", []byte{0x90, 0xf0, 0x81, 0x02, 0x07, 0x9f, 0x55}, []byte{0x90, 0xf0, 0xab, 0xcd, 0x42, 0x83, 0x55}, 0x2bcd, 0x42, 0x03},
		{"15-bit picture ID wraps at 15 bits", []byte{0x90, 0x80, 0x81, 0x02, 0x55}, []byte{0x90, 0x80, 0xff, 0xff, 0x55}, 0xffff, 0, 0},
		{"7-bit picture ID keeps 7 bits", []byte{0x90, 0x80, 0x05, 0x55}, []byte{0x90, 0x80, 0x7f, 0x55}, 0x12ff, 0, 0},
		{"TID kept when the key index changes", []byte{0x80, 0x30, 0xe1, 0x55}, []byte{0x80, 0x30, 0xfe, 0x55}, 0, 0, 0x1e},
		{"no fields", []byte{0x10, 0x55}, []byte{0x10, 0x55}, 9, 9, 9},
	} {
		d, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := bytes.Clone(tc.in)
		d.Rewrite(got, tc.pic, tc.tl0, tc.kidx)
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: % x, want % x", tc.name, got, tc.want)
		}
		back, err := Parse(got)
		if err != nil || back.Size != d.Size || back.Keyframe != d.Keyframe {
			t.Errorf("%s: the rewritten descriptor reads %+v, %v", tc.name, back, err)
		}
	}
	// A payload shorter than the descriptor is left alone.
	d, _ := Parse([]byte{0x90, 0xf0, 0x81, 0x02, 0x07, 0x9f})
	short := []byte{0x90, 0xf0}
	d.Rewrite(short, 1, 2, 3)
	if !bytes.Equal(short, []byte{0x90, 0xf0}) {
		t.Errorf("a short payload was written: % x", short)
	}
}

// FuzzDescriptor: any payload parses or is refused without a panic; what
// parses fits its payload, rewrites only bytes inside the descriptor, and
// reads back with the values written.
func FuzzDescriptor(f *testing.F) {
	for _, seed := range [][]byte{{0x90, 0xf0, 0x81, 0x02, 0x07, 0x9f, 0x00}, {0x10, 0x00}, {0x80}, {}, {0xff, 0xff, 0xff}} {
		f.Add(seed, uint16(0x1234), uint8(7), uint8(3))
	}
	f.Fuzz(func(t *testing.T, payload []byte, pic uint16, tl0, kidx uint8) {
		d, err := Parse(payload)
		if err != nil {
			return
		}
		if d.Size < 1 || d.Size > len(payload) {
			t.Fatalf("descriptor of %d bytes in a payload of %d", d.Size, len(payload))
		}
		out := bytes.Clone(payload)
		d.Rewrite(out, pic, tl0, kidx)
		if !bytes.Equal(out[d.Size:], payload[d.Size:]) {
			t.Fatal("Rewrite wrote past the descriptor")
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("the rewritten descriptor does not parse: %v", err)
		}
		if back.Size != d.Size || back.HasPictureID != d.HasPictureID || back.LongPictureID != d.LongPictureID ||
			back.HasTL0PICIDX != d.HasTL0PICIDX || back.HasKeyIdx != d.HasKeyIdx || back.Keyframe != d.Keyframe {
			t.Fatalf("rewriting changed the descriptor's shape: %+v, then %+v", d, back)
		}
		if d.HasPictureID && back.PictureID != pic&d.PictureIDMask() {
			t.Fatalf("picture ID %d, want %d", back.PictureID, pic&d.PictureIDMask())
		}
		if d.HasTL0PICIDX && back.TL0PICIDX != tl0 {
			t.Fatalf("TL0PICIDX %d, want %d", back.TL0PICIDX, tl0)
		}
		if d.HasKeyIdx && back.KeyIdx != kidx&0x1f {
			t.Fatalf("key index %d, want %d", back.KeyIdx, kidx&0x1f)
		}
		if d.HasTID && back.TID != d.TID {
			t.Fatalf("TID changed: %d, then %d", d.TID, back.TID)
		}
	})
}

// TestKeyframeSize: a keyframe's first packet gives its picture's size,
// the scaling bits aside; any other packet, or a header cut short or
// without the start code, gives none.
func TestKeyframeSize(t *testing.T) {
	key := []byte{0x90, 0x80, 0x05, 0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x42, 0x68, 0xc1}
	for _, tc := range []struct {
		name    string
		payload []byte
		w, h    int
		ok      bool
	}{
		{"keyframe", key, 640, 360, true},
		{"delta frame", append([]byte{0x90, 0x80, 0x05, 0x51}, key[4:]...), 0, 0, false},
		{"cut short", key[:12], 0, 0, false},
		{"no start code", append(append([]byte{}, key[:6]...), append([]byte{0x9d, 0x01, 0x2b}, key[9:]...)...), 0, 0, false},
	} {
		d, err := Parse(tc.payload)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		w, h, ok := d.KeyframeSize(tc.payload)
		if w != tc.w || h != tc.h || ok != tc.ok {
			t.Errorf("%s: %dx%d %v, want %dx%d %v", tc.name, w, h, ok, tc.w, tc.h, tc.ok)
		}
	}
}
