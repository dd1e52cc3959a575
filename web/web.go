// Package web serves the browser client: static files embedded in the
// binary with go:embed, so the server needs nothing on disk to serve them.
package web

import (
	"embed"
	"io/fs"
	"net/http"
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
	return http.FileServerFS(sub)
}
