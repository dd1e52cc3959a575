package access

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

func TestPasswordHashes(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckHash(h); err != nil {
		t.Fatalf("own hash refused: %v", err)
	}
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("battery staple"), salt, 1, 64, 1, 32)
	a2 := fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	if err := CheckHash(a2); err != nil {
		t.Fatalf("argon2id hash refused: %v", err)
	}
	for _, c := range []struct {
		hash, pw string
		want     bool
	}{
		{h, "correct horse", true},
		{h, "correct horsE", false},
		{h, "", false},
		{h, strings.Repeat("x", 100), false},
		{a2, "battery staple", true},
		{a2, "battery stapler", false},
		{"plain", "plain", false},
	} {
		if got := VerifyPassword(c.hash, c.pw); got != c.want {
			t.Errorf("VerifyPassword(%.12s…, %q) = %v", c.hash, c.pw, got)
		}
	}
	for _, bad := range []string{"", "secret", "$2a$99$x", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43), "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$xx"} {
		if CheckHash(bad) == nil {
			t.Errorf("CheckHash(%q) accepted", bad)
		}
	}
	if _, err := HashPassword(strings.Repeat("y", 73)); err == nil {
		t.Error("a 73-byte password was hashed (bcrypt would cut it)")
	}
}

func TestTokens(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	c := Claims{Room: "chat", Name: "ann", Role: RoleOperator, Expires: now.Add(time.Hour).Unix(), Issued: now.Unix()}
	tok, err := SignToken(secret, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyToken(secret, tok, now)
	if err != nil || got != c {
		t.Fatalf("VerifyToken: %+v, %v", got, err)
	}
	if _, err := VerifyToken(secret, tok, now.Add(time.Hour)); err != ErrTokenExpired {
		t.Errorf("at expiry: %v", err)
	}
	if _, err := VerifyToken([]byte("another secret, just as long...."), tok, now); err != ErrTokenInvalid {
		t.Errorf("other secret: %v", err)
	}
	parts := strings.Split(tok, ".")
	// The signature's last character carries 4 bits of it and 2 unused
	// ones: with those set, a lenient decoder reads the same signature.
	sig := parts[2]
	last := strings.IndexByte(b64chars, sig[len(sig)-1])
	loose := sig[:len(sig)-1] + string(b64chars[last|1])
	if last&3 != 0 || loose == sig {
		t.Fatalf("the signature %q does not end on a character with its unused bits clear", sig)
	}
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"room":"chat","name":"ann","role":"operator","exp":9999999999}`))
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	for name, bad := range map[string]string{
		"tampered claims": parts[0] + "." + forged + "." + parts[2],
		"loose base64":    parts[0] + "." + parts[1] + "." + loose,
		"alg none":        none + "." + parts[1] + ".",
		"no signature":    parts[0] + "." + parts[1] + ".",
		"two parts":       parts[0] + "." + parts[1],
		"garbage":         "a.b.c",
		"empty":           "",
		"huge":            strings.Repeat("a", MaxToken+1),
	} {
		if _, err := VerifyToken(secret, bad, now); err != ErrTokenInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A participant token without a role is a participant.
	p, _ := SignToken(secret, Claims{Room: "chat", Name: "bob", Expires: now.Add(time.Minute).Unix()})
	if got, err := VerifyToken(secret, p, now); err != nil || got.Role != RoleParticipant {
		t.Errorf("role default: %+v %v", got, err)
	}
	if _, err := SignToken(secret, Claims{Room: "chat", Name: "x", Role: "root", Expires: 1}); err == nil {
		t.Error("signed an unknown role")
	}
}

// b64chars is the base64url alphabet, in the order of the values.
const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func FuzzVerifyToken(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	tok, _ := SignToken(secret, Claims{Room: "r", Name: "n", Expires: 2_000_000_000})
	f.Add(tok)
	f.Add("e30.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := VerifyToken(secret, s, time.Unix(1_800_000_000, 0))
		if err == nil && s != tok {
			// Only our own signature verifies; any other accepted input
			// must re-sign to itself.
			again, _ := SignToken(secret, c)
			if _, err2 := VerifyToken(secret, again, time.Unix(1_800_000_000, 0)); err2 != nil {
				t.Fatalf("accepted %q but its claims do not verify: %v", s, err2)
			}
		}
	})
}

func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(6, 3) // 3 in a row, one more every 10 s
	l.now = func() time.Time { return now }
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	for i := range 3 {
		if l.Blocked(a) {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Begin(a) // a failure: the attempt is not given back
	}
	if !l.Blocked(a) {
		t.Fatal("not blocked after 3 failures")
	}
	if l.Blocked(b) {
		t.Fatal("another address is blocked")
	}
	now = now.Add(10 * time.Second)
	if l.Blocked(a) {
		t.Fatal("still blocked after the refill")
	}
	// The IPv4-mapped IPv6 form is the same client.
	l.Begin(netip.MustParseAddr("::ffff:192.0.2.1"))
	if !l.Blocked(a) {
		t.Fatal("mapped address counted apart")
	}
	var zero *Limiter
	zero.Begin(a)
	if zero.Blocked(a) {
		t.Fatal("nil limiter blocks")
	}
}

// TestLimiterSetRate: a rate and burst changed while a limiter runs
// apply from the next attempt: a raised rate refills a blocked address
// sooner, a lowered burst caps what an address has left, a burst of 0
// turns the limiter off, and one set again starts afresh.
func TestLimiterSetRate(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(1, 3)
	l.now = func() time.Time { return now }
	a := netip.MustParseAddr("192.0.2.1")
	for range 3 {
		l.Begin(a)
	}
	if !l.Blocked(a) {
		t.Fatal("not blocked after 3 failures with a burst of 3")
	}
	l.SetRate(60, 3)
	now = now.Add(2 * time.Second)
	if l.Blocked(a) {
		t.Fatal("blocked 2 s after the rate was raised to 60 a minute")
	}
	now = now.Add(time.Minute) // full again: 3
	l.SetRate(60, 1)
	if _, ok := l.Begin(a); !ok {
		t.Fatal("the attempt left refused")
	}
	if _, ok := l.Begin(a); ok {
		t.Fatal("a second attempt allowed under a burst lowered to 1")
	}
	l.SetRate(0, 0)
	for range 5 {
		if _, ok := l.Begin(a); !ok {
			t.Fatal("a limiter turned off refused")
		}
	}
	l.SetRate(1, 1)
	if att, ok := l.Begin(a); !ok {
		t.Fatal("a limiter turned on again remembers what it counted before")
	} else {
		att.Succeeded()
	}
	var zero Limiter
	zero.SetRate(1, 1)
	zero.Begin(a)
	if !zero.Blocked(a) {
		t.Fatal("a zero limiter given a rate does not limit")
	}
}

func TestClientIP(t *testing.T) {
	proxies := Proxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, c := range []struct {
		remote, xff, proto string
		want               string
		secure             bool
	}{
		{"198.51.100.7:5000", "1.2.3.4", "https", "198.51.100.7", false}, // not a proxy: headers ignored
		{"127.0.0.1:5000", "", "", "127.0.0.1", false},
		{"127.0.0.1:5000", "203.0.113.9", "https", "203.0.113.9", true},
		{"127.0.0.1:5000", "6.6.6.6, 203.0.113.9, 10.1.1.1", "https", "203.0.113.9", true}, // spoofed left entry skipped
		{"10.0.0.2:1", "garbage, 10.0.0.3", "http", "10.0.0.3", false},
		{"[::ffff:127.0.0.1]:80", "2001:db8::1", "", "2001:db8::1", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if c.proto != "" {
			r.Header.Set("X-Forwarded-Proto", c.proto)
		}
		if got := proxies.ClientIP(r); got.String() != c.want {
			t.Errorf("%s via %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
		if got := proxies.Secure(r); got != c.secure {
			t.Errorf("%s proto %q: secure %v", c.remote, c.proto, got)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = &tls.ConnectionState{}
	if !Proxies(nil).Secure(r) {
		t.Error("a TLS request is not secure")
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"},
		{"2001:db8:1:2::1", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::"},
	} {
		if got := ClientKey(netip.MustParseAddr(tc.in)); got != netip.MustParseAddr(tc.want) {
			t.Errorf("ClientKey(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestDeriveKeyAndMAC(t *testing.T) {
	a, b := DeriveKey([]byte("secret"), "one"), DeriveKey([]byte("secret"), "two")
	if string(a) == string(b) || len(a) != 32 {
		t.Fatalf("keys for two purposes: %x %x", a, b)
	}
	if string(DeriveKey([]byte("other"), "one")) == string(a) {
		t.Fatal("two secrets give one key")
	}
	if string(MAC(a, "ab", "c")) == string(MAC(a, "a", "bc")) {
		t.Fatal("MAC does not separate its parts")
	}
	if x, y := MAC(a, "x"), MAC(a, "x"); string(x) != string(y) {
		t.Fatal("MAC is not deterministic")
	}
}

// Concurrent checks each reserve an attempt before they run: of many
// simultaneous wrong passwords, only Burst get checked.
func TestLimiterReservesBeforeCheck(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(6, 3)
	l.now = func() time.Time { return now }
	a := netip.MustParseAddr("192.0.2.1")
	var wg sync.WaitGroup
	var checked atomic.Int32
	start := make(chan struct{})
	for range 18 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, ok := l.Begin(a); ok {
				checked.Add(1) // a failed check: the attempt stays charged
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := checked.Load(); n != 3 {
		t.Fatalf("%d of 18 concurrent attempts were checked, want 3", n)
	}
	// 15 refused attempts left a debt of Burst: one refill interval is
	// not enough to try again.
	now = now.Add(10 * time.Second)
	if _, ok := l.Begin(a); ok {
		t.Fatal("an attempt passed right after a refill despite the debt")
	}
	// A success gives its attempt back.
	b := netip.MustParseAddr("192.0.2.2")
	for range 10 {
		at, ok := l.Begin(b)
		if !ok {
			t.Fatal("successful attempts were counted as failures")
		}
		at.Succeeded()
	}
	// An IPv6 /64 is one client.
	c1 := netip.MustParseAddr("2001:db8:1:2::1")
	for i := range 3 {
		if _, ok := l.Begin(netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+100))); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if _, ok := l.Begin(c1); ok {
		t.Fatal("a new address in the same /64 got a fresh budget")
	}
	if _, ok := l.Begin(netip.MustParseAddr("2001:db8:1:3::1")); !ok {
		t.Fatal("another /64 is blocked")
	}
	var zero *Limiter
	if at, ok := zero.Begin(a); !ok {
		t.Fatal("nil limiter refuses")
	} else {
		at.Succeeded()
	}
}
