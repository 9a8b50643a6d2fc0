package main

// The escape suite: one test per known way out of a sandbox, most of them
// lessons of real CVEs in bubblewrap, runc, flatpak and Docker (named in the
// comments). Each test attacks the default box and, where a flag or a
// weaker setting would let the attack through, runs the same attack there
// too and expects it to work: that shows the test can fail. SECURITY.md maps
// every boundary to the tests here.
//
// Tests of the same boundary that already exist in exec_test.go are not
// repeated: TestInheritedFdsClosed, TestKillZeroStaysInside,
// TestNothingLeftRunning, TestKillingSupervisorKillsBox,
// TestEnvironmentCleared, TestProcMasked, TestMinimalDev,
// TestHostViewReadOnly, TestCapabilitiesAndNoNewPrivs, TestNetworkIsolated.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/internal/testenv"
	"golang.org/x/sys/unix"
)

// probeIn runs the probe in a box with flags and returns the result; the
// probe is bound read-only at /probe.
func probeIn(t *testing.T, flags []string, args ...string) result {
	t.Helper()
	a := append([]string{"exec", "--ro-bind", env.probe + ":/probe"}, flags...)
	a = append(append(a, "--", "/probe"), args...)
	return runSandbox(t, a...)
}

// probeOK is probeIn for runs that must exit 0; it returns stdout.
func probeOK(t *testing.T, flags []string, args ...string) string {
	t.Helper()
	r := probeIn(t, flags, args...)
	if r.code != 0 {
		t.Fatalf("probe %v with %v: want exit 0\n%s", args, flags, r)
	}
	return r.stdout
}

// randName is a name no other test or host process uses.
func randName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// assertEmpty fails the test when dir (on the host) holds anything: the
// box wrote where it must not.
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	if len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("the box wrote into the host directory %s: %v", dir, names)
	}
}

// chownTree gives a tree to the test user, so that the box (which runs as
// that user) owns it as it would own its own rootfs.
func chownTree(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	if out, err := exec.Command("chown", "-hR", fmt.Sprintf("%d:%d", env.uid, env.gid), dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v\n%s", dir, err, out)
	}
}

// ---- filesystem escape -------------------------------------------------

// TestEscapeOldRootUnreachable: after pivot_root the host's root is
// detached: no mount of the host's but the binds is left in the box's
// mount table, and ".." of the root is the root.
func TestEscapeOldRootUnreachable(t *testing.T) {
	allowed := map[string]bool{"/": true, "/proc": true, "/dev": true, "/tmp": true}
	for _, d := range []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"} {
		allowed[d] = true
	}
	for _, tc := range []struct {
		name  string
		flags []string
	}{{"host view", nil}, {"rootfs", []string{"--rootfs", env.rootfs}}} {
		t.Run(tc.name, func(t *testing.T) {
			out := box(t, `cat /proc/self/mountinfo`, tc.flags...)
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(line)
				if len(f) < 5 {
					t.Fatalf("bad mountinfo line %q", line)
				}
				mp := f[4]
				if strings.Contains(line, "oldroot") || strings.Contains(line, "newroot") {
					t.Errorf("the setup roots are visible: %s", line)
				}
				if !allowed[mp] && !strings.HasPrefix(mp, "/proc/") && !strings.HasPrefix(mp, "/dev/") {
					t.Errorf("a mount the box did not ask for: %s", line)
				}
			}
		})
	}
	// "..", /proc/self/root and /proc/1/root all lead to the box's root.
	out := box(t, `cd /..; cd ../..; pwd; stat -c %d:%i / /.. /proc/self/root/.. .; ls /proc/1/root/ 2>/dev/null | grep -c . ; true`)
	f := strings.Fields(out)
	if len(f) < 5 || f[0] != "/" || f[1] != f[2] || f[1] != f[3] || f[1] != f[4] {
		t.Fatalf("pwd, and the device:inode of /, /.., /proc/self/root/.., the cwd after cd /../..:\n%s", out)
	}
}

