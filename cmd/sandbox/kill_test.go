package main

// Supervisors SIGKILLed at random points, during setup and while the payload
// runs: the boxes die with them (Pdeathsig on pid 1 ends the pid
// namespace), and the cgroups they leave are swept by the next run's
// cgroup.New (cgroup/stale.go). After many killed runs and one normal run,
// nothing is left on the host.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// killRuns is how many supervisors TestKilledSupervisorsLeaveNothing kills:
// the 200; about 15 s on the project's 2-core test host.
const killRuns = 200

func TestKilledSupervisorsLeaveNothing(t *testing.T) {
	needRoot(t) // to delegate cgroups to the test user, and to read every leaf
	need(t)
	u, err := user.LookupId(strconv.Itoa(env.uid))
	if err != nil {
		t.Fatal(err)
	}
	// The user's boxes go below the delegated subtree (v1: one directory
	// per controller); root's below root's own cgroup. On a v2-only host the
	// user's supervisor must be started inside its subtree, which this test
	// does not do: there the killed runs are root's.
	asUser := !limUnified()
	if asUser {
		if r := runWith(t, asRoot, "cgroup-setup", "--user", u.Username); r.code != 0 {
			t.Fatalf("cgroup-setup: %s", r)
		}
		// Empty again afterwards, so that TestCgroupDelegationAsUser can
		// remove what cgroup-setup made (rmdir takes only empty cgroups).
		t.Cleanup(func() {
			for _, c := range []string{"memory", "cpu", "cpuacct", "pids"} {
				os.Remove(filepath.Join("/sys/fs/cgroup", c, "sandbox-"+u.Username))
			}
		})
	}
	before := boxLeaves(t)
	tmp := hostDir(t) // the supervisors' TMPDIR: must stay empty
	tag := fmt.Sprintf("%d", time.Now().UnixNano()%1000000)
	start := time.Now()
	var setupKills, payloadKills int
	for i := range killRuns {
		// A sleep no other process runs, so that the box's processes can
		// be found on the host afterwards.
		marker := fmt.Sprintf("sleep 9%s.%03d", tag, i)
		cmd := exec.Command(env.bin, "exec", "--memory", "64M", "--pids", "32", "--", "/bin/sh", "-c", marker+" & "+marker)
		cmd.Dir = "/"
		cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=" + tmp}
		cmd.SysProcAttr = &syscall.SysProcAttr{}
		if asUser && i%2 == 1 {
			cmd.SysProcAttr.Credential = env.cred
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			// While the payload runs.
			deadline := time.Now().Add(10 * time.Second)
			for len(pgrep(marker)) < 2 && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
			payloadKills++
		} else {
			// Anywhere in the supervisor's life: the Go runtime's start,
			// the cgroup, the clone, the Plan, the payload's first steps.
			time.Sleep(time.Duration(rand.IntN(25000)) * time.Microsecond)
			setupKills++
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	killed := time.Since(start)

	// One normal run each as root and as the user: their New sweeps the
	// leaves the killed supervisors left.
	for _, o := range []runOpts{asRoot, {}} {
		if !asUser && !o.root {
			continue
		}
		r := runWith(t, o, "exec", "--memory", "64M", "--", "true")
		if r.code != 0 {
			t.Fatalf("the normal run after the killed ones: %s", r)
		}
	}
	t.Logf("%d supervisors SIGKILLed (%d during setup at a random point, %d while the payload ran) in %v, then one normal run",
		killRuns, setupKills, payloadKills, killed.Round(time.Millisecond))

	deadline := time.Now().Add(5 * time.Second)
	for len(pgrep("sleep 9"+tag+".")) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := pgrep("sleep 9" + tag + "."); len(p) > 0 {
		t.Errorf("%d processes of the killed boxes still run: %v", len(p), p[:min(len(p), 5)])
	}
	var left []string
	for d := range boxLeaves(t) {
		if before[d] {
			continue
		}
		// A concurrent test's box (another package's) holds its lock:
		// only an unlocked leaf is left behind.
		if fd, err := unix.Open(d, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
			unix.Close(fd)
			if errors.Is(err, unix.EWOULDBLOCK) {
				continue
			}
		}
		left = append(left, d)
	}
	if len(left) > 0 {
		t.Errorf("%d box cgroups left behind, e.g. %v", len(left), left[:min(len(left), 5)])
	}
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		t.Errorf("the supervisors left %d entries in their TMPDIR %s", len(ents), tmp)
	}
	if p := pgrep("sandbox-init"); len(p) > 0 {
		t.Logf("sandbox-init processes on the host now (other tests' boxes?): %v", p)
	}
}

// boxLeaves lists the box leaves (sandbox-<16 hex>, cgroup.New's names)
// below the parents the tests' boxes use: the test process's own cgroups
// and the test user's delegated ones, in every hierarchy.
func boxLeaves(t *testing.T) map[string]bool {
	t.Helper()
	var parents []string
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || strings.HasPrefix(parts[1], "name=") {
			continue
		}
		if parts[1] == "" {
			if limUnified() {
				parents = append(parents, filepath.Join("/sys/fs/cgroup", parts[2]))
			}
			continue
		}
		parents = append(parents, filepath.Join("/sys/fs/cgroup", parts[1], parts[2]))
	}
	if u, err := user.LookupId(strconv.Itoa(env.uid)); err == nil {
		for _, c := range []string{"memory", "cpu", "cpuacct", "pids", ""} {
			parents = append(parents, filepath.Join("/sys/fs/cgroup", c, "sandbox-"+u.Username))
		}
	}
	leaves := map[string]bool{}
	for _, p := range parents {
		ents, _ := os.ReadDir(p)
		for _, e := range ents {
			rest, ok := strings.CutPrefix(e.Name(), "sandbox-")
			if _, err := strconv.ParseUint(rest, 16, 64); ok && len(rest) == 16 && err == nil {
				leaves[filepath.Join(p, e.Name())] = true
			}
		}
	}
	return leaves
}
