package vp9

import (
	"errors"
	"testing"
)

// The first packet of a key picture of an L3T3_KEY stream as a browser
// sends it in flexible mode: I, L, F, B and V set; a 15-bit picture ID;
// layer indices TID 0, SID 0; the scalability structure with three
// spatial layers and their sizes (320x180, 640x360, 1280x720), no group.
var chromeKey = []byte{0xba, 0x81, 0x23, 0x00,
	0x50, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68, 0x05, 0x00, 0x02, 0xd0,
	0x82, 0x49, 0x83} // the VP9 frame's first bytes

// TestParse: each field is read from where RFC 9628 puts it, in the
// descriptors a browser sends for L3T3_KEY in flexible mode and for a
// non-flexible stream with a picture group; a descriptor cut short
// anywhere is an error.
func TestParse(t *testing.T) {
	keySS := Structure{SpatialLayers: 3, HasSizes: true,
		Width: [8]uint16{320, 640, 1280}, Height: [8]uint16{180, 360, 720}}
	for _, tc := range []struct {
		name    string
		payload []byte
		want    Descriptor
		err     error
	}{
		{"empty", nil, Descriptor{}, ErrShort},
		{"key picture, spatial layer 0, with the structure", chromeKey,
			Descriptor{Size: 17, Flexible: true, Begin: true, HasPictureID: true, LongPictureID: true, PictureID: 0x123,
				HasLayers: true, HasSS: true, SS: keySS}, nil},
		// The key picture's spatial layer 1: one packet (B and E), D set
		// (predicted from layer 0 of the same picture).
		{"key picture, spatial layer 1", []byte{0xbc, 0x81, 0x23, 0x03, 0x00},
			Descriptor{Size: 4, Flexible: true, Begin: true, End: true, HasPictureID: true, LongPictureID: true, PictureID: 0x123,
				HasLayers: true, SID: 1, InterLayer: true}, nil},
		// A delta picture of temporal layer 2, a switching up point, one
		// reference one picture back.
		{"delta, TID 2, U, one reference", []byte{0xfc, 0x81, 0x24, 0x50, 0x02, 0x00},
			Descriptor{Size: 5, InterPicture: true, Flexible: true, Begin: true, End: true, HasPictureID: true, LongPictureID: true,
				PictureID: 0x124, HasLayers: true, TID: 2, SwitchingUp: true, NumPDiffs: 1, PDiff: [3]uint8{1}}, nil},
		// Spatial layer 2, temporal 1, middle packet of its frame, two
		// references (N set on the first), Z set.
		{"delta, SID 2, two references", []byte{0xf1, 0x81, 0x25, 0x24, 0x05, 0x08, 0x00},
			Descriptor{Size: 6, InterPicture: true, Flexible: true, NotInterRef: true, HasPictureID: true, LongPictureID: true,
				PictureID: 0x125, HasLayers: true, TID: 1, SID: 2, NumPDiffs: 2, PDiff: [3]uint8{2, 4}}, nil},
		{"three references", []byte{0x50, 0x03, 0x05, 0x06, 0x00},
			Descriptor{Size: 4, InterPicture: true, Flexible: true, NumPDiffs: 3, PDiff: [3]uint8{1, 2, 3}}, nil},
		{"four references", []byte{0x50, 0x03, 0x05, 0x07, 0x09}, Descriptor{}, errTooManyRefs},
		// Non-flexible: a 7-bit picture ID, TL0PICIDX after the layer
		// indices, a structure of one layer with a group of two pictures.
		{"non-flexible with a picture group", []byte{0xae, 0x05, 0x00, 0x07, 0x18, 0x02, 0x80, 0x01, 0x68, 0x02, 0x04, 0x04, 0x34, 0x01, 0xaa},
			Descriptor{Size: 14, Begin: true, End: true, HasPictureID: true, PictureID: 5, HasLayers: true,
				HasTL0PICIDX: true, TL0PICIDX: 7, HasSS: true,
				SS: Structure{SpatialLayers: 1, HasSizes: true, Width: [8]uint16{640}, Height: [8]uint16{360}, HasGroup: true, GroupSize: 2, groupAt: 10}}, nil},
		{"no optional field", []byte{0x0c, 0xaa}, Descriptor{Size: 1, Begin: true, End: true}, nil},
		{"picture ID cut", []byte{0x80}, Descriptor{}, ErrShort},
		{"long picture ID cut", []byte{0x80, 0x80}, Descriptor{}, ErrShort},
		{"layer indices cut", []byte{0xa0, 0x01}, Descriptor{}, ErrShort},
		{"TL0PICIDX cut", []byte{0x20, 0x00}, Descriptor{}, ErrShort},
		{"reference cut", []byte{0x50}, Descriptor{}, ErrShort},
		{"reference chain cut", []byte{0x50, 0x03}, Descriptor{}, ErrShort},
		{"structure cut", []byte{0x02}, Descriptor{}, ErrShort},
		{"sizes cut", chromeKey[:16], Descriptor{}, ErrShort},
		{"group size cut", []byte{0x02, 0x08}, Descriptor{}, ErrShort},
		{"group picture cut", []byte{0x02, 0x08, 0x01}, Descriptor{}, ErrShort},
		{"group references cut", []byte{0x02, 0x08, 0x01, 0x0c, 0x01, 0x02}, Descriptor{}, ErrShort},
	} {
		got, err := Parse(tc.payload)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

// TestKeyframe: a key picture begins at spatial layer 0's first packet,
// not predicted; a higher layer of the key picture, a later packet, or
// a predicted picture is not one.
func TestKeyframe(t *testing.T) {
	for _, tc := range []struct {
		name         string
		payload      []byte
		key, picture bool
	}{
		{"key picture", chromeKey, true, true},
		{"its spatial layer 1", []byte{0xbc, 0x81, 0x23, 0x03}, false, false},
		{"its second packet", []byte{0xb0, 0x81, 0x23, 0x00}, false, false},
		{"a delta picture", []byte{0xfc, 0x81, 0x24, 0x50, 0x02}, false, true},
		{"a single layer keyframe", []byte{0x08}, true, true},
	} {
		d, err := Parse(tc.payload)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if d.Keyframe() != tc.key || d.PictureStart() != tc.picture {
			t.Errorf("%s: keyframe %v, picture start %v; want %v, %v", tc.name, d.Keyframe(), d.PictureStart(), tc.key, tc.picture)
		}
	}
}

// TestGroupPicture: the pictures of a group are read in order with
// their references; one past the group, or of a descriptor without a
// group, is not there.
func TestGroupPicture(t *testing.T) {
	payload := []byte{0xae, 0x05, 0x00, 0x07, 0x18, 0x02, 0x80, 0x01, 0x68, 0x02, 0x04, 0x04, 0x34, 0x01, 0xaa}
	d, err := Parse(payload)
	if err != nil {
		t.Fatal(err)
	}
	want := []GroupPicture{{TID: 0, NumPDiffs: 1, PDiff: [3]uint8{4}}, {TID: 1, SwitchingUp: true, NumPDiffs: 1, PDiff: [3]uint8{1}}}
	for g, w := range want {
		if p, ok := d.GroupPicture(payload, g); !ok || p != w {
			t.Errorf("picture %d: %+v %v, want %+v", g, p, ok, w)
		}
	}
	if _, ok := d.GroupPicture(payload, 2); ok {
		t.Error("a third picture in a group of two")
	}
	if _, ok := d.GroupPicture(payload[:5], 0); ok {
		t.Error("a picture read from a payload shorter than the descriptor")
	}
	k, _ := Parse(chromeKey)
	if _, ok := k.GroupPicture(chromeKey, 0); ok {
		t.Error("a picture of a structure without a group")
	}
}

// FuzzDescriptor: any payload parses or is refused without a panic;
// what parses fits its payload, its layers and references are within
// their fields' ranges, and every picture of its group reads.
func FuzzDescriptor(f *testing.F) {
	for _, seed := range [][]byte{chromeKey, {0xfc, 0x81, 0x24, 0x50, 0x02, 0x00}, {0xf1, 0x81, 0x25, 0x24, 0x05, 0x08},
		{0xae, 0x05, 0x00, 0x07, 0x18, 0x02, 0x80, 0x01, 0x68, 0x02, 0x04, 0x04, 0x34, 0x01}, {}, {0xff, 0xff, 0xff, 0xff}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		d, err := Parse(payload)
		if err != nil {
			return
		}
		if d.Size < 1 || d.Size > len(payload) {
			t.Fatalf("descriptor of %d bytes in a payload of %d", d.Size, len(payload))
		}
		if d.TID > 7 || d.SID > 7 || d.NumPDiffs > maxPDiffs || d.PictureID > d.PictureIDMask() {
			t.Fatalf("fields out of range: %+v", d)
		}
		if d.HasSS && (d.SS.SpatialLayers < 1 || d.SS.SpatialLayers > MaxSpatialLayers) {
			t.Fatalf("%d spatial layers", d.SS.SpatialLayers)
		}
		for g := 0; d.HasSS && g < d.SS.GroupSize; g++ {
			if _, ok := d.GroupPicture(payload, g); !ok {
				t.Fatalf("picture %d of a group of %d does not read", g, d.SS.GroupSize)
			}
		}
	})
}
