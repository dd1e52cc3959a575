package sfu

import (
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestDirectAddr: only a pair whose local side is the shared UDP socket
// is sent to directly, at the remote candidate's address.
func TestDirectAddr(t *testing.T) {
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b := newBatchConn(udp)
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

// TestTrackClock: a sender report carries the publisher's own clock pair
// once it has sent one; before that, the RTP time is extrapolated from the
// latest packet's arrival; before any packet there is none.
func TestTrackClock(t *testing.T) {
	u := &UpTrack{codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{ClockRate: 48000}}, born: time.Now()}
	if _, _, ok := u.clock(time.Now()); ok {
		t.Fatal("a clock before any packet")
	}
	u.noteArrival(1000)
	now := time.Now().Add(500 * time.Millisecond)
	at, ts, ok := u.clock(now)
	if !ok || !at.Equal(now) {
		t.Fatalf("clock: %v %v", at, ok)
	}
	if d := int32(ts - (1000 + 24000)); d < -96 || d > 96 { // within 2 ms
		t.Errorf("RTP time half a second after the packet: %d, want about %d", ts, 1000+24000)
	}
	sr := SenderReport{NTP: time.Unix(1_700_000_000, 250_000_000), RTP: 123456}
	u.sr.Store(&sr)
	at, ts, _ = u.clock(now)
	if !at.Equal(sr.NTP) || ts != sr.RTP {
		t.Errorf("with the publisher's report: %v %d, want %v %d", at, ts, sr.NTP, sr.RTP)
	}
	for _, tm := range []time.Time{sr.NTP, time.Unix(0, 0), time.Unix(4_000_000_000, 999_999_999), time.Unix(2_085_978_496, 0)} {
		if back := ntpTime(ntpTimestamp(tm)); back.Sub(tm).Abs() > time.Microsecond {
			t.Errorf("NTP round trip of %v gives %v", tm, back)
		}
	}
}
