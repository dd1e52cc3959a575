package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API is defined with HMAC-SHA1
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors of Credentials.Check. The checks never say more than this to a
// client: a TURN server answers 401 whatever the reason.
var (
	ErrMalformed     = errors.New("malformed TURN username: want <expiry-unix>:<participant> or <expiry-unix>")
	ErrExpired       = errors.New("expired TURN username")
	ErrWrongPassword = errors.New("wrong TURN password")
)

// maxParticipantLen bounds the participant part of a username. STUN allows
// usernames of up to 513 bytes; ours are far shorter.
const maxParticipantLen = 128

// Credentials mints and checks the ephemeral credentials of the TURN REST
// API (draft-uberti-behave-turn-rest), the scheme coturn implements with
// use-auth-secret:
//
//	username = "<expiry-unix>:<participant>"
//	password = base64(HMAC-SHA1(secret, username))
//
// Any server that knows the secret can check them without asking parley, so
// the same credentials work with an external coturn configured with
// static-auth-secret. As coturn does, Check also accepts a username that is
// only the expiry (what coturn's turnutils_uclient -W sends); its participant
// is "". The zero value has no secret and mints nothing useful.
//
// The secret can be rotated with an overlap (Rotate): credentials minted
// before keep working with the old secret until they expire, and the new
// secret's all expire later than any of them, so that a username's expiry
// says which secret signed it.
type Credentials struct {
	secret []byte
	ttl    time.Duration
	floor  int64         // the earliest expiry minted (Unix seconds): after the last rotation's old ones
	old    []olderSecret // the secrets rotated out, oldest first, while their credentials live
}

// olderSecret is a secret rotated out: it signed the credentials that
// expire up to until (Unix seconds), after the secret before it.
type olderSecret struct {
	secret []byte
	until  int64
}

// Rotate returns the credentials of a new secret, which mint from now on,
// while the ones minted so far keep being checked against the secret
// that signed them until they expire (at most the TTL from now). Secrets
// whose credentials have all expired are forgotten. The same secret
// again changes nothing.
func (c Credentials) Rotate(secret string, now time.Time) Credentials {
	if string(c.secret) == secret {
		return c
	}
	until := now.Add(c.ttl).Unix()
	if until < c.floor {
		until = c.floor // what was minted since the last rotation
	}
	n := Credentials{secret: []byte(secret), ttl: c.ttl, floor: until + 1}
	for _, o := range c.old {
		if o.until >= now.Unix() {
			n.old = append(n.old, o)
		}
	}
	n.old = append(n.old, olderSecret{secret: c.secret, until: until})
	return n
}

// secretFor is the secret that signed credentials expiring at expiry.
func (c Credentials) secretFor(expiry int64) []byte {
	for _, o := range c.old {
		if expiry <= o.until {
			return o.secret
		}
	}
	return c.secret
}

// NewCredentials returns Credentials with the given shared secret and the
// lifetime of the usernames it mints.
func NewCredentials(secret string, ttl time.Duration) Credentials {
	return Credentials{secret: []byte(secret), ttl: ttl}
}

// Mint returns a username for participant that expires ttl after now, and
// its password.
func (c Credentials) Mint(participant string, now time.Time) (username, password string) {
	username = strconv.FormatInt(max(now.Add(c.ttl).Unix(), c.floor), 10) + ":" + participant
	return username, c.Password(username)
}

// Password returns the password of username: base64(HMAC-SHA1(secret,
// username)), with the secret that its expiry says signed it (after a
// Rotate). It does not check the username otherwise.
func (c Credentials) Password(username string) string {
	secret := c.secret
	if len(c.old) > 0 {
		if expiry, _, err := ParseUsername(username); err == nil {
			secret = c.secretFor(expiry.Unix())
		}
	}
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Check returns the participant named by username if the username is well
// formed, has not expired at now, and password is its password. The
// password is compared in constant time.
func (c Credentials) Check(username, password string, now time.Time) (participant string, err error) {
	participant, want, err := c.valid(username, now)
	if err != nil {
		return "", err
	}
	if !hmac.Equal([]byte(password), []byte(want)) {
		return "", ErrWrongPassword
	}
	return participant, nil
}

// valid checks the form and the expiry of username and returns its
// participant and password. The TURN server uses it: it never sees the
// password, only a MESSAGE-INTEGRITY keyed with it.
func (c Credentials) valid(username string, now time.Time) (participant, password string, err error) {
	expiry, participant, err := ParseUsername(username)
	if err != nil {
		return "", "", err
	}
	// As in coturn, a username is valid up to and including its expiry second.
	if expiry.Unix() < now.Unix() {
		return "", "", fmt.Errorf("%w: %q expired at %s", ErrExpired, username, expiry.UTC().Format(time.RFC3339))
	}
	return participant, c.Password(username), nil
}

// ParseUsername splits a username of the form "<expiry-unix>:<participant>"
// or "<expiry-unix>" (participant ""). The expiry is 1 to 18 decimal digits
// (no sign); the participant is 1 to 128 bytes of printable UTF-8.
func ParseUsername(username string) (expiry time.Time, participant string, err error) {
	ts, participant, hasParticipant := strings.Cut(username, ":")
	if ts == "" || len(ts) > 18 || (hasParticipant && participant == "") || len(participant) > maxParticipantLen {
		return time.Time{}, "", fmt.Errorf("%w, got %q", ErrMalformed, username)
	}
	for _, d := range ts {
		if d < '0' || d > '9' {
			return time.Time{}, "", fmt.Errorf("%w, got %q", ErrMalformed, username)
		}
	}
	if !utf8.ValidString(participant) || strings.IndexFunc(participant, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return time.Time{}, "", fmt.Errorf("%w, got %q", ErrMalformed, username)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w, got %q", ErrMalformed, username)
	}
	return time.Unix(sec, 0), participant, nil
}
