package seccomp

import (
	"encoding/binary"
	"fmt"
	"runtime"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The filter's return values (SECCOMP_RET_*, seccomp(2)) that Check names.
const (
	retActionMask = 0xffff0000
	retAllow      = 0x7fff0000
	retLog        = 0x7ffc0000
	retErrno      = 0x00050000
)

// Data is the kernel's struct seccomp_data, the input of a filter.
type Data struct {
	Nr   uint32
	Arch uint32
	Args [6]uint64
}

// packet lays d out as the kernel does (native byte order, 64 bytes), but
// with each 32-bit word in big-endian order: x/net/bpf loads words as
// network byte order, while the kernel's seccomp loads them in native
// order. Swapping per word makes the VM see the values the kernel would.
func (d Data) packet() []byte {
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
	binary.BigEndian.PutUint32(buf[0:], d.Nr)
	binary.BigEndian.PutUint32(buf[4:], d.Arch)
	put64(8, 0x7f0000001000) // instruction pointer: filters do not read it
	for i, a := range d.Args {
		put64(16+8*i, a)
	}
	return buf
}

// VM runs a compiled program on system calls without loading it, in
// x/net/bpf's interpreter: what the filter would answer, known before any
// process exists.
type VM struct{ vm *bpf.VM }

// NewVM decodes a compiled program (as Compile returns it).
func NewVM(prog []byte) (*VM, error) {
	filter, err := Instructions(prog)
	if err != nil {
		return nil, err
	}
	raw := make([]bpf.RawInstruction, len(filter))
	for i, f := range filter {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		return nil, fmt.Errorf("seccomp: the program has instructions x/net/bpf cannot decode")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		return nil, fmt.Errorf("seccomp: the program is not valid BPF: %w", err)
	}
	return &VM{vm}, nil
}

// Run returns the filter's verdict (SECCOMP_RET_*) for d.
func (v *VM) Run(d Data) (uint32, error) {
	r, err := v.vm.Run(d.packet())
	return uint32(r), err
}

// NativeArch is the AUDIT_ARCH_* value of this machine, and false where it
// is not known.
func NativeArch() (uint32, bool) {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64, true
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64, true
	}
	return 0, false
}

// CheckStartable refuses a program under which the box cannot start its
// command and say how it went: the payload's execve, and the write and
// exit_group with which the init stage reports a failed exec and exits.
// Denied, they make a box that dies of SIGSEGV inside libc's _exit (a
// deny-all profile) rather than a setup error that names the profile.
func CheckStartable(prog []byte) error {
	arch, ok := NativeArch()
	if !ok {
		return nil // nothing to check against: the kernel will tell
	}
	vm, err := NewVM(prog)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		nr   uint32
		args [6]uint64
	}{
		{"execve", unix.SYS_EXECVE, [6]uint64{}},
		{"write", unix.SYS_WRITE, [6]uint64{2}},
		{"exit_group", unix.SYS_EXIT_GROUP, [6]uint64{}},
	} {
		r, err := vm.Run(Data{Nr: c.nr, Arch: arch, Args: c.args})
		if err != nil {
			return fmt.Errorf("seccomp: evaluate %s: %w", c.name, err)
		}
		if act := r & retActionMask; act != retAllow && act != retLog {
			return fmt.Errorf("under this profile %s %s; the box needs execve, write and exit_group to start its command and report how it ended: allow them", c.name, verdictName(r))
		}
	}
	return nil
}

// verdictName says what a return value does, for error messages.
func verdictName(r uint32) string {
	switch act := r & retActionMask; {
	case act == retErrno:
		return fmt.Sprintf("fails with %s", unix.ErrnoName(unix.Errno(r&0xffff)))
	case r == 0x80000000 || act == 0:
		return "kills the process"
	case act == 0x00030000:
		return "traps (SIGSYS)"
	case act == 0x7ff00000:
		return "hands to a tracer"
	}
	return fmt.Sprintf("returns %#x", r)
}
