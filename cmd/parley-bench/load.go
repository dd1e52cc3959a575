package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"parley/client"
)

// Scenario is one load: publishers and subscribers in live rooms, or
// recorders in a clip room.
type Scenario struct {
	Name           string        `json:"name"`
	Rooms          int           `json:"rooms,omitempty"`           // live rooms, each with Publishers and Subscribers; 0 is 1
	Nodes          int           `json:"nodes,omitempty"`           // servers: 0 or 1 is one, more the nodes of a cluster
	Publishers     int           `json:"publishers"`                // per room
	Subscribers    int           `json:"subscribers"`               // per room
	VideoBps       int           `json:"video_bps"`                 // 0: audio only
	Recorders      int           `json:"recorders"`                 // participants recording audio clips (then no publishers or subscribers)
	WHEP           bool          `json:"whep,omitempty"`            // the subscribers watch over WHEP instead of joining
	Simulcast      bool          `json:"simulcast,omitempty"`       // the video goes out as the layers of simulcastLayers (VideoBps their sum), the subscribers spread over them
	Versus         string        `json:"versus,omitempty"`          // another scenario whose runs alternate with this one's, for a comparison
	NoCC           bool          `json:"no_cc,omitempty"`           // the subscribers do not accept transport-cc: no congestion control, their layer is the one their video-size asks for
	Constrained    int           `json:"constrained,omitempty"`     // simulcast: subscribers, beyond Subscribers, behind a link of ConstrainedBps (see constrained.go)
	ConstrainedBps int           `json:"constrained_bps,omitempty"` //
	Talk           time.Duration `json:"-"`                         // push-to-talk: talk this long, then Pause; 0 = always
	Pause          time.Duration `json:"-"`
	Warmup         time.Duration `json:"-"`
	Measure        time.Duration `json:"-"`
}

// Result is what a scenario measured, over the measurement window.
type Result struct {
	Scenario
	Seconds           float64            `json:"seconds"`
	ReadySubscribers  int                `json:"ready_subscribers"` // that received every track before the window
	SentPackets       uint64             `json:"sent_packets"`      // by the publishers (or recorders)
	ForwardedPackets  uint64             `json:"forwarded_packets"` // received by the subscribers
	ForwardedPerSec   float64            `json:"forwarded_per_sec"`
	ServerCPUSeconds  float64            `json:"server_cpu_seconds"`
	ServerCPUPercent  float64            `json:"server_cpu_percent"` // of one core
	PerCPUSecond      float64            `json:"packets_per_server_cpu_second"`
	CoreBusySeconds   float64            `json:"server_core_busy_seconds,omitempty"` // the server's pinned core, softirqs included
	PerCoreSecond     float64            `json:"packets_per_server_core_second,omitempty"`
	WakeupsPerSec     float64            `json:"server_wakeups_per_sec"`   // times the server's threads slept and woke
	PacketsPerWakeup  float64            `json:"packets_per_wakeup"`       // packets handled (forwarded or recorded) per wake-up
	CPUPerWakeupUs    float64            `json:"server_cpu_us_per_wakeup"` // the server's CPU time per wake-up, its packets' work included
	LossPercent       float64            `json:"loss_percent"`
	LatencyP50Ms      float64            `json:"latency_p50_ms"`
	LatencyP99Ms      float64            `json:"latency_p99_ms"` // send to arrival at the subscriber's socket
	ReadP50Ms         float64            `json:"read_latency_p50_ms"`
	ReadP99Ms         float64            `json:"read_latency_p99_ms"`               // send to the generator reading it
	KeyframeP50Ms     float64            `json:"time_to_keyframe_p50_ms,omitempty"` // video: a subscriber's connecting to its first keyframe
	KeyframeMaxMs     float64            `json:"time_to_keyframe_max_ms,omitempty"`
	ServerRSSMB       float64            `json:"server_rss_mb"`
	RSSPerSubKB       float64            `json:"server_rss_per_subscriber_kb"`
	GeneratorCPU      float64            `json:"generator_cpu_percent"` // of the cores it may use
	GeneratorSaturate bool               `json:"generator_saturated"`
	Clips             int                `json:"clips,omitempty"`                              // recorders: clips stored
	Layers            []LayerResult      `json:"layers,omitempty"`                             // simulcast: what the subscribers of each layer got
	Constrain         *ConstrainedResult `json:"constrained_result,omitempty"`                 // the constrained subscribers
	VersusPercent     float64            `json:"versus_percent,omitempty"`                     // packets per server CPU-second, as a percentage of Versus's
	Runs              []float64          `json:"runs_packets_per_server_cpu_second,omitempty"` // with -repeat: every run's figure
	Problems          []string           `json:"problems,omitempty"`
}