// TestEscapeWorkdirThroughProc: runc's CVE-2024-21626 set the working
// directory to /proc/self/fd/N, a descriptor of the host's cgroup
// directory leaked into the container, and so started the process outside
// its root. Here every such workdir is refused (exit 125) or resolves
// inside the box, even while the caller has a host directory open.
func TestEscapeWorkdirThroughProc(t *testing.T) {
	host := hostDir(t)
	marker := randName("host-marker-")
	if err := os.WriteFile(filepath.Join(host, marker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	links := hostDir(t)
	for name, target := range map[string]string{
		"cwd": "/proc/self/cwd", "fd4": "/proc/self/fd/4", "root1": "/proc/1/root/..", "devfd": "/dev/fd/5",
	} {
		if err := os.Symlink(target, filepath.Join(links, name)); err != nil {
			t.Fatal(err)
		}
	}
	var files []*os.File
	for i := 0; i < 3; i++ { // fds 3, 4, 5 of the sandbox process
		f, err := os.Open(host)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	for _, wd := range []string{
		"/proc/self/cwd", "/proc/1/root", "/proc/self/fd/4", "/dev/fd/4", "/dev/fd/5/..", "/dev/stdin/..",
		"/l/cwd", "/l/fd4", "/l/root1", "/l/devfd", "/../../..",
	} {
		t.Run(wd, func(t *testing.T) {
			r := runWith(t, runOpts{extra: files}, "exec", "--ro-bind", links+":/l", "-w", wd, "--", "/bin/sh", "-c", "pwd; ls -a")
			if strings.Contains(r.stdout, marker) {
				t.Fatalf("-w %s reached the caller's host directory\n%s", wd, r)
			}
			if r.code != 0 && r.code != 125 {
				t.Fatalf("-w %s: want it refused (125) or kept inside (0)\n%s", wd, r)
			}
		})
	}
	// ".." above the root stays at the root: the one that must start.
	if out := box(t, `pwd`, "-w", "/../../.."); strings.TrimSpace(out) != "/" {
		t.Fatalf("-w /../../..: pwd = %q", out)
	}
}

// TestEscapeLeakedFds: descriptors the caller has open (here a host
// directory, the handle of CVE-2024-21626) reach neither the payload nor
// pid 1 of the box, whose descriptors a payload given CAP_SYS_PTRACE could
// reopen through /proc/1/fd. TestInheritedFdsClosed checks a pipe and a
// file with the shell; this checks a directory with the probe, and pid 1.
func TestEscapeLeakedFds(t *testing.T) {
	host := hostDir(t)
	marker := randName("host-marker-")
	if err := os.WriteFile(filepath.Join(host, marker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	for i := 0; i < 3; i++ {
		f, err := os.Open(host)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	o := runOpts{extra: files}
	t.Run("payload", func(t *testing.T) {
		r := runWith(t, o, "exec", "--ro-bind", env.probe+":/probe", "--", "/probe", "fds")
		if r.code != 0 {
			t.Fatal(r)
		}
		var fds []string
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			n, _, _ := strings.Cut(l, ":")
			fds = append(fds, n)
		}
		if strings.Join(fds, ",") != "fd 0,fd 1,fd 2" {
			t.Fatalf("the payload inherited more than stdio:\n%s", r.stdout)
		}
	})
	t.Run("pid 1", func(t *testing.T) {
		// CAP_SYS_PTRACE is what lets the payload into /proc/1/fd at all;
		// without the filter, nothing but the closing stops it.
		script := `for f in /proc/1/fd/*; do echo "$f -> $(readlink $f)"; ls -a "$f/" 2>/dev/null; done; true`
		r := runWith(t, o, "exec", "--cap-add", "CAP_SYS_PTRACE", "--seccomp", "off", "--", "/bin/sh", "-c", script)
		if r.code != 0 {
			t.Fatal(r)
		}
		if strings.Contains(r.stdout, marker) || strings.Contains(r.stdout, host) {
			t.Fatalf("pid 1 holds the caller's host directory open:\n%s", r.stdout)
		}
		if !strings.Contains(r.stdout, "/proc/1/fd/") {
			t.Fatalf("could not list /proc/1/fd even with CAP_SYS_PTRACE; the check above saw nothing:\n%s", r)
		}
	})
}

// TestEscapeRootfsSymlinks: a rootfs is the caller's data and may come from
// an attacker (an image). A symlink planted where the box mounts or creates
// something must resolve inside the rootfs, never on the host. Docker's
// CVE-2014-9356 and runc's CVE-2019-16884 (a /proc symlink in the image)
// and CVE-2021-30465 (a symlink swapped in under a mount target) are this
// bug. The targets name the host directory both as such and as seen from
// the init stage's intermediate root (/oldroot/...), where the host's root
// sits while the box is built.
func TestEscapeRootfsSymlinks(t *testing.T) {
	for _, tc := range []struct {
		name, link string
		oldroot    bool     // target is /oldroot + the host directory
		flags      []string // src placeholders: "SRC" is replaced by a host dir
	}{
		{"tmp to host", "tmp", false, nil},
		{"tmp to oldroot", "tmp", true, nil},
		{"dev to oldroot", "dev", true, nil},
		{"proc to host", "proc", false, nil},
		{"bind target to host", "work", false, []string{"--bind", "SRC:/work/sub"}},
		{"bind target to oldroot", "work", true, []string{"--bind", "SRC:/work/sub"}},
		{"file bind target to oldroot", "work", true, []string{"--ro-bind", "/etc/passwd:/work/passwd"}},
		{"tmpfs target to oldroot", "work", true, []string{"--tmpfs", "/work/t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			need(t)
			rootfs := filepath.Join(hostDir(t), "rootfs")
			if out, err := exec.Command("cp", "-a", env.rootfs, rootfs).CombinedOutput(); err != nil {
				t.Fatalf("copy the rootfs: %v\n%s", err, out)
			}
			target := hostDir(t)
			link := target
			if tc.oldroot {
				link = "/oldroot" + target
			}
			os.RemoveAll(filepath.Join(rootfs, tc.link))
			if err := os.Symlink(link, filepath.Join(rootfs, tc.link)); err != nil {
				t.Fatal(err)
			}
			chownTree(t, rootfs)
			src := hostDir(t)
			args := []string{"exec", "--rootfs", rootfs}
			for _, f := range tc.flags {
				args = append(args, strings.ReplaceAll(f, "SRC", src))
			}
			args = append(args, "--", "/bin/sh", "-c", "touch /tmp/planted /work/sub/planted /work/t/planted 2>/dev/null; ls -a /"+tc.link+"/ 2>/dev/null; true")
			r := runSandbox(t, args...)
			if r.code != 0 && r.code != 125 {
				t.Fatalf("want the rootfs refused (125) or the link resolved inside it (0)\n%s", r)
			}
			assertEmpty(t, target)
		})
	}
}

// TestEscapeBindDestSymlink: the same through a bound host directory: a
// symlink inside a --bind source, used as part of a later mount's
// destination, resolves inside the box (runc CVE-2021-30465).
func TestEscapeBindDestSymlink(t *testing.T) {
	target := hostDir(t)
	for _, link := range []string{target, "/oldroot" + target} {
		d := hostDir(t)
		if err := os.Symlink(link, filepath.Join(d, "link")); err != nil {
			t.Fatal(err)
		}
		r := runSandbox(t, "exec", "--bind", d+":/a", "--bind", hostDir(t)+":/a/link/sub", "--tmpfs", "/a/link/t", "--",
			"/bin/sh", "-c", "touch /a/link/sub/x /a/link/t/x; true")
		if r.code != 0 && r.code != 125 {
			t.Fatalf("link %s: want refused (125) or kept inside (0)\n%s", link, r)
		}
		assertEmpty(t, target)
	}
}

// TestEscapeRemountReadOnly: a read-only bind cannot be made writable from
// inside: mount(2) needs CAP_SYS_ADMIN, which the payload lacks, and the
// default filter refuses the mount family even when the caller adds that
// capability (flatpak's CVE-2021-41133 was a filter that missed the new
// mount API; TestEscapeMountAPI checks those calls one by one).
func TestEscapeRemountReadOnly(t *testing.T) {
	ro := hostDir(t)
	script := `for m in /usr /ro; do mount -o remount,bind,rw $m 2>/dev/null; mount -o remount,rw $m 2>/dev/null; touch $m/escape-$$ 2>/dev/null && echo WROTE $m; done; true`
	for _, flags := range [][]string{nil, {"--seccomp", "off"}, {"--cap-add", "CAP_SYS_ADMIN"}} {
		out := box(t, script, append(flags, "--ro-bind", ro+":/ro")...)
		if strings.Contains(out, "WROTE") {
			t.Errorf("with %v a read-only bind was made writable:\n%s", flags, out)
		}
		assertEmpty(t, ro)
	}
	// The filter is what stops a payload the caller gave CAP_SYS_ADMIN:
	// without it the remount works (which shows the check can fail).
	out := box(t, script, "--cap-add", "CAP_SYS_ADMIN", "--seccomp", "off", "--ro-bind", ro+":/ro")
	if !strings.Contains(out, "WROTE /ro") {
		t.Fatalf("--cap-add CAP_SYS_ADMIN --seccomp off could not remount; the checks above prove nothing:\n%s", out)
	}
}

// TestEscapeReadOnlySubmount: a --ro-bind is read-only all the way down; a
// file system mounted on the host under the bound directory is read-only in
// the box too (bubblewrap issue #11: recursive read-only binds).
func TestEscapeReadOnlySubmount(t *testing.T) {
	need(t)
	needRoot(t) // to prepare the host: a mount or a set-user-ID file
	d := hostDir(t)
	sub := filepath.Join(d, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "mode=0777"); err != nil {
		t.Fatalf("mount a tmpfs under the bound dir: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	box(t, `touch /ro/sub/x 2>/dev/null && echo WROTE; true`, "--ro-bind", d+":/ro")
	assertEmpty(t, sub)
	// The same submount under a read-write bind is writable: the detector
	// works.
	box(t, `touch /rw/sub/x`, "--bind", d+":/rw")
	if _, err := os.Stat(filepath.Join(sub, "x")); err != nil {
		t.Fatalf("a write through --bind did not land in the submount: %v", err)
	}
}

// TestEscapeHostMountAfterStart: the box's mounts are private. With
// bubblewrap's slave propagation, a file system the host mounts under a
// --ro-bind source while a box runs appears in the box with its own flags,
// writable. The test makes the bound directory a shared mount (as systemd
// hosts' mounts are), starts a box that waits, mounts a tmpfs under the
// directory on the host, and lets the box try to write into it.
func TestEscapeHostMountAfterStart(t *testing.T) {
	need(t)
	needRoot(t) // to mount on the host
	d := hostDir(t)
	sub := filepath.Join(d, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(d, d, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind the test dir onto itself: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(d, unix.MNT_DETACH) })
	if err := unix.Mount("", d, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make it shared: %v", err)
	}
	ready := filepath.Join(d, "ready")
	// The box waits until the host has mounted, then writes.
	cmd := exec.Command(env.bin, "exec", "--ro-bind", d+":/ro", "--", "/bin/sh", "-c",
		`i=0; while [ ! -e /ro/ready ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; touch /ro/sub/x 2>/dev/null && echo WROTE; grep -c ' /ro/sub ' /proc/self/mountinfo; true`)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the box is up, and has bound d
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "mode=0777"); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("mount under the bound dir: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	// The ready file is made in the tmpfs-free parent, which the box sees.
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("box: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "WROTE") {
		t.Fatalf("the box wrote into a host mount made after it started:\n%s", out.String())
	}
	if f := strings.Fields(out.String()); len(f) == 0 || f[len(f)-1] != "0" {
		t.Fatalf("the host's later mount propagated into the box (mountinfo lines): %q", out.String())
	}
	assertEmpty(t, sub)
}

// TestEscapeDeviceNodes: no device node can be made in the box, even with
// the filter off and CAP_MKNOD kept: the kernel allows mknod of devices
// only to CAP_MKNOD in the initial user namespace. /dev holds only the
// harmless nodes (TestMinimalDev lists them).
func TestEscapeDeviceNodes(t *testing.T) {
	script := `mknod /tmp/sda b 8 0 2>/dev/null && echo MADE-BLOCK; mknod /tmp/mem c 1 1 2>/dev/null && echo MADE-CHAR; mknod /dev/shm/sda b 8 0 2>/dev/null && echo MADE-SHM; ls /dev`
	for _, flags := range [][]string{nil, {"--seccomp", "off"}, {"--seccomp", "off", "--cap-add", "CAP_MKNOD"}} {
		out := box(t, script, flags...)
		if strings.Contains(out, "MADE") {
			t.Errorf("with %v a device node was made:\n%s", flags, out)
		}
		got := strings.Fields(out)
		want := []string{"fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("with %v /dev = %v, want %v", flags, got, want)
		}
	}
}

// TestEscapeSetuidBinary: a set-user-ID file gains nothing in the box:
// binds are nosuid, no_new_privs is set, and a file owned by an id the
// box does not map cannot grant it. Checked with a file owned by host root
// and one owned by the caller (root inside the box), run as uid 1000 in a
// box that maps a subordinate range.
func TestEscapeSetuidBinary(t *testing.T) {
	need(t)
	needRoot(t) // to prepare the host: a mount or a set-user-ID file
	d := hostDir(t)
	if err := os.Chmod(d, 0o755); err != nil { // for uid 1000 in the box, a subordinate id on the host
		t.Fatal(err)
	}
	data, err := os.ReadFile(env.probe)
	if err != nil {
		t.Fatal(err)
	}
	for name, owner := range map[string]int{"suid-root": 0, "suid-caller": env.uid} {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, owner, owner); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Chmod(p, 0o4755); err != nil { // after chown, which clears the bit
			t.Fatal(err)
		}
	}
	// On the host the file works: the test user becomes root. This is what
	// the box must not allow.
	cmd := exec.Command(filepath.Join(d, "suid-root"), "ids")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred}
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), fmt.Sprintf("uid: %d 0 0", env.uid)) {
		t.Fatalf("the set-user-ID copy does not work on the host (%v), the test proves nothing:\n%s", err, out)
	}
	for _, name := range []string{"suid-root", "suid-caller"} {
		r := runSandbox(t, "exec", "--map", "auto", "--uid", "1000", "--gid", "1000", "--ro-bind", d+":/s", "--", "/s/"+name, "ids")
		if r.code != 0 {
			t.Fatalf("%s: %s", name, r)
		}
		if !strings.Contains(r.stdout, "uid: 1000 1000 1000\n") || !strings.Contains(r.stdout, "CapEff: 0000000000000000") {
			t.Errorf("%s gained privileges in the box:\n%s", name, r.stdout)
		}
	}
}

// ---- the reaper and the sandbox binary as stepping stones --------------

// TestEscapeInitProcFiles: pid 1 of the box (the sandbox binary) is not
// dumpable, keeps its capabilities, and its memory belongs to the host's user
// namespace (it was executed before the box's existed), so the payload can
// read none of its /proc files: its environment, descriptors, memory, root
// or binary; not even with CAP_SYS_PTRACE in the box. The same files of
// another process of the box open, which shows the check can fail.
func TestEscapeInitProcFiles(t *testing.T) {
	script := `for f in environ mem maps auxv; do head -c1 /proc/$P/$f >/dev/null 2>&1 && echo OPEN $f; done
for f in /proc/$P/fd/*; do readlink $f >/dev/null 2>&1 && echo OPEN fd; done; ls /proc/$P/root/ >/dev/null 2>&1 && echo OPEN root
readlink /proc/$P/exe >/dev/null 2>&1 && echo OPEN exe; readlink /proc/$P/cwd >/dev/null 2>&1 && echo OPEN cwd; true`
	for _, flags := range [][]string{nil, {"--seccomp", "off"}, {"--cap-add", "CAP_SYS_PTRACE", "--landlock", "off"}} {
		if out := box(t, "P=1; "+script, flags...); strings.Contains(out, "OPEN") {
			t.Errorf("with %v the payload reads pid 1's /proc files:\n%s", flags, out)
		}
	}
	// The control: the same script against another process of the box,
	// whose files the payload may open, finds them open; so the checks
	// above can fail.
	ctl := `sleep 30 & P=$!; ` + script + `; kill $P`
	if out := box(t, ctl); !strings.Contains(out, "OPEN environ") {
		t.Fatalf("another box process's /proc/PID/environ should open; the check above proves nothing:\n%s", out)
	}
}

// TestEscapeOverwriteSandboxBinary: runc's CVE-2019-5736 overwrote the
// runtime's binary through /proc/self/exe from inside. Here pid 1 is the
// sandbox binary; the test runs a copy the caller owns (so file modes do
// not stop the write) and tries to open it for writing through
// /proc/1/exe. The copy is unchanged afterwards.
func TestEscapeOverwriteSandboxBinary(t *testing.T) {
	d := hostDir(t)
	bin := filepath.Join(d, "sandbox")
	orig, err := os.ReadFile(env.bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, orig, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(bin, env.uid, env.gid); err != nil && os.Geteuid() == 0 {
		t.Fatal(err)
	}
	for _, flags := range []string{"", "--seccomp off", "--seccomp off --cap-add CAP_SYS_PTRACE"} {
		wrap := `"$BIN" exec ` + flags + ` --ro-bind "$PROBE:/probe" -- /bin/sh -c '/probe open-write /proc/1/exe; echo x >> /proc/1/exe 2>/dev/null && echo APPENDED; true'`
		r := runWith(t, runOpts{wrap: wrap, env: []string{"BIN=" + bin, "PROBE=" + env.probe}})
		if r.code != 0 || !strings.Contains(r.stdout, "open_write: errno=") || strings.Contains(r.stdout, "APPENDED") {
			t.Errorf("with %q /proc/1/exe opened for writing:\n%s", flags, r)
		}
	}
	now, err := os.ReadFile(bin)
	if err != nil || !bytes.Equal(now, orig) {
		t.Fatalf("the sandbox binary changed on the host (%v)", err)
	}
}

// TestEscapePtraceInit: bubblewrap's CVE-2016-8659 and runc's CVE-2016-9962
// let the sandboxed process attach to the still-privileged setup process.
// Pid 1 here is not dumpable, the payload has no capabilities, and pid 1's
// memory belongs to the host's user namespace: attaching fails with the
// filter off, and with CAP_SYS_PTRACE in the box too. The same attach to
// another process of the box works with CAP_SYS_PTRACE.
func TestEscapePtraceInit(t *testing.T) {
	for _, flags := range [][]string{nil, {"--seccomp", "off"}, {"--seccomp", "off", "--cap-add", "CAP_SYS_PTRACE", "--landlock", "off"}} {
		if out := probeOK(t, flags, "ptrace-attach", "1"); !strings.Contains(out, "ptrace_attach: errno=") {
			t.Errorf("with %v the payload attached to pid 1: %s", flags, out)
		}
	}
	out := box(t, `sleep 30 & /probe ptrace-attach $!; kill $!`, "--seccomp", "off", "--cap-add", "CAP_SYS_PTRACE",
		"--landlock", "off", "--ro-bind", env.probe+":/probe")
	if !strings.Contains(out, "ptrace_attach: ok") {
		t.Fatalf("with CAP_SYS_PTRACE the attach to a box process should work; the check above proves nothing: %s", out)
	}
}

// ---- signals and processes ---------------------------------------------
// kill 0 and kill -1: TestKillZeroStaysInside. Daemons: TestNothingLeftRunning.
// Killing the supervisor: TestKillingSupervisorKillsBox.

// TestEscapeStubbornProcessesDie: processes that ignore every catchable
// signal, double-fork and start their own sessions still die with the box:
// pid 1 sends SIGKILL to the whole pid namespace.
func TestEscapeStubbornProcessesDie(t *testing.T) {
	script := `trap "" TERM HUP INT QUIT USR1 USR2
(trap "" TERM HUP INT; setsid sh -c 'trap "" TERM HUP INT; exec sleep 7101' &)
(trap "" TERM HUP INT; nohup sleep 7102 >/dev/null 2>&1 &)
sh -c 'trap "" TERM HUP; sleep 7103' &
echo started`
	if out := box(t, script); !strings.Contains(out, "started") {
		t.Fatal(out)
	}
	for _, s := range []string{"sleep 7101", "sleep 7102", "sleep 7103"} {
		if p := pgrep(s); len(p) > 0 {
			t.Errorf("%q outlived the box: %v", s, p)
		}
	}
}

// ---- network ------------------------------------------------------------

// TestEscapeHostTCPUnreachable: a service listening on the host's loopback
// is out of reach; the box's 127.0.0.1 is its own. --net host reaches it.
func TestEscapeHostTCPUnreachable(t *testing.T) {
	need(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAll(ln)
	addr := ln.Addr().String()
	if out := probeOK(t, nil, "connect", "tcp", addr); strings.TrimSpace(out) != "connect: errno=ECONNREFUSED" {
		t.Fatalf("connect to the host's %s from the box: %s", addr, out)
	}
	if out := probeOK(t, []string{"--net", "host"}, "connect", "tcp", addr); strings.TrimSpace(out) != "connect: ok" {
		t.Fatalf("with --net host the listener should answer; the check above proves nothing: %s", out)
	}
}

// TestEscapeHostAbstractSocketUnreachable: abstract unix sockets belong to
// the network namespace, not the file system: binds do not hide them, the
// box's own namespace does (X11's and D-Bus's abstract sockets).
func TestEscapeHostAbstractSocketUnreachable(t *testing.T) {
	need(t)
	name := randName("sandbox-escape-")
	ln, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAll(ln)
	if out := probeOK(t, nil, "connect", "unix-abstract", name); strings.TrimSpace(out) != "connect: errno=ECONNREFUSED" {
		t.Fatalf("connect to the host's @%s from the box: %s", name, out)
	}
	// Landlock scoping (TestLandlockAbstractSocketScoped) would refuse it too.
	if out := probeOK(t, []string{"--net", "host", "--landlock", "off"}, "connect", "unix-abstract", name); strings.TrimSpace(out) != "connect: ok" {
		t.Fatalf("with --net host --landlock off the socket should answer; the check above proves nothing: %s", out)
	}
}

// TestEscapeHostPathSocketInvisible: a unix socket on the host's file
// system is reachable only if the caller binds it in.
func TestEscapeHostPathSocketInvisible(t *testing.T) {
	d := hostDir(t)
	sock := filepath.Join(d, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	os.Chmod(sock, 0o777)
	go acceptAll(ln)
	if out := probeOK(t, nil, "connect", "unix", sock); strings.TrimSpace(out) != "connect: errno=ENOENT" {
		t.Fatalf("connect to the host's %s from the box: %s", sock, out)
	}
	if out := probeOK(t, []string{"--bind", d + ":/s"}, "connect", "unix", "/s/s.sock"); strings.TrimSpace(out) != "connect: ok" {
		t.Fatalf("bound in, the socket should answer; the check above proves nothing: %s", out)
	}
}

func acceptAll(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// TestEscapeNetlinkOnlyLo: over NETLINK_ROUTE (what ip(8) uses, not /proc)
// the box sees only its loopback. TestNetworkIsolated checks /proc/net/dev.
func TestEscapeNetlinkOnlyLo(t *testing.T) {
	if out := probeOK(t, nil, "netlink-links"); strings.TrimSpace(out) != "link: lo" {
		t.Fatalf("interfaces over netlink: %q, want only lo", out)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) > 1 {
		if out := probeOK(t, []string{"--net", "host"}, "netlink-links"); strings.Count(out, "link: ") != len(ifs) {
			t.Fatalf("with --net host want the host's %d interfaces, got:\n%s", len(ifs), out)
		}
	}
}

// ---- kernel surface -----------------------------------------------------

// TestEscapeSeccompDefault: every class of system call the default profile
// refuses (seccomp/default.go) fails in a default box with the errno the
// profile names. The same calls with --seccomp off mostly succeed, which
// shows the filter is what answers.
func TestEscapeSeccompDefault(t *testing.T) {
	want := map[string]string{
		// namespaces
		"unshare": "EPERM", "setns": "EPERM", "clone_newuser": "EPERM", "clone3": "ENOSYS",
		// keyrings, not namespaced
		"keyctl": "EPERM", "add_key": "EPERM", "request_key": "EPERM",
		// kernel attack surface
		"bpf": "EPERM", "perf_event_open": "EPERM", "userfaultfd": "EPERM", "io_uring_setup": "EPERM",
		"io_uring_enter": "EPERM", "io_uring_register": "EPERM", "fanotify_init": "EPERM",
		// other processes
		"ptrace": "EPERM", "process_vm_readv": "EPERM", "process_vm_writev": "EPERM", "pidfd_getfd": "EPERM", "kcmp": "EPERM",
		// the kernel and the machine
		"kexec_load": "EPERM", "kexec_file_load": "EPERM", "init_module": "EPERM", "finit_module": "EPERM",
		"delete_module": "EPERM", "reboot": "EPERM", "swapon": "EPERM", "swapoff": "EPERM", "acct": "EPERM",
		"quotactl": "EPERM", "syslog": "EPERM", "iopl": "EPERM", "ioperm": "EPERM", "modify_ldt": "EPERM",
		// the clock
		"settimeofday": "EPERM", "clock_settime": "EPERM", "adjtimex": "EPERM", "clock_adjtime": "EPERM",
		// file handles (Docker's 2014 "shocker" escape used open_by_handle_at)
		"open_by_handle_at": "EPERM", "name_to_handle_at": "EPERM",
		// personality flags that weaken ASLR; the host name
		"personality": "EPERM", "sethostname": "EPERM",
		// socket families outside unix, inet, inet6, netlink
		"socket_vsock": "EAFNOSUPPORT", "socket_packet": "EAFNOSUPPORT",
		// a number no kernel has: the allow-list's default
		"unknown": "ENOSYS",
	}
	var names []string
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	got := parseProbe(t, probeOK(t, nil, append([]string{"syscall"}, names...)...))
	for _, n := range names {
		if got[n] != "errno="+want[n] {
			t.Errorf("%s: %s in a default box, want errno=%s", n, got[n], want[n])
		}
	}
	// Allowed ones still work: the filter is not refusing everything.
	ok := parseProbe(t, probeOK(t, nil, "syscall", "socket_unix", "socket_inet", "mkdir"))
	for n, v := range ok {
		if v != "ok" {
			t.Errorf("%s: %s, want ok in a default box", n, v)
		}
	}
	// Without the filter, the kernel lets these through.
	off := parseProbe(t, probeOK(t, []string{"--seccomp", "off"}, "syscall", "keyctl", "add_key", "personality", "process_vm_readv", "kcmp", "clone_newuser", "adjtimex"))
	for n, v := range off {
		if v != "ok" {
			t.Errorf("--seccomp off: %s: %s, want ok (else this test cannot tell the filter is on)", n, v)
		}
	}
}

// parseProbe reads "NAME: RESULT" lines.
func parseProbe(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("bad probe line %q", l)
		}
		m[k] = v
	}
	return m
}

// TestEscapeMountAPI: flatpak's CVE-2021-41133: its filter blocked mount(2)
// but not the new mount API (open_tree, move_mount, fsopen, fsmount,
// fspick, mount_setattr), so a sandboxed program with the capability could
// still build mounts. Here every one is refused even when the caller adds
// CAP_SYS_ADMIN; without the filter they reach the kernel.
func TestEscapeMountAPI(t *testing.T) {
	calls := []string{"mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr"}
	got := parseProbe(t, probeOK(t, []string{"--cap-add", "CAP_SYS_ADMIN"}, append([]string{"syscall"}, calls...)...))
	for _, c := range calls {
		if got[c] != "errno=EPERM" {
			t.Errorf("%s with CAP_SYS_ADMIN: %s, want errno=EPERM from the filter", c, got[c])
		}
	}
	off := parseProbe(t, probeOK(t, []string{"--cap-add", "CAP_SYS_ADMIN", "--seccomp", "off"}, "syscall", "mount", "open_tree", "fsopen"))
	for n, v := range off {
		if v == "errno=EPERM" {
			t.Errorf("--seccomp off: %s still EPERM; this test cannot tell the filter is on", n)
		}
	}
}

// TestEscapeUnshareUser: a new user namespace inside the box would hand the
// payload a full set of capabilities over fresh namespaces, the door to
// most kernel bugs reachable by unprivileged users. unshare(1) fails in a
// default box and works with --seccomp off.
func TestEscapeUnshareUser(t *testing.T) {
	if out := box(t, `unshare -U true 2>/dev/null && echo UNSHARED; unshare -Ur true 2>/dev/null && echo UNSHARED-R; true`); strings.Contains(out, "UNSHARED") {
		t.Fatalf("a user namespace was made in a default box: %s", out)
	}
	if out := box(t, `unshare -U true && echo UNSHARED`, "--seccomp", "off"); !strings.Contains(out, "UNSHARED") {
		t.Fatalf("with --seccomp off unshare -U should work; the check above proves nothing: %s", out)
	}
}

// TestEscapeOtherABIs: rules written for x86-64 numbers say nothing about
// the i386 (int 0x80) and x32 numbers of the same calls; a filter that
// let them by would be bypassed whole. The default filter kills a process
// that uses either.
func TestEscapeOtherABIs(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		testenv.Skip(t, "the i386 and x32 attacks are written for x86-64; %s's compat ABIs have no test yet", runtime.GOARCH)
	}
	for _, abi := range []string{"x32", "i386"} {
		if out := probeOK(t, nil, abi); strings.TrimSpace(out) != abi+": killed=SIGSYS" {
			t.Errorf("%s system call in a default box: %q, want the process killed by SIGSYS", abi, out)
		}
	}
	// Without the filter int 0x80 works on a kernel with IA-32 emulation.
	out := strings.TrimSpace(probeOK(t, []string{"--seccomp", "off"}, "i386"))
	if out == "i386: killed=SIGSYS" {
		t.Fatalf("--seccomp off: %q; this test cannot tell the filter is on", out)
	}
}

// ---- information leaks --------------------------------------------------
// The environment: TestEnvironmentCleared. Masked /proc files: TestProcMasked.

// TestEscapeKeyring: kernel keyrings are not namespaced; a box that shared
// the caller's session keyring could read its keys (Docker gave every
// container the host's session keyring until it filtered keyctl). The
// default filter refuses keyctl; with it off, the box still has a fresh
// session keyring, not the caller's.
func TestEscapeKeyring(t *testing.T) {
	need(t)
	// The caller gets a session keyring of its own (a login would have
	// one), and both the host probe and the box start from it.
	type outs struct {
		host, def, off []byte
		err            error
	}
	done := make(chan outs)
	go func() {
		// Keyrings belong to a thread's credentials: join on a locked
		// thread, start the children from it, and never unlock, so the
		// thread ends with this goroutine instead of going back to the pool.
		runtime.LockOSThread()
		var o outs
		name := randName("sandbox-escape-")
		if _, err := unix.KeyctlJoinSessionKeyring(name); err != nil {
			o.err = fmt.Errorf("join a session keyring: %w", err)
			done <- o
			return
		}
		run := func(args ...string) []byte {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir = "/"
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred}
			out, err := cmd.Output()
			if err != nil && o.err == nil {
				o.err = fmt.Errorf("%v: %w", args, err)
			}
			return out
		}
		o.host = run(env.probe, "keyring")
		o.def = run(env.bin, "exec", "--ro-bind", env.probe+":/probe", "--", "/probe", "keyring")
		o.off = run(env.bin, "exec", "--seccomp", "off", "--ro-bind", env.probe+":/probe", "--", "/probe", "keyring")
		done <- o
	}()
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	host := parseProbe(t, string(o.host))
	if strings.HasPrefix(host["session"], "errno") {
		t.Fatalf("the caller's session keyring is not readable on the host: %s", o.host)
	}
	if got := parseProbe(t, string(o.def)); got["session"] != "errno=EPERM" {
		t.Errorf("keyctl in a default box: %v, want errno=EPERM", got)
	}
	got := parseProbe(t, string(o.off))
	if strings.HasPrefix(got["session"], "errno") || got["session"] == host["session"] {
		t.Fatalf("session keyring in the box %s, the caller's %s: want a different one", got["session"], host["session"])
	}
}

// TestEscapeHostFilesAbsent: the default view shows /usr, /bin, /lib*,
// /etc read-only and nothing of the user's: no /home, /root is empty, no
// /run (sockets, the user's runtime dir), /var, /sys, /mnt, /media, /srv,
// /opt. Without /sys there is no cgroupfs, so no release_agent (CVE-2022-0492).
func TestEscapeHostFilesAbsent(t *testing.T) {
	out := box(t, `for p in /home /run /var /sys /mnt /media /srv /opt /boot /work; do test -e $p && echo PRESENT $p; done; ls -A /root | sed 's/^/IN-ROOT /'; true`)
	if strings.Contains(out, "PRESENT") || strings.Contains(out, "IN-ROOT") {
		t.Fatalf("host files are visible in the default box:\n%s", out)
	}
	// The same loop sees the host's /home when bound in: the check works.
	if _, err := os.Stat("/home"); err == nil {
		if out := box(t, `test -e /home && echo PRESENT /home; true`, "--ro-bind", "/home:/home"); !strings.Contains(out, "PRESENT") {
			t.Fatalf("bound /home not seen: %s", out)
		}
	}
}

// ---- terminal injection --------------------------------------------------

// TestEscapeTerminalInjection: bubblewrap's CVE-2017-5226: with the
// caller's terminal as its controlling terminal, a sandboxed program used
// TIOCSTI to type commands into the caller's shell after exit. Here the
// payload is in its own session (so the terminal is not its controlling
// terminal) and the filter refuses TIOCSTI and TIOCLINUX (flatpak's
// CVE-2023-28100). The test gives the box a real pseudo-terminal as its
// controlling terminal and checks that no byte reached its input queue; the
// same probe run directly on the host does inject, which shows the check
// can fail.
func TestEscapeTerminalInjection(t *testing.T) {
	need(t)
	runAs := func(t *testing.T, cred *syscall.Credential, args ...string) (string, []byte) {
		t.Helper()
		master, slave := openPty(t)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.Dir = "/"
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setsid: true, Setctty: true, Ctty: 0}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		out := readAll(t, master, cmd)
		return out, drain(t, slave)
	}
	run := func(t *testing.T, args ...string) (string, []byte) {
		t.Helper()
		return runAs(t, env.cred, args...)
	}
	t.Run("host control", func(t *testing.T) {
		out, injected := run(t, env.probe, "tiocsti")
		legacyOff := false
		if b, _ := os.ReadFile("/proc/sys/dev/tty/legacy_tiocsti"); strings.TrimSpace(string(b)) == "0" {
			legacyOff = true
		}
		if (!strings.Contains(out, "tiocsti: ok") || len(injected) == 0) && legacyOff && os.Geteuid() == 0 {
			// Linux 6.2+ can switch TIOCSTI off for all but CAP_SYS_ADMIN:
			// the control then runs as root, which still injects.
			out, injected = runAs(t, nil, env.probe, "tiocsti")
		}
		if !strings.Contains(out, "tiocsti: ok") || len(injected) == 0 {
			if legacyOff {
				testenv.Skip(t, "TIOCSTI is off on this host (dev.tty.legacy_tiocsti=0) and the control cannot run as root: the box checks below cannot be shown to fail")
			}
			t.Fatalf("TIOCSTI on the host should inject; the checks below prove nothing: %q, queued %q", out, injected)
		}
	})
	for _, flags := range [][]string{nil, {"--seccomp", "off"}} {
		t.Run(fmt.Sprintf("box %v", flags), func(t *testing.T) {
			args := append([]string{env.bin, "exec", "--ro-bind", env.probe + ":/probe"}, flags...)
			out, injected := run(t, append(args, "--", "/probe", "tiocsti")...)
			if !strings.Contains(out, "tiocsti: errno=") || strings.Contains(out, ": ok") {
				t.Errorf("TIOCSTI from the box: %q", out)
			}
			if len(injected) > 0 {
				t.Errorf("the box pushed %q into the caller's terminal", injected)
			}
		})
	}
	// With --tty the payload's terminal is the box's own: even with the
	// filter off, where TIOCSTI succeeds on it, nothing reaches the
	// caller's terminal.
	t.Run("box --tty --seccomp off", func(t *testing.T) {
		out, injected := run(t, env.bin, "exec", "-t", "--seccomp", "off", "--ro-bind", env.probe+":/probe", "--", "/probe", "tiocsti")
		if !strings.Contains(out, "tiocsti:") {
			t.Fatalf("the probe did not run: %q", out)
		}
		if len(injected) > 0 {
			t.Errorf("a --tty box pushed %q into the caller's terminal", injected)
		}
	})
	// TIOCLINUX on a pseudo-terminal is ENOTTY when allowed: EPERM means
	// the filter answered.
	out, _ := run(t, env.bin, "exec", "--ro-bind", env.probe+":/probe", "--", "/probe", "tioclinux")
	if !strings.Contains(out, "tioclinux: errno=EPERM") {
		t.Errorf("TIOCLINUX in a default box: %q, want errno=EPERM", out)
	}
	out, _ = run(t, env.bin, "exec", "--seccomp", "off", "--ro-bind", env.probe+":/probe", "--", "/probe", "tioclinux")
	if strings.Contains(out, "tioclinux: errno=EPERM") {
		t.Errorf("TIOCLINUX with --seccomp off: %q; the check above cannot tell the filter is on", out)
	}
}

// openPty returns a pseudo-terminal pair in raw mode, so that a single
// injected byte is readable at once (in canonical mode it would wait for a
// newline).
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("TIOCGPTN: %v", err)
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	s, err := os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	if os.Geteuid() == 0 {
		os.Chown(name, env.uid, env.gid) // the box's user opens it as its terminal
	}
	tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Lflag &^= unix.ICANON | unix.ECHO | unix.ISIG | unix.IEXTEN
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// readAll waits for the program and returns what it wrote to the
// terminal. The output is a few lines, which the terminal buffers until the
// program has exited; then it is read without blocking.
func readAll(t *testing.T, master *os.File, cmd *exec.Cmd) string {
	t.Helper()
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case <-waitErr:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the program on the pty did not finish in 60s")
	}
	fd := int(master.Fd())
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	b := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, b)
		if n <= 0 || err != nil {
			break
		}
		buf.Write(b[:n])
	}
	return buf.String()
}

