package server

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves the server's metrics in the Prometheus text
// format: the Go runtime, the process, and parley's own, which are read
// from the parts when scraped (see collector).
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{s: s},
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slogPrinter{s}, ErrorHandling: promhttp.ContinueOnError}))
	return mux
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics", "err", v) }

// collector reads parley's metrics from the running parts.
type collector struct{ s *Server }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("parley_"+name, help, labels, nil)
}

var (
	descSessions     = desc("websocket_sessions", "Open signaling websocket sessions.")
	descParticipants = desc("room_participants", "People in the room now.", "room")
	descRoomViewers  = desc("room_viewers", "Viewers (WHEP) of the room now.", "room")
	descClips        = desc("room_clips", "Clips stored in the room (drafts included).", "room")
	descClipBytes    = desc("room_clip_bytes", "Bytes of the clips stored in the room.", "room")
	descUpTracks     = desc("sfu_up_tracks", "Tracks published now.")
	descDownTracks   = desc("sfu_down_tracks", "Tracks sent to subscribers now.")
	descViewers      = desc("sfu_viewers", "Viewers (WHEP) now.")
	descRecorded     = desc("sfu_recorded_tracks", "Published tracks being recorded now.")
	descReceived     = desc("sfu_received_packets_total", "RTP packets received from publishers.")
	descForwarded    = desc("sfu_forwarded_packets_total", "RTP packets sent to subscribers and viewers, retransmissions included.")
	descDirect       = desc("sfu_direct_connections_total", "Subscribe connections sent to directly by the SFU rather than through Pion's write path.")
	descSocketSent   = desc("media_socket_sent_packets_total", "Packets sent on the shared media UDP socket.")
	descSocketDrop   = desc("media_socket_dropped_packets_total", "Packets the shared media UDP socket dropped: its send queue was full or the kernel refused them.")
	descDirectRecv   = desc("sfu_direct_received_packets_total", "Publishers' RTP packets read and decrypted by the SFU itself rather than through Pion's read path.")
	descDirectRTCP   = desc("sfu_direct_rtcp_packets_total", "Subscribers' RTCP packets, and publishers' of the audio read directly, read and decrypted by the SFU itself rather than through Pion's read path.")
	descDirectDrop   = desc("sfu_direct_receive_dropped_packets_total", "Publishers' RTP packets the direct receive path dropped: they failed authentication (forged or replayed) or were too large.")
	descPaced        = desc("sfu_paced_packets_total", "Video packets that waited in a subscriber's pacer before they were sent.")
	descPacerDropped = desc("sfu_pacer_dropped_packets_total", "Video packets dropped from a subscriber's pacer whose queue held as much as it may.")
	descLayerDowns   = desc("sfu_simulcast_down_tracks", "Simulcast videos sent to subscribers now, by the layer sent (0 the lowest), or paused (for the subscriber's downlink) or hidden (by the subscriber).", "layer")
	descSwitches     = desc("sfu_layer_switches_total", "Switches of a subscriber's simulcast video to another layer.")
	descCCPauses     = desc("sfu_congestion_pauses_total", "Videos paused because a subscriber's downlink did not carry their lowest layer.")
	descCCConns      = desc("sfu_congestion_controlled_connections", "Subscribe and viewer (WHEP) connections whose transport-cc feedback chooses their layers now.")
	descEstimates    = desc("sfu_downlink_estimate_bits", "Downlink estimates of the congestion-controlled subscribe and viewer connections now, bits per second.")
	descClientErrors = desc("client_errors_total", "Error reports from clients (client-error) logged, by kind.", "kind")
	descClientDrops  = desc("client_errors_dropped_total", "Error reports from clients dropped: over a session's allowance.")
	descTURN         = desc("turn_allocations", "TURN relay allocations held now.")
	descMailSent     = desc("mail_sent_total", "Notification mails delivered.", "room")
	descMailFailed   = desc("mail_failed_total", "Notification mails given up after their last attempt.", "room")
	descHookSent     = desc("webhook_sent_total", "Webhook events delivered, by [[webhooks]] entry (1, 2, ...).", "webhook")
	descHookFailed   = desc("webhook_failed_total", "Webhook events given up after their last attempt or dropped.", "webhook")
	descHookWaiting  = desc("webhook_waiting", "Webhook events waiting for delivery now.", "webhook")
	descClusterRooms = desc("cluster_owned_rooms", "Rooms this node of a cluster holds the lease of now, one series of 1 per room (none without [cluster]).", "node", "room")
)

