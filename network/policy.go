// Package network is `--net user`: a box's own network namespace joined to
// the outside by a user-mode network stack (pasta, from Debian's passt), and
// the egress policy that keeps the box away from the host, the LAN and the
// cloud metadata endpoint.
//
// The policy is enforced by nftables rules in the box's own network
// namespace, in a table the payload cannot change: the namespace belongs to
// the box's user namespace, and the payload holds no capability there (the
// Spec refuses --cap-add CAP_NET_ADMIN with --net user). The rules are
// installed before pid 1 exists, by a helper that joins the box's user and
// network namespaces before the Go runtime starts (see sandbox/netuser.go):
// the Go runtime cannot setns(2) into a user namespace.
package network

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// DNSForward is the address the box's resolv.conf names: pasta forwards
// DNS queries sent to it (UDP and TCP port 53) to the host's first
// nameserver (--dns-forward). The same address as rootless Podman's pasta
// setup; it is link-local, so nothing else in the box reaches it.
var DNSForward = netip.MustParseAddr("169.254.1.1")

// Rule is one entry of the policy: the destinations in Prefix, on Port (0:
// every port, every protocol; else TCP and UDP on that port).
type Rule struct {
	Prefix netip.Prefix `json:"net"`
	Port   uint16       `json:"port,omitempty"`
	// Why names where the entry comes from: a default, the host, a flag.
	Why string `json:"why,omitempty"`
}

func (r Rule) String() string {
	s := r.Prefix.String()
	if r.Port != 0 {
		if r.Prefix.Addr().Is6() {
			s = "[" + s + "]"
		}
		s += ":" + strconv.Itoa(int(r.Port))
	}
	return s
}

// ParseRule reads CIDR[:PORT] as --allow-net and --deny-net take it:
// 10.1.2.0/24, 10.1.2.3:3128, 10.1.2.0/24:443, 2001:db8::/32,
// [2001:db8::/32]:443, [2001:db8::1]:443, 2001:db8::1. An address without a
// prefix length is the one host.
func ParseRule(s string) (Rule, error) {
	bad := func(why string) (Rule, error) {
		return Rule{}, fmt.Errorf("%q: %s (want CIDR[:PORT], e.g. 10.0.0.0/8, 10.1.2.3:3128, [2001:db8::/32]:443)", s, why)
	}
	addr, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return bad("no closing bracket")
		}
		addr = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return bad("text after the bracket")
			}
			port = rest[1:]
		}
	} else if i := strings.LastIndexByte(s, '/'); i >= 0 {
		// A4.B.C.D/N:PORT or an IPv6 prefix (whose colons come before the slash).
		if j := strings.IndexByte(s[i:], ':'); j >= 0 {
			addr, port = s[:i+j], s[i+j+1:]
		}
	} else if strings.Count(s, ":") == 1 {
		addr, port, _ = strings.Cut(s, ":")
	}
	var r Rule
	if strings.Contains(addr, "/") {
		p, err := netip.ParsePrefix(addr)
		if err != nil {
			return bad(err.Error())
		}
		r.Prefix = p.Masked()
	} else {
		a, err := netip.ParseAddr(addr)
		if err != nil || a.Zone() != "" {
			return bad("not an IP address")
		}
		r.Prefix = netip.PrefixFrom(a, a.BitLen())
	}
	if r.Prefix.Addr().Is4In6() {
		return bad("an IPv4-mapped IPv6 address; write the IPv4 address")
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return bad("port must be 1 to 65535")
		}
		r.Port = uint16(n)
	}
	return r, nil
}

