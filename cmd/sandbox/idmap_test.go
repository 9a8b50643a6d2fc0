package main

import (
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/idmap"
)

// Issue 3: id mapping through the helpers, identity inside, root callers.

func testUserRanges(t *testing.T) []idmap.Range {
	t.Helper()
	name := strconv.Itoa(env.uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	r, _, err := idmap.SubIDs("uid", name, env.uid)
	if err != nil || len(r) == 0 {
		t.Fatalf("the test user has no subordinate uid range (make testuser adds one): %v", err)
	}
	return r
}

func TestMapAuto(t *testing.T) {
	need(t)
	ranges := testUserRanges(t)
	out := box(t, `cat /proc/self/uid_map /proc/self/gid_map; touch /tmp/f && chown 1000:1000 /tmp/f && stat -c '%u:%g' /tmp/f`, "--map", "auto")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 5 {
		t.Fatalf("unexpected output:\n%s", out)
	}
	self := strings.Fields(lines[0])
	rng := strings.Fields(lines[1])
	if strings.Join(self, " ") != "0 "+strconv.Itoa(env.uid)+" 1" {
		t.Errorf("uid_map line 1 = %v, want 0 -> caller", self)
	}
	if len(rng) != 3 || rng[0] != "1" || rng[1] != strconv.Itoa(int(ranges[0].Start)) {
		t.Errorf("uid_map line 2 = %v, want 1 -> %d (the subordinate range)", rng, ranges[0].Start)
	}
	if lines[len(lines)-1] != "1000:1000" {
		t.Errorf("chown 1000:1000 inside: %q", lines[len(lines)-1])
	}
}

func TestUIDInside(t *testing.T) {
	for _, m := range []string{"self", "auto"} {
		out := strings.TrimSpace(box(t, `id -u; id -g`, "--map", m, "--uid", "1000", "--gid", "1000"))
		if out != "1000\n1000" {
			t.Errorf("--map %s --uid 1000 --gid 1000: id = %q", m, out)
		}
	}
	// With --map self the caller's id is mapped to the chosen one.
	out := box(t, `cat /proc/self/uid_map`, "--uid", "1000")
	if f := strings.Fields(out); len(f) != 3 || f[0] != "1000" || f[1] != strconv.Itoa(env.uid) {
		t.Errorf("--map self --uid 1000: uid_map = %q", out)
	}
	// An id outside what --map auto maps is refused before anything runs.
	r := runSandbox(t, "exec", "--map", "auto", "--uid", "9999999", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "9999999") {
		t.Errorf("--uid outside the range: want 125 naming it\n%s", r)
	}
}

func TestMapAutoWithoutSubordinateRange(t *testing.T) {
	r := runWith(t, runOpts{user: "sandbox-test-nosub"}, "exec", "--map", "auto", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "/etc/subuid") || !strings.Contains(r.stderr, "usermod") {
		t.Fatalf("want exit 125 naming /etc/subuid and the usermod fix\n%s", r)
	}
	// The default mapping needs no range.
	if r := runWith(t, runOpts{user: "sandbox-test-nosub"}, "exec", "--", "true"); r.code != 0 {
		t.Fatalf("--map self without a range: %s", r)
	}
}

func TestRootCallerIsNotHostRoot(t *testing.T) {
	needRoot(t)
	for _, m := range []string{"self", "auto"} {
		r := runWith(t, runOpts{root: true}, "exec", "--map", m, "--", "/bin/sh", "-c", "cat /proc/self/uid_map; cat /proc/self/gid_map")
		if r.code != 0 {
			t.Fatalf("--map %s as root: %s", m, r)
		}
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			f := strings.Fields(l)
			if len(f) != 3 {
				t.Fatalf("bad map line %q", l)
			}
			inside, _ := strconv.Atoi(f[0])
			host, _ := strconv.Atoi(f[1])
			n, _ := strconv.Atoi(f[2])
			if host == 0 || (inside == 0 && host == 0) || host+n > 1<<32-1 {
				t.Fatalf("--map %s as root maps host root: %q", m, l)
			}
		}
	}
	// And seen from the host, the box's processes are not root.
	r := runWith(t, runOpts{root: true, wrap: `"$SANDBOX" exec -- sleep 7021 & pid=$!; sleep 0.5; for p in /proc/[0-9]*; do tr '\0' ' ' < $p/cmdline 2>/dev/null | grep -q "^sleep 7021" && grep '^Uid:' $p/status; done; kill $pid; wait`})
	uids := strings.Fields(r.stdout)
	if len(uids) < 5 {
		t.Fatalf("did not find the box's process from the host:\n%s", r)
	}
	for _, u := range uids[1:] {
		if u == "0" {
			t.Fatalf("a root caller's box runs as host root: %s", r.stdout)
		}
	}
}

func TestDoctor(t *testing.T) {
	r := runSandbox(t, "doctor")
	for _, want := range []string{"user namespaces", "seccomp", "cgroup"} {
		if !strings.Contains(strings.ToLower(r.stdout), want) {
			t.Errorf("doctor does not report %s:\n%s", want, r)
		}
	}
	if r.code != 0 {
		t.Errorf("doctor says exec cannot work on a host where it does:\n%s", r)
	}
	if _, err := os.Stat("/usr/bin/newuidmap"); err == nil && !strings.Contains(r.stdout, "newuidmap") {
		t.Errorf("doctor does not report newuidmap:\n%s", r)
	}
}
