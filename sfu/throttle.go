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
	// running counts the deferred run from when it is scheduled until it
	// has returned or been cancelled, so that Stop can wait for it.
	running sync.WaitGroup
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
	t.running.Add(1)
	t.pending = time.AfterFunc(wait, func() {
		defer t.running.Done()
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

// Stop cancels a deferred run, refuses later requests, and waits for a
// deferred run that had already begun. It must not be called from the
// action, nor holding a lock the action takes.
func (t *throttle) Stop() {
	t.mu.Lock()
	t.stopped = true
	if t.pending != nil && t.pending.Stop() {
		t.running.Done() // cancelled before it began
	}
	t.pending = nil
	t.mu.Unlock()
	t.running.Wait()
}
