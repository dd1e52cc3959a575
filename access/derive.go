package access

import (
	"crypto/hmac"
	"crypto/sha256"
)

// DeriveKey returns a key for one purpose (such as "clip-media" or
// "whip-owner") derived from the server's secret, so that one secret
// serves several uses and a value made for one use is worthless for
// another.
func DeriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("parley key\x00" + purpose))
	return m.Sum(nil)
}

// MAC is HMAC-SHA256 of the parts under key, each part ended by a zero
// byte so that ("ab","c") and ("a","bc") differ.
func MAC(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}
