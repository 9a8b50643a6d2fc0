package cgroup

import (
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
