package sfu

import (
	"encoding/binary"
	"testing"

	"github.com/pion/rtp"
)

// TestAudioLevelForwarded: a subscriber that accepted the audio level
// extension gets, on each audio packet, the level its publisher sent on
// that packet, under the subscriber's own id, and none where the
// publisher sent none; beside the transport-wide sequence number when it
// takes congestion control, and nothing else of the publisher's header
// extensions. A publisher that sends no levels is forwarded without.
// On the direct send path and on Pion's.
func TestAudioLevelForwarded(t *testing.T) {
	for _, mode := range []struct {
		name     string
		noDirect bool
	}{{"direct", false}, {"pion", true}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newTestEngine(t, mode.noDirect)
			room := newTestRoom(t, e, RoomOptions{Live: true})
			a := join(t, room, "a")
			st := a.publish(audio)[0]
			if st.levelID == 0 {
				t.Fatal("the publisher did not negotiate the audio level")
			}
			st.levels.Store(true)
			q := join(t, room, "q")
			q.publish(audio) // no levels
			ua, uq := upOf(t, a.p, audio), upOf(t, q.p, audio)
			b := join(t, room, "b")
			c := joinWith(t, room, "c", twccAPI(t, nil))
			for _, sub := range []*testClient{b, c} {
				sub.mu.Lock()
				sub.keep = true
				sub.mu.Unlock()
			}
			for _, sub := range []*testClient{b, c} {
				waitDowns(t, sub.p, ua.ID(), uq.ID())
				sub.waitPackets(ua.ID(), 40)
				sub.waitPackets(uq.ID(), 20)
			}
			if r := c.received(ua.ID()); r.twccID == 0 {
				t.Fatal("c did not negotiate transport-cc")
			}
			if r := b.received(ua.ID()); r.twccID != 0 {
				t.Fatal("b negotiated transport-cc")
			}
			for _, sub := range []*testClient{b, c} {
				checkLevels(t, sub.id+" from a", sub.received(ua.ID()), st.levelID, true)
				checkLevels(t, sub.id+" from q", sub.received(uq.ID()), st.levelID, false)
			}
			if direct := e.Stats().DirectConnections; mode.noDirect && direct != 0 || !mode.noDirect && direct < 2 {
				t.Errorf("%d connections on the direct path", direct)
			}
		})
	}
}

// checkLevels checks the audio packets r kept (see testClient.keep): with
// levels, each carries testLevel's level of the sequence number it was
// sent with, under r's id (which must differ from the publisher's,
// pubID, so that a level left under the publisher's id is seen); without,
// none does. A packet carries no other header extension than the level
// and the transport-wide sequence number, in a one-byte header.
func checkLevels(t *testing.T, what string, r recvTrack, pubID uint8, levels bool) {
	t.Helper()
	if r.levelID == 0 || r.levelID == pubID {
		t.Fatalf("%s: the audio level's id is %d on the subscribe connection, %d on the publisher's", what, r.levelID, pubID)
	}
	with, without, bad := 0, 0, 0
	for _, p := range r.kept {
		sent := binary.BigEndian.Uint16(p.Payload)
		want, ok := testLevel(sent)
		ok = ok && levels
		got := p.GetExtension(r.levelID)
		wrong := ok && (len(got) != 1 || got[0] != want) || !ok && got != nil
		for _, id := range p.GetExtensionIDs() {
			wrong = wrong || id != r.levelID && id != r.twccID
		}
		if r.twccID != 0 {
			wrong = wrong || len(p.GetExtension(r.twccID)) != 2
		}
		wrong = wrong || p.Extension && p.ExtensionProfile != rtp.ExtensionProfileOneByte
		if wrong {
			if bad == 0 {
				t.Errorf("%s: packet sent as %d (level %#x: %v) came with extensions %v, level %x, profile %#x",
					what, sent, want, ok, p.GetExtensionIDs(), got, p.ExtensionProfile)
			}
			bad++
		}
		if ok {
			with++
		} else {
			without++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d packets wrong", what, bad, len(r.kept))
	}
	if levels && (with < 20 || without < 5) {
		t.Errorf("%s: %d packets with a level, %d without", what, with, without)
	}
}

// TestViewerAudioLevel: a viewer (WHEP) that offers the audio level gets
// the level its source sent on each audio packet, under the viewer's own
// id, and none where the source sent none.
func TestViewerAudioLevel(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true})
	a := join(t, room, "a")
	st := a.publish(audio)[0]
	st.levels.Store(true)
	// An extension offered first: the viewer's level takes id 2.
	tv := viewWith(t, room, "v", ViewOptions{}, clientAPI(t, "urn:ietf:params:rtp-hdrext:toffset"), audio)
	eventually(t, "the viewer receives 40 audio packets", func() bool { return len(tv.packets(audio)) >= 40 })
	tv.mu.Lock()
	id := tv.levelID
	tv.mu.Unlock()
	if id == 0 || id == st.levelID {
		t.Fatalf("the audio level's id is %d on the viewer's connection, %d on the publisher's", id, st.levelID)
	}
	with, without := 0, 0
	for _, p := range tv.packets(audio) {
		want, ok := testLevel(p.sent)
		if ok && p.level != int16(want) || !ok && p.level != -1 || p.others != 0 {
			t.Fatalf("packet sent as %d (level %#x: %v) came with level %d and %d other extensions", p.sent, want, ok, p.level, p.others)
		}
		if ok {
			with++
		} else {
			without++
		}
	}
	if with < 20 || without < 5 {
		t.Errorf("%d packets with a level, %d without", with, without)
	}
}
