package server

import (
	"bytes"
	"net/http"
	"os"
	"testing"
	"time"

	"parley/client"
)

// TestUploadMediaRecorder: files recorded by a real browser's
// MediaRecorder (no Duration, no Cues) are accepted by a participant's
// upload, stored seekable, and announced to the room.
func TestUploadMediaRecorder(t *testing.T) {
	srv := startServer(t, nil)
	watcher, _ := srv.join(t, "videochat", "watcher", client.Options{})
	_, j := srv.join(t, "videochat", "uploader", client.Options{})
	for _, tc := range []struct {
		file   string
		codecs []string
	}{
		{"testdata/mediarecorder-opus.webm", []string{"opus"}},
		{"testdata/mediarecorder-vp8-opus.webm", []string{"opus", "vp8"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			// Anonymous uploads are refused.
			if resp, _ := srv.fetch(t, "POST", "/api/rooms/videochat/clips", "", bytes.NewReader(body)); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("anonymous upload: %s", resp.Status)
			}
			clip := srv.upload(t, "/api/rooms/videochat/clips?description=from+the+browser", j.OwnerKey, "video/webm", body)
			if clip.Author != "uploader" || clip.Description != "from the browser" {
				t.Errorf("clip %+v", clip)
			}
			m, err := watcher.WaitFor(timeout(t, 5*time.Second), "clip-added")
			if err != nil {
				t.Fatal(err)
			}
			if decodeClip(t, m).ID != clip.ID {
				t.Error("the room was not told of the upload")
			}
			// The browser recorded 2 s; its first frame may start a little
			// later than 0.
			srv.judgeClip(t, "videochat", clip, tc.codecs, time.Duration(clip.Duration*float64(time.Second)))
			if clip.Duration < 1.8 || clip.Duration > 2.2 {
				t.Errorf("a 2 s recording measures %.3f s", clip.Duration)
			}
		})
	}
}
