package main

// Limits where users run them (issue #10): cgroup v2 under systemd with no
// root step (the test user's systemd manager gives a delegated scope), v2
// without systemd after `cgroup-setup`, every verdict as the unprivileged
// user, nothing left behind after many runs, and limits that hold against
// a payload that can mount cgroupfs (v1 and v2). The v2 tests run in the VM
// stage (`make vmtest`: a cgroup v2 guest with systemd, the test user
// lingering); the v1 ones on the hybrid host.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// asUser is the unprivileged test user with no root step (no cgroup-setup):
// on v2 with systemd its boxes get a scope from its user manager.
var asUser = runOpts{}

// TestSystemdUserMemory is item 2: a regular user's --memory gives oom
// with no root step, from a cgroup that is not the user's own (the test's
// service), through a delegated scope from the user's systemd manager.
func TestSystemdUserMemory(t *testing.T) {
	need(t)
	testenv.NeedUserManager(t, env.uid)
	r := limExec(t, asUser, []string{"--memory", "64M"}, "/probe", "alloc", "400")
	r.want(t, "oom", 128+int(syscall.SIGKILL))
	t.Logf("--memory 64M, alloc 400 MB, as uid %d: status %s, exit %d, oom_killed %v",
		env.uid, r.report.Status, r.code, r.report.OOMKilled)
	// The box's cgroup was in a scope of the user's manager.
	sleep := limSleep()
	dirs, res := limWatchCgroups(t, env.cred, "", sleep, "exec", "--memory", "64M", "--", "/bin/sh", "-c", sleep)
	if res.code != 0 {
		t.Fatalf("want exit 0\n%s", res)
	}
	for _, d := range dirs {
		if !strings.Contains(d, fmt.Sprintf("/user@%d.service/", env.uid)) || !strings.Contains(d, ".scope/") {
			t.Errorf("box cgroup %s is not in a scope of user@%d.service", d, env.uid)
		}
		t.Logf("box cgroup: %s", d)
	}
	limAssertGone(t, dirs)
}

// TestSystemdUserNoManager: with no user manager reachable, --memory fails
// with 125 and the error names the fixes.
func TestSystemdUserNoManager(t *testing.T) {
	need(t)
	testenv.NeedCgroupV2(t)
	o := runOpts{env: []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"}}
	r := runWith(t, o, "exec", "--memory", "64M", "--", "true")
	if r.code != 125 {
		t.Fatalf("want exit 125\n%s", r)
	}
	for _, s := range []string{"no systemd user manager reachable", "/nonexistent/bus", "loginctl enable-linger", "cgroup-setup --user"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("the error does not name %q\n%s", s, r)
		}
	}
	t.Logf("stderr: %s", r.stderr)
}

