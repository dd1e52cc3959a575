package sfu

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// keyframeInterval is the shortest time between two keyframe requests sent
// upstream for one track. Many subscribers asking at once (a room joining, a
// lossy network) must not turn into a storm of keyframes: each costs the
// publisher several times the bitrate of a normal frame.
const keyframeInterval = 500 * time.Millisecond

// UpTrack is a track published by a participant. One goroutine reads it and
// writes every packet to the DownTracks attached to it.
type UpTrack struct {
	id     string
	owner  *Participant
	remote *webrtc.TrackRemote
	codec  webrtc.RTPCodecParameters

	// downs is replaced, never modified, so that the read loop can use it
	// without a lock.
	downs  atomic.Pointer[[]*DownTrack]
	downMu sync.Mutex // serialises writers of downs
	closed atomic.Bool

	keyframe *throttle

	packets atomic.Uint64
}

func newUpTrack(id string, owner *Participant, remote *webrtc.TrackRemote) *UpTrack {
	u := &UpTrack{id: id, owner: owner, remote: remote, codec: remote.Codec()}
	u.keyframe = newThrottle(keyframeInterval, func() {
		owner.writeRTCPUp([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(remote.SSRC())}})
	})
	empty := []*DownTrack{}
	u.downs.Store(&empty)
	return u
}

// ID is unique within the room: the publisher's id and a counter.
func (u *UpTrack) ID() string { return u.id }

// Kind is audio or video.
func (u *UpTrack) Kind() webrtc.RTPCodecType { return u.remote.Kind() }

// Codec is the codec the publisher sends.
func (u *UpTrack) Codec() webrtc.RTPCodecParameters { return u.codec }

// Owner is the participant that publishes the track.
func (u *UpTrack) Owner() *Participant { return u.owner }

// Packets is the number of RTP packets read so far.
func (u *UpTrack) Packets() uint64 { return u.packets.Load() }

func (u *UpTrack) attach(d *DownTrack) {
	u.downMu.Lock()
	defer u.downMu.Unlock()
	old := *u.downs.Load()
	downs := make([]*DownTrack, 0, len(old)+1)
	downs = append(downs, old...)
	downs = append(downs, d)
	u.downs.Store(&downs)
}

func (u *UpTrack) detach(d *DownTrack) {
	u.downMu.Lock()
	defer u.downMu.Unlock()
	old := *u.downs.Load()
	downs := make([]*DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			downs = append(downs, x)
		}
	}
	u.downs.Store(&downs)
}

// forward reads RTP until the track ends and writes each packet to every
// attached DownTrack. It returns when the publisher's connection closes.
func (u *UpTrack) forward() {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := u.remote.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				u.owner.log.Debug("up track read ended", "track", u.id, "err", err)
			}
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		u.packets.Add(1)
		for _, d := range *u.downs.Load() {
			d.writeRTP(&pkt)
		}
	}
}

// RequestKeyframe asks the publisher for a keyframe (PLI), at most once
// per keyframeInterval (see throttle).
func (u *UpTrack) RequestKeyframe() {
	if u.remote.Kind() == webrtc.RTPCodecTypeVideo {
		u.keyframe.Request()
	}
}

// close marks the track ended and stops its pending keyframe request.
func (u *UpTrack) close() {
	u.closed.Store(true)
	u.keyframe.Stop()
}
