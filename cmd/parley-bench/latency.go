package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"parley/client"
	"parley/internal/ebmlid"
)

// maxTrials bounds -latency: each trial takes about a second.
const maxTrials = 200

// Latencies are the delays people feel, each over many trials: the
// figures of -latency.
type Latencies struct {
	Trials int `json:"trials"`
	// TalkLive: a publisher starts to send (push-to-talk, after a
	// silence) → its first packet at a subscriber in a live room.
	TalkLive Quantiles `json:"talk_to_listener"`
	// TalkClip: a publisher recording in a clip room starts to send → its
	// first packet in the clip's file on disk (needs the server's data
	// folder); FirstKept counts the stored clips whose first block is
	// that first packet (the first syllable kept).
	TalkClip  Quantiles `json:"talk_to_clip_file"`
	FirstKept int       `json:"first_packet_kept"`
	Clips     int       `json:"clips"`
	// ClipAdded: the talk released (record-stop sent) → clip-added at
	// another participant of the room.
	ClipAdded Quantiles `json:"release_to_clip_added"`
	// Join: a new subscriber starts to connect (websocket, join, ICE,
	// DTLS) → its first video keyframe, from a publisher already sending,
	// the server's keyframe request and the publisher's answer included.
	Join     Quantiles `json:"join_to_keyframe"`
	Problems []string  `json:"problems,omitempty"`
}

