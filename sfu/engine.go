package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"parley/audiolevel"
	"parley/netpolicy"
	"parley/sfu/feedback"
)

// Config is what the media plane needs to know about the host.
type Config struct {
	// ListenIP is the address the media sockets bind to.
	ListenIP string
	// UDPPort is the single UDP port shared by every peer (ICE UDP mux).
	// When 0, each PeerConnection takes a port from UDPPortMin..UDPPortMax.
	UDPPort    int
	UDPPortMin int
	UDPPortMax int
	// TCPPort is the ICE-over-TCP fallback port; 0 turns it off.
	TCPPort int
	// PublicIP, when set, is advertised instead of ListenIP (1:1 NAT).
	PublicIP string
	// Loopback makes the server offer loopback candidates, which it needs
	// when it listens on 127.0.0.1. Set automatically for a loopback ListenIP.
	Loopback bool
	// CandidateAllow lists networks (CIDRs or single IPs, as
	// turn.allow_peers) whose remote ICE candidates the server checks
	// whatever their class; see candidatePolicy for the rest of the rule.
	CandidateAllow []string
	// NoDirectSend keeps every subscribe connection on Pion's own write
	// path (see directSender): the operator's fallback (media.direct_send).
	NoDirectSend bool
	// NoDirectReceive leaves every publisher's packets to Pion's own
	// read path (see directReceiver): the operator's fallback
	// (media.direct_receive).
	NoDirectReceive bool
	// ReceiveWindow is how long the shared UDP socket's reader may hold a
	// busy socket's packets to read them together, in one wake-up (see
	// sockReader); 0 reads each as it comes (media.receive_window).
	ReceiveWindow time.Duration
}

// Engine builds PeerConnections that share the media sockets, codecs and
// interceptors. One Engine serves every room.
type Engine struct {
	pubAPI *webrtc.API // publish connections (see publishAPI)
	subAPI *webrtc.API // subscribe connections (see subscribeAPI)
	udp    net.PacketConn
	batch  *batchConn   // the shared UDP socket; nil with a port range
	direct atomic.Int64 // subscribe connections switched to the direct path
	pacing pacing       // what the subscribe connections' pacers share
	// noDirect keeps subscribers on Pion's write path (Config.NoDirectSend).
	noDirect bool
	// directRecv: publishers' audio may take the direct receive path
	// (see directReceiver); receivers are the connections switched to
	// it, by the address they send from.
	directRecv  bool
	receivers   atomic.Pointer[map[netip.AddrPort]*directReceiver]
	receiversMu sync.Mutex // serialises the writers of receivers
	// recvDirect counts the packets read on the direct receive path;
	// recvDropped, those it dropped (forged, replayed, too large).
	recvDirect, recvDropped atomic.Uint64
	// rtcpDirect counts subscribers' RTCP packets read there.
	rtcpDirect atomic.Uint64
	tracks     trackStats
	viewers    viewerStats
	tcp        net.Listener
	udpMux     ice.UDPMux
	tcpMux     ice.TCPMux
	log        *slog.Logger
	// candidates judges the clients' remote candidates (see
	// candidatePolicy).
	candidates netpolicy.Policy
	// cert is every PeerConnection's DTLS certificate.
	cert dtlsCert
}

