package clips

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"parley/configs"
	"parley/internal/roomdir"
)

// copyClip copies a clip's media and metadata from one data folder's room
// to another's, as a node copies them from the bucket.
func copyClip(t *testing.T, from, to, room string, c Clip) {
	t.Helper()
	for _, name := range []string{c.ID + c.ext(), c.ID + ".json"} {
		data, err := os.ReadFile(filepath.Join(clipDir(from, room), name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(clipDir(to, room), name), data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

func TestImport(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	rooms := []configs.Room{testRoom(t, "r", nil)}
	sa := openStore(t, a, rooms)
	sb := openStore(t, b, rooms)
	owner1 := OwnerOf("alice-key-0123456789abcdef")
	var evs events
	sb.SetNotify(evs.add)

	c := record(t, sa, "r", owner1, 1)
	copyClip(t, a, b, "r", c)
	got, err := sb.Import("r", c.ID)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if got.ID != c.ID || got.Bytes != c.Bytes || got.Owner != c.Owner || got.State != Published {
		t.Errorf("imported %+v, want %+v", got, c)
	}
	if list, _ := sb.List("r", ""); len(list) != 1 || list[0].ID != c.ID {
		t.Errorf("the catalog after Import: %v", list)
	}
	if s := evs.summary(); len(s) != 1 || s[0] != EventAdded+":"+c.ID+":" {
		t.Errorf("events: %v, want one %s", s, EventAdded)
	}
	// Again: the clip it has, no new event.
	if _, err := sb.Import("r", c.ID); err != nil || len(evs.list()) != 1 {
		t.Errorf("a second Import: %v, %d events", err, len(evs.list()))
	}

	// Metadata without its media is refused and set aside; so is an id
	// that is not one.
	d := record(t, sa, "r", owner1, 1)
	data, err := os.ReadFile(filepath.Join(clipDir(a, "r"), d.ID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clipDir(b, "r"), d.ID+".json"), data, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Import("r", d.ID); err == nil {
		t.Error("Import of metadata without media succeeded")
	}
	if _, err := os.Stat(filepath.Join(b, "rooms", "r", "quarantine", d.ID+".json")); err != nil {
		t.Errorf("the metadata without media is not in quarantine: %v", err)
	}
	if _, err := sb.Import("r", "../x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Import of a bad id: %v, want ErrNotFound", err)
	}
	if _, err := sb.Import("nope", c.ID); !errors.Is(err, ErrUnknownRoom) {
		t.Errorf("Import into an unknown room: %v", err)
	}
}

func TestRefresh(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	rooms := []configs.Room{testRoom(t, "r", nil)}
	sa := openStore(t, a, rooms)
	sb := openStore(t, b, rooms)
	owner1 := OwnerOf("alice-key-0123456789abcdef")
	old := record(t, sb, "r", owner1, 1)
	c := record(t, sa, "r", owner1, 1)

	folders, err := roomdir.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer folders.Close()
	// The folder is made a copy of the other: the old clip goes, the
	// other's comes.
	err = sb.Refresh(folders, "r", func(root *os.Root) error {
		if _, err := sb.List("r", ""); !errors.Is(err, ErrUnknownRoom) {
			t.Errorf("List during Refresh: %v, want ErrUnknownRoom", err)
		}
		for _, name := range []string{old.ID + old.ext(), old.ID + ".json"} {
			if err := root.Remove("clips/" + name); err != nil {
				t.Error(err)
			}
		}
		copyClip(t, a, b, "r", c)
		return nil
	})
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	list, err := sb.List("r", "")
	if err != nil || len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("after Refresh: %v, %v; want only %s", list, err, c.ID)
	}
	// A failure between: the room is open again all the same.
	boom := errors.New("boom")
	if err := sb.Refresh(folders, "r", func(*os.Root) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Refresh: %v, want boom", err)
	}
	if _, err := sb.List("r", ""); err != nil {
		t.Errorf("List after a failed Refresh: %v", err)
	}
	if err := sb.Refresh(folders, "nope", func(*os.Root) error { return nil }); !errors.Is(err, ErrUnknownRoom) {
		t.Errorf("Refresh of an unknown room: %v", err)
	}
}
