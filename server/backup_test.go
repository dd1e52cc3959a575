package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/client"
	"parley/clips/probe"
	"parley/configs"
	"parley/internal/testmedia"
)

// copyTree copies the folder from into the new folder to as a file-level
// backup tool (rsync, tar, cp -r) does while the server runs: it walks
// the tree in name order, lists each folder when it reaches it, and copies
// each file as it is when it gets to it, waiting pace() after each file; a
// file or folder gone by then is skipped, as those tools skip what
// vanished. It returns how many files it copied and skipped.
func copyTree(from, to string, pace func() time.Duration) (copied, vanished int, err error) {
	err = filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			vanished++
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			vanished++
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, info.Mode().Perm())
		case !d.Type().IsRegular():
			return nil
		}
		in, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			vanished++
			return nil
		}
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		copied++
		time.Sleep(pace())
		return err
	})
	return copied, vanished, err
}

// backupCopy is one copy of a running server's data folder.
type backupCopy struct {
	dir              string
	start, end       time.Time
	copied, vanished int
	err              error
	cut              string // a chat line the test cut in the copy
}

// TestBackupWhileRunning: copies of the data folder taken file by file
// while a room records clips, gets uploads, deletions, chat lines and
// played marks each restore as after a crash: the server starts on the
// copy, every clip it lists is whole (its media is served, probes whole,
// decodes without error and has the listed size), every chat line is
// whole, and nothing that was stored before the copy began is missing
// (a clip, a chat line, a played mark), unless it was deleted meanwhile.
// Some copies have the chat history's last line cut, as a copy racing an
// append can; and a line said on the restored server survives its
// restart with the restored ones.
func TestBackupWhileRunning(t *testing.T) {
	const (
		copies    = 8
		maxRounds = 4 * copies
		bobKey    = "bob-owner-key-0123456789abcdef"
	)
	dir := t.TempDir()
	configure := func(data string) func(*configs.Server, []configs.Room) {
		return func(cfg *configs.Server, _ []configs.Room) {
			cfg.Storage.DataDir = data
			cfg.Chat.HistoryLength = 1000
		}
	}
	srv := startServer(t, configure(dir))
	rec, rj := srv.join(t, "chat", "rec", client.Options{})
	bob, _ := srv.join(t, "chat", "bob", client.Options{OwnerKey: bobKey})
	// Uploads take turns among members, each held to clips.UploadBurst.
	uploaders := []string{rj.OwnerKey}
	for _, name := range []string{"cat", "dan", "eve", "fay"} {
		_, j := srv.join(t, "chat", name, client.Options{})
		uploaders = append(uploaders, j.OwnerKey)
	}
	p := newMediaPublisher(t, false)
	p.publish(t, rec)
	upload, err := os.ReadFile("testdata/mediarecorder-opus.webm")
	if err != nil {
		t.Fatal(err)
	}

	// What the room holds, and since when it is surely on disk (zero:
	// not yet known); deleted is when a clip's deletion was asked for.
	stored := map[string]time.Time{} // clip ids
	deleted := map[string]time.Time{}
	lines := map[string]time.Time{}     // chat texts
	played := map[string]time.Time{}    // clip ids bob played
	var pending, pendingPlayed []string // stored once the round's barrier passes

	say := func(c *client.Client, text string) {
		t.Helper()
		if err := c.Send(map[string]string{"type": "chat", "text": text}); err != nil {
			t.Fatal(err)
		}
		ctx := timeout(t, 10*time.Second)
		for {
			m, err := c.WaitFor(ctx, "chat")
			if err != nil {
				t.Fatalf("waiting for the chat line %.20q: %v", text, err)
			}
			var v struct{ Text string }
			if m.Decode(&v) == nil && v.Text == text {
				return
			}
		}
	}

	// The copier makes one copy per signal, from a random moment of the
	// round, pacing its files so that a copy spans a good part of a
	// round, as a backup of a busy disk does.
	backups := t.TempDir()
	signal := make(chan struct{}, 1)
	stop := make(chan struct{})
	results := make(chan backupCopy, copies)
	seed := uint64(time.Now().UnixNano())
	t.Logf("pace seed %d", seed)
	go func() {
		defer close(results)
		rng := rand.New(rand.NewPCG(seed, 0))
		for i := range copies {
			select {
			case <-signal:
			case <-stop:
				return
			}
			// Begin anywhere in the round: in a recording, at its
			// commit, in an upload or a deletion.
			time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
			b := backupCopy{dir: filepath.Join(backups, fmt.Sprint(i)), start: time.Now()}
			b.copied, b.vanished, b.err = copyTree(dir, b.dir, func() time.Duration {
				return time.Duration(rng.IntN(120)) * time.Millisecond
			})
			b.end = time.Now()
			results <- b
		}
	}()
	defer func() {
		close(stop)
		for range results { // the copier has stopped once results is closed
		}
	}()

	var last, lastOwner string // the previous round's upload, deleted by its owner this round
	for round := 0; len(results) < copies; round++ {
		if round == maxRounds {
			t.Fatalf("only %d copies were made in %d rounds", len(results), round)
		}
		select {
		case signal <- struct{}{}:
		default: // the copier is still at its copy
		}
		c, reason := srv.recordClip(t, rec, p, 1, fmt.Sprintf("round %d", round))
		if reason != "stopped" || c.ID == "" {
			t.Fatalf("round %d: record-stopped %q %+v", round, reason, c)
		}
		owner := uploaders[round%len(uploaders)]
		up := srv.upload(t, "/api/rooms/chat/clips", owner, "audio/webm", upload)
		pending = append(pending, c.ID, up.ID)
		if last != "" {
			deleted[last] = time.Now()
			if resp, body := srv.fetch(t, "DELETE", "/api/rooms/chat/clips/"+last, lastOwner, nil); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("delete %s: %s %s", last, resp.Status, body)
			}
		}
		last, lastOwner = up.ID, owner
		if err := bob.Send(map[string]string{"type": "clip-played", "id": c.ID}); err != nil {
			t.Fatal(err)
		}
		pendingPlayed = append(pendingPlayed, c.ID)
		for i := range 3 {
			// Long lines, so that many of them cross a page of the file.
			text := fmt.Sprintf("round %d line %d %s", round, i, strings.Repeat(string(rune('a'+i)), 1900))
			lines[text] = time.Time{}
			say(rec, text)
		}
		// Barriers: each session handles its messages in order, and a
		// chat line is appended before the next message is read, so once
		// these come back everything asked before them is on disk.
		barrier := fmt.Sprintf("barrier %d", round)
		lines["rec "+barrier], lines["bob "+barrier] = time.Time{}, time.Time{}
		say(bob, "bob "+barrier)
		say(rec, "rec "+barrier)
		now := time.Now()
		for _, id := range pending {
			stored[id] = now
		}
		for _, id := range pendingPlayed {
			played[id] = now
		}
		for text, at := range lines {
			if at.IsZero() && text != "rec "+barrier {
				lines[text] = now
			}
		}
		pending, pendingPlayed = pending[:0], pendingPlayed[:0]
	}
	var taken []backupCopy
	for b := range results { // all made: the copier closes results
		taken = append(taken, b)
	}

	judged := map[[sha256.Size]byte]bool{} // media judged whole, by its hash
	for i, b := range taken {
		t.Run(fmt.Sprintf("copy%d", i), func(t *testing.T) {
			if b.err != nil {
				t.Fatalf("copy: %v", b.err)
			}
			t.Logf("copied %d files in %v, %d vanished while it copied", b.copied, b.end.Sub(b.start).Round(time.Millisecond), b.vanished)
			// A copy can take a line being appended in part: up to any
			// byte, its newline excepted. Some copies are made to.
			if i%3 != 0 {
				b.cut = cutLastLine(t, filepath.Join(b.dir, "rooms", "chat", "chat", "history.jsonl"), i%3 == 1)
			}
			logs := &logBuffer{}
			r := startServerLog(t, Options{}, slog.New(slog.NewTextHandler(logs, nil)), configure(b.dir))
			reader, history := checkRestore(t, r, b, stored, deleted, lines, played, bobKey, judged)
			// The restored history takes new lines, and a restart keeps
			// them with the old ones.
			const after = "said after the restore"
			if err := reader.Send(map[string]string{"type": "chat", "text": after}); err != nil {
				t.Fatal(err)
			}
			if _, err := reader.WaitFor(timeout(t, 10*time.Second), "chat"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), minWait)
			defer cancel()
			if err := r.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			again := startServer(t, configure(b.dir))
			_, joined := joinChat(t, again, "chat", "reader", "")
			var got []string
			for _, m := range joined.History {
				got = append(got, m.Text)
			}
			if want := append(history, after); !slices.Equal(got, want) {
				t.Errorf("after a restart of the restored server: %d lines, the last %.30q; want %d, the last %q",
					len(got), got[max(len(got)-1, 0):], len(want), after)
			}
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") ||
					strings.Contains(line, "recovered") || strings.Contains(line, "interrupted") || strings.Contains(line, "unfinished") {
					t.Logf("start: %s", line)
				}
				if strings.Contains(line, "level=ERROR") {
					t.Errorf("the start logs an error: %s", line)
				}
			}
		})
	}
}

