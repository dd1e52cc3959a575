package sfu

import (
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// transportCCURI is the RTP header extension of transport-wide congestion
// control: a sequence number counted across every stream of a connection,
// which the subscriber's feedback (RTCP transport-cc) reports each
// packet's arrival by.
const transportCCURI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

// historySize is how many of a connection's latest packets the send
// history keeps once it carries video (see sendHistory.widen): a second
// of a 5 Mbit/s subscriber, more than the feedback's delay.
const historySize = 1024

// audioHistorySize is how many it keeps before (both powers of two,
// which divide 2^16): five seconds of one
// audio track, more than a second of audioHistoryTracks of them. The
// larger history would cost each audio subscriber 6 KB more.
const (
	audioHistorySize   = 256
	audioHistoryTracks = 4
)

// sendHistory is what a subscribe connection sent, by transport-wide
// sequence number: when and how large. Every goroutine that sends on the
// connection stamps its packets here without a lock: one atomic word per
// packet holds the sequence number (to tell a slot's packet from the one
// a history's length earlier), the size and the send time.
type sendHistory struct {
	seq   atomic.Uint32
	epoch int64 // unix nanoseconds; send times are microseconds since
	slots atomic.Pointer[[]atomic.Uint64]
}

// A slot: the sequence number in the top 16 bits, then whether the
// packet was a probe's duplicate, the size in 11 bits (clamped), and the
// send time, in microseconds since the epoch, modulo 2^36 (about 19
// hours; only differences are used).
const (
	slotTimeBits = 36
	slotTimeMask = 1<<slotTimeBits - 1
	slotMaxSize  = 1<<11 - 1
	slotProbe    = 1 << 47
)

func newSendHistory(now int64) *sendHistory {
	h := &sendHistory{epoch: now}
	slots := make([]atomic.Uint64, audioHistorySize)
	h.slots.Store(&slots)
	return h
}

// widen makes the history historySize long, if it is not yet. A packet
// stamped while it is copied may be left out: its feedback is not
// counted, as that of one sent too long ago.
func (h *sendHistory) widen() {
	old := *h.slots.Load()
	if len(old) >= historySize {
		return
	}
	slots := make([]atomic.Uint64, historySize)
	for i := range old {
		if v := old[i].Load(); v != 0 {
			slots[uint16(v>>48)%historySize].Store(v)
		}
	}
	h.slots.Store(&slots)
}

// stamp takes the next transport-wide sequence number for a packet of
// size bytes sent at now (unix nanoseconds), a probe's duplicate or not,
// and records it.
func (h *sendHistory) stamp(size int, now int64, probe bool) uint16 {
	seq := uint16(h.seq.Add(1) - 1)
	v := uint64(seq)<<48 | uint64(min(size, slotMaxSize))<<slotTimeBits | uint64((now-h.epoch)/1000)&slotTimeMask
	if probe {
		v |= slotProbe
	}
	slots := *h.slots.Load()
	slots[int(seq)&(len(slots)-1)].Store(v)
	return seq
}

// sent is the send time (microseconds, modulo 2^36), the size and the
// probe mark of packet seq, if it is still in the history.
func (h *sendHistory) sent(seq uint16) (at int64, size int, probe, ok bool) {
	slots := *h.slots.Load()
	v := slots[int(seq)&(len(slots)-1)].Load()
	if v == 0 || uint16(v>>48) != seq {
		return 0, 0, false, false
	}
	return int64(v & slotTimeMask), int(v >> slotTimeBits & slotMaxSize), v&slotProbe != 0, true
}

// hdrExts is the storage of the header extensions the SFU writes on one
// packet, so that writing a header allocates nothing: one per goroutine
// that writes headers. A packet carries at most two: the connection's
// transport-wide sequence number and the publisher's audio level, both
// in one one-byte header (RFC 8285), as browsers send them.
type hdrExts struct {
	list  [2]rtp.Extension // h.Extensions, once one is added
	seq   [2]byte
	level [1]byte
}

// add puts payload in h under id, in a one-byte header whose list is x's.
// h must have none of another storage's (see downBinding.rewrite). An id
// that a one-byte header cannot carry (0 or above 14) is left out: ids
// are negotiated from 1, and those up to 14 first.
func (x *hdrExts) add(h *rtp.Header, id uint8, payload []byte) {
	if id == 0 || id > 14 {
		return
	}
	if !h.Extension {
		h.Extension, h.ExtensionProfile, h.Extensions = true, rtp.ExtensionProfileOneByte, x.list[:0]
	}
	// Into the storage's own slice, which has room for both: no
	// allocation. Cannot fail: the id and the payload's size fit.
	_ = h.SetExtension(id, payload)
}

// stampHeader adds seq to h as its transport-wide sequence number, with id.
func (x *hdrExts) stampHeader(h *rtp.Header, id uint8, seq uint16) {
	x.seq[0], x.seq[1] = byte(seq>>8), byte(seq)
	x.add(h, id, x.seq[:])
}

// addLevel adds the audio level payload (its first byte: RFC 6464's V bit
// and level) to h, with id; nothing for an empty payload.
func (x *hdrExts) addLevel(h *rtp.Header, id uint8, payload []byte) {
	if len(payload) == 0 {
		return
	}
	x.level[0] = payload[0]
	x.add(h, id, x.level[:])
}

// twccHeaderBytes is what a packet's header takes on the wire with the
// extension: 12 bytes, and 8 of extension; levelHeaderBytes, what the
// audio level adds to it (its 2 bytes take the 3 of the sequence number
// past the 4-byte boundary).
const (
	twccHeaderBytes  = 20
	levelHeaderBytes = 4
)

// packetResult is what feedback says of one sent packet.
type packetResult struct {
	seq      uint16
	received bool
	arrival  int64 // microseconds, in the receiver's clock; when received
}

// feedbackResults lists, in sequence order, what a transport-cc feedback
// packet reports: each packet's sequence number, whether it arrived, and
// when (the receiver's clock, microseconds). A malformed packet (more
// deltas claimed than given) ends the list where it stops making sense.
func feedbackResults(fb *rtcp.TransportLayerCC, out []packetResult) []packetResult {
	seq := fb.BaseSequenceNumber
	left := int(fb.PacketStatusCount)
	at := int64(fb.ReferenceTime) * 64000
	deltas := fb.RecvDeltas
	add := func(symbol uint16) bool {
		if left == 0 {
			return false
		}
		left--
		r := packetResult{seq: seq}
		seq++
		switch symbol {
		case rtcp.TypeTCCPacketReceivedSmallDelta, rtcp.TypeTCCPacketReceivedLargeDelta:
			if len(deltas) == 0 {
				return false
			}
			at += deltas[0].Delta
			deltas = deltas[1:]
			r.received, r.arrival = true, at
		}
		out = append(out, r)
		return true
	}
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for range c.RunLength {
				if !add(c.PacketStatusSymbol) {
					return out
				}
			}
		case *rtcp.StatusVectorChunk:
			for _, s := range c.SymbolList {
				if !add(s) {
					return out
				}
			}
		}
	}
	return out
}
