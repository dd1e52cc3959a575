package netpolicy

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		ip    string
		class Class
		why   string
	}{
		// Ordinary addresses.
		{"8.8.8.8", Global, ""},
		{"1.1.1.1", Global, ""},
		{"11.0.0.1", Global, ""},
		{"172.32.0.1", Global, ""},
		{"192.169.0.1", Global, ""},
		{"100.128.0.1", Global, ""},
		{"198.20.0.1", Global, ""},
		{"223.255.255.255", Global, ""},
		{"2001:4860:4860::8888", Global, ""},
		{"2606:4700:4700::1111", Global, ""},
		{"2001:3::1", Global, ""}, // AMT, globally reachable
		{"::ffff:8.8.8.8", Global, ""},
		{"64:ff9b::808:808", Global, ""},
		{"2002:808:808::1", Global, ""},

		// IPv4 classes.
		{"127.0.0.1", Loopback, "loopback"},
		{"127.255.0.9", Loopback, "loopback"},
		{"10.1.2.3", Private, "private"},
		{"172.16.0.1", Private, "private"},
		{"172.31.255.255", Private, "private"},
		{"192.168.1.1", Private, "private"},
		{"100.64.0.1", Private, "private"},
		{"169.254.169.254", LinkLocal, "link-local"},
		{"224.0.0.1", Multicast, "multicast"},
		{"239.255.255.250", Multicast, "multicast"},
		{"255.255.255.255", Multicast, "broadcast"},
		{"0.0.0.0", Unspecified, "unspecified"},
		{"0.1.2.3", Unspecified, "unspecified"},
		{"192.0.0.1", Reserved, "reserved (IETF protocol assignments)"},
		{"192.0.0.255", Reserved, "reserved (IETF protocol assignments)"},
		{"192.0.2.1", Private, "documentation"},
		{"198.51.100.1", Private, "documentation"},
		{"203.0.113.7", Private, "documentation"},
		{"192.88.99.1", Reserved, "reserved (6to4 relay anycast)"},
		{"198.18.0.1", Private, "benchmarking"},
		{"198.19.255.255", Private, "benchmarking"},
		{"240.0.0.1", Reserved, "reserved (240.0.0.0/4)"},
		{"254.255.255.255", Reserved, "reserved (240.0.0.0/4)"},
		{"255.255.255.254", Reserved, "reserved (240.0.0.0/4)"},

		// IPv6 classes.
		{"::1", Loopback, "loopback"},
		{"::", Unspecified, "unspecified"},
		{"fc00::1", Private, "private"},
		{"fd12:3456::1", Private, "private"},
		{"fec0::1", Private, "private"},
		{"fe80::1", LinkLocal, "link-local"},
		{"fe80::1%eth0", LinkLocal, "link-local"},
		{"febf:ffff::1", LinkLocal, "link-local"},
		{"ff02::1", Multicast, "multicast"},
		{"ff0e::1", Multicast, "multicast"},
		{"2001:db8::1", Private, "documentation"},
		{"3fff::1", Private, "documentation"},
		{"2001:2::1", Private, "benchmarking"},
		{"100::1", Reserved, "reserved (discard-only)"},
		{"2001:10::1", Reserved, "reserved (ORCHID)"},
		{"2001:20::1", Reserved, "reserved (ORCHIDv2)"},

		// IPv4-mapped (::ffff:0:0/96): the IPv4 address.
		{"::ffff:127.0.0.1", Loopback, "loopback"},
		{"::ffff:192.168.10.10", Private, "private"},
		{"::ffff:100.64.0.1", Private, "private"},
		{"::ffff:169.254.0.1", LinkLocal, "link-local"},
		{"::ffff:224.0.0.251", Multicast, "multicast"},
		{"::ffff:255.255.255.255", Multicast, "broadcast"},
		{"::ffff:0.0.0.0", Unspecified, "unspecified"},
		{"::ffff:198.18.0.1", Private, "benchmarking"},
		// IPv4-compatible (::/96): refused whole, whatever it embeds.
		{"::127.0.0.1", Reserved, "reserved (IPv4-compatible)"},
		{"::8.8.8.8", Reserved, "reserved (IPv4-compatible)"},
		{"::0.0.0.2", Reserved, "reserved (IPv4-compatible)"},
		// IPv4-translated (::ffff:0:0:0/96): refused whole.
		{"::ffff:0:7f00:1", Reserved, "reserved (IPv4-translated)"},
		{"::ffff:0:808:808", Reserved, "reserved (IPv4-translated)"},
		// Well-known NAT64 (64:ff9b::/96): the embedded address.
		{"64:ff9b::a00:1", Private, "private (through NAT64)"},
		{"64:ff9b::7f00:1", Loopback, "loopback (through NAT64)"},
		{"64:ff9b::a9fe:a9fe", LinkLocal, "link-local (through NAT64)"},
		{"64:ff9b::c612:1", Private, "benchmarking (through NAT64)"},
		{"64:ff9b::f000:1", Reserved, "reserved (240.0.0.0/4) (through NAT64)"},
		// Local-use NAT64 (64:ff9b:1::/48): refused whole.
		{"64:ff9b:1::808:808", Reserved, "reserved (local-use NAT64)"},
		{"64:ff9b:1:ffff::a00:1", Reserved, "reserved (local-use NAT64)"},
		// 6to4 (2002::/16): the IPv4 address in bytes 2-5.
		{"2002:7f00:1::1", Loopback, "loopback (through 6to4)"},
		{"2002:a00:1::1", Private, "private (through 6to4)"},
		{"2002:c0a8:101::", Private, "private (through 6to4)"},
		{"2002:a9fe:a9fe::1", LinkLocal, "link-local (through 6to4)"},
		{"2002:e000:1::1", Multicast, "multicast (through 6to4)"},
		{"2002::1", Unspecified, "unspecified (through 6to4)"},
		{"2002:c000:1::1", Reserved, "reserved (IETF protocol assignments) (through 6to4)"},
		// Teredo (2001::/32): refused whole; here its server is 8.8.8.8
		// and its client 127.0.0.1 (inverted: 80ff:fffe).
		{"2001:0:808:808::80ff:fffe", Reserved, "reserved (Teredo)"},
		{"2001::1", Reserved, "reserved (Teredo)"},

		{"", Invalid, "invalid"},
	} {
		var ip netip.Addr
		if tc.ip != "" {
			ip = netip.MustParseAddr(tc.ip)
		}
		c, why := Classify(ip)
		if c != tc.class || why != tc.why {
			t.Errorf("Classify(%s) = %s, %q; want %s, %q", tc.ip, c, why, tc.class, tc.why)
		}
	}
}

