package sfu

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

const (
	audio = webrtc.RTPCodecTypeAudio
	video = webrtc.RTPCodecTypeVideo
)

// connsOf returns the participant's publish and subscribe connections.
func connsOf(p *Participant) (pub, sub *webrtc.PeerConnection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pub, p.sub
}

// sendingLines counts the m-lines of sdp on which the server sends.
func sendingLines(sdp string) int {
	return strings.Count(sdp, "a=sendrecv") + strings.Count(sdp, "a=sendonly")
}

// TestForwarding: a publisher's audio and video reach a subscriber who
// joins later, packet for packet as sent, rewritten to the subscriber's
// SSRC and without the publisher's header extensions, on the direct send
// path and on Pion's; nobody receives their own tracks; the counters
// follow; a publisher who leaves ends its tracks.
func TestForwarding(t *testing.T) {
	for _, mode := range []struct {
		name     string
		noDirect bool
	}{{"direct", false}, {"pion", true}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newTestEngine(t, mode.noDirect)
			room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
			a := join(t, room, "a")
			a.publish(audio, video)
			ua, uv := upOf(t, a.p, audio), upOf(t, a.p, video)
			eventually(t, "the SFU reads a's tracks", func() bool { return ua.Packets() > 0 && uv.Packets() > 0 })
			if got := a.sig.publishedList(); len(got) != 2 || !slices.Contains(got, ua) || !slices.Contains(got, uv) {
				t.Errorf("TrackPublished told %v, want a's two tracks", got)
			}
			if !a.p.Publishing() || ua.Owner() != a.p || ua.Codec().MimeType != webrtc.MimeTypeOpus || uv.Codec().MimeType != webrtc.MimeTypeVP8 {
				t.Errorf("a's tracks: publishing %v, owner %v, codecs %s and %s", a.p.Publishing(), ua.Owner().ID, ua.Codec().MimeType, uv.Codec().MimeType)
			}

			b := join(t, room, "b")
			waitDowns(t, b.p, ua.ID(), uv.ID())
			b.waitPackets(ua.ID(), 20)
			b.waitPackets(uv.ID(), 20)
			var got uint64
			for _, up := range []*UpTrack{ua, uv} {
				r := b.received(up.ID())
				got += uint64(r.packets)
				if r.from != "a" || r.kind != up.Kind() {
					t.Errorf("track %s came as %s from %q", up.ID(), r.kind, r.from)
				}
				if r.ssrc == uint32(up.layers[0].remote.SSRC()) {
					t.Errorf("track %s came with the publisher's SSRC", up.ID())
				}
				if r.badData != 0 || r.extended != 0 {
					t.Errorf("track %s: %d of %d packets not as sent, %d with header extensions",
						up.ID(), r.badData, r.packets, r.extended)
				}
			}
			if d := downsOf(a.p); len(d) != 0 {
				t.Errorf("a receives %v, its own tracks", d)
			}
			if b.p.Publishing() {
				t.Error("b publishes without an offer")
			}

			st := e.Stats()
			if st.UpTracks != 2 || st.DownTracks != 2 || st.RecordedTracks != 0 {
				t.Errorf("stats: %d up, %d down, %d recorded tracks; want 2, 2, 0", st.UpTracks, st.DownTracks, st.RecordedTracks)
			}
			// One subscriber, who sent no NACK: it was sent at least what it
			// received, and at most what the SFU had read (by the time of a
			// later count, packets arriving meanwhile).
			if later := e.Stats(); st.ForwardedPackets < got || st.ForwardedPackets > later.ReceivedPackets {
				t.Errorf("stats: %d packets forwarded, then %d read; b got %d", st.ForwardedPackets, later.ReceivedPackets, got)
			}
			if mode.noDirect && st.DirectConnections != 0 {
				t.Errorf("%d connections on the direct path with direct sending off", st.DirectConnections)
			}
			if !mode.noDirect && (st.DirectConnections == 0 || st.SocketSent == 0) {
				t.Errorf("direct path: %d connections, %d packets sent on the shared socket", st.DirectConnections, st.SocketSent)
			}
			// The audio is read on the direct receive path, the video
			// through Pion: their sum is what the SFU read.
			if _, direct := ua.layers[0].remote.(*directStream); mode.noDirect == direct {
				t.Errorf("audio read from %T with the direct path on: %v", ua.layers[0].remote, !mode.noDirect)
			}
			if _, direct := uv.layers[0].remote.(*directStream); direct {
				t.Error("video read on the direct receive path")
			}
			if mode.noDirect && st.DirectReceived != 0 || !mode.noDirect && (st.DirectReceived == 0 || st.DirectReceived > ua.Packets()) {
				t.Errorf("direct receive path: %d packets read, %d audio packets", st.DirectReceived, ua.Packets())
			}
			if st.DirectReceiveDropped != 0 {
				t.Errorf("direct receive path: %d packets dropped", st.DirectReceiveDropped)
			}
			if mode.noDirect && st.DirectRTCP != 0 {
				t.Errorf("%d subscribers' RTCP packets read on the direct path with it off", st.DirectRTCP)
			} else if !mode.noDirect {
				b.writeRTCP(&rtcp.ReceiverReport{SSRC: 1})
				eventually(t, "b's RTCP is read on the direct path", func() bool { return e.Stats().DirectRTCP > 0 })
			}

			a.close()
			eventually(t, "a's tracks end", func() bool { return ua.Closed() && uv.Closed() })
			waitDowns(t, b.p)
			eventually(t, "a leaves the room", func() bool { return room.Participants() == 1 })
			after := e.Stats()
			if after.UpTracks != 0 || after.DownTracks != 0 || after.ReceivedPackets < st.ReceivedPackets || after.ForwardedPackets < st.ForwardedPackets {
				t.Errorf("stats once a left: %+v; before: %+v", after, st)
			}
		})
	}
}

