package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley/access"
)

func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "parley.toml")
	if err := os.WriteFile(cfg, []byte("[storage]\ndata_dir = \""+filepath.Join(dir, "data")+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runToken([]string{"-config", cfg, "-room", "live", "-name", "ann", "-role", "operator", "-ttl", "1h"}, &out); err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile(filepath.Join(dir, "data", "token-secret"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := access.VerifyToken([]byte(strings.TrimSpace(string(secret))), strings.TrimSpace(out.String()), time.Now())
	if err != nil || c.Room != "live" || c.Name != "ann" || c.Role != "operator" {
		t.Fatalf("token %q: %+v %v", out.String(), c, err)
	}
	if d := time.Until(time.Unix(c.Expires, 0)); d < 59*time.Minute || d > time.Hour {
		t.Errorf("expires in %v", d)
	}
	for _, bad := range [][]string{
		{"-config", cfg, "-room", "nope", "-name", "ann"},
		{"-config", cfg, "-room", "live"},
		{"-config", cfg, "-room", "live", "-name", "ann", "-role", "root"},
		{"-config", cfg, "-room", "live", "-name", "ann", "-ttl", "-1h"},
	} {
		if err := runToken(bad, &out); err == nil {
			t.Errorf("token %v: no error", bad)
		}
	}
}

func TestHashPasswordCommand(t *testing.T) {
	var out bytes.Buffer
	if err := runHashPassword(nil, strings.NewReader("open sesame\n"), &out); err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out.String())
	if access.CheckHash(h) != nil || !access.VerifyPassword(h, "open sesame") || access.VerifyPassword(h, "open sesame\n") {
		t.Fatalf("hash %q", h)
	}
	if err := runHashPassword(nil, strings.NewReader("\n"), &out); err == nil {
		t.Error("an empty password was hashed")
	}
}
