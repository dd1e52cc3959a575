package sfu

import (
	"context"
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// Echo makes the far end of a connectivity check (package netcheck): a
// connection on the shared media sockets, answering offer, that sends
// back whatever arrives on its data channels. transport keeps only the
// candidates of one protocol, "udp" or "tcp", in the offer as in the
// answer, so that a check of one cannot succeed over the other; "" keeps
// both. The offer's own candidates are dropped: the echo never reaches
// out to the browser (it answers the browser's checks, learning its
// address from them), so that a check succeeds only when the browser
// reaches the media port by itself, as a firewall in front of the server
// must let it, and the server sends nothing to an address an offer
// names. The answer holds every candidate (it waits for gathering,
// within ctx). The caller closes the connection.
func (e *Engine) Echo(ctx context.Context, offer, transport string) (*webrtc.PeerConnection, string, error) {
	offer = onlyTransport(offer, "none")
	pc, err := e.newPeerConnection(false)
	if err != nil {
		return nil, "", err
	}
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			if m.IsString {
				_ = dc.SendText(string(m.Data))
			} else {
				_ = dc.Send(m.Data)
			}
		})
	})
	fail := func(err error) (*webrtc.PeerConnection, string, error) {
		_ = pc.Close()
		return nil, "", err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(fmt.Errorf("offer: %w", err))
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("answer: %w", err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("answer: %w", err))
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	return pc, onlyTransport(pc.LocalDescription().SDP, transport), nil
}

// onlyTransport returns sdp without the a=candidate lines of another
// protocol than transport ("" keeps them all, "none" none).
func onlyTransport(sdp, transport string) string {
	if transport == "" {
		return sdp
	}
	lines := strings.SplitAfter(sdp, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 2 && strings.HasPrefix(f[0], "a=candidate:") && !strings.EqualFold(f[2], transport) {
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "")
}
