package turn

import (
	"fmt"
	"net"
	"net/netip"

	"parley/netpolicy"
)

// Policy says which peers the relay may send to. A TURN server that relays
// anywhere is an open proxy into the network it stands in: anyone with
// credentials (every participant gets some) could reach the operator's
// loopback services, the LAN behind the host, or the cloud's metadata
// service at 169.254.169.254. So the relay refuses every address that is
// not global unicast (see netpolicy.Classify: loopback, private,
// documentation and benchmarking, link-local, multicast and broadcast,
// unspecified, reserved, and the IPv6 forms that carry such an IPv4
// address through NAT64 or 6to4, or that are refused whole, as Teredo),
// unless the operator lists it in turn.allow_peers.
type Policy struct {
	p netpolicy.Policy
}

// NewPolicy returns the policy with the given allowlist (entries of
// turn.allow_peers: CIDRs or single IPs).
func NewPolicy(allow []string) (Policy, error) {
	prefixes, err := netpolicy.ParseAllow(allow)
	if err != nil {
		return Policy{}, fmt.Errorf("allow_peers: %w", err)
	}
	return Policy{p: netpolicy.Policy{Allow: prefixes}}, nil
}

// Refusal returns why the relay must not send to ip, such as "loopback" or
// "private", or "" if it may. The allowlist overrides every class.
func (p Policy) Refusal(ip netip.Addr) string {
	return p.p.Refusal(ip)
}

// permit is the pion/turn PermissionHandler: it runs for CreatePermission,
// ChannelBind and Connect, and without a permission the relay forwards
// nothing to a peer (nor from it).
func (p Policy) permit(peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	return ok && p.Refusal(ip) == ""
}
