package objstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
)

// MaxKeyLen bounds a key, with the prefix (S3's own bound is 1024).
const MaxKeyLen = 512

const keyRule = "want '/'-separated names of letters, digits, '-', '_' and '.' (none empty, none beginning with '.'), at most 512 bytes"

// ValidKey reports whether key may name an object (see the package doc).
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen {
		return false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg[0] == '.' {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return false
			}
		}
	}
	return true
}

// ValidRegion reports whether r may name a region: 1-64 letters, digits
// and '-'.
func ValidRegion(r string) bool {
	if r == "" || len(r) > 64 {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// CheckBucket returns an error if name is not a bucket name that every
// S3-compatible store accepts: 3-63 lowercase letters, digits, '-' and
// '.', beginning and ending with a letter or digit, no "..", not an IP
// address.
func CheckBucket(name string) error {
	const want = "want 3-63 lowercase letters, digits, '-' and '.', beginning and ending with a letter or digit"
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("%s, got %q", want, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("%s, got %q", want, name)
		}
	}
	if first, last := name[0], name[len(name)-1]; first == '-' || first == '.' || last == '-' || last == '.' || strings.Contains(name, "..") {
		return fmt.Errorf("%s, got %q", want, name)
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return fmt.Errorf("want a bucket name, got the IP address %q", name)
	}
	return nil
}

// CheckEndpoint returns an error if v is not a store's base URL: http or
// https, a host and an optional port, no user, path, query or fragment.
func CheckEndpoint(v string) error {
	const want = `want the store's base URL, like "https://s3.example.org" or "http://127.0.0.1:9000" (scheme://host[:port], no path)`
	u, err := url.Parse(v)
	switch {
	case v == "":
		return errors.New(want + `, got ""`)
	case err != nil:
		return fmt.Errorf("%s, got %q", want, v)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%s, got %q (scheme must be http or https)", want, v)
	case u.Host == "" || u.User != nil || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || (u.Path != "" && u.Path != "/"):
		return fmt.Errorf("%s, got %q", want, v)
	case u.Hostname() == "" || strings.HasSuffix(u.Host, ":"):
		return fmt.Errorf("%s, got %q (no host or empty port)", want, v)
	}
	return nil
}

// Errors that an *Error may wrap; test with errors.Is.
var (
	// ErrNotExist: no object of that key, or no such bucket.
	ErrNotExist = errors.New("does not exist")
	// ErrDenied: the store refused the credentials or the access.
	ErrDenied = errors.New("access denied")
	// ErrBadKey: the key is not valid; no request was made.
	ErrBadKey = errors.New("invalid key")
	// ErrUnreachable: no answer from the store (refused, timed out).
	ErrUnreachable = errors.New("store unreachable")
)

// Error is a failed call: the operation, the key and why.
type Error struct {
	Op  string // "put", "get", "stat", "list", "delete", "presign", "check bucket"
	Key string // relative to the prefix; "" when not about one key
	Err error
}

func (e *Error) Error() string {
	if e.Key == "" {
		return "objstore: " + e.Op + ": " + e.Err.Error()
	}
	return fmt.Sprintf("objstore: %s %q: %v", e.Op, e.Key, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// fail turns an error of minio-go into an *Error with a clear cause. ctx
// is the call's context, to tell a timeout from the caller's cancel.
func (c *Client) fail(ctx context.Context, op, key string, err error) error {
	var resp minio.ErrorResponse
	var nerr net.Error
	switch {
	case errors.As(err, &resp) && resp.Code != "":
		switch resp.Code {
		case "NoSuchKey", "NoSuchObject", "NotFound":
			err = fmt.Errorf("%w (%s)", ErrNotExist, resp.Code)
		case "NoSuchBucket":
			err = fmt.Errorf("%w: bucket %q at %s (%s)", ErrNotExist, c.cfg.Bucket, c.cfg.Endpoint, resp.Code)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurity", "ExpiredToken", "InvalidToken":
			err = fmt.Errorf("%w: %s refused the request (%s: %s); check the access key, the secret key and the bucket's policy", ErrDenied, c.cfg.Endpoint, resp.Code, resp.Message)
		default:
			err = fmt.Errorf("%s answered %d %s: %s", c.cfg.Endpoint, resp.StatusCode, resp.Code, resp.Message)
		}
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		err = fmt.Errorf("%w: no answer from %s in time: %v", ErrUnreachable, c.cfg.Endpoint, err)
	case errors.Is(err, context.Canceled):
		// the caller's own cancel: said as it is
	case errors.As(err, &nerr):
		err = fmt.Errorf("%w: %s: %v", ErrUnreachable, c.cfg.Endpoint, err)
	}
	return &Error{Op: op, Key: key, Err: err}
}
