package roomdir

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func open(t *testing.T, data string) *Dir {
	t.Helper()
	d, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestMakesFolders: a new data folder gets rooms/<room>/ and the
// sub-folder asked for, each with DirMode, and the roots handed out
// reach only their own folder.
func TestMakesFolders(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	data := filepath.Join(t.TempDir(), "data")
	d := open(t, data)
	room, err := d.Room("a")
	if err != nil {
		t.Fatal(err)
	}
	defer room.Close()
	chat, err := d.Sub("b", "chat")
	if err != nil {
		t.Fatal(err)
	}
	defer chat.Close()
	for _, p := range []string{"rooms", "rooms/a", "rooms/b", "rooms/b/chat"} {
		fi, err := os.Lstat(filepath.Join(data, p))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != DirMode {
			t.Errorf("%s: mode %s, want a folder with %o", p, fi.Mode(), DirMode)
		}
	}
	if err := chat.WriteFile("x", []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "rooms", "b", "chat", "x")); err != nil {
		t.Errorf("the chat root is not rooms/b/chat: %v", err)
	}
	if _, err := chat.Open("../../a"); err == nil {
		t.Error("a sub-folder's root reaches its room's siblings")
	}
	if _, err := room.Open("../b"); err == nil {
		t.Error("a room's root reaches another room")
	}
}

// TestExistingFolder: what is already there is used as it is: its files
// stay, and its mode is not changed.
func TestExistingFolder(t *testing.T) {
	data := t.TempDir()
	chatDir := filepath.Join(data, "rooms", "a", "chat")
	if err := os.MkdirAll(chatDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(chatDir, "history.jsonl"), []byte("kept\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	d := open(t, data)
	chat, err := d.Sub("a", "chat")
	if err != nil {
		t.Fatal(err)
	}
	defer chat.Close()
	if b, err := chat.ReadFile("history.jsonl"); err != nil || string(b) != "kept\n" {
		t.Errorf("history: %q, %v", b, err)
	}
	room, err := d.Room("a")
	if err != nil {
		t.Fatal(err)
	}
	defer room.Close()
	if fi, _ := os.Stat(chatDir); fi.Mode().Perm() != 0o700 {
		t.Errorf("mode changed to %s", fi.Mode())
	}
}

// TestBadNames: a name that is not a room name, or a sub-folder that is
// not one plain name, makes nothing.
func TestBadNames(t *testing.T) {
	data := t.TempDir()
	d := open(t, data)
	for _, name := range []string{"", ".", "..", "../x", "a/b", `a\b`, "-a", ".hidden", strings.Repeat("a", 65), "a b"} {
		if r, err := d.Room(name); err == nil {
			r.Close()
			t.Errorf("Room(%q) accepted", name)
		}
		if r, err := d.Sub(name, "chat"); err == nil {
			r.Close()
			t.Errorf("Sub(%q, chat) accepted", name)
		}
	}
	for _, sub := range []string{"", ".", "..", "../b", "x/y", `x\y`} {
		if r, err := d.Sub("a", sub); err == nil {
			r.Close()
			t.Errorf("Sub(a, %q) accepted", sub)
		}
	}
	des, _ := os.ReadDir(filepath.Join(data, "rooms"))
	for _, de := range des {
		if de.Name() != "a" {
			t.Errorf("made %s", de.Name())
		}
	}
	if _, err := Open(""); err == nil {
		t.Error("Open without a data folder")
	}
}

// TestLinksAndFilesRefused: a room folder or sub-folder that is a link,
// inside the rooms' folder or out of it, or a file, is refused, and
// nothing is written through it.
func TestLinksAndFilesRefused(t *testing.T) {
	data := t.TempDir()
	outside := t.TempDir()
	rooms := filepath.Join(data, "rooms")
	if err := os.MkdirAll(filepath.Join(rooms, "real", "chat"), 0o750); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"out":      outside, // out of the data folder
		"twin":     "real",  // another room's folder
		"dangling": filepath.Join(outside, "nothing"),
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(rooms, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rooms, "file"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	// A room whose chat folder links out, and one whose chat is a file.
	if err := os.MkdirAll(filepath.Join(rooms, "subout"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(rooms, "subout", "chat")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rooms, "subfile"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rooms, "subfile", "chat"), nil, 0o640); err != nil {
		t.Fatal(err)
	}

	d := open(t, data)
	for _, name := range []string{"out", "twin", "dangling", "file"} {
		if r, err := d.Room(name); err == nil {
			r.Close()
			t.Errorf("Room(%s) accepted", name)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("Room(%s): the error does not name it: %v", name, err)
		}
		if r, err := d.Sub(name, "chat"); err == nil {
			r.Close()
			t.Errorf("Sub(%s, chat) accepted", name)
		}
	}
	for _, name := range []string{"subout", "subfile"} {
		if r, err := d.Sub(name, "chat"); err == nil {
			r.Close()
			t.Errorf("Sub(%s, chat) accepted", name)
		}
	}
	if des, _ := os.ReadDir(outside); len(des) != 0 {
		t.Errorf("wrote outside the data folder: %v", des)
	}
	if des, _ := os.ReadDir(filepath.Join(rooms, "real")); len(des) != 1 {
		t.Errorf("wrote into another room's folder: %v", des)
	}
	// The real room is still fine.
	r, err := d.Sub("real", "chat")
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// TestUnreadableFolder: a room folder the server may not enter is an
// error that names it (root is allowed everything, so the test needs
// another user).
func TestUnreadableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may enter any folder")
	}
	data := t.TempDir()
	locked := filepath.Join(data, "rooms", "locked")
	if err := os.MkdirAll(locked, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(locked, 0o750)
	d := open(t, data)
	if r, err := d.Sub("locked", "chat"); err == nil {
		r.Close()
		t.Error("Sub of a folder without permissions succeeded")
	} else if !strings.Contains(err.Error(), "locked") {
		t.Errorf("the error does not name the room: %v", err)
	}
}

// TestUnwritableRooms: a rooms' folder the server may not write to is an
// error when a room's folder is missing, not a silent success.
func TestUnwritableRooms(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write any folder")
	}
	data := t.TempDir()
	rooms := filepath.Join(data, "rooms")
	if err := os.MkdirAll(rooms, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(rooms, 0o550); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(rooms, 0o750)
	d := open(t, data)
	if r, err := d.Room("a"); err == nil {
		r.Close()
		t.Error("Room made a folder in a read-only rooms folder")
	}
}
