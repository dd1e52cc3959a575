package clips

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"parley/configs"
)

// TestWaveform: a clip keeps the waveform it was committed with across a
// reopen; a waveform that is not valid is refused at SetWaveform and, if
// found on disk, dropped without losing the clip.
func TestWaveform(t *testing.T) {
	dir := t.TempDir()
	rooms := []configs.Room{testRoom(t, "r", nil)}
	ownerA := OwnerOf("ann's owner key")
	s := openStore(t, dir, rooms)
	wave := make([]int, MinWaveform)
	for i := range wave {
		wave[i] = i * 3
	}
	p, err := s.Begin("r", Clip{Author: "ann", Owner: ownerA})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]int{make([]int, MinWaveform-1), make([]int, MaxWaveform+1), append(make([]int, MinWaveform-1), 101), append(make([]int, MinWaveform-1), -1)} {
		if p.SetWaveform(bad) == nil {
			t.Errorf("a waveform of %d values (last %d) was taken", len(bad), bad[len(bad)-1])
		}
	}
	if err := p.SetWaveform(wave); err != nil {
		t.Fatal(err)
	}
	if _, err := p.File().Write(bytes.Repeat([]byte{'x'}, 100)); err != nil {
		t.Fatal(err)
	}
	c, err := p.Commit(time.Second, KindAudio, `audio/webm; codecs="opus"`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Waveform, wave) {
		t.Fatalf("committed waveform %v", c.Waveform)
	}
	plain := dummy(t, s, "r", ownerA, 100)
	if plain.Waveform != nil {
		t.Errorf("a clip without levels has a waveform: %v", plain.Waveform)
	}
	s.Close()

	s = openStore(t, dir, rooms)
	got, ok := s.Get("r", c.ID)
	if !ok || !slices.Equal(got.Waveform, wave) {
		t.Fatalf("after reopening: %v, %v", ok, got.Waveform)
	}
	s.Close()

	// A hostile or damaged metadata file: the waveform goes, the clip stays.
	meta := filepath.Join(clipDir(dir, "r"), c.ID+".json")
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["waveform"].([]any)[0] = 1000
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, b, 0o640); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, rooms)
	got, ok = s.Get("r", c.ID)
	if !ok || got.Waveform != nil {
		t.Fatalf("a clip with a bad waveform: present %v, waveform %v", ok, got.Waveform)
	}
}
