// Package netpolicy judges the addresses that a client can make the server
// send packets to: a TURN peer (CreatePermission, ChannelBind, Connect) and
// a remote ICE candidate that the SFU's ICE agent sends its connectivity
// checks to. A server that sends wherever a client says is a probe into
// the network it stands in: the operator's loopback services, the LAN
// behind the host, the cloud's metadata service at 169.254.169.254.
//
// It owns the classification of addresses (Classify) and the policy value
// that accepts or refuses them (Policy). It knows nothing of TURN or ICE:
// package turn refuses every special class unless allowlisted, package sfu
// widens that by the server's own addresses.
package netpolicy

import (
	"fmt"
	"net/netip"

	"parley/configs"
)

// Class is the kind of an address, as far as sending to it goes.
type Class uint8

// The classes. Only Global is an ordinary destination.
const (
	// Global is global unicast: the Internet.
	Global Class = iota
	// Loopback is the host itself: 127.0.0.0/8, ::1.
	Loopback
	// Private is unicast that only a local network routes: RFC 1918,
	// 100.64.0.0/10 (carrier-grade NAT), fc00::/7 and fec0::/10, and the
	// documentation and benchmarking ranges, which some networks use as
	// their own.
	Private
	// LinkLocal is 169.254.0.0/16 and fe80::/10 (the metadata services).
	LinkLocal
	// Multicast is 224.0.0.0/4, ff00::/8 and the limited broadcast.
	Multicast
	// Unspecified is 0.0.0.0/8 ("this network") and ::.
	Unspecified
	// Reserved is what no peer uses: 240.0.0.0/4, 192.0.0.0/24,
	// IPv4-compatible and IPv4-translated IPv6, Teredo, local-use NAT64,
	// the discard prefix, ORCHID.
	Reserved
	// Invalid is the zero netip.Addr.
	Invalid
)

var classNames = [...]string{"global", "loopback", "private", "link-local", "multicast", "unspecified", "reserved", "invalid"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", c)
}

// block is a special-purpose address block (IANA's IPv4 and IPv6
// special-purpose address registries, RFC 6890 and successors).
type block struct {
	prefix netip.Prefix
	class  Class
	name   string // what a refusal says
	// embedded is where an IPv4 address sits in an IPv6 one that a
	// translator or tunnel carries to it (NAT64, 6to4): that address is
	// judged instead. -1 for none.
	embedded int
}

func b(prefix string, class Class, name string) block {
	return block{prefix: netip.MustParsePrefix(prefix), class: class, name: name, embedded: -1}
}

// Longest prefixes first where blocks nest (::1 and :: inside ::/96,
// 255.255.255.255 inside 240.0.0.0/4, the 2001: blocks inside each other).
var blocks4 = []block{
	b("0.0.0.0/8", Unspecified, "unspecified"), // RFC 1122
	b("10.0.0.0/8", Private, "private"),        // RFC 1918
	b("100.64.0.0/10", Private, "private"),     // RFC 6598: carrier-grade NAT, private in effect
	b("127.0.0.0/8", Loopback, "loopback"),
	b("169.254.0.0/16", LinkLocal, "link-local"),
	b("172.16.0.0/12", Private, "private"),
	b("192.0.0.0/24", Reserved, "reserved (IETF protocol assignments)"), // RFC 6890
	b("192.0.2.0/24", Private, "documentation"),                         // RFC 5737
	b("192.88.99.0/24", Reserved, "reserved (6to4 relay anycast)"),      // RFC 7526
	b("192.168.0.0/16", Private, "private"),
	b("198.18.0.0/15", Private, "benchmarking"),    // RFC 2544
	b("198.51.100.0/24", Private, "documentation"), // RFC 5737
	b("203.0.113.0/24", Private, "documentation"),  // RFC 5737
	b("224.0.0.0/4", Multicast, "multicast"),
	b("255.255.255.255/32", Multicast, "broadcast"),      // RFC 919
	b("240.0.0.0/4", Reserved, "reserved (240.0.0.0/4)"), // RFC 1112
}

