package server

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestWebAppFiles: the manifest, the service worker and the icons are
// served from the root with the types browsers want and the client's
// policy, which names where a manifest and a worker may come from; the
// worker is never taken from a cache without asking the server; the
// manifest names an app that opens standalone at the root, with icons
// that exist, a maskable one among them.
func TestWebAppFiles(t *testing.T) {
	srv := startServer(t, nil)
	for _, c := range []struct{ path, ctype string }{
		{"/manifest.webmanifest", "application/manifest+json"},
		{"/sw.js", "javascript"},
		{"/app.js", "javascript"},
		{"/icon.svg", "image/svg+xml"},
		{"/icon-192.png", "image/png"},
		{"/icon-512.png", "image/png"},
		{"/icon-maskable-512.png", "image/png"},
	} {
		resp, _ := srv.fetch(t, "GET", c.path, "", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("GET %s: %s, Content-Type %q, want 200 and %s", c.path, resp.Status, resp.Header.Get("Content-Type"), c.ctype)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); csp != clientPolicy {
			t.Errorf("GET %s: Content-Security-Policy %q, want the client's", c.path, csp)
		}
	}
	for _, d := range []string{"manifest-src 'self'", "worker-src 'self'"} {
		if !strings.Contains(clientPolicy, d) {
			t.Errorf("the client's policy lacks %q: %s", d, clientPolicy)
		}
	}
	resp, _ := srv.fetch(t, "GET", "/sw.js", "", nil)
	if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("Service-Worker-Allowed") != "/" {
		t.Errorf("GET /sw.js: Cache-Control %q, Service-Worker-Allowed %q; want no-cache and /",
			resp.Header.Get("Cache-Control"), resp.Header.Get("Service-Worker-Allowed"))
	}

	_, body := srv.fetch(t, "GET", "/manifest.webmanifest", "", nil)
	var m struct {
		Name            string `json:"name"`
		StartURL        string `json:"start_url"`
		Scope           string `json:"scope"`
		Display         string `json:"display"`
		ThemeColor      string `json:"theme_color"`
		BackgroundColor string `json:"background_color"`
		Icons           []struct{ Src, Sizes, Type, Purpose string }
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("manifest: %v: %s", err, body)
	}
	if m.Name == "" || m.StartURL != "/" || m.Scope != "/" || m.Display != "standalone" || m.ThemeColor == "" || m.BackgroundColor == "" {
		t.Errorf("manifest: %s", body)
	}
	var maskable, big bool
	for _, ic := range m.Icons {
		resp, _ := srv.fetch(t, "GET", ic.Src, "", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ic.Type {
			t.Errorf("icon %s: %s, Content-Type %q, manifest says %q", ic.Src, resp.Status, resp.Header.Get("Content-Type"), ic.Type)
		}
		maskable = maskable || ic.Purpose == "maskable"
		big = big || ic.Sizes == "512x512"
	}
	if !maskable || !big {
		t.Errorf("manifest icons %+v: want a maskable one and one of 512x512", m.Icons)
	}
}

// TestServiceWorkerShell: what the service worker may keep is the app
// shell and nothing else. Its list is every file of the client but the
// worker itself and the viewer page's (a module added to web/static must
// be added there, or an offline start would miss it), the page as "/",
// and no path of the API,
// the clips, the websocket or WHIP; the worker answers only requests of
// that list and caches nothing it did not find in it; the API is routed
// past it altogether where the browser can.
func TestServiceWorkerShell(t *testing.T) {
	src, err := os.ReadFile("../web/static/sw.js")
	if err != nil {
		t.Fatal(err)
	}
	list := regexp.MustCompile(`(?s)const SHELL = \[(.*?)\];`).FindSubmatch(src)
	if list == nil {
		t.Fatal("sw.js: no SHELL list")
	}
	var shell []string
	for _, m := range regexp.MustCompile(`'([^']*)'`).FindAllSubmatch(list[1], -1) {
		shell = append(shell, string(m[1]))
	}

	want := []string{"/"}
	err = fs.WalkDir(os.DirFS("../web/static"), ".", func(p string, d fs.DirEntry, err error) error {
		// The viewer page (/watch/{room}, embedded by other sites) is not
		// the app: it is not kept.
		if err != nil || d.IsDir() || p == "sw.js" || p == "index.html" || strings.HasPrefix(p, "watch.") {
			return err
		}
		want = append(want, "/"+p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(shell))
	if !slices.Equal(got, want) {
		t.Errorf("sw.js SHELL %v\nwant the client's files %v", got, want)
	}
	for _, p := range shell {
		for _, bad := range []string{"/api/", "/ws", "/whip/", "/healthz"} {
			if strings.HasPrefix(p, bad) {
				t.Errorf("sw.js SHELL has %s, which is not the app shell", p)
			}
		}
	}
	// The worker caches only in answer to a shell request: one put, after
	// the isShell check, and the install's addAll of SHELL.
	s := string(src)
	if strings.Count(s, "cache.put(") != 1 || strings.Count(s, ".addAll(") != 1 || !strings.Contains(s, "if (!isShell(req)) return;") ||
		strings.Index(s, "if (!isShell(req)) return;") > strings.Index(s, "cache.put(") {
		t.Error("sw.js caches something besides the shell: its fetch handler must return at once for any other request")
	}

	// Where browsers route requests themselves, the API (clips' media
	// among it) goes past the worker to the network.
	if !regexp.MustCompile(`const PAST = \[[^\]]*'/api/\*'`).MatchString(s) {
		t.Error("sw.js: the API is not routed past the worker (PAST)")
	}

	// Every path of the list is served.
	srv := startServer(t, nil)
	for _, p := range shell {
		if resp, _ := srv.fetch(t, "GET", p, "", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s (in the shell): %s", p, resp.Status)
		}
	}
}
