package sfu

import (
	"log/slog"
	"net/netip"
	"strings"

	"github.com/pion/ice/v4"

	"parley/netpolicy"
)

// candidatePolicy is the rule for the clients' remote ICE candidates. The
// ICE agent sends connectivity checks (STUN requests) to every remote
// candidate, so a client that names an address makes the server send
// there: without a rule, anyone who joins could probe the operator's
// loopback services or the LAN behind the host. The rule:
//
//   - a candidate whose address is not an IP address is dropped: host
//     names, and mDNS names (.local), which the server does not resolve;
//   - an address in allow (turn.allow_peers) is checked, whatever its class;
//   - a global unicast address is checked;
//   - a loopback address only when the server itself offers loopback
//     candidates: its media listen IP is loopback, or loopback is set;
//   - a private address (RFC 1918, 100.64.0.0/10, fc00::/7, and the
//     documentation and benchmarking ranges that some networks use as
//     their own; see netpolicy.Private) only when the server is on such a
//     network itself: its listen IP or its public IP is private, or it
//     listens on every interface (0.0.0.0 or ::) without a public IP, the
//     set-up of a server on a LAN. A server with a public address serves
//     a LAN client by the client's public (server-reflexive) candidate;
//   - every other class is dropped, always: link-local (the cloud's
//     metadata service), multicast and broadcast, unspecified, reserved,
//     and the IPv6 forms that carry a refused IPv4 address or that are
//     refused whole (see netpolicy.Classify).
func candidatePolicy(listen, public netip.Addr, loopback bool, allow []netip.Prefix) netpolicy.Policy {
	listenClass, _ := netpolicy.Classify(listen)
	publicClass, _ := netpolicy.Classify(public)
	return netpolicy.Policy{
		Allow:    allow,
		Loopback: loopback || listenClass == netpolicy.Loopback,
		Private: listenClass == netpolicy.Private || (public.IsValid() && publicClass == netpolicy.Private) ||
			(listenClass == netpolicy.Unspecified && !public.IsValid()),
	}
}

// candidateRefusal returns why the server must not check the remote
// candidate c (an a=candidate value, with or without "a=" and
// "candidate:"), or "" if it may. A candidate that does not parse is left
// to Pion, which refuses it with the same parser.
func (e *Engine) candidateRefusal(c string) string {
	cand, err := ice.UnmarshalCandidate(strings.TrimPrefix(c, "a="))
	if err != nil {
		return ""
	}
	ip, err := netip.ParseAddr(cand.Address())
	if err != nil {
		if strings.HasSuffix(strings.ToLower(cand.Address()), ".local") {
			return "mDNS name"
		}
		return "not an IP address"
	}
	return e.candidates.Refusal(ip)
}

// filterCandidates returns sdp without the a=candidate lines that
// candidateRefusal refuses; the refusals are logged at debug level.
func (p *Participant) filterCandidates(pc, sdp string) string {
	return p.room.engine.filterCandidates(p.log.With("pc", pc), sdp)
}

// filterCandidates is Participant.filterCandidates for any connection,
// logging to log.
func (e *Engine) filterCandidates(log *slog.Logger, sdp string) string {
	if !strings.Contains(sdp, "a=candidate:") {
		return sdp
	}
	lines := strings.SplitAfter(sdp, "\n")
	kept := lines[:0]
	for _, l := range lines {
		value, ok := strings.CutPrefix(strings.TrimRight(l, "\r\n"), "a=")
		if ok && strings.HasPrefix(value, "candidate:") {
			if why := e.candidateRefusal(value); why != "" {
				log.Debug("remote candidate dropped", "candidate", value, "why", why)
				continue
			}
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "")
}
