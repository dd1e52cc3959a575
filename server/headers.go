package server

import (
	"net/http"
	"strings"

	"parley/access"
)

// The security headers of the main listener are set here and nowhere
// else: secureHeaders wraps every handler with the API's policy, and the
// responses that need another Content-Security-Policy say only that, with
// withPolicy. Handlers set no security header themselves.
//
// Clip media keeps the API's policy: it is served as a media type with
// nosniff, so a browser plays it or downloads it and runs nothing in it.
const (
	// apiPolicy: the API answers JSON and media, which load nothing and
	// may not be framed.
	apiPolicy = "default-src 'none'; frame-ancestors 'none'"
	// clientPolicy: the web client's pages (web/static) load their
	// modules, styles and images from the server, talk to it (fetch and
	// the websocket), play clips from it and recordings from blob: URLs,
	// and draw data: images; its manifest and its service worker come
	// from the server too; never inline code, never in a frame.
	clientPolicy = "default-src 'self'; connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'"
	// watchPolicy: the viewer page (/watch/{room}) loads as the client's
	// do and may be framed by any site, to embed a live stream: it shows
	// only what the room's access already lets anyone watch.
	watchPolicy = "default-src 'self'; connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; frame-ancestors *"
)

// clusterPolicy is a page's policy on a node of a cluster: its
// connections may also go to other hosts of the schemes given, since the
// room it joins may live on another node (a websocket after a redirect,
// a WHEP POST after a 307). Nodes come and go while a page is open, so
// they are not listed one by one; the nodes check the websocket's Origin
// (the live nodes' public URLs) themselves.
func clusterPolicy(csp, schemes string) string {
	return strings.Replace(csp, "connect-src 'self'", "connect-src 'self' "+schemes, 1)
}

// secureHeaders sets the headers every response carries, before next
// runs. Over HTTPS (directly, or as a trusted proxy says) browsers are
// told to keep to HTTPS.
func secureHeaders(proxies access.Proxies, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if proxies.Secure(r) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer") // clip keys in URLs stay here
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", apiPolicy)
		h.Set("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()")
		next.ServeHTTP(w, r)
	})
}

// withPolicy serves next under the Content-Security-Policy csp instead of
// the API's; the other headers stay as secureHeaders set them.
func withPolicy(csp string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		next.ServeHTTP(w, r)
	})
}

// framable serves next under csp (watchPolicy), without the
// X-Frame-Options that would forbid framing it.
func framable(csp string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Del("X-Frame-Options")
		w.Header().Set("Content-Security-Policy", csp)
		next.ServeHTTP(w, r)
	})
}

// crossOrigin lets pages of other sites use WHIP and WHEP (a web player,
// a browser encoder): they authenticate with a bearer token, never a
// cookie, so any origin may call them and read the headers a client
// needs. A CORS preflight (OPTIONS) is answered here; it carries no ICE
// servers, whose TURN credentials are for admitted sessions only (the
// 201 of a POST).
func crossOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Retry-After, Accept-Patch")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
			h.Set("Access-Control-Max-Age", "600")
			h.Set("Allow", "POST, PATCH, DELETE, OPTIONS")
			h.Set("Accept-Post", "application/sdp")
			h.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
