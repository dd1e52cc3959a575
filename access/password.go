package access

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// BcryptCost is the cost of the hashes HashPassword makes.
const BcryptCost = 12

// MaxPassword is the longest password accepted, in bytes (bcrypt reads at
// most 72; longer inputs are refused rather than silently cut).
const MaxPassword = 72

// HashPassword returns a bcrypt hash of password, for a room file.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("the password is empty")
	}
	if len(password) > MaxPassword {
		return "", fmt.Errorf("the password is longer than %d bytes", MaxPassword)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	return string(h), err
}

// CheckHash reports whether h is a password hash this package can verify:
// bcrypt ($2a$, $2b$, $2y$) or argon2id in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash). A plain-text password is not.
func CheckHash(h string) error {
	switch {
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return fmt.Errorf("not a valid bcrypt hash: %v", err)
		}
		return nil
	case strings.HasPrefix(h, "$argon2id$"):
		_, err := parseArgon2id(h)
		return err
	default:
		return errors.New(`not a password hash: use "parley hash-password" to make one (bcrypt), or an argon2id PHC string`)
	}
}

// VerifyPassword reports whether password matches the hash h. The
// comparison takes the same time whatever the mismatch.
func VerifyPassword(h, password string) bool {
	if len(password) > MaxPassword || password == "" {
		// Still spend the hash's time, so that the length is not a signal.
		_ = verify(h, "--------")
		return false
	}
	return verify(h, password)
}

func verify(h, password string) bool {
	if strings.HasPrefix(h, "$argon2id$") {
		a, err := parseArgon2id(h)
		if err != nil {
			return false
		}
		got := argon2.IDKey([]byte(password), a.salt, a.time, a.memory, a.threads, uint32(len(a.key)))
		return subtle.ConstantTimeCompare(got, a.key) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(h), []byte(password)) == nil
}

type argon2Params struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseArgon2id reads $argon2id$v=19$m=65536,t=3,p=4$<salt>$<key>, with
// bounds that keep a hostile config from costing unbounded memory or time.
func parseArgon2id(h string) (argon2Params, error) {
	var a argon2Params
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return a, errors.New("not an argon2id hash of the form $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	var p uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &a.memory, &a.time, &p); err != nil {
		return a, fmt.Errorf("argon2id parameters %q: %v", parts[3], err)
	}
	if a.memory < 8 || a.memory > 1<<21 || a.time < 1 || a.time > 100 || p < 1 || p > 64 {
		return a, fmt.Errorf("argon2id parameters %q out of range (m 8..2097152 KiB, t 1..100, p 1..64)", parts[3])
	}
	a.threads = uint8(p)
	var err error
	if a.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(a.salt) < 8 {
		return a, errors.New("argon2id salt: want at least 8 bytes, base64 without padding")
	}
	if a.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(a.key) < 16 || len(a.key) > 128 {
		return a, errors.New("argon2id hash: want 16..128 bytes, base64 without padding")
	}
	return a, nil
}
