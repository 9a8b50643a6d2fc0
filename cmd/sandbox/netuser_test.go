package main

// --net user (issue #14). Every test here runs in a lab the test builds as
// root: network namespaces joined by veth pairs, with no route off the
// machine, and every address a box is sent to exists on one of them, so a
// broken filter still sends nothing off this machine.
//
//	lab host "h" (where sandbox runs, as the test user):
//	    veth 10.99.0.2/24, fd99::2/64, default routes via the router;
//	    203.0.113.77/32 on its loopback ("its own address"), servers on
//	    127.0.0.1:8080, 203.0.113.77:80 and 10.99.0.2:80
//	router "r": 10.99.0.1, fd99::1 towards h; 203.0.113.1, 2001:db8:1::1
//	    towards p; 10.99.1.10 (the "LAN" host) and 169.254.169.254 (the
//	    "metadata" host) on its loopback; a server on port 80 of them all
//	public "p": 203.0.113.10/24, 2001:db8:1::10/64 (the "public" host,
//	    behind the router, so that it is not the gateway pasta knows):
//	    a server on port 80; 203.0.113.53, the DNS server the lab host's
//	    resolv.conf names (/etc/netns/<h>/resolv.conf, bound by
//	    `ip netns exec`), answering public.test.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

type lab struct {
	h, r, p string // the namespaces' names
	asRoot  bool   // run the sandbox as the caller (root), not the test user
}

// newLab builds the lab and starts its servers; all of it goes at the end
// of the test.
func newLab(t *testing.T) *lab {
	t.Helper()
	need(t)
	testenv.NeedRoot(t, "to build the lab's network namespaces")
	if _, err := exec.LookPath("pasta"); err != nil {
		testenv.Skip(t, "pasta is not installed (apt-get install passt; make deps installs it)")
	}
	if env.probe == "" {
		t.Fatal("no probe")
	}
	// pasta makes the box's tap device through /dev/net/tun (TestMain's
	// openTun makes it usable by the test user).
	if fi, err := os.Stat("/dev/net/tun"); err != nil {
		testenv.Skip(t, "no /dev/net/tun: %v", err)
	} else if fi.Mode().Perm() != 0o666 {
		// Changed since TestMain (another run's restore): again, and
		// TestMain's restore puts back the mode it found.
		if err := os.Chmod("/dev/net/tun", 0o666); err != nil {
			t.Fatal(err)
		}
	}
	id := fmt.Sprintf("sbx%d", os.Getpid()%100000)
	l := &lab{h: id + "h", r: id + "r", p: id + "p"}
	t.Cleanup(func() {
		for _, n := range []string{l.h, l.r, l.p} {
			exec.Command("ip", "netns", "del", n).Run()
		}
		os.RemoveAll("/etc/netns/" + l.h)
	})
	h, r, p := "ip -n "+l.h, "ip -n "+l.r, "ip -n "+l.p
	script := []string{
		"ip netns add " + l.h, "ip netns add " + l.r, "ip netns add " + l.p,
		fmt.Sprintf("ip link add %s0 netns %s type veth peer name %s0 netns %s", l.h, l.h, l.r, l.r),
		fmt.Sprintf("ip link add %s0 netns %s type veth peer name %s1 netns %s", l.p, l.p, l.r, l.r),
		h + " link set lo up", r + " link set lo up", p + " link set lo up",
		h + " addr add 10.99.0.2/24 dev " + l.h + "0", h + " -6 addr add fd99::2/64 dev " + l.h + "0 nodad",
		h + " addr add 203.0.113.77/32 dev lo", h + " link set " + l.h + "0 up",
		r + " addr add 10.99.0.1/24 dev " + l.r + "0", r + " -6 addr add fd99::1/64 dev " + l.r + "0 nodad",
		r + " addr add 203.0.113.1/24 dev " + l.r + "1", r + " -6 addr add 2001:db8:1::1/64 dev " + l.r + "1 nodad",
		r + " addr add 10.99.1.10/32 dev lo", r + " addr add 169.254.169.254/32 dev lo",
		r + " link set " + l.r + "0 up", r + " link set " + l.r + "1 up",
		"ip netns exec " + l.r + " sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1",
		p + " addr add 203.0.113.10/24 dev " + l.p + "0", p + " addr add 203.0.113.53/24 dev " + l.p + "0",
		p + " -6 addr add 2001:db8:1::10/64 dev " + l.p + "0 nodad", p + " link set " + l.p + "0 up",
		h + " route add default via 10.99.0.1", h + " -6 route add default via fd99::1",
		p + " route add default via 203.0.113.1", p + " -6 route add default via 2001:db8:1::1",
	}
	for _, c := range script {
		if out, err := exec.Command("sh", "-c", c).CombinedOutput(); err != nil {
			t.Fatalf("lab: %s: %v\n%s", c, err, out)
		}
	}
	if err := os.MkdirAll("/etc/netns/"+l.h, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/etc/netns/"+l.h+"/resolv.conf", []byte("nameserver 203.0.113.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.serve(t, l.p, "tcp", "203.0.113.10:80", "public")
	l.serve(t, l.p, "tcp", "[2001:db8:1::10]:80", "public6")
	l.serve(t, l.r, "tcp", ":80", "router") // 10.99.1.10, 169.254.169.254, 10.99.0.1
	l.serve(t, l.h, "tcp", "127.0.0.1:8080", "host-loopback")
	l.serve(t, l.h, "tcp", "203.0.113.77:80", "host-address")
	l.serve(t, l.h, "tcp", "10.99.0.2:80", "host-main-address")
	l.serveDNS(t)
	return l
}

// inNetns runs f on a thread in the named namespace; sockets f makes stay
// in it.
func inNetns(t *testing.T, name string, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left locked, so Go ends it with the goroutine:
		// it never goes back to the pool in the lab's namespace.
		ns, err := os.Open("/run/netns/" + name)
		if err == nil {
			err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
			ns.Close()
		}
		if err == nil {
			err = f()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in %s: %v", name, err)
	}
}

// serve answers every HTTP request on addr in namespace ns with body.
func (l *lab) serve(t *testing.T, ns, network, addr, body string) {
	t.Helper()
	inNetns(t, ns, func() error {
		ln, err := net.Listen(network, addr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintln(w, body)
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return nil
	})
}

// serveDNS answers A and AAAA queries for public.test. (the public host)
// on 203.0.113.53:53, UDP, and NXDOMAIN for the rest.
func (l *lab) serveDNS(t *testing.T) {
	t.Helper()
	inNetns(t, l.p, func() error {
		pc, err := net.ListenPacket("udp", "203.0.113.53:53")
		if err != nil {
			return err
		}
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				var m dnsmessage.Message
				if m.Unpack(buf[:n]) != nil || len(m.Questions) != 1 {
					continue
				}
				q := m.Questions[0]
				m.Response, m.Authoritative, m.RecursionAvailable = true, true, true
				m.Answers = nil
				if strings.EqualFold(q.Name.String(), "public.test.") {
					h := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
					switch q.Type {
					case dnsmessage.TypeA:
						h.Type = q.Type
						m.Answers = append(m.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AResource{A: [4]byte{203, 0, 113, 10}}})
					case dnsmessage.TypeAAAA:
						h.Type = q.Type
						m.Answers = append(m.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AAAAResource{AAAA: netip.MustParseAddr("2001:db8:1::10").As16()}})
					}
				} else {
					m.RCode = dnsmessage.RCodeNameError
				}
				if out, err := m.Pack(); err == nil {
					pc.WriteTo(out, from)
				}
			}
		}()
		return nil
	})
}

