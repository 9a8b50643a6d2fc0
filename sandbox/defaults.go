package sandbox

import (
	"fmt"
	"path"
	"sync"

	"golang.org/x/sys/unix"
)

// What a box gets when its Spec names no limit: the host pays for nothing
// by default. README.md says why these numbers.
const (
	// DefaultTmpfsSize caps /tmp and every tmpfs of the Spec that names no
	// size. Without a cap the kernel gives a tmpfs half the host's RAM,
	// and /tmp and /dev/shm are separate tmpfs: a box could pin the
	// host's whole memory in files.
	DefaultTmpfsSize int64 = 512 << 20
	// DefaultShmSize caps /dev/shm (Docker's and Podman's --shm-size).
	DefaultShmSize int64 = 64 << 20
	// devSize caps the box's /dev, which is writable by the box's root but
	// holds only device nodes, links and directories.
	devSize int64 = 1 << 20
	// DefaultNproc is the RLIMIT_NPROC of a box's payload unless the Spec
	// sets nproc or a pids limit. The kernel counts it per user namespace
	// and uid (the box's pid 1 included), so it caps each box on its own,
	// not the caller's processes together.
	DefaultNproc uint64 = 1024
)

// The box's own /tmp and /dev/shm.
const (
	tmpDir = "/tmp"
	shmDir = "/dev/shm"
)

// TmpfsSizes returns the size cap of each tmpfs the box can write, by its
// path in the box: /tmp, /dev/shm and every tmpfs mount of the Spec. A
// tmpfs mount on /tmp or /dev/shm resizes the box's own (the last one
// given wins) instead of stacking a second tmpfs on it.
func (s *Spec) TmpfsSizes() map[string]int64 {
	sizes := map[string]int64{tmpDir: DefaultTmpfsSize, shmDir: DefaultShmSize}
	for _, m := range s.Mounts {
		if m.Type != "tmpfs" {
			continue
		}
		d := path.Clean(m.Dest)
		switch {
		case m.Size > 0:
			sizes[d] = m.Size
		case d == tmpDir || d == shmDir:
			// Already there, with its default.
		default:
			sizes[d] = DefaultTmpfsSize
		}
	}
	return sizes
}

// PayloadRlimits returns the resource limits the payload gets: the Spec's,
// the defaults of the per-user quotas (boxRlimits), and the default process
// cap (DefaultNproc) when the Spec sets neither
// an nproc rlimit nor a pids limit (which then is the cap).
func (s *Spec) PayloadRlimits() []Rlimit {
	rl := boxRlimits(s) // the Spec's, and the per-user quotas' defaults
	if s.Limits.Pids > 0 {
		return rl
	}
	for _, r := range rl {
		if r.Name == "nproc" {
			return rl
		}
	}
	return append(rl, Rlimit{Name: "nproc", Soft: DefaultNproc, Hard: DefaultNproc})
}

// tmpfsOptions are the mount options of a box tmpfs: its mode, its size,
// and as many inodes as it has pages. An empty file costs kernel memory
// (an inode and a dentry) but no page of the size, and the kernel's default
// inode count, like its default size, grows with the host's RAM.
func tmpfsOptions(mode string, size int64) string {
	pages := (size + 4095) / 4096
	return fmt.Sprintf("mode=%s,size=%s,nr_inodes=%d", mode, tmpfsSize(size), pages)
}

// tmpfsSize spells a size as tmpfs(5) reads it, in the largest unit that
// keeps it exact, so that --dry-run shows 512m rather than 536870912.
func tmpfsSize(n int64) string {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"g", 30}, {"m", 20}, {"k", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.suffix)
		}
	}
	return fmt.Sprint(n)
}

// Landlock scoping (landlock(7), ABI 6, Linux 6.12): a payload in a domain
// with these scopes cannot connect to an abstract unix socket, nor signal a
// process, created outside its domain. Processes in the domain (the payload
// and its children) still reach each other, and pid 1, outside it, still
// signals in.
const (
	landlockScopes   = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL
	landlockScopeABI = 6
)

// landlockABI is the kernel's Landlock ABI version, 0 without Landlock
// (ENOSYS: not built; EOPNOTSUPP: not enabled at boot). Asked once.
var landlockABI = sync.OnceValue(func() int {
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0
	}
	return int(abi)
})
