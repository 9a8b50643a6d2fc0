package main

// Probes for --net user (issue #14); kept apart from main.go.
//
//	probe http URL...     GET each URL (3 s timeout): "URL: ok BODY" (the body's first line) or
//	                      "URL: error ..."; exit 0 whatever the outcomes
//	probe resolve NAME    look NAME up through the box's resolv.conf: "NAME: ADDR..." or
//	                      "NAME: error ..."
//	probe packet-udp ADDR:PORT MSG   send MSG to ADDR:PORT (IPv4, UDP) through a packet socket, below
//	                      netfilter: "packet-udp: ok" or the errno
//	probe udp6-raw [ADDR]:PORT MSG   send MSG over IPv6 UDP through a raw socket (so to a v4-mapped
//	                      address too): "udp6-raw: ok" or the errno
//	probe hold-conns ADDR:PORT N   open up to N TCP connections, print "conns: K", hold them until
//	                      stdin closes
//	probe udp-from PORT ADDR:PORT   send from local UDP port PORT, then print what arrives on it
//	probe nft-flush       try to flush the nftables ruleset of its network namespace:
//	                      "nft-flush: ok" or the errno

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

func netProbe(args []string) bool {
	switch args[0] {
	case "http":
		c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
		for _, u := range args[1:] {
			resp, err := c.Get(u)
			if err != nil {
				fmt.Printf("%s: error %v\n", u, err)
				continue
			}
			line, _ := bufio.NewReader(io.LimitReader(resp.Body, 4096)).ReadString('\n')
			resp.Body.Close()
			fmt.Printf("%s: ok %s\n", u, strings.TrimSpace(line))
		}
	case "resolve":
		for _, n := range args[1:] {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			addrs, err := net.DefaultResolver.LookupHost(ctx, n)
			cancel()
			if err != nil {
				fmt.Printf("%s: error %v\n", n, err)
				continue
			}
			fmt.Printf("%s: %s\n", n, strings.Join(addrs, " "))
		}
	case "nft-flush":
		c, err := nftables.New()
		if err == nil {
			c.FlushRuleset()
			err = c.Flush()
		}
		fmt.Printf("nft-flush: %s\n", result(err))
	case "hold-conns":
		// hold-conns ADDR:PORT N: open up to N TCP connections (1 s
		// timeout each, stopping at the first failure), print "conns: K",
		// and hold them until stdin closes.
		if len(args) != 3 {
			return false
		}
		n, _ := strconv.Atoi(args[2])
		var held []net.Conn
		var err error
		for len(held) < n {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", args[1], time.Second); err != nil {
				break
			}
			held = append(held, c)
		}
		fmt.Printf("conns: %d (%v)\n", len(held), err)
		io.Copy(io.Discard, os.Stdin)
	case "udp-from":
		// udp-from PORT ADDR:PORT: send "x" from local UDP port PORT to
		// ADDR:PORT, print "udp-from: sent", then the first datagram that
		// arrives within 3 s, "udp-from: got MSG from ADDR", or
		// "udp-from: nothing".
		if len(args) != 3 {
			return false
		}
		pc, err := net.ListenPacket("udp", ":"+args[1])
		if err != nil {
			fmt.Printf("udp-from: %s\n", result(err))
			break
		}
		to, err := net.ResolveUDPAddr("udp", args[2])
		if err == nil {
			_, err = pc.WriteTo([]byte("x"), to)
		}
		if err != nil {
			fmt.Printf("udp-from: %s\n", result(err))
			break
		}
		fmt.Println("udp-from: sent")
		pc.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 1500)
		if n, from, err := pc.ReadFrom(buf); err == nil {
			fmt.Printf("udp-from: got %s from %s\n", buf[:n], from)
		} else {
			fmt.Println("udp-from: nothing")
		}
	case "packet-udp":
		if len(args) != 3 {
			return false
		}
		fmt.Printf("packet-udp: %s\n", result(packetUDP(args[1], args[2])))
	case "udp6-raw":
		if len(args) != 3 {
			return false
		}
		fmt.Printf("udp6-raw: %s\n", result(udp6Raw(args[1], args[2])))
	default:
		return false
	}
	return true
}

// packetUDP sends one UDP datagram (payload msg) to dst (IPv4 ADDR:PORT)
// through a packet socket on the box's first interface other than lo,
// below the IP layer: netfilter's output hook never sees it. A
// cooked (SOCK_DGRAM) packet socket, to the broadcast hardware address.
// "packet-udp: ok" once sent, or the errno.
func packetUDP(dst, msg string) error {
	ap, err := netip.ParseAddrPort(dst)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("want IPv4 ADDR:PORT: %q", dst)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	var ifc *net.Interface
	var src netip.Addr
	for i := range ifs {
		if ifs[i].Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifs[i].Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				ifc, src = &ifs[i], netip.AddrFrom4([4]byte(n.IP.To4()))
				break
			}
		}
		if ifc != nil {
			break
		}
	}
	if ifc == nil {
		return fmt.Errorf("no interface with an IPv4 address")
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_IP)))
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	udp := make([]byte, 8+len(msg))
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], ap.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], msg) // checksum 0: none (IPv4)
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	s4, d4 := src.As4(), ap.Addr().As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifc.Index, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	for i := 0; i < 3; i++ {
		if err := unix.Sendto(fd, append(ip, udp...), 0, sa); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// udp6Raw sends one UDP datagram over IPv6 through a raw socket, to dst
// ([ADDR]:PORT), such as an IPv4-mapped address (::ffff:a.b.c.d), which
// the kernel sends out as IPv6 where a UDP socket would turn it into IPv4.
func udp6Raw(dst, msg string) error {
	ap, err := netip.ParseAddrPort(dst)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_UDP)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	udp := make([]byte, 8+len(msg))
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], ap.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], msg)
	// The kernel fills in the UDP checksum of a raw IPv6 socket at offset 6.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_CHECKSUM, 6); err != nil {
		return err
	}
	sa := &unix.SockaddrInet6{Addr: ap.Addr().As16()}
	for i := 0; i < 3; i++ {
		if err := unix.Sendto(fd, udp, 0, sa); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
