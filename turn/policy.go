package turn

import (
	"fmt"
	"net"
	"net/netip"

	"parley/configs"
)

// Policy says which peers the relay may send to. A TURN server that relays
// anywhere is an open proxy into the network it stands in: anyone with
// credentials (every participant gets some) could reach the operator's
// loopback services, the LAN behind the host, or the cloud's metadata
// service at 169.254.169.254. So the relay refuses peers on loopback,
// private, link-local, multicast and unspecified addresses, unless the
// operator lists them in turn.allow_peers.
type Policy struct {
	allow []netip.Prefix
}

// NewPolicy returns the policy with the given allowlist (entries of
// turn.allow_peers: CIDRs or single IPs).
func NewPolicy(allow []string) (Policy, error) {
	var p Policy
	for _, a := range allow {
		pfx, err := configs.ParsePeerPrefix(a)
		if err != nil {
			return Policy{}, fmt.Errorf("allow_peers: bad entry %q: %w", a, err)
		}
		p.allow = append(p.allow, pfx)
	}
	return p, nil
}

// Special IPv4 blocks that the netip predicates do not cover.
var (
	thisNetwork    = netip.MustParsePrefix("0.0.0.0/8")     // RFC 1122: "this host on this network"
	sharedAddress  = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598: carrier-grade NAT, private in effect
	limitedBcast   = netip.MustParseAddr("255.255.255.255") // RFC 919
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")  // RFC 6052: an IPv4 address behind a NAT64
)

// Refusal returns why the relay must not send to ip, such as "loopback" or
// "private", or "" if it may. The allowlist overrides every class.
func (p Policy) Refusal(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	for _, pfx := range p.allow {
		if pfx.Contains(ip) {
			return ""
		}
	}
	return addressClass(ip)
}

// addressClass names the refused class of ip, or "" for an ordinary
// (global unicast) address.
func addressClass(ip netip.Addr) string {
	if nat64WellKnown.Contains(ip) {
		// The NAT64 gateway would carry the packet to the embedded IPv4
		// address: judge that one.
		b := ip.As16()
		if c := addressClass(netip.AddrFrom4([4]byte(b[12:]))); c != "" {
			return c + " (through NAT64)"
		}
		return ""
	}
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate() || sharedAddress.Contains(ip):
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast() || ip == limitedBcast:
		return "multicast"
	}
	return ""
}

// permit is the pion/turn PermissionHandler: it runs for CreatePermission,
// ChannelBind and Connect, and without a permission the relay forwards
// nothing to a peer (nor from it).
func (p Policy) permit(peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	return ok && p.Refusal(ip) == ""
}
