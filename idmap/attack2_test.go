package idmap

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// TestAttack2WriteFilesAtDeadProcess: maps written through a /proc/PID
// directory opened while the process lived go nowhere once it is gone, as
// they would (to whichever process reused the pid) through the path.
func TestAttack2WriteFilesAtDeadProcess(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dir, err := os.Open("/proc/" + strconv.Itoa(cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	cmd.Process.Kill()
	cmd.Wait() // reaped: the pid is free for reuse
	m := Mapping{
		UIDs: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		GIDs: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
	}
	err = m.WriteFilesAt(dir)
	if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("WriteFilesAt a reaped process's directory: %v, want ENOENT or ESRCH", err)
	}
}
