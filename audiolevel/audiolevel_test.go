package audiolevel

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in    []byte
		l     Level
		voice bool
		ok    bool
	}{
		{[]byte{0x80 | 30}, 30, true, true},
		{[]byte{127}, 127, false, true},
		{[]byte{0}, 0, false, true},
		{[]byte{0xff, 1, 2}, 127, true, true}, // padding after the byte
		{nil, Silence, false, false},
	} {
		l, v, ok := Parse(tc.in)
		if l != tc.l || v != tc.voice || ok != tc.ok {
			t.Errorf("Parse(%x) = %d, %v, %v; want %d, %v, %v", tc.in, l, v, ok, tc.l, tc.voice, tc.ok)
		}
	}
}

func TestLoudness(t *testing.T) {
	for _, tc := range []struct {
		l    Level
		want int
	}{{0, 100}, {30, 50}, {59, 1}, {60, 0}, {127, 0}} {
		if got := tc.l.Loudness(); got != tc.want {
			t.Errorf("Level(%d).Loudness() = %d, want %d", tc.l, got, tc.want)
		}
	}
	for l := Level(0); l < 127; l++ {
		if l.Loudness() < (l + 1).Loudness() {
			t.Fatalf("louder levels are not louder at %d", l)
		}
	}
}

// TestWaveformFollowsLevels: a clip that is loud, then silent, then
// half as loud gives a waveform with the same three parts.
func TestWaveformFollowsLevels(t *testing.T) {
	var w Waveform
	const clip = 6 * time.Second
	for at := time.Duration(0); at < clip; at += Bucket {
		l := Level(12) // 80
		switch {
		case at >= 2*time.Second && at < 4*time.Second:
			l = Silence
		case at >= 4*time.Second:
			l = 42 // 30
		}
		w.Add(at, l)
	}
	s := w.Slices(clip)
	if len(s) != 60 {
		t.Fatalf("%d slices for a 6 s clip, want 60 (one per %v)", len(s), SliceTarget)
	}
	for i, v := range s {
		want := 80
		switch {
		case i >= 20 && i < 40:
			want = 0
		case i >= 40:
			want = 30
		}
		if v != want {
			t.Fatalf("slice %d = %d, want %d; waveform %v", i, v, want, s)
		}
	}
}

// TestWaveformPeaks: a slice shows its loudest packet, not an average.
func TestWaveformPeaks(t *testing.T) {
	var w Waveform
	for at := time.Duration(0); at < 3200*time.Millisecond; at += Bucket {
		w.Add(at, Silence)
	}
	w.Add(1000*time.Millisecond, 0)
	s := w.Slices(3200 * time.Millisecond)
	if len(s) != MinSlices || s[10] != 100 {
		t.Fatalf("one full-scale packet at 1 s: %v", s)
	}
	for i, v := range s {
		if i != 10 && v != 0 {
			t.Fatalf("slice %d = %d, want 0: %v", i, v, s)
		}
	}
}

func TestWaveformBounds(t *testing.T) {
	var w Waveform
	if w.Slices(time.Minute) != nil {
		t.Error("a waveform without levels has slices")
	}
	// Hostile offsets: before the clip, and far beyond any clip.
	w.Add(-time.Second, 0)
	w.Add(100*24*time.Hour, 0)
	if w.Slices(time.Minute) != nil || cap(w.peaks) != 0 {
		t.Errorf("offsets out of bounds were kept (cap %d)", cap(w.peaks))
	}
	w.Add(0, 30)
	if s := w.Slices(500 * time.Millisecond); len(s) != MinSlices {
		t.Errorf("a short clip has %d slices, want %d", len(s), MinSlices)
	}
	if s := w.Slices(time.Hour); len(s) != MaxSlices {
		t.Errorf("an hour has %d slices, want %d", len(s), MaxSlices)
	}
	// A gap in the packets holds the level before it.
	var g Waveform
	g.Add(0, 30)
	g.Add(3180*time.Millisecond, 30)
	for i, v := range g.Slices(3200 * time.Millisecond) {
		if v != 50 {
			t.Fatalf("slice %d of a gap = %d, want the held 50", i, v)
		}
	}
}

// speak feeds d 20 ms packets from t0 for dur at level l and returns the
// times its state changed.
func speak(d *Detector, t0 time.Time, dur time.Duration, l Level) (end time.Time, changes []time.Duration) {
	at := t0
	for ; at.Sub(t0) < dur; at = at.Add(Bucket) {
		if d.Level(at, l) {
			changes = append(changes, at.Sub(t0))
		}
	}
	return at, changes
}

func TestDetector(t *testing.T) {
	t0 := time.Unix(1000, 0)
	d := NewDetector(DetectorConfig{})

	// A click: one loud packet in silence lights nothing.
	at, _ := speak(d, t0, time.Second, Silence)
	d.Level(at, 10)
	if at, ch := speak(d, at.Add(Bucket), time.Second, Silence); d.Speaking() || len(ch) != 0 {
		t.Fatalf("a click: speaking %v, changes %v", d.Speaking(), ch)
	} else {
		t0 = at
	}

	// Speech: speaking after the attack (60 ms: the fourth packet).
	at, ch := speak(d, t0, 2*time.Second, 30)
	if !d.Speaking() || len(ch) != 1 || ch[0] != 60*time.Millisecond {
		t.Fatalf("speech: speaking %v, changes at %v", d.Speaking(), ch)
	}
	// A pause between words (400 ms of quiet) and a quieter syllable
	// (level 50: under Start, over Keep) keep it.
	at, ch = speak(d, at, 400*time.Millisecond, Silence)
	at, ch2 := speak(d, at, time.Second, 50)
	if !d.Speaking() || len(ch)+len(ch2) != 0 {
		t.Fatalf("a pause and a quiet syllable ended speaking: %v %v", ch, ch2)
	}
	// Quiet for the release (600 ms) ends it, once.
	_, ch = speak(d, at, 2*time.Second, Silence)
	if d.Speaking() || len(ch) != 1 || ch[0] < 580*time.Millisecond || ch[0] > 620*time.Millisecond {
		t.Fatalf("silence: speaking %v, changes at %v", d.Speaking(), ch)
	}

	// Level 50 does not start speaking (hysteresis).
	d2 := NewDetector(DetectorConfig{})
	if _, ch := speak(d2, t0, 2*time.Second, 50); len(ch) != 0 {
		t.Fatalf("a level between Keep and Start started speaking: %v", ch)
	}
}

// TestDetectorTick: a publisher that stops sending while speaking stops
// speaking when Tick sees the release pass.
func TestDetectorTick(t *testing.T) {
	t0 := time.Unix(1000, 0)
	d := NewDetector(DetectorConfig{Release: time.Second})
	at, _ := speak(d, t0, time.Second, 20)
	if !d.Speaking() {
		t.Fatal("not speaking")
	}
	if d.Tick(at.Add(900 * time.Millisecond)) {
		t.Fatal("stopped before the release")
	}
	if !d.Tick(at.Add(1000*time.Millisecond)) || d.Speaking() {
		t.Fatal("still speaking after the release")
	}
	if d.Tick(at.Add(2 * time.Second)) {
		t.Fatal("a second change without a packet")
	}
}

func BenchmarkDetector(b *testing.B) {
	d := NewDetector(DetectorConfig{})
	ext := []byte{0x80 | 30}
	at := time.Unix(1000, 0)
	b.ReportAllocs()
	for i := range b.N {
		l, _, _ := Parse(ext)
		if i%100 > 50 {
			l = Silence
		}
		d.Level(at, l)
		at = at.Add(Bucket)
	}
}