// command is the sandbox binary (or, with bin "", args alone) run in the lab
// host's namespace as the test user, through `ip netns exec` (which binds
// the lab's resolv.conf) and setpriv.
func (l *lab) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	argv := []string{"netns", "exec", l.h, "setpriv", "--reuid=" + strconv.Itoa(env.uid), "--regid=" + strconv.Itoa(env.gid), "--clear-groups", "--"}
	if l.asRoot {
		argv = argv[:3]
	}
	if bin != "" {
		argv = append(argv, bin)
	}
	cmd := exec.CommandContext(ctx, "ip", append(argv, args...)...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/tmp"}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs the sandbox with args in the lab and returns its result.
func (l *lab) run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := l.command(ctx, env.bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return r
}

// The targets: what a box may reach, and what it may not.
var (
	netPublic  = []string{"http://203.0.113.10/", "http://[2001:db8:1::10]/", "http://public.test/"}
	netDenied  = []string{"http://10.99.1.10/", "http://169.254.169.254/", "http://127.0.0.1:8080/", "http://203.0.113.77/", "http://10.99.0.2/", "http://10.99.0.1/"}
	netAnswers = map[string]string{
		"http://203.0.113.10/": "public", "http://[2001:db8:1::10]/": "public6", "http://public.test/": "public",
		"http://10.99.1.10/": "router", "http://169.254.169.254/": "router", "http://10.99.0.1/": "router",
		"http://127.0.0.1:8080/": "host-loopback", "http://203.0.113.77/": "host-address", "http://10.99.0.2/": "host-main-address",
	}
)

// outcomes parses `probe http` lines into URL -> "ok BODY" or "error ...".
func outcomes(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if i := strings.Index(line, "/: "); i >= 0 {
			m[line[:i+1]] = line[i+3:]
		}
	}
	return m
}

func probeArgs(urls ...string) []string {
	return append([]string{"/probe", "http"}, urls...)
}

