package clips

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"parley/internal/atomicfile"
)

// File modes: the server's user and group only.
const (
	dirMode  = 0o750
	fileMode = 0o640
)

// writeFileAtomic writes data to name in root crash-safely (see
// package atomicfile).
func writeFileAtomic(root *os.Root, dir, name string, data []byte) error {
	return atomicfile.Write(root, dir, name, data, fileMode)
}

// writeJSON writes v as name crash-safely.
func writeJSON(root *os.Root, dir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(root, dir, name, append(data, '\n'))
}

// removeIfExists removes name, and is content if it is already gone.
func removeIfExists(root *os.Root, name string) error {
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// quarantine moves clips/<base> into quarantine/, under a new name if one
// of that name is already there.
func quarantine(root *os.Root, base string) error {
	return setAside(root, "clips/"+base, base)
}

// setAside moves the file src of root into quarantine/ as base, under a
// new name if one of that name is already there.
func setAside(root *os.Root, src, base string) error {
	if err := root.MkdirAll("quarantine", dirMode); err != nil {
		return err
	}
	dst := "quarantine/" + base
	if _, err := root.Lstat(dst); err == nil {
		dst += "." + strconv.FormatInt(time.Now().UnixNano(), 10)
	}
	if err := root.Rename(src, dst); err != nil {
		return fmt.Errorf("quarantine %s: %w", src, err)
	}
	return nil
}
