package sfu

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"parley/internal/tick"
)

// RoomOptions are the parts of a room's configuration the media plane uses.
type RoomOptions struct {
	Name string
	// Live forwards every participant's tracks to everyone else in the room.
	// In clip rooms tracks are published only to be recorded.
	Live bool
	// AllowVideo accepts video tracks; otherwise they are ignored.
	AllowVideo bool
	// MaxUpTracks caps the tracks one participant may publish; 0 means 4.
	MaxUpTracks int
}

// ErrRoomClosed is returned by Join once the room has been closed.
var ErrRoomClosed = errors.New("room closed")

// Room is the set of participants whose media may reach each other.
type Room struct {
	opts   RoomOptions
	engine *Engine
	log    *slog.Logger

	mu           sync.Mutex
	closed       bool
	participants map[string]*Participant
	ups          map[*UpTrack]struct{}
	viewers      map[*Viewer]struct{}

	// ticker ends the speaking of tracks whose levels went quiet or
	// stopped (UpTrack.tickSpeech). It runs while the room has a track
	// with levels: it starts with the first and stops with the last, so
	// that an empty room keeps nothing running.
	ticker *speechTicker
}

// speechTicker is one run of the room's speech ticker.
type speechTicker struct {
	stop chan struct{} // closed to stop it
	done chan struct{} // closed when it has stopped
}

// stopLocked stops the ticker; the caller waits for t.done once it has
// let go of the room's lock, which the ticker takes. Called locked.
func (r *Room) stopTickerLocked() *speechTicker {
	t := r.ticker
	if t != nil {
		close(t.stop)
		r.ticker = nil
	}
	return t
}

// wait waits for a stopped ticker to end; nil waits for nothing.
func (t *speechTicker) wait() {
	if t != nil {
		<-t.done
	}
}

// speechTick is how often the speech ticker runs: the end of speaking is
// told up to this late.
const speechTick = 200 * time.Millisecond

// NewRoom creates an empty room.
func NewRoom(engine *Engine, opts RoomOptions, log *slog.Logger) *Room {
	if opts.MaxUpTracks == 0 {
		opts.MaxUpTracks = 4
	}
	return &Room{
		opts:         opts,
		engine:       engine,
		log:          log.With("room", opts.Name),
		participants: make(map[string]*Participant),
		ups:          make(map[*UpTrack]struct{}),
		viewers:      make(map[*Viewer]struct{}),
	}
}

// runTicker runs the speech ticker until it is stopped.
func (r *Room) runTicker(tk *speechTicker) {
	defer close(tk.done)
	t := tick.NewTicker(speechTick) // every room's at the same instants
	defer t.Stop()
	var ups []*UpTrack
	for {
		select {
		case <-tk.stop:
			return
		case now := <-t.C:
			ups = ups[:0]
			r.mu.Lock()
			for up := range r.ups {
				if up.levelID != 0 {
					ups = append(ups, up)
				}
			}
			r.mu.Unlock()
			for _, up := range ups {
				up.tickSpeech(now)
			}
			t.Rearm()
		}
	}
}

// Name is the room's name.
func (r *Room) Name() string { return r.opts.Name }

// hears is the who-hears-whom policy: whether sub receives up. Called
// locked (r.mu). Nobody receives their own tracks. Two participants in a
// call receive each other and nobody else receives them, nor do they
// receive anyone else. Otherwise, in live rooms everyone receives everyone
// else, and in clip rooms nobody receives anything.
func (r *Room) hears(sub *Participant, up *UpTrack) bool {
	pub := up.owner
	if sub == pub {
		return false
	}
	if sub.partner != nil || pub.partner != nil {
		return sub.partner == pub
	}
	return r.opts.Live
}

// SetPartners puts a and b in a call with each other (or, with b nil,
// ends a's call) and changes every subscription the policy now decides
// otherwise.
func (r *Room) SetPartners(a, b *Participant) {
	r.mu.Lock()
	if a.partner != nil && a.partner.partner == a {
		a.partner.partner = nil
	}
	a.partner = b
	if b != nil {
		if b.partner != nil && b.partner.partner == b {
			b.partner.partner = nil
		}
		b.partner = a
	}
	r.mu.Unlock()
	r.refresh()
	r.updateViewers()
}

