// Package outfile opens the files the supervisor writes for its caller (a
// --report, batch results, a batch line's stdout and stderr). Each is opened
// before any box starts and written through that descriptor, so that nothing
// a box does to the path meanwhile (a symlink planted in a directory it has
// bound, a FIFO swapped in) decides where the bytes go.
package outfile

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Open opens path for writing, creating it (mode 0644) if it is missing. It
// follows no symlink in any component of the path (openat2
// RESOLVE_NO_SYMLINKS): O_NOFOLLOW alone covers only the last one, and a box
// that had a directory bound (an earlier box of a batch, an earlier exec)
// can replace a directory on the path with a symlink to any other directory
// of the caller's. It refuses anything but a regular file: a FIFO would hang the supervisor, a device would receive
// the bytes. O_NONBLOCK makes the open of a FIFO fail (ENXIO) or return at
// once instead of waiting for a reader; it is cleared again. The file is
// not truncated: the caller truncates when it writes, so that a run that
// never starts leaves an old file as it was.
func Open(path string) (*os.File, error) {
	return open(path, unix.O_WRONLY|unix.O_CREAT, 0o644, func(t uint32) bool { return t == unix.S_IFREG })
}

// open opens path with flags (and mode, for O_CREAT) without following a
// symlink in any component and without blocking on a FIFO, and keeps it
// only if its file type passes ok; the descriptor is blocking again after.
func open(path string, flags int, mode uint32, ok func(uint32) bool) (*os.File, error) {
	fd, err := openNoSymlinks(path, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, mode)
	switch {
	case errors.Is(err, unix.ELOOP):
		return nil, fmt.Errorf("%s is or goes through a symbolic link; refusing to follow it (name the path it resolves to)", path)
	case errors.Is(err, unix.ENXIO):
		return nil, fmt.Errorf("%s is not a regular file (a FIFO or socket); name a regular file", path)
	case err != nil:
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if !ok(st.Mode & unix.S_IFMT) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s is not a regular file; name a regular file", path)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openNoSymlinks opens path with no symlink followed in any component.
// Every kernel that runs a box has openat2 (the init stage needs it).
func openNoSymlinks(path string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
			Flags:   uint64(flags),
			Mode:    uint64(mode),
			Resolve: unix.RESOLVE_NO_SYMLINKS,
		})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// OpenInput opens a file the supervisor reads for a box (a batch line's
// stdin) with the same care: no symlink followed in any component (an
// earlier box could have planted one to a secret of the caller's), and only
// a regular file or a character device (/dev/null): a FIFO planted by a box
// would hang the open, and with it the batch, since no box runs yet to time
// out. O_NONBLOCK keeps the open itself from waiting; it is cleared again.
func OpenInput(path string) (*os.File, error) {
	return open(path, unix.O_RDONLY, 0, func(t uint32) bool { return t == unix.S_IFREG || t == unix.S_IFCHR })
}
