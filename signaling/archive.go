package signaling

import (
	"sync"
	"time"

	"github.com/pion/rtp"

	"parley/sfu"
)

const (
	// spurtGap is the silence that ends a talk spurt. Push-to-talk clients
	// stop sending when the key is released; a pause this long ends the
	// spurt for clients that talk continuously too.
	spurtGap = time.Second
	// archiveQueue bounds the packets waiting for the archiver.
	archiveQueue = 1024
)

// archiver keeps each talk spurt of a participant in a live room as a
// clip, while the spurt is also forwarded live. It watches the
// participant's audio: the first packet after a silence starts a
// recording of the participant's tracks, and a silence of spurtGap ends
// and stores it. Its sinks only copy packets into a queue, so the
// forwarding loop never waits for the disk.
type archiver struct {
	s *Session

	mu   sync.Mutex
	ups  []*sfu.UpTrack
	sink map[*sfu.UpTrack]*archiveSink

	queue chan archived
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type archived struct {
	up  *sfu.UpTrack
	pkt *rtp.Packet
}

type archiveSink struct {
	a  *archiver
	up *sfu.UpTrack
}

// WriteRTP implements sfu.Sink.
func (k *archiveSink) WriteRTP(p *rtp.Packet) {
	cp := &rtp.Packet{Header: p.Header, Payload: append([]byte(nil), p.Payload...)}
	select {
	case k.a.queue <- archived{up: k.up, pkt: cp}:
	default: // counted by the recorder as a gap; the live path goes on
	}
}

func newArchiver(s *Session) *archiver {
	a := &archiver{
		s:     s,
		sink:  make(map[*sfu.UpTrack]*archiveSink),
		queue: make(chan archived, archiveQueue),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go a.run()
	return a
}

// add makes a track part of the archive from the next spurt on.
func (a *archiver) add(up *sfu.UpTrack) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.sink[up]; ok {
		return
	}
	k := &archiveSink{a: a, up: up}
	a.sink[up] = k
	a.ups = append(a.ups, up)
	up.AddSink(k)
}

// close stores the spurt in progress and stops the archiver.
func (a *archiver) close() {
	a.once.Do(func() { close(a.quit) })
	<-a.done
	a.mu.Lock()
	for up, k := range a.sink {
		up.RemoveSink(k)
	}
	a.mu.Unlock()
}

func (a *archiver) run() {
	defer close(a.done)
	var cur *recording
	var index map[*sfu.UpTrack]int
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
		clip, err := rec.finish()
		if err != nil && clip.ID == "" {
			a.s.log.Info("talk spurt not archived", "err", err)
			return
		}
		a.s.log.Debug("talk spurt archived", "clip", clip.ID, "duration", clip.Duration, "reason", reason)
	}
	for {
		select {
		case <-a.quit:
			end(StopLeft)
			return
		case <-limit:
			end("limit")
		case <-tick.C:
			if cur != nil && time.Since(lastAudio) >= spurtGap {
				end("silence")
			}
		case q := <-a.queue:
			audio := q.up.Kind().String() == "audio"
			if cur == nil {
				if !audio {
					continue // a spurt starts with the voice
				}
				a.mu.Lock()
				var live []*sfu.UpTrack
				for _, up := range a.ups {
					if !up.Closed() {
						live = append(live, up)
					}
				}
				a.mu.Unlock()
				ups := spurtTracks(live, q.up)
				rec, err := a.s.startFedRecording(ups, func(string) {
					select {
					case limit <- struct{}{}:
					default:
					}
				})
				if err != nil {
					a.s.log.Warn("cannot archive a talk spurt", "err", err)
					continue
				}
				cur = rec
				index = make(map[*sfu.UpTrack]int, len(ups))
				for i, up := range ups {
					index[up] = i
				}
			}
			if audio {
				lastAudio = time.Now()
			}
			if i, ok := index[q.up]; ok {
				cur.sinks[i].WriteRTP(q.pkt)
			}
		}
	}
}

// spurtTracks picks the tracks of a spurt: the audio track that spoke
// first, then the first video track.
func spurtTracks(ups []*sfu.UpTrack, audio *sfu.UpTrack) []*sfu.UpTrack {
	out := []*sfu.UpTrack{audio}
	for _, up := range ups {
		if up.Kind().String() == "video" {
			return append(out, up)
		}
	}
	return out
}
