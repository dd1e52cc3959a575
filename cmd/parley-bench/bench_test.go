package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sys/unix"

	"parley/configs"
	"parley/internal/redistest"
	"parley/server"
)

// startServer runs a server with the bench rooms in this process.
func startServer(t *testing.T) target {
	t.Helper()
	return startServerWith(t, nil)
}

// startServerWith is startServer with its server file changed by mutate
// first.
func startServerWith(t *testing.T, mutate func(*configs.Server)) target {
	t.Helper()
	cfg := configs.Default()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.MaxConnectionsPerIP = 0
	cfg.HTTP.WHEPStartsPerMinute = 0
	udp, err := freePort("udp")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Media.UDPPort, cfg.Media.TCPPort = udp, 0
	cfg.Storage.DataDir = t.TempDir()
	cfg.TURN.Enabled = false
	if mutate != nil {
		mutate(&cfg)
	}
	var rooms []configs.Room
	for name, body := range benchRooms() {
		r, err := configs.ParseRoom(name+".toml", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		rooms = append(rooms, r)
	}
	srv, err := server.New(cfg, rooms, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return target{url: "ws://" + srv.Addr().String() + "/ws", pid: os.Getpid(), data: cfg.Storage.DataDir}
}

// TestRun: a small live load is forwarded whole and measured; publishers
// that also receive count what the others send; every subscriber, joining
// while the video runs, gets a keyframe.
func TestRun(t *testing.T) {
	tg := startServer(t)
	sc := Scenario{Name: "t", Publishers: 2, Subscribers: 3, VideoBps: 300_000, Warmup: 300 * time.Millisecond, Measure: 2 * time.Second}
	res, err := run(context.Background(), tg, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.ReadySubscribers != 3 || len(res.Problems) != 0 {
		t.Fatalf("ready %d, problems %v", res.ReadySubscribers, res.Problems)
	}
	// Each of 2 publishers sends 50 audio packets/s and 60 video
	// packets/s (300 kbit/s: 1250-byte frames in 2 packets, 30 frames/s); 3 subscribers
	// get both publishers, each publisher gets the other: 8 streams of each.
	// The generator paces by the clock and catches up after a stall, so
	// on a busy machine a window may hold more than its share: only a
	// generator that sends far too little is wrong.
	perSecond := float64(res.SentPackets) / res.Seconds
	if perSecond < 2*(50+60)*0.5 {
		t.Errorf("publishers sent %.0f packets/s, want about %d", perSecond, 2*(50+60))
	}
	// The forwarded packets are counted as they arrive, the sent ones as
	// they leave: the two windows are apart by the packets' delay, which a
	// busy machine makes long, so that much of either may fall outside.
	skew := 4 * perSecond * math.Max(res.LatencyP99Ms, res.ReadP99Ms) / 1000
	if got, want := float64(res.ForwardedPackets), 4*float64(res.SentPackets); got < want*0.95-skew || got > want*1.05+skew {
		t.Errorf("forwarded %d packets for %d sent, want about %.0f (±%.0f for the delay)", res.ForwardedPackets, res.SentPackets, want, want*0.05+skew)
	}
	if res.LossPercent != 0 || res.LatencyP50Ms <= 0 || res.LatencyP99Ms < res.LatencyP50Ms || res.ServerCPUSeconds <= 0 || res.PerCPUSecond <= 0 {
		t.Errorf("result %+v", res)
	}
	if res.KeyframeP50Ms <= 0 || res.KeyframeMaxMs < res.KeyframeP50Ms {
		t.Errorf("time to keyframe: p50 %v ms, max %v ms", res.KeyframeP50Ms, res.KeyframeMaxMs)
	}
	if md := markdown(Report{Results: []Result{res}}); !strings.Contains(md, "| t | ") {
		t.Errorf("table:\n%s", md)
	}
}

// TestRunWHEP: the subscribers may be WHEP viewers: each receives the
// publisher's audio and video, keyframe included, and what they receive
// is counted as for websocket subscribers.
func TestRunWHEP(t *testing.T) {
	tg := startServer(t)
	sc := Scenario{Name: "w", Publishers: 1, Subscribers: 3, VideoBps: 300_000, WHEP: true, Warmup: 300 * time.Millisecond, Measure: 2 * time.Second}
	res, err := run(context.Background(), tg, sc)
	if err != nil {
		t.Fatal(err)
	}
	if res.ReadySubscribers != 3 || len(res.Problems) != 0 {
		t.Fatalf("ready %d, problems %v", res.ReadySubscribers, res.Problems)
	}
	// 50 audio and 60 video packets/s to each of 3 viewers.
	if perSecond := float64(res.ForwardedPackets) / res.Seconds; perSecond < 3*(50+60)*0.5 {
		t.Errorf("the viewers received %.0f packets/s, want about %d", perSecond, 3*(50+60))
	}
	if res.KeyframeP50Ms <= 0 {
		t.Errorf("time to keyframe: %v ms", res.KeyframeP50Ms)
	}
}

// TestRunCluster: a load spread over two rooms of a cluster of two nodes,
// each room's first join at another node: every subscriber joins (through
// a redirect when it reached the other node) and gets its room's media,
// and the rooms live on different nodes.
func TestRunCluster(t *testing.T) {
	redisURL := redistest.Start(t)
	var nodes []target
	for i := range 2 {
		port, err := freePort("tcp")
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, startServerWith(t, func(cfg *configs.Server) {
			cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", port)
			cfg.Cluster = configs.Default().Cluster
			cfg.Cluster.RedisURL = redisURL
			cfg.Cluster.NodeID = fmt.Sprintf("node%d", i+1)
			cfg.Cluster.PublicURL = fmt.Sprintf("http://127.0.0.1:%d", port)
		}))
	}
	tg := nodes[0]
	tg.others = []node{{nodes[1].url, nodes[1].pid}}
	sc := Scenario{Name: "c", Rooms: 2, Nodes: 2, Publishers: 1, Subscribers: 4, Warmup: 300 * time.Millisecond, Measure: 1500 * time.Millisecond}
	res, err := run(context.Background(), tg, sc)
	if err != nil {
		t.Fatal(err)
	}
	if res.ReadySubscribers != 8 || len(res.Problems) != 0 {
		t.Fatalf("ready %d, problems %v", res.ReadySubscribers, res.Problems)
	}
	// 50 audio packets/s from each room's publisher to its 4 subscribers.
	if perSecond := float64(res.ForwardedPackets) / res.Seconds; perSecond < 2*4*50*0.5 {
		t.Errorf("the subscribers received %.0f packets/s, want about %d", perSecond, 2*4*50)
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opts)
	defer rc.Close()
	ctx := context.Background()
	a, err1 := rc.Get(ctx, "parley:room:"+roomAudio).Result()
	b, err2 := rc.Get(ctx, "parley:room:"+roomAudio+"-2").Result()
	if err1 != nil || err2 != nil || a == b {
		t.Errorf("the rooms live on %q (%v) and %q (%v), want two nodes", a, err1, b, err2)
	}
}

// TestRunningTarget: -url and -pid name the servers already running.
func TestRunningTarget(t *testing.T) {
	tg, err := runningTarget("ws://127.0.0.1:1/ws, ws://127.0.0.1:2/ws", "10,20")
	if err != nil || tg.url != "ws://127.0.0.1:1/ws" || tg.pid != 10 || len(tg.others) != 1 || tg.others[0] != (node{"ws://127.0.0.1:2/ws", 20}) {
		t.Errorf("target %+v (%v)", tg, err)
	}
	if got := []string{tg.urlFor(0), tg.urlFor(1), tg.urlFor(2)}; got[0] != tg.url || got[1] != tg.others[0].url || got[2] != tg.url {
		t.Errorf("the joins go to %v", got)
	}
	for _, bad := range [][2]string{{"ws://a/ws", ""}, {"ws://a/ws,ws://b/ws", "1"}, {"ws://a/ws", "x"}, {"http://a/ws", "1"}, {"", "1"}, {"ws://a/ws", "-3"}} {
		if _, err := runningTarget(bad[0], bad[1]); err == nil {
			t.Errorf("-url %q -pid %q accepted", bad[0], bad[1])
		}
	}
}

// TestRecorders: every recorder's window becomes a clip.
func TestRecorders(t *testing.T) {
	tg := startServer(t)
	res, err := run(context.Background(), tg, Scenario{Name: "r", Recorders: 3, Warmup: 300 * time.Millisecond, Measure: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Clips != 3 || len(res.Problems) != 0 || res.SentPackets < 3*50 {
		t.Errorf("result %+v", res)
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 100; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	h.add(time.Hour) // beyond the last bucket
	h.add(-time.Second)
	if q := h.quantile(0.5); q < 49*time.Millisecond || q > 51*time.Millisecond {
		t.Errorf("p50 %v", q)
	}
	if q := h.quantile(1); q != (buckets+1)*bucketWidth {
		t.Errorf("p100 %v", q)
	}
	var empty histogram
	if empty.quantile(0.99) != 0 {
		t.Error("quantile of nothing")
	}
}

func TestProc(t *testing.T) {
	for s, want := range map[string]int{"0": 1, "0-3": 4, "0-1,4,6-7": 5, "x": 0, "3-1": 0} {
		if got := countCPUList(s); got != want {
			t.Errorf("countCPUList(%q) = %d, want %d", s, got, want)
		}
	}
	p, err := readProc(0)
	if err != nil || p.rss <= 0 {
		t.Fatalf("readProc: %+v %v", p, err)
	}
	// Sleeping wakes a thread later: its voluntary context switches count.
	for range 5 {
		time.Sleep(time.Millisecond)
	}
	if q, err := readProc(0); err != nil || q.sleeps <= p.sleeps {
		t.Errorf("sleeps %d, then %d after sleeping (%v)", p.sleeps, q.sleeps, err)
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Error("readProc of no process")
	}
}

func TestArrivals(t *testing.T) {
	var a arrivals
	now := time.Now().UnixNano()
	a.put(7, 65535, now-1000)
	a.put(7, 0, now-500) // wrapped
	if at, ok := a.get(7, 65535, now); !ok || at != now-1000 {
		t.Errorf("seq 65535: %d %v, want %d", at, ok, now-1000)
	}
	if at, ok := a.get(7, 0, now); !ok || at != now-500 {
		t.Errorf("seq 0: %d %v", at, ok)
	}
	if _, ok := a.get(7, 1024, now); ok {
		t.Error("seq 1024 shares seq 0's slot but was never put")
	}
	if _, ok := a.get(8, 0, now); ok {
		t.Error("another SSRC")
	}
}

func TestKernelTime(t *testing.T) {
	// A control message as Linux lays it out: another one first (8 bytes
	// of data), then SCM_TIMESTAMPNS.
	msg := func(level, typ int32, data []byte) []byte {
		b := make([]byte, 16+len(data))
		binary.NativeEndian.PutUint64(b, uint64(16+len(data)))
		binary.NativeEndian.PutUint32(b[8:], uint32(level))
		binary.NativeEndian.PutUint32(b[12:], uint32(typ))
		copy(b[16:], data)
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
		return b
	}
	ts := make([]byte, 16)
	binary.NativeEndian.PutUint64(ts, 1_700_000_000)
	binary.NativeEndian.PutUint64(ts[8:], 123)
	oob := append(msg(unix.IPPROTO_IP, unix.IP_TOS, []byte{1}), msg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, ts)...)
	if at, ok := kernelTime(oob); !ok || at != 1_700_000_000_000_000_123 {
		t.Errorf("kernelTime = %d, %v", at, ok)
	}
	if _, ok := kernelTime(oob[:20]); ok {
		t.Error("a cut message was parsed")
	}
	if _, ok := kernelTime(msg(unix.IPPROTO_IP, unix.IP_TOS, []byte{1})); ok {
		t.Error("no timestamp, yet one was found")
	}
}

func TestMedian(t *testing.T) {
	runs := []Result{{PerCPUSecond: 30, Seconds: 1}, {PerCPUSecond: 10, Seconds: 2}, {PerCPUSecond: 20, Seconds: 3}}
	m := median(runs)
	if m.Seconds != 3 || !slices.Equal(m.Runs, []float64{30, 10, 20}) {
		t.Errorf("median %+v", m)
	}
	if m := median(runs[:1]); m.Runs != nil || m.Seconds != 1 {
		t.Errorf("median of one %+v", m)
	}
}

// TestPushToTalk: a publisher that talks half the time sends about half
// the packets, and the pauses, which skip no sequence number, count as
// no loss.
func TestPushToTalk(t *testing.T) {
	tg := startServer(t)
	sc := Scenario{Name: "ptt", Publishers: 1, Subscribers: 2, Talk: 250 * time.Millisecond, Pause: 250 * time.Millisecond,
		Warmup: 300 * time.Millisecond, Measure: 2 * time.Second}
	res, err := run(context.Background(), tg, sc)
	if err != nil {
		t.Fatal(err)
	}
	perSecond := float64(res.SentPackets) / res.Seconds
	if perSecond < 50*0.3 || perSecond > 50*0.7 {
		t.Errorf("a publisher talking half the time sent %.0f packets/s, want about 25", perSecond)
	}
	if res.LossPercent != 0 || res.ForwardedPackets < 2*res.SentPackets*9/10 {
		t.Errorf("result %+v", res)
	}
}

// TestLatencies: each figure of -latency is measured over its trials;
// every clip starts with the first packet sent and is seen in its file.
func TestLatencies(t *testing.T) {
	tg := startServer(t)
	res, err := measureLatencies(context.Background(), tg, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	for name, q := range map[string]Quantiles{"talk live": res.TalkLive, "talk to clip file": res.TalkClip, "clip added": res.ClipAdded, "join": res.Join} {
		if q.N != 3 || q.P50Ms <= 0 || q.P99Ms < q.P50Ms || q.MaxMs < q.P99Ms {
			t.Errorf("%s: %+v, want 3 trials", name, q)
		}
	}
	if res.Clips != 3 || res.FirstKept != 3 || len(res.Problems) != 0 {
		t.Errorf("%d of %d clips start with the first packet; problems %v", res.FirstKept, res.Clips, res.Problems)
	}
	if md := latencyTable(res); !strings.Contains(md, "| join: ") {
		t.Errorf("table:\n%s", md)
	}
}

// TestQuantiles: p50 and p99 of a few trials are trials, the p99 of
// fewer than a hundred the slowest but for rounding.
func TestQuantiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if q := quantiles(ds); q.N != 100 || q.P50Ms != 51 || q.P99Ms != 99 || q.MaxMs != 100 {
		t.Errorf("quantiles of 1..100 ms: %+v", q)
	}
	if q := quantiles(nil); q.N != 0 || q.String() != "–" {
		t.Errorf("quantiles of nothing: %+v %q", q, q)
	}
}
