package probe

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/at-wat/ebml-go"

	"parley/internal/testmedia"
)

// fuzzSeeds are the seed inputs: the committed fixtures, files ffmpeg makes
// now (when it is installed; in CI it must be), files written with ebml-go,
// and truncations and bit flips of each.
func fuzzSeeds(f *testing.F) [][]byte {
	var base [][]byte
	for _, name := range []string{"opus.webm", "opus.ogg", "vp8.webm"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		base = append(base, b)
	}
	if _, err := exec.LookPath("ffmpeg"); err == nil {
		short := []string{"-f", "lavfi", "-i", "sine=frequency=440:duration=0.5"}
		video := []string{"-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=0.5"}
		for _, m := range []struct {
			name string
			args []string
		}{
			{"a.webm", testmedia.Args(short, []string{"-c:a", "libopus"})},
			{"v.webm", testmedia.Args(short, video, []string{"-c:a", "libopus", "-c:v", "libvpx", "-deadline", "realtime"})},
			{"v9.webm", testmedia.Args(short, video, []string{"-c:a", "libopus", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"})},
			{"a.ogg", testmedia.Args(short, []string{"-c:a", "libopus"})},
			{"live.webm", testmedia.Args(short, []string{"-c:a", "libopus", "-f", "webm", "-live", "1"})},
		} {
			base = append(base, readAll(f, testmedia.MakeMedia(f, m.name, m.args...)))
		}
	} else if os.Getenv("CI") != "" {
		f.Fatal("ffmpeg is not installed: install the Debian package ffmpeg")
	}
	base = append(base,
		crafted(f, craftOpts{lacing: ebml.LacingXiph}),
		crafted(f, craftOpts{lacing: ebml.LacingEBML}),
		crafted(f, craftOpts{lacing: ebml.LacingFixed}),
		crafted(f, craftOpts{codec: "V_VP9"}),
	)
	seeds := [][]byte{nil, []byte("OggS"), {0x1a, 0x45, 0xdf, 0xa3}}
	for _, b := range base {
		seeds = append(seeds, b)
		for _, cut := range []int{len(b) / 4, len(b) / 2, len(b) * 3 / 4, len(b) - 1} {
			seeds = append(seeds, b[:cut])
		}
		for i, at := range []int{5, 40, 100, len(b) / 3, len(b) / 2} {
			if at < len(b) {
				c := bytes.Clone(b)
				c[at] ^= 1 << (i % 8)
				seeds = append(seeds, c)
			}
		}
	}
	return seeds
}

func isTyped(err error) bool {
	for _, e := range []error{ErrNotMedia, ErrCodec, ErrTruncated, ErrInvalid, ErrTooBig} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzProbe feeds arbitrary bytes to Probe and ReadBlocks: they must not
// panic, must fail only with the package's errors, and must not report
// more frames or frame bytes than the input holds.
func FuzzProbe(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Probe(bytes.NewReader(data), int64(len(data)))
		if err != nil && !isTyped(err) {
			t.Fatalf("Probe: untyped error %v", err)
		}
		if len(info.Tracks) > maxTracks || info.Blocks > len(data) || info.Duration < 0 {
			t.Fatalf("Probe: unbounded result %+v", info)
		}
		if err == nil && (info.Duration <= 0 && info.Container == "webm" || info.Blocks == 0) {
			t.Fatalf("Probe accepted a file without audio: %+v", info)
		}
		total := 0
		info, err = ReadBlocks(bytes.NewReader(data), func(b Block) error {
			total += len(b.Data)
			if int64(b.Timecode) < -maxTime || int64(b.Timecode) > maxTime {
				t.Fatalf("timecode %s", b.Timecode)
			}
			return nil
		})
		if err != nil && !isTyped(err) {
			t.Fatalf("ReadBlocks: untyped error %v", err)
		}
		if total > len(data) || info.Blocks > len(data) || info.Duration < 0 {
			t.Fatalf("ReadBlocks: %d frame bytes from %d bytes of input, %+v", total, len(data), info)
		}
	})
}
