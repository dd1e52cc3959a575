package server

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"parley/configs"
	"parley/netcheck"
)

// checkEcho runs what the /check page runs for one transport with a Pion
// peer on loopback: an offer with a data channel, the server's answer,
// and a message echoed. It returns the connection's selected candidate
// pair, or the error.
func checkEcho(t *testing.T, srv *testServer, id, transport string, ice []netcheck.ICEServer) (*webrtc.ICECandidatePair, error) {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	cfg := webrtc.Configuration{}
	for _, s := range ice {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	if transport == "relay" {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dc, err := pc.CreateDataChannel("check", nil)
	if err != nil {
		t.Fatal(err)
	}
	echoed := make(chan string, 1)
	dc.OnOpen(func() { _ = dc.SendText("ping " + transport) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { echoed <- string(m.Data) })
	setOffer(t, pc)
	// The check's offer is posted as a WHIP offer is.
	resp, body := srv.whipPost(t, "/api/check/"+id+"/"+transport, "", pc.LocalDescription().SDP)
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("offer: %s %s", resp.Status, body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-echoed:
		if got != "ping "+transport {
			return nil, fmt.Errorf("echoed %q", got)
		}
	case <-timeout(t, 0).Done():
		return nil, fmt.Errorf("no echo (ICE %s)", pc.ICEConnectionState())
	}
	return pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
}

func startCheck(t *testing.T, srv *testServer) (*http.Response, netcheck.Started) {
	t.Helper()
	resp, err := http.Post("http://"+srv.Addr().String()+"/api/check", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st netcheck.Started
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return resp, st
}

// TestConnectivityCheck: a check session echoes over UDP to the media
// port, over ICE-TCP, and through the built-in TURN relay, each over the
// transport asked for and no other; the session is no member of any room,
// a stranger's id is refused, and one address cannot start more than its
// share of sessions.
func TestConnectivityCheck(t *testing.T) {
	srv := startServer(t, func(c *configs.Server, _ []configs.Room) {
		c.Media.TCPPort = freeTCPPort(t)
		c.TURN.Enabled = true
		c.TURN.ListenIP = "127.0.0.1"
		c.TURN.Port = 0
		c.TURN.AllowPeers = []string{"127.0.0.1"}
	})
	resp, st := startCheck(t, srv)
	if resp.StatusCode != http.StatusOK || st.ID == "" || !st.TCP || len(st.ICEServers) == 0 || st.ICEServers[0].Username == "" {
		t.Fatalf("start: %s %+v", resp.Status, st)
	}
	if srv.hub.Present(st.ID) || srv.hub.Sessions() != 0 {
		t.Error("a check session is a member of a room")
	}
	for _, transport := range []string{"udp", "tcp", "relay"} {
		pair, err := checkEcho(t, srv, st.ID, transport, st.ICEServers)
		if err != nil {
			t.Errorf("%s: %v", transport, err)
			continue
		}
		local, remote := pair.Local, pair.Remote
		switch transport {
		case "udp":
			if remote.Protocol != webrtc.ICEProtocolUDP || remote.Port != uint16(srv.MediaUDPAddr().(*net.UDPAddr).Port) {
				t.Errorf("udp: the pair is %s", pair)
			}
		case "tcp":
			if remote.Protocol != webrtc.ICEProtocolTCP || remote.Port != uint16(srv.MediaTCPAddr().(*net.TCPAddr).Port) {
				t.Errorf("tcp: the pair is %s", pair)
			}
		case "relay":
			if local.Typ != webrtc.ICECandidateTypeRelay {
				t.Errorf("relay: the pair is %s", pair)
			}
		}
	}
	if _, err := checkEcho(t, srv, "check-0123", "udp", nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("an unknown session: %v", err)
	}
	// The rest of this address's starts, then a refusal.
	for i := 1; i < netcheck.DefaultStartsPerMinute; i++ {
		if resp, _ := startCheck(t, srv); resp.StatusCode != http.StatusOK {
			t.Fatalf("start %d: %s", i+1, resp.Status)
		}
	}
	if resp, _ := startCheck(t, srv); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("start %d: %s, want 429 with Retry-After", netcheck.DefaultStartsPerMinute+1, resp.Status)
	}
	if n := srv.checks.Sessions(); n != netcheck.DefaultStartsPerMinute {
		t.Errorf("%d sessions, want %d", n, netcheck.DefaultStartsPerMinute)
	}
}
