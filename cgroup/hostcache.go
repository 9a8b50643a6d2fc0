package cgroup

// The host's cgroup layout, read once per process and reused by every New
// while it is provably current: a batch, or a program calling sandbox.Run in
// a loop, made it again for each box (/proc/self/mountinfo read and parsed,
// the caller's name looked up in /etc/passwd, three stat(2)s per memory
// hierarchy), about a quarter of the supervisor's cgroup work per box.
//
// What a stale value could cost, and why none is used:
//
//   - Where the caller sits (/proc/self/cgroup) decides which cgroup a box
//     goes below, so that it stays inside every limit the caller is under.
//     Anyone allowed to can move the caller at any moment: it is read again
//     for every box, and only its parse is reused when the text is the same.
//   - The cgroup mounts: the descriptor of /proc/self/mountinfo is kept
//     open, and the kernel marks it (POLLPRI|POLLERR, proc(5)) on every
//     mount and unmount in its mount namespace after it was last polled; a
//     marked descriptor, or a change of the process's mount namespace, makes
//     New read the table again. The probes of a mounted hierarchy (which
//     memory modules it has) are dropped with it.
//   - The caller's user name only picks the directory Setup made
//     (sandbox-<user>); it is looked up again when the effective uid or
//     /etc/passwd (inode, size, times) changes. A box never lands anywhere
//     the caller could not write: every parent is still checked with
//     access(2) per box, and the kernel checks the mkdir.

import (
	"bytes"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"sync"

	"github.com/containerd/cgroups/v3/cgroup1"
	"golang.org/x/sys/unix"
)

var hostCache struct {
	mu sync.Mutex

	// mountinfo is the open /proc/self/mountinfo (-1 before the first
	// read), of the mount namespace mntNS; mounts its parse.
	mountinfo int
	mntNS     fileID
	mounts    []mount
	// subsystems are v1Subsystem's results by controller and mount point,
	// for the mounts above, which are generation gen.
	subsystems map[string]cgroup1.Subsystem
	gen        uint64

	selfText []byte
	self     Membership

	userOK bool
	euid   int
	passwd fileID
	user   string
}

func init() { hostCache.mountinfo = -1 }

// fileID tells two versions of a file apart.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
}

func statID(path string) (fileID, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileID{}, false
	}
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}, true
}

// cachedHost is readHost's work, with the reuse described above.
func cachedHost(h *host) error {
	hostCache.mu.Lock()
	defer hostCache.mu.Unlock()
	h.user = cachedUser(h.euid)
	var err error
	if h.self, err = cachedSelf(); err != nil {
		return err
	}
	h.mounts, err = cachedMounts()
	return err
}

func cachedUser(euid int) string {
	id, ok := statID("/etc/passwd")
	c := &hostCache
	if ok && c.userOK && c.euid == euid && c.passwd == id {
		return c.user
	}
	name := strconv.Itoa(euid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	c.userOK, c.euid, c.passwd, c.user = ok, euid, id, name
	return name
}

func cachedSelf() (Membership, error) {
	text, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Membership{}, fmt.Errorf("cgroup: %w", err)
	}
	c := &hostCache
	if c.selfText != nil && bytes.Equal(text, c.selfText) {
		return c.self, nil
	}
	self, err := ParseProcCgroup(bytes.NewReader(text))
	if err != nil {
		return self, fmt.Errorf("cgroup: %w", err)
	}
	c.selfText, c.self = text, self
	return self, nil
}

func cachedMounts() ([]mount, error) {
	c := &hostCache
	ns, nsOK := statID("/proc/self/ns/mnt")
	// The namespace file's times are those of its proc inode, made anew
	// on lookup: the namespace is its nsfs device and inode alone.
	ns = fileID{dev: ns.dev, ino: ns.ino}
	if c.mountinfo >= 0 && nsOK && ns == c.mntNS && !mountsChanged(c.mountinfo) {
		return c.mounts, nil
	}
	if c.mountinfo >= 0 && (!nsOK || ns != c.mntNS) {
		unix.Close(c.mountinfo)
		c.mountinfo = -1
	}
	c.mounts, c.subsystems = nil, nil
	c.gen++
	if c.mountinfo < 0 {
		// Opened before it is read: a change after the open marks it.
		fd, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("cgroup: %w", os.NewSyscallError("open /proc/self/mountinfo", err))
		}
		c.mountinfo, c.mntNS = fd, ns
	}
	text, err := readFD(c.mountinfo)
	if err != nil {
		unix.Close(c.mountinfo)
		c.mountinfo = -1
		return nil, fmt.Errorf("cgroup: read /proc/self/mountinfo: %w", err)
	}
	m, err := parseMountinfo(bytes.NewReader(text))
	if err != nil {
		unix.Close(c.mountinfo)
		c.mountinfo = -1
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	if !nsOK {
		// No namespace to compare against next time: read it again then.
		unix.Close(c.mountinfo)
		c.mountinfo = -1
	}
	c.mounts = m
	return m, nil
}

// mountsChanged polls the mountinfo descriptor without waiting: the kernel
// reports POLLPRI|POLLERR once for every change since the last poll (and
// the open), so a true here is followed by a read of the new table. An
// error counts as a change.
func mountsChanged(fd int) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
	for {
		n, err := unix.Poll(p, 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n != 0 && p[0].Revents&(unix.POLLPRI|unix.POLLERR|unix.POLLNVAL) != 0
	}
}

// readFD reads fd from its start to its end.
func readFD(fd int) ([]byte, error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, 16<<10)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// cachedSubsystem is v1Subsystem, reused for the current mounts.
func cachedSubsystem(ctrl string, m mount) (cgroup1.Subsystem, error) {
	key := ctrl + "\x00" + m.Point
	hostCache.mu.Lock()
	sub, ok := hostCache.subsystems[key]
	gen := hostCache.gen
	hostCache.mu.Unlock()
	if ok {
		return sub, nil
	}
	sub, err := v1Subsystem(ctrl, m)
	if err != nil {
		return nil, err
	}
	hostCache.mu.Lock()
	// Not kept if the mounts were read again meanwhile: it was probed
	// for the old table.
	if hostCache.gen == gen {
		if hostCache.subsystems == nil {
			hostCache.subsystems = map[string]cgroup1.Subsystem{}
		}
		hostCache.subsystems[key] = sub
	}
	hostCache.mu.Unlock()
	return sub, nil
}
