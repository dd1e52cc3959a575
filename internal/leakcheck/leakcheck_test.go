package leakcheck

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a test that Check reports to: it keeps its cleanups, to be
// run by end, and its errors.
type recorder struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(f string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(f, args...))
}

// end runs the cleanups, the last registered first, as testing does.
func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// parked is a goroutine that runs until release is closed. It closes
// running once it runs (in parked, as its stack says), if running is
// not nil.
func parked(running chan<- struct{}, release <-chan struct{}, ended chan<- struct{}) {
	if running != nil {
		close(running)
	}
	<-release
	close(ended)
}

// TestNothingLeft: goroutines that end before the test does, or when a
// cleanup registered after Check stops them, are no leak; neither are
// those that ran before Check.
func TestNothingLeft(t *testing.T) {
	older, olderEnded := make(chan struct{}), make(chan struct{})
	go parked(nil, older, olderEnded)
	defer func() { close(older); <-olderEnded }()

	r := &recorder{TB: t}
	check(r, wait)
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
	release, ended := make(chan struct{}), make(chan struct{})
	go parked(nil, release, ended)
	r.Cleanup(func() { close(release) }) // stopped, but not waited for: Check waits
	r.end()
	if len(r.errors) != 0 {
		t.Errorf("errors: %q", r.errors)
	}
	<-ended
}

// TestLeak: a goroutine that still runs after the wait fails the test,
// which lists its stack and no other.
func TestLeak(t *testing.T) {
	r := &recorder{TB: t}
	check(r, 50*time.Millisecond)
	running, release, ended := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go parked(running, release, ended)
	defer func() { close(release); <-ended }()
	<-running // a goroutine not yet running shows another stack
	r.end()
	if len(r.errors) != 1 {
		t.Fatalf("errors: %q", r.errors)
	}
	if msg := r.errors[0]; strings.Count(msg, "\ngoroutine ") != 1 || !strings.Contains(msg, "leakcheck.parked(") {
		t.Errorf("the report names other goroutines than the leaked one, or not it:\n%s", msg)
	}
}

// TestRunning: Running finds a goroutine by a function it is in, not by
// the function that started it, until it ends.
func TestRunning(t *testing.T) {
	const fn = "parley/internal/leakcheck.parked"
	if got := Running(fn); len(got) != 0 {
		t.Fatalf("running before it started: %q", got)
	}
	running, release, ended := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go parked(running, release, ended)
	<-running
	if got := Running(fn); len(got) != 1 || !strings.Contains(got[0], "leakcheck.parked(") {
		close(release)
		t.Fatalf("Running(%s) = %q, want the parked goroutine", fn, got)
	}
	if got := Running("parley/internal/leakcheck.TestRunning"); len(got) != 0 {
		t.Errorf("a goroutine started by the test counts as the test's, or the caller's own does: %q", got)
	}
	close(release)
	<-ended
	deadline := time.Now().Add(wait)
	for len(Running(fn)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the parked goroutine still runs after it ended")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestParse(t *testing.T) {
	dump := "goroutine 7 [running]:\nmain.f()\n\t/a.go:3 +0x1\n\n" +
		"goroutine 12 [chan receive, 2 minutes]:\nos/signal.loop()\n\t/b.go:5 +0x2\ncreated by os/signal.Notify.func1.1 in goroutine 1\n\n" +
		"not a goroutine\n"
	gs := parse([]byte(dump))
	if len(gs) != 2 || gs[0].id != 7 || gs[1].id != 12 {
		t.Fatalf("parse: %+v", gs)
	}
	if !strings.HasPrefix(gs[1].stack, "goroutine 12 [chan receive") || !strings.HasSuffix(gs[1].stack, "in goroutine 1") {
		t.Errorf("stack %q", gs[1].stack)
	}
	if gs[0].ignored() || !gs[1].ignored() {
		t.Errorf("ignored: %v %v, want false true", gs[0].ignored(), gs[1].ignored())
	}
}