// TestCgroupV2SetupShell is item 3: v2 without systemd. After `cgroup-setup
// --user`, a user's shell started in /sys/fs/cgroup/sandbox-USER/shell (as
// the setup message says), or in another cgroup below the user's
// directory, root-made or the user's own, runs boxes with --memory, again
// and again. The user manager is kept out (DBUS_SESSION_BUS_ADDRESS points
// nowhere), so only the setup path can work.
func TestCgroupV2SetupShell(t *testing.T) {
	needRoot(t)
	need(t)
	testenv.NeedCgroupV2(t)
	u, err := user.LookupId(strconv.Itoa(env.uid))
	if err != nil {
		t.Fatal(err)
	}
	top := "/sys/fs/cgroup/sandbox-" + u.Username
	if r := runWith(t, asRoot, "cgroup-setup", "--user", u.Username); r.code != 0 {
		t.Fatalf("cgroup-setup: %s", r)
	}
	other := filepath.Join(top, "other")
	t.Cleanup(func() {
		// A box cgroup below other may still be on its way out (its last
		// task dying), so other cannot go at once: retry, or a later
		// test finds the setup directory left (TestCgroupDelegationAsUser).
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			for _, d := range []string{other, filepath.Join(top, "shell"), top} {
				os.Remove(d)
			}
			if _, err := os.Stat(other); os.IsNotExist(err) || time.Now().After(deadline) {
				break
			}
		}
	})
	noBus := "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"
	for _, tc := range []struct {
		name, cg string
		own      bool // the user owns the shell's cgroup
	}{
		{"shell in the setup directory's shell cgroup", filepath.Join(top, "shell"), true},
		{"shell in a cgroup root made below it", other, false},
		{"shell in a cgroup the user made below it", other, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cg == other {
				os.Remove(other)
				if err := os.Mkdir(other, 0o755); err != nil {
					t.Fatal(err)
				}
				if tc.own {
					for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
						if err := os.Chown(filepath.Join(other, f), env.uid, env.gid); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			// The user's "shell": root puts a shell in the cgroup and
			// drops to the user; the shell stays there while its child
			// runs sandbox.
			wrap := fmt.Sprintf(`echo $$ > %s/cgroup.procs && exec setpriv --reuid=%d --regid=%d --clear-groups /bin/sh -c 'sleep 30 & "$SANDBOX" "$@"; rc=$?; kill $!; exit $rc' sh`,
				tc.cg, env.uid, env.gid)
			o := runOpts{root: true, wrap: wrap, env: []string{noBus}}
			for i := range 2 {
				r := limExec(t, o, []string{"--memory", "64M"}, "/probe", "alloc", "400")
				r.want(t, "oom", 128+int(syscall.SIGKILL))
				r = limExec(t, o, []string{"--memory", "256M"}, "/probe", "alloc", "32")
				r.want(t, "ok", 0)
				t.Logf("%s: --memory works from a shell in %s (round %d)", tc.name, tc.cg, i+1)
			}
		})
	}
}

// cgReport is the part of the report the v2 verdict tests read beyond
// limReport.
type cgReport struct {
	PeakMemory       int64 `json:"peak_memory"`
	CgroupPeakMemory int64 `json:"cgroup_peak_memory"`
}

// TestCgroupV2VerdictsAsUser is item 4: every verdict on v2 as the
// unprivileged user, through the user manager's scope.
func TestCgroupV2VerdictsAsUser(t *testing.T) {
	need(t)
	testenv.NeedUserManager(t, env.uid)
	t.Run("oom", func(t *testing.T) {
		r := limExec(t, asUser, []string{"--memory", "64M"}, "/probe", "alloc", "400")
		r.want(t, "oom", 128+int(syscall.SIGKILL))
		if !r.report.OOMKilled {
			t.Errorf("oom_killed is false\n%s", r)
		}
	})
	t.Run("cpu-time", func(t *testing.T) {
		r := limExec(t, asUser, []string{"--cpu-time", "1s", "--timeout", "30s"}, "/bin/sh", "-c", "while :; do :; done")
		r.want(t, "cpu-time", 128+int(syscall.SIGKILL))
		if used := r.report.CPUUser + r.report.CPUSys; used < 0.95 {
			t.Errorf("cpu_user+cpu_sys = %v, under the 1s limit that ended it\n%s", used, r)
		}
	})
	t.Run("pids", func(t *testing.T) {
		marker := randName("bomb")
		script := ": " + marker + "; b() { b | b & }; b; wait; sleep 60"
		r := limExec(t, asUser, []string{"--pids", "32", "--timeout", "8s"}, "/bin/sh", "-c", script)
		if r.report.Status != "timeout" && r.report.Status != "exit" {
			t.Fatalf("want the bomb to end by the timeout or by itself\n%s", r)
		}
		if !strings.Contains(r.stderr, "Cannot fork") {
			t.Errorf("no fork ever failed under --pids 32\n%s", r)
		}
		if p := pgrep(marker); len(p) > 0 {
			t.Errorf("the fork bomb outlived sandbox: %v", p)
		}
	})
	t.Run("peak", func(t *testing.T) {
		r := limExec(t, asUser, []string{"--memory", "256M"}, "/probe", "alloc", "32")
		r.want(t, "ok", 0)
		var cr cgReport
		if err := json.Unmarshal(r.raw, &cr); err != nil {
			t.Fatal(err)
		}
		if cr.PeakMemory < 30*mb || cr.CgroupPeakMemory < 30*mb {
			t.Errorf("peak_memory %d, cgroup_peak_memory %d: want both >= 30 MB\n%s", cr.PeakMemory, cr.CgroupPeakMemory, r)
		}
		t.Logf("alloc 32 MB: peak_memory %d, cgroup_peak_memory %d", cr.PeakMemory, cr.CgroupPeakMemory)
	})
	t.Run("cpus", func(t *testing.T) {
		testHalfCPU(t, asUser, nil)
	})
}