// target is the server a scenario runs against: one node, or the nodes
// of a cluster.
type target struct {
	url     string
	pid     int
	others  []node // the further nodes of a cluster: joins are spread over all
	cores   []int  // the CPUs the server is pinned to; none when not pinned
	profile bool   // the server profiles its CPU between SIGUSR1 and SIGUSR2 (parley -cpuprofile)
	data    string // the server's data folder, if known: where clips are written
}

// node is a server of a cluster: its websocket URL and process id.
type node struct {
	url string
	pid int
}

// nodes lists the target's servers, the first one first.
func (t target) nodes() []node {
	return append([]node{{t.url, t.pid}}, t.others...)
}

// urlFor is the websocket URL the i-th client of a kind dials: the nodes
// in turn.
func (t target) urlFor(i int) string {
	ns := t.nodes()
	return ns[i%len(ns)].url
}

// server reads the CPU time and the memory of the target's servers, added
// up.
func (t target) server() (procStat, error) {
	var sum procStat
	for _, n := range t.nodes() {
		ps, err := readProc(n.pid)
		if err != nil {
			return sum, fmt.Errorf("server process %d: %w", n.pid, err)
		}
		sum.cpu += ps.cpu
		sum.rss += ps.rss
		sum.sleeps += ps.sleeps
	}
	return sum, nil
}

// profiling starts (on) or ends the servers' CPU profile of the window.
func (t target) profiling(on bool) {
	if !t.profile {
		return
	}
	sig := syscall.SIGUSR2
	if on {
		sig = syscall.SIGUSR1
	}
	for _, n := range t.nodes() {
		_ = syscall.Kill(n.pid, sig)
	}
}

// maxRedirects bounds the redirects a join follows (a cluster sends a
// join to the node its room lives on: one is enough).
const maxRedirects = 3

// dialJoin connects to url and joins room as name, following the
// redirects of a cluster to the room's node.
func dialJoin(ctx context.Context, url, room, name string, o client.Options) (*client.Client, error) {
	for range maxRedirects + 1 {
		c, err := client.Dial(ctx, url, o)
		if err != nil {
			return nil, err
		}
		_, err = c.Join(ctx, room, name)
		if err == nil {
			return c, nil
		}
		c.Close()
		var r *client.Redirect
		if !errors.As(err, &r) {
			return nil, err
		}
		url = r.URL
	}
	return nil, fmt.Errorf("join %s: more than %d redirects", room, maxRedirects)
}

// participant is one client of the bench.
type participant struct {
	c      *client.Client // nil for a WHEP viewer
	viewer *whepViewer
	pub    *publisher
	sub    *subscriber
}

// join connects and joins n clients to room, at most parallel at a time,
// each made by mk. It returns those that joined, and the first error.
func join(ctx context.Context, t target, room, prefix string, n, parallel int, opts func(i int) (client.Options, *subscriber)) ([]*participant, error) {
	return joinFrom(ctx, t, 0, room, prefix, n, parallel, opts)
}

