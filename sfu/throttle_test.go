package sfu

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestThrottleCoalescesAndDefers(t *testing.T) {
	var runs atomic.Int32
	th := newThrottle(100*time.Millisecond, func() { runs.Add(1) })
	for i := 0; i < 10; i++ {
		th.Request()
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d runs right after 10 requests, want 1", n)
	}
	// The 9 requests inside the interval become exactly one deferred run.
	deadline := time.Now().Add(2 * time.Second)
	for runs.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d runs, want the deferred one too", n)
	}
	time.Sleep(300 * time.Millisecond)
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d runs without further requests, want 2", n)
	}
}

func TestThrottleStopCancelsDeferred(t *testing.T) {
	var runs atomic.Int32
	th := newThrottle(50*time.Millisecond, func() { runs.Add(1) })
	th.Request()
	th.Request() // deferred
	th.Stop()
	th.Request()
	time.Sleep(200 * time.Millisecond)
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d runs after Stop, want 1", n)
	}
}
