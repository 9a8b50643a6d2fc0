package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The core: what a regular user sees in a default box.

func TestPidNamespace(t *testing.T) {
	out := strings.TrimSpace(box(t, `echo $$`))
	if out != "1" && out != "2" {
		t.Fatalf("$$ inside = %q, want 1 or 2 (a new pid namespace)", out)
	}
	// ps shows only the box: every pid in /proc is small and there are few.
	procs := strings.Fields(box(t, `cd /proc && for p in [0-9]*; do echo $p; done`))
	if len(procs) > 4 {
		t.Fatalf("box sees %d processes, want only its own: %v", len(procs), procs)
	}
	for _, p := range procs {
		if n, _ := strconv.Atoi(p); n > 10 {
			t.Fatalf("box sees pid %s: a host process", p)
		}
	}
}

func TestUIDMapSelf(t *testing.T) {
	out := box(t, `cat /proc/self/uid_map; id -u; id -g; cat /proc/self/setgroups`)
	f := strings.Fields(out)
	want := []string{"0", strconv.Itoa(env.uid), "1", "0", "0", "deny"}
	if strings.Join(f, " ") != strings.Join(want, " ") {
		t.Fatalf("uid_map, id -u, id -g, setgroups = %q, want %q", f, want)
	}
}

func TestRootfs(t *testing.T) {
	out := box(t, `ls /; cat /etc/rootfs-marker; test -e /usr && echo HOST-USR; true`, "--rootfs", env.rootfs)
	if !strings.Contains(out, "this is the busybox rootfs") {
		t.Fatalf("rootfs marker missing: %q", out)
	}
	if strings.Contains(out, "HOST-USR") {
		t.Fatal("the host's /usr is visible in a --rootfs box")
	}
	got := strings.Fields(out)
	got = got[:len(got)-5] // drop the marker line
	if strings.Join(got, " ") != "bin dev etc proc root tmp" {
		t.Fatalf("ls / = %v, want only the rootfs tree", got)
	}
}

func TestMissingRootfs(t *testing.T) {
	r := runSandbox(t, "exec", "--rootfs", "/nonexistent-rootfs", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "rootfs") {
		t.Fatalf("want exit 125 naming --rootfs\n%s", r)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"own code", []string{"/bin/sh", "-c", "exit 3"}, 3, ""},
		{"zero", []string{"true"}, 0, ""},
		{"signal", []string{"/bin/sh", "-c", "kill -KILL $$"}, 137, ""},
		{"sigterm", []string{"/bin/sh", "-c", "kill -TERM $$"}, 143, ""},
		{"not found", []string{"no-such-command-here"}, 127, "no-such-command-here"},
		{"not executable", []string{"/etc/passwd"}, 126, "/etc/passwd"},
		{"directory", []string{"/usr"}, 126, "/usr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runSandbox(t, append([]string{"exec", "--"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("want exit %d with %q on stderr\n%s", tc.code, tc.msg, r)
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"exec", "--no-such-flag", "--", "true"}, "--no-such-flag"},
		{[]string{"exec", "--net", "bogus", "--", "true"}, "--net"},
		{[]string{"exec", "--bind", "relative:/x", "--", "true"}, "--bind"},
		{[]string{"exec", "--rlimit", "bogus=1", "--", "true"}, "--rlimit"},
		{[]string{"exec", "--memory", "lots", "--", "true"}, "--memory"},
		{[]string{"exec", "-w", "/proc/self/fd/3", "--", "true"}, "--workdir"},
		{[]string{"exec", "--cap-add", "cap_bogus", "--", "true"}, "--cap-add"},
		{[]string{"exec"}, "command"},
		{[]string{"exec", "--bind", "/nonexistent-source:/x", "--", "true"}, "/nonexistent-source"},
	} {
		r := runSandbox(t, tc.args...)
		if r.code != 125 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: want exit 125 naming %q\n%s", tc.args, tc.msg, r)
		}
	}
}

