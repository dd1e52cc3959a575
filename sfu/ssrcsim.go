package sfu

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// SSRC-based simulcast: a publisher that declares the encodings of one
// video by their SSRCs, grouped in the offer by "a=ssrc-group:SIM" (RFC
// 5576), from the lowest resolution to the highest, and sends no rid in
// its packets. Pion makes a track of the group's first SSRC only and
// leaves the others unread; the SFU reads them itself (ssrcStream), each
// as a layer of the same up track, through the connection's interceptors
// (receiver reports, transport-wide feedback) like Pion's own tracks.

// rtpStream is what a layer reads its packets from: Pion's track, or
// the SFU's own stream of one SSRC.
type rtpStream interface {
	SSRC() webrtc.SSRC
	Read(b []byte) (int, interceptor.Attributes, error)
}

// simGroup is the SIM group of an m-section: its SSRCs, from the lowest
// resolution to the highest, and the RTX SSRC of each that has one.
type simGroup struct {
	ssrcs []uint32
	rtx   map[uint32]uint32
}

// simGroups returns, by mid, the SIM group of each m-section of an offer
// that has one (the first, if several), and the offer as Pion is to see
// it: with only the first SSRC of each group (and its RTX), as Pion
// takes several SSRCs in one m-section for Plan B and refuses the offer.
func simGroups(offer string) (string, map[string]simGroup) {
	sections := strings.SplitAfter(offer, "\nm=")
	var groups map[string]simGroup
	for i, section := range sections {
		if i == 0 {
			continue
		}
		mid := ""
		var ssrcs []uint32
		lines := strings.SplitAfter(section, "\n")
		for _, line := range lines {
			line = strings.TrimRight(line, "\r\n")
			if v, ok := strings.CutPrefix(line, "a=mid:"); ok {
				mid = v
			} else if v, ok := strings.CutPrefix(line, "a=ssrc-group:SIM "); ok && ssrcs == nil {
				ssrcs = parseSSRCs(v)
			}
		}
		if mid == "" || len(ssrcs) < 2 {
			continue
		}
		if groups == nil {
			groups = make(map[string]simGroup)
		}
		g := simGroup{ssrcs: ssrcs, rtx: map[uint32]uint32{}}
		// The SSRCs Pion is not to see: the group's others, and their
		// RTX (the second SSRC of their FID group).
		hidden := map[string]bool{}
		for _, s := range ssrcs[1:] {
			hidden[strconv.FormatUint(uint64(s), 10)] = true
		}
		for _, line := range lines {
			if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "a=ssrc-group:FID "); ok {
				if f := parseSSRCs(v); len(f) == 2 && hidden[strconv.FormatUint(uint64(f[0]), 10)] {
					hidden[strconv.FormatUint(uint64(f[1]), 10)] = true
					g.rtx[f[0]] = f[1]
				}
			}
		}
		groups[mid] = g
		kept := lines[:0]
		for _, line := range lines {
			l := strings.TrimRight(line, "\r\n")
			if v, ok := strings.CutPrefix(l, "a=ssrc:"); ok {
				if ssrc, _, _ := strings.Cut(v, " "); hidden[ssrc] {
					continue
				}
			}
			if v, ok := strings.CutPrefix(l, "a=ssrc-group:"); ok {
				if f := strings.Fields(v); len(f) > 1 && (f[0] == "SIM" || hidden[f[1]]) {
					continue
				}
			}
			kept = append(kept, line)
		}
		sections[i] = strings.Join(kept, "")
	}
	if groups == nil {
		return offer, nil
	}
	return strings.Join(sections, ""), groups
}

// parseSSRCs reads a list of SSRCs separated by spaces; nil if one is
// not a number, or one is repeated.
func parseSSRCs(s string) []uint32 {
	var out []uint32
	for _, f := range strings.Fields(s) {
		n, err := strconv.ParseUint(f, 10, 32)
		if err != nil || slices.Contains(out, uint32(n)) {
			return nil
		}
		out = append(out, uint32(n))
	}
	return out
}

// ssrcStream is one SSRC of a publish connection that the SFU reads
// itself: its SRTP and SRTCP read streams, opened on Pion's sessions,
// through the connection's interceptors.
type ssrcStream struct {
	ssrc uint32
	// rtx is the stream of its RTX SSRC, if it has one: read only to be
	// dropped, through the interceptors, so that the publisher's
	// transport-wide feedback reports its packets (a browser probes its
	// uplink with padding on RTX) rather than leave them for lost.
	rtx   *ssrcStream
	ic    interceptor.Interceptor
	info  *interceptor.StreamInfo
	srtp  *srtp.ReadStreamSRTP
	srtcp *srtp.ReadStreamSRTCP
	rtp   interceptor.RTPReader
	rtcp  interceptor.RTCPReader
	once  sync.Once
}

var errHiddenSessions = errors.New("the SRTP sessions or the interceptors are not where this version of Pion was expected to keep them")