// Quantiles sum up the trials of one figure.
type Quantiles struct {
	N     int     `json:"n"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

func quantiles(ds []time.Duration) Quantiles {
	if len(ds) == 0 {
		return Quantiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[int(q*float64(len(s)-1)+0.5)] }
	return Quantiles{N: len(s), P50Ms: ms(at(0.50)), P99Ms: ms(at(0.99)), MaxMs: ms(s[len(s)-1])}
}

func (q Quantiles) String() string {
	if q.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f / %.1f ms (max %.1f, %d trials)", q.P50Ms, q.P99Ms, q.MaxMs, q.N)
}

// talker publishes one audio track and sends in spurts, as a push-to-talk
// client does: nothing between them, the RTP clock running on.
type talker struct {
	c     *client.Client
	track *webrtc.TrackLocalStaticRTP
	epoch time.Time
	seq   uint16
}

func newTalker(ctx context.Context, t target, room, name string) (*talker, error) {
	c, err := joinAt(ctx, t, room, name, client.Options{})
	if err != nil {
		return nil, err
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", name)
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = c.Publish(pctx, track)
		cancel()
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: publish: %w", name, err)
	}
	return &talker{c: c, track: track, epoch: time.Now()}, nil
}

// talk sends Opus packets every 20 ms for d; first is the send time
// stamped in the first packet (Unix ns).
func (tk *talker) talk(ctx context.Context, d time.Duration, first *atomic.Int64) {
	tick := time.NewTicker(opusInterval)
	defer tick.Stop()
	end := time.Now().Add(d)
	pl := make([]byte, opusPayload)
	pl[0] = 0xfc // an Opus TOC byte: CELT FB 20 ms
	for {
		now := time.Now()
		tk.seq++
		ts := uint32(now.Sub(tk.epoch) / time.Second * 48000)
		ts += uint32(now.Sub(tk.epoch) % time.Second * 48000 / time.Second)
		stamp(pl)
		if first != nil && first.Load() == 0 {
			first.Store(int64(binary.BigEndian.Uint64(pl[len(pl)-stampBytes:])))
		}
		_ = tk.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: tk.seq, Timestamp: ts}, Payload: pl})
		if now.After(end) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// listener notes when each stamped packet it receives arrived.
type listener struct {
	c       *client.Client
	arr     arrivals
	mu      sync.Mutex
	arrived map[int64]int64 // send stamp → arrival (Unix ns)
	got     chan struct{}   // a packet arrived
}

func newListener(ctx context.Context, t target, room, name string) (*listener, error) {
	l := &listener{arrived: map[int64]int64{}, got: make(chan struct{}, 1)}
	n, err := newStampNet(&l.arr)
	if err != nil {
		return nil, err
	}
	l.c, err = joinAt(ctx, t, room, name, client.Options{OnTrack: l.onTrack, Net: n})
	if err != nil {
		return nil, err
	}
	return l, nil
}

func (l *listener) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	ssrc := uint32(tr.SSRC())
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if n < 12+stampBytes {
			continue
		}
		now := time.Now().UnixNano()
		at, _ := l.arr.get(ssrc, binary.BigEndian.Uint16(buf[2:4]), now)
		sent := int64(binary.BigEndian.Uint64(buf[n-stampBytes : n]))
		l.mu.Lock()
		l.arrived[sent] = at
		l.mu.Unlock()
		select {
		case l.got <- struct{}{}:
		default:
		}
	}
}

// waitFor returns when the packet stamped sent arrived.
func (l *listener) waitFor(ctx context.Context, sent int64) (time.Duration, error) {
	for {
		l.mu.Lock()
		at, ok := l.arrived[sent]
		clear(l.arrived)
		l.mu.Unlock()
		if ok {
			return time.Duration(at - sent), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-l.got:
		}
	}
}

func joinAt(ctx context.Context, t target, room, name string, o client.Options) (*client.Client, error) {
	o.LoopbackOnly = true
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := dialJoin(cctx, t.url, room, name, o)
	if err != nil {
		return nil, fmt.Errorf("%s: join: %w", name, err)
	}
	return c, nil
}

// measureLatencies runs trials of each figure against t, one after the
// other, each on a quiet server.
func measureLatencies(ctx context.Context, t target, trials int) (Latencies, error) {
	res := Latencies{Trials: trials}
	if err := talkLive(ctx, t, trials, &res); err != nil {
		return res, fmt.Errorf("push-to-talk, live: %w", err)
	}
	if err := talkClip(ctx, t, trials, &res); err != nil {
		return res, fmt.Errorf("push-to-talk, clip: %w", err)
	}
	if err := joins(ctx, t, trials, &res); err != nil {
		return res, fmt.Errorf("join: %w", err)
	}
	return res, nil
}

// talkLive: a talker and a listener in a live room; each trial talks for
// 200 ms after a silence of 300 ms.
func talkLive(ctx context.Context, t target, trials int, res *Latencies) error {
	tk, err := newTalker(ctx, t, roomAudio, "talker")
	if err != nil {
		return err
	}
	defer tk.c.Close()
	l, err := newListener(ctx, t, roomAudio, "listener")
	if err != nil {
		return err
	}
	defer l.c.Close()
	// The listener's connection is up once a first spurt reaches it.
	var first atomic.Int64
	deadline := time.Now().Add(30 * time.Second)
	for {
		first.Store(0)
		tk.talk(ctx, 100*time.Millisecond, &first)
		wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := l.waitFor(wctx, first.Load())
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return errors.New("the listener receives nothing")
		}
	}
	var ds []time.Duration
	for range trials {
		if err := sleep(ctx, 300*time.Millisecond); err != nil {
			return err
		}
		first.Store(0)
		talked := make(chan struct{})
		go func() { defer close(talked); tk.talk(ctx, 200*time.Millisecond, &first) }()
		for first.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		d, err := l.waitFor(wctx, first.Load())
		cancel()
		// The spurt ends before the next begins: one talker, one spurt.
		<-talked
		if err != nil {
			res.Problems = append(res.Problems, "a spurt's first packet never reached the listener")
			continue
		}
		ds = append(ds, d)
	}
	if err := sleep(ctx, 300*time.Millisecond); err != nil { // the last spurt ends
		return err
	}
	res.TalkLive = quantiles(ds)
	return nil
}

// talkClip: a talker records clips in a clip room, where a listener
// waits for them. Each trial: record-start, talk 800 ms, record-stop.
func talkClip(ctx context.Context, t target, trials int, res *Latencies) error {
	tk, err := newTalker(ctx, t, roomRecord, "talker")
	if err != nil {
		return err
	}
	defer tk.c.Close()
	other, err := joinAt(ctx, t, roomRecord, "other", client.Options{})
	if err != nil {
		return err
	}
	defer other.Close()
	clipDir := ""
	if t.data != "" {
		clipDir = filepath.Join(t.data, "rooms", roomRecord, "clips")
	}
	var toFile, toEvent []time.Duration
	for range trials {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := clipTrial(wctx, tk, other, clipDir, res, &toFile, &toEvent)
		cancel()
		if err != nil {
			return err
		}
	}
	res.TalkClip, res.ClipAdded = quantiles(toFile), quantiles(toEvent)
	if clipDir == "" {
		res.Problems = append(res.Problems, "the server's data folder is not known (-data): no figure for the clip file")
	}
	return nil
}

func clipTrial(ctx context.Context, tk *talker, other *client.Client, clipDir string, res *Latencies, toFile, toEvent *[]time.Duration) error {
	if err := tk.c.Send(map[string]string{"type": "record-start"}); err != nil {
		return err
	}
	m, err := tk.c.WaitFor(ctx, "recording")
	if err != nil {
		return err
	}
	var rec struct {
		ID string `json:"id"`
	}
	if err := m.Decode(&rec); err != nil || rec.ID == "" || strings.ContainsAny(rec.ID, `/\.`) {
		return fmt.Errorf("recording: no clip id in %s", m.Raw)
	}
	var first atomic.Int64
	talked := make(chan struct{})
	go func() { defer close(talked); tk.talk(ctx, 800*time.Millisecond, &first) }()
	for first.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var stampBuf [stampBytes]byte
	binary.BigEndian.PutUint64(stampBuf[:], uint64(first.Load()))
	if clipDir != "" {
		// The first packet, in the file being written.
		part := filepath.Join(clipDir, rec.ID+".part")
		for {
			if b, err := os.ReadFile(part); err == nil && bytes.Contains(b, stampBuf[:]) {
				*toFile = append(*toFile, time.Duration(time.Now().UnixNano()-first.Load()))
				break
			}
			if err := sleep(ctx, time.Millisecond); err != nil {
				res.Problems = append(res.Problems, "a clip's first packet never reached its file")
				break
			}
		}
	}
	<-talked
	released := time.Now()
	if err := tk.c.Send(map[string]string{"type": "record-stop"}); err != nil {
		return err
	}
	if _, err := other.WaitFor(ctx, "clip-added"); err != nil {
		return err
	}
	*toEvent = append(*toEvent, time.Since(released))
	m, err = tk.c.WaitFor(ctx, "record-stopped")
	if err != nil {
		return err
	}
	var stopped struct {
		Clip *struct {
			ID string `json:"id"`
		} `json:"clip"`
	}
	if m.Decode(&stopped) != nil || stopped.Clip == nil {
		res.Problems = append(res.Problems, "a recording stored no clip: "+string(m.Raw))
		return nil
	}
	res.Clips++
	if clipDir != "" && !strings.ContainsAny(stopped.Clip.ID, `/\.`) {
		if b, err := os.ReadFile(filepath.Join(clipDir, stopped.Clip.ID+".webm")); err == nil && firstBlockHolds(b, stampBuf[:]) {
			res.FirstKept++
		}
	}
	return sleep(ctx, 200*time.Millisecond)
}

// firstBlockHolds tells whether the first SimpleBlock of a clip that the
// recorder wrote holds the packet stamped stamp: the clip starts with the
// first packet sent. The recorder's first Cluster starts with its
// Timecode, then that block (one Opus packet).
func firstBlockHolds(clip, stamp []byte) bool {
	id := []byte{ebmlid.Cluster >> 24, ebmlid.Cluster >> 16 & 0xff, ebmlid.Cluster >> 8 & 0xff, ebmlid.Cluster & 0xff}
	i := bytes.Index(clip, id)
	if i < 0 {
		return false
	}
	b := clip[i+len(id):]
	_, n := vint(b) // the Cluster's size
	b = b[n:]
	if len(b) == 0 || b[0] != ebmlid.Timecode {
		return false
	}
	size, n := vint(b[1:])
	if n == 0 || uint64(len(b)) < 1+uint64(n)+size {
		return false
	}
	b = b[1+n+int(size):]
	if len(b) == 0 || b[0] != ebmlid.SimpleBlock {
		return false
	}
	size, n = vint(b[1:])
	if n == 0 || size < 4 || uint64(len(b)) < 1+uint64(n)+size {
		return false
	}
	return bytes.HasSuffix(b[1+n:1+n+int(size)], stamp)
}

// vint reads an EBML size: its value and length, 0 if b holds none.
func vint(b []byte) (uint64, int) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0
	}
	l := bits.LeadingZeros8(b[0]) + 1
	if len(b) < l {
		return 0, 0
	}
	v := uint64(b[0]) & (0xff >> l)
	for _, c := range b[1:l] {
		v = v<<8 | uint64(c)
	}
	return v, l
}

// joins: a video publisher sends; each trial a new subscriber joins and
// waits for its first keyframe, then leaves. The server asks the
// publisher for a keyframe at most every 500 ms, so trials are 600 ms
// apart, as joins a person makes by hand are.
func joins(ctx context.Context, t target, trials int, res *Latencies) error {
	pc, err := joinAt(ctx, t, roomVideo, "camera", client.Options{})
	if err != nil {
		return err
	}
	defer pc.Close()
	pub, err := newPublisher("camera", 800_000, 0, 0)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ss, err := pc.Publish(pctx, pub.tracks()...)
	cancel()
	if err != nil {
		return err
	}
	for _, s := range ss {
		go pub.readRTCP(s)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { pub.run(stop) })
	defer func() { close(stop); wg.Wait() }()
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	var ds []time.Duration
	for i := range trials {
		var measuring atomic.Bool
		sub := &subscriber{measuring: &measuring}
		ps, err := join(ctx, t, roomVideo, fmt.Sprintf("viewer%d-", i), 1, 1, func(int) (client.Options, *subscriber) {
			return client.Options{OnTrack: sub.onTrack}, sub
		})
		if err != nil {
			closeAll(ps)
			return err
		}
		deadline := time.Now().Add(10 * time.Second)
		for sub.keyframe.Load() == 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(2 * time.Millisecond)
		}
		if at := sub.keyframe.Load(); at != 0 {
			ds = append(ds, time.Duration(at-sub.connecting.Load()))
		} else {
			res.Problems = append(res.Problems, "a new subscriber got no keyframe within 10 s")
		}
		closeAll(ps)
		if err := sleep(ctx, 600*time.Millisecond); err != nil {
			return err
		}
	}
	res.Join = quantiles(ds)
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// latencyTable renders the figures as markdown.
func latencyTable(l Latencies) string {
	var b strings.Builder
	b.WriteString("| figure | p50 / p99 | target |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| push-to-talk, live: start sending → first packet at a subscriber | %s | p99 < 50 ms |\n", l.TalkLive)
	fmt.Fprintf(&b, "| push-to-talk, clip: start sending → first packet in the clip file | %s | p99 < 50 ms |\n", l.TalkClip)
	fmt.Fprintf(&b, "| clips that start with the first packet sent | %d of %d | all |\n", l.FirstKept, l.Clips)
	fmt.Fprintf(&b, "| clip available: release → clip-added at another participant | %s | p99 < 200 ms |\n", l.ClipAdded)
	fmt.Fprintf(&b, "| join: connecting → first keyframe from a running video publisher | %s | p99 < 300 ms |\n", l.Join)
	for _, p := range l.Problems {
		fmt.Fprintf(&b, "\n%s", p)
	}
	return b.String()
}