// checkRestore checks a server started on a copy of the data folder b:
// see TestBackupWhileRunning.
// It returns a client in the room and the chat history it was given.
func checkRestore(t *testing.T, r *testServer, b backupCopy, stored, deleted, lines, played map[string]time.Time, bobKey string, judged map[[sha256.Size]byte]bool) (*client.Client, []string) {
	t.Helper()
	// A key lists as its owner while its holder is in the room.
	r.join(t, "chat", "bob", client.Options{OwnerKey: bobKey})
	resp, body := r.fetch(t, "GET", "/api/rooms/chat/clips", bobKey, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list clips: %s %s", resp.Status, body)
	}
	var list struct {
		Clips []struct {
			clipJSON
			Played *bool `json:"played"`
		} `json:"clips"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("list clips: %v: %s", err, body)
	}
	listed := map[string]bool{}
	for _, c := range list.Clips {
		listed[c.ID] = true
		if _, ok := stored[c.ID]; !ok {
			t.Errorf("clip %s is listed but the room never had it", c.ID)
			continue
		}
		path := r.download(t, "chat", c.clipJSON)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = probe.Probe(f, 0)
		fi, serr := f.Stat()
		f.Close()
		switch {
		case err != nil:
			t.Errorf("clip %s is served but its media does not probe whole: %v", c.ID, err)
		case serr != nil || fi.Size() != c.Bytes:
			t.Errorf("clip %s: %d bytes served, %d listed (%v)", c.ID, fi.Size(), c.Bytes, serr)
		default:
			judgeWhole(t, path, c.clipJSON, judged)
		}
		if at, ok := played[c.ID]; ok && !at.IsZero() && at.Before(b.start) && (c.Played == nil || !*c.Played) {
			t.Errorf("clip %s was played by bob before the copy began, the copy shows it unplayed", c.ID)
		}
	}
	for id, at := range stored {
		gone, wasDeleted := deleted[id]
		if !at.IsZero() && at.Before(b.start) && !listed[id] && (!wasDeleted || gone.After(b.end)) {
			t.Errorf("clip %s was stored before the copy began and not deleted, the copy has lost it", id)
		}
	}
	t.Logf("%d clips restored", len(list.Clips))

	reader, joined := joinChat(t, r, "chat", "reader", "")
	have := map[string]bool{}
	var history []string
	for _, m := range joined.History {
		history = append(history, m.Text)
		if _, ok := lines[m.Text]; !ok {
			t.Errorf("the history has a line nobody said (cut?): %.60q (%d bytes)", m.Text, len(m.Text))
		}
		have[m.Text] = true
	}
	for text, at := range lines {
		if !at.IsZero() && at.Before(b.start) && !have[text] && text != b.cut {
			t.Errorf("the chat line %.30q was stored before the copy began, the copy has lost it", text)
		}
	}
	t.Logf("%d chat lines restored", len(joined.History))
	return reader, history
}

// judgeWhole checks with ffprobe, ffmpeg and mkvmerge that the media at
// path, served for c, is a whole clip: it decodes without error, lasts
// what the listing says, and can be seeked (a duration and Cues). Media
// judged before (judged, by hash) is not judged again.
func judgeWhole(t *testing.T, path string, c clipJSON, judged map[[sha256.Size]byte]bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if judged[sum] {
		return
	}
	judged[sum] = true
	r := testmedia.Judge(t, path)
	if r.DecodeErrors != "" {
		t.Errorf("clip %s: ffmpeg reports errors: %s", c.ID, r.DecodeErrors)
	}
	if d := r.Duration - c.Duration; d > 0.1 || d < -0.1 {
		t.Errorf("clip %s: ffprobe duration %.3fs, listed %.3fs", c.ID, r.Duration, c.Duration)
	}
	if strings.HasPrefix(c.Mime, "audio/webm") || strings.HasPrefix(c.Mime, "video/webm") {
		if r.MkvDuration == 0 || !r.Cues {
			t.Errorf("clip %s: mkvmerge: duration %.3f, cues %v: it cannot be seeked", c.ID, r.MkvDuration, r.Cues)
		}
	}
}

// cutLastLine cuts the last line of the chat history file at path as a
// copy taken while it was appended can: with whole, just before its
// newline, else in its middle. It returns the text of the line cut in
// its middle ("" if none).
func cutLastLine(t *testing.T, path string, whole bool) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil || len(data) < 2 || data[len(data)-1] != '\n' {
		t.Logf("chat history not cut (%d bytes, %v)", len(data), err)
		return ""
	}
	start := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	var e struct{ Text string }
	if err := json.Unmarshal(data[start:], &e); err != nil {
		t.Fatalf("the last line of the history: %v", err)
	}
	cut, text := len(data)-1, ""
	if !whole {
		cut, text = start+(len(data)-1-start)/2, e.Text
	}
	if err := os.WriteFile(path, data[:cut], 0o640); err != nil {
		t.Fatal(err)
	}
	t.Logf("chat history cut at byte %d of %d, in the line %.20q", cut, len(data), e.Text)
	return text
}
