package recorder

import (
	"bytes"
	"fmt"
	"math/rand"
	"sort"
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

	// A late packet, after its place was given up, is dropped; a single
	// stray packet far outside the window too; two in a row there (the
	// sequence jumped) start again from them, ahead or behind.
	a.push(vp8(11, 1500, 1, 'b')[0])
	a.push(vp8(14, 15000, 1, 'e')[0])
	a.push(vp8(9000, 15000, 1, '?')[0])
	a.push(vp8(15, 18000, 1, 'f')[0])
	a.push(vp8(40000, 21000, 1, 'x')[0])
	a.push(vp8(40001, 24000, 1, 'y')[0])
	a.push(vp8(5, 27000, 1, 'z')[0])
	a.push(vp8(6, 30000, 1, 'w')[0])
	a.flush()
	if got := tags(drain(a)); got != "e1 f1 x1 y1 z1 w1 " {
		t.Errorf("late, stray and jumps: %q", got)
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

// TestAssemblerRandom: seeded random VP8 streams starting near the
// sequence and timestamp wraps, with padding packets, packets displaced
// by up to 20 places, duplicates and 5% loss. After every packet the held
// ones sit in their slots within the window; in the end every frame comes
// out whole, in order, once, and every frame none of whose packets was
// lost comes out (but for the first few, which may be passed before their
// displaced first packets arrive).
func TestAssemblerRandom(t *testing.T) {
	for seed := range int64(300) {
		r := rand.New(rand.NewSource(seed))
		a := newAssembler(&codecs.VP8Packet{}, 64, 32, 90000)
		type sent struct {
			p     *rtp.Packet
			frame int
		}
		var stream []sent
		seq := uint16(65535 - r.Intn(300))
		ts0 := ^uint32(0) - uint32(r.Intn(100000))
		const frames = 300
		for f := range frames {
			n := 1 + r.Intn(6)
			for i := range n {
				desc := byte(0)
				if i == 0 {
					desc = 0x10
				}
				stream = append(stream, sent{&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts0 + uint32(f)*3000, Marker: i == n-1},
					Payload: []byte{desc, byte(f), byte(f >> 8)}}, f})
				seq++
			}
			if r.Intn(10) == 0 { // a padding-only packet
				stream = append(stream, sent{&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts0 + uint32(f)*3000}}, -1})
				seq++
			}
		}
		lost := map[int]bool{}
		var order []sent
		for _, s := range stream {
			switch {
			case seed%3 == 0 && r.Float64() < 0.05:
				lost[s.frame] = true
			case seed%5 == 0 && r.Intn(20) == 0:
				order = append(order, s, s)
			default:
				order = append(order, s)
			}
		}
		// Displace each by up to 20 places: sort by position plus 0..20.
		keys := make([]int, len(order))
		for i := range keys {
			keys[i] = i + r.Intn(21)
		}
		idx := make([]int, len(order))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(x, y int) bool { return keys[idx[x]] < keys[idx[y]] })
		shuffled := make([]sent, len(order))
		for i, k := range idx {
			shuffled[i] = order[k]
		}
		order = shuffled
		size := map[int]int{}
		for _, s := range stream {
			if s.frame >= 0 {
				size[s.frame]++
			}
		}
		var got []frame
		for _, s := range order {
			a.push(s.p)
			for i, p := range a.slots {
				if p != nil && (int(p.SequenceNumber&a.mask) != i || p.SequenceNumber-a.head > a.newest-a.head) {
					t.Fatalf("seed %d: packet %d held in slot %d, window %d..%d", seed, p.SequenceNumber, i, a.head, a.newest)
				}
			}
			got = append(got, drain(a)...)
		}
		a.flush()
		got = append(got, drain(a)...)
		last, seen := -1, map[int]bool{}
		for _, f := range got {
			id := int(f.data[0]) | int(f.data[1])<<8
			if id <= last || len(f.data) != 2*size[id] || lost[id] {
				t.Fatalf("seed %d: frame %d (after %d) with %d bytes, want %d, lost %v", seed, id, last, len(f.data), 2*size[id], lost[id])
			}
			last, seen[id] = id, true
		}
		for f := 5; f < frames; f++ {
			if !lost[f] && !seen[f] {
				t.Errorf("seed %d: frame %d, none of whose packets was lost, did not come out", seed, f)
				break
			}
		}
	}
}
