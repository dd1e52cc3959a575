package tick

import (
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	base := time.Unix(1_700_000_000, 0) // a multiple of every grid below
	for _, c := range []struct {
		now  time.Duration // after base
		grid time.Duration
		want time.Duration // after base
	}{
		{0, 200 * time.Millisecond, 200 * time.Millisecond}, // on the grid: the next one
		{1, 200 * time.Millisecond, 200 * time.Millisecond},
		{199*time.Millisecond + 999*time.Microsecond, 200 * time.Millisecond, 200 * time.Millisecond},
		{200 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond},
		{730 * time.Millisecond, 250 * time.Millisecond, 750 * time.Millisecond},
		{1500 * time.Millisecond, time.Second, 2 * time.Second},
	} {
		got := Next(base.Add(c.now), c.grid)
		if got.Sub(base) != c.want {
			t.Errorf("Next(base+%v, %v) = base+%v, want base+%v", c.now, c.grid, got.Sub(base), c.want)
		}
	}
	// Before the epoch, too.
	if got := Next(time.Unix(-1, 0), time.Second); !got.Equal(time.Unix(0, 0)) {
		t.Errorf("Next(-1s, 1s) = %v", got.UnixNano())
	}
	// Whatever the monotonic clock, two instants of the same wall time
	// have the same next tick.
	now := time.Now()
	if a, b := Next(now, 50*time.Millisecond), Next(now.Round(0), 50*time.Millisecond); !a.Equal(b) {
		t.Errorf("Next differs with the monotonic reading: %v, %v", a, b)
	}
}

func TestWithin(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	ms := time.Millisecond
	for _, c := range []struct {
		now, d, grid, want time.Duration
	}{
		{0, 250 * ms, 50 * ms, 250 * ms},       // on the grid: exactly d
		{10 * ms, 250 * ms, 50 * ms, 240 * ms}, // the last grid instant within d
		{60 * ms, 100 * ms, 50 * ms, 90 * ms},
		{10 * ms, 50 * ms, 50 * ms, 40 * ms},
		{10 * ms, 20 * ms, 50 * ms, 40 * ms}, // none within d: the next one
		{0, 20 * ms, 50 * ms, 50 * ms},
	} {
		if got := Within(base.Add(c.now), c.d, c.grid); got != c.want {
			t.Errorf("Within(base+%v, %v, %v) = %v, want %v", c.now, c.d, c.grid, got, c.want)
		}
	}
}

// TestTicker: each tick comes once per Rearm, not before the grid
// instant it was set for (a timer never fires early).
func TestTicker(t *testing.T) {
	const period = 20 * time.Millisecond
	want := Next(time.Now(), period)
	tk := NewTicker(period)
	defer tk.Stop()
	for i := range 3 {
		if at := <-tk.C; at.Before(want) {
			t.Errorf("tick %d at %v, before its instant %v", i, at, want)
		}
		select {
		case <-tk.C:
			t.Fatal("a second tick without Rearm")
		default:
		}
		want = Next(time.Now(), period)
		tk.Rearm()
	}
	want = Next(time.Now(), 2*period)
	tk.Reset(2 * period)
	if at := <-tk.C; at.Before(want) {
		t.Errorf("tick after Reset at %v, before its instant %v", at, want)
	}
}
