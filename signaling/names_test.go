package signaling

import (
	"strings"
	"testing"
)

func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"ann", "ann", true},
		{"René", "René", true},
		{"Rene\u0301", "René", true}, // kept composed
		{"a.b-c_d e", "a.b-c_d e", true},
		{"...", "...", true},
		{"Zoë 2", "Zoë 2", true},
		{"", "", false},
		{" ann", "", false},
		{"ann ", "", false},
		{"<b>", "", false},
		{"a\u200bb", "", false}, // zero-width space
		{"\u0301", "", false},   // a mark alone
		{"\u3164", "", false},   // Hangul filler
		{"\u115f\u1160", "", false},
		{"\uffa0", "", false},
		{"\u17b4", "", false},
		{"\u180e", "", false},
		{"a\u00a0b", "", false}, // no-break space
		{"\xff", "", false},
		{strings.Repeat("a", 33), "", false},
		{strings.Repeat("a", 32), strings.Repeat("a", 32), true},
	} {
		got, err := cleanName(tc.in, 32)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("cleanName(%+q) = %+q, %v; want %+q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestSameName(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"boss", "BOSS", true},
		{"boss", "ｂｏｓｓ", true},
		{"Zoë", "Zoe\u0308", true},
		{"straße", "STRASSE", true},
		{"ann", "anne", false},
		{"ann", "ann.", false},
	} {
		if got := sameName(tc.a, tc.b); got != tc.same {
			t.Errorf("sameName(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestHostPort(t *testing.T) {
	for _, tc := range []struct{ host, scheme, want string }{
		{"example.org", "https", "example.org:443"},
		{"example.org:443", "https", "example.org:443"},
		{"Example.ORG", "http", "example.org:80"},
		{"example.org:8080", "http", "example.org:8080"},
		{"[::1]:8080", "http", "[::1]:8080"},
		{"[::1]", "https", "[::1]:443"},
	} {
		if got := hostPort(tc.host, tc.scheme); got != tc.want {
			t.Errorf("hostPort(%q, %q) = %q, want %q", tc.host, tc.scheme, got, tc.want)
		}
	}
}
