package audiolevel

import "time"

// DetectorConfig tunes a Detector. The zero value takes the defaults.
type DetectorConfig struct {
	// Start is the level a packet must reach (be at or louder than) to
	// count toward speaking; Keep, the level that keeps someone speaking
	// once they are. Keep is quieter than Start, so that the quieter end
	// of a word does not end it. Defaults: 45 and 55 (-dBov).
	Start, Keep Level
	// Attack is how long loud packets must go on before someone is
	// speaking, so that a click or a cough does not light the ring
	// (default 60 ms). Gap is the longest quiet inside that run (default
	// 120 ms).
	Attack, Gap time.Duration
	// Release is how long without a packet at Keep ends speaking, so that
	// the pauses between words do not (default 600 ms).
	Release time.Duration
}

func (c DetectorConfig) withDefaults() DetectorConfig {
	if c.Start == 0 {
		c.Start = 45
	}
	if c.Keep == 0 {
		c.Keep = 55
	}
	if c.Keep < c.Start {
		c.Keep = c.Start
	}
	if c.Attack <= 0 {
		c.Attack = 60 * time.Millisecond
	}
	if c.Gap <= 0 {
		c.Gap = 120 * time.Millisecond
	}
	if c.Release <= 0 {
		c.Release = 600 * time.Millisecond
	}
	return c
}

// Detector tells from a track's levels whether its publisher speaks, with
// hysteresis in level and in time so that the state does not flicker
// within a word or between words. It is fed the arrival time of each
// packet; it is not safe for concurrent use.
type Detector struct {
	cfg      DetectorConfig
	speaking bool
	runStart time.Time // the first loud packet of the current run
	lastLoud time.Time // the latest packet at Start (or Keep, speaking)
}

// NewDetector returns a detector that starts silent.
func NewDetector(cfg DetectorConfig) *Detector {
	return &Detector{cfg: cfg.withDefaults()}
}

// Speaking reports the current state.
func (d *Detector) Speaking() bool { return d.speaking }

// Level notes a packet's level at time now and reports whether the state
// changed.
func (d *Detector) Level(now time.Time, l Level) (changed bool) {
	if d.speaking {
		if l <= d.cfg.Keep {
			d.lastLoud = now
			return false
		}
		return d.Tick(now)
	}
	if l > d.cfg.Start {
		if !d.runStart.IsZero() && now.Sub(d.lastLoud) > d.cfg.Gap {
			d.runStart = time.Time{}
		}
		return false
	}
	if d.runStart.IsZero() || now.Sub(d.lastLoud) > d.cfg.Gap {
		d.runStart = now
	}
	d.lastLoud = now
	if now.Sub(d.runStart) >= d.cfg.Attack {
		d.speaking = true
		return true
	}
	return false
}

// Tick ends speaking when nothing loud has come for Release; the caller
// calls it now and then, since a publisher that goes quiet may also stop
// sending packets. It reports whether the state changed.
func (d *Detector) Tick(now time.Time) (changed bool) {
	if d.speaking && now.Sub(d.lastLoud) >= d.cfg.Release {
		d.speaking = false
		d.runStart = time.Time{}
		return true
	}
	return false
}
