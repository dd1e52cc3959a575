package dirwatch

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func newWatcher(t *testing.T, dir string) *Watcher {
	t.Helper()
	w, err := New(dir)
	if errors.Is(err, errors.ErrUnsupported) && runtime.GOOS != "linux" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestWatcher: each kind of change to a folder's entries is told on C;
// the folder's removal ends the watch (Lost); Close ends it too.
func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	w := newWatcher(t, dir)
	defer w.Close()
	file := filepath.Join(dir, "a.toml")
	old := time.Now().Add(-time.Hour)
	for _, c := range []struct {
		what string
		do   func() error
	}{
		{"a file made", func() error { return os.WriteFile(file, []byte("one"), 0o644) }},
		{"a file written in place, same size", func() error {
			f, err := os.OpenFile(file, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if _, err := f.WriteAt([]byte("two"), 0); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}},
		{"its time set back", func() error { return os.Chtimes(file, old, old) }},
		{"a file renamed over it", func() error {
			tmp := filepath.Join(dir, ".a.toml.tmp")
			if err := os.WriteFile(tmp, []byte("three"), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, file)
		}},
		{"a file removed", func() error { return os.Remove(file) }},
		{"a link made", func() error { return os.Symlink("elsewhere.toml", file) }},
	} {
		select { // what came before is told already
		case <-w.C:
		default:
		}
		if err := c.do(); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		select {
		case <-w.C:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: not told in 10 s", c.what)
		}
		if w.Lost() {
			t.Fatalf("%s: the watch ended", c.what)
		}
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for !w.Lost() {
		select {
		case <-w.C:
		case <-deadline:
			t.Fatal("the folder's removal did not end the watch")
		}
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestWatcherRefused: a folder that is not there, or a file, cannot be
// watched.
func TestWatcherRefused(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("folders are watched on Linux only")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "missing"), file} {
		if w, err := New(p); err == nil {
			w.Close()
			t.Errorf("%s watched", p)
		}
	}
}

// TestWatcherClose: Close ends the reading goroutine with nothing told.
func TestWatcherClose(t *testing.T) {
	w := newWatcher(t, t.TempDir())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C:
		t.Error("told of a change after Close")
	default:
	}
}

// TestWatcherLinkRepointed: a folder watched through a symbolic link, as
// a deployment's "current" link, last on the path or before it: a change
// in the folder is told, other entries next to the link are not the
// watch's business, and the link pointed elsewhere ends the watch (Lost)
// and is told.
func TestWatcherLinkRepointed(t *testing.T) {
	for _, c := range []struct{ name, sub string }{{"the folder a link", ""}, {"a link on the way", "rooms"}} {
		t.Run(c.name, func(t *testing.T) {
			top := t.TempDir()
			for _, rel := range []string{"one", "two"} {
				if err := os.MkdirAll(filepath.Join(top, rel, c.sub), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			link := filepath.Join(top, "current")
			if err := os.Symlink("one", link); err != nil {
				t.Fatal(err)
			}
			w := newWatcher(t, filepath.Join(link, c.sub))
			defer w.Close()
			told := func(what string) {
				t.Helper()
				select {
				case <-w.C:
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: not told in 10 s", what)
				}
			}
			if err := os.WriteFile(filepath.Join(top, "other"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(top, "one", c.sub, "a.toml"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			told("a file made in the folder")
			if w.Lost() {
				t.Fatal("the watch ended for a file next to the link")
			}
			tmp := filepath.Join(top, ".current.tmp")
			if err := os.Symlink("two", tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, link); err != nil {
				t.Fatal(err)
			}
			// The file's making may be told in more than one read, so a
			// signal left from it can come first: wait for Lost, each
			// signal a look, as the caller does.
			deadline := time.After(10 * time.Second)
			for !w.Lost() {
				select {
				case <-w.C:
				case <-deadline:
					t.Fatal("the watch goes on after the link was pointed elsewhere")
				}
			}
		})
	}
}

// TestWatcherLinkToItself: a folder named through a link that leads back
// to the folder itself is still watched for its files (a second watch of
// the same folder adds to the first, not replaces it).
func TestWatcherLinkToItself(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(".", filepath.Join(dir, "self")); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "a.toml")
	if err := os.WriteFile(f, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Made before the watch, so that nothing told of its making can be
	// taken for the write below.
	w := newWatcher(t, filepath.Join(dir, "self"))
	defer w.Close()
	g, err := os.OpenFile(f, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt([]byte("two"), 0); err != nil {
		t.Fatal(err)
	}
	g.Close()
	select {
	case <-w.C:
	case <-time.After(10 * time.Second):
		t.Fatal("a file written in place: not told in 10 s")
	}
}
