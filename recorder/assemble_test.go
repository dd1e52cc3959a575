package recorder

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// vp8 makes the packets of one VP8 frame: n packets with the given
// timestamp from sequence number seq, the first a partition head, the
// last with the marker; each payload byte is the frame's tag.
func vp8(seq uint16, ts uint32, n int, tag byte) []*rtp.Packet {
	var out []*rtp.Packet
	for i := range n {
		desc := byte(0x00)
		if i == 0 {
			desc = 0x10 // S: start of partition 0
		}
		out = append(out, &rtp.Packet{Header: rtp.Header{SequenceNumber: seq + uint16(i), Timestamp: ts, Marker: i == n-1},
			Payload: []byte{desc, tag, tag}})
	}
	return out
}

func drain(a *assembler) []frame {
	var out []frame
	for f, ok := a.pop(); ok; f, ok = a.pop() {
		out = append(out, f)
	}
	return out
}

// tags lists the frames as "tag/packets" from their data (2 bytes per packet).
func tags(fs []frame) string {
	var b bytes.Buffer
	for _, f := range fs {
		fmt.Fprintf(&b, "%c%d ", f.data[0], len(f.data)/2)
	}
	return b.String()
}

func TestAssembler(t *testing.T) {
	newVP8 := func() *assembler { return newAssembler(&codecs.VP8Packet{}, 16, 6, 9000) }
	frames := func(fs ...[]*rtp.Packet) []*rtp.Packet {
		var out []*rtp.Packet
		for _, f := range fs {
			out = append(out, f...)
		}
		return out
	}
	a1, b1, c1 := vp8(65533, 1000, 3, 'a'), vp8(0, 4000, 2, 'b'), vp8(2, 7000, 1, 'c') // across the wrap
	for _, tc := range []struct {
		name  string
		order []*rtp.Packet
		want  string
		flush string // more frames after flush
	}{
		{"in order, across the wrap", frames(a1, b1, c1), "a3 b2 c1 ", ""},
		{"reordered", []*rtp.Packet{a1[1], a1[0], b1[0], a1[2], c1[0], b1[1]}, "a3 b2 c1 ", ""},
		{"duplicates", []*rtp.Packet{a1[0], a1[0], a1[1], a1[2], a1[2], b1[0], b1[1]}, "a3 b2 ", ""},
		{"first packet of a frame lost", frames(a1[1:], b1, c1), "", "b2 c1 "},
		{"middle packet lost", frames(a1[:1], a1[2:], b1, c1), "", "b2 c1 "},
		{"tail lost, next frame started", frames(a1[:2], b1, c1), "", "b2 c1 "},
		{"waiting for the tail", frames(a1[:2]), "", ""},
	} {
		a := newVP8()
		for _, p := range tc.order {
			a.push(p)
		}
		if got := tags(drain(a)); got != tc.want {
			t.Errorf("%s: %q before flush, want %q", tc.name, got, tc.want)
		}
		a.flush()
		if got := tags(drain(a)); got != tc.flush {
			t.Errorf("%s: %q after flush, want %q", tc.name, got, tc.flush)
		}
	}

	// A lost packet is given up once maxLate newer ones have come: the
	// frames after it come out without a flush.
	a := newVP8()
	var seq uint16 = 100
	for i := range 10 {
		f := vp8(seq, uint32(i)*3000, 1, byte('a'+i))
		seq++
		if i == 2 {
			continue // lost
		}
		a.push(f[0])
	}
	if got := tags(drain(a)); got != "a1 b1 d1 e1 f1 g1 h1 i1 j1 " {
		t.Errorf("after a loss: %q", got)
	}

	// A gap is given up when the packets held span more than maxDelay.
	a = newVP8()
	a.push(vp8(10, 0, 1, 'a')[0])
	a.push(vp8(12, 3000, 1, 'c')[0]) // 11 lost
	if got := tags(drain(a)); got != "a1 " {
		t.Errorf("before the delay: %q", got)
	}
	a.push(vp8(13, 12001, 1, 'd')[0])
	if got := tags(drain(a)); got != "c1 d1 " {
		t.Errorf("after the delay: %q", got)
	}

	// A late packet, after its place was given up, is dropped; a sequence
	// jump far outside the window starts again from there.
	a.push(vp8(11, 1500, 1, 'b')[0])
	a.push(vp8(40000, 15000, 1, 'x')[0])
	a.push(vp8(40001, 18000, 1, 'y')[0])
	a.push(vp8(5, 21000, 1, 'z')[0]) // back far behind: a new start too
	a.flush()
	if got := tags(drain(a)); got != "x1 y1 z1 " {
		t.Errorf("late and jumps: %q", got)
	}

	// Opus: every packet is a frame.
	o := newAssembler(&codecs.OpusPacket{}, 128, 64, 9600)
	for i := range 5 {
		o.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(65534 + i), Timestamp: uint32(i * 960)}, Payload: []byte{byte('a' + i), 0}})
	}
	if got := tags(drain(o)); got != "a1 b1 c1 d1 e1 " {
		t.Errorf("opus: %q", got)
	}
}
