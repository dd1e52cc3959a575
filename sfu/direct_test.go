package sfu

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// TestDirectAddr: only a pair whose local side is the shared UDP socket
// is sent to directly, at the remote candidate's address.
func TestDirectAddr(t *testing.T) {
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBatchConn(udp, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e := &Engine{batch: b}
	port := uint16(udp.LocalAddr().(*net.UDPAddr).Port)
	cand := func(proto webrtc.ICEProtocol, typ webrtc.ICECandidateType, addr string, port uint16) *webrtc.ICECandidate {
		return &webrtc.ICECandidate{Protocol: proto, Typ: typ, Address: addr, Port: port}
	}
	host := cand(webrtc.ICEProtocolUDP, webrtc.ICECandidateTypeHost, "127.0.0.1", port)
	remote := cand(webrtc.ICEProtocolUDP, webrtc.ICECandidateTypeSrflx, "192.0.2.7", 40000)
	for _, tc := range []struct {
		name string
		pair *webrtc.ICECandidatePair
		want string
	}{
		{"host to srflx", &webrtc.ICECandidatePair{Local: host, Remote: remote}, "192.0.2.7:40000"},
		{"to a relay", &webrtc.ICECandidatePair{Local: host, Remote: cand(webrtc.ICEProtocolUDP, webrtc.ICECandidateTypeRelay, "198.51.100.1", 3478)}, "198.51.100.1:3478"},
		{"IPv6 remote", &webrtc.ICECandidatePair{Local: host, Remote: cand(webrtc.ICEProtocolUDP, webrtc.ICECandidateTypeHost, "2001:db8::1", 5000)}, "[2001:db8::1]:5000"},
		{"ICE-TCP", &webrtc.ICECandidatePair{Local: cand(webrtc.ICEProtocolTCP, webrtc.ICECandidateTypeHost, "127.0.0.1", port), Remote: remote}, ""},
		{"another local port", &webrtc.ICECandidatePair{Local: cand(webrtc.ICEProtocolUDP, webrtc.ICECandidateTypeHost, "127.0.0.1", port+1), Remote: remote}, ""},
		{"mDNS name", &webrtc.ICECandidatePair{Local: host, Remote: cand(webrtc.ICEProtocolUDP, webrtc.ICECandidateTypeHost, "x.local", 5000)}, ""},
		{"no pair", nil, ""},
	} {
		got, ok := e.directAddr(tc.pair)
		if (tc.want == "") == ok || (ok && got.String() != tc.want) {
			t.Errorf("%s: got %v, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
	if _, ok := (&Engine{}).directAddr(&webrtc.ICECandidatePair{Local: host, Remote: remote}); ok {
		t.Error("an engine without a shared socket sends directly")
	}
}

// TestDTLSClient: the DTLS role follows the remote description's setup.
func TestDTLSClient(t *testing.T) {
	for sdp, want := range map[string]string{
		"v=0\r\na=setup:active\r\n":                           "server",
		"v=0\r\na=setup:passive\r\n":                          "client",
		"v=0\r\na=setup:active\r\na=setup:active\r\n":         "server",
		"v=0\r\na=setup:actpass\r\n":                          "error",
		"v=0\r\n":                                             "error",
		"v=0\r\na=setup:active\r\nm=x\r\na=setup:passive\r\n": "error",
	} {
		client, err := dtlsClient(sdp)
		got := map[bool]string{true: "client", false: "server"}[client]
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("%q: %s, want %s", sdp, got, want)
		}
	}
}

// TestTrackClock: a track's sender reports carry the publisher's own clock
// pair when it sends sender reports; a track whose publisher has sent none
// by clockWait after its first packet extrapolates the RTP time from the
// latest packet's arrival, and keeps doing so. Before that, and before any
// packet, there is no clock.
func TestTrackClock(t *testing.T) {
	newTrack := func(born time.Time) *streamClock {
		return &streamClock{rate: 48000, born: born}
	}
	sr := SenderReport{NTP: time.Unix(1_700_000_000, 250_000_000), RTP: 123456}

	u := newTrack(time.Now())
	if _, _, ok := u.clock(time.Now()); ok {
		t.Fatal("a clock before any packet")
	}
	u.noteArrival(time.Now(), 1000)
	if _, _, ok := u.clock(time.Now().Add(time.Second)); ok {
		t.Fatal("a clock from arrivals before the publisher had clockWait to send its own")
	}
	// Tracks older than the arrival field's 24.8 days are measured too.
	for _, born := range []time.Time{time.Now(), time.Now().Add(-30 * 24 * time.Hour)} {
		u := newTrack(born)
		u.noteArrival(time.Now(), 1000)
		now := time.Now().Add(clockWait + 500*time.Millisecond)
		at, ts, ok := u.clock(now)
		if !ok || !at.Equal(now) {
			t.Fatalf("born %v: clock %v %v", born, at, ok)
		}
		want := uint32(1000 + 48000*(clockWait+500*time.Millisecond)/time.Second)
		if d := int32(ts - want); d < -96 || d > 96 { // within 2 ms
			t.Errorf("born %v: RTP time %d, want about %d", born, ts, want)
		}
		u.sr.Store(&sr)
		if at, _, _ := u.clock(now); !at.Equal(now) {
			t.Error("a late publisher's sender report changed a track's clock that was decided")
		}
	}

	u = newTrack(time.Now())
	u.noteArrival(time.Now(), 1000)
	u.sr.Store(&sr)
	at, ts, ok := u.clock(time.Now())
	if !ok || !at.Equal(sr.NTP) || ts != sr.RTP {
		t.Errorf("with the publisher's report: %v %d, want %v %d", at, ts, sr.NTP, sr.RTP)
	}

	for _, tm := range []time.Time{sr.NTP, time.Unix(0, 0), time.Unix(4_000_000_000, 999_999_999), time.Unix(2_085_978_496, 0)} {
		if back := ntpTime(ntpTimestamp(tm)); back.Sub(tm).Abs() > time.Microsecond {
			t.Errorf("NTP round trip of %v gives %v", tm, back)
		}
	}
}

// testDirectSender makes a direct sender on a shared socket of its own
// to in, a socket on 127.0.0.1, and the SRTP context that decrypts what
// it sends; all closed when the test ends.
func testDirectSender(t *testing.T) (*directSender, *net.UDPConn, *srtp.Context) {
	t.Helper()
	out, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBatchConn(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	in, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	key, salt := make([]byte, 16), make([]byte, 12)
	for i := range key {
		key[i] = byte(i + 1)
	}
	enc, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	s := &directSender{out: b, ctx: enc}
	to := in.LocalAddr().(*net.UDPAddr).AddrPort()
	s.addr.Store(&to)
	return s, in, dec
}

// TestDirectSenderPackets: what the direct path sends decrypts, with the
// same keys, to the packet it was given: header, payload and padding (a
// padding-only probe included); a packet too large is refused; nothing is
// sent once the sender has ended.
func TestDirectSenderPackets(t *testing.T) {
	s, in, dec := testDirectSender(t)
	to := *s.addr.Load()

	var cases []rtp.Packet
	for i, c := range []struct {
		payload int
		padding byte
	}{{80, 0}, {1000, 4}, {0, 224}} {
		raw, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(65534 + i),
			Timestamp: 9000, SSRC: 77, Padding: c.padding > 0, PaddingSize: c.padding}, Payload: make([]byte, c.payload)}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var p rtp.Packet // parsed, as the forwarding goroutine has it
		if err := p.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		for j := range p.Payload {
			p.Payload[j] = byte(i + j)
		}
		cases = append(cases, p)
		if !s.writeRTP(&p.Header, p.Payload) {
			t.Fatalf("packet %d not sent", i)
		}
	}
	_ = in.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2000)
	for i, want := range cases {
		n, err := in.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := dec.DecryptRTP(nil, buf[:n], nil)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		var got rtp.Packet
		if err := got.Unmarshal(plain); err != nil {
			t.Fatalf("packet %d does not parse: %v", i, err)
		}
		if got.SequenceNumber != want.SequenceNumber || got.SSRC != want.SSRC || got.PaddingSize != want.PaddingSize ||
			string(got.Payload) != string(want.Payload) {
			t.Errorf("packet %d: got seq %d ssrc %d padding %d payload %d bytes; want %d %d %d %d", i,
				got.SequenceNumber, got.SSRC, got.PaddingSize, len(got.Payload),
				want.SequenceNumber, want.SSRC, want.PaddingSize, len(want.Payload))
		}
	}
	if s.writeRTP(&rtp.Header{Version: 2, SSRC: 77}, make([]byte, maxPacket)) {
		t.Error("a packet larger than the buffer was sent")
	}
	s.end()
	if s.writeRTP(&cases[0].Header, cases[0].Payload) {
		t.Error("sent after end")
	}
	if left := s.follow(to, true); left || s.addr.Load() != nil {
		t.Error("a pair change after end brought the address back")
	}
}

// TestDirectForwardLevel: an audio packet forwarded on the direct path
// (see benchUp: with its level and a transport-wide sequence number) is
// sent, encrypted, with both in one one-byte header.
func TestDirectForwardLevel(t *testing.T) {
	s, in, dec := testDirectSender(t)
	u, _ := benchUp(1, false, true)
	(*u.downs.Load())[0].conn.direct.Store(s)
	var pkt rtp.Packet
	u.handle(u.layers[0], rawPacket(), &pkt)
	_ = in.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2000)
	n, err := in.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := dec.DecryptRTP(nil, buf[:n], nil)
	if err != nil {
		t.Fatal(err)
	}
	var got rtp.Packet
	if err := got.Unmarshal(plain); err != nil {
		t.Fatal(err)
	}
	lv, seq := got.GetExtension(2), got.GetExtension(3)
	if len(got.Extensions) != 2 || !bytes.Equal(lv, []byte{0x80}) || len(seq) != 2 || got.ExtensionProfile != rtp.ExtensionProfileOneByte {
		t.Fatalf("sent with extensions %v (profile %#x): level %x, sequence number %x", got.GetExtensionIDs(), got.ExtensionProfile, lv, seq)
	}
}