// TestRenegotiation: a track published later reaches a subscriber on the
// same subscribe connection, renegotiated; when the publisher leaves, the
// subscriber is offered a connection that sends nothing.
func TestRenegotiation(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	b := join(t, room, "b")
	a := join(t, room, "a")
	a.publish(audio)
	ua := upOf(t, a.p, audio)
	waitDowns(t, b.p, ua.ID())
	b.waitPackets(ua.ID(), 10)
	offers := b.sig.offerCount()

	a.publish(video) // a second offer on a's publish connection
	uv := upOf(t, a.p, video)
	waitDowns(t, b.p, ua.ID(), uv.ID())
	b.waitPackets(uv.ID(), 10)
	b.waitPackets(ua.ID(), 10)
	if n := b.sig.offerCount(); n <= offers {
		t.Errorf("b was sent no new offer for a's video (%d offers before, %d after)", offers, n)
	}
	if n := sendingLines(b.sig.lastOffer()); n != 2 {
		t.Errorf("b's offer sends on %d m-lines, want 2", n)
	}
	b.mu.Lock()
	conns := b.subs
	b.mu.Unlock()
	if conns != 1 {
		t.Errorf("b has had %d subscribe connections, want 1, renegotiated", conns)
	}
	if n := len(a.sig.publishedList()); n != 2 {
		t.Errorf("TrackPublished told %d tracks, want 2", n)
	}

	a.close()
	waitDowns(t, b.p)
	if n := sendingLines(b.sig.lastOffer()); n != 0 {
		t.Errorf("once a left, b's offer still sends on %d m-lines", n)
	}
	if n := room.Participants(); n != 1 {
		t.Errorf("%d participants once a left, want 1", n)
	}
}

