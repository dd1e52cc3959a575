package server

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"parley/web"
)

// TestHeaderPolicy: every response of the main listener's handler chain
// carries the security headers, whatever the handler does (a JSON
// answer, an error, media served with ServeContent, the web client's
// files and its 404s); only the web client has another
// Content-Security-Policy, and HSTS is sent over HTTPS only.
func TestHeaderPolicy(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	})
	mux.HandleFunc("GET /api/error", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusNotFound)
	})
	mux.HandleFunc("GET /api/media", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/webm")
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader("media"))
	})
	mux.Handle("GET /", withPolicy(clientPolicy, web.Handler()))
	h := secureHeaders(nil, mux)

	common := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
		"Permissions-Policy":     "camera=(self), microphone=(self), geolocation=()",
	}
	for _, c := range []struct {
		path, csp string
		status    int
	}{
		{"/api/json", apiPolicy, 200},
		{"/api/error", apiPolicy, 404},
		{"/api/media", apiPolicy, 200},
		{"/", clientPolicy, 200},
		{"/no-such-file.js", clientPolicy, 404},
	} {
		for _, https := range []bool{false, true} {
			req := httptest.NewRequest("GET", c.path, nil)
			if https {
				req.TLS = &tls.ConnectionState{}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Result().Header
			if rec.Code != c.status {
				t.Errorf("GET %s: %d, want %d", c.path, rec.Code, c.status)
			}
			for k, v := range common {
				if got.Get(k) != v {
					t.Errorf("GET %s: %s %q, want %q", c.path, k, got.Get(k), v)
				}
			}
			if csp := got.Values("Content-Security-Policy"); len(csp) != 1 || csp[0] != c.csp {
				t.Errorf("GET %s: Content-Security-Policy %q, want %q", c.path, csp, c.csp)
			}
			if hsts := got.Get("Strict-Transport-Security") != ""; hsts != https {
				t.Errorf("GET %s (https %v): HSTS %v", c.path, https, hsts)
			}
		}
	}
	if strings.Contains(clientPolicy, "unsafe-inline") || strings.Contains(clientPolicy, "unsafe-eval") {
		t.Errorf("the client's policy allows inline code: %q", clientPolicy)
	}
}

// TestWatchPage: /watch/{room} is the viewer page, which any site may
// frame; the client's other pages may not be framed.
func TestWatchPage(t *testing.T) {
	srv := startServer(t, nil)
	resp, body := srv.fetch(t, "GET", "/watch/live?embed=1", "", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "/watch.js") {
		t.Fatalf("GET /watch/live: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); csp != watchPolicy || resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("the watch page: CSP %q, X-Frame-Options %q", csp, resp.Header.Get("X-Frame-Options"))
	}
	if strings.Contains(watchPolicy, "unsafe-") || !strings.Contains(watchPolicy, "frame-ancestors *") {
		t.Errorf("watchPolicy %q", watchPolicy)
	}
	resp, _ = srv.fetch(t, "GET", "/", "", nil)
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Content-Security-Policy") != clientPolicy {
		t.Errorf("GET /: X-Frame-Options %q, CSP %q", resp.Header.Get("X-Frame-Options"), resp.Header.Get("Content-Security-Policy"))
	}
}
