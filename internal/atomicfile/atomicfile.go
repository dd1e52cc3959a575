// Package atomicfile writes files crash-safely inside an os.Root: a
// temporary file, fsync, rename over the name, fsync of the folder. A
// reader sees either the old file or the whole new one.
package atomicfile

import (
	"os"
)

// Write writes data to name (in folder dir of root) crash-safely, with
// mode perm.
func Write(root *os.Root, dir, name string, data []byte, perm os.FileMode) error {
	tmp := name + ".tmp"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return err
	}
	return SyncDir(root, dir)
}

// SyncDir makes the renames and removals in a folder of root durable.
func SyncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
