package recorder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"parley/clips/probe"
	"parley/internal/ebmlid"
	"parley/internal/testmedia"
)

// readVint decodes a vint: its value with the marker bit removed, and its
// length; all ones is unknown (-1).
func readVint(b []byte) (int64, int) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0
	}
	l := 1
	for b[0]&(0x80>>(l-1)) == 0 {
		l++
	}
	if len(b) < l {
		return 0, 0
	}
	v := uint64(b[0] & (0xff >> l))
	ones := v == uint64(0xff>>l)
	for _, c := range b[1:l] {
		v = v<<8 | uint64(c)
		ones = ones && c == 0xff
	}
	if ones {
		return -1, l
	}
	return int64(v), l
}

type elem struct {
	id   uint32
	data []byte
}

// elems splits b into its elements (known sizes only).
func elems(t *testing.T, b []byte) []elem {
	t.Helper()
	var out []elem
	for len(b) > 0 {
		_, il := readVint(b)
		if il == 0 || il > 4 {
			t.Fatalf("bad element ID at % x", b[:min(8, len(b))])
		}
		var id uint32
		for _, c := range b[:il] {
			id = id<<8 | uint32(c)
		}
		size, sl := readVint(b[il:])
		if sl == 0 || size < 0 || int64(len(b)-il-sl) < size {
			t.Fatalf("bad size of element %x", id)
		}
		out = append(out, elem{id, b[il+sl : il+sl+int(size)]})
		b = b[il+sl+int(size):]
	}
	return out
}

