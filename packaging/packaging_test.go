package packaging

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"parley/configs"
)

// tool returns the path of an external command, or skips the test (fails
// it under CI) when it is missing.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found: install package %s (scripts/install-deps.sh)", name, pkg)
		}
		t.Skipf("%s not found: install package %s", name, pkg)
	}
	return path
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// verify runs systemd-analyze verify on a copy of the unit whose
// ExecStart names an executable that exists here, and returns what it
// said: nothing, for a unit without a problem (it reports many problems,
// such as an unknown key or a value it cannot parse, as warnings while
// exiting 0).
func verify(t *testing.T, analyze, unit string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit = strings.ReplaceAll(unit, "/usr/local/bin/parley", exe)
	path := filepath.Join(t.TempDir(), "parley.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestSystemdUnit: systemd-analyze finds nothing to say about the unit,
// with its low-port lines commented out or not, and does about a broken
// one; the hardening the docs promise is there.
func TestSystemdUnit(t *testing.T) {
	analyze := tool(t, "systemd-analyze", "systemd")
	unit := read(t, "parley.service")
	if out := verify(t, analyze, unit); out != "" {
		t.Errorf("systemd-analyze verify parley.service:\n%s", out)
	}
	lowPorts := regexp.MustCompile(`(?m)^#((?:Ambient|CapabilityBounding)\w*=CAP_NET_BIND_SERVICE)$`)
	if n := len(lowPorts.FindAllString(unit, -1)); n != 2 {
		t.Fatalf("want the two commented CAP_NET_BIND_SERVICE lines, found %d", n)
	}
	if out := verify(t, analyze, lowPorts.ReplaceAllString(unit, "$1")); out != "" {
		t.Errorf("with CAP_NET_BIND_SERVICE:\n%s", out)
	}
	if out := verify(t, analyze, strings.Replace(unit, "Restart=on-failure", "Restart=sometimes", 1)); out == "" {
		t.Error("systemd-analyze says nothing of a broken unit: this test cannot fail")
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=parley", "ProtectSystem=strict", "LimitNOFILE=",
		"NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "AmbientCapabilities=\n"} {
		if !strings.Contains(unit, "\n"+want) {
			t.Errorf("parley.service has no line %q", strings.TrimSpace(want))
		}
	}
}

// makeVar returns the value of a Makefile variable (NAME = value or
// NAME ?= value).
func makeVar(t *testing.T, makefile, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` \??= (.*)$`).FindStringSubmatch(makefile)
	if m == nil {
		t.Fatalf("the Makefile has no %s", name)
	}
	return m[1]
}

// TestDockerfile: the image is built with make release's command (static,
// stamped), runs as a non-root user with the /data volume, with the
// configuration in packaging/docker.toml, and exposes exactly that
// configuration's ports.
func TestDockerfile(t *testing.T) {
	df := read(t, "../Dockerfile")
	mk := read(t, "../Makefile")
	// make's $(VAR) is the Dockerfile's ${VAR}; make's $(GO) is go.
	toDocker := strings.NewReplacer("$(GO)", "go", "$(RELEASE_LDFLAGS)", makeVar(t, mk, "RELEASE_LDFLAGS"))
	want := toDocker.Replace(makeVar(t, mk, "RELEASE_BUILD"))
	want = regexp.MustCompile(`\$\((\w+)\)`).ReplaceAllString(want, "$${$1}")
	if !strings.Contains(want, "CGO_ENABLED=0") {
		t.Errorf("make release builds without CGO_ENABLED=0: %s", want)
	}
	if !strings.Contains(df, "\nRUN "+want+" -o ") {
		t.Errorf("the Dockerfile does not build with make release's command:\n  RUN %s -o …", want)
	}
	for _, v := range regexp.MustCompile(`-X main\.(\w+)=`).FindAllStringSubmatch(want, -1) {
		if src := read(t, "../cmd/parley/version.go"); !regexp.MustCompile(`(?m)^\s+` + v[1] + `\s+string$`).MatchString(src) {
			t.Errorf("-X main.%s stamps no variable of cmd/parley", v[1])
		}
	}
	for _, v := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(want, -1) {
		if !regexp.MustCompile(`(?m)^ARG ` + v[1] + `=`).MatchString(df) {
			t.Errorf("the Dockerfile builds with ${%s} but has no ARG %s=", v[1], v[1])
		}
	}
	for _, want := range []string{"\nUSER 65532:65532\n", "\nVOLUME /data\n", "\nCOPY packaging/docker.toml /etc/parley/parley.toml\n",
		"\nCMD [\"-config\", \"/etc/parley/parley.toml\"]\n"} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile has no line %q", strings.TrimSpace(want))
		}
	}

	cfg, err := configs.Load("docker.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.DataDir != "/data" {
		t.Errorf("docker.toml keeps its data in %q, not the volume", cfg.Storage.DataDir)
	}
	_, port, _ := strings.Cut(cfg.HTTP.Listen, ":")
	ports := []string{port + "/tcp", fmt.Sprintf("%d/udp", cfg.Media.UDPPort), fmt.Sprintf("%d/tcp", cfg.Media.TCPPort),
		fmt.Sprintf("%d/udp", cfg.TURN.Port), fmt.Sprintf("%d/tcp", cfg.TURN.Port),
		fmt.Sprintf("%d-%d/udp", cfg.TURN.RelayPortMin, cfg.TURN.RelayPortMax)}
	m := regexp.MustCompile(`(?m)^EXPOSE (.*)$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("the Dockerfile exposes no port")
	}
	exposed := strings.Fields(m[1])
	slices.Sort(exposed)
	slices.Sort(ports)
	if !slices.Equal(exposed, ports) {
		t.Errorf("the Dockerfile exposes %v; docker.toml listens on %v", exposed, ports)
	}
	// The docs' docker run publishes the same ports.
	for _, p := range ports {
		num, proto, _ := strings.Cut(p, "/")
		pub := "-p " + num + ":" + num
		if proto == "udp" {
			pub += "/udp"
		}
		if !strings.Contains(df, pub) {
			t.Errorf("the Dockerfile's docker run example does not publish %s (%s)", p, pub)
		}
	}
}