// TestRetransmission: a subscriber's NACK is answered from the packet
// cache with the very packets it names; one for a packet never sent is
// ignored.
func TestRetransmission(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	a.publish(video)
	uv := upOf(t, a.p, video)
	b := join(t, room, "b")
	waitDowns(t, b.p, uv.ID())
	b.waitPackets(uv.ID(), 10)

	r := b.received(uv.ID())
	last := r.lastSeq
	// Never sent (the first was 1000), or long overwritten in the cache.
	missing := last - 700
	missed := b.timesReceived(uv.ID(), missing)
	for _, seq := range []uint16{last, last - 3} {
		if n := b.timesReceived(uv.ID(), seq); n != 1 {
			t.Fatalf("packet %d came %d times before any NACK", seq, n)
		}
	}
	b.writeRTCP(&rtcp.TransportLayerNack{MediaSSRC: r.ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{missing})})
	b.writeRTCP(&rtcp.TransportLayerNack{MediaSSRC: r.ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{last - 3, last})})
	eventually(t, "the NACKed packets come again", func() bool {
		return b.timesReceived(uv.ID(), last) == 2 && b.timesReceived(uv.ID(), last-3) == 2
	})
	if n := b.timesReceived(uv.ID(), missing); n != missed {
		t.Errorf("packet %d, not in the cache, came again (%d times, %d before the NACK)", missing, n, missed)
	}
	if n := b.timesReceived(uv.ID(), last-1); n != 1 {
		t.Errorf("packet %d, not NACKed, came %d times", last-1, n)
	}
	if r := b.received(uv.ID()); r.badData != 0 || r.rtx != 2 {
		t.Errorf("%d packets not as sent; %d came on the RTX stream, want the 2 retransmissions", r.badData, r.rtx)
	}
	// The NACKs were read off the shared socket, not by a goroutine of
	// the down track's.
	if st := e.Stats(); st.DirectRTCP < 2 || st.DirectReceiveDropped != 0 {
		t.Errorf("%d RTCP packets read on the direct path, %d dropped", st.DirectRTCP, st.DirectReceiveDropped)
	}
}

// TestKeyframeRequests: a new subscriber's connection asks the publisher
// for a keyframe, and so do a subscriber's PLI and FIR, the second one
// deferred by the throttle but not lost.
func TestKeyframeRequests(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	sent := a.publish(video)[0]
	uv := upOf(t, a.p, video)
	b := join(t, room, "b")
	waitDowns(t, b.p, uv.ID())
	b.waitPackets(uv.ID(), 5)
	eventually(t, "a gets a PLI for b's new connection", func() bool { return sent.plis.Load() >= 1 })

	ssrc := b.received(uv.ID()).ssrc
	n := sent.plis.Load()
	b.writeRTCP(&rtcp.PictureLossIndication{MediaSSRC: ssrc})
	eventually(t, "a gets b's PLI", func() bool { return sent.plis.Load() > n })
	n = sent.plis.Load()
	b.writeRTCP(&rtcp.FullIntraRequest{MediaSSRC: ssrc, FIR: []rtcp.FIREntry{{SSRC: ssrc, SequenceNumber: 1}}})
	eventually(t, "a gets a PLI for b's FIR", func() bool { return sent.plis.Load() > n })
}

// TestSenderReports: the publisher's sender report is kept, and each
// subscriber gets sender reports with its clock pair and the counts of
// what it was sent, on the direct path (where Pion's SRTP sessions of the
// subscribe connection are closed) and on Pion's.
func TestSenderReports(t *testing.T) {
	for _, mode := range []struct {
		name     string
		noDirect bool
	}{{"direct", false}, {"pion", true}} {
		t.Run(mode.name, func(t *testing.T) { testSenderReports(t, mode.noDirect) })
	}
}

