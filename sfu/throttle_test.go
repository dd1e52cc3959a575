package sfu

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestThrottleCoalescesAndDefers: the first request runs at once; the
// requests inside the interval become one run at its end, and none runs
// without a request.
func TestThrottleCoalescesAndDefers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 100 * time.Millisecond
		var runs []time.Duration
		start := time.Now()
		th := newThrottle(interval, func() { runs = append(runs, time.Since(start)) })
		for range 10 {
			th.Request()
		}
		if len(runs) != 1 || runs[0] != 0 {
			t.Fatalf("runs at %v right after 10 requests, want one at 0", runs)
		}
		time.Sleep(30 * time.Millisecond)
		th.Request() // shares the deferred run
		time.Sleep(time.Second)
		synctest.Wait()
		if len(runs) != 2 || runs[1] != interval {
			t.Fatalf("runs at %v, want 0 and %v", runs, interval)
		}
		// A request long after the last run runs at once.
		th.Request()
		if len(runs) != 3 || runs[2] != time.Second+30*time.Millisecond {
			t.Fatalf("runs at %v, want a third at once", runs)
		}
		th.Stop()
	})
}

// TestThrottleStopCancelsDeferred: a deferred run is cancelled by Stop, and
// requests after Stop do nothing.
func TestThrottleStopCancelsDeferred(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int32
		th := newThrottle(50*time.Millisecond, func() { runs.Add(1) })
		th.Request()
		th.Request() // deferred
		th.Stop()
		th.Request()
		time.Sleep(time.Second)
		synctest.Wait()
		if n := runs.Load(); n != 1 {
			t.Fatalf("%d runs after Stop, want 1", n)
		}
	})
}