// openSSRCStream opens the stream of ssrc on the publish connection pc,
// whose receiver recv carries the rest of the track: the same codec,
// header extensions and feedback, but no NACKs (a retransmission comes
// on the encoding's RTX stream, which nothing reads).
func openSSRCStream(pc *webrtc.PeerConnection, recv *webrtc.RTPReceiver, codec webrtc.RTPCodecParameters, ssrc uint32) (*ssrcStream, error) {
	ic, ok := interceptorOf(pc)
	if !ok {
		return nil, errHiddenSessions
	}
	rtpSess, rtcpSess, ok := srtpSessionsOf(recv.Transport())
	if !ok {
		return nil, errHiddenSessions
	}
	info := streamInfo(ssrc, codec, recv, false)
	rs, err := rtpSess.OpenReadStream(ssrc)
	if err != nil {
		return nil, err
	}
	rcs, err := rtcpSess.OpenReadStream(ssrc)
	if err != nil {
		_ = rs.Close()
		return nil, err
	}
	s := &ssrcStream{ssrc: ssrc, ic: ic, info: info, srtp: rs, srtcp: rcs}
	s.rtp = ic.BindRemoteStream(info, interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, err := rs.Read(b)
		return n, a, err
	}))
	s.rtcp = ic.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, err := rcs.Read(b)
		return n, a, err
	}))
	return s, nil
}

// streamInfo describes to the interceptors the stream of ssrc, of codec,
// with the header extensions of recv; nacks keeps generic NACKs among its
// feedback (without, no NACK is sent for it).
func streamInfo(ssrc uint32, codec webrtc.RTPCodecParameters, recv *webrtc.RTPReceiver, nacks bool) *interceptor.StreamInfo {
	info := &interceptor.StreamInfo{
		SSRC: ssrc, PayloadType: uint8(codec.PayloadType), MimeType: codec.MimeType,
		ClockRate: codec.ClockRate, Channels: codec.Channels, SDPFmtpLine: codec.SDPFmtpLine,
	}
	for _, f := range codec.RTCPFeedback {
		if nacks || f.Type != "nack" || f.Parameter != "" {
			info.RTCPFeedback = append(info.RTCPFeedback, interceptor.RTCPFeedback{Type: f.Type, Parameter: f.Parameter})
		}
	}
	for _, e := range recv.GetParameters().HeaderExtensions {
		info.RTPHeaderExtensions = append(info.RTPHeaderExtensions, interceptor.RTPHeaderExtension{URI: e.URI, ID: e.ID})
	}
	return info
}

func (s *ssrcStream) SSRC() webrtc.SSRC { return webrtc.SSRC(s.ssrc) }

func (s *ssrcStream) Read(b []byte) (int, interceptor.Attributes, error) { return s.rtp.Read(b, nil) }

// readRTCP reads the next RTCP packets the publisher sent about the SSRC.
func (s *ssrcStream) readRTCP(b []byte) ([]rtcp.Packet, error) {
	for {
		n, _, err := s.rtcp.Read(b, nil)
		if err != nil {
			return nil, err
		}
		if pkts, err := rtcp.Unmarshal(b[:n]); err == nil {
			return pkts, nil
		}
	}
}

// close ends the stream (and its RTX stream): their reads return an
// error. Safe to call twice.
func (s *ssrcStream) close() {
	s.once.Do(func() {
		s.ic.UnbindRemoteStream(s.info)
		_ = s.srtp.Close()
		_ = s.srtcp.Close()
	})
	if s.rtx != nil {
		s.rtx.close()
	}
}

// drain reads the stream until it ends, dropping what it reads.
func (s *ssrcStream) drain() {
	buf := make([]byte, maxPacket)
	for {
		if _, _, err := s.Read(buf); err != nil {
			return
		}
	}
}

// interceptorOf returns the interceptors of pc, which Pion keeps in the
// API copy it makes for each connection and does not export.
func interceptorOf(pc *webrtc.PeerConnection) (interceptor.Interceptor, bool) {
	api := reflect.ValueOf(pc).Elem().FieldByName("api")
	if !api.IsValid() || api.Kind() != reflect.Pointer || api.IsNil() {
		return nil, false
	}
	f := api.Elem().FieldByName("interceptor")
	if !f.IsValid() || f.Type() != reflect.TypeFor[interceptor.Interceptor]() {
		return nil, false
	}
	ic := *(*interceptor.Interceptor)(f.Addr().UnsafePointer())
	return ic, ic != nil
}

// srtpSessionsOf returns the SRTP and SRTCP sessions of t, which Pion
// does not export; ok is false before they start.
func srtpSessionsOf(t *webrtc.DTLSTransport) (*srtp.SessionSRTP, *srtp.SessionSRTCP, bool) {
	if t == nil {
		return nil, nil, false
	}
	f := reflect.ValueOf(t).Elem().FieldByName("srtpSession")
	if !f.IsValid() || f.Type() != reflect.TypeFor[atomic.Value]() {
		return nil, nil, false
	}
	rtpSess, ok := (*atomic.Value)(f.Addr().UnsafePointer()).Load().(*srtp.SessionSRTP)
	if !ok || rtpSess == nil {
		return nil, nil, false
	}
	rtcpSess, ok := srtcpSessionOf(t)
	return rtpSess, rtcpSess, ok
}