// TestSizeVint: each size takes the shortest vint that holds it; at each
// length's limit the next length begins, since all ones means unknown.
func TestSizeVint(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want []byte
	}{
		{0, []byte{0x80}},
		{1, []byte{0x81}},
		{126, []byte{0xfe}},
		{127, []byte{0x40, 0x7f}},
		{16382, []byte{0x7f, 0xfe}},
		{16383, []byte{0x20, 0x3f, 0xff}},
		{1<<21 - 2, []byte{0x3f, 0xff, 0xfe}},
		{1<<21 - 1, []byte{0x10, 0x1f, 0xff, 0xff}},
		{1<<28 - 2, []byte{0x1f, 0xff, 0xff, 0xfe}},
		{1<<28 - 1, []byte{0x08, 0x0f, 0xff, 0xff, 0xff}},
		{1<<35 - 2, []byte{0x0f, 0xff, 0xff, 0xff, 0xfe}},
		{1<<35 - 1, []byte{0x04, 0x07, 0xff, 0xff, 0xff, 0xff}},
		{1<<42 - 2, []byte{0x07, 0xff, 0xff, 0xff, 0xff, 0xfe}},
		{1<<42 - 1, []byte{0x02, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{1<<49 - 2, []byte{0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}},
		{1<<49 - 1, []byte{0x01, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{maxSize, []byte{0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}},
	} {
		got := appendSize(nil, c.n)
		if !bytes.Equal(got, c.want) {
			t.Errorf("size %d: % x, want % x", c.n, got, c.want)
		}
		if v, l := readVint(got); v != int64(c.n) || l != len(got) {
			t.Errorf("size %d reads back as %d (%d bytes)", c.n, v, l)
		}
	}
	// A size written at a given length reads back at any length that
	// holds it.
	for l := 1; l <= 8; l++ {
		var b [8]byte
		putSize(b[:], 100, l)
		if v, n := readVint(b[:l]); v != 100 || n != l {
			t.Errorf("100 as %d bytes: % x", l, b[:l])
		}
	}
}

func TestUintElement(t *testing.T) {
	for _, c := range []struct {
		v    uint64
		want []byte
	}{
		{0, []byte{0xe7, 0x81, 0x00}},
		{255, []byte{0xe7, 0x81, 0xff}},
		{256, []byte{0xe7, 0x82, 0x01, 0x00}},
		{1<<32 - 1, []byte{0xe7, 0x84, 0xff, 0xff, 0xff, 0xff}},
		{math.MaxUint64, []byte{0xe7, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	} {
		if got := appendUint(nil, ebmlid.Timecode, c.v); !bytes.Equal(got, c.want) {
			t.Errorf("%d: % x, want % x", c.v, got, c.want)
		}
	}
	if got := appendUint(nil, ebmlid.TimecodeScale, 1000000); !bytes.Equal(got, []byte{0x2a, 0xd7, 0xb1, 0x83, 0x0f, 0x42, 0x40}) {
		t.Errorf("TimecodeScale: % x", got)
	}
}

// TestVoid: a Void of any size from 2 bytes is exactly that size.
func TestVoid(t *testing.T) {
	for n := 2; n < 300; n++ {
		b := appendVoid(nil, n)
		if len(b) != n {
			t.Fatalf("Void of %d bytes is %d", n, len(b))
		}
		if es := elems(t, b); len(es) != 1 || es[0].id != ebmlid.Void {
			t.Fatalf("Void of %d bytes: % x", n, b)
		}
	}
}

// newTestWriter makes a writer into memory with the given tracks (one
// opus, then vp8 ones) and cue room.
func newTestWriter(t *testing.T, video bool, cueRoom int) (*webmWriter, *discardBuf) {
	t.Helper()
	buf := &discardBuf{}
	tracks := []webmTrack{{number: 1, name: "audio", codec: "opus", channels: 2}}
	if video {
		tracks = append(tracks, webmTrack{number: 2, name: "video", codec: "vp8", width: 320, height: 240})
	}
	w, err := newWebmWriter(&countingWriter{w: buf}, tracks, cueRoom)
	if err != nil {
		t.Fatal(err)
	}
	return w, buf
}

// discardBuf is an in-memory file.
type discardBuf struct {
	b   []byte
	off int64
}

func (d *discardBuf) Write(p []byte) (int, error) {
	if end := d.off + int64(len(p)); end > int64(len(d.b)) {
		d.b = append(d.b, make([]byte, end-int64(len(d.b)))...)
	}
	copy(d.b[d.off:], p)
	d.off += int64(len(p))
	return len(p), nil
}

func (d *discardBuf) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 1:
		off += d.off
	case 2:
		off += int64(len(d.b))
	}
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	d.off = off
	return off, nil
}

// opusFrame20 is a valid 20 ms CELT Opus packet.
var opusFrame20 = []byte{0xfc, 1, 2, 3}

func TestSimpleBlock(t *testing.T) {
	w, buf := newTestWriter(t, false, 10)
	start := len(buf.b) + len(w.out.buf)
	if err := w.write(1, 1234, true, opusFrame20); err != nil {
		t.Fatal(err)
	}
	if err := w.write(1, 1254, false, opusFrame20); err != nil {
		t.Fatal(err)
	}
	got := w.out.buf[start-len(buf.b):]
	want := []byte{
		0x1f, 0x43, 0xb6, 0x75, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // Cluster, unknown size
		0xe7, 0x82, 0x04, 0xd2, // Timecode 1234
		0xa3, 0x88, 0x81, 0x00, 0x00, 0x80, 0xfc, 1, 2, 3, // track 1, +0, keyframe
		0xa3, 0x88, 0x81, 0x00, 0x14, 0x00, 0xfc, 1, 2, 3, // +20
	}
	if !bytes.Equal(got, want) {
		t.Errorf("blocks:\n% x\nwant\n% x", got, want)
	}
	if err := w.write(1, -1, true, opusFrame20); err == nil {
		t.Error("a negative timecode was written")
	}
	if err := w.write(9, 1300, true, opusFrame20); err == nil {
		t.Error("a block of track 9 was written")
	}
}

// TestClusterSplit: a Cluster starts at the first block, at a keyframe
// of the main track (video if any, else audio) a second or more after the
// Cluster's start, and at any block five seconds after it.
func TestClusterSplit(t *testing.T) {
	type blk struct {
		track uint64
		tc    int64
		key   bool
	}
	audio := func(from, to int64) []blk {
		var out []blk
		for tc := from; tc < to; tc += 20 {
			out = append(out, blk{1, tc, true})
		}
		return out
	}
	for _, c := range []struct {
		name   string
		video  bool
		blocks []blk
		want   []int64
	}{
		{"audio", false, audio(0, 3500), []int64{0, 1000, 2000, 3000}},
		{"audio starting late", false, audio(250, 1500), []int64{250, 1250}},
		{"audio with a pause", false, append(audio(0, 500), audio(7000, 7100)...), []int64{0, 7000}},
		{"video keyframes", true, []blk{
			{1, 0, true}, {2, 0, true}, {1, 20, true}, {2, 500, true}, // too soon
			{1, 1200, true}, // audio does not split video
			{2, 1300, false}, {2, 1400, true}, {1, 1420, true}, {2, 2000, false},
		}, []int64{0, 1400}},
		{"video without keyframes", true, []blk{
			{2, 0, true}, {2, 2000, false}, {2, 4999, false}, {1, 5000, true}, {2, 5033, false}, {2, 10100, false},
		}, []int64{0, 5000, 10100}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, _ := newTestWriter(t, c.video, 10)
			for _, b := range c.blocks {
				if err := w.write(b.track, b.tc, b.key, opusFrame20); err != nil {
					t.Fatal(err)
				}
			}
			var got []int64
			for _, q := range w.cues {
				got = append(got, q.time)
			}
			if !equal(got, c.want) {
				t.Errorf("clusters at %v, want %v", got, c.want)
			}
		})
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCues: the Cues fill the reserved space exactly, point at their
// Clusters, and are thinned when there are more than the space holds.
func TestCues(t *testing.T) {
	for _, clusters := range []int{1, 5, 20, 200, 5000} {
		w, buf := newTestWriter(t, false, 1)
		for i := 0; i < clusters; i++ {
			if err := w.write(1, int64(i)*1000, true, opusFrame20); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.close(int64(clusters)*1000 + 20); err != nil {
			t.Fatal(err)
		}
		file := buf.b
		space := file[w.cuesAt : w.cuesAt+int64(w.cuesSpace)]
		es := elems(t, space)
		if es[0].id != ebmlid.Cues || (len(es) == 2 && es[1].id != ebmlid.Void) || len(es) > 2 {
			t.Fatalf("%d clusters: the reserved space holds %v", clusters, es)
		}
		points := elems(t, es[0].data)
		if len(points) == 0 || len(points) > clusters {
			t.Fatalf("%d clusters: %d cue points", clusters, len(points))
		}
		if len(points) < clusters && len(points) < 20 {
			t.Errorf("%d clusters: only %d cue points kept", clusters, len(points))
		}
		for _, p := range points {
			var cueTime, pos uint64
			for _, e := range elems(t, p.data) {
				switch e.id {
				case ebmlid.CueTime:
					cueTime = beUint(e.data)
				case ebmlid.CueTrackPositions:
					for _, f := range elems(t, e.data) {
						if f.id == ebmlid.CueClusterPosition {
							pos = beUint(f.data)
						}
					}
				}
			}
			at := w.segment + int64(pos)
			if at+16 > int64(len(file)) || !bytes.Equal(file[at:at+4], []byte{0x1f, 0x43, 0xb6, 0x75}) {
				t.Fatalf("cue at %d ms points at % x, not a Cluster", cueTime, file[at:min(at+4, int64(len(file)))])
			}
			if tc := beUint(file[at+14 : at+14+int64(file[at+13]&0x0f)]); tc != cueTime {
				t.Errorf("cue at %d ms points at the Cluster of %d ms", cueTime, tc)
			}
		}
		info, err := probe.Probe(bytes.NewReader(file), 0)
		if err != nil {
			t.Fatalf("%d clusters: probe: %v", clusters, err)
		}
		if want := time.Duration(clusters)*time.Second - 980*time.Millisecond; info.Duration != want {
			t.Errorf("%d clusters: probe duration %v, want %v", clusters, info.Duration, want)
		}
		d := math.Float64frombits(binary.BigEndian.Uint64(file[w.durationAt:]))
		if d != float64(clusters*1000+20) {
			t.Errorf("Duration %v ms", d)
		}
	}
}

func beUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// TestInterleaver: blocks leave in timecode order across tracks (audio
// first at equal timecodes), a track that stops holds the other back for
// at most the delay, and the rest leaves on flush.
func TestInterleaver(t *testing.T) {
	il := newInterleaver(2, 300)
	var out []int64
	drain := func(all bool) {
		for b, ok := il.next(all); ok; b, ok = il.next(all) {
			out = append(out, int64(b.track)*100000+b.tc)
		}
	}
	il.push(block{track: 1, tc: 0})
	drain(false)
	il.push(block{track: 0, tc: 0})
	drain(false)
	if !equal(out, []int64{0}) {
		t.Fatalf("out %v", out)
	}
	il.push(block{track: 0, tc: 20})
	drain(false)
	if !equal(out, []int64{0, 100000}) {
		t.Fatalf("audio at 0 first, then video at 0: %v", out)
	}
	for tc := int64(40); tc <= 400; tc += 20 {
		il.push(block{track: 0, tc: tc})
		drain(false)
	}
	// The video stopped: audio waits up to 300 ms.
	if n := len(out); n != 2+(400-20-300)/20 {
		t.Fatalf("%d written while video is away: %v", n, out)
	}
	il.push(block{track: 1, tc: 380})
	drain(false)
	drain(true)
	if il.held != 0 || il.heldSize != 0 {
		t.Errorf("held %d, %d bytes after a flush", il.held, il.heldSize)
	}
	for i := 1; i < len(out); i++ {
		if out[i]%100000 < out[i-1]%100000 {
			t.Fatalf("out of order: %v", out)
		}
	}
}

// FuzzRecord feeds a recorder of Opus and VP8 with packets made from the
// input (any payloads, sequence numbers and timestamps, as a hostile
// publisher may send): it must not panic, and what it writes is either a
// clip that clips/probe accepts or an error.
func FuzzRecord(f *testing.F) {
	f.Add([]byte{0, 1, 0, 20, 0xfc, 1, 2, 3, 0, 1, 0, 20, 0xfc, 1, 2, 3})
	// A VP8 keyframe of 320x240 in one packet, then Opus.
	f.Add([]byte{1, 1, 0, 0x8b, 0x10, 0x50, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0, 1, 0, 4, 0xfc, 1, 2, 3})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xfc, 0, 0x80, 0x7f, 0x00, 0xfc, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		var out discardBuf
		rec, err := Start(&out, []Track{
			{Codec: testmedia.OpusCodec, AudioLevelID: 1},
			{Codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}},
		}, Options{MaxDuration: time.Minute, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		var seq [2]uint16
		var ts [2]uint32
		// Each packet: track (low bit), sequence step, timestamp step
		// (signed, scaled), marker and payload length, payload.
		for len(in) >= 4 {
			tr := int(in[0] & 1)
			seq[tr] += uint16(in[1] % 4)
			ts[tr] += uint32(int32(int8(in[2])) * 480)
			marker := in[3]&0x80 != 0
			n := min(int(in[3]&0x3f), len(in)-4)
			p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq[tr], Timestamp: ts[tr], Marker: marker}, Payload: in[4 : 4+n]}
			if tr == 0 && n > 0 {
				_ = p.Header.SetExtension(1, []byte{in[4] & 0x7f})
			}
			rec.Sink(tr).WriteRTP(p)
			in = in[4+n:]
		}
		res, err := rec.Stop()
		if err != nil {
			if !errors.Is(err, ErrEmpty) {
				t.Fatalf("Stop: %v", err)
			}
			return
		}
		info, err := probe.Probe(bytes.NewReader(out.b), 0)
		if err != nil {
			t.Fatalf("the clip is not valid: %v", err)
		}
		if info.Blocks != res.Frames {
			t.Errorf("%d frames recorded, %d in the file", res.Frames, info.Blocks)
		}
	})
}
