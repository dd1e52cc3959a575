// Command parley-bench drives a parley server through its real protocol
// with headless Pion clients and measures how fast it forwards.
//
// Publishers send synthetic Opus at 50 packets/s (and optionally VP8 at a
// chosen bitrate, paced as a browser paces it), each payload ending with
// its send time; subscribers count packets, sequence gaps (loss) and the
// one-way latency. Recorders publish audio into a clip room and record
// it. The server's CPU time and RSS are read from /proc/<pid>. It prints
// one JSON line per scenario and a table.
//
// With -latency N it measures instead the delays people feel, N trials of
// each (latency.go): push-to-talk to a listener and into a clip's file,
// a clip's release to its announcement, a join to its first picture.
//
//	parley-bench -server bin/parley -server-cpus 0 -publishers 1 -subscribers 200 -video-kbps 800
//	parley-bench -url ws://127.0.0.1:8080/ws -pid 1234 -subscribers 50
//	taskset -c 1 parley-bench -server bin/parley -server-cpus 0 -matrix standard -json bench/results.json -md bench/results.md
//	taskset -c 1 parley-bench -server bin/parley -server-cpus 0 -latency 50
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := mainErr(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		os.Exit(1)
	}
}

// whep makes the subscribers of sc WHEP viewers.
func whep(sc Scenario) Scenario {
	sc.WHEP = true
	return sc
}

// simulcast makes the publishers of sc send simulcast, its runs
// interleaved with those of the scenario named versus. Its subscribers
// do without congestion control: with the generator's one core behind
// 200 of them, their feedback would measure the generator's delays and
// hold them on the lowest layers; each gets the layer its video-size
// asks for.
func simulcast(sc Scenario, versus string) Scenario {
	sc.Simulcast, sc.VideoBps, sc.Versus, sc.NoCC = true, simulcastBps(), versus, true
	return sc
}

// singleNoCC is the single-layer scenario the simulcast one is compared
// with: its subscribers, as the simulcast one's, without transport-cc, so
// that neither side reads feedback the other does not.
const singleNoCC = "video 1×200 without transport-cc"

// noCC has the subscribers of sc refuse transport-cc.
func noCC(sc Scenario) Scenario {
	sc.NoCC = true
	return sc
}

// constrained puts n more subscribers of the simulcast scenario sc
// behind a link of kbps, and has every subscriber run congestion control:
// with a few subscribers the generator's delays do not swamp their
// feedback (see simulcast).
func constrained(sc Scenario, n, kbps int) Scenario {
	sc.Constrained, sc.ConstrainedBps, sc.NoCC = n, kbps*1000, false
	return sc
}

// standardMatrix is what make bench runs.
func standardMatrix(warmup, measure time.Duration) []Scenario {
	sc := func(name string, p, s, kbps, rec int) Scenario {
		return Scenario{Name: name, Publishers: p, Subscribers: s, VideoBps: kbps * 1000, Recorders: rec, Warmup: warmup, Measure: measure}
	}
	return []Scenario{
		sc("audio 1×50", 1, 50, 0, 0),
		sc("audio 1×200", 1, 200, 0, 0),
		sc("audio 1×500", 1, 500, 0, 0),
		sc("audio 1×1000", 1, 1000, 0, 0),
		sc("video 1×10", 1, 10, 800, 0),
		sc("video 1×50", 1, 50, 800, 0),
		sc("video 1×100", 1, 100, 800, 0),
		sc("video 1×200", 1, 200, 800, 0),
		noCC(sc(singleNoCC, 1, 200, 800, 0)),
		simulcast(sc("video 1×200 simulcast", 1, 200, 0, 0), singleNoCC),
		whep(sc("video 1×200 WHEP", 1, 200, 800, 0)),
		sc("audio+video 5×5", 5, 5, 800, 0),
		sc("50 audio recorders", 0, 0, 0, 50),
		sc("200 audio recorders", 0, 0, 0, 200),
	}
}

