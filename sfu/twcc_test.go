package sfu

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

// TestSendHistoryWiden: an audio connection's history holds its latest
// audioHistorySize packets; widened, it keeps them and holds historySize.
func TestSendHistoryWiden(t *testing.T) {
	h := newSendHistory(0)
	for i := range 300 {
		if seq := h.stamp(100+i, int64(i)*1000, false); seq != uint16(i) {
			t.Fatalf("packet %d got sequence number %d", i, seq)
		}
	}
	held := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			at, size, _, ok := h.sent(uint16(i))
			if !ok || size != 100+i || at != int64(i) {
				t.Fatalf("packet %d: %v %d bytes at %d", i, ok, size, at)
			}
		}
	}
	gone := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, _, _, ok := h.sent(uint16(i)); ok {
				t.Fatalf("packet %d still held", i)
			}
		}
	}
	gone(0, 300-audioHistorySize)
	held(300-audioHistorySize, 300)
	h.widen()
	held(300-audioHistorySize, 300)
	for i := 300; i < 1100; i++ {
		h.stamp(100+i, int64(i)*1000, false)
	}
	gone(0, 1100-historySize)
	held(1100-historySize, 1100)
}

// TestHdrExts: the level and the transport-wide sequence number go in one
// one-byte header, each under its id, as long as the header sizes the send
// history counts; a header is written again from scratch each packet, and
// an id a one-byte header cannot carry is left out.
func TestHdrExts(t *testing.T) {
	var x hdrExts
	for _, tc := range []struct {
		level, twcc uint8
		size        int
	}{{0, 3, twccHeaderBytes}, {2, 3, twccHeaderBytes + levelHeaderBytes}, {2, 0, twccHeaderBytes}, {15, 3, twccHeaderBytes}} {
		for seq := uint16(1000); seq < 1003; seq++ {
			h := rtp.Header{Version: 2, SequenceNumber: seq}
			// As a publisher's header copied for a subscriber (rewrite).
			_ = h.SetExtension(1, []byte{0x99})
			h.Extension, h.Extensions, h.ExtensionProfile = false, nil, 0
			if tc.level != 0 {
				x.addLevel(&h, tc.level, []byte{byte(seq)})
			}
			if tc.twcc != 0 {
				x.stampHeader(&h, tc.twcc, seq)
			}
			raw, err := h.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var got rtp.Header
			if _, err := got.Unmarshal(raw); err != nil {
				t.Fatal(err)
			}
			lv, tw := got.GetExtension(tc.level), got.GetExtension(tc.twcc)
			wantLevel := tc.level != 0 && tc.level <= 14
			if wantLevel != bytes.Equal(lv, []byte{byte(seq)}) || tc.twcc != 0 && !bytes.Equal(tw, []byte{byte(seq >> 8), byte(seq)}) ||
				len(got.Extensions) != btoi(wantLevel)+btoi(tc.twcc != 0) || got.GetExtension(1) != nil {
				t.Fatalf("level at %d, sequence number at %d: extensions %v, level %x, sequence number %x", tc.level, tc.twcc, got.GetExtensionIDs(), lv, tw)
			}
			if len(raw) != tc.size || got.Extension && got.ExtensionProfile != rtp.ExtensionProfileOneByte {
				t.Fatalf("level at %d, sequence number at %d: a %d-byte header of profile %#x, want %d bytes", tc.level, tc.twcc, len(raw), got.ExtensionProfile, tc.size)
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
