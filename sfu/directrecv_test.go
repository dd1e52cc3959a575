package sfu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"parley/sfu/feedback"
)

// TestDirectReceive feeds the direct receive path SRTP packets as a
// publisher sends them, with plain and encrypted header extensions: each
// comes out of its stream as it was sent; replayed, forged and unclaimed
// packets, RTCP and packets from other addresses do not.
func TestDirectReceive(t *testing.T) {
	key, salt := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 14)
	for _, tc := range []struct {
		name    string
		profile srtp.ProtectionProfile
		salt    []byte
		cryptex bool
	}{
		{"gcm", srtp.ProtectionProfileAeadAes128Gcm, salt[:12], false},
		{"gcm-cryptex", srtp.ProtectionProfileAeadAes128Gcm, salt[:12], true},
		{"cm-sha1", srtp.ProtectionProfileAes128CmHmacSha1_80, salt, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []srtp.ContextOption{}
			if tc.cryptex {
				opts = append(opts, srtp.Cryptex(srtp.CryptexModeRequired))
			}
			sender, err := srtp.CreateContext(key, tc.salt, tc.profile, opts...)
			if err != nil {
				t.Fatal(err)
			}
			e := &Engine{log: quietLog()}
			r := newDirectReceiver(e)
			if r.ctx, err = receiveContext(key, tc.salt, tc.profile); err != nil {
				t.Fatal(err)
			}
			r.claim([]uint32{1111})
			r.active = true
			s := r.stream(1111)
			from := netip.MustParseAddrPort("192.0.2.1:5000")
			r.registerLocked(from)

			encrypt := func(seq uint16) ([]byte, []byte) {
				pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: 1111},
					Payload: []byte{0xfc, byte(seq), 1, 2, 3}}
				if err := pkt.SetExtension(1, []byte{0x80 | byte(seq%127)}); err != nil {
					t.Fatal(err)
				}
				plain, err := pkt.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				enc, err := sender.EncryptRTP(nil, plain, nil)
				if err != nil {
					t.Fatal(err)
				}
				return plain, enc
			}
			buf := make([]byte, maxPacket)
			for seq := uint16(65530); seq != 10; seq++ { // across the rollover
				plain, enc := encrypt(seq)
				if !e.receiveDirect(enc, from) {
					t.Fatalf("packet %d not taken", seq)
				}
				n, err := s.pop(buf)
				if err != nil || !bytes.Equal(buf[:n], plain) {
					t.Fatalf("packet %d came out as %x (%v), want %x", seq, buf[:n], err, plain)
				}
			}
			if st := e.recvDirect.Load(); st != 16 {
				t.Errorf("%d packets counted, want 16", st)
			}

			_, enc := encrypt(10)
			for _, what := range []string{"a packet", "its replay"} {
				if !e.receiveDirect(enc, from) {
					t.Fatalf("%s not taken", what)
				}
			}
			forged := slices.Clone(enc)
			forged[len(forged)-1] ^= 1
			forged[3]++ // another sequence number: not a replay
			if !e.receiveDirect(forged, from) {
				t.Fatal("forged packet not taken")
			}
			if d := e.recvDropped.Load(); d != 2 {
				t.Errorf("%d packets dropped, want the replay and the forgery", d)
			}
			if n, err := s.pop(buf); err != nil || n == 0 {
				t.Fatalf("pop: %d, %v", n, err)
			}
			if q := len(s.queue) - s.head; q != 0 {
				t.Errorf("%d packets queued after the replay and the forgery, want none", q)
			}

			// Left to Pion: another SSRC, RTCP, another address, not RTP.
			other := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: 2222}, Payload: []byte{1}}
			raw, _ := other.Marshal()
			rtcpSR := []byte{0x80, 200, 0, 6, 0, 0, 0x04, 0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
			_, enc = encrypt(11)
			for name, c := range map[string]struct {
				p    []byte
				from netip.AddrPort
			}{
				"another SSRC":    {raw, from},
				"RTCP":            {rtcpSR, from},
				"another address": {enc, netip.MustParseAddrPort("192.0.2.2:5000")},
				"another port":    {enc, netip.MustParseAddrPort("192.0.2.1:5001")},
				"STUN":            {[]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, from},
				"short":           {enc[:11], from},
			} {
				if e.receiveDirect(c.p, c.from) {
					t.Errorf("%s: taken", name)
				}
			}
			// The sender's address as a dual-stack socket reads it.
			if !e.receiveDirect(enc, netip.MustParseAddrPort("[::ffff:192.0.2.1]:5000")) {
				t.Error("packet from the v4-mapped address not taken")
			}

			// A newer connection from the same address (the old one's
			// DTLS not closed yet) stays registered when the old closes.
			r2 := newDirectReceiver(e)
			r2.mu.Lock()
			r2.registerLocked(from)
			r2.mu.Unlock()
			r.close()
			if got := (*e.receivers.Load())[plainAddr(from)]; got != r2 {
				t.Error("closing a connection unregistered the newer one at its address")
			}
			if _, err := s.pop(buf); !errors.Is(err, io.EOF) {
				t.Errorf("pop after close: %v, want EOF", err)
			}
			_, enc = encrypt(12)
			if e.receiveDirect(enc, from) {
				t.Error("packet taken after close")
			}
		})
	}
}

