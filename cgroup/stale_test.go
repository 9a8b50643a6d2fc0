package cgroup

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/internal/testenv"
	"golang.org/x/sys/unix"
)

func TestIsLeafName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"sandbox-0123456789abcdef", true},
		{"sandbox-0123456789ab", false},       // an older supervisor's leaf: not locked, never swept
		{"sandbox-0123456789abcdefaa", false}, // not a leaf of ours
		{"sandbox-0123456789abcdeg", false},
		{"sandbox-supervisor", false},
		{"sandbox-sandbox-test", false},
		{"other-0123456789abcdef", false},
		{"sandbox0123456789abcdef", false},
	} {
		if got := isLeafName(tc.name, "sandbox"); got != tc.want {
			t.Errorf("isLeafName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSweepChoosesStale runs the sweep on a plain directory tree (flock and
// rmdir behave there as on cgroupfs for empty leaves): only unlocked leaves
// named like ours go, and nothing goes while another supervisor is making
// its leaf.
func TestSweepChoosesStale(t *testing.T) {
	parent := t.TempDir()
	mk := func(name string) string {
		d := filepath.Join(parent, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	stale := mk("t-00000000000000aa")
	live := mk("t-00000000000000bb")
	old := mk("t-0000000000cc")
	sup := mk("t-supervisor")
	other := mk("u-00000000000000dd")
	lk, _ := lockLeaf(live)
	if lk < 0 {
		t.Fatal("cannot lock a fresh directory")
	}
	defer unix.Close(lk)

	// A supervisor between its mkdir and its leaf's lock holds the parent
	// shared: a sweep now must leave everything alone.
	pfd, err := openDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(pfd, unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	claimParent(parent, "t")()
	if _, err := os.Stat(stale); err != nil {
		t.Fatalf("swept while the parent was held shared: %v", err)
	}
	unix.Close(pfd)

	release := claimParent(parent, "t")
	// While claimed, the parent is held shared: another sweep skips.
	if fd, err := openDir(parent); err == nil {
		if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
			t.Errorf("parent not held shared after claimParent: flock EX gives %v", err)
		}
		unix.Close(fd)
	}
	release()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale leaf %s not swept (%v)", stale, err)
	}
	for _, d := range []string{live, old, sup, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s swept: %v", d, err)
		}
	}
}

// TestStaleLeafSwept: a box whose supervisor died (its locks gone) with a
// process still in its cgroups is killed and removed by the next New; a
// living box beside it is untouched.
func TestStaleLeafSwept(t *testing.T) {
	requireRoot(t)
	prefix := randName(t, "stale")
	l := Limits{Memory: 64 << 20, Pids: 16}
	newBox := func() *Box {
		b, err := New(prefix, l)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Kill(); b.Delete() })
		return b
	}
	start := func(b *Box) *child {
		c := startChild(t, exec.Command("/bin/sh", "-c", "read x; exec sleep 100"))
		placeAndRelease(t, b, c)
		return c
	}
	dead, live := newBox(), newBox()
	for _, d := range append(dead.dirs(), live.dirs()...) {
		fd, err := openDir(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
			t.Errorf("%s is not locked by its box: flock gives %v", d, err)
		}
		unix.Close(fd)
	}
	deadChild, liveChild := start(dead), start(live)
	dead.mu.Lock()
	dead.closeLocks() // what its supervisor's death does
	dead.mu.Unlock()

	begin := time.Now()
	newBox()
	t.Logf("New with one stale box to sweep: %v", time.Since(begin))
	for _, d := range dead.dirs() {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("stale leaf %s left (%v)", d, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- deadChild.cmd.Wait() }()
	select {
	case err := <-done:
		if ws, ok := deadChild.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Errorf("the stale box's process ended with %v, want SIGKILL", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the stale box's process is still running")
	}
	for _, d := range live.dirs() {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("a living box's leaf %s was swept: %v", d, err)
		}
	}
	if err := liveChild.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("a living box's process was killed: %v", err)
	}
}

// TestStaleV2Removed runs the removal of a stale leaf on a real cgroup2
// hierarchy (on a hybrid host, the controller-less one at
// /sys/fs/cgroup/unified): its process is killed through cgroup.kill and
// the leaf removed.
func TestStaleV2Removed(t *testing.T) {
	requireRoot(t)
	mount := ""
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			mount = p
			break
		}
	}
	if mount == "" {
		testenv.Skip(t, "no cgroup2 mount on this host (a v1-only host)")
	}
	parent := filepath.Join(mount, randName(t, "sandbox-stale-test-"))
	leaf := filepath.Join(parent, "t-0123456789abcdef")
	if err := os.MkdirAll(leaf, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(parent)
	defer os.Remove(leaf)
	if _, err := os.Stat(filepath.Join(leaf, "cgroup.kill")); err != nil {
		t.Fatalf("no cgroup.kill on this kernel's cgroup2: %v", err)
	}
	cmd := exec.Command("/bin/sh", "-c", "read x; exec sleep 100")
	c := startChild(t, cmd)
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	c.in.Write([]byte("\n"))
	claimParent(parent, "t")()
	if _, err := os.Stat(leaf); !os.IsNotExist(err) {
		b, _ := os.ReadFile(filepath.Join(leaf, "cgroup.procs"))
		t.Errorf("stale v2 leaf left (%v), holding %q", err, strings.TrimSpace(string(b)))
	}
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the stale leaf's process: %v, want killed by SIGKILL", cmd.ProcessState)
	}
}
