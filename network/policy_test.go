package network

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // Rule.String(), "" for an error
	}{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"10.1.2.3", "10.1.2.3/32"},
		{"10.1.2.3:3128", "10.1.2.3/32:3128"},
		{"10.1.2.0/24:443", "10.1.2.0/24:443"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"[2001:db8::/32]:443", "[2001:db8::/32]:443"},
		{"[2001:db8::1]:443", "[2001:db8::1/128]:443"},
		{"::1", "::1/128"},
		{"", ""},
		{"10.0.0.0/33", ""},
		{"10.0.0.1:0", ""},
		{"10.0.0.1:65536", ""},
		{"10.0.0.1:http", ""},
		{"example.com", ""},
		{"[2001:db8::1", ""},
		{"[2001:db8::1]x", ""},
		{"::ffff:10.0.0.1", ""},
		{"fe80::1%eth0", ""},
	} {
		r, err := ParseRule(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q: want an error, got %s", tc.in, r)
		case tc.want != "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.want != "" && r.String() != tc.want:
			t.Errorf("%q: got %s, want %s", tc.in, r, tc.want)
		}
	}
}

func TestNewPolicy(t *testing.T) {
	allow, _ := ParseRule("10.1.2.3:3128")
	deny, _ := ParseRule("203.0.113.0/24")
	h := HostFacts{
		Addrs: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.1/8"),      // covered by the default
			netip.MustParsePrefix("192.0.2.10/24"),    // public: the address and its network
			netip.MustParsePrefix("2001:db8:5::7/64"), // the same, IPv6
			netip.MustParsePrefix("fe80::1/64"),       // covered
			netip.MustParsePrefix("198.51.100.9/32"),  // no network beyond itself
		},
		Gateways: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("fe80::1")},
	}
	p := NewPolicy([]Rule{allow}, []Rule{deny}, h)
	text := strings.Join(p.Lines(), "\n")
	for _, want := range []string{
		"allow 10.1.2.3/32:3128 (--allow-net)",
		"deny 169.254.0.0/16", "deny 10.0.0.0/8", "deny 100.64.0.0/10", "deny 172.16.0.0/12", "deny 192.168.0.0/16",
		"deny 0.0.0.0/8", "deny 224.0.0.0/4", "deny 168.63.129.16/32 (Azure", "deny 192.0.0.0/24", "deny 198.18.0.0/15", "deny 240.0.0.0/4", "deny ::1/128", "deny fc00::/7", "deny fe80::/10", "deny ff00::/8",
		"deny 192.0.2.10/32 (this host's address)", "deny 192.0.2.0/24 (this host's network)",
		"deny 2001:db8:5::7/128 (this host's address)", "deny 2001:db8:5::/64 (this host's network)",
		"deny 198.51.100.9/32 (this host's address)",
		"deny 203.0.113.0/24 (--deny-net)",
		"allow 169.254.1.1 port 53",
		// IPv6 forms of IPv4 addresses: mapped, local-use NAT64, and the
		// well-known NAT64 prefix's forms of every denied IPv4 range.
		"deny ::ffff:0.0.0.0/96 (IPv4-mapped)", "deny 64:ff9b:1::/48 (local-use NAT64)",
		"deny 64:ff9b::a9fe:0/112 (NAT64 of 169.254.0.0/16: link-local, cloud metadata)",
		"deny 64:ff9b::a00:0/104 (NAT64 of 10.0.0.0/8: private)",
		"deny 64:ff9b::c000:20a/128 (NAT64 of 192.0.2.10/32: this host's address)",
		"deny 64:ff9b::cb00:7100/120 (NAT64 of 203.0.113.0/24: --deny-net)",
		"deny ::/96 (IPv4-compatible", "deny 2002:a9fe::/32 (6to4 of 169.254.0.0/16: link-local, cloud metadata)",
		"deny 2002:c000:20a::/48 (6to4 of 192.0.2.10/32: this host's address)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("policy lacks %q:\n%s", want, text)
		}
	}
	for _, unwanted := range []string{"127.0.0.1/32", "fe80::1/128", "192.0.2.1/32"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("policy repeats %s, which a broader entry covers:\n%s", unwanted, text)
		}
	}
	// Allow comes before any deny.
	if strings.Index(text, "allow 10.1.2.3") > strings.Index(text, "deny") {
		t.Errorf("allow after deny:\n%s", text)
	}
}

func TestGateways(t *testing.T) {
	dir := t.TempDir()
	r4 := dir + "/route"
	writeFile(t, r4, "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")
	if g := gateways4(r4); len(g) != 1 || g[0].String() != "10.0.2.1" {
		t.Errorf("gateways4: %v", g)
	}
	r6 := dir + "/ipv6_route"
	writeFile(t, r6, "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd990000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n"+
		"fd990000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n")
	if g := gateways6(r6); len(g) != 1 || g[0].String() != "fd99::1" {
		t.Errorf("gateways6: %v", g)
	}
}

func TestNoStackNamesThePackage(t *testing.T) {
	if !strings.Contains(ErrNoStack.Error(), "apt-get install passt") {
		t.Errorf("%v", ErrNoStack)
	}
}
