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

// Handler serves the client's files. The server sets the security
// headers, the client's Content-Security-Policy included.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.FileServerFS(sub)
}
