package turn

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// SecretFile is the name of the file, in the data folder, that keeps the
// generated secret when turn.secret is "".
const SecretFile = "turn-secret"

// minSecretLen is the shortest secret accepted from the secret file (the
// config's own secret is checked by package configs).
const minSecretLen = 16

// loadSecret returns the configured secret, or the one kept in
// dataDir/turn-secret, generating that file (mode 0600) on first start.
func loadSecret(configured, dataDir string, log *slog.Logger) (string, error) {
	if configured != "" {
		return configured, nil
	}
	path := filepath.Join(dataDir, SecretFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret := strings.TrimSpace(string(data))
		if len(secret) < minSecretLen {
			return "", fmt.Errorf("secret file %s: the secret must be at least %d characters; delete the file to generate a new one", path, minSecretLen)
		}
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			log.Warn("turn: the secret file is readable by others; setting its mode to 0600", "file", path, "mode", fmt.Sprintf("%#o", st.Mode().Perm()))
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("secret file: %w", err)
			}
		}
		return secret, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("secret file: %w", err)
	}

	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	if err := writeFileAtomic(path, []byte(secret+"\n")); err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	log.Info("turn: generated a new TURN secret", "file", path)
	return secret, nil
}

// writeFileAtomic writes data to path with mode 0600, crash-safely: a
// temporary file in the same folder, fsync, rename, fsync of the folder.
func writeFileAtomic(path string, data []byte) error {
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