func testSenderReports(t *testing.T, noDirect bool) {
	e := newTestEngine(t, noDirect)
	room := newTestRoom(t, e, RoomOptions{Live: true})
	a := join(t, room, "a")
	sent := a.publish(audio)[0]
	ua := upOf(t, a.p, audio)
	if _, ok := ua.LastSenderReport(); ok {
		t.Fatal("a sender report before the publisher sent one")
	}
	eventually(t, "the SFU reads a's audio", func() bool { return ua.Packets() > 0 })
	ntp := time.Date(2031, 5, 6, 7, 8, 9, 250_000_000, time.UTC)
	a.writePublishRTCP(&rtcp.SenderReport{SSRC: sent.ssrc, NTPTime: ntpTimestamp(ntp), RTPTime: 4242, PacketCount: 1, OctetCount: 100})
	var kept SenderReport
	eventually(t, "the SFU keeps a's sender report", func() bool {
		var ok bool
		kept, ok = ua.LastSenderReport()
		return ok
	})
	if kept.RTP != 4242 || kept.NTP.Sub(ntp).Abs() > time.Microsecond || kept.Arrival.IsZero() {
		t.Errorf("kept %+v, want NTP %v and RTP 4242", kept, ntp)
	}
	// Read on the direct path, where it is on, and answered by the
	// receiver reports either way.
	if direct := e.Stats().DirectRTCP; noDirect != (direct == 0) {
		t.Errorf("%d RTCP packets read on the direct path (off: %v)", direct, noDirect)
	}
	eventually(t, "a's receiver report answers its sender report", func() bool {
		return sent.lsr.Load() == uint32(ntpTimestamp(ntp)>>16)
	})

	b := join(t, room, "b")
	waitDowns(t, b.p, ua.ID())
	b.waitPackets(ua.ID(), 5)
	var sr rtcp.SenderReport
	eventually(t, "b gets a sender report", func() bool {
		reports := b.received(ua.ID()).reports
		if len(reports) == 0 {
			return false
		}
		sr = reports[len(reports)-1]
		return true
	})
	if want := b.received(ua.ID()).ssrc; sr.SSRC != want {
		t.Errorf("sender report for SSRC %d, want b's %d", sr.SSRC, want)
	}
	if sr.RTPTime != 4242 || ntpTime(sr.NTPTime).Sub(ntp).Abs() > time.Microsecond {
		t.Errorf("sender report maps %v to %d, want a's %v to 4242", ntpTime(sr.NTPTime), sr.RTPTime, ntp)
	}
	if sr.PacketCount == 0 || sr.OctetCount != sr.PacketCount*audioPayload {
		t.Errorf("sender report counts %d packets, %d octets; want packets of %d bytes", sr.PacketCount, sr.OctetCount, audioPayload)
	}
	b.p.mu.Lock()
	conn := b.p.subConn
	b.p.mu.Unlock()
	if noDirect {
		if conn.released.Load() {
			t.Error("Pion's SRTP sessions closed on a connection on Pion's path")
		}
		return
	}
	eventually(t, "Pion's SRTP sessions of b's subscribe connection are closed", conn.released.Load)
	rtpSess, rtcpSess, ok := srtpSessionsOf(conn.pc.SCTP().Transport())
	if !ok {
		t.Fatal("no SRTP sessions in Pion")
	}
	if _, _, err := rtpSess.AcceptStream(); err == nil {
		t.Error("Pion's SRTP session still accepts streams")
	}
	if _, _, err := rtcpSess.AcceptStream(); err == nil {
		t.Error("Pion's SRTCP session still accepts streams")
	}
	// The reports keep coming, and b's RTCP is still read.
	n := len(b.received(ua.ID()).reports)
	eventually(t, "b gets another sender report", func() bool { return len(b.received(ua.ID()).reports) > n })
	read := e.Stats().DirectRTCP
	b.writeRTCP(&rtcp.ReceiverReport{SSRC: 1})
	eventually(t, "b's RTCP is read on the direct path", func() bool { return e.Stats().DirectRTCP > read })
}

// TestPartners: two participants in a call hear each other and nobody
// else, and nobody else hears them; a new call ends the old one; ending
// the call restores the room's policy.
func TestPartners(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true})
	a, b, c := join(t, room, "a"), join(t, room, "b"), join(t, room, "c")
	for _, cl := range []*testClient{a, b, c} {
		cl.publish(audio)
	}
	ua, ub, uc := upOf(t, a.p, audio), upOf(t, b.p, audio), upOf(t, c.p, audio)
	waitDowns(t, a.p, ub.ID(), uc.ID())
	waitDowns(t, b.p, ua.ID(), uc.ID())
	waitDowns(t, c.p, ua.ID(), ub.ID())

	room.SetPartners(a.p, b.p)
	waitDowns(t, a.p, ub.ID())
	waitDowns(t, b.p, ua.ID())
	waitDowns(t, c.p)
	b.waitPackets(ua.ID(), 10)
	a.waitPackets(ub.ID(), 10)

	// a calls c: b's call ends, and b hears nobody, everyone else being
	// in a call.
	room.SetPartners(a.p, c.p)
	waitDowns(t, a.p, uc.ID())
	waitDowns(t, c.p, ua.ID())
	waitDowns(t, b.p)
	c.waitPackets(ua.ID(), 10)
	if n := e.Stats().DownTracks; n != 2 {
		t.Errorf("%d down tracks during a's call with c, want 2", n)
	}

	room.SetPartners(a.p, nil)
	waitDowns(t, a.p, ub.ID(), uc.ID())
	waitDowns(t, b.p, ua.ID(), uc.ID())
	waitDowns(t, c.p, ua.ID(), ub.ID())
	b.waitPackets(ua.ID(), 10)
	b.waitPackets(uc.ID(), 10)
}