// testHalfCPU runs a spinner for 4 s of wall time under --cpus 0.5 (after
// attack, a shell snippet run first in the box) and checks it got about
// half a CPU.
func testHalfCPU(t *testing.T, o runOpts, attack []string) {
	t.Helper()
	script := "while :; do :; done"
	flags := []string{"--cpus", "0.5", "--timeout", "4s"}
	if attack != nil {
		flags = append(flags, attack[:len(attack)-1]...)
		script = attack[len(attack)-1] + "\n" + script
	}
	r := limExec(t, o, flags, "/bin/sh", "-c", script)
	r.want(t, "timeout", 124)
	used := r.report.CPUUser + r.report.CPUSys
	share := used / r.report.WallTime
	t.Logf("--cpus 0.5: %.2fs of CPU in %.2fs (%.2f of a CPU)", used, r.report.WallTime, share)
	if share > 0.65 || share < 0.1 {
		t.Errorf("a spinner under --cpus 0.5 got %.2f of a CPU, want about 0.5\n%s", share, r)
	}
}

// TestCgroupV2NothingLeftAsUser is item 4's cleanup check: after 50 runs
// as the user (normal ends, --timeout kills, and supervisors killed with
// SIGKILL), no box cgroup and no scope is left in the user's manager.
func TestCgroupV2NothingLeftAsUser(t *testing.T) {
	need(t)
	testenv.NeedUserManager(t, env.uid)
	mgr := fmt.Sprintf("/sys/fs/cgroup/user.slice/user-%d.slice/user@%d.service", env.uid, env.uid)
	for i := range 50 {
		switch i % 5 {
		case 0, 1, 2:
			if r := runSandbox(t, "exec", "--memory", "64M", "--pids", "16", "--", "true"); r.code != 0 {
				t.Fatalf("run %d: %s", i, r)
			}
		case 3:
			if r := runSandbox(t, "exec", "--memory", "64M", "--timeout", "0.3", "--", "sleep", "10"); r.code != 124 {
				t.Fatalf("run %d: want 124\n%s", i, r)
			}
		case 4:
			sleep := limSleep()
			cmd := exec.Command(env.bin, "exec", "--memory", "64M", "--", "/bin/sh", "-c", sleep+"; sleep 10")
			cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/tmp"}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for len(pgrep(sleep)) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		}
	}
	// systemd collects an empty scope (and the delegated cgroups in it)
	// once its last process is gone.
	var left []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		left = left[:0]
		filepath.WalkDir(mgr, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), "sandbox-") {
				left = append(left, p)
				return filepath.SkipDir
			}
			return nil
		})
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Fatalf("left behind after 50 runs: %v", left)
	}
	t.Logf("50 runs (30 exit, 10 --timeout, 10 supervisors SIGKILLed): nothing left in %s", mgr)
}

