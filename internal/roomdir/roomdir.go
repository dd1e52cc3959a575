// Package roomdir owns the rooms' folders, <data>/rooms/<room>/: it opens
// <data>/rooms once, as an os.Root, checks every room name against
// configs.ValidRoomName before it becomes a folder name, makes the
// folders that are missing (mode 0750: the server's user and group only),
// and hands each user of a room's folder the part it keeps, as an
// os.Root of its own that no name can reach outside of.
//
// The layout under <data>/rooms/<room>/ and who keeps what:
//
//	clips/        the clip store (package clips): media and metadata
//	played/       the clip store: who has played which clip
//	quarantine/   the clip store: files it could not make sense of
//	chat/         the chat log (package chatlog): history and offline messages
//
// The clip store is handed the room's folder itself (Room), because it
// keeps three sub-folders and moves files from the others into
// quarantine/, which a rename across two roots could not do; it touches
// nothing else.
// Any other user is handed its one sub-folder (Sub).
//
// What is on disk is not trusted: a room folder or sub-folder that is a
// symbolic link, or not a folder at all, is refused rather than followed,
// so that a link cannot make two rooms share a folder or point a room
// outside the data folder. An existing folder is used as it is: its mode
// is the operator's, and nothing in it is changed here.
//
// It is internal to parley: the server opens it and gives it to the
// stores (clips.Open, chatlog.Open); it knows nothing of what they keep
// inside their folders.
package roomdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"parley/configs"
)

// DirMode is the mode of the folders made here, before the umask: the
// server's user and group only.
const DirMode = 0o750

// Dir is the rooms' folder, <data>/rooms.
type Dir struct {
	root *os.Root
}

// Open opens <dataDir>/rooms, making it (and dataDir) if needed. The
// path to it is the operator's and may go through links.
func Open(dataDir string) (*Dir, error) {
	if dataDir == "" {
		return nil, errors.New("open rooms folder: no data folder")
	}
	dir := filepath.Join(dataDir, "rooms")
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return nil, fmt.Errorf("open rooms folder: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open rooms folder: %w", err)
	}
	return &Dir{root: root}, nil
}

// Close closes the rooms' folder. The folders it handed out stay open
// until their users close them.
func (d *Dir) Close() error { return d.root.Close() }

// Room opens the folder of the room name, making it if needed. The caller
// closes it.
func (d *Dir) Room(name string) (*os.Root, error) {
	if !configs.ValidRoomName(name) {
		return nil, fmt.Errorf("bad room name %q", name)
	}
	return d.open(name)
}

// Sub opens the sub-folder sub (one plain name, such as "chat") of the
// room's folder, making both if needed. The caller closes it.
func (d *Dir) Sub(room, sub string) (*os.Root, error) {
	if !configs.ValidRoomName(room) {
		return nil, fmt.Errorf("bad room name %q", room)
	}
	if sub == "" || sub == "." || sub == ".." || strings.ContainsAny(sub, `/\`) {
		return nil, fmt.Errorf("room %s: bad folder name %q", room, sub)
	}
	if err := d.mkdir(room); err != nil {
		return nil, err
	}
	return d.open(room + "/" + sub)
}

// open makes the folder name (a room, or a room's sub-folder whose room
// folder was checked) and opens it, refusing a link or a file.
func (d *Dir) open(name string) (*os.Root, error) {
	if err := d.mkdir(name); err != nil {
		return nil, err
	}
	fi, err := d.root.Lstat(name)
	if err != nil {
		return nil, fmt.Errorf("room folder %s: %w", name, err)
	}
	root, err := d.root.OpenRoot(name)
	if err != nil {
		return nil, fmt.Errorf("room folder %s: %w", name, err)
	}
	// The folder opened is the one checked, not one swapped in between.
	if opened, err := root.Stat("."); err != nil || !os.SameFile(fi, opened) {
		root.Close()
		return nil, fmt.Errorf("room folder %s: changed while it was opened", name)
	}
	return root, nil
}

// mkdir makes the folder name if it is missing, and checks that it is a
// folder and not a link.
func (d *Dir) mkdir(name string) error {
	err := d.root.Mkdir(name, DirMode)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("room folder %s: %w", name, err)
	}
	fi, err := d.root.Lstat(name)
	if err != nil {
		return fmt.Errorf("room folder %s: %w", name, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("room folder %s: is a symbolic link, which is not followed", name)
	case !fi.IsDir():
		return fmt.Errorf("room folder %s: not a folder", name)
	}
	return nil
}