// NewEngine opens the media sockets and prepares the WebRTC API.
func NewEngine(cfg Config, log *slog.Logger) (*Engine, error) {
	ip := net.ParseIP(cfg.ListenIP)
	if ip == nil {
		return nil, fmt.Errorf("media listen_ip %q is not an IP address", cfg.ListenIP)
	}
	allow, err := netpolicy.ParseAllow(cfg.CandidateAllow)
	if err != nil {
		return nil, fmt.Errorf("candidate allowlist: %w", err)
	}
	var public netip.Addr
	if cfg.PublicIP != "" {
		if public, err = netip.ParseAddr(cfg.PublicIP); err != nil {
			return nil, fmt.Errorf("media public_ip %q is not an IP address", cfg.PublicIP)
		}
	}
	listen, _ := netip.AddrFromSlice(ip)
	e := &Engine{log: log, candidates: candidatePolicy(listen, public, cfg.Loopback, allow), noDirect: cfg.NoDirectSend}
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if ip.IsLoopback() || cfg.Loopback {
		se.SetIncludeLoopbackCandidate(true)
	}
	defaultLog := logging.NewDefaultLoggerFactory()
	// Pion warns about every packet that races a closing connection; only its
	// errors are worth an operator's attention.
	defaultLog.DefaultLogLevel = logging.LogLevelError
	pionLog := newSharedLoggers(defaultLog)
	host, err := newHostNet()
	if err != nil {
		return nil, fmt.Errorf("network interfaces: %w", err)
	}
	se.SetNet(host)

	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if ip.To4() != nil {
		networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	if cfg.UDPPort != 0 {
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: cfg.UDPPort})
		if err != nil {
			return nil, fmt.Errorf("media UDP port: %w", err)
		}
		sizeSocketBuffers(udp, log)
		batched, err := newBatchConn(udp, cfg.ReceiveWindow)
		if err != nil {
			udp.Close()
			return nil, fmt.Errorf("media UDP port: %w", err)
		}
		e.udp, e.batch = batched, batched
		if !cfg.NoDirectReceive {
			e.directRecv = true
			batched.intercept(e.receiveDirect)
		}
		e.udpMux = webrtc.NewICEUDPMux(pionLog.NewLogger("udpmux"), batched)
		se.SetICEUDPMux(e.udpMux)
	} else {
		if err := se.SetEphemeralUDPPortRange(uint16(cfg.UDPPortMin), uint16(cfg.UDPPortMax)); err != nil {
			return nil, fmt.Errorf("media UDP port range: %w", err)
		}
		se.SetIPFilter(func(candidate net.IP) bool {
			return ip.IsUnspecified() || candidate.Equal(ip)
		})
	}
	if cfg.TCPPort != 0 {
		tcp, err := net.Listen("tcp", net.JoinHostPort(cfg.ListenIP, strconv.Itoa(cfg.TCPPort)))
		if err != nil {
			e.closeSockets()
			return nil, fmt.Errorf("media TCP port: %w", err)
		}
		e.tcp = tcp
		e.tcpMux = webrtc.NewICETCPMux(pionLog.NewLogger("tcpmux"), tcp, 64)
		se.SetICETCPMux(e.tcpMux)
		if ip.To4() != nil {
			networks = append(networks, webrtc.NetworkTypeTCP4)
		} else {
			networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
		}
	}
	se.SetNetworkTypes(networks)
	if cfg.PublicIP != "" {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        []string{cfg.PublicIP},
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		})
		if err != nil {
			e.closeSockets()
			return nil, fmt.Errorf("media public_ip: %w", err)
		}
	}
	se.LoggerFactory = pionLog
	// A track counts as published once negotiated, not once its first
	// packet arrives: a push-to-talk client negotiates and then stays
	// silent, and its subscribers and recorders must be ready before it
	// speaks, so that the first words cost no renegotiation.
	se.SetFireOnTrackBeforeFirstRTP(true)

	pub, err := publishAPI(se)
	if err == nil {
		e.subAPI, err = subscribeAPI(se)
	}
	if err != nil {
		e.closeSockets()
		return nil, err
	}
	e.pubAPI = pub
	return e, nil
}

// socketBuffer is what the shared UDP socket asks the kernel for, each
// way. The kernel's default (about 208 KiB) holds only some hundred
// packets, each counted at its buffer's full size: a pause of the server
// of a tenth of a second (a collection, a busy moment) while publishers
// send, or a keyframe's fan-out to some hundred subscribers, would
// overflow it and lose packets.
const socketBuffer = 4 << 20

// sizeSocketBuffers asks for socketBuffer bytes of receive and send buffer
// on c, and says so in the log if the kernel gives less (its limits,
// net.core.rmem_max and wmem_max, cap what a process may ask).
func sizeSocketBuffers(c *net.UDPConn, log *slog.Logger) {
	for _, b := range []struct {
		name, sysctl string
		set          func(int) error
		opt          int
	}{
		{"receive", "net.core.rmem_max", c.SetReadBuffer, syscall.SO_RCVBUF},
		{"send", "net.core.wmem_max", c.SetWriteBuffer, syscall.SO_SNDBUF},
	} {
		if err := b.set(socketBuffer); err != nil {
			log.Warn("media UDP socket buffer", "buffer", b.name, "err", err)
			continue
		}
		// Linux reports twice what it grants (it counts its own
		// overhead); half of it is what was asked for.
		if got, ok := socketOption(c, b.opt); ok && got/2 < socketBuffer {
			log.Warn("the media UDP socket has a smaller buffer than asked: bursts may lose packets; raise the kernel's limit",
				"buffer", b.name, "bytes", got/2, "asked", socketBuffer, "sysctl", b.sysctl)
		}
	}
}

// publishAPI builds the publish connections: the client sends, the server
// receives. NACKs towards the publisher (the generator), receiver
// reports, and TWCC feedback so that browsers can estimate their uplink.
func publishAPI(se webrtc.SettingEngine) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	registerNackFeedback(me)
	generator, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(onDemand{inner: generator, wants: wantsNack})
	// Receiver reports and TWCC feedback, noted by the reading goroutine
	// and sent together (see sfu/feedback) rather than by Pion's, which
	// hands each packet to a goroutine of its own and wakes a goroutine
	// per connection every second for the reports.
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		me.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: feedback.URI}, kind); err != nil {
			return nil, err
		}
	}
	ir.Add(feedback.Factory{})
	// Simulcast: each encoding's packets say which media section (mid)
	// and which encoding (rid) they belong to.
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return nil, err
	}
	// The publisher's audio level on each audio packet (RFC 6464): who
	// speaks, and the waveforms of clips, without decoding audio.
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: audiolevel.URI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir)), nil
}

