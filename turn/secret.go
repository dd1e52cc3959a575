package turn

import (
	"log/slog"
	"path/filepath"

	"parley/internal/secretfile"
)

// SecretFile is the name of the file, in the data folder, that keeps the
// generated secret when turn.secret is "".
const SecretFile = "turn-secret"

// loadSecret returns the configured secret, or the one kept in
// dataDir/turn-secret, generating that file (mode 0600) on first start.
func loadSecret(configured, dataDir string, log *slog.Logger) (string, error) {
	return secretfile.Load(configured, filepath.Join(dataDir, SecretFile), "TURN secret", log)
}
