package sfu

import (
	"sync"
	"time"
)

// throttle runs an action at most once per interval. A request that falls
// inside the interval is not dropped but deferred to its end, and requests
// made meanwhile share that one run: keyframe requests from many
// subscribers become one PLI, yet the last subscriber still gets its
// keyframe.
type throttle struct {
	interval time.Duration
	action   func()

	mu      sync.Mutex
	last    time.Time
	pending *time.Timer
	stopped bool
}

func newThrottle(interval time.Duration, action func()) *throttle {
	return &throttle{interval: interval, action: action}
}

// Request runs the action now, or at the end of the current interval.
func (t *throttle) Request() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped || t.pending != nil {
		return
	}
	wait := t.interval - time.Since(t.last)
	if wait <= 0 {
		t.runLocked()
		return
	}
	t.pending = time.AfterFunc(wait, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.pending = nil
		if !t.stopped {
			t.runLocked()
		}
	})
}

// runLocked is called locked.
func (t *throttle) runLocked() {
	t.last = time.Now()
	t.action()
}

// Stop cancels a deferred run and refuses later requests.
func (t *throttle) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	if t.pending != nil {
		t.pending.Stop()
		t.pending = nil
	}
}
