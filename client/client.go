// Package client is a headless parley client in Go: it speaks the
// websocket protocol of docs/protocol.md and holds the two
// PeerConnections (publish and subscribe). The integration tests and
// cmd/parley-bench drive servers with it. It is not used by the server.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// Message is a server message as a generic JSON object, plus its type.
type Message struct {
	Type string
	Raw  json.RawMessage
}

// Decode decodes the message into v.
func (m Message) Decode(v any) error { return json.Unmarshal(m.Raw, v) }

// AudioLevelURI is the RTP header extension of a packet's audio level
// (RFC 6464), from which the server tells who speaks.
const AudioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// AudioLevelID is the header extension id under which sender's packets
// carry their audio level, once the server has answered; 0 if it did not
// accept the extension.
func AudioLevelID(sender *webrtc.RTPSender) uint8 {
	for _, e := range sender.GetParameters().HeaderExtensions {
		if e.URI == AudioLevelURI && e.ID > 0 && e.ID < 256 {
			return uint8(e.ID)
		}
	}
	return 0
}

// Protocol is the version of the websocket protocol this client speaks
// (see docs/protocol.md).
const Protocol = 1

// Joined is the server's answer to join.
type Joined struct {
	// Protocol is the server's protocol version; 0 from a server older
	// than the field, which speaks version 1.
	Protocol     int    `json:"protocol"`
	ID           string `json:"id"`
	Name         string `json:"name"`
	Participants []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"participants"`
	Room struct {
		Name string `json:"name"`
		Mode string `json:"mode"`
		// MinClipMs is the shortest recording the room keeps, in
		// milliseconds of media (0: none).
		MinClipMs int `json:"min_clip_ms"`
	} `json:"room"`
	ICEServers []webrtc.ICEServer `json:"ice_servers"`
	OwnerKey   string             `json:"owner_key"`
	Role       string             `json:"role"`
}

// Error is an error message from the server.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Options tune a client.
type Options struct {
	// Header is sent with the websocket upgrade (an Origin, say).
	Header http.Header
	// LoopbackOnly restricts the client's ICE candidates to loopback
	// addresses, as tests on 127.0.0.1 need.
	LoopbackOnly bool
	// OnTrack is called for every track received on the subscribe
	// connection, on its own goroutine.
	OnTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	// Password and Token are sent with join: a room's password (or an
	// operator's), or a signed join token.
	Password string
	Token    string
	// OwnerKey is sent with join: the identity that owns the clips the
	// client records. Empty: the server makes one (Joined.OwnerKey).
	OwnerKey string
	// ICEServers and Relay configure the client's connections.
	ICEServers []webrtc.ICEServer
	Relay      bool
	// ICEServersFromJoin replaces ICEServers with the ice_servers of the
	// join answer, as a browser does, before any later message is handled.
	ICEServersFromJoin bool
	// TCPOnly gathers and uses TCP candidates only (ICE over TCP).
	TCPOnly bool
	// Interceptors run before the default ones: they see incoming packets
	// first. Tests use them to simulate loss.
	Interceptors []interceptor.Factory
	// Net, if set, is the network the client's ICE agent opens its
	// sockets through (a load generator wraps them to timestamp arrivals).
	Net transport.Net
	// NoTransportCC leaves the transport-wide congestion control header
	// extension and its feedback out of the client's answers, as a client
	// without congestion control does: the server then sends each
	// simulcast video's top layer (or the one its video-size asks for).
	NoTransportCC bool
	// NoReplayProtection accepts a repeated SRTP packet, as a retransmission
	// of a packet that an interceptor dropped after decryption is.
	NoReplayProtection bool
}

// errClosed: the client has been closed.
var errClosed = errors.New("client closed")

// Client is one connected client.
type Client struct {
	opts Options
	ws   *websocket.Conn
	api  *webrtc.API

	writeMu sync.Mutex

	// neg is held while a connection makes or takes a description, and
	// while Close closes the connections: Pion's ICE gatherer, closed
	// before it has made its agent, makes one later if a negotiation
	// still running asks for it, and nothing ever closes that agent.
	neg sync.Mutex

	mu        sync.Mutex
	pub, sub  *webrtc.PeerConnection
	closed    bool // by Close: no connection is made after it
	pubReady  bool // the publish offer has been sent, candidates may follow
	subReady  bool
	pending   map[string][]webrtc.ICECandidateInit
	answers   chan string              // publish answers
	offers    int                      // subscribe offers handled
	screens   []*webrtc.RTPTransceiver // publish transceivers that share a screen
	lastError error

	msgs chan Message
	done chan struct{}
}

// Dial connects to a parley websocket URL (ws://host/ws).
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.DialContext(ctx, url, opts.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %d)", url, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	api, err := NewAPI(opts)
	if err != nil {
		_ = ws.Close()
		return nil, err
	}
	c := &Client{
		opts:    opts,
		ws:      ws,
		api:     api,
		pending: make(map[string][]webrtc.ICECandidateInit),
		answers: make(chan string, 4),
		msgs:    make(chan Message, 4096),
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
}

// NewAPI builds the WebRTC API a client with these options uses, for
// callers that need a bare PeerConnection (a WHIP publisher, say).
func NewAPI(opts Options) (*webrtc.API, error) {
	se := webrtc.SettingEngine{}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelError
	se.LoggerFactory = quiet
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	if opts.TCPOnly {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	if opts.NoReplayProtection {
		se.DisableSRTPReplayProtection(true)
	}
	if opts.Net != nil {
		se.SetNet(opts.Net)
	}
	if opts.LoopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	// Offered as browsers offer it; a caller that writes RTP itself puts
	// the levels on its packets (see AudioLevelID).
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	for _, f := range opts.Interceptors {
		ir.Add(f)
	}
	if opts.NoTransportCC {
		// The default interceptors but the transport-wide feedback.
		if err := webrtc.ConfigureNack(me, ir); err != nil {
			return nil, err
		}
		if err := webrtc.ConfigureRTCPReports(ir); err != nil {
			return nil, err
		}
		if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
			return nil, err
		}
	} else if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir)), nil
}

func (c *Client) config() webrtc.Configuration {
	cfg := webrtc.Configuration{ICEServers: c.opts.ICEServers}
	if c.opts.Relay {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return cfg
}

// Send sends any value as a JSON message.
func (c *Client) Send(v any) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

// SendRaw sends bytes as one text message.
func (c *Client) SendRaw(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// Conn is the websocket, for tests that need to misbehave.
func (c *Client) Conn() *websocket.Conn { return c.ws }

// Done is closed when the websocket has closed.
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) readLoop() {
	defer close(c.done)
	defer close(c.msgs)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.lastError = err
			c.mu.Unlock()
			return
		}
		var head struct {
			Type string `json:"type"`
			PC   string `json:"pc"`
			SDP  string `json:"sdp"`
		}
		if json.Unmarshal(data, &head) != nil {
			continue
		}
		switch {
		case head.Type == "answer" && head.PC == "publish":
			c.answers <- head.SDP
		case head.Type == "offer" && head.PC == "subscribe":
			if err := c.handleOffer(head.SDP); err != nil {
				c.deliver(Message{Type: "client-error", Raw: mustJSON(map[string]string{"message": err.Error()})})
			}
		case head.Type == "candidate":
			var m struct {
				PC        string                  `json:"pc"`
				Candidate webrtc.ICECandidateInit `json:"candidate"`
			}
			if json.Unmarshal(data, &m) == nil {
				c.mu.Lock()
				pc := c.pub
				if m.PC == "subscribe" {
					pc = c.sub
				}
				c.mu.Unlock()
				if pc != nil {
					_ = pc.AddICECandidate(m.Candidate)
				}
			}
		default:
			if head.Type == "joined" && c.opts.ICEServersFromJoin {
				var j Joined
				if json.Unmarshal(data, &j) == nil {
					c.mu.Lock()
					c.opts.ICEServers = j.ICEServers
					c.mu.Unlock()
				}
			}
			c.deliver(Message{Type: head.Type, Raw: data})
		}
	}
}

func (c *Client) deliver(m Message) {
	select {
	case c.msgs <- m:
	default: // a test that does not read its messages loses the oldest
		select {
		case <-c.msgs:
		default:
		}
		c.msgs <- m
	}
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// CloseError is the error that ended the websocket (a *websocket.CloseError
// for a close frame), once Done is closed.
func (c *Client) CloseError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastError
}

// Next returns the next message that is not part of the SDP exchange.
func (c *Client) Next(ctx context.Context) (Message, error) {
	select {
	case m, ok := <-c.msgs:
		if !ok {
			return Message{}, fmt.Errorf("connection closed: %w", c.CloseError())
		}
		return m, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// WaitFor returns the next message of the given type, skipping others.
func (c *Client) WaitFor(ctx context.Context, typ string) (Message, error) {
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return m, fmt.Errorf("waiting for %q: %w", typ, err)
		}
		if m.Type == typ {
			return m, nil
		}
	}
}

// Join joins a room and returns the server's answer, or its error.
func (c *Client) Join(ctx context.Context, room, name string) (*Joined, error) {
	msg := map[string]string{"type": "join", "room": room, "name": name}
	if c.opts.OwnerKey != "" {
		msg["owner_key"] = c.opts.OwnerKey
	}
	if c.opts.Password != "" {
		msg["password"] = c.opts.Password
	}
	if c.opts.Token != "" {
		msg["token"] = c.opts.Token
	}
	if err := c.Send(msg); err != nil {
		return nil, err
	}
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return nil, err
		}
		switch m.Type {
		case "joined":
			var j Joined
			if err := m.Decode(&j); err != nil {
				return nil, err
			}
			if j.Protocol > Protocol {
				return nil, fmt.Errorf("the server speaks protocol %d; this client speaks %d", j.Protocol, Protocol)
			}
			return &j, nil
		case "error":
			var e Error
			_ = m.Decode(&e)
			return nil, &e
		case "redirect":
			var r Redirect
			if err := m.Decode(&r); err != nil {
				return nil, err
			}
			return nil, &r
		}
	}
}

// Redirect is Join's error when the room lives on another node of a
// cluster: join it again at URL (a websocket URL), with a new Client.
type Redirect struct {
	Room string `json:"room"`
	URL  string `json:"url"`
}

func (r *Redirect) Error() string { return "room " + r.Room + " lives at " + r.URL }

// Publish sends the given tracks on the publish connection: it offers
// them and waits for the server's answer.
func (c *Client) Publish(ctx context.Context, tracks ...webrtc.TrackLocal) ([]*webrtc.RTPSender, error) {
	return c.publish(ctx, false, false, tracks)
}

// PublishSimulcast sends one video as simulcast, as a browser does with
// sendEncodings: one m-section, an encoding for each of layers (each
// made with webrtc.WithRTPStreamID, lowest first as the rids q, h, f
// are). The caller puts the mid and rid header extensions on the
// packets it writes (their ids are in the sender's GetParameters) and
// reads each layer's RTCP with ReadSimulcastRTCP.
func (c *Client) PublishSimulcast(ctx context.Context, layers ...webrtc.TrackLocal) (*webrtc.RTPSender, error) {
	if len(layers) == 0 {
		return nil, errors.New("simulcast without layers")
	}
	senders, err := c.publish(ctx, false, true, layers)
	if err != nil {
		return nil, err
	}
	return senders[0], nil
}

// PublishScreen sends a video track as a shared screen: its m-section is
// marked a=content:slides in this offer and every later one (see
// docs/protocol.md, Sharing a screen).
func (c *Client) PublishScreen(ctx context.Context, track webrtc.TrackLocal) (*webrtc.RTPSender, error) {
	senders, err := c.publish(ctx, true, false, []webrtc.TrackLocal{track})
	if err != nil {
		return nil, err
	}
	return senders[0], nil
}

// publish offers tracks, each on its own transceiver, or with simulcast
// all as encodings of the first one's.
func (c *Client) publish(ctx context.Context, screen, simulcast bool, tracks []webrtc.TrackLocal) ([]*webrtc.RTPSender, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClosed
	}
	if c.pub == nil {
		pc, err := c.api.NewPeerConnection(c.config())
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.trickle(pc, "publish")
		c.pub = pc
	}
	pc := c.pub
	c.mu.Unlock()

	senders := make([]*webrtc.RTPSender, 0, len(tracks))
	for _, t := range tracks {
		if simulcast && len(senders) > 0 {
			if err := senders[0].AddEncoding(t); err != nil {
				return nil, err
			}
			continue
		}
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, err
		}
		senders = append(senders, tr.Sender())
		if screen {
			c.mu.Lock()
			c.screens = append(c.screens, tr)
			c.mu.Unlock()
		}
	}
	offer, err := c.describe(pc, func() (webrtc.SessionDescription, error) { return pc.CreateOffer(nil) })
	if err != nil {
		return nil, err
	}
	sdp := offer.SDP
	c.mu.Lock()
	for _, tr := range c.screens {
		mid := "a=mid:" + tr.Mid() + "\r\n"
		sdp = strings.Replace(sdp, mid, mid+"a=content:slides\r\n", 1)
	}
	c.mu.Unlock()
	if err := c.Send(map[string]string{"type": "offer", "pc": "publish", "sdp": sdp}); err != nil {
		return nil, err
	}
	c.ready("publish")
	select {
	case sdp := <-c.answers:
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the publish answer: %w", ctx.Err())
	case <-c.done:
		return nil, errors.New("connection closed while publishing")
	}
	return senders, nil
}

// PublishConn is the publish PeerConnection, once Publish has run.
func (c *Client) PublishConn() *webrtc.PeerConnection {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pub
}

// SubscribeConn is the subscribe PeerConnection, once the server offered.
func (c *Client) SubscribeConn() *webrtc.PeerConnection {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sub
}

// Offers is the number of subscribe offers the client has answered.
func (c *Client) Offers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offers
}

func (c *Client) handleOffer(sdp string) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errClosed
	}
	if c.sub == nil {
		pc, err := c.api.NewPeerConnection(c.config())
		if err != nil {
			c.mu.Unlock()
			return err
		}
		if c.opts.OnTrack != nil {
			pc.OnTrack(c.opts.OnTrack)
		}
		c.trickle(pc, "subscribe")
		c.sub = pc
	}
	pc := c.sub
	c.mu.Unlock()
	answer, err := c.describe(pc, func() (webrtc.SessionDescription, error) {
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
			return webrtc.SessionDescription{}, err
		}
		return pc.CreateAnswer(nil)
	})
	if err != nil {
		return err
	}
	if err := c.Send(map[string]string{"type": "answer", "pc": "subscribe", "sdp": answer.SDP}); err != nil {
		return err
	}
	c.mu.Lock()
	c.offers++
	c.mu.Unlock()
	c.ready("subscribe")
	return nil
}

// describe makes a local description with build and sets it on pc, under
// neg.
func (c *Client) describe(pc *webrtc.PeerConnection, build func() (webrtc.SessionDescription, error)) (webrtc.SessionDescription, error) {
	c.neg.Lock()
	defer c.neg.Unlock()
	desc, err := build()
	if err != nil {
		return desc, err
	}
	return desc, pc.SetLocalDescription(desc)
}

// trickle sends the connection's candidates as they are found, but only
// after its first description has been sent: the server cannot add a
// candidate to a connection it has not yet seen described.
func (c *Client) trickle(pc *webrtc.PeerConnection, name string) {
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		c.mu.Lock()
		ready := (name == "publish" && c.pubReady) || (name == "subscribe" && c.subReady)
		if !ready {
			c.pending[name] = append(c.pending[name], init)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		_ = c.Send(map[string]any{"type": "candidate", "pc": name, "candidate": init})
	})
}

func (c *Client) ready(name string) {
	c.mu.Lock()
	if name == "publish" {
		c.pubReady = true
	} else {
		c.subReady = true
	}
	pending := c.pending[name]
	delete(c.pending, name)
	c.mu.Unlock()
	for _, init := range pending {
		_ = c.Send(map[string]any{"type": "candidate", "pc": name, "candidate": init})
	}
}

// Close leaves and closes everything.
func (c *Client) Close() {
	c.writeMu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.writeMu.Unlock()
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
	}
	_ = c.ws.Close()
	c.neg.Lock()
	defer c.neg.Unlock()
	c.mu.Lock()
	c.closed = true
	pub, sub := c.pub, c.sub
	c.mu.Unlock()
	if pub != nil {
		_ = pub.Close()
	}
	if sub != nil {
		_ = sub.Close()
	}
}