// Report is what -json writes.
type Report struct {
	Date      string   `json:"date"`
	Machine   string   `json:"machine"`
	CPUs      int      `json:"cpus"`
	GoVersion string   `json:"go_version"`
	Revision  string   `json:"revision,omitempty"`
	Server    string   `json:"server_cpus,omitempty"`
	Results   []Result `json:"results"`
}

func mainErr(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("parley-bench", flag.ContinueOnError)
	var (
		serverBin  = fs.String("server", "", "parley binary to start for each scenario (with a bench config in a temporary folder)")
		serverCPUs = fs.String("server-cpus", "", "CPU list (taskset -c) to pin the started server to, e.g. 0")
		recvWindow = fs.String("receive-window", "", "media.receive_window of the started server, e.g. 1ms (default: the server's default)")
		url        = fs.String("url", "", "websocket URL of a running server instead of -server, e.g. ws://127.0.0.1:8080/ws; its rooms must be those of the bench config; several, comma-separated: the nodes of a cluster, over which the joins are spread")
		pid        = fs.String("pid", "", "process id of the running server given by -url, for its CPU time and RSS; with several URLs, theirs, comma-separated in the same order")
		nodes      = fs.Int("nodes", 1, fmt.Sprintf("with -server: start this many servers as the nodes of one cluster on a redis-server of the bench's (on PATH), and spread the joins over them (at most %d)", maxNodes))
		rooms      = fs.Int("rooms", 1, fmt.Sprintf("live rooms, each with -publishers and -subscribers; with several nodes, each room's first join goes to the next node, which places it (at most %d)", maxRooms))
		matrix     = fs.String("matrix", "", `"standard": run the standard matrix; "simulcast": only video 1×200 without transport-cc and its simulcast, runs interleaved (both need -server)`)
		pubs       = fs.Int("publishers", 1, "publishers")
		subs       = fs.Int("subscribers", 10, "subscribers")
		kbps       = fs.Int("video-kbps", 0, "VP8 bitrate of each publisher in kbit/s; 0 = audio only")
		whepSubs   = fs.Bool("whep", false, "the subscribers watch over WHEP (POST /whep/{room}) instead of joining")
		simul      = fs.Bool("simulcast", false, "the publishers send their video as simulcast (rids q, h, f: 320x180 at 150 kbit/s, 640x360 at 500, 1280x720 at 1500; -video-kbps is ignored) and the subscribers, spread evenly, ask each for one layer (video-size)")
		constr     = fs.Int("constrained", 0, "with -simulcast: this many more subscribers behind a link of -constrained-kbps, all with congestion control; needs a network namespace of its own (see constrained.go)")
		constrKbps = fs.Int("constrained-kbps", 500, "the constrained subscribers' link, kbit/s (the lowest layer and the audio take about 230)")
		recorders  = fs.Int("recorders", 0, "participants recording audio clips instead of publishers and subscribers")
		ptt        = fs.String("ptt", "", `push-to-talk: "talk/pause" such as "2s/1s"; empty = always talking`)
		warmup     = fs.Duration("warmup", 2*time.Second, "time between every subscriber receiving and the measurement")
		measure    = fs.Duration("duration", 10*time.Second, "length of the measurement window")
		jsonOut    = fs.String("json", "", "write the report as JSON to this file")
		mdOut      = fs.String("md", "", "write the table as markdown to this file")
		repeat     = fs.Int("repeat", 1, "runs of each scenario (each against a fresh server with -server); the report keeps the median run by packets per server CPU-second, and every run's figure")
		profileDir = fs.String("profile", "", "with -server: write the server's CPU profile of each measurement window into this folder")
		rev        = fs.String("revision", "", "the server's source revision, for the report (default: this binary's)")
		profiled   = fs.Bool("pid-profiles", false, "with -url: the server runs with -cpuprofile; signal it to profile the window")
		selfProf   = fs.String("self-profile", "", "write the generator's own CPU profile of the whole run to this file")
		latency    = fs.Int("latency", 0, fmt.Sprintf("instead of a load: measure the latencies people feel (push-to-talk, a clip's availability, a join's first picture), this many trials of each (at most %d)", maxTrials))
		dataDir    = fs.String("data", "", "with -url: the server's data folder (storage.data_dir), to see its clip files")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*serverBin == "") == (*url == "") {
		return errors.New("give either -server BIN or -url URL (with -pid)")
	}
	running, err := runningTarget(*url, *pid)
	if err != nil {
		return err
	}
	spec := serverSpec{bin: *serverBin, cpus: *serverCPUs, receiveWindow: *recvWindow}
	if *nodes < 1 || *nodes > maxNodes || *nodes > 1 && *serverBin == "" {
		return fmt.Errorf("-nodes %d: from 1 to %d, with -server (with -url, give every node's URL)", *nodes, maxNodes)
	}
	if *rooms < 1 || *rooms > maxRooms {
		return fmt.Errorf("-rooms %d: from 1 to %d", *rooms, maxRooms)
	}
	if *repeat < 1 {
		return fmt.Errorf("-repeat %d: at least 1", *repeat)
	}
	if *latency < 0 || *latency > maxTrials {
		return fmt.Errorf("-latency %d: from 1 to %d trials", *latency, maxTrials)
	}
	if *latency > 0 {
		if *nodes > 1 || len(running.others) > 0 || *rooms > 1 {
			return errors.New("-latency measures one server: not with -nodes, several -url or -rooms")
		}
		running.data = *dataDir
		return latencyMain(*latency, running, spec, *jsonOut, *mdOut, stdout)
	}
	var scenarios []Scenario
	switch *matrix {
	case "standard", "simulcast":
		if *serverBin == "" {
			return errors.New("-matrix needs -server: each scenario starts a fresh server")
		}
		scenarios = standardMatrix(*warmup, *measure)
		if *matrix == "simulcast" {
			scenarios = slices.DeleteFunc(scenarios, func(sc Scenario) bool { return sc.Name != singleNoCC && sc.Versus != singleNoCC })
		}
	case "":
		sc := Scenario{Publishers: *pubs, Subscribers: *subs, VideoBps: *kbps * 1000, Recorders: *recorders, WHEP: *whepSubs, Warmup: *warmup, Measure: *measure, Nodes: max(*nodes, 1+len(running.others))}
		if *rooms > 1 {
			if *simul || *recorders > 0 {
				return errors.New("-rooms is for plain audio or video rooms: not with -simulcast or -recorders")
			}
			sc.Rooms = *rooms
		}
		if *simul {
			if *whepSubs {
				return errors.New("-simulcast needs subscribers that join (they ask for a layer over the websocket), not -whep")
			}
			sc = simulcast(sc, "")
			if *constr > 0 {
				sc = constrained(sc, *constr, *constrKbps)
			}
		} else if *constr > 0 {
			return errors.New("-constrained needs -simulcast")
		}
		if *constr < 0 || *constr > shapedPorts/2 || *constrKbps < 30 {
			return fmt.Errorf("-constrained %d at %d kbit/s: from 0 to %d subscribers, at 30 kbit/s or more", *constr, *constrKbps, shapedPorts/2)
		}
		if *ptt != "" {
			t, p, ok := strings.Cut(*ptt, "/")
			var err1, err2 error
			sc.Talk, err1 = time.ParseDuration(t)
			sc.Pause, err2 = time.ParseDuration(p)
			if !ok || err1 != nil || err2 != nil || sc.Talk <= 0 || sc.Pause < 0 {
				return fmt.Errorf("-ptt %q: want talk/pause durations such as 2s/1s", *ptt)
			}
		}
		sc.Name = describe(sc)
		scenarios = []Scenario{sc}
	default:
		return fmt.Errorf("-matrix %q: the matrices are \"standard\" and \"simulcast\"", *matrix)
	}
	for _, sc := range scenarios {
		if sc.Recorders == 0 && (sc.Publishers < 1 || sc.Subscribers < 0) || sc.Recorders < 0 || sc.Measure <= 0 {
			return fmt.Errorf("scenario %q: needs at least one publisher (or recorders) and a positive duration", sc.Name)
		}
	}

	var cores []int
	if *serverCPUs != "" {
		var err error
		if cores, err = parseCPUList(*serverCPUs); err != nil {
			return fmt.Errorf("-server-cpus: %w", err)
		}
	}
	if *selfProf != "" {
		f, err := os.Create(*selfProf)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := Report{Date: time.Now().UTC().Format(time.RFC3339), Machine: cpuModel(), CPUs: onlineCPUs(),
		GoVersion: runtime.Version(), Revision: *rev, Server: *serverCPUs}
	if rep.Revision == "" {
		rep.Revision = revision()
	}
	fmt.Fprintf(os.Stderr, "parley-bench: %s, %d CPUs, generator on %d of them\n", rep.Machine, rep.CPUs, cpusAllowed())
	// Each group's scenarios run in turn, repeat times over: a scenario
	// compared with another (Versus) alternates with it, so that both
	// see the same machine.
	for _, group := range interleave(scenarios) {
		runs := make([][]Result, len(group))
		for i := range *repeat {
			for j, sc := range group {
				fmt.Fprintf(os.Stderr, "parley-bench: %s (run %d of %d) ...\n", sc.Name, i+1, *repeat)
				t := running
				t.profile = *profiled
				res, err := runOnce(ctx, sc, i, t, spec, *profileDir, cores)
				if err != nil {
					return fmt.Errorf("%s: %w", sc.Name, err)
				}
				line, _ := json.Marshal(res)
				fmt.Fprintln(stdout, string(line))
				runs[j] = append(runs[j], res)
			}
		}
		for _, rs := range runs {
			rep.Results = append(rep.Results, median(rs))
		}
	}
	compare(rep.Results)
	table := markdown(rep)
	fmt.Fprint(stdout, "\n"+table)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *mdOut != "" {
		if err := os.WriteFile(*mdOut, []byte(table), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runOnce runs sc (its run i) against t, or a fresh server started from
// spec.
func runOnce(ctx context.Context, sc Scenario, i int, t target, spec serverSpec, profileDir string, cores []int) (Result, error) {
	if spec.bin == "" {
		return run(ctx, t, sc)
	}
	prof := ""
	if profileDir != "" {
		if err := os.MkdirAll(profileDir, 0o755); err != nil {
			return Result{}, err
		}
		prof = filepath.Join(profileDir, fmt.Sprintf("%s-%d.pprof", slug(sc.Name), i+1))
	}
	if sc.Nodes > 1 {
		c, err := spawnCluster(ctx, spec, prof, sc.Nodes)
		if err != nil {
			return Result{}, err
		}
		defer c.stop()
		t := c.target()
		t.profile, t.cores = prof != "", cores
		return run(ctx, t, sc)
	}
	srv, err := spawn(ctx, spec, prof)
	if err != nil {
		return Result{}, err
	}
	defer srv.stop()
	return run(ctx, target{url: srv.url, pid: srv.pid(), profile: prof != "", cores: cores}, sc)
}

// maxNodes bounds -nodes and the URLs of -url.
const maxNodes = 8

// runningTarget is the target of -url and -pid: the servers already
// running, the first URL's the first node; the zero target without -url.
func runningTarget(urls, pids string) (target, error) {
	if urls == "" {
		if pids != "" {
			return target{}, errors.New("-pid goes with -url")
		}
		return target{}, nil
	}
	us, ps := strings.Split(urls, ","), strings.Split(pids, ",")
	if pids == "" || len(us) != len(ps) {
		return target{}, fmt.Errorf("-url gives %d servers: -pid needs as many process ids, comma-separated", len(us))
	}
	if len(us) > maxNodes {
		return target{}, fmt.Errorf("-url gives %d servers, more than %d", len(us), maxNodes)
	}
	var t target
	for i, u := range us {
		pid, err := strconv.Atoi(strings.TrimSpace(ps[i]))
		if err != nil || pid <= 0 {
			return target{}, fmt.Errorf("-pid %q: not a process id", ps[i])
		}
		u = strings.TrimSpace(u)
		if !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
			return target{}, fmt.Errorf("-url %q: want a websocket URL, ws://host:port/ws", u)
		}
		if i == 0 {
			t.url, t.pid = u, pid
		} else {
			t.others = append(t.others, node{url: u, pid: pid})
		}
	}
	return t, nil
}

// interleave groups the scenarios to run together: each with those that
// name it as Versus, in the order given.
func interleave(scenarios []Scenario) [][]Scenario {
	var groups [][]Scenario
	for _, sc := range scenarios {
		at := slices.IndexFunc(groups, func(g []Scenario) bool { return sc.Versus != "" && g[0].Name == sc.Versus })
		if at < 0 {
			groups = append(groups, []Scenario{sc})
		} else {
			groups[at] = append(groups[at], sc)
		}
	}
	return groups
}

// compare sets, for each result measured versus another, its figure as a
// percentage of the other's.
func compare(results []Result) {
	for i, r := range results {
		if r.Versus == "" {
			continue
		}
		for _, o := range results {
			if o.Name == r.Versus && o.PerCPUSecond > 0 {
				results[i].VersusPercent = math.Round(1000*r.PerCPUSecond/o.PerCPUSecond) / 10
			}
		}
	}
}

// median returns the run with the median packets per server CPU-second
// (the lower middle one of an even count), with every run's figure in
// Runs.
func median(runs []Result) Result {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b Result) int { return cmp.Compare(a.PerCPUSecond, b.PerCPUSecond) })
	m := sorted[(len(sorted)-1)/2]
	if len(runs) > 1 {
		m.Runs = nil
		for _, r := range runs {
			m.Runs = append(m.Runs, math.Round(r.PerCPUSecond))
		}
	}
	return m
}

// slug makes a file name of a scenario name.
func slug(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r == '×':
			return 'x'
		}
		return '-'
	}, strings.ToLower(name))
}

