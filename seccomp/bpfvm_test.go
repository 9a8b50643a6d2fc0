package seccomp

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// The kernel's return values (SECCOMP_RET_*), spelled out here rather than
// taken from libseccomp so that the tests check libseccomp's output.
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retAllow       = 0x7fff0000
	retErrno       = 0x00050000
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
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	}
	testenv.Skip(t, "no AUDIT_ARCH value known for %s", runtime.GOARCH)
	return 0
}

// seccompData is the kernel's struct seccomp_data, the input of a filter.
type seccompData struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

// packet lays d out as the kernel does (native byte order, 64 bytes), but
// with each 32-bit word in big-endian order: x/net/bpf loads words as
// network byte order, while the kernel's seccomp loads them in native
// order. Swapping per word makes the VM see the values the kernel would.
func (d seccompData) packet() []byte {
	buf := make([]byte, 64)
	little := binary.NativeEndian.Uint16([]byte{1, 0}) == 1
	put64 := func(off int, v uint64) {
		lo, hi := uint32(v), uint32(v>>32)
		if !little {
			lo, hi = hi, lo
		}
		binary.BigEndian.PutUint32(buf[off:], lo)
		binary.BigEndian.PutUint32(buf[off+4:], hi)
	}
	binary.BigEndian.PutUint32(buf[0:], d.nr)
	binary.BigEndian.PutUint32(buf[4:], d.arch)
	put64(8, 0x7f0000001000) // instruction pointer: filters do not read it
	for i, a := range d.args {
		put64(16+8*i, a)
	}
	return buf
}

// newVM decodes a compiled program into x/net/bpf's interpreter.
func newVM(t *testing.T, prog []byte) *bpf.VM {
	t.Helper()
	filter, err := Instructions(prog)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]bpf.RawInstruction, len(filter))
	for i, f := range filter {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("program has instructions x/net/bpf cannot decode")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatalf("program rejected by the BPF VM: %v", err)
	}
	return vm
}

// run returns the program's verdict for d.
func run(t *testing.T, vm *bpf.VM, d seccompData) uint32 {
	t.Helper()
	r, err := vm.Run(d.packet())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return uint32(r)
}

func compile(t *testing.T, p *Profile) []byte {
	t.Helper()
	prog, err := p.Compile()
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return prog
}