func TestPolicy(t *testing.T) {
	allow, err := ParseAllow([]string{"127.0.0.1", "10.0.0.0/8", "fd00::/8", "::ffff:192.168.5.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseAllow([]string{"10.0.0.0/33"}); err == nil {
		t.Error("ParseAllow(10.0.0.0/33) succeeded")
	}
	for _, tc := range []struct {
		name   string
		policy Policy
		ip     string
		want   string
	}{
		{"zero global", Policy{}, "8.8.8.8", ""},
		{"zero loopback", Policy{}, "127.0.0.1", "loopback"},
		{"zero private", Policy{}, "10.0.0.1", "private"},
		{"zero documentation", Policy{}, "192.0.2.1", "documentation"},
		{"zero reserved", Policy{}, "240.0.0.1", "reserved (240.0.0.0/4)"},
		{"zero 6to4", Policy{}, "2002:a00:1::1", "private (through 6to4)"},

		{"allow listed", Policy{Allow: allow}, "127.0.0.1", ""},
		{"allow mapped", Policy{Allow: allow}, "::ffff:127.0.0.1", ""},
		{"allow other loopback", Policy{Allow: allow}, "127.0.0.2", "loopback"},
		{"allow v6 loopback", Policy{Allow: allow}, "::1", "loopback"},
		{"allow net", Policy{Allow: allow}, "10.9.9.9", ""},
		{"allow net mapped", Policy{Allow: allow}, "::ffff:10.1.1.1", ""},
		{"allow other private", Policy{Allow: allow}, "172.16.0.1", "private"},
		{"allow v6 net", Policy{Allow: allow}, "fd00::5", ""},
		{"allow other ula", Policy{Allow: allow}, "fc00::1", "private"},
		{"allow mapped net", Policy{Allow: allow}, "192.168.5.77", ""},
		{"allow outside mapped net", Policy{Allow: allow}, "192.168.6.1", "private"},
		{"allow zone", Policy{Allow: allow}, "fd00::5%eth0", ""},

		{"loopback class", Policy{Loopback: true}, "127.0.0.2", ""},
		{"loopback class v6", Policy{Loopback: true}, "::1", ""},
		{"loopback class not private", Policy{Loopback: true}, "192.168.1.1", "private"},
		{"private class", Policy{Private: true}, "192.168.1.1", ""},
		{"private class documentation", Policy{Private: true}, "192.0.2.7", ""},
		{"private class ula", Policy{Private: true}, "fd00::1", ""},
		{"private class not loopback", Policy{Private: true}, "127.0.0.1", "loopback"},
		{"private class not link-local", Policy{Private: true}, "169.254.169.254", "link-local"},
		{"private class not reserved", Policy{Private: true}, "192.0.0.8", "reserved (IETF protocol assignments)"},
		{"private class not Teredo", Policy{Private: true}, "2001::1", "reserved (Teredo)"},
		{"both not multicast", Policy{Loopback: true, Private: true}, "224.0.0.1", "multicast"},
		{"both not unspecified", Policy{Loopback: true, Private: true}, "0.0.0.0", "unspecified"},
	} {
		if got := tc.policy.Refusal(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("%s: Refusal(%s) = %q, want %q", tc.name, tc.ip, got, tc.want)
		}
	}
}