// TestPartnersInClipRoom: in a clip room nobody hears anyone, except
// partners in a call.
func TestPartnersInClipRoom(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{})
	a, b := join(t, room, "a"), join(t, room, "b")
	a.publish(audio)
	b.publish(audio)
	ua, ub := upOf(t, a.p, audio), upOf(t, b.p, audio)
	eventually(t, "the SFU reads both tracks", func() bool { return ua.Packets() > 0 && ub.Packets() > 0 })
	if d := append(downsOf(a.p), downsOf(b.p)...); len(d) != 0 {
		t.Fatalf("someone in a clip room receives %v", d)
	}
	room.SetPartners(b.p, a.p)
	waitDowns(t, a.p, ub.ID())
	waitDowns(t, b.p, ua.ID())
	a.waitPackets(ub.ID(), 10)
	b.waitPackets(ua.ID(), 10)
}

// TestFailedSubscribeConnection: a subscribe connection that fails is
// replaced by a new one carrying the same tracks; a failure reported for
// a connection already replaced does nothing.
func TestFailedSubscribeConnection(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true})
	a := join(t, room, "a")
	a.publish(audio)
	ua := upOf(t, a.p, audio)
	b := join(t, room, "b")
	waitDowns(t, b.p, ua.ID())
	b.waitPackets(ua.ID(), 5)

	_, old := connsOf(b.p)
	b.p.subscribeFailed(old)
	if got := b.sig.problemList(); !slices.Equal(got, []string{"subscribe media-failed"}) {
		t.Errorf("b was told %v, want the subscribe connection's failure", got)
	}
	eventually(t, "b gets a new subscribe connection", func() bool {
		_, sub := connsOf(b.p)
		return sub != nil && sub != old
	})
	waitDowns(t, b.p, ua.ID())
	eventually(t, "a's audio comes on b's new connection", func() bool { return b.received(ua.ID()).conn == 2 })
	b.waitPackets(ua.ID(), 10)
	eventually(t, "the failed connection closes", func() bool { return old.ConnectionState() == webrtc.PeerConnectionStateClosed })

	_, current := connsOf(b.p)
	b.p.subscribeFailed(old)
	if _, sub := connsOf(b.p); sub != current || len(b.sig.problemList()) != 1 {
		t.Error("a failure of a connection already replaced changed the subscription")
	}
}

// TestFailedPublishConnection: a publish connection that fails ends its
// tracks, which leave every subscriber; the client can publish again with
// a new offer.
func TestFailedPublishConnection(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	a.publish(audio, video)
	ua, uv := upOf(t, a.p, audio), upOf(t, a.p, video)
	b := join(t, room, "b")
	waitDowns(t, b.p, ua.ID(), uv.ID())
	b.waitPackets(ua.ID(), 5)

	old, _ := connsOf(a.p)
	a.p.publishFailed(old)
	if a.p.Publishing() {
		t.Error("a still publishes on a failed connection")
	}
	if got := a.sig.problemList(); !slices.Equal(got, []string{"publish media-failed"}) {
		t.Errorf("a was told %v, want the publish connection's failure", got)
	}
	eventually(t, "a's tracks end", func() bool { return ua.Closed() && uv.Closed() && len(a.p.UpTracks()) == 0 })
	waitDowns(t, b.p)
	a.p.publishFailed(old)
	if n := len(a.sig.problemList()); n != 1 {
		t.Errorf("a failure of a connection already replaced was reported (%d problems)", n)
	}

	a.unpublish()
	a.publish(audio)
	ua2 := upOf(t, a.p, audio)
	if ua2 == ua {
		t.Fatal("the ended track came back")
	}
	waitDowns(t, b.p, ua2.ID())
	b.waitPackets(ua2.ID(), 10)
}

// TestTrackRefusals: a video track in a room without video, and a track
// over the room's limit, are refused, and the publisher is told why.
func TestTrackRefusals(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, MaxUpTracks: 1})
	a := join(t, room, "a")
	a.publish(audio, audio, video)
	eventually(t, "a is told of both refusals", func() bool { return len(a.sig.problemList()) == 2 })
	got := a.sig.problemList()
	slices.Sort(got)
	if want := []string{"publish too-many-tracks", "publish video-not-allowed"}; !slices.Equal(got, want) {
		t.Errorf("a was told %v, want %v", got, want)
	}
	if ups := a.p.UpTracks(); len(ups) != 1 || ups[0].Kind() != audio {
		t.Errorf("a publishes %d tracks, want one audio track", len(ups))
	}
}