func TestEnvironmentCleared(t *testing.T) {
	const secret = "s3cr3t-token-value"
	o := runOpts{env: []string{"AWS_SECRET_ACCESS_KEY=" + secret, "LANG=C.UTF-8"}}
	r := runWith(t, o, "exec", "--env", "FOO=bar", "--", "/bin/sh", "-c", "env; cat /proc/1/environ 2>/dev/null; true")
	if r.code != 0 {
		t.Fatal(r)
	}
	if strings.Contains(r.stdout, secret) {
		t.Fatalf("the caller's secret is visible in the box:\n%s", r.stdout)
	}
	for _, want := range []string{"FOO=bar", "LANG=C.UTF-8", "HOME=/root", "PATH="} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("env lacks %s:\n%s", want, r.stdout)
		}
	}
	// --keep-env is the caller's choice: then the secret is there, which
	// shows the check above can fail.
	r = runWith(t, o, "exec", "--keep-env", "--", "/bin/sh", "-c", "env")
	if !strings.Contains(r.stdout, secret) {
		t.Fatalf("--keep-env did not pass the environment:\n%s", r)
	}
}

func TestNothingLeftRunning(t *testing.T) {
	// A background job, a double-forked daemon and a setsid'd child.
	script := `sleep 7001 & (sleep 7002 &) ; setsid sleep 7003 & nohup sleep 7004 >/dev/null 2>&1 & echo started`
	out := box(t, script)
	if !strings.Contains(out, "started") {
		t.Fatal(out)
	}
	for _, s := range []string{"sleep 7001", "sleep 7002", "sleep 7003", "sleep 7004"} {
		if p := pgrep(s); len(p) > 0 {
			t.Errorf("%q still runs after sandbox returned: %v", s, p)
		}
	}
}

func TestHostViewReadOnly(t *testing.T) {
	out := box(t, `for f in /usr/x /etc/x /x /bin/x /lib/x; do touch $f 2>/dev/null && echo WROTE $f; done; touch /tmp/ok && echo tmp-ok; ls /home /root/.. /run 2>&1 | head -3`)
	if strings.Contains(out, "WROTE") {
		t.Fatalf("a write to the host view succeeded:\n%s", out)
	}
	if !strings.Contains(out, "tmp-ok") {
		t.Fatalf("/tmp is not writable:\n%s", out)
	}
	if strings.Contains(box(t, `ls /`), "home") {
		t.Fatal("/home is visible in the host view")
	}
}

