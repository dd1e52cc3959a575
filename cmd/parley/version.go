package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at link time by make release and the Dockerfile
// (-ldflags "-X main.version=v1.2.3 -X main.commit=… -X main.buildDate=…"),
// for builds made where the build information has no version control
// data (a source tarball, a container build without .git). Empty: taken
// from the build information the go command records.
var (
	version   string
	commit    string
	buildDate string
)

// buildInfo says which parley this is.
type buildInfo struct {
	Version  string // a tag, a pseudo-version, or "(devel)"
	Commit   string // the git commit, "" if unknown
	Modified bool   // built from a tree with uncommitted changes
	Date     string // the commit's time (vcs.time), or the stamped build date
	Go       string // the Go version and platform
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" {
			b.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.Date = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		b.Version = version
	}
	if commit != "" {
		b.Commit = commit
	}
	if buildDate != "" {
		b.Date = buildDate
	}
	return b
}

// printVersion writes what parley version prints.
func printVersion(out io.Writer) error {
	b := readBuildInfo()
	c := b.Commit
	switch {
	case c == "":
		c = "unknown"
	case b.Modified:
		c += " (modified)"
	}
	d := b.Date
	if d == "" {
		d = "unknown"
	}
	_, err := fmt.Fprintf(out, "parley %s\ncommit  %s\ndate    %s\ngo      %s\n", b.Version, c, d, b.Go)
	return err
}

// usage is the top of parley -h: the subcommands, before the flags.
const usage = `parley: a voice and video chat and clip-recording server.

Usage:
  parley [flags]                      run the server (flags below)
  parley version                      print the version, commit, date and Go version
  parley token -room R -name N [...]  print a join token (parley token -h)
  parley hash-password                read a password on stdin, print its hash
  parley admin [-url U] [-token T] COMMAND [ARGS]
                                      drive the admin API (parley admin -h)

Flags:
`