// sinkRecorder is a Sink that checks and counts what it is given.
type sinkRecorder struct {
	kind    webrtc.RTPCodecType
	packets chan int // the payload's length, or -1 for a packet not as sent
}

func (s *sinkRecorder) WriteRTP(p *rtp.Packet) {
	n := len(p.Payload)
	if string(p.Payload) != string(testPayload(s.kind, p.SequenceNumber)) {
		n = -1
	}
	select {
	case s.packets <- n:
	default:
	}
}

// TestSink: a sink gets the track's packets as published until it is
// removed, and none once the packet being forwarded meanwhile is done.
func TestSink(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{})
	a := join(t, room, "a")
	a.publish(audio)
	ua := upOf(t, a.p, audio)
	s := &sinkRecorder{kind: audio, packets: make(chan int, 10_000)}
	ua.AddSink(s)
	for range 10 {
		select {
		case n := <-s.packets:
			if n != audioPayload {
				t.Fatalf("the sink got a packet not as sent (%d)", n)
			}
		case <-time.After(testTimeout):
			t.Fatal("never happened: the sink gets packets")
		}
	}
	if n := e.Stats().RecordedTracks; n != 1 {
		t.Errorf("%d recorded tracks, want 1", n)
	}
	ua.RemoveSink(s)
	// The packet being forwarded while RemoveSink ran may still be given
	// to the sink; the one after next is read only once that is done.
	from := ua.Packets()
	eventually(t, "2 more packets of a's audio", func() bool { return ua.Packets() >= from+2 })
	for len(s.packets) > 0 {
		<-s.packets
	}
	from = ua.Packets()
	eventually(t, "10 more packets of a's audio", func() bool { return ua.Packets() >= from+10 })
	if n := len(s.packets); n != 0 {
		t.Errorf("the sink got %d packets after RemoveSink", n)
	}
	if n := e.Stats().RecordedTracks; n != 0 {
		t.Errorf("%d recorded tracks once the sink left, want 0", n)
	}
}

// TestLeaveWaitsForItsGoroutines: once Leave returns, nothing that the
// participant started runs, even with a failed connection being closed
// and replaced.
func TestLeaveWaitsForItsGoroutines(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	a.publish(video)
	uv := upOf(t, a.p, video)
	b := join(t, room, "b")
	waitDowns(t, b.p, uv.ID())
	b.waitPackets(uv.ID(), 5)

	// b alone subscribes, a alone publishes.
	_, sub := connsOf(b.p)
	b.p.subscribeFailed(sub)
	b.p.Leave()
	if left := ownedRunning([]string{
		"parley/sfu.(*congestion).run",
		"parley/sfu.(*DownTrack).readRTCP",
		"parley/sfu.(*Participant).subscribeFailed.func",
		"parley/sfu.(*Room).resubscribe",
	}); len(left) > 0 {
		t.Errorf("running after the subscriber left:\n%s", strings.Join(left, "\n\n"))
	}

	pub, _ := connsOf(a.p)
	uv.RequestKeyframe() // a deferred request may be pending
	a.p.publishFailed(pub)
	a.p.Leave()
	if left := ownedRunning(ownedGoroutines); len(left) > 0 {
		t.Errorf("running after the publisher left:\n%s", strings.Join(left, "\n\n"))
	}
}

