package cgroup

// A box whose cgroup outlives the process that made it (an OCI container:
// `create` exits, the container runs on, `delete` removes it). The maker
// hands the leaves' locks (stale.go) to a process that lives as long as the
// box (the OCI runtime's holder), so that no New's sweep takes a living
// container's leaf for stale, and records the leaves' directories; a later
// process removes them by those directories (RemoveLeaves).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Dirs returns the box's leaf directories (one per v1 controller, or the v2
// one), for RemoveLeaves and Pids after the Box is gone.
func (b *Box) Dirs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v2 != nil {
		return []string{b.v2Dir}
	}
	var d []string
	for _, lf := range b.v1 {
		d = append(d, lf.dir)
	}
	return d
}

// HandOff returns new descriptors of the leaves' locks (the same open
// files, so the same flocks) for a process that keeps them as long as the
// box lives, and lets the Box go without removing anything: the leaves are
// then removed by RemoveLeaves. The caller closes the files once they are
// passed on.
func (b *Box) HandOff() ([]*os.File, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	locks := []int{b.lock}
	for _, lf := range b.v1 {
		locks = append(locks, lf.lock)
	}
	var files []*os.File
	for _, fd := range locks {
		if fd < 0 {
			continue
		}
		d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("cgroup: hand the leaf's lock over: %w", err)
		}
		files = append(files, os.NewFile(uintptr(d), "cgroup-lock"))
	}
	if b.fd >= 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
	b.closeLocks()
	b.deleted = true // Delete and Kill are no-ops now: RemoveLeaves' job
	return files, nil
}

// checkLeaf refuses a directory that is not a box leaf named <prefix>-<hex>
// (or, for host root, one NewAt can have made: isAtLeaf) on a cgroup file
// system: the directories come from a record on disk
// (the OCI runtime's state.json), and removing or signalling what another
// directory holds must not follow from a changed record.
func checkLeaf(dir, prefix string) error {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || !strings.HasPrefix(dir, "/sys/fs/cgroup/") ||
		!isLeafName(filepath.Base(dir), prefix) && !isAtLeaf(dir) {
		return fmt.Errorf("cgroup: %q is not a box's cgroup", dir)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("cgroup: %s: %w", dir, err)
	}
	if st.Type != unix.CGROUP_SUPER_MAGIC && st.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("cgroup: %s is not on a cgroup file system", dir)
	}
	return nil
}

// RemoveLeaves kills what is left in the leaves (Dirs of a box named with
// prefix) and removes them, waiting up to deleteWait for killed processes
// to leave. A leaf already gone is no error.
func RemoveLeaves(dirs []string, prefix string) error {
	var errs []error
	for _, dir := range dirs {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := checkLeaf(dir, prefix); err != nil {
			errs = append(errs, err)
			continue
		}
		deadline := time.Now().Add(deleteWait)
		for {
			err := removeStale(dir)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("cgroup: remove %s: %w", dir, err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Pids lists the processes in the leaves (Dirs of a box named with prefix)
// and every cgroup below them, in this process's pid namespace, sorted.
func Pids(dirs []string, prefix string) ([]int, error) {
	var pids []int
	for _, dir := range dirs {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			continue // removed with the box (a stale leaf's sweep)
		}
		if err := checkLeaf(dir, prefix); err != nil {
			return nil, err
		}
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				pids = append(pids, readPids(p)...)
			}
			return nil
		})
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// AddToLeaves moves process pid into the leaves' inner child (Dirs of a box
// named with prefix), where the box's processes are: a process joining a
// box whose Box is gone (an OCI exec) is then under its limits.
func AddToLeaves(dirs []string, prefix string, pid int) error {
	for _, dir := range dirs {
		if err := checkLeaf(dir, prefix); err != nil {
			return err
		}
		procs := filepath.Join(dir, innerLeaf, "cgroup.procs")
		if err := os.WriteFile(procs, []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("cgroup: add pid %d to %s: %w", pid, procs, err)
		}
	}
	return nil
}

// signalListed, when set (tests), runs between Signal's listing of the
// leaves' processes and its signals.
var signalListed func()

// Signal sends sig to every process in the leaves (Dirs of a box named
// with prefix) and the cgroups below them, but except. Each pid listed is
// opened as a pidfd and the leaves listed again: a pid still in them then
// is the process its pidfd holds (or that process has died, and the
// signal goes nowhere), never one that got the pid of a box process that
// ended after the first listing (a payload chooses when its processes
// end, and a freed pid is the host's next once the counter wraps).
func Signal(dirs []string, prefix string, sig unix.Signal, except int) error {
	pids, err := Pids(dirs, prefix)
	if err != nil {
		return err
	}
	if signalListed != nil {
		signalListed()
	}
	fds := map[int]int{} // pid -> its pidfd; -1: no pidfds (Linux < 5.3)
	defer func() {
		for _, fd := range fds {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	for _, p := range pids {
		if p == except {
			continue
		}
		fd, err := unix.PidfdOpen(p, 0)
		switch {
		case err == nil:
			fds[p] = fd
		case errors.Is(err, unix.ENOSYS):
			fds[p] = -1
		}
	}
	still, err := Pids(dirs, prefix)
	if err != nil {
		return err
	}
	for p, fd := range fds {
		if _, in := slices.BinarySearch(still, p); !in {
			continue
		}
		if fd < 0 {
			unix.Kill(p, sig) // as close as it goes without pidfds
		} else {
			unix.PidfdSendSignal(fd, sig, nil, 0)
		}
	}
	return nil
}
