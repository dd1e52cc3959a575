//go:build !linux

package dirwatch

import (
	"errors"
	"fmt"
)

type impl struct{}

// New returns errors.ErrUnsupported: folders are watched on Linux only.
func New(dir string) (*Watcher, error) {
	return nil, fmt.Errorf("watching %s: %w", dir, errors.ErrUnsupported)
}

// Close does nothing.
func (w *Watcher) Close() error { return nil }
