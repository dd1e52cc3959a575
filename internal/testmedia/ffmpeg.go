package testmedia

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Inputs of ffmpeg for MakeMedia: a 440 Hz tone and a 320x240 test
// picture at 15 frames per second, 3 s each.
var (
	Sine3    = []string{"-f", "lavfi", "-i", "sine=frequency=440:duration=3"}
	TestSrc3 = []string{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=15:duration=3"}
)

// Args joins lists of ffmpeg arguments.
func Args(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// MakeMedia runs ffmpeg with args (inputs, codecs) and returns the file it
// wrote, name, in a temporary folder; the name's extension chooses the
// container unless args do.
func MakeMedia(t testing.TB, name string, args ...string) string {
	t.Helper()
	ffmpeg := RequireTool(t, "ffmpeg", "ffmpeg")
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(ffmpeg, append(append([]string{"-nostdin", "-v", "error", "-y"}, args...), out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, b)
	}
	return out
}

// ContainerDuration is the duration in seconds that ffprobe reads from a
// file's container (Judge's Duration, without the decoding).
func ContainerDuration(t testing.TB, path string) float64 {
	t.Helper()
	ffprobe := RequireTool(t, "ffprobe", "ffmpeg")
	out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe %s: duration %q", path, out)
	}
	return f
}

// DecodeErrors decodes path with ffmpeg and returns what it reported as
// errors; "" when the media decodes cleanly.
func DecodeErrors(t testing.TB, path string) string {
	t.Helper()
	ffmpeg := RequireTool(t, "ffmpeg", "ffmpeg")
	var stderr bytes.Buffer
	cmd := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-i", path, "-f", "null", "-")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("%v: %s", err, stderr.String())
	}
	return strings.TrimSpace(stderr.String())
}
