// Package web serves the browser client: static files embedded in the
// binary with go:embed, so the server needs nothing on disk to serve them.
//
// The client is an installable web app: manifest.webmanifest names it and
// its icons, and sw.js, a service worker served from the root so that its
// scope is the whole client, keeps the app shell for offline starts
// (never media, clips or API answers; see sw.js).
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// Page serves the client's page name whatever the path: watch.html at
// /watch/{room}, whose script reads the room from the path.
func Page(name string) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, name)
	})
}

// Handler serves the client's files. The server sets the security
// headers, the client's Content-Security-Policy included.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch {
		case strings.HasSuffix(r.URL.Path, ".webmanifest"):
			// Not in Go's table of types; browsers want this one.
			h.Set("Content-Type", "application/manifest+json")
		case r.URL.Path == "/sw.js":
			// A browser compares the worker with the server's at each
			// visit; no cache of any kind may answer for the server.
			h.Set("Cache-Control", "no-cache")
			h.Set("Service-Worker-Allowed", "/")
		}
		files.ServeHTTP(w, r)
	})
}
