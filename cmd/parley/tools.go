package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"parley/access"
	"parley/configs"
	"parley/server"
)

// runToken prints a join token:
//
//	parley token -config parley.toml -room live -name ann [-role operator] [-ttl 24h]
func runToken(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("parley token", flag.ContinueOnError)
	configPath := fs.String("config", "", "server config file (TOML); empty for the built-in defaults")
	room := fs.String("room", "", "the room the token admits to (required)")
	name := fs.String("name", "", "the name its holder joins under (required)")
	role := fs.String("role", access.RoleParticipant, `"participant" or "operator"`)
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *room == "" || *name == "" {
		return fmt.Errorf("token: -room and -name are required")
	}
	if *ttl <= 0 {
		return fmt.Errorf("token: -ttl must be more than 0")
	}
	cfg, rooms, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(rooms, func(r configs.Room) bool { return r.Name == *room }) {
		return fmt.Errorf("token: there is no room %q", *room)
	}
	// The same secret the server uses: configured, the cluster's, or kept
	// in the data folder (made now if the server has not made it yet).
	secret, err := server.TokenSecret(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	now := time.Now()
	tok, err := access.SignToken([]byte(secret), access.Claims{Room: *room, Name: *name, Role: *role, Expires: now.Add(*ttl).Unix(), Issued: now.Unix()})
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = fmt.Fprintln(out, tok)
	return err
}

// runHashPassword reads a password (the first line of in) and prints its
// bcrypt hash, for room files and operator accounts:
//
//	parley hash-password < file-with-the-password
func runHashPassword(args []string, in io.Reader, out io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("hash-password takes no arguments; it reads the password from standard input")
	}
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	h, err := access.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("hash-password: %w", err)
	}
	_, err = fmt.Fprintln(out, h)
	return err
}