// mountAttack is a shell snippet for a payload with CAP_SYS_ADMIN: mount
// cgroupfs (cgroup2, or the v1 memory, pids, cpu and cpuacct hierarchies),
// then lift every limit it can see, reset the CPU accounting, move itself
// through cgroup.procs and make child cgroups. It prints what it managed.
const mountAttack = `
n=0; w=0
mkdir -p /tmp/cg/unified; mount -t cgroup2 none /tmp/cg/unified 2>/dev/null && echo attack: mounted cgroup2
for c in memory pids cpu cpuacct; do mkdir -p /tmp/cg/$c; mount -t cgroup -o $c none /tmp/cg/$c 2>/dev/null && echo attack: mounted v1 $c; done
for f in $(find /tmp/cg -name memory.max -o -name memory.swap.max -o -name pids.max -o -name memory.limit_in_bytes -o -name memory.memsw.limit_in_bytes 2>/dev/null); do
	n=$((n+1)); (echo max > $f || echo -1 > $f) 2>/dev/null && w=$((w+1))
done
for f in $(find /tmp/cg -name cpu.max -o -name cpu.cfs_quota_us 2>/dev/null); do
	n=$((n+1)); (echo max > $f || echo -1 > $f) 2>/dev/null && w=$((w+1))
done
for f in $(find /tmp/cg -name cpuacct.usage 2>/dev/null); do n=$((n+1)); echo 0 > $f 2>/dev/null && w=$((w+1)); done
for d in $(find /tmp/cg -type d 2>/dev/null); do mkdir $d/esc 2>/dev/null && echo attack: made $d/esc && echo $$ > $d/esc/cgroup.procs 2>/dev/null && echo attack: moved into $d/esc; done
for d in $(find /tmp/cg -type d 2>/dev/null); do (echo $$ > $d/cgroup.procs) 2>/dev/null; done
echo "attack: wrote $w of $n limit files it could see" >&2
`

// attackFlags are the flags under which the payload can mount.
var attackFlags = []string{"--seccomp", "off", "--cap-add", "CAP_SYS_ADMIN"}

// TestLimitsHoldAgainstMount is item 5: with --seccomp off and
// CAP_SYS_ADMIN the payload mounts cgroupfs and tries to lift its limits;
// they hold, because they sit above the root of its cgroup namespace. As
// root, and as the user (v1: after cgroup-setup; v2: the user manager's
// scope, where the box's root owns the box's cgroups).
func TestLimitsHoldAgainstMount(t *testing.T) {
	needRoot(t)
	need(t)
	callers := []struct {
		name string
		o    runOpts
	}{{"root", asRoot}}
	if limUnified() {
		testenv.NeedUserManager(t, env.uid)
		callers = append(callers, struct {
			name string
			o    runOpts
		}{"user", asUser})
	} else {
		u, err := user.LookupId(strconv.Itoa(env.uid))
		if err != nil {
			t.Fatal(err)
		}
		if r := runWith(t, asRoot, "cgroup-setup", "--user", u.Username); r.code != 0 {
			t.Fatalf("cgroup-setup: %s", r)
		}
		t.Cleanup(func() {
			for _, c := range []string{"memory", "cpu", "cpuacct", "pids"} {
				setupDir := filepath.Join("/sys/fs/cgroup", c, "sandbox-"+u.Username)
				// Nothing the box made may outlive it, in any hierarchy.
				filepath.WalkDir(setupDir, func(p string, d os.DirEntry, err error) error {
					if err == nil && d.IsDir() && p != setupDir {
						t.Errorf("left behind in %s: %s", setupDir, p)
					}
					return nil
				})
				os.Remove(setupDir)
			}
		})
		callers = append(callers, struct {
			name string
			o    runOpts
		}{"user after cgroup-setup", asUser})
	}
	for _, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			t.Run("memory", func(t *testing.T) {
				r := limExec(t, c.o, append([]string{"--memory", "64M"}, attackFlags...),
					"/bin/sh", "-c", mountAttack+"cat /proc/self/cgroup; exec /probe alloc 400")
				t.Logf("attack output:\n%s%s", r.stdout, r.stderr)
				r.want(t, "oom", 128+int(syscall.SIGKILL))
			})
			t.Run("pids", func(t *testing.T) {
				marker := randName("bomb")
				script := mountAttack + ": " + marker + "; b() { b | b & }; b; wait; sleep 60"
				// A generous timeout: under TCG on a loaded host the attack
				// alone has taken most of 8 s.
				r := limExec(t, c.o, append([]string{"--pids", "32", "--timeout", "20s"}, attackFlags...), "/bin/sh", "-c", script)
				if !strings.Contains(r.stderr, "Cannot fork") {
					t.Errorf("no fork ever failed under --pids 32\n%s", r)
				}
				if p := pgrep(marker); len(p) > 0 {
					t.Errorf("the fork bomb outlived sandbox: %v", p)
				}
			})
			t.Run("cpu-time", func(t *testing.T) {
				// It resets cpuacct.usage again and again while it spins.
				spin := `while :; do for f in $(find /tmp/cg -name cpuacct.usage 2>/dev/null); do echo 0 > $f 2>/dev/null; done; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; done`
				r := limExec(t, c.o, append([]string{"--cpu-time", "1s", "--timeout", "30s"}, attackFlags...), "/bin/sh", "-c", mountAttack+spin)
				r.want(t, "cpu-time", 128+int(syscall.SIGKILL))
			})
			t.Run("cpus", func(t *testing.T) {
				testHalfCPU(t, c.o, append(append([]string{}, attackFlags...), mountAttack))
			})
		})
	}
}

