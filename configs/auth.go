package configs

import (
	"strings"

	"parley/access"
)

// Auth configures who may join: join tokens, operators, and the limit on
// failed attempts. Room files choose their access mode (Room.Access).
type Auth struct {
	// TokenSecret signs and checks join tokens (HS256); at least 32
	// characters. "" means a secret generated on first start and kept in
	// the data folder (token-secret, mode 0600).
	TokenSecret string `toml:"token_secret" json:"-"`
	// FailuresPerMinute and FailureBurst limit failed joins (wrong password
	// or token) per client IP: FailureBurst in a row, then FailuresPerMinute.
	FailuresPerMinute float64 `toml:"failures_per_minute" json:"failures_per_minute"` // > 0
	FailureBurst      int     `toml:"failure_burst" json:"failure_burst"`             // >= 1
	// Operators may kick, delete any clip, clear a room's clips and close a
	// room, in every room. Their names are theirs in every room: joining
	// under one needs its password (or an operator token).
	Operators []Operator `toml:"operators" json:"-"`
}

// Operator is one operator account.
type Operator struct {
	Name     string `toml:"name" json:"name"`
	Password string `toml:"password" json:"-"` // a bcrypt or argon2id hash (parley hash-password)
}

// problems checks the [auth] section.
func (a Auth) problems(p *problems, maxName int) {
	if a.TokenSecret != "" && len(a.TokenSecret) < 32 {
		p.add("auth.token_secret", "must be at least 32 characters (or \"\" to generate one), got %d", len(a.TokenSecret))
	}
	if a.FailuresPerMinute <= 0 {
		p.add("auth.failures_per_minute", "must be more than 0, got %g", a.FailuresPerMinute)
	}
	checkAtLeast(p, "auth.failure_burst", int64(a.FailureBurst), 1)
	seen := map[string]bool{}
	for i, o := range a.Operators {
		switch {
		case strings.TrimSpace(o.Name) != o.Name || o.Name == "" || len([]rune(o.Name)) > maxName:
			p.add("auth.operators", "entry %d: name %q must be 1-%d characters without leading or trailing spaces", i+1, o.Name, maxName)
		case seen[strings.ToLower(o.Name)]:
			p.add("auth.operators", "entry %d: name %q is listed twice", i+1, o.Name)
		}
		seen[strings.ToLower(o.Name)] = true
		if err := access.CheckHash(o.Password); err != nil {
			p.add("auth.operators", "entry %d (%s): password: %v", i+1, o.Name, err)
		}
	}
}

// Access modes of a room.
const (
	AccessOpen     = "open"     // any valid name
	AccessPassword = "password" // a shared password, or per-user passwords
	AccessToken    = "token"    // a signed join token
)

// accessProblems checks a room's access settings.
func (r Room) accessProblems(p *problems) {
	switch r.Access {
	case AccessOpen, AccessToken:
		if r.Password != "" || len(r.Passwords) > 0 {
			p.add("password", "is set but access is %q: passwords apply only with access = \"password\"", r.Access)
		}
	case AccessPassword:
		if r.Password == "" && len(r.Passwords) == 0 {
			p.add("access", "is \"password\" but neither password (shared) nor [passwords] (per user) is set")
		}
		if r.Password != "" {
			if err := access.CheckHash(r.Password); err != nil {
				p.add("password", "%v", err)
			}
		}
		for name, h := range r.Passwords {
			if err := access.CheckHash(h); err != nil {
				p.add("passwords", "user %q: %v", name, err)
			}
		}
	default:
		p.add("access", "must be \"open\", \"password\" or \"token\", got %q", r.Access)
	}
}