// estimateBuckets are the upper bounds of the downlink estimates'
// histogram: a phone on a weak cell, the lowest layer, the middle one,
// the top one, a fast line.
var estimateBuckets = []float64{150_000, 300_000, 600_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000}

// estimateHistogram is a histogram of the estimates now: how many
// subscribers' downlinks are estimated at most each bound.
func estimateHistogram(estimates []float64) prometheus.Metric {
	buckets := make(map[float64]uint64, len(estimateBuckets))
	for _, b := range estimateBuckets {
		buckets[b] = 0 // every bound, estimates or not
	}
	var sum float64
	for _, e := range estimates {
		sum += e
		for _, b := range estimateBuckets {
			if e <= b {
				buckets[b]++
			}
		}
	}
	return prometheus.MustNewConstHistogram(descEstimates, uint64(len(estimates)), sum, buckets)
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descParticipants, descRoomViewers, descClips, descClipBytes,
		descUpTracks, descDownTracks, descViewers, descRecorded, descReceived, descForwarded, descDirect,
		descSocketSent, descSocketDrop, descDirectRecv, descDirectRTCP, descDirectDrop, descPaced, descPacerDropped, descLayerDowns, descSwitches, descCCPauses, descCCConns, descEstimates,
		descClientErrors, descClientDrops, descTURN, descMailSent, descMailFailed,
		descHookSent, descHookFailed, descHookWaiting, descClusterRooms} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if s.hub != nil {
		gauge(descSessions, float64(s.hub.Sessions()))
		for _, r := range s.hub.RoomInfos() {
			gauge(descParticipants, float64(r.Participants), r.Name)
			gauge(descRoomViewers, float64(r.Viewers), r.Name)
			bytes, count := s.store.Usage(r.Name)
			gauge(descClips, float64(count), r.Name)
			gauge(descClipBytes, float64(bytes), r.Name)
		}
		byKind, dropped := s.hub.ClientErrors()
		for kind, n := range byKind {
			counter(descClientErrors, float64(n), kind)
		}
		counter(descClientDrops, float64(dropped))
	}
	if s.cluster != nil {
		for _, room := range s.cluster.Owned() {
			gauge(descClusterRooms, 1, s.cluster.ID(), room)
		}
	}
	st := s.engine.Stats()
	gauge(descUpTracks, float64(st.UpTracks))
	gauge(descDownTracks, float64(st.DownTracks))
	gauge(descViewers, float64(st.Viewers))
	gauge(descRecorded, float64(st.RecordedTracks))
	counter(descReceived, float64(st.ReceivedPackets))
	counter(descForwarded, float64(st.ForwardedPackets))
	counter(descDirect, float64(st.DirectConnections))
	counter(descSocketSent, float64(st.SocketSent))
	counter(descSocketDrop, float64(st.SocketDropped))
	counter(descDirectRecv, float64(st.DirectReceived))
	counter(descDirectRTCP, float64(st.DirectRTCP))
	counter(descDirectDrop, float64(st.DirectReceiveDropped))
	counter(descPaced, float64(st.PacedPackets))
	counter(descPacerDropped, float64(st.PacerDropped))
	for i, n := range st.LayerDowns {
		gauge(descLayerDowns, float64(n), strconv.Itoa(i))
	}
	gauge(descLayerDowns, float64(st.PausedDowns), "paused")
	gauge(descLayerDowns, float64(st.HiddenDowns), "hidden")
	counter(descSwitches, float64(st.LayerSwitches))
	counter(descCCPauses, float64(st.CongestionPauses))
	gauge(descCCConns, float64(len(st.Estimates)))
	ch <- estimateHistogram(st.Estimates)
	gauge(descTURN, float64(s.turn.Allocations()))
	if s.mail != nil {
		sent, failed := s.mail.Stats()
		for room, n := range sent {
			counter(descMailSent, float64(n), room)
		}
		for room, n := range failed {
			counter(descMailFailed, float64(n), room)
		}
	}
	sent, failed, waiting := s.hooks.Stats()
	for i := range sent {
		n := strconv.Itoa(i + 1)
		counter(descHookSent, float64(sent[i]), n)
		counter(descHookFailed, float64(failed[i]), n)
		gauge(descHookWaiting, float64(waiting[i]), n)
	}
}
