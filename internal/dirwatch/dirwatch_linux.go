//go:build linux

package dirwatch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The events that change what a look at the folder would find. A file
// written in place is IN_MODIFY and IN_CLOSE_WRITE; an editor's save,
// IN_CREATE or IN_MOVED_TO; a touch, IN_ATTRIB.
const events = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MODIFY | unix.IN_CLOSE_WRITE |
	unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// ended are the events after which the watch is gone.
const ended = unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_UNMOUNT | unix.IN_IGNORED

// linkEvents are the events in a folder that holds a symbolic link on
// the way to the watched folder that change where the link points: the
// link removed, made, or renamed over (as a deployment switches a
// "current" link).
const linkEvents = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

type impl struct {
	f *os.File
	// links are the watches of the folders that hold a symbolic link
	// on the path to the watched folder, with the links' names: the
	// watch follows the links as they were at New, so one pointed
	// elsewhere ends it.
	links map[int32][][]byte
}

// New starts watching dir.
func New(dir string) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	main, err := unix.InotifyAddWatch(fd, dir, events|unix.IN_ONLYDIR)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch of %s: %w", dir, err)
	}
	links := map[int32][][]byte{}
	abs, err := filepath.Abs(dir)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	for p := abs; ; p = filepath.Dir(p) {
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			continue
		}
		// Added to what is watched of that folder already (one watch per
		// folder: a link may lead back to the watched folder itself).
		wd, err := unix.InotifyAddWatch(fd, parent, linkEvents|unix.IN_ONLYDIR|unix.IN_MASK_ADD)
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("inotify watch of %s, which holds the link %s: %w", parent, p, err)
		}
		if wd != main {
			links[int32(wd)] = append(links[int32(wd)], []byte(filepath.Base(p)))
		}
	}
	// Non-blocking, so the runtime's poller waits for it and Close ends
	// a read that waits.
	f := os.NewFile(uintptr(fd), "inotify")
	c := make(chan struct{}, 1)
	w := &Watcher{C: c, c: c, done: make(chan struct{}), impl: impl{f: f, links: links}}
	go w.read()
	return w, nil
}

// read tells of the events until the watcher is closed.
func (w *Watcher) read() {
	defer close(w.done)
	// Room for many events at once (each at most a header and a name).
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.lost.Store(true)
				w.signal()
			}
			return
		}
		changed := false
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : min(n, off+unix.SizeofInotifyEvent+int(ev.Len))]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if links, ok := w.links[ev.Wd]; ok {
				// A folder holding links: only the links' own changes,
				// or the folder's end, count.
				name = bytes.TrimRight(name, "\x00")
				if ev.Mask&ended == 0 && !slices.ContainsFunc(links, func(l []byte) bool { return bytes.Equal(l, name) }) {
					continue
				}
				w.lost.Store(true)
			} else if ev.Mask&ended != 0 {
				w.lost.Store(true)
			}
			changed = true
		}
		// An overflow of the kernel's queue (IN_Q_OVERFLOW, on no watch)
		// is a change too: the caller looks at everything.
		if changed || n < unix.SizeofInotifyEvent {
			w.signal()
		}
	}
}

// Close stops watching; C gets nothing more.
func (w *Watcher) Close() error {
	err := w.f.Close()
	<-w.done
	return err
}
