package clips

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"parley/configs"
	"parley/internal/testmedia"
)

// crashWriter passes the first left bytes to the file and drops the rest,
// WriteAt included: the process died at that byte, before the writer could
// go back to fill in Cues and Duration.
type crashWriter struct {
	f    *os.File
	left int
}

func (c *crashWriter) Write(p []byte) (int, error) {
	n := min(len(p), c.left)
	if n > 0 {
		if _, err := c.f.Write(p[:n]); err != nil {
			return 0, err
		}
		c.left -= n
	}
	return len(p), nil
}

func (c *crashWriter) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
func (c *crashWriter) Seek(int64, int) (int64, error)         { return 0, nil }
func (c *crashWriter) Close() error                           { return nil }

func TestRecoveryAfterCrash(t *testing.T) {
	testmedia.RequireTool(t, "mkvmerge", "mkvtoolnix")
	dir := t.TempDir()
	rooms := []configs.Room{testRoom(t, "a", nil), testRoom(t, "forum", manual)}
	s, err := openIn(t, dir, rooms)
	if err != nil {
		t.Fatal(err)
	}
	earlier := record(t, s, "a", "", 2)
	earlierBytes := mustRead(t, storedPath(dir, earlier))

	// A recording that the crash cut off in the middle of a cluster: the
	// full file would be about 3 s of audio and video.
	audio, video := testmedia.Opus(t, 3), testmedia.VP8(t, 3)
	full := testmedia.WebM(t, audio, video, true)
	owner := OwnerOf("alice-key-0123456789abcdef")
	cut, err := s.Begin("a", Clip{Author: "alice", Owner: owner, Description: "cut off"})
	if err != nil {
		t.Fatal(err)
	}
	testmedia.WriteWebM(t, &crashWriter{f: cut.f, left: len(full) * 6 / 10}, audio, video, true)

	// A draft recording cut off just after its first frames.
	draft, err := s.Begin("forum", Clip{Author: "alice", Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	testmedia.WriteWebM(t, &crashWriter{f: draft.f, left: 7000}, audio, nil, true) // past the 4 KiB reserved for Cues

	// A recording that holds no frame, one that is garbage, and an upload
	// that was being received.
	empty, _ := s.Begin("a", Clip{})
	testmedia.WriteWebM(t, &crashWriter{f: empty.f, left: 150}, audio, nil, true)
	garbage, _ := s.Begin("a", Clip{})
	garbage.f.Write(bytes.Repeat([]byte("garbage "), 100))
	upload, err := s.begin("a", Clip{}, true)
	if err != nil {
		t.Fatal(err)
	}
	upload.f.Write(full[:len(full)/2])

	// The crash: nothing is committed or aborted.
	for _, p := range []*Pending{cut, draft, empty, garbage, upload} {
		p.f.Close()
	}
	s.Close()

	s = openStore(t, dir, rooms)
	list, _ := s.List("a", owner)
	if len(list) != 2 || list[1].ID != earlier.ID || list[0].ID != cut.ID() {
		t.Fatalf("catalog %+v", list)
	}
	rec := list[0]
	if rec.Kind != KindVideo || rec.Mime != `video/webm; codecs="vp8, opus"` || rec.Author != "alice" ||
		rec.Description != "cut off" || rec.State != Published || rec.Bytes == 0 {
		t.Errorf("recovered clip %+v", rec)
	}
	fullSeconds := float64(len(audio)) * 0.02
	if rec.Duration < 0.5 || rec.Duration > fullSeconds-0.5 {
		t.Errorf("recovered %.3f s of a %.3f s recording cut at 60%%", rec.Duration, fullSeconds)
	}
	r := testmedia.Judge(t, storedPath(dir, rec))
	if r.DecodeErrors != "" {
		t.Errorf("ffmpeg: %s", r.DecodeErrors)
	}
	if math.Abs(r.Duration-rec.Duration) > 0.1 || math.Abs(r.MkvDuration-rec.Duration) > 0.1 || !r.Cues {
		t.Errorf("recovered file: ffprobe %.3f s, mkvmerge %.3f s, cues %v; clip %.3f s", r.Duration, r.MkvDuration, r.Cues, rec.Duration)
	}
	if !slices.Equal(r.Codecs, []string{"opus", "vp8"}) {
		t.Errorf("codecs %v", r.Codecs)
	}
	t.Logf("recovered %.3f s of %.3f s (ffprobe %.3f s, mkvmerge %.3f s, cues %v), %d bytes",
		rec.Duration, fullSeconds, r.Duration, r.MkvDuration, r.Cues, rec.Bytes)

	// The earlier clip is intact.
	if !bytes.Equal(mustRead(t, storedPath(dir, earlier)), earlierBytes) {
		t.Error("the earlier clip changed")
	}
	if r := testmedia.Judge(t, storedPath(dir, earlier)); r.DecodeErrors != "" || math.Abs(r.Duration-earlier.Duration) > 0.1 {
		t.Errorf("earlier clip: %+v", r)
	}

	// The draft is recovered as a draft, with a token.
	drafts, _ := s.List("forum", owner)
	if len(drafts) != 1 || drafts[0].State != Draft || drafts[0].DraftToken == "" || drafts[0].Duration <= 0 {
		t.Errorf("recovered draft %+v", drafts)
	} else if r := testmedia.Judge(t, storedPath(dir, drafts[0])); r.DecodeErrors != "" || math.Abs(r.Duration-drafts[0].Duration) > 0.1 {
		t.Errorf("recovered draft file: %+v, clip %.3f s", r, drafts[0].Duration)
	}

	// No frame and garbage: quarantined with their sidecars; the upload is
	// gone; nothing unfinished is left.
	q := names(t, filepath.Join(dir, "rooms", "a", "quarantine"))
	for _, id := range []string{empty.ID(), garbage.ID()} {
		for _, ext := range []string{".part", ".part.json"} {
			if !slices.Contains(q, id+ext) {
				t.Errorf("quarantine %v lacks %s", q, id+ext)
			}
		}
	}
	got := names(t, clipDir(dir, "a"))
	want := []string{earlier.ID + ".json", earlier.ID + ".webm", cut.ID() + ".json", cut.ID() + ".webm"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("clips folder %v, want %v", got, want)
	}
}

func TestFinishInterruptedCommit(t *testing.T) {
	dir := t.TempDir()
	rooms := []configs.Room{testRoom(t, "a", nil)}
	s, err := openIn(t, dir, rooms)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Begin("a", Clip{Author: "bob", Description: "almost"})
	if err != nil {
		t.Fatal(err)
	}
	audio := testmedia.Opus(t, 1)
	testmedia.WriteWebM(t, nopWriteCloser{p.File()}, audio, nil, true)
	p.f.Close()
	s.Close()
	// The crash came after the rename of Commit, before the metadata.
	cd := clipDir(dir, "a")
	if err := os.Rename(filepath.Join(cd, p.ID()+".part"), filepath.Join(cd, p.ID()+".webm")); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, rooms)
	c, ok := s.Get("a", p.ID())
	if !ok || c.Description != "almost" || math.Abs(c.Duration-float64(len(audio))*0.02) > 0.001 {
		t.Fatalf("clip %+v %v", c, ok)
	}
	if n := names(t, cd); !slices.Equal(n, []string{p.ID() + ".json", p.ID() + ".webm"}) {
		t.Errorf("clips folder %v", n)
	}
}
