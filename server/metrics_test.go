package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"

	"parley/client"
	"parley/configs"
)

// scrape fetches /metrics from the metrics listener and returns each
// sample line's value by its name and labels.
func scrape(t *testing.T, srv *testServer) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + srv.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics: the metrics listener serves the rooms, the media plane and
// the runtime while media flows; counters do not go back when someone
// leaves; the main listener does not serve them.
func TestMetrics(t *testing.T) {
	srv := startServer(t, func(cfg *configs.Server, _ []configs.Room) { cfg.HTTP.MetricsListen = "127.0.0.1:0" })
	a, b := newSubscriber(), newSubscriber()
	ac, _ := srv.join(t, "live", "a", client.Options{OnTrack: a.onTrack})
	srv.join(t, "live", "b", client.Options{OnTrack: b.onTrack})
	pub := newPublisher(t)
	p, _ := srv.join(t, "live", "pat", client.Options{})
	pub.start(t, p)
	eventually(t, 10*time.Second, "both subscribers receive 2 s of audio", func() bool {
		return a.count("audio") >= 100 && b.count("audio") >= 100
	})

	m := scrape(t, srv)
	for name, want := range map[string]float64{
		`parley_room_participants{room="live"}`: 3,
		`parley_sfu_up_tracks`:                  2,
		`parley_sfu_down_tracks`:                4,
		`parley_sfu_direct_connections_total`:   2,
		`parley_websocket_sessions`:             3,
		`parley_sfu_recorded_tracks`:            0,
		`parley_turn_allocations`:               0,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	// Packets that came before both subscribers were connected were not
	// forwarded to both: compare what came and went between two scrapes,
	// once media flows to both.
	recv0, fwd0 := m["parley_sfu_received_packets_total"], m["parley_sfu_forwarded_packets_total"]
	direct0 := m["parley_sfu_direct_received_packets_total"]
	na, nb := a.count("audio"), b.count("audio")
	eventually(t, 10*time.Second, "both subscribers receive 1 s more of audio", func() bool {
		return a.count("audio") >= na+50 && b.count("audio") >= nb+50
	})
	m = scrape(t, srv)
	recv, fwd := m["parley_sfu_received_packets_total"], m["parley_sfu_forwarded_packets_total"]
	if dr, df := recv-recv0, fwd-fwd0; dr < 50 || df < 2*dr-20 || df > 2*dr+20 {
		t.Errorf("received %v packets and forwarded %v between two scrapes; two subscribers should get each once", dr, df)
	}
	// The publisher's audio is read on the direct receive path, its
	// video through Pion: each subscriber got 50 more audio packets.
	if d := m["parley_sfu_direct_received_packets_total"]; d-direct0 < 50 || d >= recv {
		t.Errorf("%v packets read on the direct receive path of %v received, %v of them since the first scrape", d, recv, d-direct0)
	}
	if d := m["parley_sfu_direct_receive_dropped_packets_total"]; d != 0 {
		t.Errorf("the direct receive path dropped %v packets", d)
	}
	if m["parley_media_socket_sent_packets_total"] < fwd {
		t.Errorf("the media socket sent %v packets, fewer than the %v forwarded", m["parley_media_socket_sent_packets_total"], fwd)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", `parley_room_clips{room="live"}`, `parley_room_clip_bytes{room="chat"}`,
		`parley_sfu_simulcast_down_tracks{layer="0"}`, `parley_sfu_simulcast_down_tracks{layer="paused"}`, `parley_sfu_layer_switches_total`,
		`parley_sfu_paced_packets_total`, `parley_sfu_pacer_dropped_packets_total`, `parley_sfu_direct_rtcp_packets_total`,
		`parley_sfu_congestion_pauses_total`, `parley_sfu_congestion_controlled_connections`, `parley_sfu_downlink_estimate_bits_count`,
		`parley_sfu_downlink_estimate_bits_bucket{le="300000"}`, `parley_client_errors_total{kind="playback"}`, `parley_client_errors_dropped_total`} {
		if _, ok := m[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}

	ac.Close()
	eventually(t, 5*time.Second, "a's departure shows", func() bool {
		return scrape(t, srv)[`parley_room_participants{room="live"}`] == 2
	})
	after := scrape(t, srv)
	if after["parley_sfu_forwarded_packets_total"] < fwd || after["parley_sfu_received_packets_total"] < recv {
		t.Errorf("counters went back after a left: forwarded %v -> %v, received %v -> %v",
			fwd, after["parley_sfu_forwarded_packets_total"], recv, after["parley_sfu_received_packets_total"])
	}
	if got := after["parley_sfu_down_tracks"]; got != 2 {
		t.Errorf("%v down tracks after a left, want 2", got)
	}

	resp, err := http.Get(srv.URL() + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "parley_sfu") {
		t.Error("the main listener serves the metrics")
	}
}

// TestMetricsListenInUse: a metrics address in use stops start-up with a
// clear error, and everything opened before it is closed again: a server
// on the same HTTP and media ports starts right after.
func TestMetricsListenInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := configs.Default()
	cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	cfg.HTTP.MetricsListen = busy.Addr().String()
	cfg.Media.ListenIP = "127.0.0.1"
	cfg.Media.UDPPort = freeUDPPort(t)
	cfg.Media.TCPPort = freeTCPPort(t)
	cfg.Storage.DataDir = t.TempDir()
	cfg.TURN.Enabled = false
	rooms, err := configs.LoadRooms("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, rooms, testLogger()); err == nil || !strings.Contains(err.Error(), "http metrics listen") {
		t.Fatalf("start with the metrics address in use: %v", err)
	}
	cfg.HTTP.MetricsListen = ""
	srv, err := New(cfg, rooms, testLogger())
	if err != nil {
		t.Fatalf("the failed start left a port open: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestEstimateHistogram: every bound is there, with no estimates too, and
// each counts the estimates at most it.
func TestEstimateHistogram(t *testing.T) {
	for _, tc := range []struct {
		estimates []float64
		at300k    uint64
	}{{nil, 0}, {[]float64{100_000, 300_000, 2_000_000}, 2}} {
		var m dto.Metric
		if err := estimateHistogram(tc.estimates).Write(&m); err != nil {
			t.Fatal(err)
		}
		h := m.GetHistogram()
		if len(h.GetBucket()) != len(estimateBuckets) || h.GetSampleCount() != uint64(len(tc.estimates)) {
			t.Fatalf("%v: %d buckets, count %d", tc.estimates, len(h.GetBucket()), h.GetSampleCount())
		}
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == 300_000 && b.GetCumulativeCount() != tc.at300k {
				t.Errorf("%v: %d at most 300k, want %d", tc.estimates, b.GetCumulativeCount(), tc.at300k)
			}
		}
	}
}

// TestClientErrorMetrics: error reports from a browser's session are
// counted by kind, and the ones over the session's allowance in the
// dropped counter; a report of an unknown kind in neither.
func TestClientErrorMetrics(t *testing.T) {
	srv := startServer(t, func(cfg *configs.Server, _ []configs.Room) { cfg.HTTP.MetricsListen = "127.0.0.1:0" })
	ws, _, err := websocket.DefaultDialer.Dial(srv.wsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	send := func(v map[string]any) {
		t.Helper()
		if err := ws.WriteJSON(v); err != nil {
			t.Fatal(err)
		}
	}
	// Reports need no room; the burst is 10, and the 11th is dropped.
	for range 11 {
		send(map[string]any{"type": "client-error", "kind": "webrtc", "message": "OperationError: Failed to set remote answer sdp"})
	}
	send(map[string]any{"type": "client-error", "kind": "made-up", "message": "x"})
	send(map[string]any{"type": "ping", "req": 1})
	// Messages are handled in order: the pong comes after the reports.
	_ = ws.SetReadDeadline(time.Now().Add(minWait))
	for {
		var m map[string]any
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m["type"] == "pong" {
			break
		}
	}
	m := scrape(t, srv)
	for name, want := range map[string]float64{
		`parley_client_errors_total{kind="webrtc"}`: 10,
		`parley_client_errors_total{kind="error"}`:  0,
		`parley_client_errors_dropped_total`:        1,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if _, ok := m[`parley_client_errors_total{kind="made-up"}`]; ok {
		t.Error("a report of an unknown kind has a metric")
	}
}

// TestMetricsViewers: the viewer gauges count the WHEP viewers present,
// the server's and each room's, and one fewer once one has left.
func TestMetricsViewers(t *testing.T) {
	srv := startServer(t, func(cfg *configs.Server, _ []configs.Room) { cfg.HTTP.MetricsListen = "127.0.0.1:0" })
	w1 := watch(t, srv, "/whep/live")
	watch(t, srv, "/whep/live")
	m := scrape(t, srv)
	for name, want := range map[string]float64{
		`parley_sfu_viewers`:                 2,
		`parley_room_viewers{room="live"}`:   2,
		`parley_room_viewers{room="walkie"}`: 0,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if resp, _ := srv.fetch(t, "DELETE", w1.loc, "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	eventually(t, 5*time.Second, "the gauges count the one viewer left", func() bool {
		m := scrape(t, srv)
		return m[`parley_sfu_viewers`] == 1 && m[`parley_room_viewers{room="live"}`] == 1
	})
}
