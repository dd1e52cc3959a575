package audiolevel

import "time"

// Bucket is the time resolution a Waveform keeps: one Opus packet.
const Bucket = 20 * time.Millisecond

// maxBuckets bounds what a Waveform keeps (about 5.8 hours at 20 ms):
// offsets come from the publisher's timestamps, which may be anything.
const maxBuckets = 1 << 20

// Slices bounds: a waveform has between MinSlices and MaxSlices values,
// one per SliceTarget of the clip in between.
const (
	MinSlices   = 32
	MaxSlices   = 256
	SliceTarget = 100 * time.Millisecond
)

// Waveform collects the levels of a clip's audio as it is recorded. The
// zero value is ready to use; it is not safe for concurrent use.
type Waveform struct {
	// peaks holds 1 + the loudest Loudness of each Bucket, 0 where no
	// level arrived.
	peaks []uint8
	any   bool
}

// Add notes the level of the packet at offset at from the clip's start.
// Levels outside the clip (before it, or beyond the bound) are dropped.
func (w *Waveform) Add(at time.Duration, l Level) {
	if at < 0 {
		return
	}
	i := int(at / Bucket)
	if i >= maxBuckets {
		return
	}
	if i >= len(w.peaks) {
		if i >= cap(w.peaks) {
			grown := make([]uint8, i+1, max(2*cap(w.peaks), i+1, 256))
			copy(grown, w.peaks)
			w.peaks = grown
		} else {
			w.peaks = w.peaks[:i+1]
		}
	}
	if v := uint8(l.Loudness() + 1); v > w.peaks[i] {
		w.peaks[i] = v
	}
	w.any = true
}

// Slices sums the waveform of a clip of the given duration up into equal
// time slices (MinSlices to MaxSlices of them, about one per SliceTarget):
// the peak Loudness (0..100) of each. A slice in which no level arrived
// (a gap in the packets) takes the value of the slice before it. Slices
// is nil when no level was ever added: the publisher sent none.
func (w *Waveform) Slices(duration time.Duration) []int {
	if !w.any || duration <= 0 {
		return nil
	}
	n := min(max(int(duration/SliceTarget), MinSlices), MaxSlices)
	buckets := int((duration + Bucket - 1) / Bucket)
	out := make([]int, n)
	prev := 0
	for s := range n {
		lo, hi := s*buckets/n, (s+1)*buckets/n
		if hi <= lo {
			hi = lo + 1 // more slices than buckets: each slice reads its bucket
		}
		peak := -1
		for i := lo; i < hi && i < len(w.peaks); i++ {
			if v := int(w.peaks[i]) - 1; v > peak {
				peak = v
			}
		}
		if peak < 0 {
			peak = prev
		}
		out[s], prev = peak, peak
	}
	return out
}