// defaultDeny is what a box in user mode may not reach, whatever the host:
// this host (its loopback), private and shared networks, link-local (the
// cloud metadata endpoint, 169.254.169.254), multicast, and what is not a
// destination at all.
var defaultDeny = []struct{ cidr, why string }{
	{"0.0.0.0/8", "this network"},
	{"10.0.0.0/8", "private"},
	{"100.64.0.0/10", "shared address space (carrier-grade NAT)"},
	{"127.0.0.0/8", "loopback"},
	{"169.254.0.0/16", "link-local, cloud metadata"},
	{"172.16.0.0/12", "private"},
	{"192.168.0.0/16", "private"},
	{"168.63.129.16/32", "Azure's host endpoint (WireServer: a VM's goal state, extension settings, DNS)"},
	{"192.0.0.0/24", "IETF protocol assignments"},
	{"198.18.0.0/15", "benchmarking, used inside networks"},
	{"224.0.0.0/4", "multicast"},
	{"240.0.0.0/4", "reserved"},
	{"255.255.255.255/32", "broadcast"},
	{"::1/128", "loopback"},
	{"::/128", "unspecified"},
	{"fc00::/7", "unique local"},
	{"fe80::/10", "link-local"},
	{"ff00::/8", "multicast"},
	// IPv6 addresses that stand for IPv4 ones: an IPv4-mapped address is
	// the IPv4 host to a host socket (pasta's, opened for the box), and
	// the local-use NAT64 prefix (RFC 8215) translates to whatever its
	// network chose. The well-known NAT64 prefix carries public IPv4
	// hosts too: only the NAT64 forms of the denied IPv4 ranges are
	// denied (NewPolicy).
	{"::ffff:0:0/96", "IPv4-mapped"},
	{"::/96", "IPv4-compatible (deprecated; a host's sit device tunnels it to the IPv4 host)"},
	{"64:ff9b:1::/48", "local-use NAT64"},
}

// nat64 is the well-known NAT64 prefix (RFC 6052): where the host's network
// has a NAT64 (an IPv6-only cloud subnet), 64:ff9b::a.b.c.d is the IPv4 host
// a.b.c.d, the LAN's and the metadata endpoint's included.
var nat64 = netip.MustParseAddr("64:ff9b::")

// nat64Of is the NAT64 form of an IPv4 prefix.
func nat64Of(p netip.Prefix) netip.Prefix {
	b := nat64.As16()
	a := p.Addr().As4()
	copy(b[12:], a[:])
	return netip.PrefixFrom(netip.AddrFrom16(b), 96+p.Bits())
}

// sixToFourOf is the 6to4 form (2002:V4ADDR::/16+N, RFC 3056) of an IPv4
// prefix: a host with a 6to4 tunnel sends it, in IPv4, to that IPv4 host.
func sixToFourOf(p netip.Prefix) netip.Prefix {
	var b [16]byte
	b[0], b[1] = 0x20, 0x02
	a := p.Addr().As4()
	copy(b[2:], a[:])
	return netip.PrefixFrom(netip.AddrFrom16(b), 16+p.Bits())
}

// Policy is the egress policy of a box in user mode. The rules apply in this
// order: the box's own loopback is always allowed; then Allow; then the DNS
// forwarder (DNS, port 53); then every Deny entry is refused; the rest (the
// public internet) is allowed.
type Policy struct {
	Allow []Rule     `json:"allow,omitempty"`
	DNS   netip.Addr `json:"dns"`
	Deny  []Rule     `json:"deny"`
}

// HostFacts are the host's own addresses, networks and gateways, which the
// box may not reach either: through the stack, a connection to one of the
// host's addresses reaches the host's own services.
type HostFacts struct {
	Addrs    []netip.Prefix // each address with its on-link prefix
	Gateways []netip.Addr
}