// TestNoGoroutineLeftAfterClose: once Room.Close returns, nothing of the
// room runs, even with failed connections being closed and replaced;
// once the clients and the engine are closed too, neither the SFU nor
// Pion has a goroutine left.
func TestNoGoroutineLeftAfterClose(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a, b, c := join(t, room, "a"), join(t, room, "b"), join(t, room, "c")
	a.publish(audio, video)
	b.publish(audio)
	ua, uv, ub := upOf(t, a.p, audio), upOf(t, a.p, video), upOf(t, b.p, audio)
	waitDowns(t, a.p, ub.ID())
	waitDowns(t, b.p, ua.ID(), uv.ID())
	waitDowns(t, c.p, ua.ID(), uv.ID(), ub.ID())
	c.waitPackets(uv.ID(), 5)
	c.waitPackets(ub.ID(), 5)

	_, sub := connsOf(c.p)
	c.p.subscribeFailed(sub)
	pub, _ := connsOf(b.p)
	b.p.publishFailed(pub)
	room.Close()
	if left := ownedRunning(ownedGoroutines); len(left) > 0 {
		t.Errorf("running after Room.Close:\n%s", strings.Join(left, "\n\n"))
	}
	if n := room.Participants(); n != 0 {
		t.Errorf("%d participants after Close", n)
	}
	if _, err := room.Join("d", "d", nopSignaler{}); !errors.Is(err, ErrRoomClosed) {
		t.Errorf("Join after Close: %v, want ErrRoomClosed", err)
	}

	for _, cl := range []*testClient{a, b, c} {
		cl.close()
	}
	if err := e.Close(); err != nil {
		t.Errorf("close the engine: %v", err)
	}
	deadline := time.Now().Add(testTimeout)
	for {
		left := mediaGoroutines()
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never happened: every media goroutine ends; left:\n%s", strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTWCCFeedback: a publisher that numbers its packets transport-wide,
// as browsers do, gets TWCC feedback for its audio and its video, from
// which it estimates its uplink.
func TestTWCCFeedback(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	a.api = twccClientAPI(t)
	sent := a.publish(audio, video)
	ua, uv := upOf(t, a.p, audio), upOf(t, a.p, video)
	eventually(t, "the SFU reads a's tracks", func() bool { return ua.Packets() > 0 && uv.Packets() > 0 })
	// A feedback names the SSRC of the last packet it counts (as
	// libwebrtc's does): each track alone for a while, so that the
	// feedback names it.
	for i, st := range sent {
		other := sent[1-i]
		other.paused.Store(true)
		eventually(t, fmt.Sprintf("a gets TWCC feedback for its %s", st.kind), func() bool { return st.twcc.Load() > 0 })
		other.paused.Store(false)
	}
}

// twccClientAPI is clientAPI with the transport-wide sequence number
// offered and written on every packet sent.
func twccClientAPI(t *testing.T) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(me, ir); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir))
}

// TestNackToPublisher: a video packet lost on its way from the publisher
// is asked for again (a NACK), the NACK generator made for the video
// stream alone (onDemand).
func TestNackToPublisher(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	sent := a.publish(audio, video)
	uv := upOf(t, a.p, video)
	eventually(t, "the SFU reads a's video", func() bool { return uv.Packets() > 0 })
	sent[1].skip.Store(true)
	eventually(t, "a gets a NACK for the video packet lost", func() bool { return sent[1].nacks.Load() > 0 })
}

// TestKeyframeOnceConnected: a new subscriber's keyframe is asked of the
// publisher once its connection is up, not when its track is bound, as
// the answer to that request would come before it could be received,
// and the throttle would hold back the next request for half a second.
func TestKeyframeOnceConnected(t *testing.T) {
	e := newTestEngine(t, false)
	room := newTestRoom(t, e, RoomOptions{Live: true, AllowVideo: true})
	a := join(t, room, "a")
	sent := a.publish(video)[0]
	uv := upOf(t, a.p, video)
	eventually(t, "the SFU reads a's video", func() bool { return uv.Packets() > 0 })
	var (
		bp     atomic.Pointer[Participant]
		mu     sync.Mutex
		states []webrtc.PeerConnectionState
	)
	hook := func() {
		state := webrtc.PeerConnectionStateNew
		if p := bp.Load(); p != nil {
			p.mu.Lock()
			pc := p.sub
			p.mu.Unlock()
			if pc != nil {
				state = pc.ConnectionState()
			}
		}
		mu.Lock()
		states = append(states, state)
		mu.Unlock()
	}
	sent.onPLI.Store(&hook)
	b := join(t, room, "b")
	bp.Store(b.p)
	waitDowns(t, b.p, uv.ID())
	b.waitPackets(uv.ID(), 5)
	eventually(t, "a gets a PLI for b", func() bool { return sent.plis.Load() >= 1 })
	mu.Lock()
	defer mu.Unlock()
	if states[0] != webrtc.PeerConnectionStateConnected {
		t.Errorf("the first keyframe request for b came while its connection was %s", states[0])
	}
}
