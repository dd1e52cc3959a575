package sfu

import "testing"

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
