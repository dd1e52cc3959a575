package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitHead is the commit the tree is at, or the test is skipped (fails
// under CI) without git.
func gitHead(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("git rev-parse HEAD: %v", err)
		}
		t.Skipf("not in a git checkout: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestReleaseBuild builds the binary as a release is built (CGO_ENABLED=0,
// as make release and the Dockerfile do), checks that it is static (no
// program interpreter, no shared library), so that it runs on any Linux
// and in an image without a libc, and that parley version and parley
// -version name its commit. In a
// clone (a .git folder; the go command does not read a worktree's .git
// file) the commit comes from the build information the go command
// records, with nothing stamped.
func TestReleaseBuild(t *testing.T) {
	head := gitHead(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "parley")
	args := []string{"build", "-trimpath", "-o", bin}
	if fi, err := os.Stat(filepath.Join(root, ".git")); err == nil && fi.IsDir() {
		args = append(args, "-buildvcs=true")
	} else {
		args = append(args, "-ldflags", "-X main.commit="+head+" -X main.version=v0.0.0-test")
	}
	build := exec.Command("go", append(args, "./cmd/parley")...)
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked: it has a %v program header", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries: %v", libs)
	}
	for _, arg := range []string{"version", "-version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Fatalf("parley %s: %v", arg, err)
		}
		lines := strings.Split(string(out), "\n")
		if len(lines) < 4 || !strings.HasPrefix(lines[0], "parley ") || !strings.HasPrefix(lines[1], "commit  "+head) ||
			!strings.HasPrefix(lines[3], "go      go1.") {
			t.Errorf("parley %s printed\n%s\nwant the commit %s", arg, out, head)
		}
	}
}

// -h lists the subcommands and is not an error.
func TestHelp(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-h")
	cmd.Env = append(os.Environ(), "PARLEY_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("parley -h: %v\n%s", err, out)
	}
	for _, want := range []string{"parley version", "parley token", "parley hash-password", "parley admin", "-config", "-check-config"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("parley -h does not mention %q:\n%s", want, out)
		}
	}
}

func TestReadBuildInfoStamped(t *testing.T) {
	version, commit, buildDate = "v1.2.3", "abc123", "2026-01-02T03:04:05Z"
	defer func() { version, commit, buildDate = "", "", "" }()
	var b strings.Builder
	if err := printVersion(&b); err != nil {
		t.Fatal(err)
	}
	if want := "parley v1.2.3\ncommit  abc123\ndate    2026-01-02T03:04:05Z\n"; !strings.HasPrefix(b.String(), want) {
		t.Errorf("printed %q, want it to start with %q", b.String(), want)
	}
}
