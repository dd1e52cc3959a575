package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"parley/internal/atomicfile"
)

// outbox keeps every mail not yet sent or given up as a file of its own
// in <data_dir>/mail/outbox, so that a restart loses none: a mail is
// written there before it is queued, rewritten when it waits for a
// retry, and removed once sent or given up.
type outbox struct {
	root *os.Root
	dir  string
}

// storedMail is an outbox file.
type storedMail struct {
	Room     string `json:"room"`
	Clip     string `json:"clip"`
	ToName   string `json:"to_name"`
	ToAddr   string `json:"to_addr"`
	Attempts int    `json:"attempts"`
	Message  []byte `json:"message"` // the whole mail, headers and body
}

// maxStored bounds an outbox file: a mail is a few kilobytes.
const maxStored = 1 << 20

func openOutbox(dataDir string) (*outbox, error) {
	dir := filepath.Join(dataDir, "mail", "outbox")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail outbox: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("mail outbox: %w", err)
	}
	return &outbox{root: root, dir: dir}, nil
}

// newName names a new outbox file: time-sortable, unique.
func newName() string {
	return fmt.Sprintf("%020d-%s.json", time.Now().UnixNano(), randomHex(4))
}

func (o *outbox) save(j *job) error {
	b, err := json.Marshal(storedMail{Room: j.room, Clip: j.clipID, ToName: j.to.name, ToAddr: j.to.addr.Address,
		Attempts: j.attempts, Message: j.msg})
	if err != nil {
		return err
	}
	return atomicfile.Write(o.root, ".", j.file, b, 0o600)
}

func (o *outbox) remove(j *job, log *slog.Logger) {
	if err := o.root.Remove(j.file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("mail outbox: remove", "file", j.file, "err", err)
	}
}

// load returns the stored mails, oldest first, at most limit of them.
// A file that cannot be read or understood is renamed to <name>.bad and
// logged; the others are not affected.
func (o *outbox) load(limit int, log *slog.Logger) ([]storedMail, []string) {
	entries, err := fs.ReadDir(o.root.FS(), ".")
	if err != nil {
		log.Error("mail outbox: read", "dir", o.dir, "err", err)
		return nil, nil
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	var mails []storedMail
	var files []string
	for _, name := range names {
		if len(mails) == limit {
			log.Warn("mail outbox: more mails than the queue holds; the rest wait for the next start", "kept", len(names)-limit)
			break
		}
		var m storedMail
		b, err := o.readFile(name)
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err == nil && (m.Room == "" || m.ToAddr == "" || len(m.Message) == 0 || m.Attempts < 0) {
			err = errors.New("missing room, address or message")
		}
		if err != nil {
			log.Error("mail outbox: unreadable mail set aside", "file", name, "err", err)
			if rerr := o.root.Rename(name, name+".bad"); rerr != nil {
				log.Error("mail outbox: set aside", "file", name, "err", rerr)
			}
			continue
		}
		mails = append(mails, m)
		files = append(files, name)
	}
	return mails, files
}

func (o *outbox) readFile(name string) ([]byte, error) {
	f, err := o.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxStored {
		return nil, fmt.Errorf("%d bytes, more than a mail", fi.Size())
	}
	b := make([]byte, fi.Size())
	_, err = f.ReadAt(b, 0)
	return b, err
}