// joinFrom is join whose i-th client dials the node t.urlFor(first+i).
func joinFrom(ctx context.Context, t target, first int, room, prefix string, n, parallel int, opts func(i int) (client.Options, *subscriber)) ([]*participant, error) {
	return inParallel(n, parallel, func(i int) (*participant, error) {
		o, sub := opts(i)
		o.LoopbackOnly = true
		if sub != nil {
			n, err := newStampNet(&sub.arr)
			if err != nil {
				return nil, err
			}
			n.ports = sub.ports
			o.Net = n
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if sub != nil {
			sub.connecting.Store(time.Now().UnixNano())
		}
		c, err := dialJoin(cctx, t.urlFor(first+i), room, fmt.Sprintf("%s%d", prefix, i), o)
		if err != nil {
			return nil, fmt.Errorf("%s%d: %w", prefix, i, err)
		}
		return &participant{c: c, sub: sub}, nil
	})
}

// inParallel makes n participants with mk, at most parallel at a time,
// and returns those it made, in order, and the first error.
func inParallel(n, parallel int, mk func(i int) (*participant, error)) ([]*participant, error) {
	out := make([]*participant, n)
	sem := make(chan struct{}, parallel)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p, err := mk(i)
			if err != nil {
				mu.Lock()
				firstErr = cmp.Or(firstErr, err)
				mu.Unlock()
				return
			}
			out[i] = p
		})
	}
	wg.Wait()
	made := out[:0]
	for _, p := range out {
		if p != nil {
			made = append(made, p)
		}
	}
	return made, firstErr
}