// TestNetUserEgressPolicy: from a --net user box the public host answers
// (IPv4, IPv6, and by a name resolved through the lab's DNS server); the
// LAN host, the metadata host, the gateway, a server on the lab host's
// 127.0.0.1 and servers on its own addresses are refused. Each of them
// answers outside the box, and in a --net host box, so the test can fail;
// --allow-net opens one, --deny-net closes one.
func TestNetUserEgressPolicy(t *testing.T) {
	l := newLab(t)
	all := append(append([]string{}, netPublic[:2]...), netDenied...)

	// Outside any box, in the lab host's namespace: everything answers.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := l.command(ctx, "", append([]string{env.probe, "http"}, all...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("probe outside the box: %v\n%s", err, out)
	}
	got := outcomes(string(out))
	for _, u := range all {
		if got[u] != "ok "+netAnswers[u] {
			t.Fatalf("outside the box, %s: %q, want %q (the lab is broken)\n%s", u, got[u], "ok "+netAnswers[u], out)
		}
	}
	// A --net host box reaches them too.
	r := l.run(t, append([]string{"exec", "--net", "host", "--ro-bind", env.probe + ":/probe", "--"}, probeArgs(netDenied...)...)...)
	got = outcomes(r.stdout)
	for _, u := range netDenied {
		if got[u] != "ok "+netAnswers[u] {
			t.Errorf("--net host box, %s: %q, want it reached\n%s", u, got[u], r)
		}
	}

	// The --net user box.
	r = l.run(t, append([]string{"exec", "--net", "user", "--ro-bind", env.probe + ":/probe", "--", "/bin/sh", "-c", `"$@"; cat /etc/resolv.conf; "$0" resolve public.test`, "/probe", "/probe", "http"}, append(append([]string{}, netPublic...), netDenied...)...)...)
	if r.code != 0 {
		t.Fatalf("want exit 0\n%s", r)
	}
	got = outcomes(r.stdout)
	for _, u := range netPublic {
		if got[u] != "ok "+netAnswers[u] {
			t.Errorf("--net user, %s: %q, want it reached\n%s", u, got[u], r)
		}
	}
	for _, u := range netDenied {
		if !strings.HasPrefix(got[u], "error") || !strings.Contains(got[u], "connection refused") {
			t.Errorf("--net user, %s: %q, want connection refused\n%s", u, got[u], r)
		}
	}
	if !strings.Contains(r.stdout, "nameserver 169.254.1.1") {
		t.Errorf("resolv.conf does not name the forwarder\n%s", r)
	}
	if !strings.Contains(r.stdout, "public.test: 203.0.113.10 2001:db8:1::10") && !strings.Contains(r.stdout, "public.test: 2001:db8:1::10 203.0.113.10") {
		t.Errorf("public.test did not resolve through the lab's DNS server\n%s", r)
	}

	// --allow-net opens a hole (with a port), --deny-net closes one.
	r = l.run(t, append([]string{"exec", "--net", "user", "--allow-net", "10.99.1.10:80", "--allow-net", "169.254.169.254:81",
		"--deny-net", "203.0.113.10/32", "--ro-bind", env.probe + ":/probe", "--"}, probeArgs("http://10.99.1.10/", "http://169.254.169.254/", "http://203.0.113.10/", "http://[2001:db8:1::10]/")...)...)
	got = outcomes(r.stdout)
	for u, want := range map[string]string{"http://10.99.1.10/": "ok router", "http://169.254.169.254/": "error", "http://203.0.113.10/": "error", "http://[2001:db8:1::10]/": "ok public6"} {
		if !strings.HasPrefix(got[u], want) {
			t.Errorf("--allow-net/--deny-net, %s: %q, want %s\n%s", u, got[u], want, r)
		}
	}

	// With everything allowed, pasta alone would take the box to the LAN
	// host, the metadata host, the gateway and the host's other address:
	// the rules are what refuses them. (The host's loopback stays out of
	// reach even so: pasta splices no port to it, -T none, and maps no
	// address to it, --no-map-gw; 10.99.0.2 is the box's own address.)
	open := []string{"http://10.99.1.10/", "http://169.254.169.254/", "http://10.99.0.1/", "http://203.0.113.77/"}
	r = l.run(t, append([]string{"exec", "--net", "user", "--allow-net", "0.0.0.0/0", "--ro-bind", env.probe + ":/probe", "--"}, probeArgs(append(open, "http://127.0.0.1:8080/")...)...)...)
	got = outcomes(r.stdout)
	for _, u := range open {
		if got[u] != "ok "+netAnswers[u] {
			t.Errorf("--allow-net 0.0.0.0/0, %s: %q, want it reached\n%s", u, got[u], r)
		}
	}
	if !strings.HasPrefix(got["http://127.0.0.1:8080/"], "error") {
		t.Errorf("--allow-net 0.0.0.0/0: the host's loopback reached through pasta\n%s", r)
	}

	// --dry-run and --report show the policy.
	report := filepath.Join(hostDir(t), "report.json")
	r = l.run(t, "exec", "--net", "user", "--allow-net", "10.99.1.10:80", "--report", report, "--", "true")
	if r.code != 0 {
		t.Fatalf("want exit 0\n%s", r)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"network"`, `"stack": "pasta"`, "allow 10.99.1.10/32:80 (--allow-net)", "deny 169.254.0.0/16", "deny 203.0.113.77/32 (this host's address)"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %q:\n%s", want, b)
		}
	}
	r = l.run(t, "exec", "--net", "user", "--dry-run", "--", "true")
	for _, want := range []string{"net hold", "/etc/resolv.conf", "net: deny 169.254.0.0/16", "net: deny fc00::/7", "net: allow 169.254.1.1 port 53"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--dry-run lacks %q:\n%s", want, r)
		}
	}
}

// TestNetUserPolicyHolds: the payload tries to flush the ruleset and to
// delete the routes; both fail (it holds no capability in the box's
// namespaces), also as root of a user namespace of its own (--seccomp
// off), and the denied hosts stay out of reach. --cap-add
// CAP_NET_ADMIN, which would let it, is refused with --net user. A root
// caller's box has the same policy.
func TestNetUserPolicyHolds(t *testing.T) {
	l := newLab(t)
	r := l.run(t, "exec", "--net", "user", "--ro-bind", env.probe+":/probe", "--", "/bin/sh", "-c",
		`"$0" nft-flush; ip route flush table main 2>&1 || echo ip-route-failed; "$0" http "$@"`, "/probe",
		"http://10.99.1.10/", "http://169.254.169.254/", "http://203.0.113.10/")
	if !strings.Contains(r.stdout, "nft-flush: ") || strings.Contains(r.stdout, "nft-flush: ok") || !strings.Contains(r.stdout, "ip-route-failed") {
		t.Errorf("the payload changed the box's network\n%s", r)
	}
	got := outcomes(r.stdout)
	if !strings.HasPrefix(got["http://10.99.1.10/"], "error") || !strings.HasPrefix(got["http://169.254.169.254/"], "error") {
		t.Errorf("denied hosts reached after the payload's attempts\n%s", r)
	}
	if got["http://203.0.113.10/"] != "ok public" {
		t.Errorf("the public host: %q\n%s", got["http://203.0.113.10/"], r)
	}
	// With the filter off the payload can make a user namespace of its
	// own, and be root with every capability there; the box's network
	// namespace still belongs to the box's user namespace, where it has
	// none.
	r = l.run(t, "exec", "--net", "user", "--seccomp", "off", "--ro-bind", env.probe+":/probe", "--", "/bin/sh", "-c",
		`unshare -U /probe nft-flush; unshare -U ip route flush table main 2>&1 || echo ip-route-failed; /probe http "$@"`, "sh",
		"http://10.99.1.10/", "http://169.254.169.254/", "http://203.0.113.10/")
	got = outcomes(r.stdout)
	if !strings.Contains(r.stdout, "nft-flush: ") || strings.Contains(r.stdout, "nft-flush: ok") || !strings.Contains(r.stdout, "ip-route-failed") ||
		!strings.HasPrefix(got["http://10.99.1.10/"], "error") || !strings.HasPrefix(got["http://169.254.169.254/"], "error") || got["http://203.0.113.10/"] != "ok public" {
		t.Errorf("a nested user namespace's root changed the box's network\n%s", r)
	}
	// A root caller's box (its user namespace is root's, its ids nobody's).
	l.asRoot = true
	r = l.run(t, append([]string{"exec", "--net", "user", "--ro-bind", env.probe + ":/probe", "--"}, probeArgs("http://203.0.113.10/", "http://10.99.1.10/")...)...)
	l.asRoot = false
	got = outcomes(r.stdout)
	if got["http://203.0.113.10/"] != "ok public" || !strings.HasPrefix(got["http://10.99.1.10/"], "error") {
		t.Errorf("root caller: want the public host reached, the LAN host refused\n%s", r)
	}
	for _, c := range []string{"CAP_NET_ADMIN", "net_admin"} {
		r = l.run(t, "exec", "--net", "user", "--cap-add", c, "--", "true")
		if r.code != 125 || !strings.Contains(r.stderr, "egress policy") {
			t.Errorf("--net user --cap-add %s: want exit 125 naming the policy\n%s", c, r)
		}
	}
}

// TestNetUserNothingLeft: after 20 runs, 5 of them with the supervisor
// SIGKILLed while the box runs, no pasta and no box process is left.
func TestNetUserNothingLeft(t *testing.T) {
	l := newLab(t)
	// pastas lists the live pasta processes a sandbox started: those
	// whose parent is one of the supervisors, or whose options are a
	// sandbox's (a pasta is briefly in a state where its command line
	// reads empty: in a vfork into the box's namespace), zombies aside:
	// those are gone, if not yet reaped by whoever inherited them.
	supervisors := map[string]bool{}
	pastas := func() []string {
		var found []string
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
			// pid (comm) state ppid ...; pasta re-executes itself as
			// passt.avx2 where the CPU has AVX2.
			open, end := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')')
			if open < 0 || end < open {
				continue
			}
			comm, rest := string(stat[open+1:end]), strings.Fields(string(stat[end+1:]))
			if !strings.HasPrefix(comm, "pasta") && !strings.HasPrefix(comm, "passt") || len(rest) < 2 || rest[0] == "Z" {
				continue
			}
			cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			c := strings.ReplaceAll(string(cmdline), "\x00", " ")
			if supervisors[rest[1]] || strings.Contains(c, "--dns-forward 169.254.1.1") && strings.Contains(c, "--netns /proc/self/fd/5") {
				found = append(found, e.Name()+" (parent "+rest[1]+"): "+c)
			}
		}
		return found
	}
	marker := fmt.Sprintf("netuser-left-%d", os.Getpid())
	for i := 0; i < 20; i++ {
		if i%4 != 3 {
			r := l.run(t, "exec", "--net", "user", "--", "true")
			if r.code != 0 {
				t.Fatalf("run %d: want exit 0\n%s", i, r)
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := l.command(ctx, env.bin, "exec", "--net", "user", "--ro-bind", env.probe+":/probe", "--", "/bin/sh", "-c", "/probe http http://203.0.113.10/; exec sleep 30 "+marker)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The box is up, and so is its network.
		buf := make([]byte, 100)
		if n, _ := out.Read(buf); string(buf[:n]) != "http://203.0.113.10/: ok public\n" {
			t.Fatalf("run %d: the box did not start or reach the public host: %q", i, buf[:n])
		}
		supervisors[strconv.Itoa(cmd.Process.Pid)] = true
		if len(pastas()) == 0 {
			ps, _ := exec.Command("sh", "-c", "ps -eo pid,ppid,stat,comm,args | grep -e pass -e sandbox | grep -v grep").CombinedOutput()
			t.Errorf("run %d: no pasta while the box runs (supervisor %d)\n%s", i, cmd.Process.Pid, ps)
		}
		// ip netns exec and setpriv exec: the process is the supervisor.
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		cancel()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := append(pastas(), pgrep(marker)...)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left running: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNetUserWithoutStack: without pasta (none in PATH), --net user exits
// 125 and names the package to install.
func TestNetUserWithoutStack(t *testing.T) {
	r := runWith(t, runOpts{env: []string{"PATH=/nonexistent"}}, "exec", "--net", "user", "--", "/bin/true")
	if r.code != 125 || !strings.Contains(r.stderr, "apt-get install passt") {
		t.Errorf("want exit 125 naming apt-get install passt\n%s", r)
	}
}

// udpSink collects the datagrams that arrive on addr (UDP) in namespace ns.
func (l *lab) udpSink(t *testing.T, ns, network, addr string) func() []string {
	t.Helper()
	got := make(chan string, 100)
	inNetns(t, ns, func() error {
		pc, err := net.ListenPacket(network, addr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 1500)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				got <- string(buf[:n])
			}
		}()
		return nil
	})
	return func() []string {
		var out []string
		deadline := time.After(500 * time.Millisecond)
		for {
			select {
			case m := <-got:
				out = append(out, m)
			case <-deadline:
				return out
			}
		}
	}
}

// TestNetUserRawSockets: the policy is nftables rules on the IP layer's
// output hook; a packet socket writes frames below it, straight to pasta,
// which carries what they hold to the host's network. So CAP_NET_RAW,
// which a packet socket (and a raw IPv6 socket) takes, is refused with
// --net user, as CAP_NET_ADMIN is; and without it (the default) the
// payload has no packet socket.
func TestNetUserRawSockets(t *testing.T) {
	l := newLab(t)
	sink := l.udpSink(t, l.r, "udp", ":9999")
	// Outside the box (as root, which may open a packet socket): the
	// datagram arrives, so the test can fail.
	l.asRoot = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := l.command(ctx, "", env.probe, "packet-udp", "10.99.1.10:9999", "outside").CombinedOutput()
	l.asRoot = false
	if err != nil || !strings.Contains(string(out), "packet-udp: ok") {
		t.Fatalf("packet-udp outside the box: %v\n%s", err, out)
	}
	if got := sink(); len(got) == 0 || got[0] != "outside" {
		t.Fatalf("outside the box, the LAN host got %q (the lab is broken)", got)
	}
	// With CAP_NET_RAW: a packet socket (the default filter refuses the
	// family; --seccomp off does not), and a raw IPv6 socket (the default
	// filter allows AF_INET6) to an IPv4-mapped address, which the box's
	// kernel sends out as IPv6, and pasta's host socket to the IPv4 host.
	for _, a := range [][]string{
		{"--cap-add", "CAP_NET_RAW", "--seccomp", "off", "--", "/probe", "packet-udp", "10.99.1.10:9999", "packet"},
		{"--cap-add", "net_raw", "--", "/probe", "udp6-raw", "[::ffff:10.99.1.10]:9999", "mapped"},
	} {
		r := l.run(t, append([]string{"exec", "--net", "user", "--ro-bind", env.probe + ":/probe"}, a...)...)
		if got := sink(); len(got) > 0 {
			t.Errorf("--net user %v: reached the LAN host (%q)\n%s", a, got, r)
		}
		if r.code != 125 || !strings.Contains(r.stderr, "egress policy") {
			t.Errorf("--net user %v: want exit 125 naming the policy\n%s", a, r)
		}
	}
	// Without it, no packet socket.
	r := l.run(t, "exec", "--net", "user", "--ro-bind", env.probe+":/probe", "--", "/probe", "packet-udp", "10.99.1.10:9999", "default")
	if !strings.Contains(r.stdout, "packet-udp: errno=") {
		t.Errorf("a default --net user box opened a packet socket\n%s", r)
	}
	if got := sink(); len(got) > 0 {
		t.Errorf("the LAN host got %q", got)
	}
}

// TestNetUserMappedIPv6: IPv6 addresses that stand for IPv4 ones. Where
// the host's network has a NAT64 (an IPv6-only cloud subnet, with DNS64),
// 64:ff9b::a.b.c.d is the IPv4 host a.b.c.d: 64:ff9b::10.99.1.10 the LAN
// host, 64:ff9b::169.254.169.254 the metadata endpoint, and the NAT64 of
// the host's own address is the host. Each denied IPv4 range is denied in
// its NAT64 form too (the well-known prefix, and all of the local-use
// 64:ff9b:1::/48), and so is ::ffff:0:0/96 (IPv4-mapped, which a host
// socket pasta opens for the box connects to as IPv4), and so are the
// 6to4 forms (2002:a.b.c.d::/48, which a host's 6to4 tunnel sends to
// a.b.c.d) and the deprecated IPv4-compatible ::/96. The lab has no
// NAT64: the router holds those addresses itself, and the public host its
// own NAT64 form, which stays reachable.
func TestNetUserMappedIPv6(t *testing.T) {
	l := newLab(t)
	for _, c := range []string{
		"ip -n " + l.r + " -6 addr add 64:ff9b::a63:10a/128 dev lo",   // 10.99.1.10, the LAN host
		"ip -n " + l.r + " -6 addr add 64:ff9b::a9fe:a9fe/128 dev lo", // 169.254.169.254
		"ip -n " + l.r + " -6 addr add 64:ff9b::cb00:714d/128 dev lo", // 203.0.113.77, the lab host's own
		"ip -n " + l.r + " -6 addr add 64:ff9b:1::a63:10a/128 dev lo", // local-use prefix
		"ip -n " + l.r + " -6 addr add 2002:a63:10a::1/128 dev lo",    // 6to4 of 10.99.1.10
		"ip -n " + l.r + " -6 addr add ::a63:10a/128 dev lo",          // IPv4-compatible 10.99.1.10
		"ip -n " + l.p + " -6 addr add 64:ff9b::cb00:710a/128 dev lo", // 203.0.113.10, the public host
		"ip -n " + l.r + " -6 route add 64:ff9b::cb00:710a/128 via 2001:db8:1::10",
	} {
		if out, err := exec.Command("sh", "-c", c).CombinedOutput(); err != nil {
			t.Fatalf("lab: %s: %v\n%s", c, err, out)
		}
	}
	l.serve(t, l.p, "tcp", "[64:ff9b::cb00:710a]:80", "public-nat64")
	denied := []string{"http://[64:ff9b::a63:10a]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b::cb00:714d]/", "http://[64:ff9b:1::a63:10a]/", "http://[2002:a63:10a::1]/", "http://[::a63:10a]/"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := l.command(ctx, "", append([]string{env.probe, "http"}, denied...)...).CombinedOutput()
	got := outcomes(string(out))
	for _, u := range denied {
		if err != nil || got[u] != "ok router" {
			t.Fatalf("outside the box, %s: %q (the lab is broken): %v\n%s", u, got[u], err, out)
		}
	}
	r := l.run(t, append([]string{"exec", "--net", "user", "--ro-bind", env.probe + ":/probe", "--"}, probeArgs(append(denied, "http://[64:ff9b::cb00:710a]/")...)...)...)
	got = outcomes(r.stdout)
	for _, u := range denied {
		if !strings.HasPrefix(got[u], "error") || !strings.Contains(got[u], "connection refused") {
			t.Errorf("--net user, %s: %q, want connection refused\n%s", u, got[u], r)
		}
	}
	if got["http://[64:ff9b::cb00:710a]/"] != "ok public-nat64" {
		t.Errorf("--net user: the public host's NAT64 address: %q, want it reached\n%s", got["http://[64:ff9b::cb00:710a]/"], r)
	}
	r = l.run(t, "exec", "--net", "user", "--dry-run", "--", "true")
	for _, want := range []string{"net: deny 64:ff9b::a00:0/104", "net: deny 64:ff9b::a9fe:0/112", "net: deny ::ffff:0.0.0.0/96", "net: deny 64:ff9b:1::/48"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--dry-run lacks %q:\n%s", want, r)
		}
	}
}

// TestNetUserResolvConfPerBox: each box's resolv.conf is a file of its
// own. The file is bound read-only, but a payload given --cap-add
// CAP_SYS_ADMIN and --seccomp off may remount its binds read-write (a
// documented consequence of those flags); had the boxes of one caller
// shared one file, such a payload would rewrite the DNS server of every
// other --net user box the caller has running. And nothing is left behind
// in the caller's directory.
func TestNetUserResolvConfPerBox(t *testing.T) {
	l := newLab(t)
	// A TMPDIR of the test's own, so that the caller's usual directory
	// (and other runs' boxes) are not touched.
	tmp, err := os.MkdirTemp("", "netuser-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Box B, a victim: started first, it reads its resolv.conf once box
	// A has written.
	victim := l.command(ctx, env.bin, "exec", "--net", "user", "--", "/bin/sh", "-c", "echo started; read x; cat /etc/resolv.conf")
	victim.Env = append(victim.Env, "TMPDIR="+tmp)
	in, _ := victim.StdinPipe()
	out, _ := victim.StdoutPipe()
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if n, _ := out.Read(buf); string(buf[:n]) != "started\n" {
		t.Fatalf("the victim box did not start: %q", buf[:n])
	}
	attacker := l.command(ctx, env.bin, "exec", "--net", "user", "--cap-add", "CAP_SYS_ADMIN", "--seccomp", "off", "--",
		"/bin/sh", "-c", `mount -o remount,bind,rw /etc/resolv.conf && echo "nameserver 10.99.1.10" > /etc/resolv.conf; cat /etc/resolv.conf`)
	attacker.Env = append(attacker.Env, "TMPDIR="+tmp)
	a, _ := attacker.CombinedOutput()
	if !strings.Contains(string(a), "nameserver 10.99.1.10") {
		t.Logf("the attacker could not rewrite its own resolv.conf (then nothing to show): %s", a)
	}
	in.Write([]byte("go\n"))
	in.Close()
	rest, _ := io.ReadAll(out)
	victim.Wait()
	if strings.Contains(string(rest), "10.99.1.10") || !strings.Contains(string(rest), "nameserver 169.254.1.1") {
		t.Errorf("another box rewrote the victim's resolv.conf:\n%s\n(the attacker: %s)", rest, a)
	}
	// A SIGKILLed supervisor leaves its file; the next run removes it.
	killed := l.command(ctx, env.bin, "exec", "--net", "user", "--", "/bin/sh", "-c", "echo started; exec sleep 30")
	killed.Env = append(killed.Env, "TMPDIR="+tmp)
	out, _ = killed.StdoutPipe()
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	if n, _ := out.Read(buf); string(buf[:n]) != "started\n" {
		t.Fatalf("the box did not start: %q", buf[:n])
	}
	killed.Process.Signal(syscall.SIGKILL)
	killed.Wait()
	next := l.command(ctx, env.bin, "exec", "--net", "user", "--", "true")
	next.Env = append(next.Env, "TMPDIR="+tmp)
	if b, err := next.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "sandbox-*", "*"))
	left2, _ := filepath.Glob(filepath.Join(tmp, "sandbox-resolv-*"))
	if left = append(left, left2...); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestNetUserStackFiles: each connection of the box's is a host socket of
// pasta's (kernel memory, an ephemeral port of the host's), outside every
// limit of the box's; pasta's open files are capped, so a box that opens
// connections without end holds at most about 4,000 of them (it held
// 9,910, up to the caller's hard limit, before).
func TestNetUserStackFiles(t *testing.T) {
	l := newLab(t)
	for _, root := range []bool{false, true} {
		l.asRoot = root
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := l.command(ctx, env.bin, "exec", "--net", "user", "--ro-bind", env.probe+":/probe", "--", "/probe", "hold-conns", "203.0.113.10:80", "12000")
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 200)
		n, _ := out.Read(buf)
		line := string(buf[:n])
		// pasta: the supervisor's child.
		var fds []string
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
			end := strings.LastIndexByte(string(stat), ')')
			if end < 0 || !strings.Contains(string(stat), "(pas") {
				continue
			}
			if f := strings.Fields(string(stat[end+1:])); len(f) > 1 && f[1] == strconv.Itoa(cmd.Process.Pid) {
				fds, _ = filepath.Glob("/proc/" + e.Name() + "/fd/*")
			}
		}
		in.Close()
		cmd.Wait()
		cancel()
		var conns int
		fmt.Sscanf(line, "conns: %d", &conns)
		if conns < 1000 {
			t.Errorf("root %v: the box could not open 1000 connections: %q", root, line)
		}
		if len(fds) == 0 || len(fds) > 8192 {
			t.Errorf("root %v: pasta held %d descriptors for the box's connections (%q), want at most 8192", root, len(fds), line)
		}
		t.Logf("root %v: %s; pasta: %d descriptors", root, strings.TrimSpace(line), len(fds))
	}
	l.asRoot = false
}

// TestNetUserUDPSourcePort: pasta sends a box's UDP datagrams from a host
// socket bound to the box's source port, on every host address. So a box
// that sent from port P held the host's UDP port P: what anyone then sent
// to the host's port P (a LAN host here) went into the box, and a host
// service started later could not bind it. The box's rules now give its
// outgoing UDP a random source port in 40000-60999 (fully random: the
// payload cannot choose one), so pasta binds a port of that range.
func TestNetUserUDPSourcePort(t *testing.T) {
	l := newLab(t)
	sink := l.udpSink(t, l.p, "udp", "203.0.113.10:9")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := l.command(ctx, env.bin, "exec", "--net", "user", "--ro-bind", env.probe+":/probe", "--", "/probe", "udp-from", "9999", "203.0.113.10:9")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 200)
	if n, _ := out.Read(buf); string(buf[:n]) != "udp-from: sent\n" {
		t.Fatalf("the box did not send: %q", buf[:n])
	}
	if got := sink(); len(got) != 1 || got[0] != "x" {
		t.Errorf("the public host got %q, want the box's datagram", got)
	}
	ss, _ := exec.Command("ip", "netns", "exec", l.h, "ss", "-uanp").CombinedOutput()
	// A LAN host sends to the lab host's port 9999.
	inNetns(t, l.r, func() error {
		c, err := net.Dial("udp", "10.99.0.2:9999")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("from-the-lan"))
		return err
	})
	rest, _ := io.ReadAll(out)
	cmd.Wait()
	if strings.Contains(string(rest), "from-the-lan") {
		t.Errorf("a datagram to the host's port 9999 reached the box:\n%s\nthe lab host's UDP sockets:\n%s", rest, ss)
	}
	if strings.Contains(string(ss), ":9999 ") {
		t.Errorf("pasta bound the host's port 9999, the box's source port:\n%s", ss)
	}
	// The same over IPv6.
	sink6 := l.udpSink(t, l.p, "udp", "[2001:db8:1::10]:9")
	cmd = l.command(ctx, env.bin, "exec", "--net", "user", "--ro-bind", env.probe+":/probe", "--", "/probe", "udp-from", "9999", "[2001:db8:1::10]:9")
	out, _ = cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if n, _ := out.Read(buf); string(buf[:n]) != "udp-from: sent\n" {
		t.Fatalf("the box did not send: %q", buf[:n])
	}
	if got := sink6(); len(got) != 1 || got[0] != "x" {
		t.Errorf("IPv6: the public host got %q, want the box's datagram", got)
	}
	ss, _ = exec.Command("ip", "netns", "exec", l.h, "ss", "-uanp").CombinedOutput()
	io.ReadAll(out)
	cmd.Wait()
	if strings.Contains(string(ss), ":9999 ") {
		t.Errorf("IPv6: pasta bound the host's port 9999, the box's source port:\n%s", ss)
	}
}

// TestNetUserResolvConfHostileDir: another local user made the caller's
// directory name first ($TMPDIR/sandbox-UID): as a directory of its own
// filled with resolv.conf files naming its DNS server, or as a symlink to a
// directory of the caller's elsewhere. The box still gets its own
// resolv.conf, naming pasta's forwarder, and nothing is written through
// the other user's name.
func TestNetUserResolvConfHostileDir(t *testing.T) {
	l := newLab(t)
	for _, hostile := range []string{"dir", "symlink"} {
		tmp, err := os.MkdirTemp("", "netuser-tmp-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(tmp) })
		os.Chmod(tmp, 0o1777)
		name := filepath.Join(tmp, "sandbox-"+strconv.Itoa(env.uid))
		var watched string
		switch hostile {
		case "dir": // root's, the other user here
			os.Mkdir(name, 0o711)
			os.Chmod(name, 0o711)
			for _, f := range []string{"resolv.conf", "resolv-1.conf"} {
				os.WriteFile(filepath.Join(name, f), []byte("nameserver 10.99.1.10\n"), 0o644)
			}
			watched = name
		case "symlink": // to a directory of the caller's, mode 0711
			watched = filepath.Join(tmp, "callers")
			os.Mkdir(watched, 0o711)
			os.Chmod(watched, 0o711)
			os.Chown(watched, env.uid, env.gid)
			os.Symlink(watched, name)
		}
		before, _ := os.ReadDir(watched)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := l.command(ctx, env.bin, "exec", "--net", "user", "--", "cat", "/etc/resolv.conf")
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "nameserver 169.254.1.1") || strings.Contains(string(out), "10.99.1.10") {
			t.Errorf("%s: the box's resolv.conf: %v\n%s", hostile, err, out)
		}
		if after, _ := os.ReadDir(watched); len(after) != len(before) {
			t.Errorf("%s: files written through the other user's name: %v -> %v", hostile, before, after)
		}
		if left, _ := filepath.Glob(filepath.Join(tmp, "sandbox-resolv-*")); len(left) > 0 {
			t.Errorf("%s: left behind: %v", hostile, left)
		}
	}
}

// TestNetUserCloudEndpoints: the cloud host endpoints that are not in the
// private or link-local ranges. On Azure, 168.63.129.16 (WireServer, a
// public address) is the host's agent endpoint: it hands a VM its goal
// state and extension settings, and answers its DNS; the box is refused
// it (its DNS still goes through pasta's forwarder, to the host's
// nameserver, whatever that is). And the special-purpose IPv4 ranges
// that are not public either: 192.0.0.0/24, 198.18.0.0/15 (inside
// networks use them), 240.0.0.0/4.
func TestNetUserCloudEndpoints(t *testing.T) {
	l := newLab(t)
	addrs := []string{"168.63.129.16", "192.0.0.192", "198.18.0.1", "240.0.0.1"}
	var urls []string
	for _, a := range addrs {
		if out, err := exec.Command("ip", "-n", l.r, "addr", "add", a+"/32", "dev", "lo").CombinedOutput(); err != nil {
			t.Fatalf("lab: %v\n%s", err, out)
		}
		urls = append(urls, "http://"+a+"/")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := l.command(ctx, "", append([]string{env.probe, "http"}, urls...)...).CombinedOutput()
	got := outcomes(string(out))
	for _, u := range urls {
		if err != nil || got[u] != "ok router" {
			t.Fatalf("outside the box, %s: %q (the lab is broken): %v\n%s", u, got[u], err, out)
		}
	}
	r := l.run(t, append([]string{"exec", "--net", "user", "--ro-bind", env.probe + ":/probe", "--"}, probeArgs(urls...)...)...)
	got = outcomes(r.stdout)
	for _, u := range urls {
		if !strings.HasPrefix(got[u], "error") || !strings.Contains(got[u], "connection refused") {
			t.Errorf("--net user, %s: %q, want connection refused\n%s", u, got[u], r)
		}
	}
}
