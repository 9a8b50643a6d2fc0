package seccomp

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// archByName maps the format's SCMP_ARCH_* names to libseccomp's tokens.
var archByName = map[string]libseccomp.ScmpArch{
	"SCMP_ARCH_X86":         libseccomp.ArchX86,
	"SCMP_ARCH_X86_64":      libseccomp.ArchAMD64,
	"SCMP_ARCH_X32":         libseccomp.ArchX32,
	"SCMP_ARCH_ARM":         libseccomp.ArchARM,
	"SCMP_ARCH_AARCH64":     libseccomp.ArchARM64,
	"SCMP_ARCH_MIPS":        libseccomp.ArchMIPS,
	"SCMP_ARCH_MIPS64":      libseccomp.ArchMIPS64,
	"SCMP_ARCH_MIPS64N32":   libseccomp.ArchMIPS64N32,
	"SCMP_ARCH_MIPSEL":      libseccomp.ArchMIPSEL,
	"SCMP_ARCH_MIPSEL64":    libseccomp.ArchMIPSEL64,
	"SCMP_ARCH_MIPSEL64N32": libseccomp.ArchMIPSEL64N32,
	"SCMP_ARCH_PPC":         libseccomp.ArchPPC,
	"SCMP_ARCH_PPC64":       libseccomp.ArchPPC64,
	"SCMP_ARCH_PPC64LE":     libseccomp.ArchPPC64LE,
	"SCMP_ARCH_S390":        libseccomp.ArchS390,
	"SCMP_ARCH_S390X":       libseccomp.ArchS390X,
	"SCMP_ARCH_PARISC":      libseccomp.ArchPARISC,
	"SCMP_ARCH_PARISC64":    libseccomp.ArchPARISC64,
	"SCMP_ARCH_RISCV64":     libseccomp.ArchRISCV64,
	"SCMP_ARCH_LOONGARCH64": libseccomp.ArchLOONGARCH64,
	"SCMP_ARCH_M68K":        libseccomp.ArchM68K,
	"SCMP_ARCH_SH":          libseccomp.ArchSH,
	"SCMP_ARCH_SHEB":        libseccomp.ArchSHEB,
}

// opByName maps the format's SCMP_CMP_* names to libseccomp's operators.
var opByName = map[Op]libseccomp.ScmpCompareOp{
	OpNotEqual:     libseccomp.CompareNotEqual,
	OpLessThan:     libseccomp.CompareLess,
	OpLessEqual:    libseccomp.CompareLessOrEqual,
	OpEqualTo:      libseccomp.CompareEqual,
	OpGreaterEqual: libseccomp.CompareGreaterEqual,
	OpGreaterThan:  libseccomp.CompareGreater,
	OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

// badArchAction is what a system call of an ABI the profile does not list
// gets: on x86-64 that is every i386 (int 0x80) and x32 call. Killing the
// process rather than returning an errno is deliberate: such a call is
// either an attack on rules written for the native ABI or a 32-bit program,
// which cannot run usefully with every call failing, and SIGSYS names the
// cause where an errno would make it crash somewhere unrelated.
var badArchAction = libseccomp.ActKillProcess

// target is what rule selection depends on besides the profile: the box's
// capabilities and the machine. It is a value so that selection is testable
// for any machine.
type target struct {
	caps   map[string]bool
	goarch string
	kernel [2]int // zero when no rule asks for minKernel
}

// Compile returns the profile's BPF program for the native architecture as
// raw `struct sock_filter` bytes, for a box that keeps no capabilities
// (rules with includes.caps are left out, rules with excludes.caps kept).
// System calls of ABIs the profile does not list (on x86-64: i386 and x32,
// unless listed) kill the process. Names unknown to libseccomp on this
// architecture are skipped.
func (p *Profile) Compile() ([]byte, error) {
	return p.CompileFor(nil)
}

// CompileFor is Compile for a box that keeps the given capabilities (names
// like CAP_SYS_ADMIN, as from --cap-add): Docker's includes.caps and
// excludes.caps are resolved against them.
func (p *Profile) CompileFor(caps []string) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	t := target{caps: map[string]bool{}, goarch: runtime.GOARCH}
	for _, c := range caps {
		t.caps[strings.ToUpper(c)] = true
	}
	if p.needsKernelVersion() {
		k, err := runningKernel()
		if err != nil {
			return nil, err
		}
		t.kernel = k
	}
	f, err := p.buildFilter(t)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	return exportBPF(f)
}