// run runs one scenario against t and returns what it measured.
func run(ctx context.Context, t target, sc Scenario) (Result, error) {
	res := Result{Scenario: sc}
	if sc.Recorders > 0 {
		return runRecorders(ctx, t, sc)
	}
	rooms := liveRooms(sc)
	var measuring atomic.Bool
	var everyone []*participant
	defer func() { closeAll(everyone) }()

	before, err := t.server()
	if err != nil {
		return res, err
	}

	// Publishers first, sending; they also receive each other, as people
	// in a call do.
	// Each room's first joiner goes to another node in turn: the node a
	// room's first join reaches places it, on itself when the loads are
	// even.
	var pubs []*participant
	for k, room := range rooms {
		ps, err := joinFrom(ctx, t, k, room, prefixOf("pub", k, len(rooms)), sc.Publishers, 8, func(int) (client.Options, *subscriber) {
			s := &subscriber{measuring: &measuring}
			return client.Options{OnTrack: s.onTrack}, s
		})
		pubs = append(pubs, ps...)
		everyone = append(everyone, ps...)
		if err != nil {
			return res, err
		}
	}
	var senders sending
	defer senders.end()
	if err := senders.start(ctx, pubs, "pub", sc); err != nil {
		return res, err
	}

	var shape *shaper
	var ports portRange
	if sc.Constrained > 0 {
		// Two sockets each at most (a subscriber opens one, on
		// 127.0.0.1).
		ports.limit = 2 * sc.Constrained
		if shape, err = openShaper(sc.ConstrainedBps, ports.limit); err != nil {
			return res, err
		}
		defer shape.close()
	}
	joined := time.Now()
	var subs []*participant
	for k, room := range rooms {
		var ss []*participant
		if sc.WHEP {
			ss, err = watchWHEP(ctx, t, room, sc.Subscribers, 16, func(int) *subscriber { return &subscriber{measuring: &measuring} })
		} else {
			ss, err = joinFrom(ctx, t, k, room, prefixOf("sub", k, len(rooms)), sc.Subscribers+sc.Constrained, 16, func(i int) (client.Options, *subscriber) {
				s := &subscriber{measuring: &measuring}
				if i >= sc.Subscribers {
					s.ports = &ports
				}
				return client.Options{OnTrack: s.onTrack, NoTransportCC: sc.NoCC}, s
			})
		}
		subs = append(subs, ss...)
		everyone = append(everyone, ss...)
		if err != nil {
			res.Problems = append(res.Problems, "join: "+err.Error())
		}
	}

	// Wait until every receiver has every track it should get.
	perTrack := 1
	if sc.VideoBps > 0 {
		perTrack = 2
	}
	want := func(p *participant) int {
		switch {
		case p.viewer != nil:
			return perTrack // a viewer follows one publisher
		case p.pub != nil:
			return (sc.Publishers - 1) * perTrack // of its room
		}
		return sc.Publishers * perTrack
	}
	deadline := time.Now().Add(60*time.Second + time.Duration(len(everyone))*100*time.Millisecond)
	for {
		ready := 0
		for _, p := range subs {
			if p.sub.ready() >= want(p) {
				ready++
			}
		}
		res.ReadySubscribers = ready
		if ready == len(subs) || time.Now().After(deadline) || sc.Talk > 0 && ready > 0 && time.Now().After(deadline.Add(-50*time.Second)) {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if want := len(rooms) * (sc.Subscribers + sc.Constrained); res.ReadySubscribers < want {
		res.Problems = append(res.Problems, fmt.Sprintf("only %d of %d subscribers received every track", res.ReadySubscribers, want))
	}
	var free, shaped []*participant
	for _, p := range subs {
		if p.sub.ports != nil {
			shaped = append(shaped, p)
		} else {
			free = append(free, p)
		}
	}
	var wants []int
	if sc.Constrained > 0 {
		res.Constrain = &ConstrainedResult{Kbps: sc.ConstrainedBps / 1000, Subscribers: len(shaped)}
		if err := res.Constrain.settle(ctx, free, shaped, joined); err != nil {
			return res, err
		}
	} else if sc.Simulcast {
		if wants, err = askLayers(ctx, subs); err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
	}
	time.Sleep(sc.Warmup)

	// The window.
	a, b, err := t.window(ctx, sc, pubs, measuring.Store)
	if err != nil {
		return res, err
	}

	var hist, read histogram
	var gaps, late, unstamped uint64
	for _, p := range everyone {
		for _, st := range p.sub.all() {
			res.ForwardedPackets += st.packets.Load()
			gaps += st.gaps.Load()
			late += st.late.Load()
			unstamped += st.unstamped.Load()
			st.mu.Lock()
			hist.merge(&st.hist)
			read.merge(&st.read)
			st.mu.Unlock()
		}
	}
	if res.ForwardedPackets > 0 && unstamped*100 > res.ForwardedPackets {
		res.Problems = append(res.Problems, fmt.Sprintf("%d packets without a kernel arrival time: their latency is when the generator read them", unstamped))
	}
	res.account(a, b, res.ForwardedPackets)
	res.ForwardedPerSec = float64(res.ForwardedPackets) / res.Seconds
	lost := float64(gaps) - float64(late)
	if lost < 0 {
		lost = 0
	}
	if total := float64(res.ForwardedPackets) + lost; total > 0 {
		res.LossPercent = 100 * lost / total
	}
	res.LatencyP50Ms = ms(hist.quantile(0.50))
	res.LatencyP99Ms = ms(hist.quantile(0.99))
	res.ReadP50Ms = ms(read.quantile(0.50))
	res.ReadP99Ms = ms(read.quantile(0.99))
	if sc.VideoBps > 0 && sc.Talk == 0 { // a publisher that pauses makes it wait for the talk
		res.keyframes(subs)
	}
	if sc.Constrained > 0 {
		res.Constrain.window(ctx, free, shaped)
		if err := res.Constrain.climb(ctx, shape, shaped); err != nil {
			return res, err
		}
		res.Problems = append(res.Problems, res.Constrain.problems(len(free))...)
	} else if sc.Simulcast {
		res.layers(ctx, subs, wants)
	}
	if n := len(subs) + len(pubs); n > 0 {
		res.RSSPerSubKB = float64(b.srv.rss-before.rss) / 1e3 / float64(n)
	}
	return res, nil
}

// keyframes fills in how long the subscribers, who all joined while the
// video ran, waited from connecting to their first keyframe: the join,
// ICE and DTLS, the server's keyframe request and the publisher's answer.
func (r *Result) keyframes(subs []*participant) {
	var waits []time.Duration
	for _, p := range subs {
		if at := p.sub.keyframe.Load(); at != 0 {
			waits = append(waits, time.Duration(at-p.sub.connecting.Load()))
		}
	}
	if missing := len(subs) - len(waits); missing > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d of %d subscribers got no keyframe", missing, len(subs)))
	}
	if len(waits) == 0 {
		return
	}
	slices.Sort(waits)
	r.KeyframeP50Ms = ms(waits[(len(waits)-1)/2])
	r.KeyframeMaxMs = ms(waits[len(waits)-1])
}

// runRecorders has sc.Recorders participants publish audio and record it
// into clips for the window, then stop and wait for their clips.
func runRecorders(ctx context.Context, t target, sc Scenario) (Result, error) {
	res := Result{Scenario: sc}
	recs, err := join(ctx, t, roomRecord, "rec", sc.Recorders, 8, func(int) (client.Options, *subscriber) {
		return client.Options{}, nil
	})
	defer closeAll(recs)
	if err != nil {
		return res, err
	}
	var senders sending
	defer senders.end()
	if err := senders.start(ctx, recs, "rec", Scenario{}); err != nil {
		return res, err
	}
	// Let media flow, then start every recording.
	time.Sleep(sc.Warmup)
	for _, p := range recs {
		if err := p.c.Send(map[string]string{"type": "record-start"}); err != nil {
			return res, err
		}
	}
	for _, p := range recs {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := p.c.WaitFor(wctx, "recording")
		cancel()
		if err != nil {
			return res, fmt.Errorf("record-start: %w", err)
		}
	}
	a, b, err := t.window(ctx, sc, recs, nil)
	if err != nil {
		return res, err
	}
	res.account(a, b, b.sent-a.sent)

	// Stop: every recording must end in a stored clip.
	senders.end()
	for _, p := range recs {
		if err := p.c.Send(map[string]string{"type": "record-stop"}); err != nil {
			return res, err
		}
	}
	for _, p := range recs {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		m, err := p.c.WaitFor(wctx, "record-stopped")
		cancel()
		if err != nil {
			res.Problems = append(res.Problems, "record-stop: "+err.Error())
			continue
		}
		var v struct {
			Clip *struct {
				Duration float64 `json:"duration"`
			} `json:"clip"`
		}
		if m.Decode(&v) == nil && v.Clip != nil && v.Clip.Duration >= sc.Measure.Seconds()*0.9 {
			res.Clips++
		}
	}
	if res.Clips < len(recs) {
		res.Problems = append(res.Problems, fmt.Sprintf("only %d of %d recordings became a clip of the whole window", res.Clips, len(recs)))
	}
	return res, nil
}

// snapshot is the state of the server and the generator at one moment.
type snapshot struct {
	at   time.Time
	srv  procStat
	gen  procStat
	core time.Duration // busy time of the server's cores, when pinned
	sent uint64
}

func (t target) snap(senders []*participant) (snapshot, error) {
	s := snapshot{at: time.Now(), sent: sentPackets(senders)}
	var err error
	if s.srv, err = t.server(); err != nil {
		return s, err
	}
	if s.gen, err = readProc(0); err != nil {
		return s, err
	}
	if len(t.cores) > 0 {
		if s.core, err = coreBusy(t.cores); err != nil {
			return s, err
		}
	}
	return s, nil
}

// window measures the server and the generator over sc.Measure, with the
// server's CPU profile running when asked. during, if set, is called at
// the start and the end (true, then false).
func (t target) window(ctx context.Context, sc Scenario, senders []*participant, during func(bool)) (a, b snapshot, err error) {
	if a, err = t.snap(senders); err != nil {
		return a, b, err
	}
	if during != nil {
		during(true)
	}
	t.profiling(true)
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(sc.Measure):
	}
	if during != nil {
		during(false)
	}
	t.profiling(false)
	if err != nil {
		return a, b, err
	}
	b, err = t.snap(senders)
	return a, b, err
}

