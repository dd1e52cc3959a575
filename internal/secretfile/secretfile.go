// Package secretfile keeps a generated secret in a file of the data
// folder: created once (mode 0600, crash-safely), read on every start.
package secretfile

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// MinLen is the shortest secret accepted from a secret file.
const MinLen = 16

// Load returns configured if it is not empty. Otherwise it returns the
// secret kept in path, generating the file (32 random bytes, base64url,
// mode 0600) when there is none. what names the secret in logs and errors.
func Load(configured, path, what string, log *slog.Logger) (string, error) {
	if configured != "" {
		return configured, nil
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret := strings.TrimSpace(string(data))
		if len(secret) < MinLen {
			return "", fmt.Errorf("%s file %s: the secret must be at least %d characters; delete the file to generate a new one", what, path, MinLen)
		}
		if err := restrict(path, what, log); err != nil {
			return "", err
		}
		return secret, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%s file: %w", what, err)
	}

	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate %s: %w", what, err)
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	if err := WriteAtomic(path, []byte(secret+"\n")); err != nil {
		return "", fmt.Errorf("%s file: %w", what, err)
	}
	log.Info("generated a new "+what, "file", path)
	return secret, nil
}

// restrict sets the mode of the secret file path to 0600 if others may
// read or write it, and says so in the log.
func restrict(path, what string, log *slog.Logger) error {
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		log.Warn(what+" file is readable by others; setting its mode to 0600", "file", path, "mode", fmt.Sprintf("%#o", st.Mode().Perm()))
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("%s file: %w", what, err)
		}
	}
	return nil
}

// Read returns the content of a secret file the operator wrote, at most
// max bytes of it, with the same care as Load: a file others may read is
// set to mode 0600 (and the log says so). what names the secret in logs
// and errors.
func Read(path, what string, max int64, log *slog.Logger) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s file: %w", what, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s file: %w", what, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s file %s: not a regular file", what, path)
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s file %s: %d bytes, more than a secret file holds (%d)", what, path, st.Size(), max)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s file: %w", what, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s file %s: more than %d bytes", what, path, max)
	}
	if err := restrict(path, what, log); err != nil {
		return nil, err
	}
	return data, nil
}

// WriteAtomic writes data to path with mode 0600, crash-safely: a
// temporary file in the same folder, fsync, rename, fsync of the folder.
func WriteAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }() // no-op after the rename
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