func (p *Profile) buildFilter(t target) (*libseccomp.ScmpFilter, error) {
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return nil, fmt.Errorf("seccomp: find the native architecture: %w", err)
	}
	def := toScmpAction(p.DefaultAction, p.DefaultErrnoRet)
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("seccomp: create filter (is libseccomp >= 2.5 installed?): %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Release()
		}
	}()
	// A binary tree over syscall numbers instead of libseccomp's default
	// linear chain: with ~300 allowed calls, a call decided late in the
	// chain (ioctl, socket, clone have argument checks and come last) runs
	// ~300 instructions on every use; the tree runs ~10. Calls allowed
	// outright skip the filter anyway (the kernel's seccomp action cache,
	// Linux 5.11). Older libseccomp without the attribute keeps the chain,
	// which decides the same.
	_ = f.SetOptimize(2)
	if err := f.SetBadArchAction(badArchAction); err != nil {
		return nil, fmt.Errorf("seccomp: set the action for other architectures: %w", err)
	}
	for _, name := range p.arches(native) {
		if err := f.AddArch(archByName[name]); err != nil {
			return nil, fmt.Errorf("seccomp: add architecture %s (does this libseccomp know it?): %w", name, err)
		}
	}
	for i := range p.Syscalls {
		s := &p.Syscalls[i]
		if !s.selected(t) {
			continue
		}
		act := toScmpAction(s.Action, s.ErrnoRet)
		if act == def {
			// libseccomp refuses a rule that repeats the default action;
			// such a rule changes nothing, so it is skipped, as runc does.
			continue
		}
		conds, err := conditions(s.Args)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d].args: %w", i, err)
		}
		for _, name := range s.names() {
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				// Unknown to libseccomp on this architecture: skipped, as
				// Docker does, so that one profile serves several
				// architectures (e.g. "chown32" exists only on 32-bit ABIs).
				continue
			}
			if err := addRule(f, nr, act, conds); err != nil {
				return nil, fmt.Errorf("syscalls[%d] (%s): %w", i, name, err)
			}
		}
	}
	ok = true
	return f, nil
}

// addRule adds one rule per condition set: conds is a list of AND-ed sets,
// which are OR-ed.
func addRule(f *libseccomp.ScmpFilter, nr libseccomp.ScmpSyscall, act libseccomp.ScmpAction, conds [][]libseccomp.ScmpCondition) error {
	if len(conds) == 0 {
		return f.AddRule(nr, act)
	}
	for _, c := range conds {
		if err := f.AddRuleConditional(nr, act, c); err != nil {
			return err
		}
	}
	return nil
}

// conditions turns args into OR-ed sets of AND-ed conditions. libseccomp
// cannot AND two conditions on one argument, so when an index repeats each
// condition becomes its own rule, which is what runc does with such
// profiles.
func conditions(args []Arg) ([][]libseccomp.ScmpCondition, error) {
	if len(args) == 0 {
		return nil, nil
	}
	seen := map[uint]bool{}
	repeated := false
	all := make([]libseccomp.ScmpCondition, 0, len(args))
	for j, a := range args {
		values := []uint64{a.Value}
		if a.Op == OpMaskedEqual {
			// libseccomp's order is (mask, value), as the format's.
			values = append(values, a.ValueTwo)
		}
		c, err := libseccomp.MakeCondition(a.Index, opByName[a.Op], values...)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", j, err)
		}
		repeated = repeated || seen[a.Index]
		seen[a.Index] = true
		all = append(all, c)
	}
	if !repeated {
		return [][]libseccomp.ScmpCondition{all}, nil
	}
	sets := make([][]libseccomp.ScmpCondition, len(all))
	for i, c := range all {
		sets[i] = []libseccomp.ScmpCondition{c}
	}
	return sets, nil
}

// arches returns the SCMP_ARCH_* names to add besides the native one: the
// architectures list, or the archMap entry of the native architecture.
func (p *Profile) arches(native libseccomp.ScmpArch) []string {
	if len(p.Architectures) > 0 {
		return p.Architectures
	}
	var out []string
	for _, m := range p.ArchMap {
		if archByName[m.Arch] == native {
			out = append(out, m.Arch)
			out = append(out, m.SubArches...)
		}
	}
	return out
}