// TestDirectStreamQueue: a stream holds at most directQueue packets for a
// layer that does not read, and hands them over in order.
func TestDirectStreamQueue(t *testing.T) {
	s := newDirectStream(1)
	for i := range directQueue + 10 {
		b := packetBuffer(2)
		(*b)[0], (*b)[1] = byte(i>>8), byte(i)
		s.push(b, 2)
	}
	buf := make([]byte, 2)
	for i := range directQueue {
		if n, err := s.pop(buf); err != nil || n != 2 || int(buf[0])<<8|int(buf[1]) != i {
			t.Fatalf("packet %d came out as %x (%v)", i, buf[:n], err)
		}
	}
	done := make(chan error)
	go func() {
		_, err := s.pop(buf)
		done <- err
	}()
	b := packetBuffer(2)
	s.push(b, 2)
	if err := <-done; err != nil {
		t.Fatalf("a waiting read: %v", err)
	}
	go func() {
		_, err := s.pop(buf)
		done <- err
	}()
	s.close()
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Fatalf("a read waiting at close: %v, want EOF", err)
	}
	s.close()
	s.push(packetBuffer(2), 2) // dropped, no panic
}

func TestDirectSSRCs(t *testing.T) {
	offer := "v=0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ssrc:11 cname:x\r\na=ssrc:11 msid:a b\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=ssrc:22 cname:x\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:2\r\na=ssrc-group:FID 33 34\r\na=ssrc:33 cname:x\r\na=ssrc:34 cname:x\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:3\r\na=ssrc:44 cname:x\r\na=ssrc:45 cname:x\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:4\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:5\r\na=ssrc:x cname:x\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:6\r\na=ssrc:55 cname:x\r\n"
	if got := directSSRCs(offer); !slices.Equal(got, []uint32{11, 55}) {
		t.Errorf("directSSRCs = %v, want [11 55]", got)
	}

	r := newDirectReceiver(&Engine{})
	many := make([]uint32, 40)
	for i := range many {
		many[i] = uint32(i + 1)
	}
	r.claim(many)
	if len(r.streams) != maxDirectStreams {
		t.Errorf("%d SSRCs claimed, want at most %d", len(r.streams), maxDirectStreams)
	}
	// A stream whose track ended is made again for an offer that sends
	// its SSRC again; the others stay.
	first, second := r.streams[1], r.streams[2]
	first.close()
	r.claim([]uint32{1, 2})
	if r.streams[1] == first || r.streams[1] == nil || r.streams[1].ended() || r.streams[2] != second {
		t.Error("claimed again: the ended stream not made again, or a live one replaced")
	}
	// Not switched: a claim is let go.
	if s := r.stream(1); s != nil || r.streams[1] != nil {
		t.Error("a connection not switched hands out its stream")
	}

	for answer, want := range map[string]int{
		"a=setup:active\r\n":                   1,
		"a=setup:passive\r\n":                  0,
		"a=setup:actpass\r\n":                  -1,
		"a=setup:active\na=setup:passive\r\n":  -1,
		"a=setup:active\r\na=setup:active\r\n": 1,
		"":                                     -1,
	} {
		client, err := setupActive(answer)
		if got := map[bool]int{true: 1, false: 0}[client]; err != nil && want != -1 || err == nil && got != want {
			t.Errorf("setupActive(%q) = %v, %v", answer, client, err)
		}
	}
}