// NewPolicy is the default policy plus the host's addresses, its on-link
// networks and its gateways, then --deny-net (deny) and --allow-net (allow).
func NewPolicy(allow, deny []Rule, h HostFacts) Policy {
	p := Policy{DNS: DNSForward, Allow: append([]Rule(nil), allow...)}
	for _, d := range defaultDeny {
		p.Deny = append(p.Deny, Rule{Prefix: netip.MustParsePrefix(d.cidr), Why: d.why})
	}
	covered := func(a netip.Prefix) bool {
		for _, r := range p.Deny {
			if r.Port == 0 && r.Prefix.Bits() <= a.Bits() && r.Prefix.Contains(a.Addr()) {
				return true
			}
		}
		return false
	}
	add := func(pf netip.Prefix, why string) {
		if pf.Addr().Is4In6() {
			pf = netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-96)
		}
		if !covered(pf) {
			p.Deny = append(p.Deny, Rule{Prefix: pf.Masked(), Why: why})
		}
	}
	for _, a := range h.Addrs {
		add(netip.PrefixFrom(a.Addr(), a.Addr().BitLen()), "this host's address")
		if a.Bits() < a.Addr().BitLen() {
			add(a, "this host's network")
		}
	}
	for _, g := range h.Gateways {
		add(netip.PrefixFrom(g, g.BitLen()), "this host's gateway")
	}
	for _, d := range deny {
		if d.Why == "" {
			d.Why = "--deny-net"
		}
		p.Deny = append(p.Deny, d)
	}
	// Each denied IPv4 range, the host's own addresses and --deny-net's
	// included, is denied in its NAT64 and 6to4 forms too.
	for _, r := range p.Deny {
		if r.Prefix.Addr().Is4() {
			p.Deny = append(p.Deny, Rule{Prefix: nat64Of(r.Prefix), Port: r.Port, Why: "NAT64 of " + r.String() + ": " + r.Why},
				Rule{Prefix: sixToFourOf(r.Prefix), Port: r.Port, Why: "6to4 of " + r.String() + ": " + r.Why})
		}
	}
	for i := range p.Allow {
		if p.Allow[i].Why == "" {
			p.Allow[i].Why = "--allow-net"
		}
	}
	return p
}

// Lines render the policy for --dry-run, one rule a line, in the order the
// rules apply.
func (p Policy) Lines() []string {
	l := []string{"allow the box's own loopback"}
	for _, r := range p.Allow {
		l = append(l, fmt.Sprintf("allow %s (%s)", r, r.Why))
	}
	l = append(l, fmt.Sprintf("allow %s port 53 (DNS, forwarded by pasta to the host's resolver)", p.DNS))
	l = append(l, "allow ICMPv6 neighbour discovery (router and neighbour solicitations and advertisements)")
	for _, r := range p.Deny {
		l = append(l, fmt.Sprintf("deny %s (%s)", r, r.Why))
	}
	l = append(l, "allow everything else (the internet)")
	return append(l, fmt.Sprintf("outgoing UDP from a random source port of %d-%d (pasta binds the box's source ports on the host)", UDPPortMin, UDPPortMax))
}

// ReadHostFacts reads this process's network namespace: its addresses (by
// interface) and its default routes' gateways.
func ReadHostFacts() (HostFacts, error) {
	var h HostFacts
	ifaces, err := net.Interfaces()
	if err != nil {
		return h, err
	}
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			ones, _ := n.Mask.Size()
			ip = ip.Unmap()
			h.Addrs = append(h.Addrs, netip.PrefixFrom(ip, ones))
		}
	}
	h.Gateways = append(gateways4("/proc/net/route"), gateways6("/proc/net/ipv6_route")...)
	return h, nil
}

// gateways4 reads the gateways of /proc/net/route's default routes.
func gateways4(path string) []netip.Addr {
	return defaultRoutes(path, func(fl []string) []byte {
		if len(fl) < 3 || fl[1] != "00000000" {
			return nil
		}
		// The kernel prints the address (network order in memory) as a
		// host-order integer.
		v, err := strconv.ParseUint(fl[2], 16, 32)
		if err != nil {
			return nil
		}
		return binary.NativeEndian.AppendUint32(nil, uint32(v))
	})
}

// gateways6 reads the next hops of /proc/net/ipv6_route's default routes.
func gateways6(path string) []netip.Addr {
	return defaultRoutes(path, func(fl []string) []byte {
		if len(fl) < 5 || fl[0] != strings.Repeat("0", 32) || fl[1] != "00" {
			return nil
		}
		b, err := hex.DecodeString(fl[4])
		if err != nil || len(b) != 16 {
			return nil
		}
		return b
	})
}

// defaultRoutes reads a /proc/net route table: hop gives the next hop of a
// line's fields if it is a default route (4 or 16 bytes), else nil.
func defaultRoutes(path string, hop func(fields []string) []byte) []netip.Addr {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []netip.Addr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		a, ok := netip.AddrFromSlice(hop(strings.Fields(sc.Text())))
		if ok && !a.IsUnspecified() {
			out = append(out, a)
		}
	}
	return out
}
