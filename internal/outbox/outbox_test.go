package outbox

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

type item struct {
	N int `json:"n"`
}

// Items come back in the order they were made, a file that is not an
// item is set aside, and names made after a restart sort after the old
// ones even when the clock went back.
func TestOrderAcrossRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "box")
	log := slog.New(slog.DiscardHandler)
	o, err := Open(dir, "test outbox")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := o.Save(o.NewName(), item{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	// A name from the future: a clock that has since gone back.
	future := "09000000000000000000.json"
	if err := o.Save(future, item{N: 50}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000001.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	o.Close()

	o, err = Open(dir, "test outbox")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	items, names := Load[item](o, 100, nil, log)
	if len(items) != 51 || len(names) != 51 {
		t.Fatalf("loaded %d items, want 51", len(items))
	}
	for i, it := range items {
		if it.N != i {
			t.Fatalf("item %d is %d: out of order (%v)", i, it.N, names)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000001.json.bad")); err != nil {
		t.Errorf("the unreadable file was not set aside: %v", err)
	}
	if n := o.NewName(); n <= future {
		t.Errorf("a name made after the restart, %s, sorts before %s", n, future)
	}
	o.Remove(future, log)
	o.Remove(future, log) // already gone: nothing to say
	if items, _ := Load[item](o, 10, nil, log); len(items) != 10 {
		t.Errorf("limit 10: loaded %d", len(items))
	}
}
