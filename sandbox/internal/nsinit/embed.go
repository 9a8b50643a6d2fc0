//go:build !sanitize

package nsinit

import (
	"embed"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// initFS holds the small init binary when make built it (initbin/
// sandbox-init: init.c alone, static, with musl; about 60 kB). A plain go
// build has only the directory's .gitignore, and the init stage is then
// this binary itself, its constructor run from /proc/self/exe.
//
//go:embed all:initbin
var initFS embed.FS

// initBin is the small init binary, or nil (read once: embed.FS copies).
var initBin = sync.OnceValue(func() []byte {
	b, _ := initFS.ReadFile("initbin/sandbox-init")
	return b
})

func init() { path.fd = -1 }

var path struct {
	mu       sync.Mutex
	fd       int // the sealed memfd, or -1
	dev, ino uint64
}

// Path is what the supervisor executes as the box's init stage: the small
// init binary from a sealed memfd, or, without one, /proc/self/exe.
//
// Why: the exec of this 9.6 MB static Go binary and glibc's static start
// cost the first process about 0.2 ms more CPU than the small binary, and
// pid 1 (a clone of it) maps the big binary's pages; both come back on
// every launch.
//
// The memfd is made once per process and kept open (close-on-exec) for
// every later launch; each launch checks, with one fstat, that the
// descriptor is still that memfd (a library caller may have closed it, and
// its number been reused), and makes it again if not. Its seals
// (F_SEAL_SEAL, SHRINK, GROW, WRITE) make it immutable, so that /proc/1/exe,
// which names it, cannot be written through, whoever opens it: runc's
// answer to CVE-2019-5736. It is executed as /proc/self/fd/N, with N at 64
// or above, out of the way of the descriptors os/exec moves in its child
// before the exec (it dup2s onto the numbers from 0 up to about twice the
// files passed).
func Path() string {
	b := initBin()
	if len(b) == 0 {
		return "/proc/self/exe"
	}
	path.mu.Lock()
	defer path.mu.Unlock()
	var st unix.Stat_t
	if path.fd >= 0 && unix.Fstat(path.fd, &st) == nil && st.Dev == path.dev && st.Ino == path.ino {
		return "/proc/self/fd/" + strconv.Itoa(path.fd)
	}
	fd, err := sealed(b)
	if err != nil || unix.Fstat(fd, &st) != nil {
		return "/proc/self/exe"
	}
	path.fd, path.dev, path.ino = fd, st.Dev, st.Ino
	return "/proc/self/fd/" + strconv.Itoa(fd)
}

// Embedded tells whether the launch uses the small init binary.
func Embedded() bool {
	return Path() != "/proc/self/exe"
}

// sealed returns a close-on-exec descriptor, at 64 or above, of a sealed
// memfd holding b. Any failure (a kernel without MFD_EXEC, or with
// vm.memfd_noexec=2, which refuses executable memfds) leaves the caller on
// /proc/self/exe.
func sealed(b []byte) (int, error) {
	const flags = unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd, err := unix.MemfdCreate("sandbox-init", flags|unix.MFD_EXEC)
	if err == unix.EINVAL { // before Linux 6.3: no MFD_EXEC, and memfds are executable
		fd, err = unix.MemfdCreate("sandbox-init", flags)
	}
	if err != nil {
		return -1, err
	}
	f := os.NewFile(uintptr(fd), "sandbox-init")
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return -1, err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS,
		unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		return -1, err
	}
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 64)
}
