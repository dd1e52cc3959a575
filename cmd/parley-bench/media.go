package main

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// stampBytes is the size of the send time (Unix nanoseconds, big endian)
// at the end of every payload the generator sends.
const stampBytes = 8

// Media the publishers send.
const (
	opusInterval   = 20 * time.Millisecond // 50 packets/s, as a browser sends
	opusPayload    = 80                    // bytes: about 32 kbit/s
	videoFPS       = 30
	maxRTPPayload  = 1160 // bytes per video packet, as libwebrtc's packetizer
	pacerTick      = 5 * time.Millisecond
	pacingFactor   = 2.5 // libwebrtc paces at 2.5 times the target bitrate
	keyframeFactor = 4   // a keyframe is this many times a delta frame
)

// publisher sends synthetic Opus at 50 packets/s and, with a bitrate,
// VP8 frames at 30 fps, paced in 5 ms bursts as a browser's pacer sends
// them: one video, or with simulcast one per layer (simulcast.go), all
// through the one pacer. Every payload ends with its send time. It
// answers keyframe requests with a larger keyframe, whose header says
// its layer's size.
type publisher struct {
	audio       *webrtc.TrackLocalStaticRTP
	video       []*videoLayer // none: audio only
	talk, pause time.Duration // push-to-talk: send for talk, then nothing for pause; talk 0 = always
	keyEvery    time.Duration // a keyframe this often besides those asked for; 0 = only those

	// Simulcast: the header extensions every video packet carries, set
	// once published (publishSimulcast).
	midID, ridID uint8
	mid          string

	sent [2]atomic.Uint64 // packets sent: audio, video
	plis atomic.Uint64
}

// videoLayer is one video encoding a publisher sends.
type videoLayer struct {
	track         *webrtc.TrackLocalStaticRTP
	rid           string // "" without simulcast
	width, height int    // the size its keyframes announce
	bps           int
	keyframe      atomic.Bool // asked for, or due
}

func newPublisher(id string, videoBps int, talk, pause time.Duration) (*publisher, error) {
	p := &publisher{talk: talk, pause: pause}
	var err error
	p.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", id)
	if err != nil {
		return nil, err
	}
	if videoBps > 0 {
		v, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", id)
		if err != nil {
			return nil, err
		}
		l := &videoLayer{track: v, width: 640, height: 480, bps: videoBps}
		l.keyframe.Store(true)
		p.video = []*videoLayer{l}
	}
	return p, nil
}

// tracks are what a publisher without simulcast publishes.
func (p *publisher) tracks() []webrtc.TrackLocal {
	if len(p.video) == 0 {
		return []webrtc.TrackLocal{p.audio}
	}
	return []webrtc.TrackLocal{p.audio, p.video[0].track}
}

// askKeyframes marks a keyframe due on every layer whose SSRC the
// packets ask it of (all layers for ssrc 0).
func (p *publisher) askKeyframes(pkts []rtcp.Packet, ssrcs map[uint32]*videoLayer) {
	for _, pkt := range pkts {
		var media uint32
		switch r := pkt.(type) {
		case *rtcp.PictureLossIndication:
			media = r.MediaSSRC
		case *rtcp.FullIntraRequest:
			media = r.MediaSSRC
		default:
			continue
		}
		p.plis.Add(1)
		if l := ssrcs[media]; l != nil {
			l.keyframe.Store(true)
			continue
		}
		for _, l := range p.video {
			l.keyframe.Store(true)
		}
	}
}

// readRTCP watches a sender for keyframe requests until it stops.
func (p *publisher) readRTCP(s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		p.askKeyframes(pkts, nil)
	}
}

// queued is a video payload waiting for the pacer, stamped when sent.
type queued struct {
	layer   int
	payload []byte
	marker  bool
	ts      uint32
}

