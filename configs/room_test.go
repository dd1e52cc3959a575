package configs

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadRoomFilesSince: a file whose metadata is as stamped is not read
// again; one replaced (another file), rewritten with another size or
// time, or changed too recently for a stamp is read.
func TestReadRoomFilesSince(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	write := func(name, body string, at time.Time) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if !at.IsZero() {
			if err := os.Chtimes(p, at, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(known map[string]fs.FileInfo) map[string]RoomFile {
		t.Helper()
		files, err := ReadRoomFilesSince(dir, known)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]RoomFile{}
		for _, f := range files {
			out[f.Name] = f
		}
		return out
	}
	stamps := func(files map[string]RoomFile) map[string]fs.FileInfo {
		out := map[string]fs.FileInfo{}
		for _, f := range files {
			if f.Stamp != nil {
				out[f.Path] = f.Stamp
			}
		}
		return out
	}
	write("a.toml", "mode = \"mediaChat\"\n", old)
	write("b.toml", "mode = \"mediaForum\"\n", time.Time{}) // just written

	first := read(nil)
	if a, b := first["a"], first["b"]; a.Unchanged || string(a.Data) != "mode = \"mediaChat\"\n" || a.Stamp == nil || b.Stamp != nil {
		t.Fatalf("first read: a %+v, b %+v", a, b)
	}
	again := read(stamps(first))
	if a, b := again["a"], again["b"]; !a.Unchanged || a.Data != nil || b.Unchanged || b.Data == nil {
		t.Fatalf("second read: a unchanged %v (%d bytes), b unchanged %v (%d bytes); want a skipped, b read", a.Unchanged, len(a.Data), b.Unchanged, len(b.Data))
	}

	// Another file of the same size and time in its place.
	tmp := filepath.Join(dir, "a.tmp")
	if err := os.WriteFile(tmp, []byte("mode = \"audioChat\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "a.toml")); err != nil {
		t.Fatal(err)
	}
	replaced := read(stamps(again))
	if a := replaced["a"]; a.Unchanged || string(a.Data) != "mode = \"audioChat\"\n" {
		t.Fatalf("a file replaced: unchanged %v, %q", a.Unchanged, a.Data)
	}
	// Rewritten in place with another time, or another size.
	write("a.toml", "mode = \"audioForum\"\n", old.Add(time.Minute))
	if a := read(stamps(replaced))["a"]; a.Unchanged || string(a.Data) != "mode = \"audioForum\"\n" {
		t.Fatalf("a file rewritten with another time: unchanged %v, %q", a.Unchanged, a.Data)
	}
	before := stamps(read(nil))
	write("a.toml", "mode = \"audioChat\"\ntitle = \"x\"\n", old.Add(time.Minute))
	if a := read(before)["a"]; a.Unchanged || !strings.Contains(string(a.Data), "title") {
		t.Fatalf("a file rewritten with another size: unchanged %v, %q", a.Unchanged, a.Data)
	}
	// Written just now: no stamp, read every time.
	write("a.toml", "mode = \"mediaChat\"\n", time.Time{})
	now := read(nil)
	if now["a"].Stamp != nil {
		t.Error("a file written just now has a stamp")
	}
	// A link is read through, and told as one.
	if err := os.Symlink("a.toml", filepath.Join(dir, "c.toml")); err != nil {
		t.Fatal(err)
	}
	linked := read(nil)
	if a, c := linked["a"], linked["c"]; a.Link || !c.Link || string(c.Data) != "mode = \"mediaChat\"\n" {
		t.Errorf("a link: a link %v, c link %v, %q", a.Link, c.Link, c.Data)
	}
}
