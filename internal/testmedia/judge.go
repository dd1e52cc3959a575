package testmedia

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Report is what ffprobe, ffmpeg and mkvmerge say of a media file.
type Report struct {
	Codecs   []string // codec names in stream order, as ffprobe names them
	Duration float64  // seconds, from ffprobe's format section
	// DecodeErrors is what `ffmpeg -v error -i f -fps_mode vfr -f null -`
	// printed; empty for a clean file. ffmpeg exits 0 even for damaged
	// files, so its output is the verdict.
	DecodeErrors string
	// MkvDuration is the duration mkvmerge -J reads from the container, in
	// seconds (0 if none), and Cues whether the file has a cue index.
	MkvDuration float64
	Cues        bool
}

// Judge runs the external tools on a clip.
func Judge(t testing.TB, path string) Report {
	t.Helper()
	ffprobe := RequireTool(t, "ffprobe", "ffmpeg")
	ffmpeg := RequireTool(t, "ffmpeg", "ffmpeg")
	mkvmerge := RequireTool(t, "mkvmerge", "mkvtoolnix")
	var r Report

	out, err := exec.Command(ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var probe struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("ffprobe output: %v", err)
	}
	for _, s := range probe.Streams {
		r.Codecs = append(r.Codecs, s.CodecName)
	}
	r.Duration, _ = strconv.ParseFloat(probe.Format.Duration, 64)

	var stderr bytes.Buffer
	cmd := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-i", path, "-fps_mode", "vfr", "-f", "null", "-")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg decode %s: %v\n%s", path, err, stderr.String())
	}
	r.DecodeErrors = strings.TrimSpace(stderr.String())

	out, err = exec.Command(mkvmerge, "-J", path).Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("mkvmerge -J %s: %v", path, err)
	}
	var mkv struct {
		Container struct {
			Properties struct {
				Duration int64 `json:"duration"` // nanoseconds
			} `json:"properties"`
		} `json:"container"`
	}
	if err := json.Unmarshal(out, &mkv); err != nil {
		t.Fatalf("mkvmerge output: %v", err)
	}
	r.MkvDuration = float64(mkv.Container.Properties.Duration) / 1e9
	r.Cues = hasCues(t, path)
	return r
}

// hasCues asks mkvinfo (mkvtoolnix) whether the file has a Cues element.
func hasCues(t testing.TB, path string) bool {
	mkvinfo := RequireTool(t, "mkvinfo", "mkvtoolnix")
	out, err := exec.Command(mkvinfo, path).Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("mkvinfo %s: %v", path, err)
	}
	return bytes.Contains(out, []byte("|+ Cues")) || bytes.Contains(out, []byte("+ Cues"))
}
