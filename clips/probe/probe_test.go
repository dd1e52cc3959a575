package probe

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"

	"parley/internal/testmedia"
)

func probeFile(t *testing.T, path string) (Info, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Probe(f, 100<<20)
}

func TestProbeValid(t *testing.T) {
	cases := []struct {
		name, file string
		args       []string
		container  string
		codecs     string
		video      bool
		noDuration bool // the container states no duration: compare with 3 s
	}{
		{"webm opus", "a.webm", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libopus"}), "webm", "opus", false, false},
		{"webm vp8 opus", "v.webm", testmedia.Args(testmedia.Sine3, testmedia.TestSrc3, []string{"-c:a", "libopus", "-c:v", "libvpx", "-deadline", "realtime"}), "webm", "vp8 opus", true, false},
		{"webm vp9 opus", "v9.webm", testmedia.Args(testmedia.Sine3, testmedia.TestSrc3, []string{"-c:a", "libopus", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"}), "webm", "vp9 opus", true, false},
		{"webm live", "live.webm", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libopus", "-f", "webm", "-live", "1"}), "webm", "opus", false, true},
		{"ogg opus", "a.ogg", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libopus"}), "ogg", "opus", false, false},
		{"ogg opus stereo 60ms", "s.ogg", testmedia.Args(testmedia.Sine3, []string{"-ac", "2", "-c:a", "libopus", "-frame_duration", "60"}), "ogg", "opus", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := testmedia.MakeMedia(t, c.file, c.args...)
			info, err := probeFile(t, path)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if info.Container != c.container {
				t.Errorf("container %q, want %q", info.Container, c.container)
			}
			var codecs []string
			for _, tr := range info.Tracks {
				codecs = append(codecs, tr.Codec)
			}
			if got := strings.Join(codecs, " "); got != c.codecs {
				t.Errorf("codecs %q, want %q", got, c.codecs)
			}
			if info.HasVideo() != c.video {
				t.Errorf("HasVideo %v", info.HasVideo())
			}
			want := 3 * time.Second
			if !c.noDuration {
				want = time.Duration(testmedia.ContainerDuration(t, path) * float64(time.Second))
			}
			if d := info.Duration - want; d < -100*time.Millisecond || d > 100*time.Millisecond {
				t.Errorf("duration %s, ffprobe %s", info.Duration, want)
			}
			t.Logf("%s: duration %s (ffprobe %s), %d blocks", c.name, info.Duration, want, info.Blocks)
		})
	}
}

func TestProbeFixtures(t *testing.T) {
	for _, c := range []struct {
		file      string
		container string
		video     bool
	}{
		{"opus.webm", "webm", false},
		{"opus.ogg", "ogg", false},
		{"vp8.webm", "webm", true},
	} {
		info, err := probeFile(t, filepath.Join("testdata", c.file))
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if info.Container != c.container || info.HasVideo() != c.video {
			t.Errorf("%s: %+v", c.file, info)
		}
		// ffmpeg made them 0.3 s long.
		if info.Duration < 250*time.Millisecond || info.Duration > 350*time.Millisecond {
			t.Errorf("%s: duration %s", c.file, info.Duration)
		}
	}
}

func pngBytes(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readAll(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProbeRefuses(t *testing.T) {
	webmFile := readAll(t, testmedia.MakeMedia(t, "a.webm", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libopus"})...))
	oggFile := readAll(t, testmedia.MakeMedia(t, "a.ogg", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libopus"})...))
	flipped := bytes.Clone(oggFile)
	flipped[len(flipped)/2] ^= 0x10

	cases := []struct {
		name string
		data []byte
		max  int64
		want error
	}{
		{"empty", nil, 0, ErrNotMedia},
		{"text", []byte("hello, this is not a clip\n"), 0, ErrNotMedia},
		{"png", pngBytes(t), 0, ErrNotMedia},
		{"mp3", readAll(t, testmedia.MakeMedia(t, "a.mp3", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libmp3lame"})...)), 0, ErrNotMedia},
		{"matroska doctype", readAll(t, testmedia.MakeMedia(t, "a.mka", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libopus", "-f", "matroska"})...)), 0, ErrNotMedia},
		{"vorbis webm", readAll(t, testmedia.MakeMedia(t, "v.webm", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libvorbis"})...)), 0, ErrCodec},
		{"vorbis ogg", readAll(t, testmedia.MakeMedia(t, "v.ogg", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libvorbis"})...)), 0, ErrCodec},
		{"h264 in webm", crafted(t, craftOpts{codec: "V_MPEG4/ISO/AVC"}), 0, ErrCodec},
		{"no opus track", crafted(t, craftOpts{noAudio: true}), 0, ErrCodec},
		{"truncated webm", webmFile[:len(webmFile)/2], 0, ErrTruncated},
		{"truncated webm header", webmFile[:30], 0, ErrTruncated},
		{"truncated ogg", oggFile[:len(oggFile)/2], 0, ErrTruncated},
		{"ogg bit flip", flipped, 0, ErrInvalid},
		{"webm too big", webmFile, int64(len(webmFile) - 1), ErrTooBig},
		{"ogg too big", oggFile, 1000, ErrTooBig},
		{"block of unknown track", crafted(t, craftOpts{blockTrack: 7}), 0, ErrInvalid},
		{"timecodes go back", crafted(t, craftOpts{backwards: true}), 0, ErrInvalid},
		{"data after segment", append(bytes.Clone(webmFile), "junk"...), 0, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Probe(bytes.NewReader(c.data), c.max)
			if !errors.Is(err, c.want) {
				t.Fatalf("Probe: %v, want %v", err, c.want)
			}
			t.Logf("%v", err)
		})
	}
	// Exactly maxBytes is fine.
	if _, err := Probe(bytes.NewReader(webmFile), int64(len(webmFile))); err != nil {
		t.Errorf("Probe with maxBytes = size: %v", err)
	}
}

// craftOpts shapes a WebM file written with ebml-go's marshaller.
type craftOpts struct {
	codec      string // video codec ID, "" = none
	noAudio    bool
	blockTrack uint64 // track number of the second block, 0 = 1
	backwards  bool   // the third cluster is 5 s before the second
	lacing     ebml.LacingMode
	frames     []testmedia.Frame
}

type craftCluster struct {
	Timecode    uint64       `ebml:"Timecode"`
	SimpleBlock []ebml.Block `ebml:"SimpleBlock"`
}

type craftFile struct {
	Header  webm.EBMLHeader `ebml:"EBML"`
	Segment struct {
		Info    webm.Info      `ebml:"Info"`
		Tracks  webm.Tracks    `ebml:"Tracks"`
		Cluster []craftCluster `ebml:"Cluster,size=unknown"`
	} `ebml:"Segment,size=unknown"`
}

func crafted(t testing.TB, o craftOpts) []byte {
	t.Helper()
	var f craftFile
	f.Header = *webm.DefaultEBMLHeader
	f.Segment.Info = webm.Info{TimecodeScale: 1000000, MuxingApp: "test", WritingApp: "test"}
	if !o.noAudio {
		f.Segment.Tracks.TrackEntry = append(f.Segment.Tracks.TrackEntry, webm.TrackEntry{
			TrackNumber: 1, TrackUID: 1, CodecID: "A_OPUS", TrackType: 2, CodecPrivate: testmedia.OpusHead,
			Audio: &webm.Audio{SamplingFrequency: 48000, Channels: 2},
		})
	}
	if o.codec != "" || o.noAudio {
		codec := o.codec
		if codec == "" {
			codec = "V_VP8"
		}
		f.Segment.Tracks.TrackEntry = append(f.Segment.Tracks.TrackEntry, webm.TrackEntry{
			TrackNumber: 2, TrackUID: 2, CodecID: codec, TrackType: 1,
			Video: &webm.Video{PixelWidth: 320, PixelHeight: 240},
		})
	}
	frames := o.frames
	if frames == nil {
		frame := []byte{0xFC, 0xFF, 0xFE} // CELT 20 ms, code 0
		for range 150 {
			frames = append(frames, testmedia.Frame{Data: frame, Keyframe: true, Duration: 20 * time.Millisecond})
		}
	}
	// One cluster per second.
	per := 50
	for c := 0; c*per < len(frames); c++ {
		cl := craftCluster{Timecode: uint64(c * 1000)}
		if o.backwards && c == 2 {
			cl.Timecode = 0
		}
		chunk := frames[c*per : min((c+1)*per, len(frames))]
		if o.lacing != ebml.LacingNo {
			for i := 0; i < len(chunk); i += 5 {
				b := ebml.Block{TrackNumber: 1, Timecode: int16(i * 20), Keyframe: true, Lacing: o.lacing}
				for _, fr := range chunk[i:min(i+5, len(chunk))] {
					b.Data = append(b.Data, fr.Data)
				}
				cl.SimpleBlock = append(cl.SimpleBlock, b)
			}
		} else {
			for i, fr := range chunk {
				n := uint64(1)
				if o.blockTrack != 0 && c == 0 && i == 1 {
					n = o.blockTrack
				}
				cl.SimpleBlock = append(cl.SimpleBlock, ebml.Block{TrackNumber: n, Timecode: int16(i * 20), Keyframe: true, Data: [][]byte{fr.Data}})
			}
		}
		f.Segment.Cluster = append(f.Segment.Cluster, cl)
	}
	var b bytes.Buffer
	if err := ebml.Marshal(&f, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestProbeLacing(t *testing.T) {
	// Fixed lacing needs frames of one size, which the synthetic frame is.
	for _, l := range []ebml.LacingMode{ebml.LacingNo, ebml.LacingXiph, ebml.LacingFixed, ebml.LacingEBML} {
		data := crafted(t, craftOpts{lacing: l})
		info, err := Probe(bytes.NewReader(data), 0)
		if err != nil {
			t.Fatalf("lacing %d: %v", l, err)
		}
		if info.Blocks != 150 || info.Duration != 3*time.Second {
			t.Errorf("lacing %d: %d blocks, %s; want 150 blocks, 3s", l, info.Blocks, info.Duration)
		}
	}
	// Real frames of varied sizes.
	frames := testmedia.Opus(t, 1)
	for _, l := range []ebml.LacingMode{ebml.LacingXiph, ebml.LacingEBML} {
		data := crafted(t, craftOpts{lacing: l, frames: frames})
		var got [][]byte
		info, err := ReadBlocks(bytes.NewReader(data), func(b Block) error {
			got = append(got, b.Data)
			return nil
		})
		if err != nil {
			t.Fatalf("lacing %d: %v", l, err)
		}
		if len(got) != len(frames) || info.Blocks != len(frames) {
			t.Fatalf("lacing %d: %d frames, want %d", l, len(got), len(frames))
		}
		for i := range got {
			if !bytes.Equal(got[i], frames[i].Data) {
				t.Fatalf("lacing %d: frame %d differs", l, i)
			}
		}
	}
}

func TestReadBlocksUnknownSizes(t *testing.T) {
	audio := testmedia.Opus(t, 2)
	video := testmedia.VP8(t, 2)
	for _, cues := range []bool{false, true} {
		data := testmedia.WebM(t, audio, video, cues)
		var n int
		info, err := ReadBlocks(bytes.NewReader(data), func(b Block) error { n++; return nil })
		if err != nil {
			t.Fatalf("cues %v: %v", cues, err)
		}
		if n != len(audio)+len(video) || !info.HasVideo() {
			t.Errorf("cues %v: %d blocks, want %d", cues, n, len(audio)+len(video))
		}
		want := time.Duration(len(audio)) * 20 * time.Millisecond
		if d := info.Duration - want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("cues %v: duration %s, want %s", cues, info.Duration, want)
		}
		if _, err := Probe(bytes.NewReader(data), 0); err != nil {
			t.Errorf("cues %v: Probe: %v", cues, err)
		}
	}
}

func TestReadBlocksTruncated(t *testing.T) {
	audio := testmedia.Opus(t, 2)
	data := testmedia.WebM(t, audio, nil, true)
	var all []Block
	if _, err := ReadBlocks(bytes.NewReader(data), func(b Block) error { all = append(all, b); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(data) / 3, len(data) / 2, len(data) - 5, len(data) - 1} {
		var got []Block
		info, err := ReadBlocks(bytes.NewReader(data[:cut]), func(b Block) error { got = append(got, b); return nil })
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("cut at %d: %v, want ErrTruncated", cut, err)
		}
		if len(got) == 0 || len(got) > len(all) || info.Blocks != len(got) {
			t.Fatalf("cut at %d: %d blocks of %d, info %d", cut, len(got), len(all), info.Blocks)
		}
		for i, b := range got {
			if !bytes.Equal(b.Data, all[i].Data) || b.Timecode != all[i].Timecode {
				t.Fatalf("cut at %d: block %d differs", cut, i)
			}
		}
		last := got[len(got)-1]
		if want := last.Timecode + 20*time.Millisecond; info.Duration != want {
			t.Errorf("cut at %d: duration %s, want %s", cut, info.Duration, want)
		}
	}
	// An error from the callback stops the reading.
	stop := errors.New("stop")
	n := 0
	_, err := ReadBlocks(bytes.NewReader(data), func(Block) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("callback error: %v after %d blocks", err, n)
	}
	// Ogg is not read block by block.
	if _, err := ReadBlocks(bytes.NewReader([]byte("OggS....")), nil); !errors.Is(err, ErrNotMedia) {
		t.Errorf("ReadBlocks(ogg): %v", err)
	}
}

func TestOpusSamples(t *testing.T) {
	cases := []struct {
		p    []byte
		want int
	}{
		{[]byte{0xFC}, 960},            // CELT FB 20 ms, one frame
		{[]byte{0xF8 | 1, 0, 0}, 1920}, // CELT 20 ms, two equal frames
		{[]byte{0x08 | 3, 3}, 2880},    // SILK 20 ms, code 3, three frames
		{[]byte{0x18 | 3, 2}, 5760},    // SILK 60 ms, two frames: 120 ms
		{[]byte{0x18 | 3, 3}, 0},       // 180 ms: invalid
		{[]byte{0x03}, 0},              // code 3 without a count
		{nil, 0},
	}
	for _, c := range cases {
		if got := OpusSamples(c.p); got != c.want {
			t.Errorf("OpusSamples(% x) = %d, want %d", c.p, got, c.want)
		}
	}
}

func TestReadUintFloat(t *testing.T) {
	if v, _ := readFloat(1, []byte{0x40, 0x49, 0x0f, 0xdb}); math.Abs(v-math.Pi) > 1e-6 {
		t.Errorf("float32: %v", v)
	}
	if _, err := readUint(1, make([]byte, 9)); !errors.Is(err, ErrInvalid) {
		t.Errorf("9-byte uint: %v", err)
	}
	if v, _ := readInt(1, []byte{0xFF, 0xFE}); v != -2 {
		t.Errorf("int: %d", v)
	}
}
