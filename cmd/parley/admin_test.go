package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"parley/client"
)

// TestAdminCommand runs the binary with a rooms folder and an admin
// token, and drives it with parley admin: a room made, read, changed
// with its ETag (refused with a stale one), its sessions listed, one
// kicked, a token made that joins, the room deleted; SIGHUP reads the
// room files again.
func TestAdminCommand(t *testing.T) {
	rooms := t.TempDir()
	if err := os.WriteFile(filepath.Join(rooms, "chat.toml"), []byte("mode = \"mediaChat\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const token = "a-token-for-the-admin-command-test-0123"
	p := startParley(t, t.TempDir(), fmt.Sprintf("[rooms]\ndir = %q\n[[admin.tokens]]\nname = \"ops\"\ntoken = %q\n", rooms, token))
	admin := func(args ...string) (string, string, error) {
		var out, info bytes.Buffer
		err := runAdmin(append([]string{"-url", p.url, "-token", token}, args...), strings.NewReader("mode = \"mediaForum\"\n"), &out, &info)
		return out.String(), info.String(), err
	}
	etag := func(info string) string {
		_, tag, _ := strings.Cut(strings.TrimSpace(info), "ETag: ")
		return tag
	}

	if _, info, err := runAdminErr("-h"); err != nil || !strings.Contains(info, "delete-clip ROOM ID") {
		t.Errorf("parley admin -h: %v\n%s", err, info)
	}
	if _, _, err := runAdminErr("-url", p.url, "-token", "wrong-token", "rooms"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a wrong token: %v, want 401", err)
	}
	if _, _, err := admin("put", "club", "-"); err != nil {
		t.Fatalf("put a new room: %v", err)
	}
	out, info, err := admin("get", "club")
	if err != nil || out != "mode = \"mediaForum\"\n" || etag(info) == "" {
		t.Fatalf("get: %q %q %v", out, info, err)
	}
	tag := etag(info)
	file := filepath.Join(t.TempDir(), "club.toml")
	if err := os.WriteFile(file, []byte("mode = \"mediaForum\"\ntitle = \"Club\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin("put", "club", file); err == nil || !strings.Contains(err.Error(), "412") {
		t.Errorf("put over an existing room without -if-match: %v, want 412", err)
	}
	if _, _, err := admin("put", "-if-match", tag, "club", file); err != nil {
		t.Fatalf("put with the ETag: %v", err)
	}
	if _, _, err := admin("put", "-if-match", tag, "club", file); err == nil || !strings.Contains(err.Error(), "412") {
		t.Errorf("put with a stale ETag: %v, want 412", err)
	}
	out, _, err = admin("rooms")
	if err != nil || !strings.Contains(out, `"title": "Club"`) {
		t.Errorf("rooms: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, p.wsURL(), client.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	j, err := c.Join(ctx, "club", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if out, _, err := admin("sessions", "club"); err != nil || !strings.Contains(out, j.ID) {
		t.Errorf("sessions: %v\n%s", err, out)
	}
	if _, _, err := admin("kick", "club", j.ID); err != nil {
		t.Errorf("kick: %v", err)
	}
	if _, err := c.WaitFor(ctx, "bye"); err != nil {
		t.Errorf("the kicked session was not told: %v", err)
	}
	if _, _, err := admin("delete-clip", "club", "00000000000000000000000000000"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("delete-clip of no clip: %v, want 404", err)
	}

	tok, _, err := admin("token", "-ttl", "1h", "club", "tom")
	if err != nil {
		t.Fatal(err)
	}
	d, err := client.Dial(ctx, p.wsURL(), client.Options{LoopbackOnly: true, Token: strings.TrimSpace(tok)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Join(ctx, "club", "tom"); err != nil {
		t.Errorf("join with the token made: %v", err)
	}

	if _, _, err := admin("delete", "club"); err == nil {
		t.Error("delete without -if-match was sent")
	}
	_, info, _ = admin("get", "club")
	if _, _, err := admin("delete", "-if-match", etag(info), "club"); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rooms, "club.toml")); !os.IsNotExist(err) {
		t.Errorf("the room file after delete: %v", err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLine(t, p.lines, "SIGHUP: reading the configuration again")
}

// runAdminErr runs parley admin with its output thrown away.
func runAdminErr(args ...string) (string, string, error) {
	var out, info bytes.Buffer
	err := runAdmin(args, strings.NewReader(""), &out, &info)
	return out.String(), info.String(), err
}
