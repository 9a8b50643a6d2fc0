package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxInstructions is the kernel's limit on a classic BPF program
// (BPF_MAXINSNS); longer programs fail with EINVAL at load time, so Compile
// refuses them before anything starts.
const maxInstructions = 4096

// Instructions decodes raw `struct sock_filter` bytes (native endian), as
// returned by Compile, into the kernel's structure.
func Instructions(prog []byte) ([]unix.SockFilter, error) {
	if len(prog) == 0 || len(prog)%8 != 0 {
		return nil, fmt.Errorf("seccomp: program of %d bytes is not a non-empty sequence of 8-byte instructions", len(prog))
	}
	if len(prog)/8 > maxInstructions {
		return nil, fmt.Errorf("seccomp: program has %d instructions; the kernel accepts at most %d", len(prog)/8, maxInstructions)
	}
	out := make([]unix.SockFilter, len(prog)/8)
	for i := range out {
		b := prog[i*8:]
		out[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:]),
		}
	}
	return out, nil
}

// Install loads prog into the calling process the way the box's C init
// stage does: PR_SET_NO_NEW_PRIVS, then seccomp(SECCOMP_SET_MODE_FILTER,
// SECCOMP_FILTER_FLAG_TSYNC), so that every thread of a Go program is
// covered. It cannot be undone: call it only in a process about to exec the
// payload, or in a test's child process.
func Install(prog []byte) error {
	filter, err := Instructions(prog)
	if err != nil {
		return err
	}
	// Without no_new_privs an unprivileged process may not install a
	// filter (seccomp(2)), and a setuid exec could otherwise escape it.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("seccomp: set no_new_privs: %w", os.NewSyscallError("prctl", err))
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return fmt.Errorf("seccomp: load the filter: %w", os.NewSyscallError("seccomp", errno))
	}
	if r != 0 {
		// With TSYNC a positive result is the id of a thread that could
		// not be synchronised (it already has a diverging filter).
		return fmt.Errorf("seccomp: load the filter: thread %d could not be synchronised: %w", r, errTSync)
	}
	return nil
}

var errTSync = errors.New("another filter diverges on that thread")