// run sends until stop closes.
func (p *publisher) run(stop <-chan struct{}) {
	tick := time.NewTicker(pacerTick)
	defer tick.Stop()
	start := time.Now()
	var (
		aseq      uint16 = 1
		vseq             = make([]uint16, len(p.video))
		ats, vts  uint32
		nextAudio = start
		nextFrame = start
		nextKey   = start.Add(p.keyEvery)
		queue     []queued
		budget    float64
		buf       = make([]byte, 1500)
		hdr       rtp.Header
		totalBps  int
	)
	for i, l := range p.video {
		vseq[i] = 1
		totalBps += l.bps
	}
	pacingBytesPerTick := pacingFactor * float64(totalBps) / 8 * pacerTick.Seconds()
	for {
		var now time.Time
		select {
		case <-stop:
			return
		case now = <-tick.C:
		}
		talking := p.talk == 0 || now.Sub(start)%(p.talk+p.pause) < p.talk
		for !now.Before(nextAudio) {
			nextAudio = nextAudio.Add(opusInterval)
			ats += 960
			if !talking {
				continue
			}
			hdr = rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: ats}
			aseq++
			pl := buf[:opusPayload]
			pl[0] = 0xfc // an Opus TOC byte: CELT FB 20 ms
			stamp(pl)
			if p.audio.WriteRTP(&rtp.Packet{Header: hdr, Payload: pl}) == nil {
				p.sent[0].Add(1)
			}
		}
		if len(p.video) == 0 {
			continue
		}
		if p.keyEvery > 0 && !now.Before(nextKey) {
			nextKey = nextKey.Add(p.keyEvery)
			for _, l := range p.video {
				l.keyframe.Store(true)
			}
		}
		for !now.Before(nextFrame) {
			nextFrame = nextFrame.Add(time.Second / videoFPS)
			vts += 90000 / videoFPS
			if !talking {
				continue
			}
			for i, l := range p.video {
				key := l.keyframe.Swap(false)
				size := l.bps / 8 / videoFPS
				if key {
					size *= keyframeFactor
				}
				for off, first := 0, true; off < size; first = false {
					n := min(maxRTPPayload, size-off+1)
					pl := make([]byte, max(n, 12+stampBytes))
					if first {
						pl[0] = 0x10 // VP8 descriptor: start of partition 0
						if key {
							vp8KeyframeHeader(pl[1:], l.width, l.height)
						} else {
							pl[1] = 0x01 // an interframe
						}
					}
					off += n - 1
					queue = append(queue, queued{layer: i, payload: pl, marker: off >= size, ts: vts})
				}
			}
		}
		// The pacer: the budget of one tick, plus what the last left.
		budget = min(budget+pacingBytesPerTick, 2*pacingBytesPerTick)
		for len(queue) > 0 && budget > 0 {
			q := queue[0]
			l := p.video[q.layer]
			hdr = rtp.Header{Version: 2, SequenceNumber: vseq[q.layer], Timestamp: q.ts, Marker: q.marker}
			vseq[q.layer]++
			if l.rid != "" {
				_ = hdr.SetExtension(p.midID, []byte(p.mid))
				_ = hdr.SetExtension(p.ridID, []byte(l.rid))
			}
			stamp(q.payload)
			if l.track.WriteRTP(&rtp.Packet{Header: hdr, Payload: q.payload}) == nil {
				p.sent[1].Add(1)
			}
			budget -= float64(len(q.payload))
			queue = queue[1:]
		}
	}
}

// vp8KeyframeHeader writes the start of a VP8 keyframe (RFC 6386
// section 9.1) into b: its frame tag (a shown keyframe), the start code,
// and the width and height without scaling.
func vp8KeyframeHeader(b []byte, width, height int) {
	copy(b, []byte{0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a})
	binary.LittleEndian.PutUint16(b[6:], uint16(width&0x3fff))
	binary.LittleEndian.PutUint16(b[8:], uint16(height&0x3fff))
}

// vp8Keyframe reports whether an RTP packet starts a VP8 keyframe: its
// payload descriptor (without extensions, as the publishers send it)
// starts a partition, and the frame header's lowest bit is 0.
func vp8Keyframe(pkt []byte) bool {
	var h rtp.Header
	n, err := h.Unmarshal(pkt)
	if err != nil || len(pkt) < n+2 {
		return false
	}
	return pkt[n] == 0x10 && pkt[n+1]&0x01 == 0
}

// stamp writes the send time into the last bytes of a payload.
func stamp(pl []byte) {
	binary.BigEndian.PutUint64(pl[len(pl)-stampBytes:], uint64(time.Now().UnixNano()))
}

// Latency histogram: 50 µs buckets up to 500 ms, and one for the rest.
const (
	bucketWidth = 50 * time.Microsecond
	buckets     = 10000
)

type histogram [buckets + 1]uint32

func (h *histogram) add(d time.Duration) {
	i := int(d / bucketWidth)
	if i < 0 {
		i = 0
	}
	if i > buckets {
		i = buckets
	}
	h[i]++
}

// quantile returns the upper edge of the bucket holding quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	var total uint64
	for _, n := range h {
		total += uint64(n)
	}
	if total == 0 {
		return 0
	}
	want := uint64(q*float64(total-1)) + 1
	var seen uint64
	for i, n := range h {
		seen += uint64(n)
		if seen >= want {
			return time.Duration(i+1) * bucketWidth
		}
	}
	return buckets * bucketWidth
}

