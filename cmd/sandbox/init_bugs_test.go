package main

// Tests of issue #17 (and #13 item 2): what a source review of the init stage
// and the supervisor found. The library-level ones (the Plan/release race,
// signals during setup, leaks of a failed release, CPU time without a
// cgroup, a caller that ignores SIGCHLD) are in sandbox/init_bugs_test.go.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mknodNull makes a character device node with /dev/null's numbers (1, 3),
// writable by all, at p.
func mknodNull(t *testing.T, p string) {
	t.Helper()
	if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatalf("mknod %s: %v", p, err)
	}
	if err := unix.Chmod(p, 0o666); err != nil { // past the umask
		t.Fatal(err)
	}
	// The node works where the host has it: the box must be what stops it.
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("the device node %s does not open on the host (%v): the test proves nothing", p, err)
	}
	unix.Close(fd)
}

// tmpfsAt mounts a fresh tmpfs (dev and suid allowed, writable by all) at dir
// on the host, until the test ends.
func tmpfsAt(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=0777"); err != nil {
		t.Fatalf("mount a tmpfs at %s: %v", dir, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
}

// TestHostMountsNodevReadOnlyAllTheWayDown: everything the box gets from the
// host (--rootfs, --bind, --ro-bind) is nodev down to its last submount, and
// --rootfs is read-only down to it. A device node (a copy of /dev/null) in
// each kind of mount and in a submount below each must not open; the
// rootfs's submount must not take a file. The old code bound --rootfs
// without nodev and made only its top mount read-only.
func TestHostMountsNodevReadOnlyAllTheWayDown(t *testing.T) {
	need(t)
	needRoot(t) // mknod and mount on the host
	rootfs := hostDir(t)
	if out, err := exec.Command("cp", "-a", env.rootfs+"/.", rootfs).CombinedOutput(); err != nil {
		t.Fatalf("copy the rootfs: %v\n%s", err, out)
	}
	if out, err := exec.Command("cp", env.probe, filepath.Join(rootfs, "probe")).CombinedOutput(); err != nil {
		t.Fatalf("copy the probe: %v\n%s", err, out)
	}
	mknodNull(t, filepath.Join(rootfs, "null"))
	tmpfsAt(t, filepath.Join(rootfs, "data"))
	mknodNull(t, filepath.Join(rootfs, "data", "null"))

	host := hostDir(t)
	mknodNull(t, filepath.Join(host, "null"))
	tmpfsAt(t, filepath.Join(host, "sub"))
	mknodNull(t, filepath.Join(host, "sub", "null"))

	script := `for f in "$@"; do /probe open-write $f; done; touch /data/planted 2>/dev/null && echo WROTE-SUBMOUNT; true`
	r := runSandbox(t, "exec", "--rootfs", rootfs, "--", "/bin/sh", "-c", script, "sh", "/null", "/data/null")
	if r.code != 0 {
		t.Fatalf("--rootfs: %s", r)
	}
	if strings.Contains(r.stdout, "WROTE-SUBMOUNT") {
		t.Errorf("--rootfs: a submount of the rootfs is writable in the box:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "data", "planted")); err == nil {
		t.Errorf("--rootfs: the box planted a file in the host's %s/data", rootfs)
	}
	if got := strings.Count(r.stdout, "open_write: errno=EACCES"); got != 2 {
		t.Errorf("--rootfs: device nodes in the rootfs and its submount: want 2 refused with EACCES, got %d:\n%s", got, r)
	}

	r = runSandbox(t, "exec", "--ro-bind", env.probe+":/probe", "--bind", host+":/rw", "--ro-bind", host+":/ro",
		"--", "/bin/sh", "-c", script, "sh", "/rw/null", "/rw/sub/null", "/ro/null", "/ro/sub/null")
	if r.code != 0 {
		t.Fatalf("--bind, --ro-bind: %s", r)
	}
	if got := strings.Count(r.stdout, "open_write: errno=EACCES"); got != 4 {
		t.Errorf("--bind, --ro-bind: device nodes in each and in a submount: want 4 refused with EACCES, got %d:\n%s", got, r)
	}
}

// TestWorkdirIntoProcThroughSymlink: /dev/fd is an ordinary symlink to
// /proc/self/fd, so a --workdir string check cannot see that it ends in
// procfs (the old code ran the payload in /proc/2/fd). The directory opened
// is checked instead, and the run fails as a setup error naming chdir.
func TestWorkdirIntoProcThroughSymlink(t *testing.T) {
	for _, dir := range []string{"/dev/fd", "/dev/fd/", "/dev/fd/."} {
		r := runSandbox(t, "exec", "--workdir", dir, "--", "/bin/sh", "-c", "pwd")
		if r.code != 125 || strings.Contains(r.stdout, "/proc") || !strings.Contains(r.stderr, "chdir") {
			t.Errorf("--workdir %s: want exit 125 naming chdir, and no payload run\n%s", dir, r)
		}
	}
	// An ordinary directory through a symlink still works.
	if out := box(t, "pwd", "--workdir", "/bin"); strings.TrimSpace(out) == "" {
		t.Errorf("--workdir /bin: pwd printed nothing")
	}
}

// TestReportSaysCPULowerBound: the report has cpu_exact, which says whether
// cpu_user and cpu_sys are the cgroup's count or only a lower bound.
func TestReportSaysCPULowerBound(t *testing.T) {
	need(t)
	rep := filepath.Join(hostDir(t), "report.json")
	r := runSandbox(t, "exec", "--report", rep, "--", "true")
	if r.code != 0 {
		t.Fatal(r)
	}
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["cpu_exact"].(bool); !ok {
		t.Fatalf("report lacks a bool cpu_exact:\n%s", b)
	}
}

// TestDryRunLongCommand: a command of 20,000 arguments is planned in well
// under a second (kong's passthrough handling made it 7 s: quadratic), and
// none of it is lost.
func TestDryRunLongCommand(t *testing.T) {
	need(t)
	args := []string{"exec", "--dry-run", "--", "echo"}
	for i := 0; i < 20000; i++ {
		args = append(args, strconv.Itoa(i))
	}
	start := time.Now()
	r := runSandbox(t, args...)
	took := time.Since(start)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "exec echo 0 1 2 ") || !strings.Contains(r.stdout, " 19998 19999\n") {
		t.Fatalf("the plan lost arguments: %.200s ... %.200s", r.stdout, r.stdout[max(0, len(r.stdout)-200):])
	}
	if took > 2*time.Second {
		t.Errorf("--dry-run of 20,000 arguments took %v, want < 2s", took)
	}
}