// drain reads what waits in the terminal's input queue, without blocking.
func drain(t *testing.T, slave *os.File) []byte {
	t.Helper()
	fd := int(slave.Fd())
	n, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
	if err != nil {
		t.Fatalf("TIOCINQ: %v", err)
	}
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	m, _ := unix.Read(fd, b)
	return b[:max(m, 0)]
}

// ---- resource exhaustion -------------------------------------------------
// Fork bombs, memory, CPU and output floods are bounded by the caller's
// --pids, --memory, --cpus, --cpu-time, --timeout and --max-output (the
// limits tests). What the box gets without asking is checked here.

// TestEscapeTmpIsTmpfs: the box's /tmp and /dev/shm are tmpfs, so filling
// them does not fill the host's disk (and their pages are charged to the
// box's memory cgroup under --memory).
func TestEscapeTmpIsTmpfs(t *testing.T) {
	out := box(t, `stat -f -c %T /tmp /dev/shm; dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>/dev/null && du -m /tmp/fill | cut -f1`)
	if f := strings.Fields(out); len(f) != 3 || f[0] != "tmpfs" || f[1] != "tmpfs" || f[2] != "64" {
		t.Fatalf("stat -f of /tmp and /dev/shm, and the MB written to /tmp: %q, want tmpfs tmpfs 64", out)
	}
}