func (h *histogram) merge(o *histogram) {
	for i, n := range o {
		h[i] += n
	}
}

// trackStats are what one subscriber counts of one track. Only the
// track's reading goroutine writes; counters are atomic so that the
// window can be read while it runs.
type trackStats struct {
	video     bool
	id        string        // the track's id in the subscribe offer
	bytes     atomic.Uint64 // in the window: RTP packets' sizes
	keyWidth  atomic.Int32  // of the latest VP8 keyframe
	keys      atomic.Uint64 // keyframes in the window
	keysOff   atomic.Uint64 // of them, those not as wide as the subscriber's want
	unstamped atomic.Uint64 // packets whose kernel arrival time was not found
	got       atomic.Bool   // a packet arrived
	packets   atomic.Uint64
	gaps      atomic.Uint64 // sequence numbers skipped (not yet seen)
	late      atomic.Uint64 // packets that came after a later one

	mu   sync.Mutex // guards hist and read
	hist histogram  // arrival at the subscriber's socket - send time
	read histogram  // when the generator read it - send time
}

// keyframeAsk is how long a subscriber waits for its first keyframe, from
// its first video packet, before it asks for one itself (a PLI), and
// between its requests.
const keyframeAsk = time.Second

// subscriber counts what it receives, per track.
type subscriber struct {
	measuring  *atomic.Bool
	arr        arrivals     // kernel receive times, from the client's sockets (stampNet)
	connecting atomic.Int64 // when it began to connect (Unix ns)
	keyframe   atomic.Int64 // when its first video keyframe arrived (Unix ns); 0 until then
	want       atomic.Int32 // simulcast: the width of the layer it asked for (video-size); 0 = any
	ports      *portRange   // a constrained subscriber's: the shaped ports its sockets take

	mu     sync.Mutex
	tracks []*trackStats
}

// ready is the number of tracks that have delivered a packet.
func (s *subscriber) ready() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.tracks {
		if t.got.Load() {
			n++
		}
	}
	return n
}

func (s *subscriber) all() []*trackStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*trackStats(nil), s.tracks...)
}

// onTrack reads one track until it ends.
func (s *subscriber) onTrack(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	go func() {
		for {
			if _, _, err := recv.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	st := &trackStats{video: tr.Kind() == webrtc.RTPCodecTypeVideo, id: tr.ID()}
	s.mu.Lock()
	s.tracks = append(s.tracks, st)
	s.mu.Unlock()
	buf := make([]byte, 1500)
	ssrc := uint32(tr.SSRC())
	var last uint16
	var askedAt int64 // the first video packet, then the latest keyframe request (Unix ns)
	first := true
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if n < 12+stampBytes {
			continue
		}
		now := time.Now().UnixNano()
		seq := binary.BigEndian.Uint16(buf[2:4])
		sent := int64(binary.BigEndian.Uint64(buf[n-stampBytes : n]))
		arrived, stamped := s.arr.get(ssrc, seq, now)
		st.got.Store(true)
		if st.video && s.keyframe.Load() == 0 {
			if vp8Keyframe(buf[:n]) {
				if !stamped {
					arrived = now
				}
				s.keyframe.Store(arrived)
			} else if askedAt == 0 {
				askedAt = now
			} else if time.Duration(now-askedAt) >= keyframeAsk {
				// As a browser's decoder does while it has nothing to
				// decode: the keyframe the server asked for may have lost
				// a packet on a busy machine.
				askedAt = now
				_, _ = recv.Transport().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
			}
		}
		width, key := 0, false
		if st.video {
			if w, _, ok := vp8KeyframeSize(buf[:n]); ok {
				width, key = w, true
				st.keyWidth.Store(int32(w))
			}
		}
		if !s.measuring.Load() {
			first = true
			continue
		}
		st.packets.Add(1)
		st.bytes.Add(uint64(n))
		if key {
			st.keys.Add(1)
			if want := s.want.Load(); want != 0 && int32(width) != want {
				st.keysOff.Add(1)
			}
		}
		switch d := int16(seq - last); {
		case first:
		case d > 1:
			st.gaps.Add(uint64(d - 1))
		case d < 1:
			st.late.Add(1)
		}
		if first || int16(seq-last) > 0 {
			last = seq
		}
		first = false
		if !stamped {
			arrived = now
			st.unstamped.Add(1)
		}
		st.mu.Lock()
		st.hist.add(time.Duration(arrived - sent))
		st.read.add(time.Duration(now - sent))
		st.mu.Unlock()
	}
}
