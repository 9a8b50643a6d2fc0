package cgroup

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
