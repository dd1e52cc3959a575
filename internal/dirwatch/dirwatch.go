// Package dirwatch tells when the entries of a folder change, so that a
// server that keeps its configuration in a folder need not look at it
// on a timer: a look every second at a folder of many files is a stat of
// each, and a wake-up of an otherwise idle server.
//
// It uses inotify on Linux; elsewhere New returns errors.ErrUnsupported
// and the caller looks on a timer. A watch sees the changes made through
// this machine's kernel to the folder's entries and to the files in it:
// not those made on another client of a network file system, nor edits
// of a file elsewhere that an entry links to. Callers that must see
// those keep looking now and then.
package dirwatch

import "sync/atomic"

// Watcher watches one folder until Close.
type Watcher struct {
	// C gets a value after changes in the folder; changes that come
	// before it is read are told once.
	C <-chan struct{}

	c    chan struct{}
	lost atomic.Bool
	done chan struct{}
	impl
}

// Lost tells whether the folder itself was removed, moved or unmounted,
// or a symbolic link on its path was changed (on Linux): the watch ended,
// or watches what the path named before, and a new one is to be made (of
// whatever now has the folder's path).
func (w *Watcher) Lost() bool { return w.lost.Load() }

func (w *Watcher) signal() {
	select {
	case w.c <- struct{}{}:
	default:
	}
}
