package seccomp

import (
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// The kernel's return values (SECCOMP_RET_*), spelled out here rather than
// taken from libseccomp so that the tests check libseccomp's output.
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	// retAllow and retErrno: eval.go.
)

func errnoRet(e unix.Errno) uint32 { return retErrno | uint32(e) }

// retName renders a return value for failure messages.
func retName(r uint32) string {
	switch {
	case r == retKillProcess:
		return "KILL_PROCESS"
	case r == retKillThread:
		return "KILL_THREAD"
	case r == retAllow:
		return "ALLOW"
	case r&0xffff0000 == retErrno:
		return fmt.Sprintf("ERRNO(%s)", unix.ErrnoName(unix.Errno(r&0xffff)))
	}
	return fmt.Sprintf("%#x", r)
}

// nativeAuditArch is the AUDIT_ARCH_* value of the machine running the test.
func nativeAuditArch(t *testing.T) uint32 {
	a, ok := NativeArch()
	if !ok {
		testenv.Skip(t, "no AUDIT_ARCH value known for %s", runtime.GOARCH)
	}
	return a
}

// seccompData is the filter's input, in the tests' spelling.
type seccompData struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

// newVM decodes a compiled program into x/net/bpf's interpreter.
func newVM(t *testing.T, prog []byte) *VM {
	t.Helper()
	vm, err := NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// run returns the program's verdict for d.
func run(t *testing.T, vm *VM, d seccompData) uint32 {
	t.Helper()
	r, err := vm.Run(Data{Nr: d.nr, Arch: d.arch, Args: d.args})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return r
}

func compile(t *testing.T, p *Profile) []byte {
	t.Helper()
	prog, err := p.Compile()
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return prog
}