// refresh makes every participant's subscriptions follow the policy.
func (r *Room) refresh() {
	r.mu.Lock()
	want := make(map[*Participant][]*UpTrack, len(r.participants))
	for _, p := range r.participants {
		want[p] = r.upsHeardLocked(p)
	}
	r.mu.Unlock()
	for p, ups := range want {
		p.setSubscriptions(ups)
	}
}

// Join adds a participant. It is subscribed at once to the tracks already
// published that it may hear. The id must be unique in the room.
func (r *Room) Join(id, name string, sig Signaler) (*Participant, error) {
	p := newParticipant(r, id, name, sig)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrRoomClosed
	}
	if _, dup := r.participants[id]; dup {
		r.mu.Unlock()
		return nil, errors.New("duplicate participant id")
	}
	r.participants[id] = p
	// Under r.mu, so that a track published concurrently is either in this
	// snapshot or sees p in its own (see addUp).
	ups := r.upsHeardLocked(p)
	r.mu.Unlock()
	p.subscribe(ups)
	return p, nil
}

// upsHeardLocked is called locked (r.mu).
func (r *Room) upsHeardLocked(p *Participant) []*UpTrack {
	var ups []*UpTrack
	for up := range r.ups {
		if r.hears(p, up) {
			ups = append(ups, up)
		}
	}
	return ups
}

func (r *Room) addUp(up *UpTrack) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.ups[up] = struct{}{}
	r.engine.tracks.add(up)
	if up.levelID != 0 && r.ticker == nil {
		r.ticker = &speechTicker{stop: make(chan struct{}), done: make(chan struct{})}
		go r.runTicker(r.ticker)
	}
	subs := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		if r.hears(p, up) {
			subs = append(subs, p)
		}
	}
	r.mu.Unlock()
	for _, p := range subs {
		p.subscribe([]*UpTrack{up})
	}
	r.updateViewers()
}

func (r *Room) removeUp(up *UpTrack) {
	up.close()
	r.mu.Lock()
	delete(r.ups, up)
	r.engine.tracks.remove(up)
	var stopped *speechTicker
	if up.levelID != 0 && !r.hasLevelsLocked() {
		stopped = r.stopTickerLocked()
	}
	subs := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		subs = append(subs, p)
	}
	r.mu.Unlock()
	stopped.wait()
	for _, p := range subs {
		p.unsubscribe(up)
	}
	if up.speaking.Swap(false) {
		up.owner.speakingChanged(up)
	}
	r.updateViewers()
}

func (r *Room) remove(p *Participant) {
	r.mu.Lock()
	if r.participants[p.ID] == p {
		delete(r.participants, p.ID)
	}
	r.mu.Unlock()
}

// resubscribe gives p a fresh subscribe connection with everything it hears.
func (r *Room) resubscribe(p *Participant) {
	r.mu.Lock()
	ups := r.upsHeardLocked(p)
	r.mu.Unlock()
	p.subscribe(ups)
}

// Participants is the number of participants in the room.
func (r *Room) Participants() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.participants)
}

// Close makes every participant leave, closes every viewer and refuses
// new ones.
func (r *Room) Close() {
	r.mu.Lock()
	r.closed = true
	ticker := r.stopTickerLocked()
	ps := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		ps = append(ps, p)
	}
	vs := make([]*Viewer, 0, len(r.viewers))
	for v := range r.viewers {
		vs = append(vs, v)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, v := range vs {
		wg.Go(v.Close)
	}
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Leave()
		}()
	}
	wg.Wait()
	ticker.wait()
}

// hasLevelsLocked reports whether a track of the room has audio levels.
// Called locked.
func (r *Room) hasLevelsLocked() bool {
	for up := range r.ups {
		if up.levelID != 0 {
			return true
		}
	}
	return false
}