func describe(sc Scenario) string {
	switch {
	case sc.Recorders > 0:
		return fmt.Sprintf("%d audio recorders", sc.Recorders)
	case sc.Simulcast && sc.Constrained > 0:
		return fmt.Sprintf("video %d×%d simulcast, %d more at %d kbit/s", sc.Publishers, sc.Subscribers, sc.Constrained, sc.ConstrainedBps/1000)
	case sc.Simulcast:
		return fmt.Sprintf("video %d×%d simulcast", sc.Publishers, sc.Subscribers)
	case sc.VideoBps > 0 && sc.WHEP:
		return fmt.Sprintf("video %d×%d WHEP", sc.Publishers, sc.Subscribers) + spread(sc)
	case sc.VideoBps > 0:
		return fmt.Sprintf("video %d×%d", sc.Publishers, sc.Subscribers) + spread(sc)
	default:
		return fmt.Sprintf("audio %d×%d", sc.Publishers, sc.Subscribers) + spread(sc)
	}
}

// spread says over how many rooms and nodes a scenario runs, when more
// than one.
func spread(sc Scenario) string {
	var parts []string
	if sc.Rooms > 1 {
		parts = append(parts, fmt.Sprintf("%d rooms", sc.Rooms))
	}
	if sc.Nodes > 1 {
		parts = append(parts, fmt.Sprintf("%d nodes", sc.Nodes))
	}
	if len(parts) == 0 {
		return ""
	}
	return ", " + strings.Join(parts, " on ")
}

