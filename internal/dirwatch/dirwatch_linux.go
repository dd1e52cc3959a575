//go:build linux

package dirwatch

import (
	"errors"
	"fmt"
	"os"
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

type impl struct{ f *os.File }

// New starts watching dir.
func New(dir string) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, events|unix.IN_ONLYDIR); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch of %s: %w", dir, err)
	}
	// Non-blocking, so the runtime's poller waits for it and Close ends
	// a read that waits.
	f := os.NewFile(uintptr(fd), "inotify")
	c := make(chan struct{}, 1)
	w := &Watcher{C: c, c: c, done: make(chan struct{}), impl: impl{f: f}}
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
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			if ev.Mask&ended != 0 {
				w.lost.Store(true)
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
		// An overflow of the kernel's queue (IN_Q_OVERFLOW) is a change
		// too: the caller looks at everything.
		w.signal()
	}
}

// Close stops watching; C gets nothing more.
func (w *Watcher) Close() error {
	err := w.f.Close()
	<-w.done
	return err
}
