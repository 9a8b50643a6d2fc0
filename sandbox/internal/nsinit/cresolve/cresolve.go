// Package cresolve exposes the init stage's path helpers, open_in and
// make_in (init.c), to Go tests, so that they can be fuzzed against a
// scratch tree planted with symlinks that point out of it. The init stage
// builds the box's mounts through them with the supervisor's privileges in
// the box: a path that leads outside the root it is given would let a
// rootfs or a bound directory redirect a mount onto the host. Only tests
// import it.
package cresolve

/*
#cgo CFLAGS: -Wall -Wno-unused-function -Wno-unused-parameter
#include "../init.c"

// The root of a call is neither NEWROOT nor OLDROOT, so init.c caches its
// descriptor in root_fds[2]; each call here starts from a fresh one, as the
// scratch tree changes between calls.
static void fresh_root(void)
{
	if (root_fds[2] >= 0)
		close(root_fds[2]);
	root_fds[2] = -1;
}

static int call_open_in(const char *root, const char *path, int *err)
{
	fresh_root();
	int fd = open_in(root, path, 0);
	*err = fd < 0 ? errno : 0;
	return fd;
}

static int call_make_in(const char *root, const char *path, int file, int *err)
{
	fresh_root();
	int r = make_in(root, path, file);
	*err = r < 0 ? errno : 0;
	return r;
}
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// OpenIn runs open_in(root, path, 0): an O_PATH descriptor of path resolved
// inside root, which the caller closes.
func OpenIn(root, path string) (int, error) {
	cr, cp := C.CString(root), C.CString(path)
	defer C.free(unsafe.Pointer(cr))
	defer C.free(unsafe.Pointer(cp))
	var e C.int
	fd := C.call_open_in(cr, cp, &e)
	if fd < 0 {
		return -1, syscall.Errno(e)
	}
	return int(fd), nil
}

// MakeIn runs make_in(root, path, file): path and its missing parents made
// inside root, the last a file if file is set.
func MakeIn(root, path string, file bool) error {
	cr, cp := C.CString(root), C.CString(path)
	defer C.free(unsafe.Pointer(cr))
	defer C.free(unsafe.Pointer(cp))
	f := C.int(0)
	if file {
		f = 1
	}
	var e C.int
	if C.call_make_in(cr, cp, f, &e) < 0 {
		return syscall.Errno(e)
	}
	return nil
}
