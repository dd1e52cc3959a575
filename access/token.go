package access

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Roles.
const (
	RoleParticipant = "participant"
	RoleOperator    = "operator"
)

// MaxToken is the longest token accepted, in bytes.
const MaxToken = 4096

// Claims are what a join token says: who may join which room, as what,
// until when. In JSON they are the JWT claims room, name, role, exp (Unix
// seconds) and iat.
type Claims struct {
	Room    string `json:"room"`
	Name    string `json:"name"`
	Role    string `json:"role,omitempty"` // "participant" (default) or "operator"
	Expires int64  `json:"exp"`
	Issued  int64  `json:"iat,omitempty"`
}

// Token errors.
var (
	ErrTokenInvalid = errors.New("the token is not valid")
	ErrTokenExpired = errors.New("the token has expired")
)

// b64 decodes a token's parts: canonical base64url only (see VerifyToken).
var b64 = base64.RawURLEncoding.Strict()

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// SignToken makes an HS256 JWT of c with secret.
func SignToken(secret []byte, c Claims) (string, error) {
	if err := c.check(); err != nil {
		return "", err
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signed := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(body)
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac(secret, signed)), nil
}

func mac(secret []byte, signed string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signed))
	return m.Sum(nil)
}

func (c Claims) check() error {
	switch {
	case c.Room == "":
		return errors.New("the token names no room")
	case c.Name == "":
		return errors.New("the token names no one")
	case c.Role != "" && c.Role != RoleParticipant && c.Role != RoleOperator:
		return fmt.Errorf("unknown role %q", c.Role)
	case c.Expires <= 0:
		return errors.New("the token has no expiry")
	}
	return nil
}

// VerifyToken checks an HS256 JWT against secret and returns its claims.
// Only HS256 is accepted (never "none"), the signature is compared in
// constant time, and the token must not have expired at now. Its parts
// must be in canonical base64url: a last character whose unused bits
// are set would otherwise decode as another one does, and a token
// changed there would still verify.
func VerifyToken(secret []byte, token string, now time.Time) (Claims, error) {
	var c Claims
	if len(token) > MaxToken {
		return c, ErrTokenInvalid
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, ErrTokenInvalid
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac(secret, parts[0]+"."+parts[1])) {
		return c, ErrTokenInvalid
	}
	// The signature is ours; the header must still say what we signed.
	hdr, err := b64.DecodeString(parts[0])
	if err != nil {
		return c, ErrTokenInvalid
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hdr, &h) != nil || h.Alg != "HS256" {
		return c, ErrTokenInvalid
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil || json.Unmarshal(body, &c) != nil || c.check() != nil {
		return Claims{}, ErrTokenInvalid
	}
	if c.Role == "" {
		c.Role = RoleParticipant
	}
	if !now.Before(time.Unix(c.Expires, 0)) {
		return Claims{}, ErrTokenExpired
	}
	return c, nil
}
