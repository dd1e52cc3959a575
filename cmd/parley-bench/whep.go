package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"parley/client"
)

// whepViewer is a subscriber that watches over WHEP instead of joining:
// a receive-only connection and its session's address.
type whepViewer struct {
	pc  *webrtc.PeerConnection
	loc string // absolute URL of the session
}

// httpBase is the HTTP address of the server whose websocket is wsURL.
func httpBase(wsURL string) string {
	u := strings.TrimSuffix(wsURL, "/ws")
	if rest, ok := strings.CutPrefix(u, "wss://"); ok {
		return "https://" + rest
	}
	return "http://" + strings.TrimPrefix(u, "ws://")
}

// watchWHEP makes n WHEP viewers of room, at most parallel at a time,
// each receiving into the subscriber sub(i) makes.
func watchWHEP(ctx context.Context, t target, room string, n, parallel int, sub func(i int) *subscriber) ([]*participant, error) {
	return inParallel(n, parallel, func(i int) (*participant, error) {
		s := sub(i)
		v, err := newWHEPViewer(ctx, t.urlFor(i), room, s)
		if err != nil {
			return nil, fmt.Errorf("viewer %d: %w", i, err)
		}
		return &participant{viewer: v, sub: s}, nil
	})
}

// newWHEPViewer watches room at the node of websocket URL wsURL (a
// cluster's node sends the POST on to the room's node with a 307, which
// the HTTP client follows).
func newWHEPViewer(ctx context.Context, wsURL, room string, s *subscriber) (*whepViewer, error) {
	n, err := newStampNet(&s.arr)
	if err != nil {
		return nil, err
	}
	api, err := client.NewAPI(client.Options{LoopbackOnly: true, Net: n})
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = pc.Close()
		}
	}()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, err
		}
	}
	pc.OnTrack(s.onTrack)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.connecting.Store(time.Now().UnixNano())
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, "POST", httpBase(wsURL)+"/whep/"+room, bytes.NewBufferString(pc.LocalDescription().SDP))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("WHEP POST: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return nil, err
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location")) // against the node that answered
	if err != nil {
		return nil, fmt.Errorf("WHEP POST: Location: %w", err)
	}
	ok = true
	return &whepViewer{pc: pc, loc: loc.String()}, nil
}

// close ends the session and the connection.
func (v *whepViewer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if req, err := http.NewRequestWithContext(ctx, "DELETE", v.loc, nil); err == nil {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	_ = v.pc.Close()
}