func TestBinds(t *testing.T) {
	rw, ro := hostDir(t), hostDir(t)
	if err := os.WriteFile(filepath.Join(ro, "keep"), []byte("orig"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := box(t, `echo hello > /rw/new && echo rw-ok; echo evil > /ro/keep || echo ro-refused; touch /ro/x || echo ro-create-refused; cat /ro/keep`,
		"--bind", rw+":/rw", "--ro-bind", ro+":/ro")
	if b, err := os.ReadFile(filepath.Join(rw, "new")); err != nil || string(b) != "hello\n" {
		t.Fatalf("--bind write did not reach the host: %q %v\n%s", b, err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(ro, "keep")); string(b) != "orig" {
		t.Fatalf("--ro-bind write reached the host: %q", b)
	}
	if _, err := os.Stat(filepath.Join(ro, "x")); err == nil {
		t.Fatal("--ro-bind create reached the host")
	}
	if !strings.Contains(out, "ro-refused") || !strings.Contains(out, "orig") {
		t.Fatalf("unexpected output:\n%s", out)
	}
}

func TestBindOrder(t *testing.T) {
	a, b := hostDir(t), hostDir(t)
	os.WriteFile(filepath.Join(a, "f"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(b, "f"), []byte("b"), 0o644)
	// CLI order is mount order: the later mount covers the earlier one.
	if out := box(t, `cat /m/f`, "--ro-bind", a+":/m", "--ro-bind", b+":/m"); out != "b" {
		t.Fatalf("got %q, want the later bind", out)
	}
	if out := box(t, `cat /m/f`, "--ro-bind", b+":/m", "--ro-bind", a+":/m"); out != "a" {
		t.Fatalf("got %q, want the later bind", out)
	}
	if out := box(t, `ls /m | wc -l`, "--ro-bind", a+":/m", "--tmpfs", "/m"); strings.TrimSpace(out) != "0" {
		t.Fatalf("--tmpfs after a bind should cover it, ls shows %q", out)
	}
}

func TestNetworkIsolated(t *testing.T) {
	out := box(t, `cat /proc/net/dev`)
	var ifs []string
	for _, l := range strings.Split(out, "\n")[2:] {
		if name, _, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
			ifs = append(ifs, name)
		}
	}
	if strings.Join(ifs, ",") != "lo" {
		t.Fatalf("interfaces in the box: %v, want only lo", ifs)
	}
	// --net host shares the host's: more than lo (the check above can fail).
	host, _ := os.ReadFile("/proc/net/dev")
	if strings.Count(string(host), ":") > 1 {
		if out := box(t, `cat /proc/net/dev`, "--net", "host"); strings.Count(out, ":") < 2 {
			t.Fatalf("--net host shows only:\n%s", out)
		}
	}
	// Loopback is up.
	if out := box(t, `cat /sys/class/net/lo/operstate 2>/dev/null; grep -c . /proc/net/dev`); out == "" {
		t.Fatal("no output")
	}
}

func TestInheritedFdsClosed(t *testing.T) {
	r1, w1, _ := os.Pipe()
	defer r1.Close()
	defer w1.Close()
	f, err := os.Open("/etc/hostname")
	if err != nil {
		f, _ = os.Open("/etc/passwd")
	}
	defer f.Close()
	o := runOpts{extra: []*os.File{w1, f}}
	// The glob's own directory fd is gone by the time the loop tests it.
	r := runWith(t, o, "exec", "--", "/bin/sh", "-c", `for f in /proc/$$/fd/*; do [ -e "$f" ] && printf "%s " "${f##*/}"; done; true`)
	if r.code != 0 {
		t.Fatal(r)
	}
	if got := strings.TrimSpace(r.stdout); got != "0 1 2" {
		t.Fatalf("fds in the box: %q, want 0 1 2 (fds 3 and 4 were open in the caller)", got)
	}
}

func TestHostnameAndWorkdir(t *testing.T) {
	if out := strings.TrimSpace(box(t, `hostname`)); out != "sandbox" {
		t.Fatalf("hostname = %q", out)
	}
	if out := strings.TrimSpace(box(t, `hostname`, "--hostname", "grader-7")); out != "grader-7" {
		t.Fatalf("hostname = %q", out)
	}
	d := hostDir(t)
	out := strings.TrimSpace(box(t, `pwd; echo $HOME`, "--bind", d+":/work", "-w", "/work"))
	if out != "/work\n/work" {
		t.Fatalf("pwd, HOME = %q", out)
	}
}

func TestCapabilitiesAndNoNewPrivs(t *testing.T) {
	out := box(t, `grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status`)
	for _, want := range []string{"CapEff:\t0000000000000000", "CapPrm:\t0000000000000000", "CapBnd:\t0000000000000000", "NoNewPrivs:\t1"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in\n%s", want, out)
		}
	}
	out = box(t, `grep -E '^CapEff:' /proc/self/status`, "--cap-add", "CAP_NET_RAW")
	if !strings.Contains(out, fmt.Sprintf("%016x", 1<<13)) {
		t.Errorf("--cap-add CAP_NET_RAW: %s", out)
	}
}

func TestKillZeroStaysInside(t *testing.T) {
	// kill 0 and kill -1 inside must not reach the caller's process group.
	r := runWith(t, runOpts{wrap: `"$SANDBOX" exec -- /bin/sh -c 'kill -TERM 0; kill -TERM -1; exit 0'; echo caller-survived $?`})
	if !strings.Contains(r.stdout, "caller-survived") {
		t.Fatalf("the caller was signalled from inside the box\n%s", r)
	}
}

func TestKillingSupervisorKillsBox(t *testing.T) {
	need(t)
	cmd := exec.Command(env.bin, "exec", "--", "/bin/sh", "-c", "sleep 7011 & sleep 7012")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(pgrep("sleep 7012")) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the box did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	for time.Now().Before(deadline) && len(pgrep("sleep 701")) > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if p := pgrep("sleep 701"); len(p) > 0 {
		t.Fatalf("the box outlived its supervisor: %v", p)
	}
}

func TestSignalForwarded(t *testing.T) {
	// SIGTERM to sandbox reaches the payload, which reports it; the run
	// is cancelled, so sandbox exits 128+15 whatever the payload did.
	r := runWith(t, runOpts{wrap: `"$SANDBOX" exec -- /bin/sh -c 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done' & pid=$!; sleep 1; kill -TERM $pid; wait $pid; echo status=$?`})
	if !strings.Contains(r.stdout, "got-term") || !strings.Contains(r.stdout, "status=143") {
		t.Fatalf("SIGTERM was not forwarded\n%s", r)
	}
}

func TestStdioPassThrough(t *testing.T) {
	r := runWith(t, runOpts{stdin: "line one\nline two\n"}, "exec", "--", "/bin/sh", "-c", "cat; echo to-stderr >&2")
	if r.code != 0 || r.stdout != "line one\nline two\n" || r.stderr != "to-stderr\n" {
		t.Fatalf("stdio not passed through\n%s", r)
	}
}

func TestMinimalDev(t *testing.T) {
	out := box(t, `ls /dev; head -c 4 /dev/zero | od -An -tx1; echo x > /dev/null && echo null-ok`)
	for _, want := range []string{"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd", "stdin", "stdout", "stderr", "null-ok", "00 00 00 00"} {
		if !strings.Contains(out, want) {
			t.Errorf("/dev lacks %s:\n%s", want, out)
		}
	}
	if regexp.MustCompile(`\b(sda|vda|nvme|kmsg|mem|port)\b`).MatchString(out) {
		t.Errorf("host devices in /dev:\n%s", out)
	}
}

func TestProcMasked(t *testing.T) {
	out := box(t, `echo 1 > /proc/sys/kernel/hostname 2>/dev/null && echo SYS-WRITABLE; echo x > /proc/sysrq-trigger 2>/dev/null && echo SYSRQ-WRITABLE; echo done`)
	if strings.Contains(out, "WRITABLE") {
		t.Fatalf("/proc is writable where it must not be:\n%s", out)
	}
	// Each masked file that has content on the host reads empty inside.
	checked := 0
	for _, f := range []string{"/proc/timer_list", "/proc/sched_debug", "/proc/kcore", "/proc/latency_stats"} {
		if b, err := os.ReadFile(f); err != nil || len(b) == 0 {
			continue
		}
		checked++
		if out := box(t, `wc -c < `+f); strings.TrimSpace(out) != "0" {
			t.Errorf("%s is not masked: %s bytes inside", f, out)
		}
	}
	if checked == 0 {
		t.Fatal("no masked /proc file has content on this host; the test checks nothing")
	}
}

func TestTTY(t *testing.T) {
	// --tty: the payload's stdin and stdout are a terminal of the box's own
	// (the harness's stdio are pipes), input is relayed in, output out, and
	// the exit status passes through.
	r := runWith(t, runOpts{stdin: "test -t 0 && test -t 1 && echo both-terminals; tty; exit 3\n"}, "exec", "-t", "--", "/bin/sh")
	if r.code != 3 || !strings.Contains(r.stdout, "both-terminals") {
		t.Fatalf("--tty:\n%s", r)
	}
	// The terminal is the box's own, in its devpts: tty(1) names it.
	if !strings.Contains(r.stdout, "\n/dev/pts/0") {
		t.Fatalf("tty inside a --tty box:\n%s", r)
	}
	// Without --tty the same payload sees the pipes.
	r = runWith(t, runOpts{stdin: "test -t 0 || echo not-a-terminal\n"}, "exec", "--", "/bin/sh")
	if !strings.Contains(r.stdout, "not-a-terminal") {
		t.Fatalf("without --tty:\n%s", r)
	}
}

func TestUserNamespacesDisabled(t *testing.T) {
	// user.max_user_namespaces is per user namespace: set to 0 in a
	// namespace of our own, it forbids new ones below it exactly as the host
	// sysctl does, without touching the host.
	r := runWith(t, runOpts{wrap: `exec unshare -U -r /bin/sh -c 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$SANDBOX" exec -- true'`})
	if r.code != 125 || !strings.Contains(r.stderr, "user.max_user_namespaces") {
		t.Fatalf("want exit 125 naming the sysctl\n%s", r)
	}
}

func TestCgroupNamespaceRoot(t *testing.T) {
	// A box in a cgroup of its own sees that cgroup as "/": nothing of the
	// host's cgroup tree, not even the leaf's name.
	needRoot(t)
	r := runWith(t, runOpts{root: true}, "exec", "--memory", "256M", "--pids", "64", "--", "cat", "/proc/self/cgroup")
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if f := strings.SplitN(l, ":", 3); len(f) != 3 || f[2] != "/" {
			t.Errorf("the box sees its cgroup as %q in %q, want /", f[len(f)-1], l)
		}
	}
}