var blocks6 = []block{
	b("::/128", Unspecified, "unspecified"),
	b("::1/128", Loopback, "loopback"),
	// ::a.b.c.d, deprecated by RFC 4291: no stack sends to it natively.
	b("::/96", Reserved, "reserved (IPv4-compatible)"),
	// (::ffff:0:0/96, IPv4-mapped, is unmapped before the lookup.)
	// ::ffff:0:a.b.c.d, SIIT (RFC 2765, obsoleted): refused whole.
	b("::ffff:0:0:0/96", Reserved, "reserved (IPv4-translated)"),
	// The well-known NAT64 prefix (RFC 6052): the gateway carries the
	// packet to the IPv4 address in the last 4 bytes.
	{prefix: netip.MustParsePrefix("64:ff9b::/96"), name: "NAT64", embedded: 12},
	// Local-use NAT64 (RFC 8215): the operator's own translator, with a
	// prefix length (and so a position of the IPv4 address) of its choice
	// and into networks of its choice: refused whole.
	b("64:ff9b:1::/48", Reserved, "reserved (local-use NAT64)"),
	b("100::/64", Reserved, "reserved (discard-only)"), // RFC 6666
	// Teredo (RFC 4380) carries the packet over IPv4 through a relay to
	// the client's address in bytes 12-15 (inverted), with the Teredo
	// server's in bytes 4-7: two IPv4 addresses chosen by whoever wrote
	// the address. Teredo is a last-resort tunnel that has fallen out of
	// use, and a peer that has it also has a plain IPv4 address, so it is
	// refused whole rather than judged twice.
	b("2001::/32", Reserved, "reserved (Teredo)"),
	b("2001:2::/48", Private, "benchmarking"),                               // RFC 5180
	b("2001:10::/28", Reserved, "reserved (ORCHID)"),                        // RFC 4843
	b("2001:20::/28", Reserved, "reserved (ORCHIDv2)"),                      // RFC 7343
	b("2001:db8::/32", Private, "documentation"),                            // RFC 3849
	{prefix: netip.MustParsePrefix("2002::/16"), name: "6to4", embedded: 2}, // RFC 3056: the IPv4 address in bytes 2-5
	b("3fff::/20", Private, "documentation"),                                // RFC 9637
	b("fc00::/7", Private, "private"),                                       // RFC 4193 unique local
	b("fec0::/10", Private, "private"),                                      // site-local, deprecated by RFC 3879
	b("fe80::/10", LinkLocal, "link-local"),
	b("ff00::/8", Multicast, "multicast"),
}

// Classify returns the class of ip and what a refusal says of it ("" for
// Global), such as "loopback", "documentation", "reserved (Teredo)" or
// "private (through NAT64)". An IPv4-mapped IPv6 address is judged as its
// IPv4 address, and an IPv6 address that a translator or tunnel carries to
// an embedded IPv4 address (64:ff9b::/96, 2002::/16) as that address. A
// zone is ignored.
func Classify(ip netip.Addr) (Class, string) {
	if !ip.IsValid() {
		return Invalid, "invalid"
	}
	ip = ip.Unmap().WithZone("")
	table := blocks6
	if ip.Is4() {
		table = blocks4
	}
	for _, bl := range table {
		if !bl.prefix.Contains(ip) {
			continue
		}
		if bl.embedded < 0 {
			return bl.class, bl.name
		}
		a := ip.As16()
		c, why := Classify(netip.AddrFrom4([4]byte(a[bl.embedded : bl.embedded+4])))
		if c == Global {
			return Global, ""
		}
		return c, why + " (through " + bl.name + ")"
	}
	return Global, ""
}

// Policy accepts global unicast addresses, the networks it allows, and the
// classes it admits; it refuses the rest. The zero value accepts only
// global unicast.
type Policy struct {
	// Allow lists networks accepted whatever their class.
	Allow []netip.Prefix
	// Loopback accepts loopback addresses.
	Loopback bool
	// Private accepts private addresses (see Class Private).
	Private bool
}

// Refusal returns why p refuses ip, such as "loopback" or "private
// (through NAT64)", or "" if p accepts it.
func (p Policy) Refusal(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	for _, pfx := range p.Allow {
		if pfx.Contains(ip) {
			return ""
		}
	}
	switch c, why := Classify(ip); {
	case c == Global, c == Loopback && p.Loopback, c == Private && p.Private:
		return ""
	default:
		return why
	}
}

// ParseAllow parses an allowlist such as turn.allow_peers: CIDRs or single
// IP addresses (see configs.ParsePeerPrefix).
func ParseAllow(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range entries {
		pfx, err := configs.ParsePeerPrefix(e)
		if err != nil {
			return nil, fmt.Errorf("bad entry %q: %w", e, err)
		}
		out = append(out, pfx)
	}
	return out, nil
}
