package access

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies is the list of reverse proxies whose X-Forwarded-For and
// X-Forwarded-Proto headers are believed. Requests from anywhere else are
// taken at their connection's address, whatever their headers say.
type Proxies []netip.Prefix

// Trusted reports whether addr is one of the proxies.
func (p Proxies) Trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, pr := range p {
		if pr.Contains(addr) {
			return true
		}
	}
	return false
}

// remoteAddr is the address of the request's connection.
func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// ClientIP is the address of the client that made r: the connection's
// address, or, when that is a trusted proxy, the right-most address in
// X-Forwarded-For that is not itself a trusted proxy. Malformed entries
// end the walk (the last good address is taken).
func (p Proxies) ClientIP(r *http.Request) netip.Addr {
	addr := remoteAddr(r)
	if !p.Trusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, err := netip.ParseAddr(h)
		if err != nil {
			break
		}
		addr = a.Unmap()
		if !p.Trusted(addr) {
			break
		}
	}
	return addr
}

// Secure reports whether the client reached us over TLS: directly, or,
// from a trusted proxy, as its X-Forwarded-Proto says.
func (p Proxies) Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !p.Trusted(remoteAddr(r)) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}
