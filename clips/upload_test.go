package clips

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"parley/configs"
	"parley/internal/testmedia"
)

// multipartBody builds a form with an optional description (before or
// after the file) and a file part.
func multipartBody(t testing.TB, data []byte, description string, descriptionFirst bool) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	desc := func() {
		if description != "" {
			mw.WriteField("description", description)
		}
	}
	if descriptionFirst {
		desc()
	}
	fw, err := mw.CreateFormFile("file", "clip.webm")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	if !descriptionFirst {
		desc()
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

// storedPath is where the store keeps a clip's media.
func storedPath(dir string, c Clip) string {
	return filepath.Join(clipDir(dir, c.Room), c.ID+c.ext())
}

func decodeClip(t testing.TB, resp *http.Response) Clip {
	t.Helper()
	body := readBody(t, resp)
	var c Clip
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("clip JSON %s: %v", body, err)
	}
	return c
}

func TestUploadAccepted(t *testing.T) {
	testmedia.RequireTool(t, "mkvmerge", "mkvtoolnix")
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{testRoom(t, "a", nil)})
	srv := server(t, s)

	audio3 := testmedia.Opus(t, 3)
	video3 := testmedia.VP8(t, 3)
	chromeLike := testmedia.WebM(t, audio3, video3, false)
	chromeAudio := testmedia.WebM(t, audio3, nil, false)
	framesSeconds := float64(len(audio3)) * 0.02

	cases := []struct {
		name      string
		data      []byte
		want      float64 // expected duration in seconds
		ctype     string  // raw Content-Type; "" = multipart
		kind      string
		mime      string
		remuxed   bool
		judgeWant bool // compare with ffprobe on the source
	}{
		{name: "webm audio", kind: KindAudio, mime: `audio/webm; codecs="opus"`, remuxed: true, judgeWant: true},
		{name: "webm video", kind: KindVideo, mime: `video/webm; codecs="vp8, opus"`, remuxed: true, judgeWant: true},
		{name: "webm vp9", kind: KindVideo, mime: `video/webm; codecs="vp9, opus"`, remuxed: true, judgeWant: true},
		{name: "ogg", kind: KindAudio, mime: `audio/ogg; codecs="opus"`, ctype: "audio/ogg", judgeWant: true},
		{name: "ffmpeg live webm", kind: KindAudio, mime: `audio/webm; codecs="opus"`, ctype: "audio/webm", remuxed: true},
		// Written like Chrome's MediaRecorder: unknown-size Segment and
		// Clusters, no SeekHead, no Cues, no Duration.
		{name: "mediarecorder-like video", data: chromeLike, want: framesSeconds, kind: KindVideo, mime: `video/webm; codecs="vp8, opus"`, ctype: "video/webm", remuxed: true},
		{name: "mediarecorder-like audio", data: chromeAudio, want: framesSeconds, kind: KindAudio, mime: `audio/webm; codecs="opus"`, remuxed: true},
	}
	sources := map[string]string{
		"webm audio":       testmedia.MakeMedia(t, "a.webm", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libopus"})...),
		"webm video":       testmedia.MakeMedia(t, "v.webm", testmedia.Args(testmedia.Sine3, testmedia.TestSrc3, []string{"-c:a", "libopus", "-c:v", "libvpx", "-deadline", "realtime"})...),
		"webm vp9":         testmedia.MakeMedia(t, "v9.webm", testmedia.Args(testmedia.Sine3, testmedia.TestSrc3, []string{"-c:a", "libopus", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"})...),
		"ogg":              testmedia.MakeMedia(t, "a.ogg", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libopus"})...),
		"ffmpeg live webm": testmedia.MakeMedia(t, "live.webm", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libopus", "-f", "webm", "-live", "1"})...),
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data
			want := c.want
			if src, ok := sources[c.name]; ok {
				var err error
				if data, err = os.ReadFile(src); err != nil {
					t.Fatal(err)
				}
				if c.judgeWant {
					want = testmedia.ContainerDuration(t, src)
				} else {
					want = 3
				}
			}
			var resp *http.Response
			if c.ctype == "" {
				body, ctype := multipartBody(t, data, "a test clip", true)
				// A key per case: uploads are rate limited per caller.
				resp = do(t, "POST", srv.URL+"/api/rooms/a/clips", "alice-key-"+c.name, body, ctype)
			} else {
				resp = do(t, "POST", srv.URL+"/api/rooms/a/clips?description=raw", "alice-key-"+c.name, bytes.NewReader(data), c.ctype)
			}
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d: %s", resp.StatusCode, readBody(t, resp))
			}
			clip := decodeClip(t, resp)
			if loc := resp.Header.Get("Location"); loc != "/api/rooms/a/clips/"+clip.ID {
				t.Errorf("Location %q", loc)
			}
			if clip.Kind != c.kind || clip.Mime != c.mime || clip.State != Published || clip.Author != "user alice-key-"+c.name {
				t.Errorf("clip %+v", clip)
			}
			if math.Abs(clip.Duration-want) > 0.1 {
				t.Errorf("duration %.3f s, want %.3f s", clip.Duration, want)
			}
			path := storedPath(dir, clip)
			fi, err := os.Stat(path)
			if err != nil || fi.Size() != clip.Bytes {
				t.Fatalf("stored file: %v, %d bytes, clip says %d", err, fi.Size(), clip.Bytes)
			}
			r := testmedia.Judge(t, path)
			if r.DecodeErrors != "" {
				t.Errorf("ffmpeg: %s", r.DecodeErrors)
			}
			if math.Abs(r.Duration-clip.Duration) > 0.1 {
				t.Errorf("ffprobe says %.3f s, the clip %.3f s", r.Duration, clip.Duration)
			}
			if c.remuxed {
				if !r.Cues || math.Abs(r.MkvDuration-clip.Duration) > 0.1 {
					t.Errorf("not seekable: cues %v, mkvmerge duration %.3f s", r.Cues, r.MkvDuration)
				}
			} else if !bytes.Equal(mustRead(t, path), data) {
				t.Error("an Ogg upload was changed")
			}
			t.Logf("%s: clip %.3f s, source %.3f s, stored ffprobe %.3f s, mkvmerge %.3f s, cues %v, %d -> %d bytes",
				c.name, clip.Duration, want, r.Duration, r.MkvDuration, r.Cues, len(data), clip.Bytes)
		})
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUploadDescriptionAfterFile(t *testing.T) {
	s := openStore(t, t.TempDir(), []configs.Room{testRoom(t, "a", nil)})
	srv := server(t, s)
	data := testmedia.WebM(t, testmedia.Opus(t, 1), nil, false)
	body, ctype := multipartBody(t, data, "after\nthe file", false)
	resp := do(t, "POST", srv.URL+"/api/rooms/a/clips", "alice-key", body, ctype)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, readBody(t, resp))
	}
	if c := decodeClip(t, resp); c.Description != "after the file" {
		t.Errorf("description %q", c.Description)
	}
	long := url.QueryEscape(strings.Repeat("x", MaxDescription+1))
	resp = do(t, "POST", srv.URL+"/api/rooms/a/clips?description="+long, "alice-key", bytes.NewReader(data), "audio/webm")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a description of %d characters: %d", MaxDescription+1, resp.StatusCode)
	}
}

func pngBytes(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestUploadRefused(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{testRoom(t, "a", func(r *configs.Room) {
		r.MaxClipSeconds = 5
		r.MaxClipBytes = 40_000
		r.MaxRoomBytes = 1_000_000
	})})
	srv := server(t, s)
	good := mustRead(t, testmedia.MakeMedia(t, "a.webm", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libopus"})...))
	long := mustRead(t, testmedia.MakeMedia(t, "long.webm", "-f", "lavfi", "-i", "sine=frequency=440:duration=7", "-c:a", "libopus", "-b:a", "16k"))
	vorbis := mustRead(t, testmedia.MakeMedia(t, "v.webm", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libvorbis"})...))
	mp3 := mustRead(t, testmedia.MakeMedia(t, "a.mp3", testmedia.Args(testmedia.Sine3, []string{"-c:a", "libmp3lame"})...))
	big := mustRead(t, testmedia.MakeMedia(t, "big.webm", testmedia.Args(testmedia.Sine3, testmedia.TestSrc3, []string{"-c:a", "libopus", "-c:v", "libvpx", "-deadline", "realtime"})...))
	if len(big) <= 40_000 {
		t.Fatalf("the big file has only %d bytes", len(big))
	}
	record(t, s, "a", "", 1) // an earlier clip, which must stay as it is
	before := tree(t, dir)

	cases := []struct {
		name   string
		data   []byte
		ctype  string // "" = multipart
		key    string
		status int
	}{
		{"truncated webm", good[:len(good)/2], "audio/webm", "k", http.StatusUnprocessableEntity},
		{"truncated webm multipart", good[:len(good)/2], "", "k", http.StatusUnprocessableEntity},
		{"vorbis", vorbis, "audio/webm", "k", http.StatusUnsupportedMediaType},
		{"mp3", mp3, "", "k", http.StatusUnsupportedMediaType},
		{"text", []byte("just some text\n"), "audio/webm", "k", http.StatusUnsupportedMediaType},
		{"png", pngBytes(t), "", "k", http.StatusUnsupportedMediaType},
		{"empty", nil, "audio/ogg", "k", http.StatusUnsupportedMediaType},
		{"too long", long, "audio/webm", "k", http.StatusUnprocessableEntity},
		{"too big raw", big, "video/webm", "k", http.StatusRequestEntityTooLarge},
		{"too big multipart", big, "", "k", http.StatusRequestEntityTooLarge},
		{"far too big", bytes.Repeat(big, 4), "video/webm", "k", http.StatusRequestEntityTooLarge},
		{"wrong content type", good, "text/plain", "k", http.StatusUnsupportedMediaType},
		{"no auth", good, "audio/webm", "", http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(c.data)
			ctype := c.ctype
			if ctype == "" {
				body, ctype = multipartBody(t, c.data, "x", true)
			}
			key := c.key
			if key != "" {
				key += "-" + c.name // uploads are rate limited per caller
			}
			resp := do(t, "POST", srv.URL+"/api/rooms/a/clips", key, body, ctype)
			msg := readBody(t, resp)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, msg)
			}
			var e struct{ Error string }
			if err := json.Unmarshal(msg, &e); err != nil || e.Error == "" {
				t.Errorf("error body %s", msg)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			if after := tree(t, dir); after != before {
				t.Errorf("the data folder changed:\n%s\nbefore:\n%s", after, before)
			}
			t.Logf("%d %s", resp.StatusCode, e.Error)
		})
	}
}

func TestUploadErrorsInStore(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, []configs.Room{testRoom(t, "a", func(r *configs.Room) { r.MaxClipBytes = 4096 })})
	before := tree(t, dir)
	for _, c := range []struct {
		body io.Reader
		want error
	}{
		{strings.NewReader(strings.Repeat("x", 5000)), ErrTooBig},
		{strings.NewReader("plain text"), ErrUnsupportedMedia},
		{io.MultiReader(strings.NewReader("\x1a\x45\xdf\xa3"), errReader{}), nil},
	} {
		_, err := s.Upload("a", "x", "", "", c.body)
		var re *ReadError
		if c.want == nil && !errors.As(err, &re) || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Upload: %v, want %v", err, c.want)
		}
		if after := tree(t, dir); after != before {
			t.Errorf("the data folder changed:\n%s", after)
		}
	}
	if _, err := s.Upload("b", "x", "", "", strings.NewReader("")); !errors.Is(err, ErrUnknownRoom) {
		t.Errorf("Upload to an unknown room: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
