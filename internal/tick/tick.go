// Package tick makes the periodic timers of many connections fire at the
// same instants.
//
// A server with 50 publishing connections has a few hundred timers a
// second to run: each room's speech ticker, each recorder's, each
// connection's transport-wide feedback and reports. Started at random
// moments, each fires on its own and wakes an idle server for itself,
// and on a virtual machine the wake-up (a context switch in and out)
// costs more than the work. The runtime waits for its next timer with a
// resolution of a millisecond, so timers that fall within the same
// millisecond run in one wake-up: a timer that fires on a grid shared by
// all (the multiples of a period since the Unix epoch) runs with every
// other timer of that grid.
package tick

import "time"

// Next is the first instant after now that is a multiple of grid since
// the Unix epoch. grid must be positive.
func Next(now time.Time, grid time.Duration) time.Time {
	g := int64(grid)
	ns := now.UnixNano()
	r := ns % g
	if r < 0 {
		r += g
	}
	return now.Add(time.Duration(g - r))
}

// Within is the time from now to the last instant on grid at or before
// now+d, or to the first one after now if there is none in between:
// a wait of about d (never longer) that ends on the grid.
func Within(now time.Time, d, grid time.Duration) time.Duration {
	next := Next(now.Add(d-grid), grid)
	if !next.After(now) {
		next = Next(now, grid)
	}
	return next.Sub(now)
}

// Ticker ticks on the multiples of its period since the Unix epoch: the
// Tickers of every connection with the same period tick together. Unlike
// a time.Ticker it ticks once per Rearm: take the tick from C, then Rearm.
// A Ticker is used by one goroutine.
type Ticker struct {
	C      <-chan time.Time
	t      *time.Timer
	period time.Duration
}

// NewTicker returns a Ticker whose first tick is the next multiple of
// period. period must be positive.
func NewTicker(period time.Duration) *Ticker {
	t := time.NewTimer(time.Until(Next(time.Now(), period)))
	return &Ticker{C: t.C, t: t, period: period}
}

// Rearm sets the next tick: the next multiple of the period.
func (t *Ticker) Rearm() { t.t.Reset(time.Until(Next(time.Now(), t.period))) }

// Reset changes the period and sets the next tick on it.
func (t *Ticker) Reset(period time.Duration) {
	t.period = period
	t.Rearm()
}

// Stop stops the Ticker.
func (t *Ticker) Stop() { t.t.Stop() }
