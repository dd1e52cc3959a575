package testmedia

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Timeline is where a clip's streams start and how long it lasts, as
// ffprobe reads it, and whether it decodes cleanly.
type Timeline struct {
	Start    float64 // the container's start time, seconds
	Duration float64 // the container's duration, seconds
	Streams  []StreamTimes
	// DecodeErrors is what `ffmpeg -v error -i f -f null -` printed.
	DecodeErrors string
}

// StreamTimes is one stream of a Timeline.
type StreamTimes struct {
	Type        string  // "audio" or "video"
	Codec       string  // as ffprobe names it
	Start       float64 // the stream's start_time, seconds
	FirstPacket float64 // the time of its first packet, seconds
	LastPacket  float64 // the time of its last packet, seconds
	Packets     int
}

// ProbeTimeline runs ffprobe and ffmpeg on a clip.
func ProbeTimeline(t testing.TB, path string) Timeline {
	t.Helper()
	ffprobe := RequireTool(t, "ffprobe", "ffmpeg")
	ffmpeg := RequireTool(t, "ffmpeg", "ffmpeg")
	out, err := exec.Command(ffprobe, "-v", "error", "-print_format", "json",
		"-show_entries", "format=start_time,duration:stream=index,codec_type,codec_name,start_time:packet=stream_index,pts_time",
		path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var probe struct {
		Streams []struct {
			Index     int    `json:"index"`
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
			StartTime string `json:"start_time"`
		} `json:"streams"`
		Packets []struct {
			StreamIndex int    `json:"stream_index"`
			PTSTime     string `json:"pts_time"`
		} `json:"packets"`
		Format struct {
			StartTime string `json:"start_time"`
			Duration  string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("ffprobe output: %v", err)
	}
	var tl Timeline
	tl.Start, _ = strconv.ParseFloat(probe.Format.StartTime, 64)
	tl.Duration, _ = strconv.ParseFloat(probe.Format.Duration, 64)
	for _, s := range probe.Streams {
		st := StreamTimes{Type: s.CodecType, Codec: s.CodecName, FirstPacket: math.NaN()}
		st.Start, _ = strconv.ParseFloat(s.StartTime, 64)
		for _, p := range probe.Packets {
			if p.StreamIndex != s.Index {
				continue
			}
			at, _ := strconv.ParseFloat(p.PTSTime, 64)
			if st.Packets == 0 {
				st.FirstPacket = at
			}
			st.LastPacket = at
			st.Packets++
		}
		tl.Streams = append(tl.Streams, st)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-i", path, "-f", "null", "-")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg decode %s: %v\n%s", path, err, stderr.String())
	}
	tl.DecodeErrors = strings.TrimSpace(stderr.String())
	return tl
}

// InSync lists what is wrong with a clip of want: its duration is off by
// more than durTol, a stream (or its first packet) starts more than
// startTol after the clip, a stream's packets span less or more than want
// by durTol (packets piled up at one time), the video's last packet is
// more than 50 ms after the audio's or 150 ms before it (both stop at
// once: the video is late or early by the difference), a wanted stream
// type is missing, or it does not decode cleanly. None is a clip in sync.
func (tl Timeline) InSync(want time.Duration, durTol, startTol time.Duration, types ...string) []string {
	var bad []string
	if d := math.Abs(tl.Duration - want.Seconds()); d > durTol.Seconds() {
		bad = append(bad, fmt.Sprintf("lasts %.3f s, want %.3f s ±%.3f", tl.Duration, want.Seconds(), durTol.Seconds()))
	}
	for _, typ := range types {
		found := false
		for _, s := range tl.Streams {
			if s.Type != typ {
				continue
			}
			found = true
			if s.Packets == 0 {
				bad = append(bad, typ+" stream has no packet")
				continue
			}
			// The last frame lasts up to 40 ms past the last packet.
			if span := s.LastPacket - s.FirstPacket + 0.04; math.Abs(span-want.Seconds()) > durTol.Seconds()+0.02 {
				bad = append(bad, fmt.Sprintf("%s packets span %.3f s (%.3f to %.3f), want about %.3f s",
					typ, span, s.FirstPacket, s.LastPacket, want.Seconds()))
			}
			for _, at := range []float64{s.Start, s.FirstPacket} {
				if d := at - tl.Start; math.Abs(d) > startTol.Seconds() {
					bad = append(bad, fmt.Sprintf("%s starts at %.3f s (first packet %.3f s), want within %.3f s of the clip's start %.3f s",
						typ, s.Start, s.FirstPacket, startTol.Seconds(), tl.Start))
					break
				}
			}
		}
		if !found {
			bad = append(bad, "no "+typ+" stream")
		}
	}
	if d, ok := tl.VideoEndsLater(); ok && (d > 0.05 || d < -0.15) {
		bad = append(bad, fmt.Sprintf("the video ends %.3f s after the audio, want -0.150 to 0.050", d))
	}
	if tl.DecodeErrors != "" {
		bad = append(bad, "ffmpeg reports errors: "+tl.DecodeErrors)
	}
	return bad
}

// VideoEndsLater is how much later the video's last packet is than the
// audio's, if the clip has both.
func (tl Timeline) VideoEndsLater() (float64, bool) {
	var audio, video *StreamTimes
	for i, s := range tl.Streams {
		switch {
		case s.Type == "audio" && s.Packets > 0 && audio == nil:
			audio = &tl.Streams[i]
		case s.Type == "video" && s.Packets > 0 && video == nil:
			video = &tl.Streams[i]
		}
	}
	if audio == nil || video == nil {
		return 0, false
	}
	return video.LastPacket - audio.LastPacket, true
}

// String gives the figures: duration and each stream's start.
func (tl Timeline) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "duration %.3f s", tl.Duration)
	for _, s := range tl.Streams {
		fmt.Fprintf(&b, ", %s starts %.3f s (packets %.3f to %.3f s)", s.Type, s.Start, s.FirstPacket, s.LastPacket)
	}
	if d, ok := tl.VideoEndsLater(); ok {
		fmt.Fprintf(&b, ", video ends %+.3f s after audio", d)
	}
	return b.String()
}
