package configs

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// problems checks the [turn] section.
func (t TURN) problems(p *problems) {
	listen, err := netip.ParseAddr(t.ListenIP)
	if err != nil {
		p.add("turn.listen_ip", "want an IP address like \"127.0.0.1\" or \"0.0.0.0\", got %q", t.ListenIP)
	}
	checkPortRequired(p, "turn.port", t.Port)
	checkPortRequired(p, "turn.tls_port", t.TLSPort)
	switch {
	case (t.TLSCert == "") != (t.TLSKey == ""):
		p.add("turn.tls_cert", "tls_cert and tls_key must both be set (TURN over TLS) or both be empty, got tls_cert %q and tls_key %q", t.TLSCert, t.TLSKey)
	case t.TLSCert != "" && t.TLSPort == t.Port:
		p.add("turn.tls_port", "must differ from turn.port (%d): both are TCP ports", t.Port)
	}
	if t.Host != "" && !validHost(t.Host) {
		p.add("turn.host", "want a host name or IP address clients can reach, like \"turn.example.org\" (or \"\" for public_ip), got %q", t.Host)
	}
	if t.PublicIP != "" {
		if ip, err := netip.ParseAddr(t.PublicIP); err != nil {
			p.add("turn.public_ip", "want an IP address like \"203.0.113.7\" (or \"\" for listen_ip), got %q", t.PublicIP)
		} else if ip.IsUnspecified() || ip.IsMulticast() {
			p.add("turn.public_ip", "must be an address clients can reach, got %q", t.PublicIP)
		}
	} else if err == nil && listen.IsUnspecified() && t.Enabled {
		p.add("turn.public_ip", "must be set when turn.listen_ip is %q: it is the relay address clients are told to use", t.ListenIP)
	}
	checkPortRequired(p, "turn.relay_port_min", t.RelayPortMin)
	checkPortRequired(p, "turn.relay_port_max", t.RelayPortMax)
	if t.RelayPortMin > t.RelayPortMax {
		p.add("turn.relay_port_min", "must not be greater than relay_port_max (%d), got %d", t.RelayPortMax, t.RelayPortMin)
	}
	if msg := checkRealm(t.Realm); msg != "" {
		p.add("turn.realm", "%s", msg)
	}
	if t.Secret != "" {
		switch {
		case len(t.Secret) < 16:
			p.add("turn.secret", "must be at least 16 characters (or \"\" to generate one), got %d", len(t.Secret))
		case strings.TrimSpace(t.Secret) != t.Secret:
			p.add("turn.secret", "must not start or end with white space")
		}
	}
	if d := t.TTL; d < Duration(time.Minute) || d > Duration(168*time.Hour) {
		p.add("turn.ttl", "must be between 1m and 168h, got %s", d)
	}
	for i, a := range t.AllowPeers {
		if _, err := ParsePeerPrefix(a); err != nil {
			p.add("turn.allow_peers", "entry %d: want a CIDR like \"10.0.0.0/8\" or an IP address, got %q", i+1, a)
		}
	}
	checkAtLeast(p, "turn.max_allocations_per_user", int64(t.MaxAllocationsPerUser), 1)
	checkAtLeast(p, "turn.max_allocations_per_ip", int64(t.MaxAllocationsPerIP), 1)
	checkAtLeast(p, "turn.max_allocations", int64(t.MaxAllocations), 1)
	for i, e := range t.External {
		if msg := e.problem(); msg != "" {
			p.add("turn.external", "entry %d: %s", i+1, msg)
		}
	}
}

func checkPortRequired(p *problems, key string, v int) {
	if v < 1 || v > 65535 {
		p.add(key, "port %d out of range 1-65535", v)
	}
}

// ParsePeerPrefix parses an entry of turn.allow_peers: a CIDR ("10.0.0.0/8")
// or a single IP address (the same as /32 or /128). The prefix is masked and
// an IPv4-mapped IPv6 prefix is turned into IPv4.
func ParsePeerPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
			pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
		}
		return pfx.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// checkRealm returns "" if r is a usable TURN realm, else the problem.
func checkRealm(r string) string {
	if r == "" {
		return "must not be empty"
	}
	if n := len([]rune(r)); n > 127 {
		return "must be at most 127 characters, got " + strconv.Itoa(n)
	}
	for _, c := range r {
		if !unicode.IsPrint(c) || c == '"' || c == '\\' {
			return "must be printable characters without quotes or backslashes, got " + strconv.Quote(r)
		}
	}
	return ""
}

// problem returns "" if e is a usable ICE server entry, else the problem.
func (e ICEServer) problem() string {
	if len(e.URLs) == 0 {
		return "urls must list at least one stun:, turn: or turns: URL"
	}
	turn := false
	for _, u := range e.URLs {
		scheme, msg := checkICEURL(u)
		if msg != "" {
			return msg
		}
		turn = turn || scheme != "stun"
	}
	switch {
	case e.UseSecret && (e.Username != "" || e.Credential != ""):
		return "set either use_secret or username and credential, not both"
	case e.UseSecret && !turn:
		return "use_secret is set but there is no turn: or turns: URL to use it with"
	case turn && !e.UseSecret && (e.Username == "" || e.Credential == ""):
		return "turn: and turns: URLs need username and credential, or use_secret = true"
	}
	return ""
}

// checkICEURL checks a stun:, turn: or turns: URL (RFC 7064, RFC 7065) and
// returns its scheme, or the problem.
func checkICEURL(u string) (scheme, problem string) {
	const want = "want a URL like \"turn:turn.example.org:3478?transport=udp\" (scheme stun:, turn: or turns:)"
	bad := func(why string) (string, string) {
		if why != "" {
			why = " (" + why + ")"
		}
		return "", want + ", got " + strconv.Quote(u) + why
	}
	scheme, rest, ok := strings.Cut(u, ":")
	if !ok {
		return bad("no scheme")
	}
	switch scheme {
	case "stun", "turn", "turns":
	default:
		return bad("scheme must be stun, turn or turns")
	}
	hostport, query, hasQuery := strings.Cut(rest, "?")
	if hasQuery {
		if scheme == "stun" {
			return bad("a stun: URL has no query")
		}
		if query != "transport=udp" && query != "transport=tcp" {
			return bad("the query may only be transport=udp or transport=tcp")
		}
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
		if port == "" {
			return bad("empty port")
		}
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	} else if strings.Contains(hostport, ":") {
		return bad("bad host or port; write an IPv6 address in brackets")
	}
	if host == "" || strings.HasPrefix(host, "//") || !validHost(host) {
		return bad("bad host")
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad("port out of range 1-65535")
		}
	}
	return scheme, ""
}