// subscribeAPI builds the subscribe connections: the server sends, the
// client receives. No interceptors: subscribers' NACKs are answered by
// the SFU itself from one packet cache per up track (see packetCache),
// not by a responder that would copy every packet once per subscriber;
// sender reports are the SFU's too (see senderReports), since most packets
// bypass Pion's write chain (see directSender); and a connection that
// receives nothing needs no NACK generator or TWCC feedback, each a timer
// per connection.
func subscribeAPI(se webrtc.SettingEngine) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, err
	}
	registerNackFeedback(me)
	// RTX for each video codec: congestion control's probes are
	// retransmissions on it (see DownTrack.resend), which a receiver
	// counts in its feedback and drops as repeats, where a repeat on the
	// media stream itself would be refused by its SRTP replay check.
	for _, rtx := range []struct{ pt, apt uint8 }{{97, 96}, {99, 98}, {103, 102}, {125, 127}} {
		err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", rtx.apt)},
			PayloadType: webrtc.PayloadType(rtx.pt)}, webrtc.RTPCodecTypeVideo)
		if err != nil {
			return nil, fmt.Errorf("register rtx: %w", err)
		}
	}
	// Transport-wide congestion control: the SFU stamps the sequence
	// numbers and reads the feedback itself (see congestion).
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		me.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: transportCCURI}, kind); err != nil {
			return nil, err
		}
	}
	// The publisher's audio level on each audio packet (RFC 6464), as it
	// came (see DownTrack.writeRTP): a browser tells who speaks from it
	// (RTCRtpReceiver.getSynchronizationSources) without a server message.
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: audiolevel.URI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir)), nil
}

// registerNackFeedback offers NACK and PLI feedback for video.
func registerNackFeedback(me *webrtc.MediaEngine) {
	me.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	me.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
}

// registerCodecs offers Opus, VP8, VP9 and H.264. There is no RTX: losses
// are repaired by NACK on the original SSRC, which keeps forwarding a plain
// copy of what the publisher sent.
func registerCodecs(me *webrtc.MediaEngine) error {
	videoFB := []webrtc.RTCPFeedback{
		{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"},
	}
	codecs := []struct {
		params webrtc.RTPCodecParameters
		kind   webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
			PayloadType: 111}, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB},
			PayloadType: 96}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0", RTCPFeedback: videoFB},
			PayloadType: 98}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
			RTCPFeedback: videoFB},
			PayloadType: 102}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
			RTCPFeedback: videoFB},
			PayloadType: 127}, webrtc.RTPCodecTypeVideo},
	}
	for _, c := range codecs {
		if err := me.RegisterCodec(c.params, c.kind); err != nil {
			return fmt.Errorf("register codec %s: %w", c.params.MimeType, err)
		}
	}
	return nil
}

// newPeerConnection creates a publish or a subscribe PeerConnection on
// the shared sockets.
func (e *Engine) newPeerConnection(publish bool) (*webrtc.PeerConnection, error) {
	api := e.subAPI
	if publish {
		api = e.pubAPI
	}
	cert, err := e.cert.get(time.Now())
	if err != nil {
		return nil, fmt.Errorf("dtls certificate: %w", err)
	}
	cfg := webrtc.Configuration{
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
		Certificates:  []webrtc.Certificate{cert},
	}
	if !publish {
		// No RTP header encryption (RFC 9335) on a subscribe
		// connection: the direct send path (see directSender) encrypts
		// plain SRTP. Its header extensions (the transport-wide sequence
		// number, the publisher's audio level) go in the clear, as
		// browsers send them on their own connections.
		cfg.RTPHeaderEncryptionPolicy = webrtc.RTPHeaderEncryptionPolicyDisable
	}
	return api.NewPeerConnection(cfg)
}

// UDPAddr is the address of the shared media UDP socket, or nil when a port
// range is used.
func (e *Engine) UDPAddr() net.Addr {
	if e.udp == nil {
		return nil
	}
	return e.udp.LocalAddr()
}

// TCPAddr is the address of the ICE-TCP listener, or nil when it is off.
func (e *Engine) TCPAddr() net.Addr {
	if e.tcp == nil {
		return nil
	}
	return e.tcp.Addr()
}

// Close releases the media sockets. Close the rooms first.
func (e *Engine) Close() error {
	e.pacing.clock.stop()
	return e.closeSockets()
}

func (e *Engine) closeSockets() error {
	var errs []error
	if e.udpMux != nil {
		errs = append(errs, e.udpMux.Close())
	} else if e.udp != nil {
		errs = append(errs, e.udp.Close())
	}
	if e.tcpMux != nil {
		errs = append(errs, e.tcpMux.Close())
	} else if e.tcp != nil {
		errs = append(errs, e.tcp.Close())
	}
	return errors.Join(errs...)
}
