package access

import "net/netip"

// ClientKey is the address that limits per client are counted on. An
// IPv4 address is itself; an IPv6 address is its /64, because one
// subscriber line or one cloud host usually gets a whole /64 and can
// pick any address in it: counting single IPv6 addresses would give an
// attacker 2^64 fresh ones.
func ClientKey(addr netip.Addr) netip.Addr {
	addr = addr.Unmap().WithZone("")
	if !addr.Is6() {
		return addr
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return addr
	}
	return p.Addr()
}
