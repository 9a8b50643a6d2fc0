package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// Anyone who can read the directory a supervisor makes its leaves in (a
// cgroup directory is world-readable; with --rootfs / a box sees /sys) can
// flock it. Holding it exclusive must not make every later New wait for
// it: the supervisor's shared lock used to block until the holder let go.
func TestAttackParentLockHeldByOther(t *testing.T) {
	parent := t.TempDir()
	fd, err := unix.Open(parent, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		claimParent(parent, "sandbox")()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("claimParent waits as long as another holds the parent's lock")
	}
}

// Anyone who can read the parent can open a supervisor's new leaf and flock
// it before the supervisor does (seen with a racing reader as nobody: one
// root box in six was then SIGKILLed by the next box's sweep, once the
// racer let go). The supervisor must not go on with a leaf it could not
// lock: a sweep would take it for stale and kill the living box.
func TestAttackLeafLockTakenFirst(t *testing.T) {
	parent := t.TempDir()
	leaf := filepath.Join(parent, "sandbox-00000000000000aa")
	if err := os.Mkdir(leaf, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(leaf, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(fd, unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	lk, err := lockLeaf(leaf)
	unix.Close(fd) // the racer lets go
	if err == nil {
		if lk >= 0 {
			unix.Close(lk)
		}
		t.Fatal("lockLeaf went on with a leaf another process holds the lock of")
	}
}

// kill --all lists a box's processes from its cgroup and signals them. A
// payload decides when its processes exit (pid 1 passes it the signal
// first), and the host hands a freed pid to its next process once the
// counter wraps (kernel.pid_max may be 32768): a pid listed, then freed and
// reused by a host process before the signal, must not be signalled.
func TestAttackSignalReusedPid(t *testing.T) {
	requireRoot(t)
	b := newTestBox(t, Limits{Pids: 10})
	inBox := exec.Command("sleep", "100")
	if err := inBox.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inBox.Process.Kill(); inBox.Wait() })
	if err := b.AddProc(inBox.Process.Pid); err != nil {
		t.Fatal(err)
	}
	stays := exec.Command("sleep", "100") // a box process the signal must reach
	if err := stays.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stays.Process.Kill(); stays.Wait() })
	if err := b.AddProc(stays.Process.Pid); err != nil {
		t.Fatal(err)
	}
	var victim *exec.Cmd
	signalListed = func() {
		// The listed process ends; its pid goes to a process outside
		// the box (ns_last_pid: the pid the host's next fork gets).
		p := inBox.Process.Pid
		inBox.Process.Kill()
		inBox.Wait()
		for range 50 {
			os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(p-1)), 0)
			v := exec.Command("sleep", "100")
			if err := v.Start(); err != nil {
				t.Error(err)
				return
			}
			if v.Process.Pid == p {
				victim = v
				return
			}
			v.Process.Kill()
			v.Wait()
		}
	}
	defer func() { signalListed = nil }()
	if err := Signal(b.Dirs(), "test", unix.SIGKILL, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := stays.Process.Wait(); err != nil || st.Sys().(syscall.WaitStatus).Signal() != unix.SIGKILL {
		t.Errorf("the box's other process: %v %v, want killed", st, err)
	}
	if victim == nil {
		testenv.Skip(t, "no fork took the freed pid (the host forks too often)")
	}
	done := make(chan error, 1)
	go func() { done <- victim.Wait() }()
	select {
	case err := <-done:
		t.Errorf("a process outside the box that got a listed pid was signalled: %v", err)
	case <-time.After(500 * time.Millisecond):
		victim.Process.Kill()
		<-done
	}
}

// Delete removes a box's leaves, then lets their locks go. A New of
// another box of the same process (a batch) in between counted the removed
// leaf as one of the parent's subdirectories: a stale leaf beside it (a
// killed supervisor's, with whatever still runs in it) then matched the
// link count of "only this process's locked leaves", and the sweep that
// kills and removes it was skipped.
func TestAttackDeletedLeafHidesStale(t *testing.T) {
	parent := t.TempDir() // a directory's link count is 2 + its subdirectories, as on cgroupfs
	own := filepath.Join(parent, "test-00000000000000aa")
	stale := filepath.Join(parent, "test-00000000000000bb")
	for _, d := range []string{own, stale} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(parent, &st); err != nil || st.Nlink != 4 {
		testenv.Skip(t, "the temporary directory's file system does not count subdirectories in the link count (%d, %v)", st.Nlink, err)
	}
	lk, err := lockLeaf(own)
	if err != nil || lk < 0 {
		t.Fatalf("lock %s: %d, %v", own, lk, err)
	}
	b := &Box{prefix: "test", fd: -1, lock: -1, v1: []*v1Leaf{{ctrl: "memory", dir: own, lock: lk}}}
	deleteRemoved = func() { claimParent(parent, "test")() } // the next box's New
	defer func() { deleteRemoved = nil }()
	if err := b.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Fatalf("the stale leaf %s was not swept: a New while a Delete let go of its leaves took it for one of ours", stale)
	}
}