// account fills in what a window measured, for packets handled (forwarded
// or recorded) in it.
func (r *Result) account(a, b snapshot, packets uint64) {
	wall := b.at.Sub(a.at).Seconds()
	r.Seconds = wall
	r.SentPackets = b.sent - a.sent
	cpu := (b.srv.cpu - a.srv.cpu).Seconds()
	r.ServerCPUSeconds = cpu
	r.ServerCPUPercent = 100 * cpu / wall
	if cpu > 0 {
		r.PerCPUSecond = float64(packets) / cpu
	}
	if wakes := b.srv.sleeps - a.srv.sleeps; wakes > 0 {
		r.WakeupsPerSec = float64(wakes) / wall
		r.PacketsPerWakeup = float64(packets) / float64(wakes)
		r.CPUPerWakeupUs = cpu * 1e6 / float64(wakes)
	}
	if core := (b.core - a.core).Seconds(); core > 0 {
		r.CoreBusySeconds = core
		r.PerCoreSecond = float64(packets) / core
	}
	r.ServerRSSMB = float64(b.srv.rss) / 1e6
	r.GeneratorCPU = 100 * (b.gen.cpu - a.gen.cpu).Seconds() / wall / float64(cpusAllowed())
	r.GeneratorSaturate = r.GeneratorCPU >= 90
}