// TestDirectRTCP: a subscriber's SRTCP from its address is decrypted and
// counted; replayed and forged packets are dropped; RTP from it is left
// to Pion.
func TestDirectRTCP(t *testing.T) {
	key, salt := bytes.Repeat([]byte{3}, 16), bytes.Repeat([]byte{4}, 12)
	sender, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm, srtp.SRTCPReplayProtection(64))
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{log: quietLog()}
	r := newDirectReceiver(e)
	r.active = true
	r.rtcp = newRTCPReceiver(newSubConn(nil), ctx)
	from := netip.MustParseAddrPort("192.0.2.7:6000")
	r.registerLocked(from)

	plain, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 5}, &rtcp.PictureLossIndication{SenderSSRC: 5, MediaSSRC: 77}})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := sender.EncryptRTCP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the packet, then its replay
		if !e.receiveDirect(enc, from) {
			t.Fatalf("RTCP packet %d not taken", i)
		}
	}
	forged := slices.Clone(enc)
	forged[len(forged)-5] ^= 1
	if !e.receiveDirect(forged, from) {
		t.Fatal("forged RTCP not taken")
	}
	if got, dropped := e.rtcpDirect.Load(), e.recvDropped.Load(); got != 1 || dropped != 2 {
		t.Errorf("%d RTCP packets read, %d dropped; want 1 and 2 (the replay, the forgery)", got, dropped)
	}
	rtpPkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 5}}).Marshal()
	if e.receiveDirect(rtpPkt, from) {
		t.Error("RTP from a subscriber taken")
	}
}

// readCounter counts the packets its remote streams read.
type readCounter struct {
	interceptor.NoOp
	read atomic.Int64
}

func (c *readCounter) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err == nil {
			c.read.Add(1)
		}
		return n, a, err
	})
}

// TestDirectStreamInline: while its work is light and nothing is queued,
// a packet is read through the interceptors and handled on the goroutine
// that pushes it, before push returns; otherwise by the layer's
// goroutine. Either way every packet is read through the interceptors
// once, one at a time, each pusher's in the order pushed.
func TestDirectStreamInline(t *testing.T) {
	s := newDirectStream(1)
	ic := &readCounter{}
	s.bind(ic, &interceptor.StreamInfo{SSRC: 1})
	var (
		light   atomic.Bool
		mu      sync.Mutex
		handled []uint16
		inline  []bool
		running atomic.Int32
		overlap atomic.Bool
	)
	onLayer := false // set by the layer's goroutine around its handling
	// Every fifth packet leaves work for later, which the layer's
	// goroutine does: never the pusher's, never beside a packet's.
	var laters, dues atomic.Int32
	var laterWhere atomic.Pointer[string]
	handle := func(raw []byte) bool {
		if running.Add(1) != 1 {
			overlap.Store(true)
		}
		runtime.Gosched() // room for another to come in, were it let
		seq := uint16(raw[0])<<8 | uint16(raw[1])
		mu.Lock()
		handled = append(handled, seq)
		inline = append(inline, !onLayer)
		mu.Unlock()
		running.Add(-1)
		if seq%5 == 0 && !onLayer {
			dues.Add(1)
			return true
		}
		return false
	}
	later := func() {
		if running.Add(1) != 1 {
			overlap.Store(true)
		}
		stack := make([]byte, 8192)
		if st := string(stack[:runtime.Stack(stack, false)]); strings.Contains(st, "(*directStream).push") || !strings.Contains(st, "(*directStream).pop") {
			laterWhere.Store(&st)
		}
		laters.Add(1)
		running.Add(-1)
	}
	s.handleInline(handle, light.Load, later)
	done := make(chan struct{})
	go func() { // the layer's goroutine: forward's loop
		defer close(done)
		buf := make([]byte, maxPacket)
		for {
			n, _, err := s.Read(buf)
			if err != nil {
				return
			}
			onLayer = true
			handle(buf[:n])
			onLayer = false
		}
	}()
	waitWaiting := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.mu.Lock()
			w := s.waiting && !s.busy && !s.due && len(s.queue) == s.head
			s.mu.Unlock()
			if w {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the layer's goroutine does not wait for packets")
			}
			runtime.Gosched()
		}
	}
	push := func(seq uint16) {
		b := packetBuffer(2)
		(*b)[0], (*b)[1] = byte(seq>>8), byte(seq)
		s.push(b, 2)
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(handled)
	}

	light.Store(true)
	for seq := range uint16(10) {
		waitWaiting() // the layer's goroutine may be doing what the last one left
		push(seq)
		if got := count(); got != int(seq)+1 {
			t.Fatalf("after the push of packet %d, %d packets handled: not inline", seq, got)
		}
	}
	light.Store(false)
	for seq := uint16(10); seq < 20; seq++ {
		push(seq)
	}
	for count() < 20 {
		runtime.Gosched()
	}
	mu.Lock()
	for i := range 20 {
		if handled[i] != uint16(i) || inline[i] != (i < 10) {
			t.Fatalf("packet %d handled as %d (inline %v), want %d (inline %v)", i, handled[i], inline[i], i, i < 10)
		}
	}
	mu.Unlock()

	// Two pushers (the socket's reader and the feed from Pion's track)
	// while the work turns light and heavy.
	const each = 2000
	var wg sync.WaitGroup
	for p := range 2 {
		wg.Go(func() {
			for i := range each {
				if p == 0 && i%7 == 0 {
					light.Store(i%2 == 0)
				}
				for { // not so fast that the queue drops packets; now and then, until the layer waits
					s.mu.Lock()
					queued, waits := len(s.queue)-s.head, s.waiting
					s.mu.Unlock()
					if queued < directQueue/2 && (i%4 != 0 || waits) {
						break
					}
					runtime.Gosched()
				}
				push(uint16(1000 + p*10000 + i))
			}
		})
	}
	wg.Wait()
	for count() < 20+2*each {
		runtime.Gosched()
	}
	s.close()
	<-done
	if overlap.Load() {
		t.Error("two packets were handled at once")
	}
	mu.Lock()
	defer mu.Unlock()
	last := [2]int{-1, -1}
	ins := 0
	for i, seq := range handled[20:] {
		p, n := 0, int(seq)-1000
		if n >= 10000 {
			p, n = 1, n-10000
		}
		if n <= last[p] {
			t.Fatalf("pusher %d's packet %d handled after its packet %d", p, n, last[p])
		}
		last[p] = n
		if inline[20+i] {
			ins++
		}
	}
	if got := ic.read.Load(); got != 20+2*each {
		t.Errorf("the interceptors read %d packets, want %d", got, 20+2*each)
	}
	if st := laterWhere.Load(); st != nil {
		t.Errorf("the work left for later ran elsewhere than the layer's goroutine waiting for a packet:\n%s", *st)
	}
	if n, d := laters.Load(), dues.Load(); n == 0 || n > d {
		t.Errorf("the work left for later ran %d times for %d packets handled inline that left it", n, d)
	}
	t.Logf("%d of %d packets of two pushers handled inline", ins, 2*each)
}