// TestNothingLeftAfterKilledSupervisors is item 4's cleanup check for a
// caller whose cgroups systemd does not collect (root here; the same path
// as a user after cgroup-setup): 50 runs, 30 that end, 10 killed by
// --timeout and 10 whose supervisor gets SIGKILL, then one more run, whose
// New sweeps the leaves the killed supervisors left (cgroup/stale.go); none
// of the box cgroups seen is left.
func TestNothingLeftAfterKilledSupervisors(t *testing.T) {
	needRoot(t)
	need(t)
	var seen []string
	for i := range 50 {
		switch i % 5 {
		case 0, 1, 2:
			if r := runWith(t, asRoot, "exec", "--memory", "64M", "--pids", "16", "--", "true"); r.code != 0 {
				t.Fatalf("run %d: %s", i, r)
			}
		case 3:
			if r := runWith(t, asRoot, "exec", "--memory", "64M", "--timeout", "0.3", "--", "sleep", "10"); r.code != 124 {
				t.Fatalf("run %d: want 124\n%s", i, r)
			}
		case 4:
			sleep := limSleep()
			cmd := exec.Command(env.bin, "exec", "--memory", "64M", "--pids", "16", "--", "/bin/sh", "-c", sleep+"; sleep 10")
			cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/tmp"}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var dirs []string
			deadline := time.Now().Add(20 * time.Second)
			for len(dirs) == 0 && time.Now().Before(deadline) {
				// The supervisor's command line has the marker too, and
				// pgrep lists by name, not by pid: keep the box's answer
				// whichever process comes last.
				for _, p := range pgrep(sleep) {
					pid, _, _ := strings.Cut(p, ":")
					if d := limBoxCgroups(pid); len(d) > 0 {
						dirs = d
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if len(dirs) == 0 {
				t.Fatalf("run %d: never saw the box's cgroups", i)
			}
			seen = append(seen, dirs...)
		}
	}
	// The box's pid 1 dies with its supervisor (Pdeathsig); its cgroups
	// stay until a later New sweeps them.
	if r := runWith(t, asRoot, "exec", "--memory", "64M", "--pids", "16", "--", "true"); r.code != 0 {
		t.Fatalf("the sweeping run: %s", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		for _, d := range seen {
			if _, err := os.Stat(d); err == nil {
				left = append(left, d)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind by killed supervisors after a sweeping run: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("50 runs (30 exit, 10 --timeout, 10 supervisors SIGKILLed) and a sweep: none of the %d box cgroups of the killed runs is left", len(seen))
}