// sending is the send loops of publishing participants.
type sending struct {
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// start makes every participant of ps publish (named prefix and its
// index), with the scenario's video and push-to-talk, and send until end.
// After an error, the loops already started still need end.
func (s *sending) start(ctx context.Context, ps []*participant, prefix string, sc Scenario) error {
	s.once.Do(func() { s.stop = make(chan struct{}) })
	for i, p := range ps {
		id := fmt.Sprintf("%s%d", prefix, i)
		if sc.Simulcast {
			pub, err := publishSimulcast(ctx, p.c, id, sc.Talk, sc.Pause)
			if err != nil {
				return err
			}
			p.pub = pub
		} else {
			pub, err := newPublisher(id, sc.VideoBps, sc.Talk, sc.Pause)
			if err != nil {
				return err
			}
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			ss, err := p.c.Publish(pctx, pub.tracks()...)
			cancel()
			if err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			for _, tr := range ss {
				go pub.readRTCP(tr)
			}
			p.pub = pub
		}
		pub := p.pub
		s.wg.Add(1)
		go func() { defer s.wg.Done(); pub.run(s.stop) }()
	}
	return nil
}

// end stops the send loops and waits for them; calling it again does
// nothing more.
func (s *sending) end() {
	s.once.Do(func() { s.stop = make(chan struct{}) })
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
}

func sentPackets(ps []*participant) uint64 {
	var n uint64
	for _, p := range ps {
		if p.pub != nil {
			n += p.pub.sent[0].Load() + p.pub.sent[1].Load()
		}
	}
	return n
}

func closeAll(ps []*participant) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p.viewer != nil {
				p.viewer.close()
				return
			}
			p.c.Close()
		}()
	}
	wg.Wait()
}

func ms(d time.Duration) float64 { return math.Round(d.Seconds()*1e5) / 100 }

// liveRooms names the live rooms of sc: the bench's audio or video room,
// and as many more of its kind as sc.Rooms asks for.
func liveRooms(sc Scenario) []string {
	base := roomAudio
	if sc.VideoBps > 0 {
		base = roomVideo
	}
	out := []string{base}
	for k := 2; k <= sc.Rooms; k++ {
		out = append(out, fmt.Sprintf("%s-%d", base, k))
	}
	return out
}

// prefixOf is the name prefix of a kind of client of room k of n: pub
// and sub alone, pub2-, sub2- and so on with several rooms.
func prefixOf(kind string, k, n int) string {
	if n == 1 {
		return kind
	}
	return fmt.Sprintf("%s%d-", kind, k+1)
}
