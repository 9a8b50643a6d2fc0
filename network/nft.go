package network

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// UDPPortMin and UDPPortMax bound the source ports of the box's outgoing
// UDP, which pasta binds on the host (Install).
const (
	UDPPortMin = 40000
	UDPPortMax = 60999
)

// TableName is the nftables table (family inet) that holds a box's policy,
// in the box's own network namespace.
const TableName = "sandbox"

// Install programs the policy into the calling process's network namespace:
// one inet table with an output chain (policy accept) whose rules follow
// Policy's order. A denied destination gets a TCP reset, or for other
// protocols an ICMP "administratively prohibited", at once, rather than a
// silent drop that would hang the payload until its own timeout.
// The caller needs CAP_NET_ADMIN in the namespace's user namespace.
func Install(p Policy) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: TableName})
	policy := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{
		Name: "output", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &policy,
	})
	add := func(e ...expr.Any) { c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e}) }
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	reject := &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}
	rst := &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}
	tcp := []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}}}

	// The box's own loopback: ifindex 1 in every network namespace. It
	// carries the box's traffic to its own addresses too.
	add(&expr.Meta{Key: expr.MetaKeyOIF, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, 1)}, accept)
	for _, r := range p.Allow {
		for _, m := range match(r) {
			add(append(m, accept)...)
		}
	}
	dnsPrefix := netip.PrefixFrom(p.DNS, p.DNS.BitLen())
	for _, m := range match(Rule{Prefix: dnsPrefix, Port: 53}) {
		add(append(m, accept)...)
	}
	// IPv6 needs neighbour discovery to reach its gateway, and it goes to
	// link-local and multicast addresses, which are denied below: router
	// solicitation (133) to neighbour advertisement (136) only.
	add(&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: []byte{133}, ToData: []byte{136}},
		accept)
	for _, r := range p.Deny {
		// TCP gets a reset, so that connect fails with ECONNREFUSED at
		// once: an ICMP error is a soft error to a SYN, retried for a
		// second or more. With a port, match gives the TCP rule first.
		ms := match(r)
		if r.Port != 0 {
			add(append(ms[0], rst)...)
			add(append(ms[1], reject)...)
			continue
		}
		m := ms[0]
		add(append(append(m[:len(m):len(m)], tcp...), rst)...)
		add(append(m, reject)...)
	}
	// pasta sends the box's UDP from a host socket bound to the box's
	// source port, on every host address: a box that sent from port P held
	// the host's UDP port P, and got what others sent there. Outgoing UDP
	// gets a fully random source port of 40000-60999 (the top of the
	// host's ephemeral range, where services do not listen), which the
	// payload cannot choose.
	nat := c.AddChain(&nftables.Chain{
		Name: "udp-ports", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &policy,
	})
	for _, fam := range []byte{unix.NFPROTO_IPV4, unix.NFPROTO_IPV6} {
		c.AddRule(&nftables.Rule{Table: t, Chain: nat, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
			&expr.Meta{Key: expr.MetaKeyOIF, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, 1)},
			&expr.Immediate{Register: 1, Data: binary.BigEndian.AppendUint16(nil, UDPPortMin)},
			&expr.Immediate{Register: 2, Data: binary.BigEndian.AppendUint16(nil, UDPPortMax)},
			// The source port only (no address registers), from the
			// range, at random every time.
			&expr.NAT{Type: expr.NATTypeSourceNAT, Family: uint32(fam), RegProtoMin: 1, RegProtoMax: 2,
				FullyRandom: true, Specified: true},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return nil
}

// match is the expressions that select a rule's destinations: one list
// without a port, two (TCP, UDP) with one.
func match(r Rule) [][]expr.Any {
	a := r.Prefix.Addr()
	proto, off, n := byte(unix.NFPROTO_IPV4), uint32(16), uint32(4) // IPv4 daddr
	if a.Is6() {
		proto, off, n = unix.NFPROTO_IPV6, 24, 16 // IPv6 daddr
	}
	mask := net.CIDRMask(r.Prefix.Bits(), int(n)*8)
	base := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
	}
	if r.Port == 0 {
		return [][]expr.Any{base}
	}
	var out [][]expr.Any
	for _, l4 := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
		m := append(append([]expr.Any(nil), base...),
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{l4}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, r.Port)})
		out = append(out, m)
	}
	return out
}