// TestDirectStreamAllocs: a packet handled inline, read through the
// interceptor of receiver reports and transport-wide feedback as a publish
// connection reads it, allocates nothing: its header is parsed once, into
// the stream's.
func TestDirectStreamAllocs(t *testing.T) {
	fb, err := feedback.Factory{}.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	chain := interceptor.NewChain([]interceptor.Interceptor{fb})
	defer chain.Close()
	chain.BindRTCPWriter(interceptor.RTCPWriterFunc(func([]rtcp.Packet, interceptor.Attributes) (int, error) { return 0, nil }))
	s := newDirectStream(1)
	s.bind(chain, &interceptor.StreamInfo{SSRC: 1, ClockRate: 48000,
		RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: feedback.URI, ID: 3}}})
	handled := 0
	s.handleInline(func([]byte) bool { handled++; return false }, func() bool { return true }, func() {})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, maxPacket)
		for {
			if _, _, err := s.Read(buf); err != nil {
				return
			}
		}
	}()
	defer func() { s.close(); <-done }()
	for {
		s.mu.Lock()
		w := s.waiting
		s.mu.Unlock()
		if w {
			break
		}
		runtime.Gosched()
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: 1}, Payload: make([]byte, 80)}
	if err := pkt.SetExtension(3, []byte{0, 0}); err != nil {
		t.Fatal(err)
	}
	raw, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	seq := uint16(0)
	push := func() { // the sequence numbers, timestamp and transport-wide number written in place
		seq++
		binary.BigEndian.PutUint16(raw[2:], seq)
		binary.BigEndian.PutUint32(raw[4:], uint32(seq)*960)
		binary.BigEndian.PutUint16(raw[12+4+1:], seq) // after the header, the extensions' header, the element's id and length
		b := packetBuffer(len(raw))
		copy(*b, raw)
		s.push(b, len(raw))
	}
	for range 100 {
		push()
	}
	allocs := testing.AllocsPerRun(500, push)
	if handled != 601 {
		t.Fatalf("%d packets handled inline, want 601", handled)
	}
	if allocs > 0.1 {
		t.Errorf("%.2f allocations per packet, want none", allocs)
	}
}
