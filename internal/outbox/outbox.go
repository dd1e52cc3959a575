// Package outbox keeps what a server still has to send (a mail, a webhook
// event) as one JSON file per item in a folder of its own, so that a
// restart loses none: an item is written there before it is queued,
// rewritten when it waits for a retry, and removed once sent or given up.
//
// File names sort in the order the items were made, across restarts too
// (Load moves the counter past the names it found), so that a sender that
// keeps an order can resume it. A file that cannot be read or understood
// is renamed to <name>.bad and logged; the others are not affected. The
// folder is opened as an os.Root: a name cannot escape it.
package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"parley/internal/atomicfile"
)

// MaxFile bounds an outbox file: an item is a few kilobytes.
const MaxFile = 1 << 20

// Outbox is one folder of waiting items. Its methods are safe for
// concurrent use.
type Outbox struct {
	root *os.Root
	dir  string
	what string // names the outbox in errors and logs, e.g. "mail outbox"

	mu   sync.Mutex
	last int64 // the number of the newest name given or found
}

// Open opens (making it if needed) the folder dir; what names it in
// errors and logs.
func Open(dir, what string) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &Outbox{root: root, dir: dir, what: what}, nil
}

// Dir is the folder's path.
func (o *Outbox) Dir() string { return o.dir }

// NewName names a new item: later than every name given or loaded before,
// so that names sort in the order they were made. The number is the time
// in nanoseconds, moved on by one when the clock did not move.
func (o *Outbox) NewName() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := time.Now().UnixNano()
	if n <= o.last {
		n = o.last + 1
	}
	o.last = n
	return fmt.Sprintf("%020d.json", n)
}

// Save writes v, as JSON, to the file name crash-safely.
func (o *Outbox) Save(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", o.what, name, err)
	}
	if err := atomicfile.Write(o.root, ".", name, b, 0o600); err != nil {
		return fmt.Errorf("%s: %s: %w", o.what, name, err)
	}
	return nil
}

// Remove removes the file name; one already gone is not an error. A
// failure is logged.
func (o *Outbox) Remove(name string, log *slog.Logger) {
	if err := o.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn(o.what+": remove", "file", name, "err", err)
	}
}

// Close closes the folder.
func (o *Outbox) Close() error { return o.root.Close() }

// Load returns the stored items, oldest first, at most limit of them,
// with their file names. An item is decoded into a T and checked by
// check (nil: none); one that fails is set aside as <name>.bad.
func Load[T any](o *Outbox, limit int, check func(*T) error, log *slog.Logger) ([]T, []string) {
	entries, err := fs.ReadDir(o.root.FS(), ".")
	if err != nil {
		log.Error(o.what+": read", "dir", o.dir, "err", err)
		return nil, nil
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	o.mu.Lock()
	for _, name := range names {
		if n, err := strconv.ParseInt(strings.TrimSuffix(name, ".json"), 10, 64); err == nil && n > o.last {
			o.last = n
		}
	}
	o.mu.Unlock()
	var items []T
	var files []string
	for _, name := range names {
		if len(items) == limit {
			log.Warn(o.what+": more items than the queue holds; the rest wait for the next start", "kept", len(names)-limit)
			break
		}
		var v T
		b, err := o.readFile(name)
		if err == nil {
			err = json.Unmarshal(b, &v)
		}
		if err == nil && check != nil {
			err = check(&v)
		}
		if err != nil {
			log.Error(o.what+": unreadable item set aside", "file", name, "err", err)
			if rerr := o.root.Rename(name, name+".bad"); rerr != nil {
				log.Error(o.what+": set aside", "file", name, "err", rerr)
			}
			continue
		}
		items = append(items, v)
		files = append(files, name)
	}
	return items, files
}

func (o *Outbox) readFile(name string) ([]byte, error) {
	f, err := o.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxFile {
		return nil, fmt.Errorf("%d bytes, more than an item", fi.Size())
	}
	b := make([]byte, fi.Size())
	_, err = f.ReadAt(b, 0)
	return b, err
}