func joinFloats(fs []float64) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%.0f", f)
	}
	return strings.Join(parts, ", ")
}

func revision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+changes"
	}
	return rev
}

// markdown renders the report as a table.
func markdown(rep Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %s (%d CPUs), %s, revision %s; server pinned to CPUs %q, generator to the others.\n",
		rep.Date, rep.Machine, rep.CPUs, rep.GoVersion, rep.Revision, rep.Server)
	b.WriteString("Server CPU is the server process's user and system time (/proc/<pid>/stat); core-s is the busy time of its pinned core (/proc/stat), which also holds the kernel's softirq work for the packets it sends over loopback, charged to the process or not. Latency is from the send time in the payload to the packet's arrival at the subscriber's socket (the kernel's receive timestamp); read p99 is to the moment the generator, one core for all its clients, read it. Time to keyframe is from a subscriber's starting to connect (all of them join while the video runs, 16 at a time) to the arrival of its first video keyframe (one that has waited a second since its first video packet asks for one itself, as a browser's decoder does).\n\n")
	b.WriteString("| scenario | fwd pkts/s | pkts per server CPU-s | pkts per core-s | server CPU | loss | latency p50 / p99 | read p99 | time to keyframe p50 / max | server RSS | RSS per sub | generator CPU | notes |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rep.Results {
		notes := append([]string(nil), r.Problems...)
		if len(r.Runs) > 1 {
			notes = append(notes, fmt.Sprintf("median of %d runs: %s per CPU-s", len(r.Runs), joinFloats(r.Runs)))
		}
		if r.VersusPercent > 0 {
			notes = append(notes, fmt.Sprintf("%.1f%% of %s's packets per server CPU-s, runs interleaved", r.VersusPercent, r.Versus))
		}
		if ln := layerNote(r.Layers); ln != "" {
			notes = append(notes, ln)
		}
		if cn := r.Constrain.note(r.Subscribers); cn != "" {
			notes = append(notes, cn)
		}
		if r.GeneratorSaturate {
			notes = append(notes, "generator saturated: the figure measures the generator")
		}
		fwd, lat, read, loss, rss := fmt.Sprintf("%.0f", r.ForwardedPerSec), fmt.Sprintf("%.2f / %.2f ms", r.LatencyP50Ms, r.LatencyP99Ms),
			fmt.Sprintf("%.2f ms", r.ReadP99Ms), fmt.Sprintf("%.3f%%", r.LossPercent), fmt.Sprintf("%.0f kB", r.RSSPerSubKB)
		if r.Recorders > 0 {
			fwd, lat, read, loss, rss = fmt.Sprintf("%.0f recorded", float64(r.SentPackets)/r.Seconds), "–", "–", "–", "–"
			notes = append(notes, fmt.Sprintf("%d of %d clips stored", r.Clips, r.Recorders))
		}
		key := "–"
		if r.KeyframeP50Ms > 0 {
			key = fmt.Sprintf("%.0f / %.0f ms", r.KeyframeP50Ms, r.KeyframeMaxMs)
		}
		core := "–"
		if r.PerCoreSecond > 0 {
			core = fmt.Sprintf("%.0f", r.PerCoreSecond)
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %.0f%% | %s | %s | %s | %s | %.0f MB | %s | %.0f%% | %s |\n",
			r.Name, fwd, r.PerCPUSecond, core, r.ServerCPUPercent, loss, lat, read, key, r.ServerRSSMB, rss, r.GeneratorCPU, strings.Join(notes, "; "))
	}
	return b.String()
}

// latencyMain measures the latencies against t, or a fresh server started
// from bin, and writes them.
func latencyMain(trials int, t target, spec serverSpec, jsonOut, mdOut string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if spec.bin != "" {
		srv, err := spawn(ctx, spec, "")
		if err != nil {
			return err
		}
		defer srv.stop()
		t = target{url: srv.url, pid: srv.pid(), data: filepath.Join(srv.dir, "data")}
	}
	fmt.Fprintf(os.Stderr, "parley-bench: latencies, %d trials of each ...\n", trials)
	res, err := measureLatencies(ctx, t, trials)
	if err != nil {
		return err
	}
	line, _ := json.Marshal(res)
	fmt.Fprintln(stdout, string(line))
	table := latencyTable(res)
	fmt.Fprint(stdout, "\n"+table+"\n")
	if jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if mdOut != "" {
		if err := os.WriteFile(mdOut, []byte(table+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}
