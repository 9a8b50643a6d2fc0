package main

// Probes for --net user (issue #14); kept apart from main.go.
//
//	probe http URL...     GET each URL (3 s timeout): "URL: ok BODY" (the body's first line) or
//	                      "URL: error ..."; exit 0 whatever the outcomes
//	probe resolve NAME    look NAME up through the box's resolv.conf: "NAME: ADDR..." or
//	                      "NAME: error ..."
//	probe nft-flush       try to flush the nftables ruleset of its network namespace:
//	                      "nft-flush: ok" or the errno

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/nftables"
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
	default:
		return false
	}
	return true
}
