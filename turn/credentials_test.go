package turn

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"
)

func TestCredentials(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := NewCredentials("north-wind-secret-1234", 6*time.Hour)

	user, pass := c.Mint("pAbCdEf", now)
	if want := "1700021600:pAbCdEf"; user != want {
		t.Fatalf("username %q, want %q", user, want)
	}
	if id, err := c.Check(user, pass, now); err != nil || id != "pAbCdEf" {
		t.Fatalf("Check(valid) = %q, %v", id, err)
	}
	// Valid up to and including the expiry second, as in coturn.
	if _, err := c.Check(user, pass, time.Unix(1700021600, 999e6)); err != nil {
		t.Errorf("at the expiry second: %v", err)
	}

	// A known vector, computed with Python's hmac module.
	if got := c.Password("1700000000:pAbCdEf"); got != "aDaf0/N+RXTlcoG+7iyITlvW+oU=" {
		t.Errorf("Password = %s", got)
	}
	// The same scheme as pion/turn's (and coturn's) TURN REST credentials.
	pu, pp, err := pionturn.GenerateLongTermTURNRESTCredentials("north-wind-secret-1234", "someone", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := c.Check(pu, pp, time.Now()); err != nil || id != "someone" {
		t.Errorf("pion's credentials: %q, %v", id, err)
	}

	t.Run("wrong secret", func(t *testing.T) {
		other := NewCredentials("another-secret-5678", 6*time.Hour)
		if _, err := other.Check(user, pass, now); !errors.Is(err, ErrWrongPassword) {
			t.Errorf("got %v, want ErrWrongPassword", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		if _, err := c.Check(user, pass, time.Unix(1700021601, 0)); !errors.Is(err, ErrExpired) {
			t.Errorf("got %v, want ErrExpired", err)
		}
		old, oldPass := NewCredentials("north-wind-secret-1234", -time.Minute).Mint("p1", now)
		if _, err := c.Check(old, oldPass, now); !errors.Is(err, ErrExpired) {
			t.Errorf("got %v, want ErrExpired", err)
		}
		if _, _, err := c.valid(old, now); !errors.Is(err, ErrExpired) {
			t.Errorf("valid: got %v, want ErrExpired", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		for _, u := range []string{
			"1700021600:pAbCdEg", // another participant
			"1800000000:pAbCdEf", // a later expiry
			"01700021600:pAbCdEf",
			"1700021600:pAbCdEf ",
		} {
			if _, err := c.Check(u, pass, now); !errors.Is(err, ErrWrongPassword) {
				t.Errorf("Check(%q) = %v, want ErrWrongPassword", u, err)
			}
		}
		for _, p := range []string{"", pass[:len(pass)-1], strings.ToLower(pass), pass + "=", "x" + pass[1:]} {
			if _, err := c.Check(user, p, now); !errors.Is(err, ErrWrongPassword) {
				t.Errorf("Check(password %q) = %v, want ErrWrongPassword", p, err)
			}
		}
	})
	t.Run("malformed", func(t *testing.T) {
		for _, u := range []string{
			"", ":pAbCdEf", ":", "x", "1700021600:", "pAbCdEf:1700021600", "abc:p", "12a4:p",
			"-1700021600:p", "+1700021600:p", " 1700021600:p", "1234567890123456789:p",
			"1700021600:p\x00", "1700021600:p\n", "1700021600:\xff\xfe", "1700021600:" + strings.Repeat("p", 129),
		} {
			p := c.Password(u) // even with the right password
			if _, err := c.Check(u, p, now); !errors.Is(err, ErrMalformed) {
				t.Errorf("Check(%q) = %v, want ErrMalformed", u, err)
			}
		}
		// The longest accepted forms.
		long := "999999999999999999:" + strings.Repeat("p", 128)
		if _, err := c.Check(long, c.Password(long), now); err != nil {
			t.Errorf("Check(long) = %v", err)
		}
		if exp, id, err := ParseUsername("5:a:b"); err != nil || id != "a:b" || exp.Unix() != 5 {
			t.Errorf("ParseUsername(5:a:b) = %v, %q, %v", exp, id, err)
		}
	})
	t.Run("expiry only", func(t *testing.T) {
		// coturn accepts a username that is only the expiry, and its
		// turnutils_uclient -W sends one.
		u := "1700021600"
		if id, err := c.Check(u, c.Password(u), now); err != nil || id != "" {
			t.Errorf("Check(%q) = %q, %v", u, id, err)
		}
		if _, err := c.Check(u, c.Password(u), time.Unix(1700021601, 0)); !errors.Is(err, ErrExpired) {
			t.Errorf("expired: %v", err)
		}
		if _, err := c.Check(u, pass, now); !errors.Is(err, ErrWrongPassword) {
			t.Errorf("wrong password: %v", err)
		}
	})
}

func TestPolicy(t *testing.T) {
	none, err := NewPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]string{
		"8.8.8.8":                "",
		"203.0.113.7":            "documentation",
		"172.32.0.1":             "",
		"2001:4860:4860::8888":   "",
		"::ffff:8.8.8.8":         "",
		"64:ff9b::808:808":       "",
		"127.0.0.1":              "loopback",
		"127.255.0.9":            "loopback",
		"::1":                    "loopback",
		"::ffff:127.0.0.1":       "loopback",
		"10.1.2.3":               "private",
		"172.16.0.1":             "private",
		"172.31.255.255":         "private",
		"192.168.1.1":            "private",
		"100.64.0.1":             "private",
		"fc00::1":                "private",
		"fd12:3456::1":           "private",
		"64:ff9b::a00:1":         "private (through NAT64)",
		"169.254.169.254":        "link-local",
		"fe80::1":                "link-local",
		"224.0.0.1":              "multicast",
		"239.255.255.250":        "multicast",
		"ff02::1":                "multicast",
		"255.255.255.255":        "broadcast",
		"0.0.0.0":                "unspecified",
		"0.1.2.3":                "unspecified",
		"::":                     "unspecified",
		"::ffff:0.0.0.0":         "unspecified",
		"::ffff:192.168.10.10":   "private",
		"64:ff9b::7f00:1":        "loopback (through NAT64)",
		"64:ff9b::a9fe:a9fe":     "link-local (through NAT64)",
		"fe80::1%eth0":           "link-local",
		"ff0e::1":                "multicast",
		"2001:db8::1":            "documentation",
		"2606:4700:4700::1111":   "",
		"1.1.1.1":                "",
		"192.0.2.1":              "documentation",
		"198.51.100.1":           "documentation",
		"11.0.0.1":               "",
		"9.255.255.255":          "",
		"192.169.0.1":            "",
		"100.128.0.1":            "",
		"100.63.255.255":         "",
		"169.253.255.255":        "",
		"fbff:ffff::1":           "",
		"fe00::1":                "",
		"febf:ffff::1":           "link-local",
		"223.255.255.255":        "",
		"240.0.0.1":              "reserved (240.0.0.0/4)",
		"1.0.0.0":                "",
		"::ffff:100.64.0.1":      "private",
		"::ffff:169.254.0.1":     "link-local",
		"::ffff:224.0.0.251":     "multicast",
		"::ffff:172.16.5.4":      "private",
		"::ffff:255.255.255.255": "broadcast",
		// Reserved IPv4 blocks.
		"198.18.0.1":        "benchmarking",
		"198.19.255.255":    "benchmarking",
		"192.0.0.1":         "reserved (IETF protocol assignments)",
		"192.0.0.170":       "reserved (IETF protocol assignments)",
		"250.1.2.3":         "reserved (240.0.0.0/4)",
		"::ffff:198.18.0.1": "benchmarking",
		// IPv6 forms that carry an IPv4 address.
		"2002:7f00:1::1":            "loopback (through 6to4)",
		"2002:a00:1::1":             "private (through 6to4)",
		"2002:a9fe:a9fe::":          "link-local (through 6to4)",
		"2002:c612:1::1":            "benchmarking (through 6to4)",
		"2002:808:808::1":           "",
		"64:ff9b::c612:1":           "benchmarking (through NAT64)",
		"64:ff9b:1::808:808":        "reserved (local-use NAT64)",
		"64:ff9b:1::7f00:1":         "reserved (local-use NAT64)",
		"::127.0.0.1":               "reserved (IPv4-compatible)",
		"::8.8.8.8":                 "reserved (IPv4-compatible)",
		"::ffff:0:7f00:1":           "reserved (IPv4-translated)",
		"::ffff:0:808:808":          "reserved (IPv4-translated)",
		"2001:0:808:808::80ff:fffe": "reserved (Teredo)",
		"2001::1":                   "reserved (Teredo)",
		"100::1":                    "reserved (discard-only)",
		"2001:20::1":                "reserved (ORCHIDv2)",
		"3fff::1":                   "documentation",
	} {
		if got := none.Refusal(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Refusal(%s) = %q, want %q", ip, got, want)
		}
		if got := none.permit(netip.MustParseAddr(ip).WithZone("").AsSlice()); got != (want == "") {
			t.Errorf("permit(%s) = %v", ip, got)
		}
	}
	if none.permit(nil) {
		t.Error("permit(nil) = true")
	}

	allow, err := NewPolicy([]string{"127.0.0.1", "10.0.0.0/8", "fd00::/8", "::ffff:192.168.5.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]string{
		"127.0.0.1": "", "::ffff:127.0.0.1": "", "127.0.0.2": "loopback", "::1": "loopback",
		"10.9.9.9": "", "::ffff:10.1.1.1": "", "11.0.0.1": "", "172.16.0.1": "private",
		"fd00::5": "", "fc00::1": "private", "192.168.5.77": "", "192.168.6.1": "private",
	} {
		if got := allow.Refusal(netip.MustParseAddr(ip)); got != want {
			t.Errorf("allowlist: Refusal(%s) = %q, want %q", ip, got, want)
		}
	}
	if _, err := NewPolicy([]string{"10.0.0.0/33"}); err == nil || !strings.Contains(err.Error(), `"10.0.0.0/33"`) {
		t.Errorf("bad allowlist: %v", err)
	}
}

func TestQuota(t *testing.T) {
	q := newAllocations(2, 3, 5, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ip1, ip2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::")
	a1, a2, b2, c1 := owner{ip1, "a"}, owner{ip2, "a"}, owner{ip2, "b"}, owner{ip1, "c"}
	take := func(o owner) *relay {
		t.Helper()
		r, err := q.take(o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1, r2 := take(a1), take(a2)
	if q.allows(a1) {
		t.Error("a may allocate a third relay")
	}
	if _, err := q.take(a1); !errors.Is(err, errQuota) {
		t.Errorf("third for a: %v", err)
	}
	r3 := take(c1)
	// ip1 holds 2 of its 3; a third participant from it is still fine,
	// then the address is full whatever participant it names.
	r4 := take(owner{ip1, "d"})
	if q.allows(owner{ip1, "e"}) {
		t.Error("a fourth allocation from ip1 is allowed")
	}
	if _, err := q.take(owner{ip1, "e"}); !errors.Is(err, errQuota) || !strings.Contains(err.Error(), "from 192.0.2.1") {
		t.Errorf("fourth from ip1: %v", err)
	}
	// The fifth reaches the total.
	r5 := take(b2)
	if q.allows(owner{ip2, "f"}) || q.allows(owner{}) {
		t.Error("allowed beyond the total")
	}
	if _, err := q.take(owner{ip2, "f"}); !errors.Is(err, errQuota) || !strings.Contains(err.Error(), "in total") {
		t.Errorf("sixth in total: %v", err)
	}
	q.release(r1)
	if total, a, c := q.count("a", ip1); total != 4 || a != 1 || c != 2 {
		t.Errorf("count = %d, %d, %d", total, a, c)
	}
	if !q.allows(a1) || !q.allows(owner{ip1, "e"}) {
		t.Error("not allowed after a release")
	}
	q.release(r5)
	rp := take(owner{}) // pion's probe for an even port
	q.release(rp)
	q.release(r2)
	q.release(r3)
	q.release(r4)
	if total, _, _ := q.count("", netip.Addr{}); total != 0 || len(q.perUser) != 0 || len(q.perClient) != 0 {
		t.Errorf("after releasing all: %d, %v, %v", total, q.perUser, q.perClient)
	}
}

// TestUserID: the user id handed to pion carries the client's address key
// and the participant, even one with spaces.
func TestUserID(t *testing.T) {
	for _, tc := range []struct {
		src  net.Addr
		p    string
		want owner
	}{
		{&net.UDPAddr{IP: net.ParseIP("192.0.2.7"), Port: 5000}, "p1", owner{netip.MustParseAddr("192.0.2.7"), "p1"}},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 5000}, "", owner{netip.MustParseAddr("192.0.2.7"), ""}},
		{&net.UDPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 5000}, "a b", owner{netip.MustParseAddr("2001:db8:1:2::"), "a b"}},
	} {
		o := newOwner(tc.src, tc.p)
		if o != tc.want {
			t.Errorf("newOwner(%s, %q) = %+v, want %+v", tc.src, tc.p, o, tc.want)
		}
		if got := parseUserID(o.userID()); got != tc.want {
			t.Errorf("parseUserID(%q) = %+v, want %+v", o.userID(), got, tc.want)
		}
	}
	if o := (owner{participant: "self-test"}); parseUserID(o.userID()) != o {
		t.Errorf("parseUserID(%q) = %+v", o.userID(), parseUserID(o.userID()))
	}
	if got := parseUserID(""); got != (owner{}) {
		t.Errorf("parseUserID(\"\") = %+v", got)
	}
}

// TestRotate: after a rotation the credentials handed out before still
// check, with the old secret, until they expire; the new ones are signed
// with the new secret alone (an external server given only it accepts
// them) and expire after every old one; a secret whose credentials have
// all expired is forgotten.
func TestRotate(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := NewCredentials("north-wind-secret-1234", time.Hour)
	u1, p1 := c.Mint("p1", now)
	if same := c.Rotate("north-wind-secret-1234", now); len(same.old) != 0 {
		t.Error("rotating to the same secret kept an old one")
	}
	later := now.Add(10 * time.Minute)
	r := c.Rotate("south-wind-secret-5678", later)
	if id, err := r.Check(u1, p1, later.Add(time.Minute)); err != nil || id != "p1" {
		t.Errorf("a credential minted before the rotation: %q %v", id, err)
	}
	u2, p2 := r.Mint("p2", later)
	if id, err := r.Check(u2, p2, later); err != nil || id != "p2" {
		t.Errorf("a credential minted after: %q %v", id, err)
	}
	if _, err := NewCredentials("south-wind-secret-5678", time.Hour).Check(u2, p2, later); err != nil {
		t.Errorf("the new secret alone does not check a new credential: %v", err)
	}
	if _, err := c.Check(u2, p2, later); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("the old secret checks a new credential: %v", err)
	}
	e1, _, _ := ParseUsername(u1)
	e2, _, _ := ParseUsername(u2)
	if !e2.After(e1) {
		t.Errorf("a new credential expires at %v, not after an old one (%v)", e2, e1)
	}
	if _, err := r.Check(u1, p1, e1.Add(time.Second)); !errors.Is(err, ErrExpired) {
		t.Errorf("an old credential past its expiry: %v", err)
	}
	r2 := r.Rotate("east-wind-secret-9012", later.Add(2*time.Hour))
	if len(r2.old) != 1 || string(r2.old[0].secret) != "south-wind-secret-5678" {
		t.Errorf("after a second rotation, when the first secret's credentials have expired, old secrets: %d", len(r2.old))
	}
}
