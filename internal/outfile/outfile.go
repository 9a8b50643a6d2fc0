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
// never follows a symlink in the last component and refuses anything but a
// regular file: a FIFO would hang the supervisor, a device would receive
// the bytes. O_NONBLOCK makes the open of a FIFO fail (ENXIO) or return at
// once instead of waiting for a reader; it is cleared again. The file is
// not truncated: the caller truncates when it writes, so that a run that
// never starts leaves an old file as it was.
func Open(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0o644)
	switch {
	case errors.Is(err, unix.ELOOP):
		return nil, fmt.Errorf("%s is a symbolic link; refusing to follow it (remove it, or name the file it points to)", path)
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
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s is not a regular file; name a regular file", path)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}
