package capture

import (
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
}

type archiveSink struct {
	a     *Archiver
	track Track
}

// WriteRTP implements sfu.Sink.
func (k *archiveSink) WriteRTP(p *rtp.Packet) {
	cp := &rtp.Packet{Header: p.Header, Payload: append([]byte(nil), p.Payload...)}
	select {
	case k.a.queue <- archived{track: k.track, pkt: cp}:
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
		if err != nil && clip.ID == "" {
			a.log.Info("talk spurt not archived", "err", err)
			return
		}
		a.log.Debug("talk spurt archived", "clip", clip.ID, "duration", clip.Duration, "reason", reason)
	}
	for {
		select {
		case <-a.quit:
			end("closed")
			return
		case <-limit:
			end("limit")
		case <-tick.C:
			if cur != nil && time.Since(lastAudio) >= spurtGap {
				end("silence")
			}
		case q := <-a.queue:
			audio := q.track.Kind() == webrtc.RTPCodecTypeAudio
			if cur == nil {
				if !audio {
					continue // a spurt starts with the voice
				}
				a.mu.Lock()
				var live []Track
				for _, t := range a.tracks {
					if !t.Closed() {
						live = append(live, t)
					}
				}
				a.mu.Unlock()
				tracks := spurtTracks(live, q.track)
				rec, err := a.start(tracks, func(string) {
					select {
					case limit <- struct{}{}:
					default:
					}
				})
				if err != nil {
					a.log.Warn("cannot archive a talk spurt", "err", err)
					continue
				}
				cur = rec
				index = make(map[Track]int, len(tracks))
				for i, t := range tracks {
					index[t] = i
				}
			}
			if audio {
				lastAudio = time.Now()
			}
			if i, ok := index[q.track]; ok {
				cur.sinks[i].WriteRTP(q.pkt)
			}
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
