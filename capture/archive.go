package capture

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

const (
	// spurtGap is the silence that ends a talk spurt. Push-to-talk clients
	// stop sending when the key is released; a pause this long ends the
	// spurt for clients that talk continuously too.
	spurtGap = time.Second
	// archiveQueue bounds the packets waiting for the archiver.
	archiveQueue = 1024
	// spurtSettle is how long a spurt without a video track waits for one
	// before it starts with the voice alone. A participant's tracks are
	// known only once their first packets arrive, and the first audio
	// packet of a session's first spurt often comes a few milliseconds
	// before the camera's: started at once, that spurt would have no
	// video. What comes meanwhile is kept and written when it starts.
	spurtSettle = 300 * time.Millisecond
	// maxSettling bounds the packets kept while a spurt settles.
	maxSettling = 512
)

// StartFunc starts the recording of a talk spurt; it is StartFed with
// the participant's Config and clip metadata.
type StartFunc func(tracks []Track, onLimit func(reason string)) (*Recording, error)

// Archiver keeps each talk spurt of a participant in a live room as a
// clip, while the spurt is also forwarded live. It watches the
// participant's audio: the first packet after a silence starts a
// recording of the participant's tracks, and a silence of spurtGap ends
// and stores it. Its sinks only copy packets into a queue, so the
// forwarding loop never waits for the disk. Its goroutine runs from
// NewArchiver until Close.
type Archiver struct {
	start StartFunc
	log   *slog.Logger

	mu     sync.Mutex
	tracks []Track
	sink   map[Track]*archiveSink

	queue chan archived
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type archived struct {
	track Track
	pkt   *rtp.Packet
	at    time.Time // its arrival: the recorder places it by that
}

type archiveSink struct {
	a     *Archiver
	track Track
}

// WriteRTP implements sfu.Sink.
func (k *archiveSink) WriteRTP(p *rtp.Packet) {
	cp := &rtp.Packet{Header: p.Header, Payload: append([]byte(nil), p.Payload...)}
	select {
	case k.a.queue <- archived{track: k.track, pkt: cp, at: time.Now()}:
	default: // counted by the recorder as a gap; the live path goes on
	}
}

// NewArchiver starts an archiver that records spurts with start (which
// must return a recording made by StartFed) and logs to log.
func NewArchiver(start StartFunc, log *slog.Logger) *Archiver {
	a := &Archiver{
		start: start,
		log:   log,
		sink:  make(map[Track]*archiveSink),
		queue: make(chan archived, archiveQueue),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go a.run()
	return a
}

// Add makes a track part of the archive from the next spurt on.
func (a *Archiver) Add(t Track) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.sink[t]; ok {
		return
	}
	k := &archiveSink{a: a, track: t}
	a.sink[t] = k
	a.tracks = append(a.tracks, t)
	t.AddSink(k)
}

// Close stores the spurt in progress, stops the archiver's goroutine and
// waits for it, and detaches it from its tracks.
func (a *Archiver) Close() {
	a.once.Do(func() { close(a.quit) })
	<-a.done
	a.mu.Lock()
	for t, k := range a.sink {
		t.RemoveSink(k)
	}
	a.mu.Unlock()
}

func (a *Archiver) run() {
	defer close(a.done)
	var cur *Recording
	var index map[Track]int
	var lastAudio time.Time
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	limit := make(chan struct{}, 1)
	end := func(reason string) {
		if cur == nil {
			return
		}
		rec := cur
		cur = nil
		clip, err := rec.Finish()
		if errors.Is(err, ErrTooShort) {
			a.log.Debug("talk spurt not archived", "err", err)
			return
		}
		if err != nil && clip.ID == "" {
			a.log.Info("talk spurt not archived", "err", err)
			return
		}
		a.log.Debug("talk spurt archived", "clip", clip.ID, "duration", clip.Duration, "reason", reason)
	}
	// settling holds the packets of a spurt that waits for its video
	// track (see spurtSettle), from its first audio packet on.
	var settling []archived
	var settleSince time.Time
	// begin starts the settling spurt once it has a video track, or,
	// with force or after spurtSettle, with what it has; then it writes
	// the packets that came meanwhile.
	begin := func(force bool) {
		if cur != nil || len(settling) == 0 {
			return
		}
		a.mu.Lock()
		var live []Track
		for _, t := range a.tracks {
			if !t.Closed() {
				live = append(live, t)
			}
		}
		a.mu.Unlock()
		tracks := spurtTracks(live, settling[0].track)
		if len(tracks) < 2 && !force && time.Since(settleSince) < spurtSettle {
			return
		}
		held := settling
		settling = nil
		rec, err := a.start(tracks, func(string) {
			select {
			case limit <- struct{}{}:
			default:
			}
		})
		if err != nil {
			a.log.Warn("cannot archive a talk spurt", "err", err)
			return
		}
		cur = rec
		index = make(map[Track]int, len(tracks))
		for i, t := range tracks {
			index[t] = i
		}
		for _, q := range held {
			if i, ok := index[q.track]; ok {
				cur.sinks[i].WriteRTPAt(q.pkt, q.at)
			}
		}
	}
	for {
		select {
		case <-a.quit:
			begin(true)
			end("closed")
			return
		case <-limit:
			end("limit")
		case <-tick.C:
			begin(false)
			if cur != nil && time.Since(lastAudio) >= spurtGap {
				end("silence")
			}
		case q := <-a.queue:
			audio := q.track.Kind() == webrtc.RTPCodecTypeAudio
			if audio {
				lastAudio = q.at
			}
			if cur != nil {
				if i, ok := index[q.track]; ok {
					cur.sinks[i].WriteRTPAt(q.pkt, q.at)
				}
				continue
			}
			if len(settling) == 0 {
				if !audio {
					continue // a spurt starts with the voice
				}
				settleSince = time.Now()
			}
			if len(settling) < maxSettling {
				settling = append(settling, q)
			}
			begin(false)
		}
	}
}

// spurtTracks picks the tracks of a spurt: the audio track that spoke
// first, then the first video track.
func spurtTracks(tracks []Track, audio Track) []Track {
	out := []Track{audio}
	for _, t := range tracks {
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			return append(out, t)
		}
	}
	return out
}
