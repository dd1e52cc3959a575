// Package leakcheck finds the goroutines a test leaves running. It is for
// tests only.
//
// Check notes the goroutines that run when it is called; when the test
// ends (at its cleanup, so after the cleanups registered later, which
// close what the test opened) it waits for every goroutine started since
// to end, and fails the test with the stacks of those that did not. The
// wait is bounded but generous: a goroutine that is merely slow to wind
// down on a busy machine is not a leak, one that never ends is.
//
// Goroutines are told apart by their ids, not counted, so one that ends
// does not hide another that stays. A test that uses Check must not run
// in parallel with others (t.Parallel): their goroutines would be its.
package leakcheck

import (
	"bytes"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wait is how long Check waits, at the test's end, for the goroutines
// started since to end.
const wait = 20 * time.Second

// ignored are goroutines the standard library starts once for the whole
// process and keeps: a test that happens to start one leaks nothing.
var ignored = []string{
	"os/signal.loop(", // signal.Notify's reader
}

// Check fails t at its end if goroutines started since the call still run
// then, after a bounded wait.
func Check(t testing.TB) {
	t.Helper()
	check(t, wait)
}

func check(t testing.TB, within time.Duration) {
	t.Helper()
	before := map[uint64]bool{}
	for _, g := range goroutines() {
		before[g.id] = true
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(within)
		for {
			extra := slices.DeleteFunc(goroutines(), func(g goroutine) bool { return before[g.id] || g.ignored() })
			if len(extra) == 0 {
				return
			}
			if time.Now().After(deadline) {
				var b strings.Builder
				for _, g := range extra {
					b.WriteString("\n\n")
					b.WriteString(g.stack)
				}
				t.Errorf("goroutines started during the test still run %v after it: %d of them%s", within, len(extra), b.String())
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// Running returns the stacks of the goroutines, other than the caller's,
// that are in one of fns now: a goroutine is if one of its frames is
// in a function whose full name begins with one of fns (so
// "pkg.(*T).Method" names a method and the closures in it, "pkg.(*T)."
// all of T's methods). A goroutine only started by one of them is not.
// A test checks with it that what an owner started has ended.
func Running(fns ...string) []string {
	var out []string
	for _, g := range goroutines()[1:] { // the first is the caller's
		if g.in(fns) {
			out = append(out, g.stack)
		}
	}
	return out
}

// in tells whether one of g's frames is in one of fns (see Running).
func (g goroutine) in(fns []string) bool {
	for _, l := range strings.Split(g.stack, "\n") {
		for _, f := range fns {
			if strings.HasPrefix(l, f) {
				return true
			}
		}
	}
	return false
}

// goroutine is one goroutine of a runtime.Stack dump.
type goroutine struct {
	id    uint64
	stack string // its whole entry, header line included
}

func (g goroutine) ignored() bool {
	for _, s := range ignored {
		if strings.Contains(g.stack, s) {
			return true
		}
	}
	return false
}

// goroutines lists the goroutines running now.
func goroutines() []goroutine {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return parse(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// parse reads the entries of a runtime.Stack dump, which start with a
// line "goroutine 12 [state]:" and are separated by a blank line.
func parse(dump []byte) []goroutine {
	var gs []goroutine
	for _, entry := range bytes.Split(dump, []byte("\n\n")) {
		header, _, _ := bytes.Cut(entry, []byte("\n"))
		rest, ok := bytes.CutPrefix(header, []byte("goroutine "))
		if !ok {
			continue
		}
		num, _, _ := bytes.Cut(rest, []byte(" "))
		id, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			continue
		}
		gs = append(gs, goroutine{id: id, stack: string(bytes.TrimSpace(entry))})
	}
	return gs
}
