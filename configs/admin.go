package configs

import (
	"strings"
	"unicode/utf8"
)

// Admin configures the admin API (/api/admin/ on the HTTP listener): it
// is off unless Tokens lists at least one token.
type Admin struct {
	// Tokens are the bearer tokens the admin API accepts, each with the
	// name that the log gives for what is done with it.
	Tokens []AdminToken `toml:"tokens" json:"-"`
}

// AdminToken is one admin API token.
type AdminToken struct {
	Name  string `toml:"name" json:"name"` // who holds it: 1-64 characters, once
	Token string `toml:"token" json:"-"`   // at least MinAdminToken characters, once
}

// MinAdminToken is the shortest admin token accepted: 32 characters, as
// auth.token_secret.
const MinAdminToken = 32

// problems checks the [admin] section.
func (a Admin) problems(p *problems) {
	names, tokens := map[string]bool{}, map[string]bool{}
	for i, t := range a.Tokens {
		switch {
		case t.Name == "" || strings.TrimSpace(t.Name) != t.Name || utf8.RuneCountInString(t.Name) > 64 || strings.ContainsAny(t.Name, "\r\n\t"):
			p.add("admin.tokens", "entry %d: name %q must be 1-64 characters without leading or trailing spaces", i+1, t.Name)
		case names[strings.ToLower(t.Name)]:
			p.add("admin.tokens", "entry %d: name %q is listed twice", i+1, t.Name)
		}
		names[strings.ToLower(t.Name)] = true
		switch {
		case len(t.Token) < MinAdminToken || strings.TrimSpace(t.Token) != t.Token:
			p.add("admin.tokens", "entry %d (%s): token must be at least %d characters without leading or trailing spaces (e.g. from \"openssl rand -base64 33\"), got %d", i+1, t.Name, MinAdminToken, len(t.Token))
		case tokens[t.Token]:
			p.add("admin.tokens", "entry %d (%s): the same token as an earlier entry", i+1, t.Name)
		}
		tokens[t.Token] = true
	}
}