// toScmpAction converts a validated action. An unset errno is EPERM, as in
// Docker and runc.
func toScmpAction(a Action, ret *uint) libseccomp.ScmpAction {
	code := int16(unix.EPERM)
	if ret != nil {
		code = int16(*ret) // validated: fits SECCOMP_RET_DATA
	}
	switch a {
	case ActKill, ActKillThread:
		return libseccomp.ActKillThread
	case ActKillProcess:
		return libseccomp.ActKillProcess
	case ActTrap:
		return libseccomp.ActTrap
	case ActErrno:
		return libseccomp.ActErrno.SetReturnCode(code)
	case ActTrace:
		return libseccomp.ActTrace.SetReturnCode(code)
	case ActLog:
		return libseccomp.ActLog
	default:
		return libseccomp.ActAllow
	}
}

// names returns the rule's system call names, from names or name.
func (s *Syscall) names() []string {
	if s.Name != "" {
		return []string{s.Name}
	}
	return s.Names
}

// selected reports whether the rule applies to target t, following
// Docker: includes must match entirely, excludes must not match at all.
func (s *Syscall) selected(t target) bool {
	if in := s.Includes; in != nil {
		for _, c := range in.Caps {
			if !t.caps[c] {
				return false
			}
		}
		if len(in.Arches) > 0 && !contains(in.Arches, t.goarch) {
			return false
		}
		if in.MinKernel != "" {
			v, _ := parseKernelVersion(in.MinKernel) // validated
			if kernelLess(t.kernel, v) {
				return false
			}
		}
	}
	if ex := s.Excludes; ex != nil {
		for _, c := range ex.Caps {
			if t.caps[c] {
				return false
			}
		}
		if contains(ex.Arches, t.goarch) {
			return false
		}
		if ex.MinKernel != "" {
			v, _ := parseKernelVersion(ex.MinKernel)
			if !kernelLess(t.kernel, v) {
				return false
			}
		}
	}
	return true
}

func (p *Profile) needsKernelVersion() bool {
	for _, s := range p.Syscalls {
		if s.Includes != nil && s.Includes.MinKernel != "" || s.Excludes != nil && s.Excludes.MinKernel != "" {
			return true
		}
	}
	return false
}

func kernelLess(a, b [2]int) bool {
	return a[0] < b[0] || a[0] == b[0] && a[1] < b[1]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// runningKernel reads the kernel's MAJOR.MINOR for minKernel conditions.
func runningKernel() ([2]int, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return [2]int{}, fmt.Errorf("seccomp: read the kernel version for minKernel: %w", os.NewSyscallError("uname", err))
	}
	return parseRelease(unix.ByteSliceToString(u.Release[:]))
}

// parseRelease takes MAJOR.MINOR from a release string like "6.1.0-18-amd64".
func parseRelease(rel string) ([2]int, error) {
	var v [2]int
	n, _ := fmt.Sscanf(rel, "%d.%d", &v[0], &v[1])
	if n != 2 {
		return v, fmt.Errorf("seccomp: kernel release %q has no MAJOR.MINOR; remove minKernel from the profile", rel)
	}
	return v, nil
}

// exportBPF returns the filter's program. libseccomp 2.5 can only write it
// to a file descriptor (seccomp_export_bpf_mem is 2.6), so it goes through a
// memfd, which never touches a disk.
func exportBPF(f *libseccomp.ScmpFilter) ([]byte, error) {
	b, err := f.ExportBPFMem()
	if err != nil {
		b, err = exportViaMemfd(f)
	}
	if err != nil {
		return nil, err
	}
	if n := len(b) / 8; n > maxInstructions {
		return nil, fmt.Errorf("seccomp: the program has %d instructions and the kernel accepts at most %d; the profile has too many rules", n, maxInstructions)
	}
	return b, nil
}

func exportViaMemfd(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("seccomp: export the program: %w", os.NewSyscallError("memfd_create", err))
	}
	file := os.NewFile(uintptr(fd), "seccomp-bpf")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("seccomp: export the program: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seccomp: read back the program: %w", err)
	}
	b, err := io.ReadAll(file)
	if err != nil {
		return nil, fmt.Errorf("seccomp: read back the program: %w", err)
	}
	if len(b) == 0 || len(b)%8 != 0 {
		return nil, fmt.Errorf("seccomp: libseccomp exported %d bytes, not a whole number of 8-byte instructions", len(b))
	}
	return b, nil
}
